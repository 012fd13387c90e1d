use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::routes::CLEAR_CACHE_PATH;

use crate::helpers::*;

#[actix_web::test]
async fn clear_cache_answers_200_with_an_empty_body_without_touching_the_database() {
    let store = FakeStore::with_entries(vec![]);
    let app = spawn_app(store.clone(), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        test::TestRequest::post().uri(CLEAR_CACHE_PATH).to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(test::read_body(response).await.is_empty());
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn clear_cache_works_while_the_integration_log_is_disabled() {
    let app = spawn_app(FakeStore::with_entries(vec![]), disabled()).await;

    let response = test::call_service(
        &app,
        test::TestRequest::post().uri(CLEAR_CACHE_PATH).to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn clear_cache_only_accepts_post() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        test::TestRequest::get().uri(CLEAR_CACHE_PATH).to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get(header::ALLOW).map(|v| v.as_bytes()),
        Some(&b"POST"[..])
    );
}
