//! The status page in a real browser: the whole service (settings, SQL Server store against the
//! in-process TDS server, middleware, routes) serves the page, headless Chromium renders it,
//! and the test reads the rendered DOM and keeps screenshots under `target/browser/`.
//!
//! Needs Debian's `chromium` (or `QOETEST_CHROMIUM=/path/to/chrome`). Without it the test
//! fails when `CI` is set and is skipped, saying so, otherwise.
// Debian's Chromium, on the machine the tests run on: not in the Windows build under Wine.
#![cfg(not(windows))]
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use qoe_data_service::configuration::Settings;
use qoe_data_service::paths::STATUS_PAGE_PATH;
use qoe_data_service::startup::Application;
use qoe_data_service::status_html::local_time;
use testkit::integration_log::{IntegrationLogDb, LogRow};
use testkit::TdsTestServer;
use tokio::process::Command;

const ZONE: Tz = Tz::Europe__Moscow;
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);
const MOBILE: (u32, u32) = (412, 915);
const DESKTOP: (u32, u32) = (1280, 900);

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

/// A log like a live system's: integration runs every 15 minutes (taking 3, 2 and 2 minutes,
/// one still running), cube processing stalled.
fn live_log(now: DateTime<Utc>) -> Vec<LogRow> {
    let ago = |minutes: i64| (now - TimeDelta::minutes(minutes)).naive_utc();
    let row = |category: &str, minutes: i64| LogRow::new(category, ago(minutes), None::<String>);
    vec![
        row("DataIntegrationStarted", 2),
        row("DataIntegrationStarted", 7),
        row("DataIntegrationStarted", 37),
        row("DataIntegrationStarted", 53),
        row("DataIntegrationSucceeded", 5),
        row("DataIntegrationSucceeded", 20),
        row("DataIntegrationFailed", 35),
        row("DataIntegrationSucceeded", 50),
        row("CubeProcessingStarted", 10),
        row("CubeProcessingFailed", 10),
        row("CubeProcessingFailed", 25),
        row("CubeProcessingSucceeded", 185),
    ]
}

fn settings(connection_string: String) -> Settings {
    let mut settings = Settings::for_tests(&connection_string).expect("valid settings");
    settings.integration_log.enabled = true;
    settings.integration_log.time_zone = ZONE;
    settings
}

#[actix_web::test]
async fn the_status_page_renders_in_headless_chromium() {
    let chromium = match chromium() {
        Ok(path) => path,
        Err(why) if std::env::var_os("CI").is_some() => panic!("CI needs the browser test: {why}"),
        Err(why) => {
            // Straight to stderr: the test harness captures eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the_status_page_renders_in_headless_chromium: {why}"
            );
            return;
        }
    };
    let now = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("truncating to seconds");
    let log = IntegrationLogDb::new();
    log.set_rows(live_log(now));
    let database = TdsTestServer::start(log)
        .await
        .expect("the TDS test server starts");
    let application =
        Application::build(settings(database.ado_connection_string())).expect("the service builds");
    let url = format!("http://127.0.0.1:{}{STATUS_PAGE_PATH}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());

    let dom = run_chromium(&chromium, &["--dump-dom".to_owned(), url.clone()]).await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&artifacts).expect("target/browser");
    for (name, (width, height)) in [("status-page", MOBILE), ("status-page-desktop", DESKTOP)] {
        let file = artifacts.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        run_chromium(
            &chromium,
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size={width},{height}"),
                url.clone(),
            ],
        )
        .await;
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "no screenshot at {}", file.display());
    }

    assert!(dom.contains("<h1>QoE integration status</h1>"), "{dom}");
    assert!(dom.contains(">Data integration</h2>"), "{dom}");
    assert!(dom.contains(">Cube processing</h2>"), "{dom}");
    assert!(dom.contains("<strong>Europe/Moscow</strong>"), "{dom}");
    let newest_integration = local_time(now - TimeDelta::minutes(5), ZONE);
    assert!(
        dom.contains(&format!(
            "<dt>Last success</dt><dd><time datetime=\"{}\">{newest_integration}</time>",
            (now - TimeDelta::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ")
        )),
        "the newest integration success {newest_integration} is not shown: {dom}"
    );
    assert!(dom.contains("Newest success 5 min ago."), "{dom}");
    assert!(
        dom.contains("<strong>Stale:</strong> cube processing has not succeeded recently."),
        "{dom}"
    );
    assert!(
        dom.contains("<strong>Stale</strong>: newest success 3 h 5 min ago."),
        "{dom}"
    );
    // The duration chart: inline SVG survives the page's CSP and renders as markup.
    assert!(
        dom.contains("<dt>Last run took</dt><dd>2 min 0 s</dd>"),
        "the newest integration run took 2 minutes: {dom}"
    );
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 2, "{dom}");
    assert_eq!(
        dom.matches("<rect class=\"bar ok\"").count(),
        2,
        "two successful integration runs: {dom}"
    );
    assert_eq!(
        dom.matches("<rect class=\"bar failed\"").count(),
        2,
        "one failed integration run and one failed cube run: {dom}"
    );
    assert!(dom.contains("took 3 min 0 s</title></rect>"), "{dom}");
}
