//! Everything that speaks to SQL Server. Handlers see only domain types and `StoreError`.
mod agent;
mod backoff;
mod bounded_stream;
mod client;
mod connection;
mod error;
pub mod migrate;
mod queries;
mod target;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bb8::{Pool, PooledConnection, RunError};
use tokio::sync::broadcast;

use crate::configuration::{DatabaseSettings, LogSource, Settings, SettingsError};
use crate::domain::{CategoryTime, LogEntry, LogQuery, StatusRead};
use crate::metrics::{PoolGauge, PoolStatus};
use crate::store::{IntegrationLogStore, NotReady, StoreError};
use backoff::LoginGate;

pub use agent::{
    SqlAgentStore, AGENT_HISTORY_MARKER, AGENT_HISTORY_QUERY, AGENT_LOG_SEARCH_DEPTH,
    AGENT_READINESS_MARKER, AGENT_READINESS_QUERY, AGENT_STATUS_DEPTH,
};
pub use backoff::LoginBackoff;
pub use bounded_stream::ANSWER_BYTE_BUDGET;
pub use connection::{SqlConnection, SqlServerConnectionManager};
pub use error::DbError;
pub use queries::{LOG_MARKER, LOG_QUERY, STATUS_MARKER, STATUS_QUERY};
pub use target::ConnectTarget;

/// The database store the settings select, and a gauge of its pool for `/metrics`.
pub struct Database {
    pub store: Arc<dyn IntegrationLogStore>,
    pub pool: PoolGauge,
}

/// The store `integration_log.source` selects over `database.*`, built without connecting
/// (the service starts even while the database is down): how `serve`, `check` and the tests
/// open the database.
pub fn open(settings: &Settings) -> Result<Database, SettingsError> {
    fn gauged<S: IntegrationLogStore>(store: S, status: fn(&S) -> PoolStatus) -> Database {
        let store = Arc::new(store);
        let gauged = store.clone();
        Database {
            store,
            pool: Arc::new(move || status(&gauged)),
        }
    }
    Ok(match &settings.integration_log.source {
        LogSource::Table => gauged(
            SqlServerStore::new(&settings.database)?,
            SqlServerStore::pool_status,
        ),
        LogSource::SqlAgent(agent) => gauged(
            SqlAgentStore::new(&settings.database, agent.clone())?,
            SqlAgentStore::pool_status,
        ),
    })
}

/// Reads the integration log from SQL Server through a pool of connections.
#[derive(Clone)]
pub struct SqlServerStore {
    pool: Pool<SqlServerConnectionManager>,
    connect_failures: broadcast::Sender<DbError>,
    gate: Arc<LoginGate>,
    connect_timeout: Duration,
    command_timeout: Duration,
    request_timeout: Duration,
    max_size: u32,
}

impl SqlServerStore {
    /// Builds the pool without connecting: the service starts even while the database is down.
    pub fn new(settings: &DatabaseSettings) -> Result<Self, SettingsError> {
        Self::with_login_backoff(settings, LoginBackoff::default())
    }

    /// As [`SqlServerStore::new`], with connection attempts after a failure spaced as `backoff`.
    pub fn with_login_backoff(
        settings: &DatabaseSettings,
        backoff: LoginBackoff,
    ) -> Result<Self, SettingsError> {
        let target = ConnectTarget::from_settings(settings);
        let (connect_failures, _) = broadcast::channel(16);
        let gate = Arc::new(LoginGate::new(backoff));
        let manager = SqlServerConnectionManager::new(
            target,
            settings.connect_timeout,
            settings.command_timeout,
            connect_failures.clone(),
            gate.clone(),
        );
        let pool = Pool::builder()
            .max_size(settings.pool_max_size)
            .connection_timeout(settings.connect_timeout)
            .test_on_check_out(true)
            .retry_connection(false)
            .build_unchecked(manager);
        Ok(SqlServerStore {
            pool,
            connect_failures,
            gate,
            connect_timeout: settings.connect_timeout,
            command_timeout: settings.command_timeout,
            request_timeout: settings.request_timeout,
            max_size: settings.pool_max_size,
        })
    }

    pub fn pool_status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus {
            connections: state.connections,
            idle: state.idle_connections,
            max: self.max_size,
            login_failures: self.gate.refused_logins(),
            connect_failures: self.gate.connect_failures(),
            retry_in: self.gate.retry_in(),
        }
    }

    /// A live connection, or the reason none can be had. A failed connection attempt ends
    /// the wait at once instead of letting the caller sit out the whole connect timeout; while
    /// attempts back off and no connection is idle, the last failure is the answer.
    async fn checkout(&self) -> Result<PooledConnection<'_, SqlServerConnectionManager>, DbError> {
        if self.pool.state().idle_connections == 0 {
            if let Some(backing_off) = self.gate.backing_off() {
                return Err(backing_off);
            }
        }
        let mut failures = self.connect_failures.subscribe();
        tokio::select! {
            checked_out = self.pool.get() => checked_out.map_err(|e| match e {
                RunError::User(e) => e,
                RunError::TimedOut => DbError::NoConnection(self.connect_timeout),
            }),
            failure = next_failure(&mut failures) => Err(failure),
        }
    }

    /// Runs `command` on a pooled connection within the command timeout, and the whole read
    /// (pool wait, connect, command) within `database.request_timeout_ms`. A command cut off
    /// leaves its connection marked broken, so the pool drops it. Both deadlines are on the
    /// runtime's timer; the driver has none (`DatabaseSettings::tiberius_config`).
    async fn with_connection<T>(
        &self,
        command: impl AsyncFnOnce(&mut SqlConnection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        let read = async {
            let mut connection = self.checkout().await?;
            let outcome = tokio::time::timeout(self.command_timeout, connection.guarded(command))
                .await
                .unwrap_or(Err(DbError::CommandTimedOut(self.command_timeout)));
            outcome
        };
        tokio::time::timeout(self.request_timeout, read)
            .await
            .unwrap_or(Err(DbError::RequestTimedOut(self.request_timeout)))
            .map_err(|failure| {
                let error = failure.into_store_error();
                match self.gate.retry_in() {
                    Some(after) => error.with_retry_after(after),
                    None => error,
                }
            })
    }

    /// The newest entries of each category, enough to build the status document.
    #[tracing::instrument(name = "db.status_entries", skip(self))]
    pub async fn status_entries(&self) -> Result<Vec<CategoryTime>, StoreError> {
        self.with_connection(async |connection| queries::status_entries(connection.client()).await)
            .await
    }
}

async fn next_failure(failures: &mut broadcast::Receiver<DbError>) -> DbError {
    loop {
        match failures.recv().await {
            Ok(failure) => return failure,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

#[async_trait]
impl IntegrationLogStore for SqlServerStore {
    /// The table source pairs the finished runs from its entries.
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        Ok(Arc::new(StatusRead::from_entries(
            self.status_entries().await?,
        )))
    }

    #[tracing::instrument(name = "db.log_entries", skip(self))]
    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        self.with_connection(async |connection| {
            queries::log_entries(connection.client(), query).await
        })
        .await
    }

    #[tracing::instrument(name = "db.ping", skip(self))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(async |connection| client::ping(connection.client()).await)
            .await
    }

    /// Ready when a connection answers: the table source has no settings to check against
    /// the server.
    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        self.ping().await.map(|()| Vec::new())
    }
}
