use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use qoe_data_service::paths::{READYZ_PATH, STATUS_PATH};
use qoe_data_service::store::cache::READINESS_MAX_AGE;
use qoe_data_service::store::{IntegrationLogStore, Unavailability};

use crate::helpers::*;

const TTL: Duration = Duration::from_secs(5);

async fn cached(store: Arc<dyn IntegrationLogStore>) -> TestApp {
    TestApp::builder().store(store).cache_ttl(TTL).spawn().await
}

#[actix_web::test]
async fn two_hundred_concurrent_status_requests_make_one_database_query() {
    tokio::time::pause();
    let store = FakeStore::with_entries(documentation_sample());
    let app = cached(SlowStore::new(store.clone(), Duration::from_millis(200))).await;

    let responses = join_all((0..200).map(|_| app.get(STATUS_PATH).into_future())).await;

    assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(store.calls(), 1);
}

#[actix_web::test]
async fn the_status_is_read_again_once_the_ttl_has_passed() {
    tokio::time::pause();
    let store = FakeStore::with_entries(documentation_sample());
    let app = cached(store.clone()).await;

    app.get(STATUS_PATH).await;
    app.get(STATUS_PATH).await;
    assert_eq!(
        store.calls(),
        1,
        "the second request within the ttl was not cached"
    );

    tokio::time::advance(TTL).await;
    app.get(STATUS_PATH).await;
    assert_eq!(store.calls(), 2, "the answer outlived the ttl");
}

#[actix_web::test]
async fn a_failed_read_is_not_cached() {
    let store = FakeStore::with_entries(documentation_sample());
    store.set_failure(Some(Unavailability::Unreachable));
    let app = cached(store.clone()).await;

    let failed = app.get(STATUS_PATH).await;
    store.set_failure(None);
    let retried = app.get(STATUS_PATH).await;

    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(store.calls(), 2);
}

#[actix_web::test]
async fn readiness_asks_the_database_at_most_once_a_second_for_every_caller() {
    let store = FakeStore::with_entries(vec![]);
    let app = cached(store.clone()).await;

    for _ in 0..50 {
        app.get(READYZ_PATH).await;
    }
    assert_eq!(store.calls(), 1, "readyz asked again within a second");
    tokio::time::sleep(READINESS_MAX_AGE).await;
    app.get(READYZ_PATH).await;

    assert_eq!(
        store.calls(),
        2,
        "readyz answered from a result over a second old"
    );
}
