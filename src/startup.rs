use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::configuration::{HttpSettings, Settings};
use crate::db::SqlServerStore;
use crate::routes::{configure, require_api_key, ApiKeyGate, AppState, API_KEY_HEADER};
use crate::store::IntegrationLogStore;

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE_SECONDS: usize = 3600;

/// The HTTP server, bound and ready to run. Bind to port 0 in tests and ask [`Application::port`].
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `http.listen` and wires the SQL Server store. Does not connect to the database.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = SqlServerStore::new(&settings.database)?;
        Self::build_with_store(settings, Arc::new(store))
    }

    /// As [`Application::build`], with any store (tests pass doubles or a TDS test server).
    pub fn build_with_store(
        settings: Settings,
        store: Arc<dyn IntegrationLogStore>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http.listen).map_err(|e| {
            anyhow::anyhow!(
                "invalid setting `http.listen`: cannot listen on {}: {e}",
                settings.http.listen
            )
        })?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            store,
            integration_log: settings.integration_log,
        };
        let gate = web::Data::new(ApiKeyGate::new(&settings.http.api_keys));
        let http = settings.http;
        let server = HttpServer::new(move || app(state.clone(), gate.clone(), &http))
            .listen(listener)?
            .run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The application with its middleware, as the server runs it and the in-process tests call it.
/// Outermost first: request logging, CORS (so preflights need no key and refusals carry CORS
/// headers a browser can read), API keys, then the route table. `gate` is shared by the
/// server's workers so the rejection count is one count.
pub fn app(
    state: AppState,
    gate: web::Data<ApiKeyGate>,
    http: &HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let origins = &http.cors_trusted_origins;
    App::new()
        .app_data(gate)
        .configure(configure(state))
        .wrap(from_fn(require_api_key))
        .wrap(Condition::new(!origins.is_empty(), cors(origins)))
        .wrap(TracingLogger::default())
}

/// CQD's `corsTrustedOrigin`: exact origins only; any other origin gets no grant.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allowed_headers([
            header::AUTHORIZATION,
            header::ACCEPT,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(API_KEY_HEADER),
        ])
        .max_age(PREFLIGHT_MAX_AGE_SECONDS)
}
