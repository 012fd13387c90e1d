//! Each job's part of the status, paired once here for the status page and `/metrics`.
use chrono::{DateTime, Utc};

use super::{CategoryTime, IntegrationStatus, Job, StatusRead};

/// One job's newest successes and failures (newest first) and its newest start.
#[derive(Debug, Clone, Copy)]
pub struct JobStatus<'a> {
    pub job: Job,
    pub successes: &'a [DateTime<Utc>],
    pub failures: &'a [DateTime<Utc>],
    pub start: Option<DateTime<Utc>>,
}

impl IntegrationStatus {
    /// The two jobs, in [`Job::ALL`] order.
    pub fn jobs(&self) -> [JobStatus<'_>; 2] {
        [
            JobStatus {
                job: Job::DataIntegration,
                successes: &self.last_success_integrations,
                failures: &self.last_failed_integrations,
                start: self.last_data_integration_start,
            },
            JobStatus {
                job: Job::CubeProcessing,
                successes: &self.last_success_cube_processings,
                failures: &self.last_failed_cube_processings,
                start: self.last_cube_processing_start,
            },
        ]
    }
}

/// What a read learned of the two jobs, from the same data as the Status operation
/// (`/metrics` reports it).
#[derive(Debug, Clone, PartialEq)]
pub enum JobsRead {
    /// The Status operation is disabled: nothing is read, nothing reported.
    NotRead,
    /// The database could not answer, for `reason` (a metric label: `database_unreachable`, …).
    Unavailable { reason: &'static str },
    Known {
        now: DateTime<Utc>,
        status: IntegrationStatus,
        /// Each job's newest finished run's duration, in seconds, where one is known.
        last_run_seconds: Vec<(Job, f64)>,
    },
}

impl JobsRead {
    pub fn from_entries(entries: Vec<CategoryTime>, now: DateTime<Utc>) -> Self {
        Self::from_read(&StatusRead::from_entries(entries), now)
    }

    pub fn from_read(read: &StatusRead, now: DateTime<Utc>) -> Self {
        let last_run_seconds = Job::ALL
            .into_iter()
            .filter_map(|job| {
                read.last_run_duration(job)
                    .map(|duration| (job, duration.num_milliseconds() as f64 / 1000.0))
            })
            .collect();
        JobsRead::Known {
            now,
            status: IntegrationStatus::from_entries(read.entries.iter().copied()),
            last_run_seconds,
        }
    }
}
