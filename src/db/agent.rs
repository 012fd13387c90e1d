//! `integration_log.source = "sql_agent"`: the status and the log from SQL Server Agent's
//! history in `msdb`, read-only, through the same pool as the table source.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use tiberius::Row;

use super::client::{bounded_results, SqlClient};
use super::{DbError, SqlServerStore};
use crate::configuration::{key, DatabaseSettings, SettingsError, SqlAgentSettings};
use crate::domain::agent::{
    check_server_offset, decode_history, run_status_holding, AgentHistory, AgentRow, HistoryRow,
    ZoneMismatch, SERVER_TIME_ZONE_MISMATCH,
};
use crate::domain::{Job, JobRun, LogEntry, LogQuery, StatusRead};
use crate::metrics::PoolStatus;
use crate::spelling::nearest_first;
use crate::store::{IntegrationLogStore, NotReady, StoreError, Unavailability};
use crate::telemetry::in_request_span;

/// Marks the history query in SQL Server's plan cache and in the TDS test server's log.
pub const AGENT_HISTORY_MARKER: &str = "qoe:agent-history";
/// The history of both steps, newest rows first; see the file for the parameters and plan.
pub const AGENT_HISTORY_QUERY: &str = include_str!("sql/agent_history.sql");
/// Marks the readiness query.
pub const AGENT_READINESS_MARKER: &str = "qoe:agent-readiness";
/// The server clock's offset and whether the configured steps exist.
pub const AGENT_READINESS_QUERY: &str = include_str!("sql/agent_readiness.sql");

/// History rows read per step for a Status read: SQL Server Agent keeps 100 rows per job by
/// default, so this is the whole default history, and a bound when retention was raised.
pub const AGENT_STATUS_DEPTH: i32 = 100;

/// History rows of each step a log read of one outcome (a category's successes or failures)
/// looks through for its newest `top`: far beyond Agent's default retention (100 rows per
/// job), and a bound on one read's cost where retention was raised.
pub const AGENT_LOG_SEARCH_DEPTH: i32 = 10_000;

/// Which history rows of each step one read takes: the newest `rows` of the `run_status`
/// wanted (`None`: of any) among the step's newest `search` rows.
#[derive(Debug, Clone, Copy)]
struct HistoryWindow {
    rows: i32,
    run_status: Option<i32>,
    search: i32,
}

impl HistoryWindow {
    const STATUS: HistoryWindow = HistoryWindow::newest(AGENT_STATUS_DEPTH);

    const fn newest(rows: i32) -> Self {
        HistoryWindow {
            rows,
            run_status: None,
            search: rows,
        }
    }

    /// The rows that hold the newest `query.top()` entries of its category (or of all): the
    /// newest `top` rows give `top` starts, and `top` entries of every category among them;
    /// an outcome's rows are looked for as deep as [`AGENT_LOG_SEARCH_DEPTH`].
    fn for_log(query: LogQuery) -> Self {
        let rows = i32::from(query.top());
        match query.category().and_then(run_status_holding) {
            None => HistoryWindow::newest(rows),
            Some(run_status) => HistoryWindow {
                rows,
                run_status: Some(run_status),
                search: AGENT_LOG_SEARCH_DEPTH.max(rows),
            },
        }
    }
}

/// Jobs a step name may match when `job_name` is not set (a step's name is unique within its
/// job only): the history read stops past this many jobs' rows.
const JOBS_PER_STEP_NAME: usize = 8;

/// The most rows the history query can return for `depth`: the offset row, then per job a
/// step matches, `depth` history rows (or one row for a step that never ran) and the running
/// row, for both steps.
fn history_row_limit(depth: i32) -> usize {
    let depth = usize::try_from(depth).unwrap_or(0).max(1);
    1 + 2 * JOBS_PER_STEP_NAME * (depth + 1)
}

/// Reads SQL Server Agent job history. Writes nothing; `migrate` is not needed.
pub struct SqlAgentStore {
    sql: SqlServerStore,
    settings: SqlAgentSettings,
    /// Per job (`Job as usize`): whether its missing step was already logged.
    warned_missing: [AtomicBool; 2],
}

