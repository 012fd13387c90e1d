//! `integration_log.source = "sql_agent"` through the real pool, driver and routes, against the
//! TDS test server answering the Agent queries from rows each test sets.
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, StatusCode};

use chrono::{NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use qoe_data_service::configuration::{LogSource, Settings, SqlAgentSettings};
use qoe_data_service::db::{
    SqlAgentStore, AGENT_HISTORY_MARKER, AGENT_LOG_SEARCH_DEPTH, AGENT_STATUS_DEPTH,
};
use qoe_data_service::diagnosis;
use qoe_data_service::paths::{LOG_PATH, METRICS_PATH, READYZ_PATH, STATUS_PAGE_PATH, STATUS_PATH};
use qoe_data_service::startup::Application;
use qoe_data_service::store::cache::READINESS_MAX_AGE;
use testkit::sql_agent::{AgentDb, AgentHistoryRow, AgentRunning};
use testkit::{Fault, Request, TdsTestServer, Value};

use crate::helpers::*;

const JOB: &str = "CQD archive";
const ARCHIVE: &str = "QoE Archive Data";
const CUBE: &str = "Process Cube";

fn history(
    step: &str,
    run_status: i32,
    run_date: i32,
    run_time: i32,
    run_duration: i32,
) -> AgentHistoryRow {
    AgentHistoryRow {
        job_name: JOB.into(),
        step_name: step.into(),
        run_status,
        run_date,
        run_time,
        run_duration,
        message: Some(format!("{step}: run_status {run_status}")),
    }
}

/// A CQD-like job: archive runs every 15 minutes (in January: New York's times read as UTC-5),
/// the cube failed once, cancelled once, and a retry row sits before a success. The server's
/// clock is set by [`Harness::start`] to agree with the zone the service is given.
fn cqd_job() -> AgentDb {
    let db = AgentDb::new();
    db.add_step(JOB, ARCHIVE);
    db.add_step(JOB, CUBE);
    for row in [
        history(ARCHIVE, 1, 20150118, 100000, 113),
        history(CUBE, 1, 20150118, 100113, 40),
        history(ARCHIVE, 1, 20150118, 101500, 205),
        history(CUBE, 0, 20150118, 101705, 12),
        history(ARCHIVE, 2, 20150118, 103000, 5),
        history(ARCHIVE, 1, 20150118, 103100, 113),
        history(CUBE, 3, 20150118, 103313, 3),
    ] {
        db.push_history(row);
    }
    db
}

fn agent_settings(zone: Tz) -> SqlAgentSettings {
    SqlAgentSettings {
        data_integration_step: ARCHIVE.into(),
        cube_processing_step: CUBE.into(),
        job_name: None,
        server_time_zone: zone,
    }
}

/// `zone`'s offset from UTC now, in minutes: what a server clock in that zone answers.
fn offset_now(zone: Tz) -> i64 {
    i64::from(
        zone.offset_from_utc_datetime(&Utc::now().naive_utc())
            .fix()
            .local_minus_utc()
            / 60,
    )
}

struct Harness {
    server: TdsTestServer,
    store: Arc<SqlAgentStore>,
}

impl Harness {
    /// Serves `db` with a server clock that agrees with `zone`.
    async fn start(db: AgentDb, zone: Tz) -> Self {
        db.set_offset_minutes(offset_now(zone));
        let server = TdsTestServer::start(db)
            .await
            .expect("TDS test server starts");
        let settings = test_settings(&server.ado_connection_string());
        let store = Arc::new(
            SqlAgentStore::new(&settings.database, agent_settings(zone)).expect("the store builds"),
        );
        Harness { server, store }
    }

    async fn app(&self) -> TestApp {
        TestApp::builder().store(self.store.clone()).spawn().await
    }

    fn history_requests(&self) -> Vec<Request> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| {
                r.sql()
                    .is_some_and(|sql| sql.contains(AGENT_HISTORY_MARKER))
            })
            .collect()
    }
}

async fn body_of(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.get(path).await;
    (response.status, response.text())
}

#[actix_web::test]
async fn status_comes_from_agent_history_converted_from_the_servers_zone() {
    let harness = Harness::start(cqd_job(), Tz::America__New_York).await;
    let app = harness.app().await;

    let (status, body) = body_of(&app, STATUS_PATH).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "LastSuccessIntegrations": ["01/18/2015 15:32:13", "01/18/2015 15:17:05", "01/18/2015 15:01:13"],
            "LastSuccessCubeProcessings": ["01/18/2015 15:01:53"],
            "LastFailedIntegrations": [],
            "LastFailedCubeProcessings": ["01/18/2015 15:33:16", "01/18/2015 15:17:17"],
            "LastDataIntegrationStart": "01/18/2015 15:31:00",
            "LastCubeProcessingStart": "01/18/2015 15:33:13"
        }),
        "finish = start + duration, local New York time read as UTC-5, retry ignored, \
         cancelled counted as failed"
    );
}

