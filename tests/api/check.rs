//! `qoe-data-service check` as an admin runs it after configuring, and the lines `serve` logs at
//! start about where it connects: the binary, against the TDS test server or a closed port.
use std::process::Output;
use std::time::Duration;

use chrono::Utc;
use testkit::integration_log::IntegrationLogDb;
use testkit::live_log::{live_log, Scenario};
use testkit::{TdsTestServer, DEFAULT_PASSWORD};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const LIMIT: Duration = Duration::from_secs(20);
/// A port where nothing listens.
const NOTHING_LISTENS: &str = "Server=tcp:127.0.0.1,1;User Id=qoe_service;Password=S3cret-pw";

/// Runs the binary with only `env` set; its exit code and stdout.
async fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let output: Output = tokio::time::timeout(
        LIMIT,
        Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the binary ends in time")
    .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A TDS test server holding the CQD documentation's sample log.
async fn healthy_server() -> TdsTestServer {
    TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("TDS test server starts")
}

/// A TDS test server whose log has jobs running every 15 minutes up to now, in `scenario`.
async fn live_server(scenario: Scenario) -> TdsTestServer {
    let log = IntegrationLogDb::new();
    log.set_rows(live_log(Utc::now().naive_utc(), scenario));
    TdsTestServer::start(log)
        .await
        .expect("TDS test server starts")
}

/// `check` with `args` against `server`, the operations enabled.
async fn check_against(server: &TdsTestServer, args: &[&str]) -> (Option<i32>, String) {
    let connection_string = server.ado_connection_string();
    let (code, stdout, stderr) = run(
        args,
        &[
            ("QOE_DATABASE__CONNECTION_STRING", &connection_string),
            ("QOE_INTEGRATION_LOG__ENABLED", "true"),
        ],
    )
    .await;
    (code, format!("{stdout}{stderr}"))
}

#[actix_web::test]
async fn check_against_a_healthy_server_prints_ok_for_each_step_and_job_and_exits_0() {
    let server = live_server(Scenario::Healthy).await;
    let connection_string = server.ado_connection_string();

    let (code, stdout, stderr) = run(
        &["check"],
        &[
            ("QOE_DATABASE__CONNECTION_STRING", &connection_string),
            ("QOE_INTEGRATION_LOG__ENABLED", "true"),
        ],
    )
    .await;

    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    for (line, step) in
        lines
            .iter()
            .zip(["settings", "connect", "readiness", "status", "jobs", "jobs"])
    {
        assert!(line.starts_with(&format!("OK    {step}: ")), "{stdout}");
    }
    assert!(
        lines[0].contains("server 127.0.0.1") && lines[0].contains("SQL login qoe_service"),
        "{stdout}"
    );
    assert!(!stdout.contains(DEFAULT_PASSWORD) && !stderr.contains(DEFAULT_PASSWORD));
}

#[actix_web::test]
async fn check_with_the_operations_disabled_warns_how_to_enable_them_but_passes() {
    let server = live_server(Scenario::Healthy).await;
    let connection_string = server.ado_connection_string();

    let (code, stdout, _) = run(
        &["check"],
        &[("QOE_DATABASE__CONNECTION_STRING", &connection_string)],
    )
    .await;

    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("WARN  operations: integration_log.enabled is false")
            && stdout.contains("QOE_INTEGRATION_LOG__ENABLED=true"),
        "{stdout}"
    );
}

#[actix_web::test]
async fn check_against_a_port_where_nothing_listens_says_why_and_what_to_fix_and_exits_2() {
    let (code, stdout, stderr) = run(
        &["check"],
        &[("QOE_DATABASE__CONNECTION_STRING", NOTHING_LISTENS)],
    )
    .await;

    assert_eq!(code, Some(2), "CRITICAL: {stdout}");
    assert!(
        stdout.contains("FAIL  connect: database unreachable → check the host and port in `Server=` of database.connection_string"),
        "{stdout}"
    );
    assert!(stdout.contains("SKIP  status"), "{stdout}");
    assert!(!stdout.contains("S3cret-pw") && !stderr.contains("S3cret-pw"));
}

