//! Emulation of the QoE archive's `IntegrationLog` table for the service's two queries.
//!
//! The service marks its statements with SQL comments: `qoe:status` for the status query
//! (params `@P1` int per-category limit, `@P2..@P5` outcome categories, `@P6`, `@P7` start
//! categories) and `qoe:integration-log` for the log query (`@P1` int top, `@P2` category or NULL).

use crate::types::{Column, ColumnType, Handler, Request, Response, ResultSet, Value};
use chrono::NaiveDateTime;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Marker the status query's SQL text contains: the service's `db::STATUS_MARKER`, which
/// testkit cannot import (`tests/tds_store.rs` checks that the two agree, and the log's too).
pub const STATUS_MARKER: &str = "qoe:status";
/// Marker the log query's SQL text contains.
pub const LOG_MARKER: &str = "qoe:integration-log";

/// One `IntegrationLog` row; `time` is UTC as a naive timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// `LogCategory`, e.g. `DataIntegrationSucceeded`.
    pub category: String,
    /// `LogTime` (UTC).
    pub time: NaiveDateTime,
    /// `LogDescription`.
    pub description: Option<String>,
}

impl LogRow {
    /// A row from its parts.
    pub fn new(
        category: impl Into<String>,
        time: NaiveDateTime,
        description: Option<impl Into<String>>,
    ) -> Self {
        Self {
            category: category.into(),
            time,
            description: description.map(Into::into),
        }
    }
}

/// Parses `MM/dd/yyyy HH:mm:ss` (the CQD documentation's format) as a naive UTC time.
pub fn parse_doc_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%m/%d/%Y %H:%M:%S").ok()
}

/// The rows behind the CQD documentation's sample, by category, plus one older
/// `DataIntegrationSucceeded` row that the 5-row cut drops. The single source of the sample:
/// the API tests, the demo and `docker/demo-rows.sql` (checked by `tests/sql_scripts.rs`) use it.
/// The dropped row comes first, so a cut that takes rows in order instead of newest first shows.
pub const DOCUMENTATION_SAMPLE: &[(&str, &[&str])] = &[
    (
        "DataIntegrationSucceeded",
        &[
            "01/17/2015 14:30:00",
            "01/18/2015 10:30:13",
            "01/18/2015 10:28:29",
            "01/17/2015 15:15:17",
            "01/17/2015 15:00:17",
            "01/17/2015 14:45:13",
        ],
    ),
    (
        "CubeProcessingSucceeded",
        &[
            "01/17/2015 15:16:40",
            "01/17/2015 15:01:41",
            "01/17/2015 14:47:19",
            "01/17/2015 14:31:40",
            "01/17/2015 14:17:01",
        ],
    ),
    ("DataIntegrationFailed", &[]),
    (
        "CubeProcessingFailed",
        &[
            "01/18/2015 10:30:58",
            "01/18/2015 10:29:28",
            "01/17/2015 10:02:20",
            "01/15/2015 20:01:56",
            "01/15/2015 19:45:50",
        ],
    ),
    ("DataIntegrationStarted", &[]),
    ("CubeProcessingStarted", &["01/18/2015 10:30:16"]),
];

/// [`DOCUMENTATION_SAMPLE`] as rows, in its order.
///
/// `*Failed` rows carry the description `"<category> (sample)"`; the others have none.
pub fn documentation_sample_rows() -> Vec<LogRow> {
    let mut rows = Vec::new();
    for (category, times) in DOCUMENTATION_SAMPLE {
        for time in *times {
            let time = parse_doc_time(time).expect("the documentation sample times are valid");
            let description = category
                .ends_with("Failed")
                .then(|| format!("{category} (sample)"));
            rows.push(LogRow::new(*category, time, description));
        }
    }
    rows
}

/// Shared, mutable `IntegrationLog` contents answering the service's queries; clones share state.
#[derive(Debug, Clone, Default)]
pub struct IntegrationLogDb {
    table: Arc<Mutex<Table>>,
}

/// The rows, plus the order SQL Server's `(LogCategory, LogTime DESC, Id DESC)` index gives
/// them, so that an answer costs the rows it returns rather than a sort of the whole table
/// (the benchmarks load thousands of rows and would otherwise measure this server's sorting).
#[derive(Debug, Default)]
struct Table {
    /// Insertion order.
    rows: Vec<LogRow>,
    /// Indexes into `rows`, newest first; equal times keep insertion order.
    newest_first: Vec<usize>,
}

impl Table {
    fn set(&mut self, rows: Vec<LogRow>) {
        let mut newest_first: Vec<usize> = (0..rows.len()).collect();
        newest_first.sort_by_key(|&i| std::cmp::Reverse(rows[i].time));
        *self = Table { rows, newest_first };
    }

    fn push(&mut self, row: LogRow) {
        let rows = &self.rows;
        let at = self
            .newest_first
            .partition_point(|&i| rows[i].time >= row.time);
        self.newest_first.insert(at, self.rows.len());
        self.rows.push(row);
    }

    /// The rows of `category` (or all), newest first.
    fn newest<'a>(&'a self, category: Option<&'a str>) -> impl Iterator<Item = &'a LogRow> {
        self.newest_first
            .iter()
            .map(|&i| &self.rows[i])
            .filter(move |row| category.is_none_or(|c| row.category == c))
    }
}

