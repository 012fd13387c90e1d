use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use chrono::Utc;

use crate::app_state::AppState;
use crate::domain::JobsRead;
use crate::log_limit::RateLimit;
use crate::store::IntegrationLogStore;
use crate::telemetry::in_request_span;

/// `GET /metrics`: Prometheus text. Job freshness comes from the (cached) status read, and
/// only while the Status operation is enabled.
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    let freshness = if !state.integration_log.enabled {
        JobsRead::NotRead
    } else {
        match state.store.status_read().await {
            Ok(read) => JobsRead::from_read(&read, Utc::now()),
            Err(error) => {
                static UNREAD: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
                let cause = format!("{error:?}");
                if let Some(held_back) = UNREAD.admit(&cause) {
                    in_request_span(|| {
                        tracing::warn!(
                            error = %cause,
                            held_back,
                            "metrics: the integration log could not be read"
                        )
                    });
                }
                JobsRead::Unavailable {
                    reason: error.kind().metric_label(),
                }
            }
        }
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.store.stats(), &freshness))
}
