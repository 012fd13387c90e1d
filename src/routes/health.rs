use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::api_error::{retry_after_seconds, service_unavailable, service_unavailable_for};
use crate::app_state::AppState;
use crate::log_limit::RateLimit;
use crate::store::{IntegrationLogStore, NotReady};
use crate::telemetry::in_request_span;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// While connection attempts back off after a failure: seconds until the next one.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_s: Option<u32>,
}

/// `GET /healthz`: the process runs. Never touches the database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        reason: None,
        retry_in_s: None,
    })
}

/// `GET /readyz`: a pooled connection answers `SELECT 1` within the configured timeouts
/// (the SQL Server Agent source also checks its settings against the server: `readiness`),
/// from a result at most `store::cache::READINESS_MAX_AGE` old that every caller shares.
#[tracing::instrument(name = "readyz", skip(state))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (reason, retry_in_s) = match state.store.readiness().await {
        Ok(reasons) if reasons.is_empty() => {
            return HttpResponse::Ok().json(Health {
                status: "ready",
                reason: None,
                retry_in_s: None,
            })
        }
        Ok(reasons) => {
            let reasons = reasons
                .iter()
                .map(NotReady::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            warn_not_ready(&reasons);
            (reasons, None)
        }
        Err(error) => {
            warn_not_ready(&format!("{error:?}"));
            let retry_in_s = error.retry_after().map(|_| retry_after_seconds(&error));
            return service_unavailable_for(&error).json(Health {
                status: "unavailable",
                reason: Some(error.kind().reason().to_owned()),
                retry_in_s,
            });
        }
    };
    service_unavailable().json(Health {
        status: "unavailable",
        reason: Some(reason),
        retry_in_s,
    })
}

/// A probe polled every few seconds while the database is down would log the same line each
/// time: the first one, then at most one per window with how many were held back.
fn warn_not_ready(cause: &str) {
    static NOT_READY: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
    if let Some(held_back) = NOT_READY.admit(cause) {
        in_request_span(|| tracing::warn!(cause, held_back, "not ready"));
    }
}
