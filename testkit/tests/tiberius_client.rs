//! The test server, driven by the real tiberius 0.13 client.

use chrono::{NaiveDate, NaiveDateTime};
use std::future::Future;
use std::time::{Duration, Instant};
use testkit::integration_log::{IntegrationLogDb, LogRow, STATUS_MARKER};
use testkit::{
    Column, ColumnType, Fault, LoginOptions, Request, Response, ResultSet, ServerOptions,
    TdsTestServer, TestCertificates, Value,
};
use tiberius::{Client, Config};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type TestClient = Client<Compat<TcpStream>>;

const LIMIT: Duration = Duration::from_secs(10);

/// Runs a test body with an overall deadline so a protocol bug fails instead of hanging.
async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test body exceeded its deadline")
}

/// `SELECT 1` as a batch, read to its one value.
async fn select_one(client: &mut TestClient) -> Option<i32> {
    client
        .simple_query("SELECT 1")
        .await
        .expect("batch runs")
        .into_row()
        .await
        .expect("row decodes")
        .expect("one row")
        .get(0)
}

/// A plaintext test server answering from `db`.
async fn serving(db: IntegrationLogDb) -> TdsTestServer {
    TdsTestServer::start(db).await.expect("server starts")
}

async fn connect_str(conn: &str, tweak: impl FnOnce(&mut Config)) -> tiberius::Result<TestClient> {
    let mut config = Config::from_ado_string(conn)?;
    config.handshake_timeout(Some(Duration::from_secs(3)));
    config.command_timeout(Some(Duration::from_secs(3)));
    tweak(&mut config);
    let tcp = TcpStream::connect(config.get_addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn connect(server: &TdsTestServer) -> tiberius::Result<TestClient> {
    connect_str(&server.ado_connection_string(), |_| {}).await
}

fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|date| date.and_hms_opt(h, mi, s))
        .expect("valid test timestamp")
}

/// Polls `cond` every 5 ms until it holds or the deadline passes.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn server_code(err: &tiberius::error::Error) -> Option<u32> {
    match err {
        tiberius::error::Error::Server(e) => Some(e.code()),
        _ => None,
    }
}

#[tokio::test]
async fn plaintext_login_and_select_one() {
    within(async {
        let server = serving(IntegrationLogDb::new()).await;
        assert!(server
            .ado_connection_string()
            .ends_with("Encrypt=DANGER_PLAINTEXT"));
        let mut client = connect(&server).await.expect("login succeeds");
        assert_eq!(select_one(&mut client).await, Some(1));

        // tiberius `query` sends sp_executesql even without parameters.
        let row = client
            .query("select 1", &[])
            .await
            .expect("rpc runs")
            .into_row()
            .await
            .expect("rows decode")
            .expect("one row");
        assert_eq!(row.get::<i32, _>(0), Some(1));

        let stats = server.stats();
        assert_eq!(stats.logins_ok, 1);
        assert_eq!(stats.requests, 2);
        assert_eq!(stats.connections_open, 1);
        assert_eq!(
            server.requests()[0],
            Request::Batch {
                sql: "SELECT 1".into()
            }
        );
    })
    .await;
}

fn all_types_set() -> ResultSet {
    ResultSet::new(
        vec![
            Column::new("i", ColumnType::Int),
            Column::new("b", ColumnType::BigInt),
            Column::new("f", ColumnType::Bit),
            Column::new("s", ColumnType::NVarChar(64)),
            Column::nullable("m", ColumnType::NVarCharMax),
            Column::new("t", ColumnType::DateTime2(3)),
            Column::nullable("n", ColumnType::NVarChar(10)),
            Column::nullable("ni", ColumnType::Int),
        ],
        vec![
            vec![
                Value::Int(42),
                Value::Int(9_000_000_000),
                Value::Bit(true),
                Value::String("grüße".into()),
                Value::String("x".repeat(9000)),
                Value::DateTime(
                    NaiveDate::from_ymd_opt(2015, 1, 18)
                        .and_then(|d| d.and_hms_milli_opt(10, 30, 13, 123))
                        .expect("valid"),
                ),
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Int(-1),
                Value::Int(0),
                Value::Bit(false),
                Value::String(String::new()),
                Value::Null,
                Value::DateTime(dt(1999, 12, 31, 23, 59, 59)),
                Value::String("x".into()),
                Value::Int(7),
            ],
        ],
    )
}

