use actix_web::http::{header, Method, StatusCode};
use qoe_data_service::paths::{CLEAR_CACHE_PATH, STATUS_PATH};

use crate::helpers::*;

const TRUSTED: &str = "https://cqd.example.org";
const OTHER_TRUSTED: &str = "http://10.0.0.5:8080";
const UNTRUSTED: &str = "https://evil.example.net";

async fn trusting(origins: &[&str]) -> TestApp {
    TestApp::builder().trusted_origins(origins).spawn().await
}

async fn get_from(app: &TestApp, origin: &str) -> TestResponse {
    app.get(STATUS_PATH)
        .with_header((header::ORIGIN, origin))
        .await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> TestResponse {
    app.request(Method::OPTIONS, path)
        .with_header((header::ORIGIN, origin))
        .with_header((header::ACCESS_CONTROL_REQUEST_METHOD, method))
        .await
}

#[actix_web::test]
async fn a_trusted_origin_gets_its_exact_value_back_and_vary_origin() {
    let app = trusting(&[TRUSTED, OTHER_TRUSTED]).await;

    for origin in [TRUSTED, OTHER_TRUSTED] {
        let response = get_from(&app, origin).await;

        assert_eq!(response.status, StatusCode::OK, "{origin}");
        assert_eq!(
            response.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(origin)
        );
        let vary = response.header(header::VARY).unwrap_or_default();
        assert!(vary.contains("Origin"), "Vary: {vary}");
    }
}

#[actix_web::test]
async fn a_preflight_from_a_trusted_origin_is_granted_for_the_service_methods() {
    let app = trusting(&[TRUSTED]).await;

    for (path, method) in [(STATUS_PATH, "GET"), (CLEAR_CACHE_PATH, "POST")] {
        let response = preflight(&app, path, TRUSTED, method).await;

        assert_eq!(response.status, StatusCode::OK, "{method} {path}");
        assert_eq!(
            response.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(TRUSTED)
        );
        let allowed = response
            .header(header::ACCESS_CONTROL_ALLOW_METHODS)
            .unwrap_or_default();
        assert!(allowed.contains(method), "allowed methods: {allowed}");
    }
}

#[actix_web::test]
async fn an_untrusted_origin_gets_no_grant() {
    let app = trusting(&[TRUSTED]).await;

    let simple = get_from(&app, UNTRUSTED).await;
    let preflight = preflight(&app, STATUS_PATH, UNTRUSTED, "GET").await;

    assert_eq!(simple.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(preflight.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[actix_web::test]
async fn a_trusted_origin_with_a_different_port_or_scheme_is_untrusted() {
    let app = trusting(&[TRUSTED]).await;

    for origin in ["http://cqd.example.org", "https://cqd.example.org:8443"] {
        let response = get_from(&app, origin).await;

        assert_eq!(
            response.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{origin}"
        );
    }
}

#[actix_web::test]
async fn without_trusted_origins_there_are_no_cors_headers_at_all() {
    let app = TestApp::spawn().await;

    let simple = get_from(&app, TRUSTED).await;
    let preflight = preflight(&app, STATUS_PATH, TRUSTED, "GET").await;

    for response in [&simple, &preflight] {
        let cors_headers: Vec<String> = response
            .headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name.starts_with("access-control-") || name == "vary")
            .collect();
        assert!(cors_headers.is_empty(), "{cors_headers:?}");
    }
}

#[actix_web::test]
async fn a_preflight_needs_no_api_key() {
    let app = TestApp::builder()
        .trusted_origins(&[TRUSTED])
        .api_keys(&["k-1"])
        .spawn()
        .await;

    let response = preflight(&app, STATUS_PATH, TRUSTED, "GET").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(TRUSTED)
    );
}
