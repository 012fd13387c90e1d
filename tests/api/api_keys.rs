use actix_web::http::{header, Method, StatusCode};
use qoe_data_service::paths::{
    API_KEY_HEADER, CLEAR_CACHE_PATH, HEALTHZ_PATH, LOG_PATH, METRICS_PATH, READYZ_PATH,
    STATUS_PAGE_PATH, STATUS_PATH,
};

use crate::helpers::*;

const KEY: &str = "k3y-for-the-portal";
const OTHER_KEY: &str = "k3y-for-scripts";

async fn with_keys(store: std::sync::Arc<FakeStore>) -> TestApp {
    TestApp::builder()
        .store(store)
        .api_keys(&[KEY, OTHER_KEY])
        .spawn()
        .await
}

async fn with_keys_over_an_empty_store() -> TestApp {
    with_keys(FakeStore::with_entries(vec![])).await
}

#[actix_web::test]
async fn without_a_key_every_service_operation_is_401_with_a_challenge() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = with_keys(store.clone()).await;

    for (method, path) in [
        (Method::GET, STATUS_PATH),
        (Method::GET, LOG_PATH),
        (Method::GET, STATUS_PAGE_PATH),
        (Method::POST, CLEAR_CACHE_PATH),
        (Method::GET, "/QoEDataService/Nothing"),
    ] {
        let response = app.request(method, path).await;

        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.header(header::WWW_AUTHENTICATE),
            Some(r#"Bearer realm="qoe-data-service""#)
        );
        assert_eq!(
            &response.body[..],
            br#"{"error":"missing or invalid API key"}"#
        );
    }
    assert_eq!(store.calls(), 0, "the store was called without a key");
}

#[actix_web::test]
async fn a_wrong_key_is_401() {
    let app = with_keys_over_an_empty_store().await;

    for (name, value) in [
        (API_KEY_HEADER, "k3y-for-the-porta"),
        (API_KEY_HEADER, ""),
        ("authorization", "Bearer k3y-for-the-portal-"),
        ("authorization", "Basic k3y-for-the-portal"),
    ] {
        let response = app.get(STATUS_PATH).with_header((name, value)).await;

        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}: {value}");
    }
}

#[actix_web::test]
async fn any_configured_key_is_accepted_in_either_header() {
    let app = with_keys_over_an_empty_store().await;

    for (name, value) in [
        (API_KEY_HEADER, KEY.to_owned()),
        (API_KEY_HEADER, OTHER_KEY.to_owned()),
        ("authorization", format!("Bearer {KEY}")),
        ("authorization", format!("bearer {OTHER_KEY}")),
    ] {
        let response = app
            .get(STATUS_PATH)
            .with_header((name, value.as_str()))
            .await;

        assert_eq!(response.status, StatusCode::OK, "{name}: {value}");
    }
}

#[actix_web::test]
async fn probes_stay_open_when_keys_are_set() {
    let app = with_keys_over_an_empty_store().await;

    for path in [HEALTHZ_PATH, READYZ_PATH] {
        let response = app.get(path).await;

        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
}

#[actix_web::test]
async fn a_percent_encoded_path_cannot_slip_past_the_key_check() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = with_keys(store.clone()).await;

    let response = app.get("/%51oEDataService/IntegrationLog/Status").await;

    assert_ne!(response.status, StatusCode::OK);
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn each_refusal_is_counted() {
    let app = with_keys_over_an_empty_store().await;

    for _ in 0..3 {
        app.get(STATUS_PATH).await;
    }

    assert_eq!(app.api_key_rejections(), 3);
}

#[actix_web::test]
async fn without_keys_the_service_is_open() {
    let app = TestApp::spawn().await;

    let response = app.get(STATUS_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn keys_set_in_the_settings_close_the_in_process_app_and_the_server_alike() {
    let mut settings = test_settings("Server=tcp:127.0.0.1,1433;User Id=qoe_test;Password=unused");
    settings.http.api_keys =
        qoe_data_service::configuration::ApiKeys::new(vec![KEY.into()]).expect("a valid key");
    let app = TestApp::builder().settings(settings.clone()).spawn().await;
    let port = serve_over_an_empty_store(settings);

    let in_process = app.get(STATUS_PATH).await;
    let over_the_socket = http_get(port, STATUS_PATH).await;

    assert_eq!(in_process.status, StatusCode::UNAUTHORIZED);
    assert_eq!(over_the_socket.status, 401, "{}", over_the_socket.body);
    let keyed = app
        .get(STATUS_PATH)
        .with_header((API_KEY_HEADER, KEY))
        .await;
    assert_eq!(keyed.status, StatusCode::OK);
}

/// What Chromium sends when a person opens a page.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[actix_web::test]
async fn a_browser_without_a_key_gets_a_401_page_that_says_how_to_reach_the_status_page() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = with_keys(store.clone()).await;

    let response = app
        .get(STATUS_PAGE_PATH)
        .with_header((header::ACCEPT, BROWSER_ACCEPT))
        .await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.header(header::WWW_AUTHENTICATE),
        Some(r#"Bearer realm="qoe-data-service""#)
    );
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    let page = response.text();
    for how in [
        "http.public_status = true",
        "QOE_HTTP__PUBLIC_STATUS=true",
        "Windows",
        "X-Api-Key",
    ] {
        assert!(page.contains(how), "{how} missing: {page}");
    }
    assert!(!page.contains(KEY), "no key on the page");
    assert_eq!(store.calls(), 0, "the store was called without a key");
}

#[actix_web::test]
async fn scripts_and_the_api_keep_the_json_401_whatever_they_accept() {
    let app = with_keys_over_an_empty_store().await;

    for (path, accept) in [
        (STATUS_PAGE_PATH, "*/*"),
        (STATUS_PAGE_PATH, "application/json"),
        (STATUS_PATH, BROWSER_ACCEPT),
        (LOG_PATH, BROWSER_ACCEPT),
    ] {
        let response = app.get(path).with_header((header::ACCEPT, accept)).await;

        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path} {accept}");
        assert_eq!(
            &response.body[..],
            br#"{"error":"missing or invalid API key"}"#,
            "{path} {accept}"
        );
    }
}

#[actix_web::test]
async fn public_status_opens_status_and_the_page_and_nothing_else() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = TestApp::builder()
        .store(store)
        .api_keys(&[KEY])
        .public_status()
        .spawn()
        .await;

    for path in [STATUS_PATH, STATUS_PAGE_PATH] {
        let response = app
            .get(path)
            .with_header((header::ACCEPT, BROWSER_ACCEPT))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
    for (method, path) in [
        (Method::GET, LOG_PATH),
        (Method::POST, CLEAR_CACHE_PATH),
        (Method::GET, METRICS_PATH),
    ] {
        let response = app.request(method, path).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}
