use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

#[actix_web::test]
async fn healthz_is_ok_without_touching_the_database() {
    let store = FakeStore::failing(Unavailability::Unreachable);
    let app = spawn_app(store.clone(), enabled(Tz::UTC)).await;

    let response =
        test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn readyz_is_ok_when_the_database_answers() {
    let app = spawn_app(FakeStore::with_entries(vec![]), disabled()).await;

    let response =
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn readyz_says_why_the_database_is_unavailable_without_its_words() {
    let app = spawn_app(FakeStore::failing(Unavailability::LoginFailed), disabled()).await;

    let response =
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body = String::from_utf8_lossy(&test::read_body(response).await).into_owned();
    assert_eq!(
        body,
        r#"{"status":"unavailable","reason":"database login failed"}"#
    );
}
