use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::domain::LogCategory;
use qoe_data_service::paths::STATUS_PATH;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

#[actix_web::test]
async fn disabled_status_answers_an_empty_body_without_touching_the_database() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app(store.clone(), disabled()).await;

    let response =
        test::call_service(&app, test::TestRequest::get().uri(STATUS_PATH).to_request()).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(test::read_body(response).await.is_empty());
    assert_eq!(store.calls(), 0, "the store was called while disabled");
}

#[actix_web::test]
async fn enabled_status_is_exactly_the_documentation_sample() {
    let app = spawn_app(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::UTC),
    )
    .await;

    let response =
        test::call_service(&app, test::TestRequest::get().uri(STATUS_PATH).to_request()).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_text(&response, header::CONTENT_TYPE).as_deref(),
        Some("application/json")
    );
    let body = test::read_body(response).await;
    assert_is_documentation_sample(&body);
}

#[actix_web::test]
async fn an_empty_log_gives_empty_arrays_and_null_starts() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let body: serde_json::Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri(STATUS_PATH).to_request())
            .await;

    assert_eq!(
        body,
        serde_json::json!({
            "LastSuccessIntegrations": [], "LastSuccessCubeProcessings": [],
            "LastFailedIntegrations": [], "LastFailedCubeProcessings": [],
            "LastDataIntegrationStart": null, "LastCubeProcessingStart": null
        })
    );
}

#[actix_web::test]
async fn times_are_shown_in_the_configured_zone() {
    let store = FakeStore::with_entries(vec![entry(
        LogCategory::DataIntegrationStarted,
        "01/18/2015 10:30:13",
    )]);
    let app = spawn_app(store, enabled(Tz::Europe__Moscow)).await;

    let body: serde_json::Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri(STATUS_PATH).to_request())
            .await;

    assert_eq!(body["LastDataIntegrationStart"], "01/18/2015 13:30:13");
}

#[actix_web::test]
async fn a_store_failure_is_a_503_with_retry_after_and_nothing_leaked() {
    for kind in [
        Unavailability::Unreachable,
        Unavailability::TimedOut,
        Unavailability::LoginFailed,
        Unavailability::CertificateNotTrusted,
        Unavailability::QueryFailed,
    ] {
        let app = spawn_app(FakeStore::failing(kind), enabled(Tz::UTC)).await;

        let response =
            test::call_service(&app, test::TestRequest::get().uri(STATUS_PATH).to_request()).await;

        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{kind:?}"
        );
        assert!(
            response.headers().contains_key(header::RETRY_AFTER),
            "{kind:?}"
        );
        let body = String::from_utf8_lossy(&test::read_body(response).await).into_owned();
        assert_eq!(body, r#"{"error":"database unavailable"}"#, "{kind:?}");
    }
}

#[actix_web::test]
async fn other_methods_on_the_status_are_405() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        test::TestRequest::post().uri(STATUS_PATH).to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get(header::ALLOW).map(|v| v.as_bytes()),
        Some(&b"GET, HEAD"[..])
    );
}

#[actix_web::test]
async fn head_on_the_status_is_answered_like_get() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        test::TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri(STATUS_PATH)
            .to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_unknown_path_is_404() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/QoEDataService/Nothing")
            .to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
