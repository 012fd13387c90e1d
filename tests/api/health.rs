use actix_web::http::{header, StatusCode};
use qoe_data_service::paths::{HEALTHZ_PATH, READYZ_PATH};
use qoe_data_service::store::cache::READINESS_MAX_AGE;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

#[actix_web::test]
async fn healthz_is_ok_without_touching_the_database() {
    let store = FakeStore::failing(Unavailability::Unreachable);
    let app = TestApp::builder().store(store.clone()).spawn().await;

    let response = app.get(HEALTHZ_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn readyz_is_ok_when_the_database_answers() {
    let store = FakeStore::with_entries(vec![]);
    let app = TestApp::builder().store(store.clone()).spawn().await;

    let response = app.get(READYZ_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), r#"{"status":"ready"}"#);
    assert_eq!(store.calls(), 1, "readyz did not ask the database");
}

#[actix_web::test]
async fn readyz_asks_the_database_even_while_the_integration_log_is_disabled() {
    let store = FakeStore::with_entries(vec![]);
    let app = TestApp::builder()
        .store(store.clone())
        .disabled()
        .spawn()
        .await;

    let ok = app.get(READYZ_PATH).await;
    store.set_failure(Some(Unavailability::Unreachable));
    tokio::time::sleep(READINESS_MAX_AGE).await;
    let down = app.get(READYZ_PATH).await;

    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(store.calls(), 2);
}

#[actix_web::test]
async fn readyz_says_why_the_database_is_unavailable_without_its_words() {
    let app = TestApp::builder()
        .store(FakeStore::failing(Unavailability::LoginFailed))
        .disabled()
        .spawn()
        .await;

    let response = app.get(READYZ_PATH).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(
        response.text(),
        r#"{"status":"unavailable","reason":"database login failed"}"#
    );
}
