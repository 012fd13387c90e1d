use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::paths::STATUS_PATH;

use crate::helpers::*;

#[actix_web::test]
async fn a_valid_request_id_is_returned_as_given() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response = test::call_service(
        &app,
        get(STATUS_PATH)
            .insert_header(("X-Request-Id", "portal-7f3a/42"))
            .to_request(),
    )
    .await;

    assert_eq!(
        header_text(&response, "x-request-id").as_deref(),
        Some("portal-7f3a/42")
    );
}

#[actix_web::test]
async fn without_a_request_id_one_is_generated_for_every_answer() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let first = test::call_service(&app, get("/healthz").to_request()).await;
    let unknown = test::call_service(&app, get("/nowhere").to_request()).await;

    let first = header_text(&first, "x-request-id").expect("generated on 200");
    let unknown = header_text(&unknown, "x-request-id").expect("generated on 404");
    assert_eq!(first.len(), 32, "{first}");
    assert_ne!(first, unknown);
}

#[actix_web::test]
async fn an_invalid_request_id_is_replaced() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;
    let too_long = "x".repeat(129);

    for given in ["has spaces", too_long.as_str()] {
        let response = test::call_service(
            &app,
            get("/healthz")
                .insert_header(("X-Request-Id", given))
                .to_request(),
        )
        .await;

        let returned = header_text(&response, "x-request-id").expect("a request id");
        assert_ne!(returned, given);
        assert_eq!(returned.len(), 32, "{returned}");
    }
}