#[actix_web::test]
async fn check_with_a_bad_setting_names_the_setting_and_exits_2() {
    let (code, stdout, stderr) = run(
        &["check"],
        &[
            (
                "QOE_DATABASE__CONNECTION_STRING",
                "Server=tcp:127.0.0.1,1;User Id=qoe_service;Password=S3cret-pw",
            ),
            ("QOE_INTEGRATION_LOG__SOURCE", "agent"),
        ],
    )
    .await;

    assert_eq!(code, Some(2), "CRITICAL: {stdout}");
    assert!(
        stdout.starts_with("FAIL  settings: ") && stdout.contains("`integration_log.source`"),
        "{stdout}"
    );
    assert!(!stdout.contains("S3cret-pw") && !stderr.contains("S3cret-pw"));
}

/// A build without the `kerberos` feature has no way to sign in as its own account on Unix:
/// both commands stop at start, naming the feature and the alternative, before any connection.
#[actix_web::test]
#[cfg(all(unix, not(feature = "kerberos")))]
async fn integrated_security_without_the_kerberos_feature_stops_check_and_serve_at_start() {
    let env = [
        (
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1;Integrated Security=SSPI",
        ),
        ("QOE_HTTP__LISTEN", "127.0.0.1:0"),
    ];
    for command in ["check", "serve"] {
        let (code, stdout, stderr) = run(&[command], &env).await;
        let said = format!("{stdout}{stderr}");

        assert_ne!(code, Some(0), "{command}: {said}");
        assert!(
            said.contains("database.connection_string"),
            "{command}: {said}"
        );
        assert!(said.contains("--features kerberos"), "{command}: {said}");
        assert!(said.contains("User Id and Password"), "{command}: {said}");
    }
}

#[actix_web::test]
async fn check_on_a_failing_job_names_its_time_and_message_and_exits_2() {
    let server = live_server(Scenario::FailingCube).await;

    let (code, said) = check_against(&server, &["check"]).await;

    assert_eq!(code, Some(2), "CRITICAL: {said}");
    assert!(
        said.contains("OK    jobs: data integration OK: newest success"),
        "{said}"
    );
    assert!(
        said.contains("FAIL  jobs: cube processing failing: its newest run failed at "),
        "{said}"
    );
    assert!(
        said.contains(
            ": Cube processing failed: the cube's data source refused the connection; 2 of its \
             last 5 runs failed"
        ),
        "the table's LogDescription: {said}"
    );
}

#[actix_web::test]
async fn check_on_a_stale_job_warns_and_exits_1() {
    let server = live_server(Scenario::StaleCube).await;

    let (code, said) = check_against(&server, &["check"]).await;

    assert_eq!(code, Some(1), "WARNING: {said}");
    assert!(
        said.contains("WARN  jobs: cube processing stale: newest success 3 h"),
        "{said}"
    );
    assert!(!said.contains("FAIL"), "{said}");
}

#[actix_web::test]
async fn check_on_the_documentation_sample_leads_with_the_failing_job_as_a_monitor_reads_it() {
    let server = healthy_server().await;

    let (code, said) = check_against(&server, &["check", "--format", "plugin"]).await;

    assert_eq!(code, Some(2), "CRITICAL: {said}");
    let first = said.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("QOE CRITICAL - cube processing failing: its newest run failed at "),
        "{said}"
    );
    assert!(
        first.contains("; data integration stale: newest success "),
        "{said}"
    );
    let (_, perf) = first.split_once(" | ").expect("performance data after `|`");
    let labels: Vec<&str> = perf
        .split(' ')
        .map(|datum| datum.split_once('=').expect("label=value").0)
        .collect();
    assert_eq!(
        labels,
        [
            "data_integration_success_age",
            "cube_processing_success_age"
        ]
    );
    assert!(perf.contains("s;1800;;0"), "{perf}");
    assert!(
        said.lines().any(|line| line.starts_with("OK    connect: ")),
        "the report follows as long output: {said}"
    );
}

