//! The status page in a real browser, in every state: the whole service (settings, SQL Server
//! store against the in-process TDS server, middleware, routes) serves the page, headless
//! Chromium lays it out at 320, 390 and 1280 px, a measuring script reports any element wider
//! than the viewport or any axis labels that overlap, and screenshots at 390 and 1280 px go to
//! `target/browser/`.
//!
//! Headless Chromium will not lay a window out narrower than 500 px (`--window-size=390,…`
//! crops a 500 px layout), and the page's CSP allows no script. So the test fetches the page
//! over HTTP, puts it in an `<iframe srcdoc>` of exactly the width under test (the same CSP
//! as a `<meta>`, bar `frame-ancestors`), and measures from the local wrapper page around it.
//!
//! Needs Debian's `chromium` (or `QOETEST_CHROMIUM=/path/to/chrome`). Without it the tests
//! fail when `CI` is set and are skipped, saying so, otherwise.
// Debian's Chromium, on the machine the tests run on: not in the Windows build under Wine.
#![cfg(not(windows))]
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use qoe_data_service::configuration::{LogSource, Settings, SqlAgentSettings};
use qoe_data_service::paths::STATUS_PAGE_PATH;
use qoe_data_service::startup::Application;
use qoe_data_service::status_html::{escape, local_time};
use testkit::integration_log::IntegrationLogDb;
use testkit::live_log::{live_log, Scenario};
use testkit::sql_agent::AgentDb;
use testkit::TdsTestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

const ZONE: Tz = Tz::Europe__Moscow;
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(120);
/// Widths laid out and measured; the first two are phones, the last a desktop.
const MEASURED_WIDTHS: [u32; 3] = [320, 390, 1280];
/// Screenshots: a phone (tall, to see the whole page) and a desktop.
const SCREENSHOTS: [(u32, u32); 2] = [(390, 1800), (1280, 1100)];

/// Chromium, or why there is none.
fn chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("QOETEST_CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "no chromium on PATH: install it (apt-get install chromium) or set QOETEST_CHROMIUM"
                .to_owned()
        })
}

/// Chromium, or `None` after saying why the test is skipped (outside CI only).
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    match chromium() {
        Ok(path) => Some(path),
        Err(why) if std::env::var_os("CI").is_some() => panic!("CI needs the browser test: {why}"),
        Err(why) => {
            // Straight to stderr: the test harness captures eprintln! of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
            None
        }
    }
}

