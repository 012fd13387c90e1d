//! The binary keeps serving when its stderr is closed or full, counts the lost lines in
//! `/metrics`, and exits 0 on SIGTERM; repeated client warnings are rate-limited.
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use crate::helpers::*;

const LIMIT: Duration = Duration::from_secs(20);

/// Starts `serve` with JSON logs at `rust_log`; returns it, its port and its stderr lines.
async fn start(
    rust_log: &str,
    extra: &[(&str, &str)],
) -> (Child, u16, Lines<BufReader<ChildStderr>>) {
    let (child, mut lines) = spawn("json", rust_log, extra);
    let port = tokio::time::timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.expect("stderr") {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(port) = json["port"].as_u64() {
                    return u16::try_from(port).expect("a port");
                }
            }
        }
        panic!("exited before serving");
    })
    .await
    .expect("the service announces its port");
    (child, port, lines)
}

/// `serve` with `format` logs at `rust_log`, stderr piped.
fn spawn(
    format: &str,
    rust_log: &str,
    extra: &[(&str, &str)],
) -> (Child, Lines<BufReader<ChildStderr>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
        .arg("serve")
        .env_clear()
        .env(
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1;User Id=qoe_service;Password=unused",
        )
        .env("QOE_HTTP__LISTEN", "127.0.0.1:0")
        .env("QOE_LOG__FORMAT", format)
        .env("RUST_LOG", rust_log)
        .envs(extra.iter().copied())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    (child, lines)
}

async fn dropped_lines(port: u16) -> u64 {
    let metrics = http_get(port, "/metrics").await;
    metrics
        .body
        .lines()
        .find_map(|line| line.strip_prefix("qoe_log_lines_dropped_total "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no dropped-lines counter in {}", metrics.body))
}

async fn terminate(mut child: Child) -> Option<i32> {
    let pid = child.id().expect("still running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait")
        .code()
}

#[tokio::test]
async fn a_closed_stderr_loses_lines_counts_them_and_the_service_keeps_answering() {
    let (child, port, lines) = start("debug", &[]).await;
    drop(lines);

    for _ in 0..50 {
        assert_eq!(http_get(port, "/healthz").await.status, 200);
    }

    assert!(dropped_lines(port).await > 0);
    assert_eq!(terminate(child).await, Some(0));
}

#[tokio::test]
async fn a_full_stderr_never_blocks_answers() {
    // Nobody reads stderr: the pipe fills after a few hundred lines.
    let (child, port, _unread) = start("debug", &[]).await;
    let started = Instant::now();

    for _ in 0..3000 {
        assert_eq!(http_get(port, "/healthz").await.status, 200);
    }

    assert!(started.elapsed() < LIMIT, "took {:?}", started.elapsed());
    assert!(dropped_lines(port).await > 0);
    assert_eq!(terminate(child).await, Some(0));
}

#[tokio::test]
async fn a_flood_of_refused_keys_writes_one_warning_per_window() {
    let (child, port, mut lines) = start("info", &[("QOE_HTTP__API_KEYS", "the-right-key")]).await;

    for _ in 0..200 {
        let refused = http_get(port, "/QoEDataService/IntegrationLog/Status").await;
        assert_eq!(refused.status, 401);
    }
    assert_eq!(terminate(child).await, Some(0));

    let mut warnings = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains("refused a request without a valid API key") {
            warnings += 1;
        }
    }
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} warning lines for 200 refused requests"
    );
}

#[tokio::test]
async fn a_burst_of_malformed_requests_is_counted_and_logged_in_a_line_or_two() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BURST: u64 = 200;
    let (child, port, mut lines) = start("info", &[]).await;

    for _ in 0..BURST {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let _ = stream
            .write_all(b"NOT A REQUEST\r\nBad header\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(LIMIT, stream.read_to_end(&mut answer)).await;
    }
    let metrics = http_get(port, "/metrics").await.body;
    assert_eq!(terminate(child).await, Some(0));

    let malformed: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix(r#"qoe_http_protocol_errors_total{kind="malformed"} "#))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no protocol error counter in {metrics}"));
    assert_eq!(malformed, BURST);
    let mut written = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains("stream error") || line.contains("protocol error") {
            written.push(line);
        }
    }
    assert!(
        (1..=2).contains(&written.len()),
        "{} lines for {BURST} malformed requests: {written:#?}",
        written.len()
    );
}

#[tokio::test]
async fn text_logs_into_a_pipe_carry_no_colour_codes() {
    let (child, mut lines) = spawn("text", "info", &[]);
    let serving = tokio::time::timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.expect("stderr") {
            if line.contains("serving the QoE Data Service") {
                return line;
            }
        }
        panic!("exited before serving");
    })
    .await
    .expect("the service logs its start");

    let port: u16 = serving
        .split("port=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {serving}"));
    assert_eq!(http_get(port, "/healthz").await.status, 200);

    assert!(!serving.contains('\u{1b}'), "{serving:?}");
    assert!(serving.contains("API keys OFF"), "{serving}");
    let named = format!(
        "serving the QoE Data Service {}:",
        env!("CARGO_PKG_VERSION")
    );
    assert!(serving.contains(&named), "{serving}");
    assert_eq!(terminate(child).await, Some(0));
}