#[actix_web::test]
async fn each_status_read_is_one_round_trip_with_every_value_bound() {
    let harness = Harness::start(cqd_job(), Tz::America__New_York).await;
    let app = harness.app().await;
    harness.server.clear_requests();

    let (status, _) = body_of(&app, STATUS_PATH).await;

    assert_eq!(status, StatusCode::OK);
    let requests = harness.server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let sql = requests[0].sql().expect("an RPC with SQL");
    assert!(sql.contains(AGENT_HISTORY_MARKER));
    assert!(
        !sql.contains(ARCHIVE) && !sql.contains(CUBE),
        "names are bound, not formatted"
    );
    assert_eq!(
        requests[0].params(),
        &[
            Value::Int(i64::from(AGENT_STATUS_DEPTH)),
            Value::String(ARCHIVE.into()),
            Value::String(CUBE.into()),
            Value::Null,
            Value::Null,
            Value::Int(i64::from(AGENT_STATUS_DEPTH)),
        ]
    );
}

#[actix_web::test]
async fn the_log_carries_each_steps_message_as_its_description() {
    let harness = Harness::start(cqd_job(), Tz::UTC).await;
    let app = harness.app().await;

    let (status, body) = body_of(
        &app,
        &format!("{LOG_PATH}?top=2&category=CubeProcessingFailed"),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!([
            {"LogCategory": "CubeProcessingFailed", "LogTime": "2015-01-18T10:33:16.00", "LogDescription": "Process Cube: run_status 3"},
            {"LogCategory": "CubeProcessingFailed", "LogTime": "2015-01-18T10:17:17.00", "LogDescription": "Process Cube: run_status 0"}
        ])
    );
    assert_eq!(
        harness
            .history_requests()
            .last()
            .map(|r| r.params()[0].clone()),
        Some(Value::Int(2)),
        "the log reads `top` rows per step"
    );
}

/// [`rare_failure_runs`] as the Agent history of a CQD job (a server clock on UTC).
fn rare_failure_job() -> AgentDb {
    let db = AgentDb::new();
    db.add_step(JOB, ARCHIVE);
    db.add_step(JOB, CUBE);
    let row = |step: &str, status: i32, start: chrono::NaiveDateTime, seconds: i64, message| {
        let number = |format: &str| start.format(format).to_string().parse().expect("digits");
        AgentHistoryRow {
            job_name: JOB.into(),
            step_name: step.into(),
            run_status: status,
            run_date: number("%Y%m%d"),
            run_time: number("%H%M%S"),
            run_duration: (seconds / 60 * 100 + seconds % 60) as i32,
            message: Some(message),
        }
    };
    for run in rare_failure_runs() {
        db.push_history(row(
            ARCHIVE,
            1,
            run.start,
            RareFailureRun::ARCHIVE_SECONDS,
            "archived".into(),
        ));
        db.push_history(row(
            CUBE,
            if run.cube_failed { 0 } else { 1 },
            run.cube_start(),
            RareFailureRun::CUBE_SECONDS,
            run.cube_message(),
        ));
    }
    db
}

#[actix_web::test]
async fn the_agent_source_finds_the_newest_entries_of_a_rare_category_cached_or_not() {
    let harness = Harness::start(rare_failure_job(), Tz::UTC).await;

    for ttl in [Duration::from_secs(5), Duration::ZERO] {
        let app = TestApp::builder()
            .store(harness.store.clone())
            .cache_ttl(ttl)
            .spawn()
            .await;
        assert_the_newest_rare_failures_are_found(&app).await;
    }
}

#[actix_web::test]
async fn a_log_read_of_one_outcome_looks_through_a_bounded_depth_of_history() {
    let harness = Harness::start(rare_failure_job(), Tz::UTC).await;
    let app = harness.app().await;

    app.get(&format!("{LOG_PATH}?category=CubeProcessingFailed&top=5"))
        .await;

    let params = harness
        .history_requests()
        .last()
        .map(|r| r.params().to_vec())
        .expect("a history read");
    assert_eq!(params[0], Value::Int(5), "rows per step");
    assert_eq!(
        params[4],
        Value::Int(0),
        "failures (and cancellations) only"
    );
    assert_eq!(
        params[5],
        Value::Int(i64::from(AGENT_LOG_SEARCH_DEPTH)),
        "looked through at most this many rows per step"
    );
}