/// Runs headless Chromium with a fresh profile and `extra` arguments; returns its stdout.
async fn run_chromium(chromium: &Path, extra: &[String]) -> String {
    let profile = tempdir("qoe-chromium-profile");
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .kill_on_drop(true);
    let output = tokio::time::timeout(CHROMIUM_DEADLINE, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {CHROMIUM_DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tempdir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// The states the page is shown in.
#[derive(Debug, Clone, Copy)]
enum PageState {
    Live(Scenario),
    DatabaseDown,
    /// The SQL Server Agent source, SQL Server's clock five hours behind UTC while the
    /// setting says Moscow.
    WrongServerZone,
    Disabled,
}

impl PageState {
    fn name(self) -> &'static str {
        match self {
            PageState::Live(scenario) => scenario.name(),
            PageState::DatabaseDown => "database-down",
            PageState::WrongServerZone => "wrong-server-zone",
            PageState::Disabled => "disabled",
        }
    }
}

/// The page as the service answers it in `state`.
struct Served {
    status: u16,
    head: String,
    body: String,
    now: DateTime<Utc>,
}

async fn serve(state: PageState) -> Served {
    let now = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("truncating to seconds");
    let log = IntegrationLogDb::new();
    if let PageState::Live(scenario) = state {
        log.set_rows(live_log(now.naive_utc(), scenario));
    }
    let database = match state {
        PageState::WrongServerZone => {
            let agent = AgentDb::new();
            agent.set_offset_minutes(-300);
            TdsTestServer::start(agent).await
        }
        _ => TdsTestServer::start(log).await,
    }
    .expect("the TDS test server starts");
    let mut settings =
        Settings::for_tests(&database.ado_connection_string()).expect("valid settings");
    if let PageState::WrongServerZone = state {
        settings.integration_log.source = LogSource::SqlAgent(SqlAgentSettings {
            data_integration_step: "QoE Archive Data".into(),
            cube_processing_step: "Process Cube".into(),
            job_name: None,
            server_time_zone: ZONE,
        });
    }
    settings.integration_log.enabled = !matches!(state, PageState::Disabled);
    settings.integration_log.time_zone = ZONE;
    let application = Application::build(settings).expect("the service builds");
    let port = application.port();
    actix_web::rt::spawn(application.run_until_stopped());
    if let PageState::DatabaseDown = state {
        database.stop().await;
    }
    let (status, head, body) = http_get(port, STATUS_PAGE_PATH).await;
    Served {
        status,
        head,
        body,
        now,
    }
}

/// One HTTP/1.1 GET, read to the end: the status code, the head and the body.
async fn http_get(port: u16, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the service accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("the response is read");
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, head.to_owned(), body.to_owned())
}

/// Runs in the wrapper once the framed page has loaded: lists every element that reaches past
/// the viewport or holds content wider than itself, and axis labels that overlap.
const MEASURE: &str = r#"
function measure(frame) {
  var doc = frame.contentDocument, view = doc.documentElement.clientWidth, found = [];
  var name = function (el) {
    var cls = typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '';
    return el.tagName.toLowerCase() + cls + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  };
  doc.querySelectorAll('body *').forEach(function (el) {
    var box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) return;
    if (box.right > view + 0.5 || box.left < -0.5) found.push('past the viewport: ' + name(el) + ' right=' + box.right);
    if (!(el instanceof SVGElement) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      found.push('content wider than its box: ' + name(el) + ' ' + el.scrollWidth + '>' + el.clientWidth);
  });
  if (doc.documentElement.scrollWidth > view) found.push('the page scrolls sideways: ' + doc.documentElement.scrollWidth);
  doc.querySelectorAll('.axis, .y-axis').forEach(function (axis) {
    var labels = Array.prototype.map.call(axis.children, function (label) { return label.getBoundingClientRect(); });
    for (var i = 0; i < labels.length; i++) for (var j = i + 1; j < labels.length; j++) {
      var a = labels[i], b = labels[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
        found.push('labels overlap: ' + name(axis));
    }
  });
  var report = document.createElement('pre');
  report.id = 'measured';
  report.textContent = 'width ' + view + '\n' + found.join('\n');
  document.body.appendChild(report);
}
"#;

/// The CSP the service sends, as a `<meta>` (which cannot carry `frame-ancestors`).
const CSP_META: &str = r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">"#;

/// A local page framing `page` at exactly `width`×`height` at the top left, measuring it once
/// loaded. Written to a file: Chromium runs the wrapper's script, the framed page runs none.
fn wrapper(page: &str, width: u32, height: u32) -> PathBuf {
    let framed = page.replacen("<head>\n", &format!("<head>\n{CSP_META}\n"), 1);
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><style>body {{ margin: 0 }} \
         iframe {{ display: block; border: 0 }}</style><script>{MEASURE}</script></head><body>\
         <iframe width=\"{width}\" height=\"{height}\" onload=\"measure(this)\" srcdoc=\"{}\">\
         </iframe></body></html>\n",
        escape(&framed)
    );
    let file = tempdir("qoe-browser-page").join("wrapper.html");
    std::fs::write(&file, html).expect("the wrapper is written");
    file
}

/// Lays the page out at each measured width and screenshots it; returns the measurements of
/// the widths where something is wrong.
async fn lay_out(chromium: &Path, state: PageState, page: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for width in MEASURED_WIDTHS {
        let file = wrapper(page, width, 900);
        let dom = run_chromium(
            chromium,
            &[
                "--window-size=1400,1000".to_owned(),
                "--dump-dom".to_owned(),
                format!("file://{}", file.display()),
            ],
        )
        .await;
        let _ = std::fs::remove_dir_all(file.parent().expect("a directory"));
        let start = dom
            .find("<pre id=\"measured\">")
            .unwrap_or_else(|| panic!("{}: the measuring script did not run: {dom}", state.name()));
        let report = &dom[start + "<pre id=\"measured\">".len()..];
        let report = &report[..report.find("</pre>").unwrap_or(report.len())];
        if report.trim() != format!("width {width}") {
            problems.push(format!("{} at {width} px: {report}", state.name()));
        }
    }
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&artifacts).expect("target/browser");
    for (width, height) in SCREENSHOTS {
        let file = wrapper(page, width, height);
        let shot = artifacts.join(format!("status-page-{}-{width}.png", state.name()));
        let _ = std::fs::remove_file(&shot);
        run_chromium(
            chromium,
            &[
                format!("--screenshot={}", shot.display()),
                format!("--window-size={width},{height}"),
                format!("file://{}", file.display()),
            ],
        )
        .await;
        let _ = std::fs::remove_dir_all(file.parent().expect("a directory"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "no screenshot at {}", shot.display());
    }
    problems
}

fn title(page: &str) -> &str {
    let start = page.find("<title>").map_or(0, |at| at + "<title>".len());
    let end = page.find("</title>").unwrap_or(start);
    &page[start..end]
}

/// Serves `state`, checks its answer and its title, and lays it out: nothing overflows.
async fn shows(state: PageState, status: u16, expected_title: &str) -> Option<Served> {
    let chromium = chromium_or_skip(&format!("the status page {}", state.name()))?;
    let served = serve(state).await;
    assert_eq!(served.status, status, "{}: {}", state.name(), served.head);
    assert_eq!(title(&served.body), expected_title, "{}", served.body);
    let problems = lay_out(&chromium, state, &served.body).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Some(served)
}

#[actix_web::test]
async fn a_healthy_service_lays_out_at_every_width() {
    let Some(served) = shows(
        PageState::Live(Scenario::Healthy),
        200,
        "OK · QoE Data Service",
    )
    .await
    else {
        return;
    };

    let page = served.body;
    assert!(page.contains("<strong>Europe/Moscow</strong>"), "{page}");
    let newest = served.now - TimeDelta::minutes(4) + TimeDelta::seconds(120);
    assert!(
        page.contains(&format!(
            "<dt>Last success</dt><dd><time datetime=\"{}\">{}</time>",
            newest.format("%Y-%m-%dT%H:%M:%SZ"),
            local_time(newest, ZONE)
        )),
        "the newest integration success is shown: {page}"
    );
    assert!(page.contains("<strong>✓ OK:</strong>"), "{page}");
    assert!(
        page.contains("<dt>Last run took</dt><dd>2 min 0 s</dd>"),
        "{page}"
    );
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 2, "{page}");
    assert!(!page.contains("<rect class=\"bar failed\""), "{page}");
}

