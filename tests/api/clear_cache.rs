use actix_web::http::{header, StatusCode};
use qoe_data_service::domain::LogQuery;
use qoe_data_service::paths::{CLEAR_CACHE_PATH, LOG_PATH, STATUS_PATH};

use crate::helpers::*;

#[actix_web::test]
async fn clear_cache_answers_200_with_an_empty_body_without_touching_the_database() {
    let store = FakeStore::with_entries(vec![]);
    let app = TestApp::builder().store(store.clone()).spawn().await;

    let response = app.post(CLEAR_CACHE_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body.is_empty());
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn clear_cache_works_while_the_integration_log_is_disabled() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = TestApp::builder()
        .store(store.clone())
        .disabled()
        .cache_ttl(std::time::Duration::from_secs(60))
        .spawn()
        .await;
    // Disabled, no request reads the store: fill the cache the handlers share directly.
    let cache = &app.state().store;
    cache.status_answer().await.expect("read");
    cache.log_answer(LogQuery::default()).await.expect("read");
    cache.status_answer().await.expect("cached");
    cache.log_answer(LogQuery::default()).await.expect("cached");
    let cached_calls = store.calls();

    let response = app.post(CLEAR_CACHE_PATH).await;
    cache.status_answer().await.expect("read again");
    cache
        .log_answer(LogQuery::default())
        .await
        .expect("read again");

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body.is_empty(), "{}", response.text());
    assert_eq!(cached_calls, 2, "one read each before ClearCache");
    assert_eq!(store.calls(), 4, "one read each after ClearCache");
}

#[actix_web::test]
async fn clear_cache_only_accepts_post() {
    let app = TestApp::spawn().await;

    let response = app.get(CLEAR_CACHE_PATH).await;

    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header(header::ALLOW), Some("POST"));
}

#[actix_web::test]
async fn clear_cache_makes_the_next_status_and_log_reads_go_to_the_database() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = TestApp::builder()
        .store(store.clone())
        .cache_ttl(std::time::Duration::from_secs(60))
        .spawn()
        .await;
    for path in [STATUS_PATH, LOG_PATH, STATUS_PATH, LOG_PATH] {
        app.get(path).await;
    }
    let cached_calls = store.calls();

    app.post(CLEAR_CACHE_PATH).await;
    for path in [STATUS_PATH, LOG_PATH] {
        app.get(path).await;
    }

    assert_eq!(cached_calls, 2, "one read each before ClearCache");
    assert_eq!(store.calls(), 4, "one read each after ClearCache");
}