#[tokio::test]
async fn query_with_params_round_trips_types_and_multiple_result_sets() {
    within(async {
        let server = TdsTestServer::start(|_: &Request| {
            Response::Results(vec![
                all_types_set(),
                ResultSet::new(
                    vec![Column::new("second", ColumnType::Int)],
                    vec![vec![Value::Int(2)]],
                ),
            ])
        })
        .await
        .expect("server starts");
        let mut client = connect(&server).await.expect("login succeeds");
        let long = "y".repeat(5000);
        let when = dt(2015, 1, 17, 15, 15, 17);
        let results = client
            .query(
                "SELECT * FROM t WHERE a = @P1 AND b = @P2",
                &[
                    &42i32,
                    &7i64,
                    &true,
                    &"héllo",
                    &long.as_str(),
                    &when,
                    &Option::<&str>::None,
                    &Option::<i32>::None,
                    &3i16,
                    &5u8,
                ],
            )
            .await
            .expect("query runs")
            .into_results()
            .await
            .expect("results decode");

        assert_eq!(results.len(), 2);
        let rows = &results[0];
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(r.get::<i32, _>("i"), Some(42));
        assert_eq!(r.get::<i64, _>("b"), Some(9_000_000_000));
        assert_eq!(r.get::<bool, _>("f"), Some(true));
        assert_eq!(r.get::<&str, _>("s"), Some("grüße"));
        assert_eq!(r.get::<&str, _>("m").map(str::len), Some(9000));
        assert_eq!(
            r.get::<NaiveDateTime, _>("t"),
            NaiveDate::from_ymd_opt(2015, 1, 18).and_then(|d| d.and_hms_milli_opt(10, 30, 13, 123))
        );
        assert_eq!(r.get::<&str, _>("n"), None);
        assert_eq!(r.get::<i32, _>("ni"), None);
        let r = &rows[1];
        assert_eq!(r.get::<i32, _>("i"), Some(-1));
        assert_eq!(r.get::<&str, _>("s"), Some(""));
        assert_eq!(r.get::<&str, _>("m"), None);
        assert_eq!(
            r.get::<NaiveDateTime, _>("t"),
            Some(dt(1999, 12, 31, 23, 59, 59))
        );
        assert_eq!(r.get::<&str, _>("n"), Some("x"));
        assert_eq!(r.get::<i32, _>("ni"), Some(7));
        assert_eq!(results[1][0].get::<i32, _>("second"), Some(2));

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        match &requests[0] {
            Request::Rpc {
                procedure,
                sql,
                params,
            } => {
                assert_eq!(procedure, "sp_executesql");
                assert_eq!(
                    sql.as_deref(),
                    Some("SELECT * FROM t WHERE a = @P1 AND b = @P2")
                );
                assert_eq!(
                    params,
                    &vec![
                        Value::Int(42),
                        Value::Int(7),
                        Value::Bit(true),
                        Value::String("héllo".into()),
                        Value::String(long.clone()),
                        Value::DateTime(when),
                        Value::Null,
                        Value::Null,
                        Value::Int(3),
                        Value::Int(5),
                    ]
                );
            }
            other => panic!("expected an RPC, got {other:?}"),
        }

        // The connection stays usable and requests can be cleared.
        server.clear_requests();
        client
            .simple_query("SELECT 2")
            .await
            .expect("batch runs")
            .into_results()
            .await
            .expect("results decode");
        assert_eq!(server.requests().len(), 1);
    })
    .await;
}

const STATUS_SQL: &str = "/* qoe:status */ SELECT LogCategory, LogTime FROM dbo.IntegrationLog";
const LOG_SQL: &str = "/* qoe:integration-log */ SELECT TOP (@P1) LogCategory, LogTime, LogDescription FROM dbo.IntegrationLog";