#[actix_web::test]
async fn a_step_running_now_is_its_jobs_last_start() {
    let db = cqd_job();
    let started = NaiveDate::from_ymd_opt(2015, 1, 18)
        .and_then(|d| d.and_hms_opt(10, 45, 0))
        .expect("a valid time");
    db.set_running(vec![AgentRunning {
        job_name: JOB.into(),
        step_name: ARCHIVE.into(),
        previous: None,
        job_started: Some(started),
    }]);
    let harness = Harness::start(db, Tz::UTC).await;
    let app = harness.app().await;

    let (_, body) = body_of(&app, STATUS_PATH).await;

    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["LastDataIntegrationStart"], "01/18/2015 10:45:00");
}

#[actix_web::test]
async fn a_missing_step_gives_empty_arrays_and_null_and_keeps_readyz_unready() {
    let db = AgentDb::new();
    db.add_step(JOB, ARCHIVE);
    db.push_history(history(ARCHIVE, 1, 20150118, 100000, 113));
    let harness = Harness::start(db, Tz::UTC).await;
    let app = harness.app().await;

    let (status, body) = body_of(&app, STATUS_PATH).await;
    assert_eq!(status, StatusCode::OK, "a missing step is not an error");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["LastSuccessCubeProcessings"], serde_json::json!([]));
    assert_eq!(json["LastCubeProcessingStart"], serde_json::Value::Null);
    assert_eq!(json["LastDataIntegrationStart"], "01/18/2015 10:00:00");

    let (status, body) = body_of(&app, READYZ_PATH).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("`Process Cube`"), "{body}");
    assert!(
        body.contains("integration_log.sql_agent.cube_processing_step"),
        "{body}"
    );
}

#[actix_web::test]
async fn readyz_refuses_while_the_server_clock_disagrees_with_server_time_zone() {
    let db = cqd_job();
    let harness = Harness::start(db.clone(), Tz::Europe__Moscow).await;
    db.set_offset_minutes(-300);
    let app = harness.app().await;

    let (status, body) = body_of(&app, READYZ_PATH).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.contains("integration_log.sql_agent.server_time_zone"),
        "{body}"
    );
    assert_eq!(
        body,
        "{\"status\":\"unavailable\",\"reason\":\"SQL Server's clock disagrees with setting \
         `integration_log.sql_agent.server_time_zone`: it is `Europe/Moscow`, UTC+03:00 now, but \
         SQL Server's clock is UTC-05:00: set it to the SQL Server machine's time zone\"}",
        "the words /readyz has always said"
    );

    db.set_offset_minutes(180);
    tokio::time::sleep(READINESS_MAX_AGE).await;
    let (status, body) = body_of(&app, READYZ_PATH).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn while_the_server_clock_disagrees_with_server_time_zone_no_shifted_time_is_served() {
    let db = cqd_job();
    let harness = Harness::start(db.clone(), Tz::Europe__Moscow).await;
    db.set_offset_minutes(180 + 60); // the server's side alone moved its clocks an hour
    let app = TestApp::builder()
        .store(harness.store.clone())
        .cache_ttl(Duration::from_secs(3600))
        .spawn()
        .await;
    let (_, readyz) = body_of(&app, READYZ_PATH).await;
    let readyz: serde_json::Value = serde_json::from_str(&readyz).expect("JSON");
    let readyz_reason = readyz["reason"].as_str().expect("a reason");
    for path in [STATUS_PATH, LOG_PATH, STATUS_PAGE_PATH] {
        let response = app.get(path).await;
        let body = response.text();
        assert_eq!(
            response.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {body}"
        );
        assert!(response.headers.contains_key(header::RETRY_AFTER), "{path}");
        if path == STATUS_PAGE_PATH {
            // The page is HTML for people: its own state, both offsets, the same setting.
            assert!(
                body.contains("integration_log.sql_agent.server_time_zone"),
                "{path}: {body}"
            );
            assert!(
                body.contains("<title>✗ server time zone differs · QoE Data Service</title>"),
                "{path}: {body}"
            );
            assert!(
                body.contains("UTC+03:00 now, but SQL Server's clock is <strong>UTC+04:00"),
                "{path}: {body}"
            );
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
        let reason = json["reason"].as_str().expect("a reason");
        assert!(
            reason.contains("integration_log.sql_agent.server_time_zone"),
            "{path}: {body}"
        );
        assert!(
            readyz_reason.starts_with(reason),
            "{path}: the reason in /readyz's words: {reason:?} vs {readyz_reason:?}"
        );
    }
    let (_, metrics) = body_of(&app, METRICS_PATH).await;
    assert!(metrics.contains("qoe_status_up 0\n"), "{metrics}");

    db.set_offset_minutes(180);
    let (status, body) = body_of(&app, STATUS_PATH).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "agreeing again, without a restart, and the refusal was not cached: {body}"
    );
    let (status, _) = body_of(&app, STATUS_PAGE_PATH).await;
    assert_eq!(status, StatusCode::OK);
    let (_, metrics) = body_of(&app, METRICS_PATH).await;
    assert!(metrics.contains("qoe_status_up 1\n"), "{metrics}");
}

