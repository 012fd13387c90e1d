use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::test;
use chrono_tz::Tz;
use qoe_data_service::paths::{LOG_PATH, STATUS_PATH};

use crate::helpers::*;

#[actix_web::test]
async fn status_carries_a_strong_etag_and_max_age_equal_to_the_ttl() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app_with_cache(store, enabled(Tz::UTC), Duration::from_secs(5)).await;

    let response = test::call_service(&app, get(STATUS_PATH).to_request()).await;

    let etag = header_text(&response, "etag").expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "not strong: {etag}"
    );
    assert_eq!(
        header_text(&response, "cache-control").as_deref(),
        Some("max-age=5")
    );
}

#[actix_web::test]
async fn a_current_tag_in_if_none_match_is_304_without_a_body() {
    let app = spawn_app(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::UTC),
    )
    .await;
    let first = test::call_service(&app, get(STATUS_PATH).to_request()).await;
    let etag = header_text(&first, "etag").expect("an ETag");

    for if_none_match in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".into(),
    ] {
        let response = test::call_service(
            &app,
            get(STATUS_PATH)
                .insert_header((header::IF_NONE_MATCH, if_none_match.as_str()))
                .to_request(),
        )
        .await;

        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{if_none_match}"
        );
        assert_eq!(
            header_text(&response, "etag").as_deref(),
            Some(etag.as_str())
        );
        assert!(
            test::read_body(response).await.is_empty(),
            "{if_none_match}"
        );
    }
}

#[actix_web::test]
async fn a_stale_tag_gets_the_full_body() {
    let app = spawn_app(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::UTC),
    )
    .await;

    let response = test::call_service(
        &app,
        get(STATUS_PATH)
            .insert_header((header::IF_NONE_MATCH, "\"0000000000000000\""))
            .to_request(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_is_documentation_sample(&test::read_body(response).await);
}

#[actix_web::test]
async fn the_tag_changes_when_the_status_changes() {
    let store = FakeStore::with_entries(documentation_sample());
    let app = spawn_app(store, enabled(Tz::UTC)).await;
    let sample = test::call_service(&app, get(STATUS_PATH).to_request()).await;
    let empty_app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;
    let empty = test::call_service(&empty_app, get(STATUS_PATH).to_request()).await;

    assert_ne!(header_text(&sample, "etag"), header_text(&empty, "etag"));
}

#[actix_web::test]
async fn with_the_cache_off_clients_must_revalidate() {
    let app = spawn_app(FakeStore::with_entries(vec![]), enabled(Tz::UTC)).await;

    let response = test::call_service(&app, get(STATUS_PATH).to_request()).await;

    assert_eq!(
        header_text(&response, "cache-control").as_deref(),
        Some("no-cache")
    );
}

#[actix_web::test]
async fn the_integration_log_is_tagged_and_revalidated_like_the_status() {
    let app = spawn_app_with_cache(
        FakeStore::with_entries(documentation_sample()),
        enabled(Tz::UTC),
        Duration::from_secs(5),
    )
    .await;
    let first = test::call_service(&app, get(LOG_PATH).to_request()).await;
    let etag = header_text(&first, "etag").expect("an ETag");

    let again = test::call_service(
        &app,
        get(LOG_PATH)
            .insert_header((header::IF_NONE_MATCH, etag.as_str()))
            .to_request(),
    )
    .await;

    assert_eq!(
        header_text(&first, "cache-control").as_deref(),
        Some("max-age=5")
    );
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(test::read_body(again).await.is_empty());
}
