use actix_web::http::{header, StatusCode};
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use qoe_data_service::domain::{LogCategory, LogEntry};
use qoe_data_service::paths::LOG_PATH;
use qoe_data_service::store::Unavailability;
use std::sync::Arc;

use crate::helpers::*;

fn log_entry(category: LogCategory, utc: &str, description: Option<&str>) -> LogEntry {
    LogEntry {
        category,
        time: NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("bad sample time {utc}: {e}"))
            .and_utc(),
        description: description.map(str::to_owned),
    }
}

fn sample_log() -> Vec<LogEntry> {
    vec![
        log_entry(
            LogCategory::CubeProcessingFailed,
            "2015-03-18 10:28:29.105",
            Some("Cube processing failed: timeout"),
        ),
        log_entry(
            LogCategory::DataIntegrationSucceeded,
            "2015-03-18 10:15:02.5",
            None,
        ),
    ]
}

async fn over(store: Arc<FakeStore>) -> TestApp {
    TestApp::builder().store(store).spawn().await
}

#[actix_web::test]
async fn disabled_log_answers_an_empty_body_without_touching_the_database() {
    assert_disabled_answers_empty_without_the_database(LOG_PATH, FakeStore::with_log(sample_log()))
        .await;
}

#[actix_web::test]
async fn enabled_log_lists_entries_as_the_contract_spells_them() {
    let app = over(FakeStore::with_log(sample_log())).await;

    let response = app.get(LOG_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(
        response.text(),
        r#"[{"LogCategory":"CubeProcessingFailed","LogTime":"2015-03-18T10:28:29.10","LogDescription":"Cube processing failed: timeout"},{"LogCategory":"DataIntegrationSucceeded","LogTime":"2015-03-18T10:15:02.50","LogDescription":null}]"#
    );
}

#[actix_web::test]
async fn log_times_are_shown_in_the_configured_zone() {
    let app = TestApp::builder()
        .store(FakeStore::with_log(sample_log()))
        .time_zone(Tz::Europe__Moscow)
        .spawn()
        .await;

    let body = app.get(LOG_PATH).await.json();

    assert_eq!(body[0]["LogTime"], "2015-03-18T13:28:29.10");
}

#[actix_web::test]
async fn an_empty_log_is_an_empty_array() {
    let app = over(FakeStore::with_log(vec![])).await;

    let response = app.get(LOG_PATH).await;

    assert_eq!(&response.body[..], b"[]");
}

#[actix_web::test]
async fn without_parameters_the_newest_hundred_of_every_category_are_asked_for() {
    let store = FakeStore::with_log(vec![]);
    let app = over(store.clone()).await;

    app.get(LOG_PATH).await;

    let query = store.last_log_query().expect("the store was asked");
    assert_eq!(query.top(), 100);
    assert_eq!(query.category(), None);
}

#[actix_web::test]
async fn top_and_category_reach_the_store() {
    let store = FakeStore::with_log(vec![]);
    let app = over(store.clone()).await;

    let response = app
        .get(&format!(
            "{LOG_PATH}?top=1000&category=CubeProcessingFailed"
        ))
        .await;

    assert_eq!(response.status, StatusCode::OK);
    let query = store.last_log_query().expect("the store was asked");
    assert_eq!(query.top(), 1000);
    assert_eq!(query.category(), Some(LogCategory::CubeProcessingFailed));
}

#[actix_web::test]
async fn invalid_parameters_are_a_400_naming_the_parameter_without_a_database_call() {
    let cases = [
        ("top=0", "`top`"),
        ("top=1001", "`top`"),
        ("top=ten", "`top`"),
        ("top=", "`top`"),
        ("top=5&top=6", "`top`"),
        ("category=Everything", "`category`"),
        ("category=", "`category`"),
        ("limit=5", "`limit`"),
        ("top=5&%24filter=x", "`$filter`"),
    ];
    for (query_string, named) in cases {
        let store = FakeStore::with_log(sample_log());
        let app = over(store.clone()).await;

        let response = app.get(&format!("{LOG_PATH}?{query_string}")).await;

        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query_string}");
        let body = response.json();
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "?{query_string} gave `{message}`, which does not name {named}"
        );
        assert_eq!(store.calls(), 0, "?{query_string} reached the store");
    }
}

#[actix_web::test]
async fn the_top_message_says_what_is_allowed() {
    let app = over(FakeStore::with_log(vec![])).await;

    let body = app.get(&format!("{LOG_PATH}?top=abc")).await.json();

    assert_eq!(
        body,
        serde_json::json!({"error": "invalid query parameter `top`: must be a whole number from 1 to 1000"})
    );
}

#[actix_web::test]
async fn a_store_failure_is_a_503_with_nothing_leaked() {
    let app = over(FakeStore::failing(Unavailability::QueryFailed)).await;

    let response = app.get(LOG_PATH).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(
        &response.body[..],
        br#"{"error":"database unavailable","reason":"database query failed"}"#
    );
}

/// [`rare_failure_runs`] as `dbo.IntegrationLog` rows.
fn rare_failure_rows() -> Vec<testkit::integration_log::LogRow> {
    use testkit::integration_log::LogRow;
    let none = None::<String>;
    rare_failure_runs()
        .into_iter()
        .flat_map(|run| {
            let cube_outcome = if run.cube_failed {
                "CubeProcessingFailed"
            } else {
                "CubeProcessingSucceeded"
            };
            [
                LogRow::new("DataIntegrationStarted", run.start, none.clone()),
                LogRow::new("DataIntegrationSucceeded", run.cube_start(), none.clone()),
                LogRow::new("CubeProcessingStarted", run.cube_start(), none.clone()),
                LogRow::new(cube_outcome, run.cube_end(), Some(run.cube_message())),
            ]
        })
        .collect()
}

#[actix_web::test]
async fn the_table_source_finds_the_newest_entries_of_a_rare_category_cached_or_not() {
    let db = testkit::integration_log::IntegrationLogDb::new();
    db.set_rows(rare_failure_rows());
    let server = testkit::TdsTestServer::start(db)
        .await
        .expect("the TDS test server starts");
    let settings = test_settings(&server.ado_connection_string());
    let store = Arc::new(
        qoe_data_service::db::SqlServerStore::new(&settings.database).expect("the store builds"),
    );

    for ttl in [std::time::Duration::from_secs(5), std::time::Duration::ZERO] {
        let app = TestApp::builder()
            .store(store.clone())
            .cache_ttl(ttl)
            .spawn()
            .await;
        assert_the_newest_rare_failures_are_found(&app).await;
    }
}