#[tokio::test]
async fn status_emulation_returns_the_documentation_sample() {
    within(async {
        let db = IntegrationLogDb::documentation_sample();
        let server = TdsTestServer::start(db.clone())
            .await
            .expect("server starts");
        let mut client = connect(&server).await.expect("login succeeds");
        assert!(STATUS_SQL.contains(STATUS_MARKER));
        let rows = client
            .query(
                STATUS_SQL,
                &[
                    &5i32,
                    &"DataIntegrationSucceeded",
                    &"CubeProcessingSucceeded",
                    &"DataIntegrationFailed",
                    &"CubeProcessingFailed",
                    &"DataIntegrationStarted",
                    &"CubeProcessingStarted",
                ],
            )
            .await
            .expect("status query runs")
            .into_results()
            .await
            .expect("results decode");
        assert_eq!(rows.len(), 1, "one result set");
        let got: Vec<(String, NaiveDateTime)> = rows[0]
            .iter()
            .map(|r| {
                (
                    r.get::<&str, _>("LogCategory")
                        .expect("category")
                        .to_owned(),
                    r.get::<NaiveDateTime, _>("LogTime").expect("time"),
                )
            })
            .collect();
        assert_eq!(got.len(), 16);
        assert_eq!(
            got[0],
            (
                "DataIntegrationSucceeded".to_owned(),
                dt(2015, 1, 18, 10, 30, 13)
            )
        );
        assert_eq!(
            got[4],
            (
                "DataIntegrationSucceeded".to_owned(),
                dt(2015, 1, 17, 14, 45, 13)
            )
        );
        assert!(!got.iter().any(|(_, t)| *t == dt(2015, 1, 17, 14, 30, 0)));
        assert_eq!(
            got[15],
            (
                "CubeProcessingStarted".to_owned(),
                dt(2015, 1, 18, 10, 30, 16)
            )
        );

        // Data changes while the server runs.
        db.push(LogRow::new(
            "DataIntegrationStarted",
            dt(2015, 1, 18, 11, 0, 0),
            None::<String>,
        ));
        let rows = client
            .query(
                STATUS_SQL,
                &[
                    &1i32,
                    &"a",
                    &"b",
                    &"c",
                    &"d",
                    &"DataIntegrationStarted",
                    &"e",
                ],
            )
            .await
            .expect("status query runs")
            .into_first_result()
            .await
            .expect("results decode");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].get::<NaiveDateTime, _>(1),
            Some(dt(2015, 1, 18, 11, 0, 0))
        );
    })
    .await;
}

