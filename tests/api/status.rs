use actix_web::http::{header, Method, StatusCode};
use chrono_tz::Tz;
use qoe_data_service::domain::LogCategory;
use qoe_data_service::paths::STATUS_PATH;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

#[actix_web::test]
async fn disabled_status_answers_an_empty_body_without_touching_the_database() {
    assert_disabled_answers_empty_without_the_database(
        STATUS_PATH,
        FakeStore::with_entries(documentation_sample()),
    )
    .await;
}

#[actix_web::test]
async fn enabled_status_is_exactly_the_documentation_sample() {
    let app = TestApp::builder()
        .store(FakeStore::with_entries(documentation_sample()))
        .spawn()
        .await;

    let response = app.get(STATUS_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_is_documentation_sample(&response.body);
}

#[actix_web::test]
async fn an_empty_log_gives_empty_arrays_and_null_starts() {
    let app = TestApp::spawn().await;

    let body = app.get(STATUS_PATH).await.json();

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
    let app = TestApp::builder()
        .store(store)
        .time_zone(Tz::Europe__Moscow)
        .spawn()
        .await;

    let body = app.get(STATUS_PATH).await.json();

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
        let app = TestApp::builder()
            .store(FakeStore::failing(kind))
            .spawn()
            .await;

        let response = app.get(STATUS_PATH).await;

        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{kind:?}");
        assert!(
            response.headers.contains_key(header::RETRY_AFTER),
            "{kind:?}"
        );
        assert_eq!(
            response.text(),
            format!(
                r#"{{"error":"database unavailable","reason":"{}"}}"#,
                kind.reason()
            ),
            "{kind:?}: the reason in /readyz's words"
        );
    }
}

#[actix_web::test]
async fn other_methods_on_the_status_are_405() {
    let app = TestApp::spawn().await;

    let response = app.post(STATUS_PATH).await;

    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header(header::ALLOW), Some("GET, HEAD"));
}

#[actix_web::test]
async fn head_on_the_status_is_answered_like_get() {
    let app = TestApp::builder()
        .store(FakeStore::with_entries(documentation_sample()))
        .spawn()
        .await;

    let head = app.request(Method::HEAD, STATUS_PATH).await;
    let get = app.get(STATUS_PATH).await;

    assert_eq!(head.status, StatusCode::OK);
    for name in [header::CONTENT_TYPE, header::ETAG, header::CACHE_CONTROL] {
        assert_eq!(head.header(&name), get.header(&name), "{name}");
    }
    assert!(head.header(header::ETAG).is_some(), "{:?}", head.headers);
}

#[actix_web::test]
async fn an_unknown_path_is_404() {
    let app = TestApp::spawn().await;

    let response = app.get("/QoEDataService/Nothing").await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
}
