use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::configuration::Settings;
use crate::db::migrate;
use crate::healthcheck;
use crate::startup::Application;
use crate::telemetry;

/// QoE Data Service: the CQD Data API's integration status, read from SQL Server.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// A TOML settings file; `QOE_…` environment variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Apply the database migrations (use a login that may create tables and roles).
    Migrate,
    /// Exit 0 if the server at `http.listen` answers `GET /healthz` (for container healthchecks).
    Healthcheck,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        let settings = Settings::load(self.config.as_deref())?;
        telemetry::init(settings.log.format);
        match self.command {
            Command::Healthcheck => healthcheck::check(settings.http.listen).await?,
            Command::Serve => {
                let application = Application::build(settings.clone())?;
                tracing::info!(
                    listen = %settings.http.listen,
                    port = application.port(),
                    integration_log_enabled = settings.integration_log.enabled,
                    time_zone = %settings.integration_log.time_zone,
                    cache_ttl_ms = settings.cache.ttl.as_millis() as u64,
                    https = settings.http.tls.is_some(),
                    "serving the QoE Data Service"
                );
                application.run_until_stopped().await?;
            }
            Command::Migrate => {
                let report = migrate::run(&settings.database).await?;
                if report.applied.is_empty() {
                    tracing::info!("the database is up to date; nothing to apply");
                }
                for migration in &report.applied {
                    tracing::info!(%migration, "applied");
                }
            }
        }
        Ok(())
    }
}
