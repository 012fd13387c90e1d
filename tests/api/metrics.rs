use actix_web::http::{header, StatusCode};
use qoe_data_service::paths::{LOG_PATH, METRICS_PATH, READYZ_PATH, STATUS_PATH};
use qoe_data_service::store::Unavailability;

use crate::helpers::*;

async fn scrape(app: &TestApp) -> String {
    let response = app.get(METRICS_PATH).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    response.text()
}

async fn over(store: std::sync::Arc<FakeStore>) -> TestApp {
    TestApp::builder().store(store).spawn().await
}

fn assert_has(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "no line `{line}` in:\n{text}"
    );
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_and_status() {
    let app = TestApp::spawn().await;
    app.get(STATUS_PATH).await;
    app.get(&STATUS_PATH.replace("Status", "%53tatus")).await;
    app.get("/no/such/path/123").await;

    let text = scrape(&app).await;

    assert_has(
        &text,
        &format!(
            "qoe_http_requests_total{{route=\"{STATUS_PATH}\",method=\"GET\",status=\"200\"}} 2"
        ),
    );
    assert_has(
        &text,
        "qoe_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
    );
    assert_has(&text, &format!("qoe_http_request_duration_seconds_count{{route=\"{STATUS_PATH}\",method=\"GET\",status=\"200\"}} 2"));
}

#[actix_web::test]
async fn database_reads_and_cache_counters_are_reported() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = TestApp::builder()
        .store(store)
        .cache_ttl(std::time::Duration::from_secs(60))
        .spawn()
        .await;
    app.get(STATUS_PATH).await;
    app.get(STATUS_PATH).await;

    let text = scrape(&app).await;

    assert_has(
        &text,
        "qoe_db_command_duration_seconds_count{command=\"status\",outcome=\"ok\"} 1",
    );
    assert_has(&text, "qoe_cache_misses_total{cache=\"status\"} 1");
    // The second request and the scrape's own freshness read.
    assert_has(&text, "qoe_cache_hits_total{cache=\"status\"} 2");
}

#[actix_web::test]
async fn each_database_read_is_labelled_by_its_own_method() {
    let app = over(FakeStore::with_entries(documentation_sample())).await;
    app.get(READYZ_PATH).await;
    app.get(LOG_PATH).await;

    let text = scrape(&app).await;

    assert_has(
        &text,
        "qoe_db_command_duration_seconds_count{command=\"readiness\",outcome=\"ok\"} 1",
    );
    assert_has(
        &text,
        "qoe_db_command_duration_seconds_count{command=\"integration_log\",outcome=\"ok\"} 1",
    );
    assert!(
        !text.contains("command=\"ping\""),
        "readiness counted as a ping:\n{text}"
    );
}

#[actix_web::test]
async fn job_freshness_comes_from_the_status_data() {
    let app = over(FakeStore::with_entries(documentation_sample())).await;

    let text = scrape(&app).await;

    assert_has(&text, "qoe_status_up 1");
    assert!(
        text.contains("qoe_last_success_age_seconds{qoe_job=\"data_integration\"} "),
        "{text}"
    );
    assert!(
        text.contains("qoe_last_success_age_seconds{qoe_job=\"cube_processing\"} "),
        "{text}"
    );
    // 01/18/2015 10:30:58 UTC, the newest cube processing failure of the sample.
    assert_has(
        &text,
        "qoe_last_failure_timestamp_seconds{qoe_job=\"cube_processing\"} 1421577058",
    );
    assert!(
        !text.contains("qoe_last_failure_timestamp_seconds{qoe_job=\"data_integration\"}"),
        "{text}"
    );
}

#[actix_web::test]
async fn an_unavailable_database_is_status_up_zero_and_the_scrape_still_succeeds() {
    let app = over(FakeStore::failing(Unavailability::Unreachable)).await;

    let text = scrape(&app).await;

    assert_has(&text, "qoe_status_up 0");
    assert!(!text.contains("qoe_last_success_age_seconds{"), "{text}");
}

#[actix_web::test]
async fn a_server_zone_that_disagrees_is_reported_as_its_own_reason_for_its_own_alert() {
    let app = over(FakeStore::failing(Unavailability::ServerTimeZoneMismatch)).await;

    let text = scrape(&app).await;

    assert_has(&text, "qoe_status_up 0");
    assert_has(
        &text,
        "qoe_status_unreadable_reason{reason=\"server_time_zone_mismatch\"} 1",
    );
}

#[actix_web::test]
async fn with_the_status_disabled_metrics_read_nothing() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = TestApp::builder()
        .store(store.clone())
        .disabled()
        .spawn()
        .await;

    let text = scrape(&app).await;

    assert!(!text.contains("qoe_status_up"), "{text}");
    assert_has(&text, "qoe_integration_log_enabled 0");
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn a_run_in_progress_and_a_job_that_never_succeeded_are_reported() {
    use qoe_data_service::domain::LogCategory;
    let store = FakeStore::with_entries(vec![
        entry(LogCategory::DataIntegrationSucceeded, "01/18/2015 10:00:00"),
        entry(LogCategory::CubeProcessingFailed, "01/18/2015 10:05:00"),
        entry(LogCategory::CubeProcessingStarted, "01/18/2015 10:20:00"),
    ]);
    let app = over(store).await;

    let text = scrape(&app).await;

    assert_has(&text, "qoe_integration_log_enabled 1");
    assert_has(
        &text,
        "qoe_job_has_succeeded{qoe_job=\"data_integration\"} 1",
    );
    assert_has(
        &text,
        "qoe_job_has_succeeded{qoe_job=\"cube_processing\"} 0",
    );
    assert!(
        text.contains("qoe_run_in_progress_seconds{qoe_job=\"cube_processing\"} "),
        "{text}"
    );
    assert!(
        !text.contains("qoe_run_in_progress_seconds{qoe_job=\"data_integration\"}"),
        "{text}"
    );
}

#[actix_web::test]
async fn the_build_is_reported_as_an_info_series_naming_version_target_and_kerberos() {
    let app = TestApp::spawn().await;

    let text = scrape(&app).await;

    let kerberos = if cfg!(feature = "kerberos") {
        "on"
    } else {
        "off"
    };
    assert_has(
        &text,
        &format!(
            "qoe_build_info{{version=\"{}\",target=\"{}\",kerberos=\"{kerberos}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            qoe_data_service::build_info::TARGET,
        ),
    );
}
