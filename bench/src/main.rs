//! `bench-server`: what `bench/run.sh` needs besides the service itself.
//!
//! Starts the TDS test server loaded with `--rows` integration-log rows (one run of each job
//! every few minutes, going back in time) and `--agent-runs` SQL Server Agent history rows per
//! step (a CQD-like job every 15 minutes, for `integration_log.source = "sql_agent"`), plus a
//! control server on `--port`:
//! - `GET /bare`: the Status body the service gives for these rows, from a bare actix-web
//!   handler (the ceiling the service is compared with);
//! - `GET /bare-log`: likewise the body of `IntegrationLog?top=1000` (UTC);
//! - the same two answers on the service's own paths, `GET /QoEDataService/IntegrationLog/Status`
//!   and `GET /QoEDataService/IntegrationLog` (any query string: the handler reads none), with
//!   the service's headers too (`ETag`, `Cache-Control` for a one-hour ttl, a fixed
//!   `X-Request-Id`), so that they send the service's bytes;
//! - `GET /stats`: `{"requests": n}`, batches and RPCs the TDS server has received;
//! - `POST /stall?ms=N`: holds every database answer for N ms (to line up concurrent misses);
//! - `POST /fault?kind=K`: a hostile database from now on, `K` one of `endless-rows`,
//!   `endless-value`, `end-mid-row` or `none` (`bench/hostile-db.sh`).
//!
//! Prints one JSON line with the ports, then serves until killed.
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer, Route};
use chrono::{NaiveDateTime, TimeDelta};
use qoe_data_service::conditional::Tagged;
use qoe_data_service::domain::{
    CategoryTime, IntegrationStatus, LogCategory, LogEntry, LogEntryDocument, MAX_TOP,
};
use qoe_data_service::paths::{LOG_PATH, REQUEST_ID_HEADER, STATUS_PATH};
use testkit::integration_log::{IntegrationLogDb, LogRow};
use testkit::sql_agent::{AgentDb, AgentHistoryRow, AGENT_HISTORY_MARKER, AGENT_READINESS_MARKER};
use testkit::{Fault, Handler, Request, TdsTestServer};

struct Control {
    tds: TdsTestServer,
}

fn main() -> std::io::Result<()> {
    let mut rows = 3000usize;
    let mut agent_runs = 1000usize;
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--rows" => rows = value.parse().map_err(invalid_argument)?,
            "--port" => port = value.parse().map_err(invalid_argument)?,
            "--agent-runs" => agent_runs = value.parse().map_err(invalid_argument)?,
            other => return Err(invalid_argument(format!("unknown argument {other}"))),
        }
    }
    actix_web::rt::System::new().block_on(serve(rows, agent_runs, port))
}

fn invalid_argument(problem: impl ToString) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, problem.to_string())
}

async fn serve(rows: usize, agent_runs: usize, port: u16) -> std::io::Result<()> {
    let log = realistic_rows(rows);
    let bare_status = web::Bytes::from(status_body(&log)?);
    let db = IntegrationLogDb::new();
    db.set_rows(log);
    let bare_log = web::Bytes::from(log_body(&db.newest(None, usize::from(MAX_TOP)))?);
    let agent = realistic_agent_history(agent_runs);
    let tds = TdsTestServer::start(move |request: &Request| {
        let sql = request.sql().unwrap_or_default();
        if sql.contains(AGENT_HISTORY_MARKER) || sql.contains(AGENT_READINESS_MARKER) {
            agent.handle(request)
        } else {
            db.handle(request)
        }
    })
    .await?;
    let tds_port = tds.port();
    let control = web::Data::new(Control { tds });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(control.clone())
            .route("/bare", bare_json(bare_status.clone()))
            .route("/bare-log", bare_json(bare_log.clone()))
            // The service's own paths and response headers, so that a comparison counts
            // neither routing a longer path nor sending more header bytes against the
            // service, only what computing them costs (`bench/instructions.sh`).
            .route(STATUS_PATH, same_as_service(bare_status.clone()))
            .route(LOG_PATH, same_as_service(bare_log.clone()))
            .route("/stats", web::get().to(stats))
            .route("/stall", web::post().to(stall))
            .route("/fault", web::post().to(fault))
    })
    .bind(("127.0.0.1", port))?;
    let control_port = server.addrs().first().map(|a| a.port()).unwrap_or(port);
    println!(
        "{}",
        serde_json::json!({ "tds_port": tds_port, "control_port": control_port, "rows": rows })
    );
    server.run().await
}

/// `GET` answered with `body` as JSON by a bare handler. The body is shared, not copied, per
/// answer, as the service shares its cached one: a copy would make the floor too high.
fn bare_json(body: web::Bytes) -> Route {
    web::get().to(move || {
        let body = body.clone();
        async move {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(body)
        }
    })
}

/// The service's answer byte for byte but for the request id's digits: `GET` answered with
/// `body` as JSON, its `ETag`, the `Cache-Control` of `bench/instructions.sh`'s one-hour
/// `cache.ttl_ms`, and a fixed 32-digit `X-Request-Id`, the headers set as the service sets
/// them (straight into the response).
fn same_as_service(body: web::Bytes) -> Route {
    let etag = Tagged::new(body.to_vec()).etag().clone();
    web::get().to(move || {
        let (body, etag) = (body.clone(), etag.clone());
        async move {
            let mut response = HttpResponse::with_body(StatusCode::OK, body);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(header::ETAG, etag);
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            );
            headers.insert(
                HeaderName::from_static(REQUEST_ID_HEADER),
                HeaderValue::from_static("00000000000000000000000000000000"),
            );
            response.map_into_boxed_body()
        }
    })
}

