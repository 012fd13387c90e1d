use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use chrono::Utc;

use crate::api_error::{log_unavailable, retry_after_seconds, service_unavailable_for};
use crate::app_state::AppState;
use crate::domain::agent::ZoneMismatch;
use crate::status_html::{
    render, render_disabled, render_time_zone_mismatch, render_unavailable, PageContext,
};
use crate::store::with_failure_messages;

/// Inline styles only, nothing else: the page needs no script, image or remote resource.
/// Its charts are inline SVG markup, which this policy allows like any other element, and its
/// reload is a `<meta http-equiv="refresh">`, which no CSP directive governs.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /QoEDataService/IntegrationLog/StatusPage`: the status as HTML for an admin, in every
/// state: the jobs; the database's failure (`503` with `Retry-After`, the reason in `/readyz`'s
/// words, or both offsets when SQL Server's zone differs from the setting); disabled, how to
/// enable it (`200`, no database access).
///
/// `no-store`: the page states ages that change every minute, so a stored copy would be wrong
/// and a tag would never match on the next reload. Reloads cost no extra database reads: the
/// page renders from the same cached Status answer as the Status operation.
#[tracing::instrument(name = "status_page", skip(state))]
pub async fn get_status_page(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.integration_log;
    let context = PageContext {
        zone: settings.time_zone,
        now: Utc::now(),
        stale_after: settings.stale_after,
        refresh: settings.page_refresh,
    };
    if !settings.enabled {
        return page(HttpResponse::Ok(), render_disabled(&context));
    }
    match state.store.status_answer().await {
        Ok(answer) => {
            let read =
                with_failure_messages(state.store.as_ref(), &answer.status, &answer.read).await;
            page(HttpResponse::Ok(), render(&answer.status, &read, &context))
        }
        Err(error) => {
            log_unavailable(&error);
            // The store's back-off after a failed login, when it has one.
            let retry_after = Duration::from_secs(retry_after_seconds(&error).into());
            let body = match std::error::Error::source(&error)
                .and_then(|cause| cause.downcast_ref::<ZoneMismatch>())
            {
                Some(mismatch) => render_time_zone_mismatch(mismatch, retry_after, &context),
                None => render_unavailable(error.kind().reason(), retry_after, &context),
            };
            page(service_unavailable_for(&error), body)
        }
    }
}

fn page(mut response: HttpResponseBuilder, body: String) -> HttpResponse {
    response
        .content_type("text/html; charset=utf-8")
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