/// With stderr closed the service cannot announce its port: it binds port 0 and the test reads
/// the port from `/proc` (Linux only), rather than choosing a port another process could take.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn started_with_stderr_closed_it_serves_counts_the_lost_lines_and_exits_0() {
    let child = Command::new("sh")
        .args([
            "-c",
            r#"exec "$0" serve 2>&-"#,
            env!("CARGO_BIN_EXE_qoe-data-service"),
        ])
        .env_clear()
        .env(
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1;User Id=qoe_service;Password=unused",
        )
        .env("QOE_HTTP__LISTEN", "127.0.0.1:0")
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let pid = child.id().expect("running");
    let mut port = None;
    wait_until("the service to listen", LIMIT, || {
        port = listening_port(pid);
        port.is_some()
    })
    .await;
    let port = port.expect("listening");

    assert_eq!(http_get(port, "/healthz").await.status, 200);
    assert!(
        dropped_lines(port).await > 0,
        "the start line was not counted"
    );
    assert_eq!(terminate(child).await, Some(0));
}

/// Starts `serve` with `rust_log` and `extra`, asks for Status once expecting `status`, stops
/// it, and returns the answer's request id and every JSON line the service wrote.
async fn one_status_request(
    rust_log: &str,
    extra: &[(&str, &str)],
    status: u16,
) -> (String, Vec<serde_json::Value>) {
    let (child, port, mut lines) = start(rust_log, extra).await;
    let answer = http_get(port, "/QoEDataService/IntegrationLog/Status").await;
    assert_eq!(answer.status, status);
    let request_id = answer.header("X-Request-Id").expect("a request id");
    let request_id = request_id.to_owned();
    assert_eq!(terminate(child).await, Some(0));
    let mut written = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        written.extend(serde_json::from_str::<serde_json::Value>(&line).ok());
    }
    (request_id, written)
}

fn whose_message(
    lines: &[serde_json::Value],
    wanted: impl Fn(&str) -> bool,
) -> Vec<&serde_json::Value> {
    let message = |line: &serde_json::Value| line["message"].as_str().is_some_and(&wanted);
    lines.iter().filter(|line| message(line)).collect()
}

#[tokio::test]
async fn the_lines_written_while_answering_a_request_name_its_request_id() {
    // Nothing listens on the configured database port: the answer is a 503.
    let enabled = [("QOE_INTEGRATION_LOG__ENABLED", "true")];
    let (request_id, lines) = one_status_request("info", &enabled, 503).await;

    let about_the_answer = whose_message(&lines, |m| m.starts_with("answer"));
    let messages: Vec<_> = about_the_answer.iter().map(|l| &l["message"]).collect();
    assert_eq!(
        messages,
        ["answering 503: the database is unavailable", "answered"]
    );
    for line in about_the_answer {
        assert_eq!(line["span"]["name"], "http_request", "{line}");
        assert_eq!(line["span"]["request_id"], request_id.as_str(), "{line}");
    }
}

#[tokio::test]
async fn a_refused_key_is_logged_with_its_request_id_even_at_warn() {
    // `info` only for the line announcing the port.
    let rust_log = "warn,qoe_data_service::cli=info";
    let keyed = [("QOE_HTTP__API_KEYS", "the-right-key")];
    let (request_id, lines) = one_status_request(rust_log, &keyed, 401).await;

    let refusals = whose_message(&lines, |m| {
        m.contains("refused a request without a valid API key")
    });
    assert_eq!(refusals.len(), 1, "{lines:?}");
    assert_eq!(refusals[0]["span"]["request_id"], request_id.as_str());
}

/// The TCP port process `pid` listens on, read from `/proc`: its socket inodes, then the
/// listening (state 0A) row of `/proc/<pid>/net/tcp` with one of them.
#[cfg(target_os = "linux")]
fn listening_port(pid: u32) -> Option<u16> {
    let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd is readable")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))
        .expect("/proc/<pid>/net/tcp is readable");
    table.lines().skip(1).find_map(|row| {
        let columns: Vec<&str> = row.split_whitespace().collect();
        let (local, state, inode) = (columns.get(1)?, columns.get(3)?, columns.get(9)?);
        if *state != "0A" || !sockets.iter().any(|socket| socket == inode) {
            return None;
        }
        u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()
    })
}

#[tokio::test]
async fn text_lines_escape_what_sql_server_sends_so_it_cannot_forge_a_line() {
    const FORGED: &str = "bad\r\n2026-01-01T00:00:00Z ERROR forged line\u{1b}[2J";
    let server = testkit::TdsTestServer::start(
        testkit::integration_log::IntegrationLogDb::documentation_sample(),
    )
    .await
    .expect("the TDS test server starts");
    server.set_fault(testkit::Fault::Error {
        number: 50000,
        message: FORGED.to_owned(),
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let connection_string = server.ado_connection_string();
    let (child, mut lines) = spawn(
        "text",
        "info",
        &[
            ("QOE_HTTP__LISTEN", &listen),
            ("QOE_DATABASE__CONNECTION_STRING", &connection_string),
            ("QOE_INTEGRATION_LOG__ENABLED", "true"),
        ],
    );
    let mut text = String::new();
    tokio::time::timeout(LIMIT, async {
        while !text.contains("listening") && !text.contains(&port.to_string()) {
            text.push_str(&lines.next_line().await.expect("stderr").expect("a line"));
            text.push('\n');
        }
    })
    .await
    .expect("the service starts");

    let log = http_get(port, "/QoEDataService/IntegrationLog?top=1").await;
    assert_eq!(log.status, 503, "{}", log.body);
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
    })
    .await;
    terminate(child).await;

    let from_driver = text
        .lines()
        .find(|line| line.contains("tiberius::tds::stream::token"))
        .unwrap_or_else(|| panic!("the driver logs the server's message: {text}"));
    assert!(
        from_driver.contains(r"bad\r\n2026-01-01T00:00:00Z ERROR forged line"),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|line| line.contains("forged line"))
            .count()
            >= 2,
        "the driver's line and the 503 line with its cause: {text}"
    );
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("2026-01-01T00:00:00Z")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "{text:?}");
}
