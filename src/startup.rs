use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition};
use actix_web::App;

use crate::app_state::AppState;
use crate::configuration::Settings;
use crate::db;
use crate::diagnosis;
use crate::listener::Limits;
use crate::metrics::{Counter, Sources};
use crate::middleware::api_key::require_api_key;
use crate::middleware::cors::cors;
pub use crate::middleware::request_context::ShutdownReport;
use crate::middleware::request_context::{request_context, Requests};
use crate::platform::{self, Stop};
use crate::routes::configure;
use crate::store::IntegrationLogStore;
use crate::tls;

/// The HTTP server, bound and ready to run. Bind to port 0 in tests and ask [`Application::port`].
pub struct Application {
    port: u16,
    server: Server,
    requests: Arc<Requests>,
}

impl Application {
    /// Binds `http.listen` and wires the SQL Server store of `integration_log.source`
    /// ([`db::open`]). Does not connect to the database. `/metrics` counts no dropped log
    /// lines: the logger is the binary's ([`Application::build_with_log_counter`]).
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_log_counter(settings, Counter::default())
    }

    /// As [`Application::build`], with `/metrics` reporting `dropped_log_lines`: the count
    /// `telemetry::init` returned.
    pub fn build_with_log_counter(
        settings: Settings,
        dropped_log_lines: Counter,
    ) -> anyhow::Result<Self> {
        let database = db::open(&settings)?;
        let sources = Sources {
            pool: Some(database.pool),
            dropped_log_lines,
        };
        Self::build_with(settings, database.store, sources)
    }

    /// As [`Application::build`], with any store (tests pass doubles or a TDS test server).
    pub fn build_with_store(
        settings: Settings,
        store: Arc<dyn IntegrationLogStore>,
    ) -> anyhow::Result<Self> {
        Self::build_with(settings, store, Sources::default())
    }

    fn build_with(
        settings: Settings,
        store: Arc<dyn IntegrationLogStore>,
        sources: Sources,
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
        diagnosis::at_start(&settings, store.clone());
        let state = AppState::new(store, &settings, sources);
        let requests = state.requests.clone();
        let limits = Limits {
            max_request_head: settings.http.max_request_head_bytes,
            max_connections: settings.http.max_connections,
            shutdown_timeout_s: settings.http.shutdown_timeout.as_secs(),
            client_request_timeout: settings.http.client_request_timeout,
            keep_alive: settings.http.keep_alive,
            client_write_timeout: settings.http.client_write_timeout,
        };
        let protocol_errors = state.metrics.protocol_errors().clone();
        let server = crate::listener::serve(listener, tls, limits, protocol_errors, move || {
            app(state.clone())
        })?;
        Ok(Application {
            port,
            server,
            requests,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The counters every request goes through, shared with the running server: how many are
    /// in flight (so a caller can tell that a request reached the app, not the listen backlog).
    pub fn requests(&self) -> Arc<Requests> {
        self.requests.clone()
    }

    /// Serves until a stop is requested ([`platform::stop_requested`]: SIGTERM, Ctrl+C, …),
    /// then stops as [`Application::run_until`] says. SIGHUP, SIGUSR1 and SIGUSR2 are logged
    /// and serving goes on.
    pub async fn run_until_stopped(self) -> std::io::Result<ShutdownReport> {
        platform::keep_serving_on_other_signals()?;
        self.run_until(platform::stop_requested()).await
    }

    /// Serves until `stop` resolves, then stops accepting, lets in-flight requests finish
    /// within `http.shutdown_timeout_s` ([`Stop::Drain`]; [`Stop::Now`] cuts them off), and
    /// drops the workers' state, which closes the pool. The last line, and the report
    /// returned, say how many requests were drained and how many cut off.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = Stop>,
    ) -> std::io::Result<ShutdownReport> {
        let handle = self.server.handle();
        let mut running = std::pin::pin!(self.server);
        let stop = tokio::select! {
            result = &mut running => {
                result?;
                tracing::info!("stopped without being asked to");
                return Ok(ShutdownReport::default());
            }
            stop = stop => stop,
        };
        let in_flight = self.requests.start_draining();
        let drain = stop == Stop::Drain;
        if drain {
            tracing::info!(
                in_flight,
                "stopping: no new connections; letting in-flight requests finish"
            );
        } else {
            tracing::info!(in_flight, "stopping now: in-flight requests are cut off");
        }
        drop(handle.stop(drain));
        running.await?;
        let report = self.requests.shutdown_report();
        let ShutdownReport { drained, cut_off } = report;
        tracing::info!(
            drained,
            cut_off,
            "stopped: {drained} in-flight request(s) finished, {cut_off} cut off (by the \
             shutdown timeout, or their client went away); database connections closed"
        );
        Ok(report)
    }
}

/// The application with its middleware, as the server runs it and the in-process tests call it.
/// Outermost first: the request's span, id, metrics and in-flight count, CORS (so preflights
/// need no key and refusals carry CORS headers a browser can read), API keys, then the route
/// table. Everything comes from `state` ([`AppState::new`]), so nothing can be left out.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // Without keys the check is left out of the chain: it would only cost every request.
    let keyed = !state.api_keys.is_open();
    let origins = &state.cors_trusted_origins;
    let cors = Condition::new(!origins.is_empty(), cors(origins));
    App::new()
        .configure(configure(state))
        .wrap(Condition::new(keyed, from_fn(require_api_key)))
        .wrap(cors)
        .wrap(from_fn(request_context))
}