impl SqlAgentStore {
    /// Builds the pool without connecting.
    pub fn new(
        database: &DatabaseSettings,
        settings: SqlAgentSettings,
    ) -> Result<Self, SettingsError> {
        Ok(SqlAgentStore {
            sql: SqlServerStore::new(database)?,
            settings,
            warned_missing: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    pub fn pool_status(&self) -> PoolStatus {
        self.sql.pool_status()
    }

    /// The history rows of each step `window` says, plus what runs now, decoded.
    async fn history(&self, window: HistoryWindow) -> Result<AgentHistory, StoreError> {
        let settings = &self.settings;
        let (offset_minutes, rows) = self
            .sql
            .with_connection(async |connection| {
                history_rows(connection.client(), window, settings).await
            })
            .await?;
        check_server_offset(settings.server_time_zone, offset_minutes, Utc::now()).map_err(
            |mismatch| StoreError::new(Unavailability::ServerTimeZoneMismatch, mismatch),
        )?;
        let history = decode_history(rows, settings.server_time_zone).map_err(|e| {
            DbError::UnexpectedResult(format!("SQL Server Agent history: {e}")).into_store_error()
        })?;
        self.warn_once_about(&history.missing);
        Ok(history)
    }

    /// Logs a warning naming each missing step, once per job and process.
    fn warn_once_about(&self, missing: &[Job]) {
        for job in missing {
            if !self.warned_missing[*job as usize].swap(true, Ordering::Relaxed) {
                in_request_span(|| {
                    tracing::warn!(
                        step = self.step_name(*job),
                        setting = step_setting(*job),
                        job_name = self.settings.job_name.as_deref(),
                        "no SQL Server Agent job step has this name: its job reports no runs"
                    )
                });
            }
        }
    }

    fn step_name(&self, job: Job) -> &str {
        match job {
            Job::DataIntegration => &self.settings.data_integration_step,
            Job::CubeProcessing => &self.settings.cube_processing_step,
        }
    }

    /// The step `job` names does not exist: the reason names it and its setting, the fix the
    /// steps that do exist, nearest first (those of `job_name`'s job before the others).
    fn missing_step(&self, job: Job, existing: &[AgentStep]) -> NotReady {
        let setting = step_setting(job);
        let wanted = self.step_name(job);
        let job_name = self.settings.job_name.as_deref();
        let within = job_name
            .map(|name| format!(" in job `{name}` (setting `integration_log.sql_agent.job_name`)"))
            .unwrap_or_default();
        let mut nearest: Vec<&AgentStep> = existing.iter().collect();
        nearest_first(wanted, &mut nearest, |step| &step.step_name);
        nearest.sort_by_key(|step| job_name.is_some_and(|name| step.job_name != name));
        let fix = if nearest.is_empty() {
            "SQL Server Agent has no job steps the login can see: check the job on the server and \
             the login's SELECT on msdb (README 'SQL Server Agent history as the source')"
                .to_owned()
        } else {
            let shown: Vec<String> = nearest
                .iter()
                .take(STEPS_SHOWN)
                .map(|step| format!("`{}` (job `{}`)", step.step_name, step.job_name))
                .collect();
            let more = match nearest.len().saturating_sub(STEPS_SHOWN) {
                0 => String::new(),
                more => format!(", and {more} more"),
            };
            format!(
                "set `{setting}`{} to one of the steps that exist, nearest first: {}{more}",
                if job_name.is_some() {
                    " (and `integration_log.sql_agent.job_name` to its job)"
                } else {
                    ""
                },
                shown.join(", ")
            )
        };
        NotReady {
            setting,
            reason: format!(
                "no SQL Server Agent job step is named `{wanted}` (setting `{setting}`){within}"
            ),
            fix,
            fix_is_public: false,
        }
    }
}

/// How many existing step names a missing step's fix lists.
const STEPS_SHOWN: usize = 8;

/// The server's clock disagrees with `server_time_zone`: `/readyz` may say both offsets.
fn zone_mismatch(mismatch: &ZoneMismatch) -> NotReady {
    NotReady {
        setting: SERVER_TIME_ZONE_SETTING,
        reason: SERVER_TIME_ZONE_MISMATCH.to_owned(),
        fix: mismatch.offsets_and_fix(),
        fix_is_public: true,
    }
}

const SERVER_TIME_ZONE_SETTING: &str = "integration_log.sql_agent.server_time_zone";

fn step_setting(job: Job) -> &'static str {
    match job {
        Job::DataIntegration => key::DATA_INTEGRATION_STEP,
        Job::CubeProcessing => key::CUBE_PROCESSING_STEP,
    }
}

#[async_trait]
impl IntegrationLogStore for SqlAgentStore {
    #[tracing::instrument(name = "db.agent_status", skip(self))]
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        Ok(Arc::new(StatusRead::from_runs(
            self.history(HistoryWindow::STATUS).await?.runs,
        )))
    }

    /// The newest `top` entries of the category asked for (or of all), as the table source
    /// gives them: read from the rows that hold them ([`HistoryWindow::for_log`]).
    #[tracing::instrument(name = "db.agent_log", skip(self))]
    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let history = self.history(HistoryWindow::for_log(query)).await?;
        let mut entries: Vec<LogEntry> = history
            .runs
            .iter()
            .flat_map(JobRun::log_entries)
            .filter(|entry| query.category().is_none_or(|c| c == entry.category))
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.time));
        entries.truncate(usize::from(query.top()));
        Ok(entries)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.sql.ping().await
    }

    /// Ready when msdb answers, the server's clock agrees with `server_time_zone` now, and
    /// both steps exist.
    #[tracing::instrument(name = "db.agent_readiness", skip(self))]
    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        let settings = &self.settings;
        let facts = self
            .sql
            .with_connection(async |connection| {
                readiness_facts(connection.client(), settings).await
            })
            .await?;
        let mut reasons = Vec::new();
        if let Err(mismatch) =
            check_server_offset(settings.server_time_zone, facts.offset_minutes, Utc::now())
        {
            reasons.push(zone_mismatch(&mismatch));
        }
        let mut missing = Vec::new();
        for (job, count) in [
            (Job::DataIntegration, facts.data_integration_steps),
            (Job::CubeProcessing, facts.cube_processing_steps),
        ] {
            if count == 0 {
                missing.push(job);
                reasons.push(self.missing_step(job, &facts.existing_steps));
            }
        }
        self.warn_once_about(&missing);
        Ok(reasons)
    }
}

