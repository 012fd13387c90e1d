use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use qoe_data_service::domain::{LogCategory, LogEntry};
use qoe_data_service::paths::LOG_PATH;
use qoe_data_service::store::Unavailability;

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

fn get(uri: &str) -> actix_http::Request {
    test::TestRequest::get().uri(uri).to_request()
}

#[actix_web::test]
async fn disabled_log_answers_an_empty_body_without_touching_the_database() {
    let store = FakeStore::with_log(sample_log());
    let app = spawn_app(store.clone(), disabled()).await;

    let response = test::call_service(&app, get(LOG_PATH)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(test::read_body(response).await.is_empty());
    assert_eq!(store.calls(), 0, "the store was called while disabled");
}

#[actix_web::test]
async fn enabled_log_lists_entries_as_the_contract_spells_them() {
    let app = spawn_app(FakeStore::with_log(sample_log()), enabled(Tz::UTC)).await;

    let response = test::call_service(&app, get(LOG_PATH)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_text(&response, header::CONTENT_TYPE).as_deref(),
        Some("application/json")
    );
    let body = test::read_body(response).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"[{"LogCategory":"CubeProcessingFailed","LogTime":"2015-03-18T10:28:29.10","LogDescription":"Cube processing failed: timeout"},{"LogCategory":"DataIntegrationSucceeded","LogTime":"2015-03-18T10:15:02.50","LogDescription":null}]"#
    );
}

#[actix_web::test]
async fn log_times_are_shown_in_the_configured_zone() {
    let app = spawn_app(
        FakeStore::with_log(sample_log()),
        enabled(Tz::Europe__Moscow),
    )
    .await;

    let body: serde_json::Value = test::call_and_read_body_json(&app, get(LOG_PATH)).await;

    assert_eq!(body[0]["LogTime"], "2015-03-18T13:28:29.10");
}

#[actix_web::test]
async fn an_empty_log_is_an_empty_array() {
    let app = spawn_app(FakeStore::with_log(vec![]), enabled(Tz::UTC)).await;

    let body = test::call_and_read_body(&app, get(LOG_PATH)).await;

    assert_eq!(&body[..], b"[]");
}

#[actix_web::test]
async fn without_parameters_the_newest_hundred_of_every_category_are_asked_for() {
    let store = FakeStore::with_log(vec![]);
    let app = spawn_app(store.clone(), enabled(Tz::UTC)).await;

    test::call_service(&app, get(LOG_PATH)).await;

    let query = store.last_log_query().expect("the store was asked");
    assert_eq!(query.top(), 100);
    assert_eq!(query.category(), None);
}

#[actix_web::test]
async fn top_and_category_reach_the_store() {
    let store = FakeStore::with_log(vec![]);
    let app = spawn_app(store.clone(), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        get(&format!(
            "{LOG_PATH}?top=1000&category=CubeProcessingFailed"
        )),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
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
        let app = spawn_app(store.clone(), enabled(Tz::UTC)).await;

        let response = test::call_service(&app, get(&format!("{LOG_PATH}?{query_string}"))).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query_string}");
        let body: serde_json::Value = test::read_body_json(response).await;
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
    let app = spawn_app(FakeStore::with_log(vec![]), enabled(Tz::UTC)).await;

    let body: serde_json::Value =
        test::call_and_read_body_json(&app, get(&format!("{LOG_PATH}?top=abc"))).await;

    assert_eq!(
        body,
        serde_json::json!({"error": "invalid query parameter `top`: must be a whole number from 1 to 1000"})
    );
}

#[actix_web::test]
async fn a_store_failure_is_a_503_with_nothing_leaked() {
    let app = spawn_app(
        FakeStore::failing(Unavailability::QueryFailed),
        enabled(Tz::UTC),
    )
    .await;

    let response = test::call_service(&app, get(LOG_PATH)).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body = test::read_body(response).await;
    assert_eq!(&body[..], br#"{"error":"database unavailable"}"#);
}
