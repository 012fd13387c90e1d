pub mod agent;
mod category;
mod in_progress;
mod jobs;
mod log;
mod runs;
mod status;
mod verdict;

pub use category::{LogCategory, UnknownCategory};
pub use jobs::{JobStatus, JobsRead};
pub use log::{
    log_timestamp, LogEntry, LogEntryDocument, LogQuery, LogQueryError, DEFAULT_TOP, MAX_TOP,
};
pub use runs::{pair_runs, Job, JobRun, Outcome, RunEnd, StatusRead, CHART_DEPTH};
pub use status::{
    cqd_timestamp, CategoryTime, Freshness, IntegrationStatus, StatusDocument, STATUS_DEPTH,
};
pub use verdict::{outcomes, JobState, JobVerdict};

/// Whether SQL Server's date and time types can hold `time` (years 1 to 9999): a value
/// outside did not come from SQL Server's data, and is an unexpected result rather than a date
/// to serve (a `datetime2` decoded past 9999 prints as `+45935`).
pub fn within_sql_server_range(time: chrono::NaiveDateTime) -> bool {
    (1..=9999).contains(&chrono::Datelike::year(&time))
}

/// Test helpers shared by the unit tests of the domain and its renderings.
#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, NaiveDateTime, Utc};

    use super::{CategoryTime, LogCategory};

    /// `2015-01-18 10:30:13` or `2015-01-18 10:30:13.999`, read as UTC.
    pub fn utc(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
            .and_utc()
    }

    /// An entry of `category` at `text` (UTC, as [`utc`] reads it).
    pub fn entry(category: LogCategory, text: &str) -> CategoryTime {
        CategoryTime {
            category,
            time: utc(text),
        }
    }
}