/// The server clock's offset from UTC in minutes, and the history rows.
async fn history_rows(
    client: &mut SqlClient,
    window: HistoryWindow,
    settings: &SqlAgentSettings,
) -> Result<(i32, Vec<AgentRow>), DbError> {
    let answer = client
        .query(
            AGENT_HISTORY_QUERY,
            &[
                &window.rows,
                &settings.data_integration_step.as_str(),
                &settings.cube_processing_step.as_str(),
                &settings.job_name.as_deref(),
                &window.run_status,
                &window.search,
            ],
        )
        .await
        .map_err(DbError::command(
            "sending the SQL Server Agent history query",
        ))?;
    let results = bounded_results(
        answer,
        history_row_limit(window.rows),
        "reading the SQL Server Agent history rows",
    )
    .await?;
    let [offset, rows] = results.as_slice() else {
        return Err(DbError::UnexpectedResult(format!(
            "the SQL Server Agent history query returned {} result sets, not 2",
            results.len()
        )));
    };
    let offset_minutes = match offset.as_slice() {
        [row] => required(row, "OffsetMinutes")?,
        _ => {
            return Err(DbError::UnexpectedResult(
                "OffsetMinutes is not one row".into(),
            ))
        }
    };
    Ok((
        offset_minutes,
        rows.iter().map(agent_row).collect::<Result<_, _>>()?,
    ))
}

fn int(row: &Row, column: &'static str) -> Result<Option<i32>, DbError> {
    row.try_get(column).map_err(|source| DbError::Command {
        step: column,
        source,
    })
}

fn required(row: &Row, column: &'static str) -> Result<i32, DbError> {
    int(row, column)?.ok_or_else(|| DbError::UnexpectedResult(format!("{column} is NULL")))
}

fn agent_row(row: &Row) -> Result<AgentRow, DbError> {
    let job = match required(row, "Job")? {
        0 => Job::DataIntegration,
        1 => Job::CubeProcessing,
        other => return Err(DbError::UnexpectedResult(format!("Job {other}"))),
    };
    let history = match int(row, "RunStatus")? {
        None => None,
        Some(run_status) => Some(HistoryRow {
            run_status,
            run_date: required(row, "RunDate")?,
            run_time: required(row, "RunTime")?,
            run_duration: required(row, "RunDuration")?,
            message: row
                .try_get::<&str, _>("Message")
                .map_err(DbError::command("reading Message"))?
                .map(str::to_owned),
        }),
    };
    if required(row, "Running")? == 0 {
        return Ok(AgentRow::Step { job, history });
    }
    let job_started: Option<chrono::NaiveDateTime> = row
        .try_get("JobStarted")
        .map_err(DbError::command("reading JobStarted"))?;
    Ok(AgentRow::Running {
        job,
        previous: history,
        job_started,
    })
}

struct ReadinessFacts {
    offset_minutes: i32,
    data_integration_steps: i32,
    cube_processing_steps: i32,
    /// Every job's steps, read only while a configured step is missing.
    existing_steps: Vec<AgentStep>,
}

/// A job step that exists in `msdb`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AgentStep {
    job_name: String,
    step_name: String,
}

