use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{AppState, RETRY_AFTER_SECONDS};
use crate::log_limit::RateLimit;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// `GET /healthz`: the process runs. Never touches the database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        reason: None,
    })
}

/// `GET /readyz`: a pooled connection answers `SELECT 1` within the configured timeouts.
#[tracing::instrument(name = "readyz", skip(state))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(Health {
            status: "ready",
            reason: None,
        }),
        Err(error) => {
            static NOT_READY: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
            let cause = format!("{error:?}");
            if let Some(held_back) = NOT_READY.admit(&cause) {
                tracing::warn!(error = %cause, held_back, "not ready");
            }
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()))
                .json(Health {
                    status: "unavailable",
                    reason: Some(error.kind().reason()),
                })
        }
    }
}
