use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::net::SocketAddr;
use tiberius::{Client, SqlBrowser};
use tokio::net::{lookup_host, TcpStream};
use tokio::sync::broadcast;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::{queries, ConnectTarget, DbError};

/// A pooled connection idle longer than this is asked `SELECT 1` before it is handed out.
const REVALIDATE_AFTER_IDLE: Duration = Duration::from_secs(30);

pub type SqlClient = Client<Compat<TcpStream>>;

/// Opens and checks SQL Server connections for bb8.
///
/// Ours rather than bb8-tiberius: that crate pins tiberius 0.12 and never reports a
/// connection as broken, so a connection left mid-response would be handed out again.
pub struct SqlServerConnectionManager {
    target: ConnectTarget,
    connect_timeout: Duration,
    connect_failures: broadcast::Sender<DbError>,
}

/// A tiberius client plus what the pool needs to know about its health.
pub struct SqlConnection {
    client: SqlClient,
    /// A second handle on the same socket, used only to peek whether the server hung up.
    socket_probe: std::net::TcpStream,
    /// Set while a command runs and cleared when it completes, so a command that fails or
    /// is cancelled (timed out) leaves the connection marked and the pool discards it.
    broken: bool,
    idle_since: Instant,
}

impl SqlServerConnectionManager {
    pub fn new(
        target: ConnectTarget,
        connect_timeout: Duration,
        connect_failures: broadcast::Sender<DbError>,
    ) -> Self {
        SqlServerConnectionManager {
            target,
            connect_timeout,
            connect_failures,
        }
    }
}

/// Connects and logs in within `timeout`: the SQL Server Browser lookup of a named instance,
/// TCP, TLS, login, and one routing redirect (AG read-only routing, Azure SQL's redirect
/// policy) all share that one deadline. Also returns a second handle on the socket, which the
/// pool uses to see whether the server hung up; other callers may drop it.
pub(super) async fn open_client(
    target: &ConnectTarget,
    timeout: Duration,
) -> Result<(SqlClient, std::net::TcpStream), DbError> {
    let open = async {
        match log_in(&target.config, target.named_instance.as_deref()).await {
            Err(DbError::Login(tiberius::error::Error::Routing { host, port })) => {
                tracing::info!(%host, port, "SQL Server redirected the login; following once");
                let config = target.redirected(&host, port).map_err(DbError::Redirect)?;
                match log_in(&config, None).await {
                    Err(DbError::Login(tiberius::error::Error::Routing { host, port })) => {
                        Err(DbError::SecondRedirect { host, port })
                    }
                    other => other,
                }
            }
            other => other,
        }
    };
    tokio::time::timeout(timeout, open)
        .await
        .unwrap_or(Err(DbError::ConnectTimedOut(timeout)))
}

/// One server: find its port (SQL Browser), connect (every address at once with
/// MultiSubnetFailover, else one after the other) and log in.
async fn log_in(
    config: &tiberius::Config,
    named_instance: Option<&str>,
) -> Result<(SqlClient, std::net::TcpStream), DbError> {
    if let Some(instance) = named_instance {
        let tcp = <TcpStream as SqlBrowser>::connect_named(config)
            .await
            .map_err(|source| DbError::Browser {
                instance: instance.to_owned(),
                source,
            })?;
        // Kerberos names the service by the port it really listens on: MSSQLSvc/host:port.
        let mut config = config.clone();
        config.port(
            tcp.peer_addr()
                .map_err(|e| DbError::Tcp(Arc::new(e)))?
                .port(),
        );
        return log_in_over(config, tcp).await;
    }
    let addrs: Vec<SocketAddr> = lookup_host(config.get_addr())
        .await
        .map_err(|e| DbError::Tcp(Arc::new(e)))?
        .collect();
    if config.get_multi_subnet_failover() && addrs.len() > 1 {
        return first_to_log_in(config, addrs).await;
    }
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return log_in_over(config.clone(), tcp).await,
            Err(e) => last_error = Some(e),
        }
    }
    Err(DbError::Tcp(Arc::new(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the server name resolved to no address",
        )
    }))))
}