async fn readiness_facts(
    client: &mut SqlClient,
    settings: &SqlAgentSettings,
) -> Result<ReadinessFacts, DbError> {
    let answer = client
        .query(
            AGENT_READINESS_QUERY,
            &[
                &settings.data_integration_step.as_str(),
                &settings.cube_processing_step.as_str(),
                &settings.job_name.as_deref(),
            ],
        )
        .await
        .map_err(DbError::command(
            "sending the SQL Server Agent readiness query",
        ))?;
    // The facts row, then at most 500 existing steps (`TOP (500)` in the query).
    let results = bounded_results(
        answer,
        1 + 500,
        "reading the SQL Server Agent readiness rows",
    )
    .await?;
    let [facts, steps] = results.as_slice() else {
        return Err(DbError::UnexpectedResult(format!(
            "the SQL Server Agent readiness query returned {} result sets, not 2",
            results.len()
        )));
    };
    let [row] = facts.as_slice() else {
        return Err(DbError::UnexpectedResult(
            "the readiness query did not return one row".into(),
        ));
    };
    Ok(ReadinessFacts {
        offset_minutes: required(row, "OffsetMinutes")?,
        data_integration_steps: required(row, "DataIntegrationSteps")?,
        cube_processing_steps: required(row, "CubeProcessingSteps")?,
        existing_steps: steps.iter().map(agent_step).collect::<Result<_, _>>()?,
    })
}

fn agent_step(row: &Row) -> Result<AgentStep, DbError> {
    let text = |column: &'static str| -> Result<String, DbError> {
        row.try_get::<&str, _>(column)
            .map_err(DbError::command(column))?
            .map(str::to_owned)
            .ok_or_else(|| DbError::UnexpectedResult(format!("{column} is NULL")))
    };
    Ok(AgentStep {
        job_name: text("JobName")?,
        step_name: text("StepName")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_queries_carry_their_markers_and_bind_every_value() {
        assert!(AGENT_HISTORY_QUERY.contains(AGENT_HISTORY_MARKER));
        for parameter in ["TOP (@P1)", "@P2", "@P3", "@P4", "@P5", "TOP (@P6)"] {
            assert!(
                AGENT_HISTORY_QUERY.contains(parameter),
                "{parameter} unused"
            );
        }
        assert!(AGENT_READINESS_QUERY.contains(AGENT_READINESS_MARKER));
        for parameter in ["@P1", "@P2", "@P3"] {
            assert!(
                AGENT_READINESS_QUERY.contains(parameter),
                "{parameter} unused"
            );
        }
        for query in [AGENT_HISTORY_QUERY, AGENT_READINESS_QUERY] {
            assert!(!query.contains("QoE Archive Data") && !query.contains("Process Cube"));
        }
    }

    #[test]
    fn the_agent_queries_read_only_the_four_msdb_tables() {
        let tables = ["sysjobs", "sysjobsteps", "sysjobhistory", "sysjobactivity"];
        for query in [AGENT_HISTORY_QUERY, AGENT_READINESS_QUERY] {
            for word in query.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
                if word.starts_with("sys") && !word.starts_with("SYS") {
                    assert!(tables.contains(&word), "reads {word}");
                }
            }
            assert!(!query.contains("dbo.IntegrationLog"));
        }
    }

    /// Collects what the log would print.
    #[derive(Clone, Default)]
    struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for CapturedLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_missing_step_is_warned_about_once_naming_the_step_and_its_setting() {
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let settings = crate::configuration::Settings::load_from(
            None,
            [(
                "QOE_DATABASE__CONNECTION_STRING".to_owned(),
                "Server=tcp:127.0.0.1,1;User Id=qoe_agent_reader;Password=x".to_owned(),
            )]
            .into(),
        )
        .expect("valid settings");
        let store = SqlAgentStore::new(
            &settings.database,
            SqlAgentSettings {
                data_integration_step: "QoE Archive Data".into(),
                cube_processing_step: "Process Cube".into(),
                job_name: None,
                server_time_zone: chrono_tz::Tz::UTC,
            },
        )
        .expect("the store builds");

        for _ in 0..3 {
            store.warn_once_about(&[Job::CubeProcessing]);
        }

        let text = String::from_utf8_lossy(&log.0.lock().expect("not poisoned")).into_owned();
        assert_eq!(
            text.matches("no SQL Server Agent job step has this name")
                .count(),
            1,
            "{text}"
        );
        assert!(text.contains("Process Cube"), "{text}");
        assert!(
            text.contains("integration_log.sql_agent.cube_processing_step"),
            "{text}"
        );
        assert!(!text.contains("QoE Archive Data"), "{text}");
    }
}
