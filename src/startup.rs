use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App};

use crate::configuration::{HttpSettings, LogSource, Settings};
use crate::db::{SqlAgentStore, SqlServerStore};
use crate::listener::Limits;
use crate::metrics::PoolGauge;
use crate::middleware::api_key::{require_api_key, ApiKeyGate};
use crate::middleware::cors::cors;
use crate::middleware::request_context::request_context;
use crate::routes::{configure, AppState};
use crate::signals;
use crate::store::IntegrationLogStore;
use crate::tls;

/// The HTTP server, bound and ready to run. Bind to port 0 in tests and ask [`Application::port`].
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `http.listen` and wires the SQL Server store of `integration_log.source`.
    /// Does not connect to the database.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        if let LogSource::SqlAgent(agent) = &settings.integration_log.source {
            let store = Arc::new(SqlAgentStore::new(&settings.database, agent.clone())?);
            let pool: PoolGauge = {
                let store = store.clone();
                Arc::new(move || store.pool_status())
            };
            check_readiness_once(store.clone());
            return Self::build_with(settings, store, Some(pool));
        }
        let store = SqlServerStore::new(&settings.database)?;
        let pool: PoolGauge = {
            let store = store.clone();
            Arc::new(move || store.pool_status())
        };
        Self::build_with(settings, Arc::new(store), Some(pool))
    }

    /// As [`Application::build`], with any store (tests pass doubles or a TDS test server).
    pub fn build_with_store(
        settings: Settings,
        store: Arc<dyn IntegrationLogStore>,
    ) -> anyhow::Result<Self> {
        Self::build_with(settings, store, None)
    }

    fn build_with(
        settings: Settings,
        store: Arc<dyn IntegrationLogStore>,
        pool: Option<PoolGauge>,
    ) -> anyhow::Result<Self> {
        let tls = settings
            .http
            .tls
            .as_ref()
            .map(tls::server_config)
            .transpose()?;
        let listener = crate::listener::bind(settings.http.listen).map_err(|e| {
            anyhow::anyhow!(
                "invalid setting `http.listen`: cannot listen on {}: {e}",
                settings.http.listen
            )
        })?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(store, settings.integration_log, settings.cache, pool);
        let gate = web::Data::new(ApiKeyGate::new(&settings.http.api_keys));
        let http = settings.http.clone();
        let limits = Limits {
            max_request_head: settings.http.max_request_head_bytes,
            max_connections: settings.http.max_connections,
            shutdown_timeout_s: settings.http.shutdown_timeout.as_secs(),
            client_request_timeout: settings.http.client_request_timeout,
            keep_alive: settings.http.keep_alive,
        };
        let server = crate::listener::serve(listener, tls, limits, move || {
            app(state.clone(), gate.clone(), &http)
        })?;
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or Ctrl-C, then stops accepting, lets in-flight requests finish
    /// within `http.shutdown_timeout_s`, and drops the workers' state, which closes the pool.
    /// SIGHUP is logged and serving goes on. The last line says how many requests the
    /// shutdown cut off.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        signals::keep_serving_on_sighup()?;
        let server = self.server;
        let mut stopping = std::pin::pin!(signals::stop_requested());
        let mut running = std::pin::pin!(server);
        let unfinished_at_stop = tokio::select! {
            result = &mut running => {
                result?;
                None
            }
            () = &mut stopping => {
                let in_flight = signals::in_flight();
                tracing::info!(in_flight, "stopping: no new connections; letting in-flight requests finish");
                Some(signals::unfinished() - in_flight)
            }
        };
        if unfinished_at_stop.is_some() {
            running.await?;
        }
        let cut_off =
            unfinished_at_stop.map_or(0, |before| signals::unfinished().saturating_sub(before));
        tracing::info!(
            cut_off,
            "stopped: {cut_off} in-flight request(s) cut off by the shutdown timeout; \
             database connections closed"
        );
        Ok(())
    }
}

/// At start, checks the SQL Server Agent settings against the server once, in the background
/// (the service starts even while the database is down), and logs what would keep it unready.
fn check_readiness_once(store: Arc<SqlAgentStore>) {
    tokio::spawn(async move {
        match store.readiness().await {
            Ok(reasons) if reasons.is_empty() => {
                tracing::info!(
                    "SQL Server Agent history readable and its settings agree with the server"
                )
            }
            Ok(reasons) => {
                for reason in reasons {
                    tracing::error!(reason, "SQL Server Agent source not ready");
                }
            }
            Err(error) => {
                tracing::warn!(error = ?error, "SQL Server Agent history not readable yet")
            }
        }
    });
}

/// The application with its middleware, as the server runs it and the in-process tests call it.
/// Outermost first: the request's span, id and metrics, CORS (so preflights need no key and refusals carry CORS
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
    // Without keys the check is left out of the chain: it would only cost every request.
    let keyed = !gate.is_open();
    App::new()
        .app_data(gate)
        .configure(configure(state))
        .wrap(Condition::new(keyed, from_fn(require_api_key)))
        .wrap(Condition::new(!origins.is_empty(), cors(origins)))
        .wrap(from_fn(request_context))
}
