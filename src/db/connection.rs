use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::backoff::LoginGate;
use super::bounded_stream::Overrun;
use super::client::{open_client, ping, SocketWatch, SqlClient};
use super::{ConnectTarget, DbError};

/// A pooled connection idle longer than this is asked `SELECT 1` before it is handed out.
const REVALIDATE_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Opens and checks SQL Server connections for bb8.
///
/// Ours rather than bb8-tiberius: that crate pins tiberius 0.12 and never reports a
/// connection as broken, so a connection left mid-response would be handed out again.
pub struct SqlServerConnectionManager {
    target: ConnectTarget,
    connect_timeout: Duration,
    /// Bounds the revalidation `SELECT 1`, as it bounds every command the store runs.
    command_timeout: Duration,
    connect_failures: broadcast::Sender<DbError>,
    /// Spaces out attempts after a failure (and runs them one at a time until one succeeds).
    gate: Arc<LoginGate>,
}

/// A tiberius client plus what the pool needs to know about its health.
pub struct SqlConnection {
    client: SqlClient,
    socket: SocketWatch,
    /// Set while a command runs and cleared when it completes, so a command that fails or
    /// is cancelled (timed out) leaves the connection marked and the pool discards it.
    broken: bool,
    idle_since: Instant,
}

impl SqlServerConnectionManager {
    pub(super) fn new(
        target: ConnectTarget,
        connect_timeout: Duration,
        command_timeout: Duration,
        connect_failures: broadcast::Sender<DbError>,
        gate: Arc<LoginGate>,
    ) -> Self {
        SqlServerConnectionManager {
            target,
            connect_timeout,
            command_timeout,
            connect_failures,
            gate,
        }
    }
}

impl bb8::ManageConnection for SqlServerConnectionManager {
    type Connection = SqlConnection;
    type Error = DbError;

    async fn connect(&self) -> Result<SqlConnection, DbError> {
        let opened = match self.gate.admit().await {
            Ok(_turn) => {
                let opened = open_client(&self.target, self.connect_timeout).await;
                self.gate.record(opened.as_ref().map(|_| ()));
                opened.map(|(client, socket)| SqlConnection {
                    client,
                    socket,
                    broken: false,
                    idle_since: Instant::now(),
                })
            }
            Err(backing_off) => Err(backing_off),
        };
        if let Err(failure) = &opened {
            // Nobody listening is fine: no request is waiting for a connection.
            let _ = self.connect_failures.send(failure.clone());
        }
        opened
    }

    async fn is_valid(&self, connection: &mut SqlConnection) -> Result<(), DbError> {
        connection.server_hung_up()?;
        if connection.idle_since.elapsed() >= REVALIDATE_AFTER_IDLE {
            let ping = connection.guarded(async |c| ping(c.client()).await);
            tokio::time::timeout(self.command_timeout, ping)
                .await
                .unwrap_or(Err(DbError::CommandTimedOut(self.command_timeout)))?;
        }
        Ok(())
    }

    fn has_broken(&self, connection: &mut SqlConnection) -> bool {
        connection.idle_since = Instant::now();
        connection.broken
    }
}

impl SqlConnection {
    pub fn client(&mut self) -> &mut SqlClient {
        &mut self.client
    }

    /// Runs `command`, leaving the connection marked broken unless it completes successfully.
    /// A read the socket refused (an answer too large, or cut short) is named as such, whatever
    /// the driver made of it.
    pub async fn guarded<T>(
        &mut self,
        command: impl AsyncFnOnce(&mut SqlConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.broken = true;
        let result = command(self).await;
        self.broken = result.is_err();
        match (result, self.socket.overrun.take()) {
            (Err(_), Some(Overrun::TooLarge)) => Err(DbError::AnswerTooLarge),
            (Err(_), Some(Overrun::CutShort)) => Err(DbError::AnswerCutShort),
            (result, _) => result,
        }
    }

    /// An idle TDS connection never has anything to read: data or end-of-stream means the
    /// server closed it (restart, failover, idle kill) and it must not be handed out.
    fn server_hung_up(&self) -> Result<(), DbError> {
        let mut byte = [0u8; 1];
        match self.socket.probe.peek(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(DbError::Tcp(Arc::new(e))),
            Ok(0) => Err(DbError::ClosedByServer),
            Ok(_) => Err(DbError::UnexpectedData),
        }
    }
}