/// MultiSubnetFailover: connect and log in to every address in parallel; the first login
/// (or redirect) wins and the other attempts are dropped.
async fn first_to_log_in(
    config: &tiberius::Config,
    addrs: Vec<SocketAddr>,
) -> Result<(SqlClient, std::net::TcpStream), DbError> {
    let mut attempts: FuturesUnordered<_> = addrs
        .into_iter()
        .map(|addr| async move {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| DbError::Tcp(Arc::new(e)))?;
            log_in_over(config.clone(), tcp).await
        })
        .collect();
    let mut first_error = None;
    while let Some(attempt) = attempts.next().await {
        match attempt {
            Ok(opened) => return Ok(opened),
            Err(redirect @ DbError::Login(tiberius::error::Error::Routing { .. })) => {
                return Err(redirect)
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        DbError::Tcp(Arc::new(io::Error::new(
            io::ErrorKind::NotFound,
            "the server name resolved to no address",
        )))
    }))
}

async fn log_in_over(
    config: tiberius::Config,
    tcp: TcpStream,
) -> Result<(SqlClient, std::net::TcpStream), DbError> {
    let (tcp, socket_probe) = with_probe(tcp).map_err(|e| DbError::Tcp(Arc::new(e)))?;
    let client = Client::connect(config, tcp.compat_write())
        .await
        .map_err(DbError::Login)?;
    Ok((client, socket_probe))
}

fn with_probe(tcp: TcpStream) -> io::Result<(TcpStream, std::net::TcpStream)> {
    tcp.set_nodelay(true)?;
    let socket = tcp.into_std()?;
    let probe = socket.try_clone()?;
    Ok((TcpStream::from_std(socket)?, probe))
}

impl bb8::ManageConnection for SqlServerConnectionManager {
    type Connection = SqlConnection;
    type Error = DbError;

    async fn connect(&self) -> Result<SqlConnection, DbError> {
        let opened =
            open_client(&self.target, self.connect_timeout)
                .await
                .map(|(client, socket_probe)| SqlConnection {
                    client,
                    socket_probe,
                    broken: false,
                    idle_since: Instant::now(),
                });
        if let Err(failure) = &opened {
            // Nobody listening is fine: no request is waiting for a connection.
            let _ = self.connect_failures.send(failure.clone());
        }
        opened
    }

    async fn is_valid(&self, connection: &mut SqlConnection) -> Result<(), DbError> {
        connection.server_hung_up()?;
        if connection.idle_since.elapsed() >= REVALIDATE_AFTER_IDLE {
            connection
                .guarded(async |c| queries::ping(c.client()).await)
                .await?;
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
    pub async fn guarded<T>(
        &mut self,
        command: impl AsyncFnOnce(&mut SqlConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.broken = true;
        let result = command(self).await;
        self.broken = result.is_err();
        result
    }

    /// An idle TDS connection never has anything to read: data or end-of-stream means the
    /// server closed it (restart, failover, idle kill) and it must not be handed out.
    fn server_hung_up(&self) -> Result<(), DbError> {
        let mut byte = [0u8; 1];
        match self.socket_probe.peek(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(DbError::Tcp(Arc::new(e))),
            Ok(0) => Err(DbError::ClosedByServer),
            Ok(_) => Err(DbError::UnexpectedData),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::integration_log::IntegrationLogDb;
    use testkit::TdsTestServer;

    #[tokio::test]
    async fn multi_subnet_failover_logs_in_through_the_address_that_answers_while_another_stalls() {
        // Accepts TCP (backlog) and never answers PRELOGIN, like a subnet that is down.
        let stalled = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let server = TdsTestServer::start(IntegrationLogDb::documentation_sample())
            .await
            .expect("the TDS test server starts");
        let mut config =
            tiberius::Config::from_ado_string(&server.ado_connection_string()).expect("config");
        config.handshake_timeout(None);
        let addrs = vec![stalled.local_addr().expect("addr"), server.addr()];

        let opened = tokio::time::timeout(Duration::from_secs(5), first_to_log_in(&config, addrs))
            .await
            .expect("the answering address wins without waiting for the stalled one");

        opened.expect("logged in");
        assert_eq!(server.stats().logins_ok, 1);
    }
}