async fn stats(control: web::Data<Control>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "requests": control.tds.stats().requests }))
}

async fn stall(control: web::Data<Control>, query: web::Query<StallFor>) -> HttpResponse {
    control.tds.set_fault(Fault::Stall);
    let control = Arc::clone(&control.into_inner());
    let ms = query.ms;
    actix_web::rt::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        control.tds.set_fault(Fault::None);
    });
    HttpResponse::NoContent().finish()
}

#[derive(serde::Deserialize)]
struct StallFor {
    ms: u64,
}

async fn fault(control: web::Data<Control>, query: web::Query<FaultKind>) -> HttpResponse {
    let fault = match query.kind.as_str() {
        "endless-rows" => Fault::EndlessRows,
        "endless-value" => Fault::EndlessValue,
        "end-mid-row" => Fault::EndMidRow,
        "none" => Fault::None,
        _ => return HttpResponse::BadRequest().body("unknown fault kind"),
    };
    control.tds.set_fault(fault);
    HttpResponse::NoContent().finish()
}

#[derive(serde::Deserialize)]
struct FaultKind {
    kind: String,
}

/// Every 15 minutes a data integration (start, then success or, one in 20, failure) and a
/// cube processing likewise, going back from 2015-01-18 10:30.
fn realistic_rows(count: usize) -> Vec<LogRow> {
    let newest = NaiveDateTime::parse_from_str("2015-01-18 10:30:00", "%Y-%m-%d %H:%M:%S")
        .unwrap_or_default();
    let jobs = [
        (
            "DataIntegrationStarted",
            "DataIntegrationSucceeded",
            "DataIntegrationFailed",
        ),
        (
            "CubeProcessingStarted",
            "CubeProcessingSucceeded",
            "CubeProcessingFailed",
        ),
    ];
    (0..count)
        .map(|i| {
            let run = i / 4;
            let (started, succeeded, failed) = jobs[(i / 2) % 2];
            let time = newest - TimeDelta::minutes(15 * run as i64)
                + TimeDelta::seconds((i % 4) as i64 * 40);
            let category = match (i % 2, run % 20) {
                (0, _) => started,
                (_, 7) => failed,
                _ => succeeded,
            };
            LogRow::new(category, time, None::<String>)
        })
        .collect()
}

/// `runs` runs of a CQD-like job every 15 minutes back from 2015-01-18 10:30 (server on UTC):
/// archive takes 1–2 minutes, then the cube 30–70 s, failing one run in 20.
fn realistic_agent_history(runs: usize) -> AgentDb {
    const JOB: &str = "CQD";
    let db = AgentDb::new();
    db.add_step(JOB, "QoE Archive Data");
    db.add_step(JOB, "Process Cube");
    let row = |step: &str, status: i32, start: NaiveDateTime, seconds: i64| AgentHistoryRow {
        job_name: JOB.into(),
        step_name: step.into(),
        run_status: status,
        run_date: start
            .format("%Y%m%d")
            .to_string()
            .parse()
            .unwrap_or_default(),
        run_time: start
            .format("%H%M%S")
            .to_string()
            .parse()
            .unwrap_or_default(),
        run_duration: (seconds / 60 * 100 + seconds % 60) as i32,
        message: Some(format!("{step}: the step ran")),
    };
    let newest = NaiveDateTime::parse_from_str("2015-01-18 10:30:00", "%Y-%m-%d %H:%M:%S")
        .unwrap_or_default();
    for run in (0..runs).rev() {
        let start = newest - TimeDelta::minutes(15 * run as i64);
        let archive = 60 + (run as i64 * 7) % 60;
        let cube = 30 + (run as i64 * 11) % 40;
        db.push_history(row("QoE Archive Data", 1, start, archive));
        let cube_status = if run % 20 == 7 { 0 } else { 1 };
        let cube_start = start + TimeDelta::seconds(archive);
        db.push_history(row("Process Cube", cube_status, cube_start, cube));
    }
    db
}

/// The body the service renders for `rows` (UTC), byte for byte.
fn status_body(rows: &[LogRow]) -> std::io::Result<Vec<u8>> {
    let entries = rows.iter().filter_map(|row| {
        Some(CategoryTime {
            category: row.category.parse::<LogCategory>().ok()?,
            time: row.time.and_utc(),
        })
    });
    let document = IntegrationStatus::from_entries(entries).render(chrono_tz::Tz::UTC);
    serde_json::to_vec(&document).map_err(std::io::Error::other)
}

/// The body the service renders for the log query's answer `newest` (UTC), byte for byte.
fn log_body(newest: &[LogRow]) -> std::io::Result<Vec<u8>> {
    let documents = newest
        .iter()
        .map(|row| {
            let entry = LogEntry {
                category: row
                    .category
                    .parse::<LogCategory>()
                    .map_err(invalid_argument)?,
                time: row.time.and_utc(),
                description: row.description.clone(),
            };
            Ok(entry.render(chrono_tz::Tz::UTC))
        })
        .collect::<std::io::Result<Vec<LogEntryDocument>>>()?;
    serde_json::to_vec(&documents).map_err(std::io::Error::other)
}
