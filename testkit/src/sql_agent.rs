//! Emulation of SQL Server Agent's `msdb` tables for the service's two Agent queries.
//!
//! The service marks them with SQL comments: `qoe:agent-history` (params `@P1` int rows per
//! step, `@P2` data integration step name, `@P3` cube processing step name, `@P4` job name or
//! NULL, `@P5` the `run_status` wanted or NULL for any (`0` also takes `3`, cancelled), `@P6`
//! how many of each step's newest rows to look through; answered as two result sets, the server
//! clock's `OffsetMinutes`, then the history rows) and `qoe:agent-readiness` (`@P1`, `@P2` step
//! names, `@P3` job name or NULL; answered as two result sets, the offset and the step counts,
//! then every job's steps while a configured one is missing). Tests set
//! the jobs' steps, their history rows (in `instance_id` order), the steps running now and the
//! server clock's offset from UTC.

use crate::types::{Column, ColumnType, Handler, Request, Response, ResultSet, Value};
use chrono::NaiveDateTime;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Marker the history query's SQL text contains: the service's `db::AGENT_HISTORY_MARKER`
/// (`tests/tds_store.rs` checks that the two agree, and the readiness query's too).
pub const AGENT_HISTORY_MARKER: &str = "qoe:agent-history";
/// Marker the readiness query's SQL text contains.
pub const AGENT_READINESS_MARKER: &str = "qoe:agent-readiness";

/// One `sysjobhistory` step row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentHistoryRow {
    /// `sysjobs.name` of the row's job.
    pub job_name: String,
    /// `step_name`.
    pub step_name: String,
    /// `run_status`: 0 failed, 1 succeeded, 2 retry, 3 cancelled, 4 in progress.
    pub run_status: i32,
    /// `run_date`, `yyyymmdd`, server local time.
    pub run_date: i32,
    /// `run_time`, `hhmmss`, server local time.
    pub run_time: i32,
    /// `run_duration`, `hhmmss`.
    pub run_duration: i32,
    /// `message`.
    pub message: Option<String>,
}

/// A step the current Agent session runs now (`sysjobactivity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRunning {
    /// The job's name.
    pub job_name: String,
    /// The running step's name.
    pub step_name: String,
    /// The newest history row of the step before it, if it is not the job's first step.
    pub previous: Option<AgentHistoryRow>,
    /// `start_execution_date` of the job, server local time.
    pub job_started: Option<NaiveDateTime>,
}

#[derive(Debug, Default)]
struct State {
    /// `(job name, step name)` of every step.
    steps: Vec<(String, String)>,
    history: Vec<AgentHistoryRow>,
    running: Vec<AgentRunning>,
    offset_minutes: i64,
}

/// Shared, mutable `msdb` contents answering the service's Agent queries; clones share state.
#[derive(Debug, Clone, Default)]
pub struct AgentDb {
    state: Arc<Mutex<State>>,
}

impl AgentDb {
    /// No jobs, a server clock on UTC.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a job step.
    pub fn add_step(&self, job_name: &str, step_name: &str) {
        self.lock()
            .steps
            .push((job_name.to_owned(), step_name.to_owned()));
    }

    /// Appends a history row (newer than every row before it).
    pub fn push_history(&self, row: AgentHistoryRow) {
        self.lock().history.push(row);
    }

    /// Marks a step as running now.
    pub fn set_running(&self, running: Vec<AgentRunning>) {
        self.lock().running = running;
    }

    /// What `DATEDIFF(minute, SYSUTCDATETIME(), SYSDATETIME())` answers, in both queries;
    /// changing it while the service runs is the server's clock changing (e.g. DST).
    pub fn set_offset_minutes(&self, minutes: i64) {
        self.lock().offset_minutes = minutes;
    }

