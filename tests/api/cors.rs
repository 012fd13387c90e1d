use actix_web::http::{header, Method, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::configuration::{ApiKeys, HttpSettings};
use qoe_data_service::paths::{CLEAR_CACHE_PATH, STATUS_PATH};
use secrecy::SecretString;

use crate::helpers::*;

const TRUSTED: &str = "https://cqd.example.org";
const OTHER_TRUSTED: &str = "http://10.0.0.5:8080";
const UNTRUSTED: &str = "https://evil.example.net";

fn trusting(origins: &[&str]) -> HttpSettings {
    HttpSettings {
        cors_trusted_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..open_http()
    }
}

fn get_from(origin: &str) -> actix_http::Request {
    test::TestRequest::get()
        .uri(STATUS_PATH)
        .insert_header((header::ORIGIN, origin))
        .to_request()
}

fn preflight(path: &str, origin: &str, method: &str) -> actix_http::Request {
    test::TestRequest::default()
        .method(Method::OPTIONS)
        .uri(path)
        .insert_header((header::ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, method))
        .to_request()
}

#[actix_web::test]
async fn a_trusted_origin_gets_its_exact_value_back_and_vary_origin() {
    let app = spawn_enabled_app(trusting(&[TRUSTED, OTHER_TRUSTED])).await;

    for origin in [TRUSTED, OTHER_TRUSTED] {
        let response = test::call_service(&app, get_from(origin)).await;

        assert_eq!(response.status(), StatusCode::OK, "{origin}");
        assert_eq!(
            header_text(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
            Some(origin)
        );
        let vary = header_text(&response, header::VARY).unwrap_or_default();
        assert!(vary.contains("Origin"), "Vary: {vary}");
    }
}

#[actix_web::test]
async fn a_preflight_from_a_trusted_origin_is_granted_for_the_service_methods() {
    let app = spawn_enabled_app(trusting(&[TRUSTED])).await;

    for (path, method) in [(STATUS_PATH, "GET"), (CLEAR_CACHE_PATH, "POST")] {
        let response = test::call_service(&app, preflight(path, TRUSTED, method)).await;

        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
        assert_eq!(
            header_text(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
            Some(TRUSTED)
        );
        let allowed =
            header_text(&response, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap_or_default();
        assert!(allowed.contains(method), "allowed methods: {allowed}");
    }
}

#[actix_web::test]
async fn an_untrusted_origin_gets_no_grant() {
    let app = spawn_enabled_app(trusting(&[TRUSTED])).await;

    let simple = test::call_service(&app, get_from(UNTRUSTED)).await;
    let preflight = test::call_service(&app, preflight(STATUS_PATH, UNTRUSTED, "GET")).await;

    assert_eq!(
        header_text(&simple, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
    assert_eq!(
        header_text(&preflight, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
}

#[actix_web::test]
async fn a_trusted_origin_with_a_different_port_or_scheme_is_untrusted() {
    let app = spawn_enabled_app(trusting(&[TRUSTED])).await;

    for origin in ["http://cqd.example.org", "https://cqd.example.org:8443"] {
        let response = test::call_service(&app, get_from(origin)).await;

        assert_eq!(
            header_text(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{origin}"
        );
    }
}

#[actix_web::test]
async fn without_trusted_origins_there_are_no_cors_headers_at_all() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let simple = test::call_service(&app, get_from(TRUSTED)).await;
    let preflight = test::call_service(&app, preflight(STATUS_PATH, TRUSTED, "GET")).await;

    for response in [&simple, &preflight] {
        let cors_headers: Vec<String> = response
            .headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name.starts_with("access-control-") || name == "vary")
            .collect();
        assert!(cors_headers.is_empty(), "{cors_headers:?}");
    }
}

#[actix_web::test]
async fn a_preflight_needs_no_api_key() {
    let http = HttpSettings {
        api_keys: ApiKeys::new(vec![SecretString::from("k-1")]).expect("valid"),
        ..trusting(&[TRUSTED])
    };
    let app = spawn_app_with(FakeStore::with_entries(vec![]), enabled(Tz::UTC), http).await;

    let response = test::call_service(&app, preflight(STATUS_PATH, TRUSTED, "GET")).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_text(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(TRUSTED)
    );
}