#[actix_web::test]
async fn check_in_plugin_format_on_healthy_jobs_prints_ok_and_ages_and_exits_0() {
    let server = live_server(Scenario::Healthy).await;

    let (code, said) = check_against(&server, &["check", "--format", "plugin"]).await;

    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.starts_with(
            "QOE OK - every job's newest run succeeded, recently enough | data_integration_success_age="
        ),
        "{said}"
    );
}

#[actix_web::test]
async fn check_called_wrongly_is_unknown_and_exits_3() {
    let (code, _, stderr) = run(&["check", "--format", "nagios"], &[]).await;

    assert_eq!(code, Some(3), "UNKNOWN: {stderr}");
    assert!(stderr.contains("--format"), "{stderr}");
    let (other, _, _) = run(&["serve", "--no-such-flag"], &[]).await;
    assert_eq!(other, Some(2), "other commands keep clap's code");
}

#[actix_web::test]
async fn serve_help_names_the_environment_variables_check_and_the_readme() {
    let (code, stdout, _) = run(&["serve", "--help"], &[]).await;

    assert_eq!(code, Some(0), "{stdout}");
    for words in [
        "QOE_<SECTION>__<NAME>",
        "QOE_DATABASE__CONNECTION_STRING",
        "qoe-data-service check",
        "README",
    ] {
        assert!(stdout.contains(words), "{words}: {stdout}");
    }
}

#[actix_web::test]
async fn the_start_names_the_target_and_warns_when_disabled_or_not_ready() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
        .arg("serve")
        .env_clear()
        .env("QOE_DATABASE__CONNECTION_STRING", NOTHING_LISTENS)
        .env("QOE_HTTP__LISTEN", "127.0.0.1:0")
        .env("QOE_LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();

    let mut seen = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.expect("stderr") {
            let json: serde_json::Value = serde_json::from_str(&line).expect("JSON lines");
            let done = json["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("not ready at start"));
            seen.push(json);
            if done {
                return;
            }
        }
        panic!("exited before the readiness check: {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no readiness line at start: {seen:?}"));

    let line = |level: &str, start: &str| {
        seen.iter()
            .find(|json| {
                json["level"] == level
                    && json["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with(start))
            })
            .unwrap_or_else(|| panic!("no {level} line starting {start:?}: {seen:?}"))
            .to_string()
    };
    let target = line("INFO", "database: ");
    assert!(
        target.contains("source dbo.IntegrationLog table, server 127.0.0.1, port 1, the login's default database, SQL login qoe_service"),
        "{target}"
    );
    let disabled = line("WARN", "integration_log.enabled is false");
    assert!(
        disabled.contains("QOE_INTEGRATION_LOG__ENABLED=true"),
        "{disabled}"
    );
    let not_ready = line("WARN", "not ready at start");
    assert!(
        not_ready.contains("database unreachable")
            && not_ready.contains("database.connection_string"),
        "{not_ready}"
    );
    assert!(
        !format!("{seen:?}").contains("S3cret-pw"),
        "the password is never logged"
    );
    let port = seen
        .iter()
        .find_map(|json| json["port"].as_u64())
        .expect("the service serves although the database is down");
    let health = crate::helpers::http_get(u16::try_from(port).expect("a port"), "/healthz").await;
    assert_eq!(health.status, 200);
}

#[actix_web::test]
async fn check_says_which_old_setting_names_are_used_as_warnings_after_the_settings_line() {
    let mut settings = crate::helpers::test_settings(NOTHING_LISTENS);
    settings.warnings = vec![
        "settings file: `cache.ttl_millis` is the old name of setting `cache.ttl_ms`: rename it"
            .to_owned(),
    ];
    let store = crate::helpers::FakeStore::default();

    let report = qoe_data_service::diagnosis::diagnose(&settings, &store).await;

    let text = report.to_string();
    assert!(
        text.contains("WARN  settings: settings file: `cache.ttl_millis` is the old name of setting `cache.ttl_ms`"),
        "{text}"
    );
}