impl IntegrationLogDb {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table holding [`documentation_sample_rows`].
    pub fn documentation_sample() -> Self {
        let db = Self::new();
        db.set_rows(documentation_sample_rows());
        db
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces all rows.
    pub fn set_rows(&self, rows: Vec<LogRow>) {
        self.lock().set(rows);
    }

    /// Appends one row.
    pub fn push(&self, row: LogRow) {
        self.lock().push(row);
    }

    /// A copy of all rows (insertion order).
    pub fn rows(&self) -> Vec<LogRow> {
        self.lock().rows.clone()
    }

    /// The newest `limit` rows of `category` (or of all), newest first, as SQL Server's index
    /// gives them; equal times in insertion order.
    pub fn newest(&self, category: Option<&str>, limit: usize) -> Vec<LogRow> {
        self.lock().newest(category).take(limit).cloned().collect()
    }

    fn status(&self, params: &[Value]) -> Response {
        let (limit, categories) = match params {
            [Value::Int(limit), rest @ ..] if rest.len() == 6 => (*limit, rest),
            _ => return bad_params("status", params),
        };
        let mut names = Vec::with_capacity(6);
        for p in categories {
            match p {
                Value::String(s) => names.push(s.as_str()),
                _ => return bad_params("status", params),
            }
        }
        let limit = usize::try_from(limit.max(0)).unwrap_or(0);
        let mut rows = Vec::new();
        for name in names {
            for r in self.newest(Some(name), limit) {
                rows.push(vec![Value::String(r.category), Value::DateTime(r.time)]);
            }
        }
        Response::single(ResultSet::new(
            vec![
                Column::new("LogCategory", ColumnType::NVarChar(64)),
                Column::new("LogTime", ColumnType::DateTime2(3)),
            ],
            rows,
        ))
    }

    fn log(&self, params: &[Value]) -> Response {
        let (top, category) = match params {
            [Value::Int(top), Value::String(c)] => (*top, Some(c.as_str())),
            [Value::Int(top), Value::Null] | [Value::Int(top)] => (*top, None),
            _ => return bad_params("integration-log", params),
        };
        let rows = self.newest(category, usize::try_from(top.max(0)).unwrap_or(0));
        Response::single(ResultSet::new(
            vec![
                Column::new("LogCategory", ColumnType::NVarChar(64)),
                Column::new("LogTime", ColumnType::DateTime2(3)),
                Column::nullable("LogDescription", ColumnType::NVarCharMax),
            ],
            rows.into_iter()
                .map(|r| {
                    vec![
                        Value::String(r.category),
                        Value::DateTime(r.time),
                        r.description.map_or(Value::Null, Value::String),
                    ]
                })
                .collect(),
        ))
    }
}

fn bad_params(query: &str, params: &[Value]) -> Response {
    Response::error(
        8144,
        format!("testkit: unexpected parameters for the {query} query: {params:?}"),
    )
}

fn is_select_one(sql: &str) -> bool {
    sql.trim()
        .trim_end_matches(';')
        .trim()
        .eq_ignore_ascii_case("SELECT 1")
}

fn select_one() -> Response {
    Response::single(ResultSet::new(
        vec![Column::new("", ColumnType::Int)],
        vec![vec![Value::Int(1)]],
    ))
}

impl Handler for IntegrationLogDb {
    fn handle(&self, request: &Request) -> Response {
        match request {
            Request::Batch { sql } if is_select_one(sql) => select_one(),
            Request::Rpc {
                sql: Some(sql),
                params,
                ..
            } => {
                if sql.contains(STATUS_MARKER) {
                    self.status(params)
                } else if sql.contains(LOG_MARKER) {
                    self.log(params)
                } else if params.is_empty() && is_select_one(sql) {
                    select_one()
                } else {
                    unknown(sql)
                }
            }
            other => unknown(other.sql().unwrap_or("<rpc>")),
        }
    }
}

fn unknown(sql: &str) -> Response {
    let short: String = sql.chars().take(200).collect();
    Response::error(
        2812,
        format!("testkit: unknown statement (no emulation matches): {short}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(category: &str, time: &str, description: &str) -> LogRow {
        let time = NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S").expect("time");
        LogRow::new(category, time, Some(description.to_owned()))
    }

    fn descriptions(rows: Vec<LogRow>) -> Vec<String> {
        rows.into_iter().filter_map(|r| r.description).collect()
    }

    #[test]
    fn newest_rows_come_first_and_equal_times_keep_insertion_order() {
        let db = IntegrationLogDb::new();
        db.set_rows(vec![
            row("CubeProcessingFailed", "2015-01-17 10:00:00", "old"),
            row("CubeProcessingFailed", "2015-01-18 10:00:00", "tie 1"),
            row(
                "DataIntegrationFailed",
                "2015-01-19 10:00:00",
                "other category",
            ),
            row("CubeProcessingFailed", "2015-01-18 10:00:00", "tie 2"),
        ]);
        db.push(row("CubeProcessingFailed", "2015-01-18 10:00:00", "tie 3"));
        db.push(row(
            "CubeProcessingFailed",
            "2015-01-17 12:00:00",
            "pushed between",
        ));

        assert_eq!(
            descriptions(db.newest(Some("CubeProcessingFailed"), 10)),
            ["tie 1", "tie 2", "tie 3", "pushed between", "old"]
        );
        assert_eq!(
            descriptions(db.newest(Some("CubeProcessingFailed"), 2)),
            ["tie 1", "tie 2"]
        );
        assert_eq!(descriptions(db.rows())[5], "pushed between");
    }
}