#[actix_web::test]
async fn an_unreadable_msdb_answers_503_on_status_and_readyz() {
    let harness = Harness::start(cqd_job(), Tz::UTC).await;
    harness.server.set_fault(Fault::Error {
        number: 229,
        message: "The SELECT permission was denied on the object 'sysjobhistory'".into(),
    });
    let app = harness.app().await;

    let (status, body) = body_of(&app, STATUS_PATH).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        !body.contains("sysjobhistory"),
        "driver text stays in the log: {body}"
    );
    let (status, _) = body_of(&app, READYZ_PATH).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn the_status_page_charts_agent_run_durations_and_metrics_report_the_last() {
    let harness = Harness::start(cqd_job(), Tz::UTC).await;
    let app = harness.app().await;

    let (status, page) = body_of(&app, STATUS_PAGE_PATH).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 2, "{page}");
    assert_eq!(
        page.matches("<rect class=\"bar ok\"").count(),
        3 + 1,
        "{page}"
    );
    assert_eq!(
        page.matches("<rect class=\"bar failed\"").count(),
        2,
        "{page}"
    );
    assert!(
        page.contains("<dt>Last run took</dt><dd>1 min 13 s</dd>"),
        "{page}"
    );

    let (_, metrics) = body_of(&app, METRICS_PATH).await;
    assert!(
        metrics.contains("qoe_last_run_duration_seconds{qoe_job=\"data_integration\"} 73\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qoe_last_run_duration_seconds{qoe_job=\"cube_processing\"} 3\n"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn the_binary_reads_agent_history_when_the_source_setting_says_so() {
    let db = cqd_job();
    db.set_offset_minutes(offset_now(Tz::America__New_York));
    let server = TdsTestServer::start(db)
        .await
        .expect("TDS test server starts");
    let mut settings = test_settings(&server.ado_connection_string());
    settings.integration_log.enabled = true;
    settings.integration_log.source = LogSource::SqlAgent(agent_settings(Tz::America__New_York));
    let port = run_in_background(Application::build(settings).expect("the service builds"));

    let response = http_get(port, STATUS_PATH).await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response.body.contains("01/18/2015 15:32:13"),
        "{}",
        response.body
    );
    assert!(server.requests().iter().any(|r| r
        .sql()
        .is_some_and(|sql| sql.contains(AGENT_HISTORY_MARKER))));
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
    let mut env: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert(
        "QOE_DATABASE__CONNECTION_STRING".into(),
        "Server=tcp:db.example.org,1433;User Id=qoe_service;Password=x".into(),
    );
    Settings::load_from(None, env).map_err(|e| e.to_string())
}

#[test]
fn the_source_is_the_table_unless_set_and_agent_settings_have_cqds_defaults() {
    let settings = load(&[]).expect("defaults");
    assert_eq!(settings.integration_log.source, LogSource::Table);

    let settings = load(&[("QOE_INTEGRATION_LOG__SOURCE", "sql_agent")]).expect("agent");
    assert_eq!(
        settings.integration_log.source,
        LogSource::SqlAgent(agent_settings(Tz::UTC))
    );
}

#[test]
fn agent_settings_are_read_from_the_environment() {
    let settings = load(&[
        ("QOE_INTEGRATION_LOG__SOURCE", "sql_agent"),
        ("QOE_INTEGRATION_LOG__SQL_AGENT__JOB_NAME", "CQD archive"),
        (
            "QOE_INTEGRATION_LOG__SQL_AGENT__DATA_INTEGRATION_STEP",
            "Archive",
        ),
        (
            "QOE_INTEGRATION_LOG__SQL_AGENT__CUBE_PROCESSING_STEP",
            "Cube",
        ),
        (
            "QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE",
            "Europe/Berlin",
        ),
    ])
    .expect("valid");

    assert_eq!(
        settings.integration_log.source,
        LogSource::SqlAgent(SqlAgentSettings {
            data_integration_step: "Archive".into(),
            cube_processing_step: "Cube".into(),
            job_name: Some("CQD archive".into()),
            server_time_zone: Tz::Europe__Berlin,
        })
    );
}

#[test]
fn wrong_agent_settings_are_refused_by_name() {
    let cases = [
        (
            ("QOE_INTEGRATION_LOG__SOURCE", "agent"),
            "integration_log.source",
        ),
        (
            ("QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE", "EST5"),
            "integration_log.sql_agent.server_time_zone",
        ),
        (
            ("QOE_INTEGRATION_LOG__SQL_AGENT__CUBE_PROCESSING_STEP", " "),
            "integration_log.sql_agent.cube_processing_step",
        ),
        (
            (
                "QOE_INTEGRATION_LOG__SQL_AGENT__DATA_INTEGRATION_STEP",
                &"x".repeat(129),
            ),
            "integration_log.sql_agent.data_integration_step",
        ),
    ];
    for ((key, value), setting) in cases {
        let error = load(&[(key, value)]).expect_err(key);
        assert!(error.contains(&format!("`{setting}`")), "{key}: {error}");
    }
}

#[actix_web::test]
async fn check_reports_a_server_clock_off_server_time_zone_with_the_setting_to_fix() {
    let db = cqd_job();
    let harness = Harness::start(db.clone(), Tz::Europe__Moscow).await;
    db.set_offset_minutes(-300);
    let mut settings = test_settings(&harness.server.ado_connection_string());
    settings.integration_log.source = LogSource::SqlAgent(agent_settings(Tz::Europe__Moscow));

    let report = diagnosis::diagnose(&settings, harness.store.as_ref()).await;

    assert!(!report.passed(), "{report}");
    let text = report.to_string();
    assert!(text.contains("OK    connect: "), "{text}");
    for step in ["readiness", "status"] {
        assert!(
            text.contains(&format!(
                "FAIL  {step}: SQL Server's clock disagrees with setting \
                 `integration_log.sql_agent.server_time_zone` → "
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE"),
        "{text}"
    );
}

#[actix_web::test]
async fn a_wrong_step_name_lists_the_steps_that_exist_nearest_first_in_check_but_not_in_readyz() {
    let db = cqd_job();
    db.add_step("Backups", "Full backup");
    db.add_step("Backups", "Process logs");
    let harness = Harness::start(db, Tz::UTC).await;
    let wrong = "Process Cubes: nightly";
    let mut settings = test_settings(&harness.server.ado_connection_string());
    let agent = SqlAgentSettings {
        cube_processing_step: wrong.into(),
        ..agent_settings(Tz::UTC)
    };
    settings.integration_log.source = LogSource::SqlAgent(agent.clone());
    let store = Arc::new(SqlAgentStore::new(&settings.database, agent).expect("the store builds"));

    let report = diagnosis::diagnose(&settings, store.as_ref()).await;
    let app = TestApp::builder().store(store).spawn().await;
    let (status, readyz) = body_of(&app, READYZ_PATH).await;

    let text = report.to_string();
    let line = text
        .lines()
        .find(|line| line.starts_with("FAIL  readiness: "))
        .unwrap_or_else(|| panic!("no failed readiness step: {text}"));
    assert!(
        line.starts_with(
            "FAIL  readiness: no SQL Server Agent job step is named `Process Cubes: nightly` \
             (setting `integration_log.sql_agent.cube_processing_step`) → set \
             `integration_log.sql_agent.cube_processing_step` to one of the steps that exist, \
             nearest first: `Process Cube` (job `CQD archive`), `Process logs` (job `Backups`), "
        ),
        "the step name with \": \" in it stays whole, and the nearest step comes first: {line}"
    );
    assert!(line.contains("`Full backup` (job `Backups`)"), "{line}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        readyz,
        "{\"status\":\"unavailable\",\"reason\":\"no SQL Server Agent job step is named \
         `Process Cubes: nightly` (setting `integration_log.sql_agent.cube_processing_step`)\"}",
        "/readyz, open to anyone, keeps its words and names no other job's steps"
    );
}
