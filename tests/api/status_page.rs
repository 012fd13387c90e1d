use std::time::Duration;

use actix_web::http::{header, StatusCode};
use chrono::TimeDelta;
use chrono_tz::Tz;
use qoe_data_service::configuration::{IntegrationLogSettings, LogSource};
use qoe_data_service::domain::agent::ZoneMismatch;
use qoe_data_service::paths::{STATUS_PAGE_PATH, STATUS_PATH};
use qoe_data_service::store::{StoreError, Unavailability};

use crate::helpers::*;

async fn sample_app_in(time_zone: Tz) -> TestApp {
    TestApp::builder()
        .store(FakeStore::with_entries(documentation_sample()))
        .time_zone(time_zone)
        .spawn()
        .await
}

fn title(page: &str) -> &str {
    let start = page.find("<title>").map_or(0, |at| at + "<title>".len());
    let end = page.find("</title>").unwrap_or(start);
    &page[start..end]
}

fn assert_is_locked_down_html(response: &TestResponse) {
    assert_eq!(
        response.header(header::CONTENT_TYPE).unwrap_or_default(),
        "text/html; charset=utf-8"
    );
    assert!(response
        .header(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_default()
        .starts_with("default-src 'none'; style-src 'unsafe-inline'"));
    assert_eq!(
        response.header(header::CACHE_CONTROL).unwrap_or_default(),
        "no-store"
    );
}

#[actix_web::test]
async fn disabled_status_page_says_how_to_enable_it_without_touching_the_database() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = TestApp::builder()
        .store(store.clone())
        .disabled()
        .spawn()
        .await;

    let response = app.get(STATUS_PAGE_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_is_locked_down_html(&response);
    let page = response.text();
    assert_eq!(title(&page), "disabled · QoE Data Service");
    assert!(
        page.contains("<code>integration_log.enabled</code>"),
        "{page}"
    );
    assert!(page.contains("<code>QOE_INTEGRATION_LOG__ENABLED=true</code>"));
    assert_eq!(store.calls(), 0, "the store was called while disabled");
}

#[actix_web::test]
async fn disabled_status_operation_still_answers_as_cqd_does() {
    assert_disabled_answers_empty_without_the_database(
        STATUS_PATH,
        FakeStore::with_entries(documentation_sample()),
    )
    .await;
}

#[actix_web::test]
async fn enabled_status_page_is_html_locked_down_to_inline_styles() {
    let app = sample_app_in(Tz::UTC).await;

    let response = app.get(STATUS_PAGE_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_is_locked_down_html(&response);
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
async fn the_sample_names_the_failing_cube_first_then_both_jobs_stale() {
    let app = sample_app_in(Tz::UTC).await;

    let page = app.get(STATUS_PAGE_PATH).await.text();

    assert_eq!(title(&page), "✗ failing · QoE Data Service");
    let failing = page
        .find(
            "<strong>✗ Failing:</strong> Cube processing: its newest run failed at <time \
             datetime=\"2015-01-18T10:30:58Z\">",
        )
        .unwrap_or_else(|| panic!("the cube's failure is named: {page}"));
    let stale = page
        .find("<strong>Stale:</strong> Data integration has not succeeded for")
        .unwrap_or_else(|| panic!("the staleness is named: {page}"));
    assert!(failing < stale);
    assert!(
        page.contains("2 of its last 5 runs failed."),
        "the sample's last five cube runs: {page}"
    );
}

#[actix_web::test]
async fn the_status_page_reloads_itself_every_minute_by_default() {
    let app = sample_app_in(Tz::UTC).await;

    let page = app.get(STATUS_PAGE_PATH).await.text();

    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"60\">"),
        "{page}"
    );
}

#[actix_web::test]
async fn the_reload_follows_its_setting_and_zero_turns_it_off() {
    let app_reloading_every = |page_refresh: Option<Duration>| {
        TestApp::builder()
            .store(FakeStore::with_entries(documentation_sample()))
            .integration_log(IntegrationLogSettings {
                enabled: true,
                time_zone: Tz::UTC,
                stale_after: TimeDelta::minutes(30),
                page_refresh,
                source: LogSource::Table,
            })
            .spawn()
    };

    let every_ten_seconds = app_reloading_every(Some(Duration::from_secs(10)))
        .await
        .get(STATUS_PAGE_PATH)
        .await
        .text();
    let never = app_reloading_every(None)
        .await
        .get(STATUS_PAGE_PATH)
        .await
        .text();

    assert!(every_ten_seconds.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(!never.contains("http-equiv=\"refresh\""), "{never}");
}

#[actix_web::test]
async fn a_store_failure_is_a_503_page_with_the_readyz_reason_and_when_it_retries() {
    let app = TestApp::builder()
        .store(FakeStore::failing(Unavailability::LoginFailed))
        .spawn()
        .await;

    let response = app.get(STATUS_PAGE_PATH).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header(header::RETRY_AFTER), Some("5"));
    assert_is_locked_down_html(&response);
    let page = response.text();
    assert_eq!(title(&page), "✗ database unavailable · QoE Data Service");
    assert!(
        page.contains(&format!(
            "<strong>✗ Database unavailable:</strong> {}.",
            Unavailability::LoginFailed.reason()
        )),
        "{page}"
    );
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(page.contains("This page tries again in 5 s."));
    for secret in ["sql01", "S3cret", "qoe_service"] {
        assert!(
            !page.contains(secret),
            "driver text leaked ({secret}): {page}"
        );
    }
}

#[actix_web::test]
async fn a_server_time_zone_mismatch_is_its_own_page_with_both_offsets_not_database_unavailable() {
    let mismatch = ZoneMismatch {
        zone: Tz::Europe__Berlin,
        expected_minutes: 60,
        server_minutes: -300,
    };
    let app = TestApp::builder()
        .store(FakeStore::failing_with(StoreError::new(
            Unavailability::ServerTimeZoneMismatch,
            mismatch,
        )))
        .spawn()
        .await;

    let response = app.get(STATUS_PAGE_PATH).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_is_locked_down_html(&response);
    let page = response.text();
    assert_eq!(
        title(&page),
        "✗ server time zone differs · QoE Data Service"
    );
    assert!(!page.contains("Database unavailable"), "{page}");
    assert!(page.contains("UTC+01:00"), "{page}");
    assert!(page.contains("UTC-05:00"), "{page}");
    assert!(
        page.contains("<code>integration_log.sql_agent.server_time_zone</code>"),
        "{page}"
    );
}