#[tokio::test]
async fn log_emulation_filters_and_limits() {
    within(async {
        let server = serving(IntegrationLogDb::documentation_sample()).await;
        let mut client = connect(&server).await.expect("login succeeds");
        let rows = client
            .query(LOG_SQL, &[&3i32, &Option::<&str>::None])
            .await
            .expect("log query runs")
            .into_first_result()
            .await
            .expect("rows decode");
        let got: Vec<(&str, NaiveDateTime, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<&str, _>(0).expect("category"),
                    r.get::<NaiveDateTime, _>(1).expect("time"),
                    r.get::<&str, _>(2),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "CubeProcessingFailed",
                    dt(2015, 1, 18, 10, 30, 58),
                    Some("CubeProcessingFailed (sample)")
                ),
                ("CubeProcessingStarted", dt(2015, 1, 18, 10, 30, 16), None),
                (
                    "DataIntegrationSucceeded",
                    dt(2015, 1, 18, 10, 30, 13),
                    None
                ),
            ]
        );
        let rows = client
            .query(LOG_SQL, &[&100i32, &"DataIntegrationSucceeded"])
            .await
            .expect("log query runs")
            .into_first_result()
            .await
            .expect("rows decode");
        assert_eq!(rows.len(), 6);

        let err = client
            .query("SELECT * FROM dbo.Unknown", &[])
            .await
            .expect_err("unknown statements fail");
        assert_eq!(server_code(&err), Some(2812), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn error_responses_surface_as_server_errors() {
    within(async {
        let server =
            TdsTestServer::start(|_: &Request| Response::error(207, "Invalid column name 'Nope'."))
                .await
                .expect("server starts");
        let mut client = connect(&server).await.expect("login succeeds");
        let err = client
            .query("SELECT Nope FROM t", &[&1i32])
            .await
            .expect_err("handler error");
        assert_eq!(server_code(&err), Some(207), "{err:?}");

        server.set_fault(Fault::Error {
            number: 208,
            message: "Invalid object name 'dbo.IntegrationLog'.".into(),
        });
        let err = client
            .simple_query("SELECT 1")
            .await
            .expect_err("fault error on a batch");
        assert_eq!(server_code(&err), Some(208), "{err:?}");
        let err = client
            .query("SELECT 1", &[&1i32])
            .await
            .expect_err("fault error on an RPC");
        match &err {
            tiberius::error::Error::Server(e) => {
                assert_eq!(e.code(), 208);
                assert_eq!(e.message(), "Invalid object name 'dbo.IntegrationLog'.");
                assert_eq!(e.class(), 16);
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        // The connection survives errors.
        server.set_fault(Fault::None);
        server.set_handler(|_: &Request| Response::Done);
        client
            .execute("UPDATE t SET a = 1", &[])
            .await
            .expect("done-only response");
    })
    .await;
}

#[tokio::test]
async fn connection_and_login_faults() {
    within(async {
        let server = serving(IntegrationLogDb::new()).await;

        server.set_fault(Fault::RefuseConnections);
        let started = Instant::now();
        let err = connect(&server).await.expect_err("refused");
        assert!(started.elapsed() < Duration::from_secs(2), "{err:?}");

        server.set_fault(Fault::CloseDuringLogin);
        let err = connect(&server).await.expect_err("closed during login");
        assert!(matches!(err, tiberius::error::Error::Io { .. }), "{err:?}");

        server.set_fault(Fault::LoginFailed);
        let err = connect(&server).await.expect_err("login failed");
        match &err {
            tiberius::error::Error::Server(e) => {
                assert_eq!(e.code(), 18456);
                assert_eq!(e.message(), "Login failed for user 'qoe_service'.");
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        assert_eq!(server.stats().logins_ok, 0);

        server.set_fault(Fault::None);
        connect(&server).await.expect("login works again");
        assert_eq!(server.stats().logins_ok, 1);
        assert_eq!(server.stats().connections_accepted, 4);
    })
    .await;
}

#[tokio::test]
async fn request_faults_close_mid_result_and_stall() {
    within(async {
        let server = serving(IntegrationLogDb::documentation_sample()).await;
        let mut client = connect(&server).await.expect("login succeeds");
        server.set_fault(Fault::CloseMidResult);
        let outcome = async {
            client
                .query(LOG_SQL, &[&3i32, &Option::<&str>::None])
                .await?
                .into_results()
                .await
        }
        .await;
        assert!(outcome.is_err(), "{outcome:?}");
        wait_until("the closed connection to be reaped", || {
            server.stats().connections_open == 0
        })
        .await;

        server.set_fault(Fault::Stall);
        let mut client = connect_str(&server.ado_connection_string(), |c| {
            c.command_timeout(Some(Duration::from_millis(500)));
        })
        .await
        .expect("login succeeds while requests stall");
        let started = Instant::now();
        let err = async { client.simple_query("SELECT 1").await?.into_results().await }
            .await
            .expect_err("stalled request times out");
        assert!(
            matches!(
                err,
                tiberius::error::Error::Io {
                    kind: std::io::ErrorKind::TimedOut,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(server.requests().len(), 2, "stalled request is recorded");

        server.set_fault(Fault::None);
        let mut client = connect(&server).await.expect("fresh connection");
        client
            .simple_query("SELECT 1")
            .await
            .expect("batch runs")
            .into_results()
            .await
            .expect("results decode");
    })
    .await;
}

#[tokio::test]
async fn stop_and_restart_on_the_same_port() {
    within(async {
        let server = serving(IntegrationLogDb::new()).await;
        let addr = server.addr();
        let mut client = connect(&server).await.expect("login succeeds");
        wait_until("the connection to be open", || {
            server.stats().connections_open == 1
        })
        .await;

        server.stop().await;
        assert!(!server.is_running());
        assert_eq!(server.stats().connections_open, 0);
        let outcome = async { client.simple_query("SELECT 1").await?.into_results().await }.await;
        assert!(outcome.is_err(), "old connection is dropped: {outcome:?}");
        let err = connect(&server).await.expect_err("nothing listens");
        assert!(matches!(err, tiberius::error::Error::Io { .. }), "{err:?}");

        server.restart().await.expect("restarts");
        assert_eq!(server.addr(), addr);
        let mut client = connect(&server).await.expect("login after restart");
        assert_eq!(select_one(&mut client).await, Some(1));
    })
    .await;
}

#[tokio::test]
async fn fixed_port_option_is_honoured() {
    within(async {
        let probe = TdsTestServer::start(IntegrationLogDb::new())
            .await
            .expect("server starts");
        let port = probe.port();
        // The option names a port before the server starts, so the test frees one for it;
        // servers that only need some port take a listener instead (`start_on`).
        drop(probe);
        let server = TdsTestServer::start_with(
            ServerOptions {
                tls: None,
                port: Some(port),
            },
            IntegrationLogDb::new(),
        )
        .await
        .expect("server starts on the fixed port");
        assert_eq!(server.port(), port);
        connect(&server).await.expect("login succeeds");
    })
    .await;
}

#[tokio::test]
async fn a_listener_handed_over_is_served_and_restarted_on_its_address() {
    within(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = TdsTestServer::start_on(
            listener,
            ServerOptions::default(),
            LoginOptions::default(),
            IntegrationLogDb::new(),
        )
        .await
        .expect("server starts on the listener");
        assert_eq!(server.addr(), addr);
        let mut client = connect(&server).await.expect("login succeeds");
        assert_eq!(select_one(&mut client).await, Some(1));

        server.restart().await.expect("restarts");
        assert_eq!(server.addr(), addr);
        connect(&server).await.expect("login after restart");
    })
    .await;
}

#[tokio::test]
async fn plaintext_server_rejects_clients_that_want_tls() {
    within(async {
        let server = serving(IntegrationLogDb::new()).await;
        let base = server
            .ado_connection_string()
            .replace(";Encrypt=DANGER_PLAINTEXT", "");
        // No Encrypt key means Encrypt=true (Required) in tiberius 0.13.
        for encrypt in ["", ";Encrypt=true"] {
            let err = connect_str(&format!("{base}{encrypt}"), |_| {})
                .await
                .expect_err("the client requires TLS");
            assert!(
                matches!(&err, tiberius::error::Error::Protocol(m) if m.contains("encryption level")),
                "{encrypt}: {err:?}"
            );
        }
        // Encrypt=false still wants TLS for the login packet; the server closes on it.
        let err = connect_str(&format!("{base};Encrypt=false"), |_| {})
            .await
            .expect_err("login-only TLS is not supported");
        assert!(matches!(err, tiberius::error::Error::Io { .. }), "{err:?}");
        let err = connect_str(&format!("{base};Encrypt=strict"), |_| {})
            .await
            .expect_err("strict TLS against a plaintext server");
        assert!(matches!(err, tiberius::error::Error::Io { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn strict_tls_with_generated_ca() {
    within(async {
        let certs = TestCertificates::generate_localhost().expect("certificates");
        let server = TdsTestServer::start_with(
            ServerOptions {
                tls: Some(certs.tls_identity()),
                port: None,
            },
            IntegrationLogDb::documentation_sample(),
        )
        .await
        .expect("server starts");
        let conn = server.ado_connection_string();
        assert!(
            conn.contains("Encrypt=strict;TrustServerCertificateCA="),
            "{conn}"
        );
        let mut client = connect_str(&conn, |_| {}).await.expect("strict TLS login");
        let rows = client
            .query(LOG_SQL, &[&2i32, &"CubeProcessingFailed"])
            .await
            .expect("query over TLS")
            .into_first_result()
            .await
            .expect("rows decode");
        assert_eq!(rows.len(), 2);

        // A CA the server's certificate does not chain to.
        let other = TestCertificates::generate_localhost().expect("certificates");
        let dir = std::env::temp_dir();
        let wrong_ca = other.write_ca_pem(&dir).expect("write CA");
        let base = conn
            .split(";TrustServerCertificateCA=")
            .next()
            .expect("base part")
            .to_owned();
        let err = connect_str(
            &format!("{base};TrustServerCertificateCA={}", wrong_ca.display()),
            |_| {},
        )
        .await
        .expect_err("untrusted CA must fail");
        let _ = std::fs::remove_file(&wrong_ca);
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{err}"
        );

        // Without a CA the platform store cannot validate the generated certificate.
        let err = connect_str(&base, |_| {})
            .await
            .expect_err("no CA configured");
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{err}"
        );

        // Skipping validation works too.
        connect_str(&format!("{base};TrustServerCertificate=true"), |_| {})
            .await
            .expect("strict TLS without validation");

        // A plaintext client cannot talk to a strict server.
        let plain = format!("{base};Encrypt=DANGER_PLAINTEXT").replace(";Encrypt=strict", "");
        let err = connect_str(&plain, |_| {})
            .await
            .expect_err("plaintext client vs strict server");
        assert!(matches!(err, tiberius::error::Error::Io { .. }), "{err:?}");
    })
    .await;
}
