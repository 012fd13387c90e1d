use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::paths::STATUS_PAGE_PATH;
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

fn get() -> actix_http::Request {
    test::TestRequest::get().uri(STATUS_PAGE_PATH).to_request()
}

#[actix_web::test]
async fn disabled_status_page_answers_an_empty_body_without_touching_the_database() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app(store.clone(), disabled()).await;

    let response = test::call_service(&app, get()).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(test::read_body(response).await.is_empty());
    assert_eq!(store.calls(), 0, "the store was called while disabled");
}

#[actix_web::test]
async fn enabled_status_page_is_html_locked_down_to_inline_styles() {
    let app = spawn_app(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::UTC),
    )
    .await;

    let response = test::call_service(&app, get()).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_text(&response, header::CONTENT_TYPE).unwrap_or_default(),
        "text/html; charset=utf-8"
    );
    assert!(header_text(&response, header::CONTENT_SECURITY_POLICY)
        .unwrap_or_default()
        .starts_with("default-src 'none'"));
    let page = String::from_utf8_lossy(&test::read_body(response).await).into_owned();
    assert!(page.contains("<h2 id=\"data-integration\">Data integration</h2>"));
    assert!(page.contains("<h2 id=\"cube-processing\">Cube processing</h2>"));
    assert!(page.contains("2015-01-18 10:30:13 UTC"), "{page}");
}

#[actix_web::test]
async fn the_status_page_shows_the_configured_zone() {
    let app = spawn_app(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::Europe__Moscow),
    )
    .await;

    let page = test::call_and_read_body(&app, get()).await;
    let page = String::from_utf8_lossy(&page);

    assert!(page.contains("<strong>Europe/Moscow</strong>"));
    assert!(page.contains("2015-01-18 13:30:13 MSK"), "{page}");
}

#[actix_web::test]
async fn old_samples_make_both_jobs_stale() {
    let app = spawn_app(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::UTC),
    )
    .await;

    let page = test::call_and_read_body(&app, get()).await;

    assert!(String::from_utf8_lossy(&page)
        .contains("<strong>Stale:</strong> data integration and cube processing"));
}

#[actix_web::test]
async fn a_store_failure_is_a_503() {
    let app = spawn_app(
        FakeStore::failing(Unavailability::Unreachable),
        enabled(Tz::UTC),
    )
    .await;

    let response = test::call_service(&app, get()).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
