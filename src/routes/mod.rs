mod conditional;
mod errors;
mod health;
mod metrics;
mod state;
mod status;

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::cache::CachingStore;
use crate::configuration::{CacheSettings, IntegrationLogSettings};
use crate::domain::CategoryTime;
use crate::metrics::Metrics;
use crate::store::IntegrationLogStore;

pub use conditional::RenderedBody;
pub use errors::{ApiError, RETRY_AFTER_SECONDS};

/// What every handler may use. Cheap to clone: the store is shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn IntegrationLogStore>,
    pub integration_log: IntegrationLogSettings,
    // Caching and metrics: built by `AppState::new` (state.rs); `store` reads through them.
    pub cache: Arc<CachingStore>,
    pub cache_settings: CacheSettings,
    pub metrics: Arc<Metrics>,
    pub status_body: Arc<RenderedBody<Vec<CategoryTime>>>,
}

/// The path of the CQD "Get Last Integration Data" operation.
pub const STATUS_PATH: &str = "/QoEDataService/IntegrationLog/Status";

/// Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// The one route table, used by the server and by the in-process tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(STATUS_PATH, status::get_status))
        .service(get_only("/healthz", health::healthz))
        .service(get_only("/readyz", health::readyz))
        .service(get_only(METRICS_PATH, metrics::get_metrics))
        .default_service(web::to(not_found));
}

/// Registers the state and the routes: `App::new().configure(configure(state))`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state));
        routes(cfg);
    }
}

fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(errors::ErrorBody::new("not found"))
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, "GET, HEAD"))
        .json(errors::ErrorBody::new("method not allowed"))
}
