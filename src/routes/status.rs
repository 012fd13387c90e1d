use actix_web::{web, HttpRequest, HttpResponse};

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::conditional;

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
    // The cached answer carries its rendered body: a hit formats nothing and takes no lock.
    let answer = state.store.status_answer().await?;
    let zone = state.integration_log.time_zone;
    let body = answer.body_or_render(|status| {
        serde_json::to_vec(&status.render(zone)).map_err(ApiError::Rendering)
    })?;
    Ok(conditional::json_with_etag(
        &request,
        body,
        state.cache_settings.ttl,
    ))
}
