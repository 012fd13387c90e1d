//! `qoe-data-service migrate`: applies `migrations/` with refinery, once each.
use super::client::open_client;
use super::{ConnectTarget, DbError};
use crate::configuration::{DatabaseSettings, SettingsError};

refinery::embed_migrations!("migrations");

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// `V1__integration_log` and so on, in the order they were applied now.
    pub applied: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("connecting to SQL Server to migrate")]
    Connect(#[source] DbError),
    #[error("applying migrations")]
    Apply(#[source] refinery::Error),
}

/// Applies every migration not yet recorded in `refinery_schema_history`.
pub async fn run(settings: &DatabaseSettings) -> Result<MigrationReport, MigrateError> {
    // No command timeout here: building an index on a large existing log may take longer
    // than a query ever should.
    let target = ConnectTarget::from_settings(settings);
    let (mut client, _) = open_client(&target, settings.connect_timeout)
        .await
        .map_err(MigrateError::Connect)?;
    let report = migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(MigrateError::Apply)?;
    Ok(MigrationReport {
        applied: report
            .applied_migrations()
            .iter()
            .map(|migration| migration.to_string())
            .collect(),
    })
}
