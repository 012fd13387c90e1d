use std::time::Duration;

use actix_web::http::{header, StatusCode};
use qoe_data_service::paths::{LOG_PATH, STATUS_PATH};

use crate::helpers::*;

async fn sample_app() -> TestApp {
    TestApp::builder()
        .store(FakeStore::with_entries(documentation_sample()))
        .spawn()
        .await
}

async fn cached_sample_app() -> TestApp {
    TestApp::builder()
        .store(FakeStore::with_entries(documentation_sample()))
        .cache_ttl(Duration::from_secs(5))
        .spawn()
        .await
}

#[actix_web::test]
async fn status_carries_a_strong_etag_and_max_age_equal_to_the_ttl() {
    let app = cached_sample_app().await;

    let response = app.get(STATUS_PATH).await;

    let etag = response.header(header::ETAG).expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "not strong: {etag}"
    );
    assert_eq!(response.header(header::CACHE_CONTROL), Some("max-age=5"));
}

#[actix_web::test]
async fn a_current_tag_in_if_none_match_is_304_without_a_body() {
    let app = sample_app().await;
    let first = app.get(STATUS_PATH).await;
    let etag = first.header(header::ETAG).expect("an ETag");

    for if_none_match in [
        etag.to_owned(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".into(),
    ] {
        let response = app
            .get(STATUS_PATH)
            .with_header((header::IF_NONE_MATCH, if_none_match.as_str()))
            .await;

        assert_eq!(response.status, StatusCode::NOT_MODIFIED, "{if_none_match}");
        assert_eq!(response.header(header::ETAG), Some(etag));
        assert!(response.body.is_empty(), "{if_none_match}");
    }
}

#[actix_web::test]
async fn a_stale_tag_gets_the_full_body() {
    let app = sample_app().await;

    let response = app
        .get(STATUS_PATH)
        .with_header((header::IF_NONE_MATCH, "\"0000000000000000\""))
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_is_documentation_sample(&response.body);
}

#[actix_web::test]
async fn the_tag_changes_when_the_status_changes() {
    let app = sample_app().await;
    let sample = app.get(STATUS_PATH).await;
    let empty_app = TestApp::spawn().await;
    let empty = empty_app.get(STATUS_PATH).await;

    assert_ne!(sample.header(header::ETAG), empty.header(header::ETAG));
}

#[actix_web::test]
async fn with_the_cache_off_clients_must_revalidate() {
    let app = TestApp::spawn().await;

    let response = app.get(STATUS_PATH).await;

    assert_eq!(response.header(header::CACHE_CONTROL), Some("no-cache"));
}

#[actix_web::test]
async fn the_integration_log_is_tagged_and_revalidated_like_the_status() {
    let app = cached_sample_app().await;
    let first = app.get(LOG_PATH).await;
    let etag = first.header(header::ETAG).expect("an ETag");

    let again = app
        .get(LOG_PATH)
        .with_header((header::IF_NONE_MATCH, etag))
        .await;

    assert_eq!(first.header(header::CACHE_CONTROL), Some("max-age=5"));
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
}