    fn matching_steps<'a>(
        state: &'a State,
        step_name: &'a str,
        job: Option<&'a str>,
    ) -> impl Iterator<Item = &'a (String, String)> + 'a {
        state
            .steps
            .iter()
            .filter(move |(j, s)| s == step_name && job.is_none_or(|job| job == j))
    }

    fn history(&self, params: &[Value]) -> Response {
        let (depth, names, job, wanted, search) = match params {
            [Value::Int(depth), Value::String(data), Value::String(cube), job, wanted, Value::Int(search)] =>
            {
                let job = match job {
                    Value::String(job) => Some(job.as_str()),
                    Value::Null => None,
                    _ => return bad_params("agent-history", params),
                };
                let wanted = match wanted {
                    Value::Int(status) => Some(*status),
                    Value::Null => None,
                    _ => return bad_params("agent-history", params),
                };
                (*depth, [data.as_str(), cube.as_str()], job, wanted, *search)
            }
            _ => return bad_params("agent-history", params),
        };
        let depth = usize::try_from(depth.max(0)).unwrap_or(0);
        let search = usize::try_from(search.max(0)).unwrap_or(0);
        let is_wanted = |row: &AgentHistoryRow| {
            let status = i64::from(row.run_status);
            wanted.is_none_or(|wanted| status == wanted || (wanted == 0 && status == 3))
        };
        let state = self.lock();
        let mut rows = Vec::new();
        for (index, name) in names.iter().enumerate() {
            for (job_name, step_name) in Self::matching_steps(&state, name, job) {
                let newest: Vec<&AgentHistoryRow> = state
                    .history
                    .iter()
                    .rev()
                    .filter(|r| &r.job_name == job_name && &r.step_name == step_name)
                    .take(search)
                    .filter(|r| is_wanted(r))
                    .take(depth)
                    .collect();
                if newest.is_empty() {
                    rows.push(row(index, 0, None, None));
                }
                for history in newest {
                    rows.push(row(index, 0, Some(history), None));
                }
                for running in state
                    .running
                    .iter()
                    .filter(|r| &r.job_name == job_name && &r.step_name == step_name)
                {
                    rows.push(row(
                        index,
                        1,
                        running.previous.as_ref(),
                        running.job_started,
                    ));
                }
            }
        }
        let offset = ResultSet::new(
            vec![Column::new("OffsetMinutes", ColumnType::Int)],
            vec![vec![Value::Int(state.offset_minutes)]],
        );
        Response::Results(vec![
            offset,
            ResultSet::new(
                vec![
                    Column::new("Job", ColumnType::Int),
                    Column::new("Running", ColumnType::Int),
                    Column::nullable("RunStatus", ColumnType::Int),
                    Column::nullable("RunDate", ColumnType::Int),
                    Column::nullable("RunTime", ColumnType::Int),
                    Column::nullable("RunDuration", ColumnType::Int),
                    Column::nullable("Message", ColumnType::NVarChar(4000)),
                    Column::nullable("JobStarted", ColumnType::DateTime2(3)),
                ],
                rows,
            ),
        ])
    }

    fn readiness(&self, params: &[Value]) -> Response {
        let (data, cube, job) = match params {
            [Value::String(data), Value::String(cube), Value::String(job)] => {
                (data, cube, Some(job.as_str()))
            }
            [Value::String(data), Value::String(cube), Value::Null] => (data, cube, None),
            _ => return bad_params("agent-readiness", params),
        };
        let state = self.lock();
        let count = |name: &str| Self::matching_steps(&state, name, job).count() as i64;
        let (data, cube) = (count(data), count(cube));
        let mut steps = state.steps.clone();
        steps.sort_by(|a, b| a.0.cmp(&b.0));
        let steps = if data == 0 || cube == 0 {
            steps
                .into_iter()
                .map(|(job, step)| vec![Value::String(job), Value::String(step)])
                .collect()
        } else {
            Vec::new()
        };
        Response::Results(vec![
            ResultSet::new(
                vec![
                    Column::new("OffsetMinutes", ColumnType::Int),
                    Column::new("DataIntegrationSteps", ColumnType::Int),
                    Column::new("CubeProcessingSteps", ColumnType::Int),
                ],
                vec![vec![
                    Value::Int(state.offset_minutes),
                    Value::Int(data),
                    Value::Int(cube),
                ]],
            ),
            ResultSet::new(
                vec![
                    Column::new("JobName", ColumnType::NVarChar(128)),
                    Column::new("StepName", ColumnType::NVarChar(128)),
                ],
                steps,
            ),
        ])
    }
}

fn row(
    job: usize,
    running: i64,
    history: Option<&AgentHistoryRow>,
    job_started: Option<NaiveDateTime>,
) -> Vec<Value> {
    let int = |pick: fn(&AgentHistoryRow) -> i32| history.map_or(Value::Null, |h| pick(h).into());
    vec![
        Value::Int(job as i64),
        Value::Int(running),
        int(|h| h.run_status),
        int(|h| h.run_date),
        int(|h| h.run_time),
        int(|h| h.run_duration),
        history
            .and_then(|h| h.message.clone())
            .map_or(Value::Null, Value::String),
        job_started.map_or(Value::Null, Value::DateTime),
    ]
}

fn bad_params(query: &str, params: &[Value]) -> Response {
    Response::error(
        8144,
        format!("testkit: unexpected parameters for the {query} query: {params:?}"),
    )
}

impl Handler for AgentDb {
    fn handle(&self, request: &Request) -> Response {
        let sql = request.sql().unwrap_or_default();
        if sql.contains(AGENT_HISTORY_MARKER) {
            self.history(request.params())
        } else if sql.contains(AGENT_READINESS_MARKER) {
            self.readiness(request.params())
        } else if sql
            .trim()
            .trim_end_matches(';')
            .trim()
            .eq_ignore_ascii_case("SELECT 1")
        {
            Response::single(ResultSet::new(
                vec![Column::new("", ColumnType::Int)],
                vec![vec![Value::Int(1)]],
            ))
        } else {
            let short: String = sql.chars().take(200).collect();
            Response::error(
                2812,
                format!("testkit: unknown statement (no Agent emulation matches): {short}"),
            )
        }
    }
}
