use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::paths::{CLEAR_CACHE_PATH, LOG_PATH, STATUS_PATH};

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

#[actix_web::test]
async fn clear_cache_makes_the_next_status_and_log_reads_go_to_the_database() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app_with_cache(
        store.clone(),
        enabled(Tz::UTC),
        std::time::Duration::from_secs(60),
    )
    .await;
    for path in [STATUS_PATH, LOG_PATH, STATUS_PATH, LOG_PATH] {
        test::call_service(&app, get(path).to_request()).await;
    }
    let cached_calls = store.calls();

    test::call_service(
        &app,
        test::TestRequest::post().uri(CLEAR_CACHE_PATH).to_request(),
    )
    .await;
    for path in [STATUS_PATH, LOG_PATH] {
        test::call_service(&app, get(path).to_request()).await;
    }

    assert_eq!(cached_calls, 2, "one read each before ClearCache");
    assert_eq!(store.calls(), 4, "one read each after ClearCache");
}
