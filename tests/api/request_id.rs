use qoe_data_service::paths::{HEALTHZ_PATH, REQUEST_ID_HEADER, STATUS_PATH};

use crate::helpers::*;

#[actix_web::test]
async fn a_valid_request_id_is_returned_as_given() {
    let app = TestApp::spawn().await;

    let response = app
        .get(STATUS_PATH)
        .with_header(("X-Request-Id", "portal-7f3a/42"))
        .await;

    assert_eq!(response.header(REQUEST_ID_HEADER), Some("portal-7f3a/42"));
}

#[actix_web::test]
async fn without_a_request_id_one_is_generated_for_every_answer() {
    let app = TestApp::spawn().await;

    let first = app.get(HEALTHZ_PATH).await;
    let unknown = app.get("/nowhere").await;

    let first = first.header(REQUEST_ID_HEADER).expect("generated on 200");
    let unknown = unknown.header(REQUEST_ID_HEADER).expect("generated on 404");
    assert_eq!(first.len(), 32, "{first}");
    assert_ne!(first, unknown);
}

#[actix_web::test]
async fn an_invalid_request_id_is_replaced() {
    let app = TestApp::spawn().await;
    let too_long = "x".repeat(129);

    for given in ["has spaces", too_long.as_str()] {
        let response = app
            .get(HEALTHZ_PATH)
            .with_header(("X-Request-Id", given))
            .await;

        let returned = response.header(REQUEST_ID_HEADER).expect("a request id");
        assert_ne!(returned, given);
        assert_eq!(returned.len(), 32, "{returned}");
    }
}
