use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono_tz::Tz;
use futures_util::future::join_all;
use qoe_data_service::paths::STATUS_PATH;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

const TTL: Duration = Duration::from_secs(5);

#[actix_web::test]
async fn two_hundred_concurrent_status_requests_make_one_database_query() {
    tokio::time::pause();
    let store = FakeStore::with_entries(documentation_sample());
    let slow = SlowStore::new(store.clone(), Duration::from_millis(200));
    let app = spawn_app_with_cache(slow, enabled(Tz::UTC), TTL).await;

    let responses =
        join_all((0..200).map(|_| test::call_service(&app, get(STATUS_PATH).to_request()))).await;

    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(store.calls(), 1);
}

#[actix_web::test]
async fn the_status_is_read_again_once_the_ttl_has_passed() {
    tokio::time::pause();
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app_with_cache(store.clone(), enabled(Tz::UTC), TTL).await;

    test::call_service(&app, get(STATUS_PATH).to_request()).await;
    test::call_service(&app, get(STATUS_PATH).to_request()).await;
    assert_eq!(
        store.calls(),
        1,
        "the second request within the ttl was not cached"
    );

    tokio::time::advance(TTL).await;
    test::call_service(&app, get(STATUS_PATH).to_request()).await;
    assert_eq!(store.calls(), 2, "the answer outlived the ttl");
}

#[actix_web::test]
async fn a_failed_read_is_not_cached() {
    let store = FakeStore::with_entries(documentation_sample());
    store.set_failure(Some(Unavailability::Unreachable));
    let app = spawn_app_with_cache(store.clone(), enabled(Tz::UTC), TTL).await;

    let failed = test::call_service(&app, get(STATUS_PATH).to_request()).await;
    store.set_failure(None);
    let retried = test::call_service(&app, get(STATUS_PATH).to_request()).await;

    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(store.calls(), 2);
}

#[actix_web::test]
async fn readiness_always_asks_the_database() {
    let store = FakeStore::with_entries(vec![]);
    let app = spawn_app_with_cache(store.clone(), enabled(Tz::UTC), TTL).await;

    test::call_service(&app, get("/readyz").to_request()).await;
    test::call_service(&app, get("/readyz").to_request()).await;

    assert_eq!(store.calls(), 2);
}
