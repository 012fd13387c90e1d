//! Stopping: on SIGTERM or SIGINT the binary stops accepting, finishes in-flight requests
//! within `http.shutdown_timeout_s` and exits 0; other signals leave it serving. In-process,
//! `Application::run_until` reports how many requests it drained and how many it cut off.
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qoe_data_service::middleware::request_context::Requests;
use qoe_data_service::platform::Stop;
use qoe_data_service::startup::{Application, ShutdownReport};
use testkit::integration_log::IntegrationLogDb;
use testkit::{Fault, TdsTestServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::*;

const LIMIT: Duration = Duration::from_secs(10);

struct Service {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Service {
    /// Starts `qoe-data-service serve` on a free port and waits for its "serving" line.
    async fn start(server: &TdsTestServer, shutdown_timeout_s: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
            .arg("serve")
            .env_clear()
            .env(
                "QOE_DATABASE__CONNECTION_STRING",
                server.ado_connection_string(),
            )
            .env("QOE_INTEGRATION_LOG__ENABLED", "true")
            .env("QOE_HTTP__LISTEN", "127.0.0.1:0")
            .env("QOE_HTTP__SHUTDOWN_TIMEOUT_S", shutdown_timeout_s)
            .env("QOE_LOG__FORMAT", "json")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let port = tokio::time::timeout(LIMIT, async {
            while let Some(line) = lines.next_line().await.expect("stderr") {
                log.lock().expect("log").push_str(&line);
                let json: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                if let Some(port) = json["port"].as_u64() {
                    return u16::try_from(port).expect("a port");
                }
            }
            panic!("exited before serving: {}", log.lock().expect("log"));
        })
        .await
        .expect("the service announces its port");
        let drained = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                drained.lock().expect("log").push_str(&line);
            }
        });
        Service { child, port, log }
    }

    /// Over the documentation sample, answering (so its signal handlers are in place: they
    /// follow the port's log line).
    async fn start_answering(server: &TdsTestServer) -> Self {
        let service = Service::start(server, "10").await;
        assert_eq!(http_get(service.port, "/healthz").await.status, 200);
        service
    }

    async fn send_status_request(&self) -> TcpStream {
        send_status_request(self.port).await
    }

    /// Sends the status request `count` times on separate connections.
    async fn send_status_requests(&self, count: usize) -> Vec<TcpStream> {
        let mut streams = Vec::with_capacity(count);
        for _ in 0..count {
            streams.push(self.send_status_request().await);
        }
        streams
    }

    /// The log once its last line, the shutdown's, is in.
    async fn log_to_the_end(&self) -> String {
        wait_until("the last line", LIMIT, || self.log().contains("stopped:")).await;
        self.log()
    }

    fn terminate(&self) {
        self.signal("-TERM");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    async fn assert_exits_cleanly_within(&mut self, limit: Duration) {
        let code = self.exit_code_within(limit).await;
        assert_eq!(code, Some(0), "{}", self.log());
    }

    async fn exit_code_within(&mut self, limit: Duration) -> Option<i32> {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running after {limit:?}: {}", self.log()))
            .expect("wait");
        status.code()
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

async fn send_status_request(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(
            b"GET /QoEDataService/IntegrationLog/Status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("send");
    stream
}

async fn wait_until_not_accepting(port: u16) {
    let deadline = Instant::now() + LIMIT;
    while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after the stop");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every answer read to the end is a 200.
async fn assert_all_answered_200(streams: Vec<TcpStream>) {
    for mut stream in streams {
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

async fn sample_server() -> TdsTestServer {
    TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("the TDS test server starts")
}

async fn stalled_server() -> TdsTestServer {
    let server = sample_server().await;
    server.set_fault(Fault::Stall);
    server
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let server = stalled_server().await;
    let mut service = Service::start(&server, "10").await;
    let in_flight = service.send_status_request().await;
    wait_until("the status query to reach the database", LIMIT, || {
        server.stats().requests > 0
    })
    .await;

    service.terminate();
    wait_until_not_accepting(service.port).await;
    server.set_fault(Fault::None);

    assert_all_answered_200(vec![in_flight]).await;
    service.assert_exits_cleanly_within(LIMIT).await;
}

/// With one request stuck on the database, `signal` ends the service (exit 0) within 3 s, and
/// its last line counts the request as cut off.
async fn assert_stops_at_once_cutting_off_a_stuck_request(signal: &str, shutdown_timeout_s: &str) {
    let server = stalled_server().await;
    let mut service = Service::start(&server, shutdown_timeout_s).await;
    let _stuck = service.send_status_request().await;
    wait_until("the status query to reach the database", LIMIT, || {
        server.stats().requests > 0
    })
    .await;

    let signalled = Instant::now();
    service.signal(signal);

    service.assert_exits_cleanly_within(LIMIT).await;
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "took {:?} after {signal} with a {shutdown_timeout_s} s shutdown timeout",
        signalled.elapsed()
    );
    let log = service.log_to_the_end().await;
    assert!(log.contains(r#""cut_off":1"#), "{log}");
}

#[tokio::test]
async fn a_request_stuck_past_the_shutdown_timeout_does_not_hold_the_exit() {
    assert_stops_at_once_cutting_off_a_stuck_request("-TERM", "1").await;
}

#[tokio::test]
async fn sighup_is_logged_and_serving_goes_on() {
    let server = sample_server().await;
    let mut service = Service::start_answering(&server).await;

    service.signal("-HUP");
    let port = service.port;
    wait_until("the SIGHUP line", LIMIT, || {
        service.log().contains("SIGHUP")
    })
    .await;

    assert_eq!(
        http_get(port, "/healthz").await.status,
        200,
        "{}",
        service.log()
    );
    assert!(
        service.child.try_wait().expect("wait").is_none(),
        "exited on SIGHUP"
    );
    service.terminate();
    service.assert_exits_cleanly_within(LIMIT).await;
}

#[tokio::test]
async fn sigint_drains_the_requests_in_flight_like_sigterm() {
    let server = stalled_server().await;
    let mut service = Service::start(&server, "10").await;
    let in_flight = service.send_status_requests(20).await;
    wait_until("the status query to reach the database", LIMIT, || {
        server.stats().requests > 0
    })
    .await;

    service.signal("-INT");
    wait_until_not_accepting(service.port).await;
    server.set_fault(Fault::None);

    assert_all_answered_200(in_flight).await;
    service.assert_exits_cleanly_within(LIMIT).await;
    let log = service.log_to_the_end().await;
    assert!(log.contains(r#""drained":20"#), "{log}");
    assert!(log.contains(r#""cut_off":0"#), "{log}");
}

#[tokio::test]
async fn sigquit_stops_at_once_cutting_off_the_request_in_flight() {
    assert_stops_at_once_cutting_off_a_stuck_request("-QUIT", "10").await;
}

#[tokio::test]
async fn sigusr1_and_sigusr2_are_logged_and_serving_goes_on() {
    let server = sample_server().await;
    let mut service = Service::start_answering(&server).await;

    for (signal, name) in [("-USR1", "SIGUSR1"), ("-USR2", "SIGUSR2")] {
        service.signal(signal);
        wait_until(name, LIMIT, || service.log().contains(name)).await;
    }

    assert_eq!(http_get(service.port, "/healthz").await.status, 200);
    assert!(
        service.child.try_wait().expect("wait").is_none(),
        "exited on SIGUSR1 or SIGUSR2: {}",
        service.log()
    );
    service.terminate();
    service.assert_exits_cleanly_within(LIMIT).await;
}

/// The service in-process over `server`, stopped when `stop` is sent; its port and the
/// report `run_until` returns.
fn run_in_process(
    server: &TdsTestServer,
    shutdown_timeout: Duration,
) -> (
    u16,
    Arc<Requests>,
    tokio::sync::oneshot::Sender<()>,
    actix_web::rt::task::JoinHandle<std::io::Result<ShutdownReport>>,
) {
    let mut settings = test_settings(&server.ado_connection_string());
    settings.integration_log.enabled = true;
    settings.http.shutdown_timeout = shutdown_timeout;
    let application = Application::build(settings).expect("the service starts");
    let port = application.port();
    let requests = application.requests();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = actix_web::rt::spawn(application.run_until(async {
        let _ = stopped.await;
        Stop::Drain
    }));
    (port, requests, stop, running)
}

async fn report_within(
    limit: Duration,
    running: actix_web::rt::task::JoinHandle<std::io::Result<ShutdownReport>>,
) -> ShutdownReport {
    tokio::time::timeout(limit, running)
        .await
        .expect("stopped in time")
        .expect("not panicked")
        .expect("served without error")
}

#[actix_web::test]
async fn the_shutdown_report_counts_the_requests_drained() {
    let server = stalled_server().await;
    let (port, requests, stop, running) = run_in_process(&server, LIMIT);
    let mut in_flight = Vec::new();
    for _ in 0..3 {
        in_flight.push(send_status_request(port).await);
    }
    // Accepted and in the app, not in the listen backlog, where the stop would reset them.
    wait_until("all three requests in flight", LIMIT, || {
        requests.in_flight() == 3
    })
    .await;

    stop.send(()).expect("still running");
    wait_until_not_accepting(port).await;
    server.set_fault(Fault::None);
    assert_all_answered_200(in_flight).await;

    let report = report_within(LIMIT, running).await;
    assert_eq!(
        report,
        ShutdownReport {
            drained: 3,
            cut_off: 0
        }
    );
}

#[actix_web::test]
async fn the_shutdown_report_counts_a_request_cut_off_by_the_shutdown_timeout() {
    let server = stalled_server().await;
    let (port, _, stop, running) = run_in_process(&server, Duration::from_secs(1));
    let _stuck = send_status_request(port).await;
    wait_until("the status query to reach the database", LIMIT, || {
        server.stats().requests > 0
    })
    .await;

    stop.send(()).expect("still running");

    let report = report_within(LIMIT, running).await;
    assert_eq!(
        report,
        ShutdownReport {
            drained: 0,
            cut_off: 1
        }
    );
}
