//! One SQL Server client: finding the server, logging in, following a redirect, `SELECT 1`.
//! A leaf of `db`: the pool (`connection`), the queries and the migrations all build on it.
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::TryStreamExt;
use tiberius::{Client, QueryItem, QueryStream, Row, SqlBrowser};
use tokio::net::{lookup_host, TcpStream, UdpSocket};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::bounded_stream::{BoundedStream, OverrunFlag};
use super::{ConnectTarget, DbError};

pub type SqlClient = Client<Compat<BoundedStream>>;

/// What the pool keeps besides the client: a second handle on the socket, used only to peek
/// whether the server hung up, and whether the stream refused a read (and why).
pub struct SocketWatch {
    pub probe: std::net::TcpStream,
    pub overrun: OverrunFlag,
}

/// SSRP (MS-SQLR): the request for every instance of a host, and the opcode of an answer.
const CLNT_UCAST_EX: u8 = 0x03;
const SVR_RESP: u8 = 0x05;
/// How long SQL Server Browser may take to list the instances after a failed lookup.
const BROWSER_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Connects and logs in within `timeout`: the SQL Server Browser lookup of a named instance,
/// TCP, TLS, login, and one routing redirect (AG read-only routing, Azure SQL's redirect
/// policy) all share that one deadline. Also returns what the pool watches of the socket;
/// other callers may drop it.
pub(super) async fn open_client(
    target: &ConnectTarget,
    timeout: Duration,
) -> Result<(SqlClient, SocketWatch), DbError> {
    let open = async {
        match log_in(&target.config, target.named_instance.as_deref()).await {
            Err(DbError::Login(tiberius::error::Error::Routing { host, port })) => {
                tracing::info!(%host, port, "SQL Server redirected the login; following once");
                let config = target.redirected(&host, port);
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
) -> Result<(SqlClient, SocketWatch), DbError> {
    if let Some(instance) = named_instance {
        let tcp = match <TcpStream as SqlBrowser>::connect_named(config).await {
            Ok(tcp) => tcp,
            Err(source) => {
                // The driver resolves the name itself and says only that the lookup failed.
                resolve(&config.get_addr()).await?;
                return Err(DbError::Browser {
                    instance: instance.to_owned(),
                    browser_answered: sql_browser_answers(&config.get_addr()).await,
                    source,
                });
            }
        };
        // Kerberos names the service by the port it really listens on: MSSQLSvc/host:port.
        let mut config = config.clone();
        config.port(
            tcp.peer_addr()
                .map_err(|e| DbError::Tcp(Arc::new(e)))?
                .port(),
        );
        return log_in_over(config, tcp).await;
    }
    let addrs = resolve(&config.get_addr()).await?;
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

/// The addresses `addr` (`host:port`) names; a name that resolves to none is not resolved.
async fn resolve(addr: &str) -> Result<Vec<SocketAddr>, DbError> {
    let not_resolved = |source| DbError::NameNotResolved {
        addr: addr.to_owned(),
        source: Arc::new(source),
    };
    let addrs: Vec<SocketAddr> = lookup_host(addr).await.map_err(not_resolved)?.collect();
    if addrs.is_empty() {
        return Err(not_resolved(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolved to no address",
        )));
    }
    Ok(addrs)
}

/// MultiSubnetFailover: connect and log in to every address in parallel; the first login
/// (or redirect) wins and the other attempts are dropped.
async fn first_to_log_in(
    config: &tiberius::Config,
    addrs: Vec<SocketAddr>,
) -> Result<(SqlClient, SocketWatch), DbError> {
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
) -> Result<(SqlClient, SocketWatch), DbError> {
    let (tcp, probe) = with_probe(tcp).map_err(|e| DbError::Tcp(Arc::new(e)))?;
    let tcp = BoundedStream::new(tcp);
    let overrun = tcp.overrun_flag();
    let client = Client::connect(config, tcp.compat_write())
        .await
        .map_err(DbError::login)?;
    Ok((client, SocketWatch { probe, overrun }))
}

/// Whether SQL Server Browser at `addr` answers a request for the host's instances: the
/// driver's lookup of one instance times out alike when the service is silent (UDP 1434
/// blocked, stopped) and when it does not know the instance.
async fn sql_browser_answers(addr: &str) -> bool {
    let listing = async {
        let browser = lookup_host(addr).await.ok()?.next()?;
        let local = if browser.is_ipv4() {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        };
        let socket = UdpSocket::bind(local).await.ok()?;
        socket.connect(browser).await.ok()?;
        socket.send(&[CLNT_UCAST_EX]).await.ok()?;
        let mut reply = vec![0u8; 65_535];
        let len = socket.recv(&mut reply).await.ok()?;
        (len > 0 && reply[0] == SVR_RESP).then_some(())
    };
    matches!(
        tokio::time::timeout(BROWSER_PROBE_TIMEOUT, listing).await,
        Ok(Some(()))
    )
}

fn with_probe(tcp: TcpStream) -> io::Result<(TcpStream, std::net::TcpStream)> {
    tcp.set_nodelay(true)?;
    let socket = tcp.into_std()?;
    let probe = socket.try_clone()?;
    Ok((TcpStream::from_std(socket)?, probe))
}

/// The result sets of `answer`, refusing more than `max_rows` rows in all: a read stops at
/// the rows its query can return instead of buffering whatever the server sends. `step` names
/// the read in errors.
pub async fn bounded_results(
    mut answer: QueryStream<'_>,
    max_rows: usize,
    step: &'static str,
) -> Result<Vec<Vec<Row>>, DbError> {
    let mut results: Vec<Vec<Row>> = Vec::new();
    let mut rows = 0usize;
    while let Some(item) = answer.try_next().await.map_err(DbError::command(step))? {
        match item {
            QueryItem::Metadata(_) => results.push(Vec::new()),
            QueryItem::Row(row) => {
                rows += 1;
                if rows > max_rows {
                    return Err(DbError::UnexpectedResult(format!(
                        "{step}: more than the {max_rows} rows the query can return; \
                         the connection is discarded"
                    )));
                }
                match results.last_mut() {
                    Some(set) => set.push(row),
                    None => results.push(vec![row]),
                }
            }
        }
    }
    Ok(results)
}

/// The first result set of `answer`, bounded as [`bounded_results`].
pub async fn bounded_first_result(
    answer: QueryStream<'_>,
    max_rows: usize,
    step: &'static str,
) -> Result<Vec<Row>, DbError> {
    Ok(bounded_results(answer, max_rows, step)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default())
}

/// `SELECT 1`, as a plain batch: the cheapest proof that a connection works.
pub async fn ping(client: &mut SqlClient) -> Result<(), DbError> {
    let answer = client
        .simple_query("SELECT 1")
        .await
        .map_err(DbError::command("sending SELECT 1"))?;
    let one: Option<i32> = bounded_first_result(answer, 1, "reading SELECT 1")
        .await?
        .first()
        .and_then(|row| row.get(0));
    match one {
        Some(1) => Ok(()),
        other => Err(DbError::UnexpectedResult(format!(
            "SELECT 1 returned {other:?}"
        ))),
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
