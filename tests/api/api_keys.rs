use actix_web::http::{header, StatusCode};
use actix_web::{test, web};
use chrono_tz::Tz;
use qoe_data_service::configuration::{ApiKeys, HttpSettings};
use qoe_data_service::middleware::api_key::ApiKeyGate;
use qoe_data_service::paths::{
    API_KEY_HEADER, CLEAR_CACHE_PATH, HEALTHZ_PATH, LOG_PATH, READYZ_PATH, STATUS_PAGE_PATH,
    STATUS_PATH,
};
use secrecy::SecretString;

use crate::helpers::*;

const KEY: &str = "k3y-for-the-portal";
const OTHER_KEY: &str = "k3y-for-scripts";

fn with_keys() -> HttpSettings {
    HttpSettings {
        api_keys: ApiKeys::new(vec![SecretString::from(KEY), SecretString::from(OTHER_KEY)])
            .expect("valid keys"),
        ..open_http()
    }
}

fn get_status_with(name: &str, value: &str) -> actix_http::Request {
    test::TestRequest::get()
        .uri(STATUS_PATH)
        .insert_header((name, value))
        .to_request()
}

#[actix_web::test]
async fn without_a_key_every_service_operation_is_401_with_a_challenge() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app_with(store.clone(), enabled(Tz::UTC), with_keys()).await;

    for request in [
        test::TestRequest::get().uri(STATUS_PATH),
        test::TestRequest::get().uri(LOG_PATH),
        test::TestRequest::get().uri(STATUS_PAGE_PATH),
        test::TestRequest::post().uri(CLEAR_CACHE_PATH),
        test::TestRequest::get().uri("/QoEDataService/Nothing"),
    ] {
        let response = test::call_service(&app, request.to_request()).await;

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&br#"Bearer realm="qoe-data-service""#[..])
        );
        let body = test::read_body(response).await;
        assert_eq!(&body[..], br#"{"error":"missing or invalid API key"}"#);
    }
    assert_eq!(store.calls(), 0, "the store was called without a key");
}

#[actix_web::test]
async fn a_wrong_key_is_401() {
    let app = spawn_enabled_app(with_keys()).await;

    for (name, value) in [
        (API_KEY_HEADER, "k3y-for-the-porta"),
        (API_KEY_HEADER, ""),
        ("authorization", "Bearer k3y-for-the-portal-"),
        ("authorization", "Basic k3y-for-the-portal"),
    ] {
        let response = test::call_service(&app, get_status_with(name, value)).await;

        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{name}: {value}"
        );
    }
}

#[actix_web::test]
async fn any_configured_key_is_accepted_in_either_header() {
    let app = spawn_enabled_app(with_keys()).await;

    for (name, value) in [
        (API_KEY_HEADER, KEY.to_owned()),
        (API_KEY_HEADER, OTHER_KEY.to_owned()),
        ("authorization", format!("Bearer {KEY}")),
        ("authorization", format!("bearer {OTHER_KEY}")),
    ] {
        let response = test::call_service(&app, get_status_with(name, value.as_str())).await;

        assert_eq!(response.status(), StatusCode::OK, "{name}: {value}");
    }
}

#[actix_web::test]
async fn probes_stay_open_when_keys_are_set() {
    let app = spawn_enabled_app(with_keys()).await;

    for path in [HEALTHZ_PATH, READYZ_PATH] {
        let response =
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;

        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[actix_web::test]
async fn a_percent_encoded_path_cannot_slip_past_the_key_check() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app_with(store.clone(), enabled(Tz::UTC), with_keys()).await;

    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/%51oEDataService/IntegrationLog/Status")
            .to_request(),
    )
    .await;

    assert_ne!(response.status(), StatusCode::OK);
    assert_eq!(store.calls(), 0);
}

#[actix_web::test]
async fn each_refusal_is_counted() {
    let gate = web::Data::new(ApiKeyGate::new(&with_keys().api_keys));
    let app = spawn_app_with_gate(
        FakeStore::with_entries(vec![]),
        enabled(Tz::UTC),
        with_keys(),
        gate.clone(),
    )
    .await;

    for _ in 0..3 {
        test::call_service(&app, test::TestRequest::get().uri(STATUS_PATH).to_request()).await;
    }

    assert_eq!(gate.rejections(), 3);
}

#[actix_web::test]
async fn without_keys_the_service_is_open() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response =
        test::call_service(&app, test::TestRequest::get().uri(STATUS_PATH).to_request()).await;

    assert_eq!(response.status(), StatusCode::OK);
}
