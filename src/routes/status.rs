use actix_web::{web, HttpRequest, HttpResponse};

use super::{ApiError, AppState};
use crate::conditional;
use crate::domain::IntegrationStatus;
use crate::store::IntegrationLogStore;

/// `GET /QoEDataService/IntegrationLog/Status`: the last runs of both jobs.
/// Disabled (the default), it answers as CQD does: `200 OK`, empty body, no database access.
/// Logs and the database span run inside the request's span (`request_context`).
pub async fn get_status(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.integration_log.enabled {
        return Ok(HttpResponse::Ok().finish());
    }
    let entries = state.store.status_entries().await?;
    let zone = state.integration_log.time_zone;
    let body = state.status_body.get_or_render(entries, |entries| {
        let document = IntegrationStatus::from_entries(entries.iter().copied()).render(zone);
        serde_json::to_vec(&document).map_err(ApiError::Rendering)
    })?;
    Ok(conditional::json_with_etag(
        &request,
        body,
        state.cache_settings.ttl,
    ))
}
