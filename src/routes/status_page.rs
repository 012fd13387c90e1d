use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::{ApiError, AppState};
use crate::status_html::{render, PageContext};

/// Inline styles only, nothing else: the page needs no script, image or remote resource.
/// Its charts are inline SVG markup, which this policy allows like any other element.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /QoEDataService/IntegrationLog/StatusPage`: the status as HTML for an admin.
/// Disabled, it answers like the Status operation: `200 OK`, empty body, no database access.
#[tracing::instrument(name = "status_page", skip(state))]
pub async fn get_status_page(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.integration_log.enabled {
        return Ok(HttpResponse::Ok().finish());
    }
    let answer = state.store.status_answer().await?;
    let context = PageContext {
        zone: state.integration_log.time_zone,
        now: Utc::now(),
        stale_after: state.integration_log.stale_after,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(render(&answer.status, &answer.read, &context)))
}
