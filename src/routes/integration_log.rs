use actix_web::{web, HttpRequest, HttpResponse};

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::conditional;
use crate::domain::{LogEntryDocument, LogQuery};

/// `GET /QoEDataService/IntegrationLog`: the newest entries, newest first.
/// Disabled (the default), it answers as CQD does: `200 OK`, empty body, no database access.
pub async fn get_log(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.integration_log.enabled {
        return Ok(HttpResponse::Ok().finish());
    }
    let query = log_query(request.query_string())?;
    let answer = state.store.log_answer(query).await?;
    let zone = state.integration_log.time_zone;
    let body = answer.body_or_render(|entries| {
        let documents: Vec<LogEntryDocument> = entries.iter().map(|e| e.render(zone)).collect();
        serde_json::to_vec(&documents).map_err(ApiError::Rendering)
    })?;
    Ok(conditional::json_with_etag(
        &request,
        body,
        state.cache_settings.ttl,
    ))
}

/// Parsed by hand so that every refusal is a message of ours naming the parameter.
fn log_query(query_string: &str) -> Result<LogQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string)
        .map_err(|_| ApiError::BadRequest("malformed query string"))?;
    Ok(LogQuery::from_pairs(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )?)
}
