use actix_web::http::{header, StatusCode};
use chrono_tz::Tz;
use qoe_data_service::paths::STATUS_PAGE_PATH;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

async fn sample_app_in(time_zone: Tz) -> TestApp {
    TestApp::builder()
        .store(FakeStore::with_entries(documentation_sample()))
        .time_zone(time_zone)
        .spawn()
        .await
}

#[actix_web::test]
async fn disabled_status_page_answers_an_empty_body_without_touching_the_database() {
    assert_disabled_answers_empty_without_the_database(
        STATUS_PAGE_PATH,
        FakeStore::with_entries(documentation_sample()),
    )
    .await;
}

#[actix_web::test]
async fn enabled_status_page_is_html_locked_down_to_inline_styles() {
    let app = sample_app_in(Tz::UTC).await;

    let response = app.get(STATUS_PAGE_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(header::CONTENT_TYPE).unwrap_or_default(),
        "text/html; charset=utf-8"
    );
    assert!(response
        .header(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_default()
        .starts_with("default-src 'none'"));
    let page = response.text();
    assert!(page.contains("<h2 id=\"data-integration\">Data integration</h2>"));
    assert!(page.contains("<h2 id=\"cube-processing\">Cube processing</h2>"));
    assert!(page.contains("2015-01-18 10:30:13 UTC"), "{page}");
}

#[actix_web::test]
async fn the_status_page_shows_the_configured_zone() {
    let app = sample_app_in(Tz::Europe__Moscow).await;

    let page = app.get(STATUS_PAGE_PATH).await.text();

    assert!(page.contains("<strong>Europe/Moscow</strong>"));
    assert!(page.contains("2015-01-18 13:30:13 MSK"), "{page}");
}

#[actix_web::test]
async fn old_samples_make_both_jobs_stale() {
    let app = sample_app_in(Tz::UTC).await;

    let page = app.get(STATUS_PAGE_PATH).await.text();

    assert!(page.contains("<strong>Stale:</strong> data integration and cube processing"));
}

#[actix_web::test]
async fn a_store_failure_is_a_503() {
    let app = TestApp::builder()
        .store(FakeStore::failing(Unavailability::Unreachable))
        .spawn()
        .await;

    let response = app.get(STATUS_PAGE_PATH).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
}
