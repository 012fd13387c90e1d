use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::configuration::Settings;
use crate::db::SqlServerStore;
use crate::routes::{configure, AppState};
use crate::store::IntegrationLogStore;

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
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .configure(configure(state.clone()))
        })
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
