use actix_web::{web, HttpResponse};

use crate::app_state::AppState;

/// `POST /QoEDataService/ClearCache`: empties every cache; the next read goes to the database.
#[tracing::instrument(name = "clear_cache", skip(state))]
pub async fn clear_cache(state: web::Data<AppState>) -> HttpResponse {
    state.clear_cache();
    HttpResponse::Ok().finish()
}
