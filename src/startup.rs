use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};

use crate::configuration::Settings;
use crate::db::SqlServerStore;
use crate::metrics::PoolGauge;
use crate::request_context::request_context;
use crate::routes::{configure, AppState};
use crate::store::IntegrationLogStore;
use crate::tls;

/// The HTTP server, bound and ready to run. Bind to port 0 in tests and ask [`Application::port`].
pub struct Application {
    port: u16,
    server: Server,
}

/// The application as served: middleware, state and the route table. Tests use it too.
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
    App::new()
        .wrap(from_fn(request_context))
        .configure(configure(state))
}

impl Application {
    /// Binds `http.listen` and wires the SQL Server store. Does not connect to the database.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
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
        let listener = TcpListener::bind(settings.http.listen).map_err(|e| {
            anyhow::anyhow!(
                "invalid setting `http.listen`: cannot listen on {}: {e}",
                settings.http.listen
            )
        })?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(store, settings.integration_log, settings.cache, pool);
        let server = HttpServer::new(move || app(state.clone()))
            .shutdown_timeout(settings.http.shutdown_timeout.as_secs());
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?,
            None => server.listen(listener)?,
        };
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or Ctrl-C, then stops accepting, lets in-flight requests finish
    /// within `http.shutdown_timeout_s`, and drops the workers' state, which closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        tracing::info!("stopped: in-flight requests finished and database connections closed");
        Ok(())
    }
}
