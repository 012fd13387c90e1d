use actix_web::{web, HttpResponse};

use crate::app_state::AppState;

/// `POST /QoEDataService/ClearCache`: empties every cache; a read that starts after the answer
/// goes to the database. Calls within a second of the last clear wait for the next one.
#[tracing::instrument(name = "clear_cache", skip(state))]
pub async fn clear_cache(state: web::Data<AppState>) -> HttpResponse {
    state.clear_cache().await;
    HttpResponse::Ok().finish()
}