#[actix_web::test]
async fn a_failing_cube_job_lays_out_at_every_width() {
    let Some(served) = shows(
        PageState::Live(Scenario::FailingCube),
        200,
        "✗ failing · QoE Data Service",
    )
    .await
    else {
        return;
    };

    assert!(
        served
            .body
            .contains("<strong>✗ Failing:</strong> Cube processing: its newest run failed at"),
        "{}",
        served.body
    );
    assert!(served.body.contains("2 of its last 5 runs failed."));
    assert!(
        served.body.contains(
            "<blockquote>Cube processing failed: the cube's data source refused the \
             connection</blockquote>"
        ),
        "the table's LogDescription of the newest failure: {}",
        served.body
    );
    assert!(
        served.body.contains(
            "<a href=\"/QoEDataService/IntegrationLog?category=CubeProcessingFailed&amp;top=1\">"
        ),
        "{}",
        served.body
    );
}

#[actix_web::test]
async fn a_stale_cube_job_lays_out_at_every_width() {
    let Some(served) = shows(
        PageState::Live(Scenario::StaleCube),
        200,
        "stale · QoE Data Service",
    )
    .await
    else {
        return;
    };

    assert!(
        served
            .body
            .contains("<strong>Stale:</strong> Cube processing has not succeeded for 3 h"),
        "{}",
        served.body
    );
}

#[actix_web::test]
async fn the_database_down_page_lays_out_at_every_width() {
    let Some(served) = shows(
        PageState::DatabaseDown,
        503,
        "✗ database unavailable · QoE Data Service",
    )
    .await
    else {
        return;
    };

    // The store backs off after the failed connect: the page asks again when it retries.
    let retry_after = served
        .head
        .lines()
        .find_map(|line| line.strip_prefix("retry-after: "))
        .and_then(|seconds| seconds.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {}", served.head));
    assert!((1..=5).contains(&retry_after), "{}", served.head);
    assert!(
        served
            .body
            .contains(&format!("tries again in {retry_after} s")),
        "{}",
        served.body
    );
    assert!(
        served
            .body
            .contains("<strong>✗ Database unavailable:</strong> database unreachable."),
        "{}",
        served.body
    );
}

#[actix_web::test]
async fn the_disabled_page_lays_out_at_every_width() {
    let Some(served) = shows(PageState::Disabled, 200, "disabled · QoE Data Service").await else {
        return;
    };

    assert!(served
        .body
        .contains("<code>QOE_INTEGRATION_LOG__ENABLED=true</code>"));
}

#[actix_web::test]
async fn the_wrong_server_time_zone_page_lays_out_at_every_width() {
    let Some(served) = shows(
        PageState::WrongServerZone,
        503,
        "✗ server time zone differs · QoE Data Service",
    )
    .await
    else {
        return;
    };

    let page = &served.body;
    assert!(!page.contains("Database unavailable"), "{page}");
    assert!(
        page.contains("<strong>Europe/Moscow</strong>, UTC+03:00 now, but SQL Server's clock is <strong>UTC-05:00</strong>"),
        "{page}"
    );
    assert!(page.contains("<code>integration_log.sql_agent.server_time_zone</code>"));
}
