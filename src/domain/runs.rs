//! Job runs: a start, and (once finished) an outcome and a finish time, so a duration.
//! Both sources end up here: the table source pairs its `…Started` entries with the outcome
//! that follows ([`pair_runs`]); the SQL Server Agent source decodes runs directly
//! (`domain::agent`) and derives the status entries from them ([`StatusRead::from_runs`]).
use chrono::{DateTime, TimeDelta, Utc};

use super::{CategoryTime, LogCategory, LogEntry};

/// How many finished runs of each job the status page's chart shows.
pub const CHART_DEPTH: usize = 20;

/// One of the two CQD jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    DataIntegration,
    CubeProcessing,
}

/// How a finished run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Job {
    pub const ALL: [Job; 2] = [Job::DataIntegration, Job::CubeProcessing];

    /// The label of `/metrics` series: `data_integration`, `cube_processing`.
    pub const fn metric_label(self) -> &'static str {
        match self {
            Job::DataIntegration => "data_integration",
            Job::CubeProcessing => "cube_processing",
        }
    }

    pub const fn started(self) -> LogCategory {
        match self {
            Job::DataIntegration => LogCategory::DataIntegrationStarted,
            Job::CubeProcessing => LogCategory::CubeProcessingStarted,
        }
    }

    pub const fn outcome(self, outcome: Outcome) -> LogCategory {
        match (self, outcome) {
            (Job::DataIntegration, Outcome::Succeeded) => LogCategory::DataIntegrationSucceeded,
            (Job::DataIntegration, Outcome::Failed) => LogCategory::DataIntegrationFailed,
            (Job::CubeProcessing, Outcome::Succeeded) => LogCategory::CubeProcessingSucceeded,
            (Job::CubeProcessing, Outcome::Failed) => LogCategory::CubeProcessingFailed,
        }
    }
}

/// What an entry of the log says about a run: its job and whether it starts or ends one.
pub(super) fn classify(category: LogCategory) -> (Job, Option<Outcome>) {
    match category {
        LogCategory::DataIntegrationStarted => (Job::DataIntegration, None),
        LogCategory::DataIntegrationSucceeded => (Job::DataIntegration, Some(Outcome::Succeeded)),
        LogCategory::DataIntegrationFailed => (Job::DataIntegration, Some(Outcome::Failed)),
        LogCategory::CubeProcessingStarted => (Job::CubeProcessing, None),
        LogCategory::CubeProcessingSucceeded => (Job::CubeProcessing, Some(Outcome::Succeeded)),
        LogCategory::CubeProcessingFailed => (Job::CubeProcessing, Some(Outcome::Failed)),
    }
}

/// The end of a finished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunEnd {
    pub outcome: Outcome,
    pub finished: DateTime<Utc>,
}

/// One run of a job; `end` is `None` while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub job: Job,
    pub started: DateTime<Utc>,
    pub end: Option<RunEnd>,
    /// What the run reported (the Agent step's `message`), shown with its outcome entry.
    pub message: Option<String>,
}

impl JobRun {
    /// How long a finished run took; a finish stamped before its start counts as zero.
    pub fn duration(&self) -> Option<TimeDelta> {
        self.end
            .map(|end| (end.finished - self.started).max(TimeDelta::zero()))
    }

    /// The run as integration log entries: its start, and its outcome with its message.
    pub fn log_entries(&self) -> impl Iterator<Item = LogEntry> + '_ {
        let start = LogEntry {
            category: self.job.started(),
            time: self.started,
            description: None,
        };
        let end = self.end.map(|end| LogEntry {
            category: self.job.outcome(end.outcome),
            time: end.finished,
            description: self.message.clone(),
        });
        std::iter::once(start).chain(end)
    }
}

/// One Status read: what the status document needs, and the runs whose durations are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusRead {
    pub entries: Vec<CategoryTime>,
    /// Finished runs, any order.
    pub runs: Vec<JobRun>,
    /// A failing job's newest failure with its `LogDescription`, read from the table source's
    /// log for people (`store::with_failure_messages`); the Agent source's are on its runs.
    pub failures: Vec<LogEntry>,
}

impl StatusRead {
    /// The table source: entries as read, runs paired from them.
    pub fn from_entries(entries: Vec<CategoryTime>) -> Self {
        let runs = pair_runs(&entries);
        StatusRead {
            entries,
            runs,
            failures: Vec::new(),
        }
    }

    /// The Agent source: every run gives its start, every finished run its outcome.
    pub fn from_runs(runs: Vec<JobRun>) -> Self {
        let entries = runs
            .iter()
            .flat_map(JobRun::log_entries)
            .map(|entry| CategoryTime {
                category: entry.category,
                time: entry.time,
            })
            .collect();
        let runs = runs.into_iter().filter(|run| run.end.is_some()).collect();
        StatusRead {
            entries,
            runs,
            failures: Vec::new(),
        }
    }

    /// What the failure of `job` at `at` reported: the table's `LogDescription` or the Agent
    /// step's message, when the source recorded one.
    pub fn failure_message(&self, job: Job, at: DateTime<Utc>) -> Option<&str> {
        let failed = job.outcome(Outcome::Failed);
        let from_log = self
            .failures
            .iter()
            .find(|entry| entry.category == failed && entry.time == at)
            .and_then(|entry| entry.description.as_deref());
        let from_runs = || {
            self.runs
                .iter()
                .find(|run| {
                    run.job == job
                        && run.end
                            == Some(RunEnd {
                                outcome: Outcome::Failed,
                                finished: at,
                            })
                })
                .and_then(|run| run.message.as_deref())
        };
        from_log
            .or_else(from_runs)
            .filter(|message| !message.trim().is_empty())
    }

    /// The newest finished runs of `job` (at most [`CHART_DEPTH`]), oldest first.
    pub fn recent_runs(&self, job: Job) -> Vec<&JobRun> {
        let mut runs: Vec<&JobRun> = self.runs.iter().filter(|run| run.job == job).collect();
        runs.sort_by_key(|run| std::cmp::Reverse(run.started));
        runs.truncate(CHART_DEPTH);
        runs.reverse();
        runs
    }

    /// The duration of `job`'s newest finished run.
    pub fn last_run_duration(&self, job: Job) -> Option<TimeDelta> {
        self.recent_runs(job).last().and_then(|run| run.duration())
    }
}

/// Pairs each `…Started` entry with the next `…Succeeded`/`…Failed` entry of its job, if that
/// comes before the job's next start. A start with no such outcome (still running, or the
/// outcome was never written) and an outcome with no start before it make no run.
pub fn pair_runs(entries: &[CategoryTime]) -> Vec<JobRun> {
    let mut sorted: Vec<(DateTime<Utc>, bool, Job, Option<Outcome>)> = entries
        .iter()
        .map(|entry| {
            let (job, outcome) = classify(entry.category);
            // At one instant a start sorts before an outcome: a zero-length run.
            (entry.time, outcome.is_some(), job, outcome)
        })
        .collect();
    sorted.sort_by_key(|(time, is_outcome, job, _)| (*job, *time, *is_outcome));
    let mut runs = Vec::new();
    let mut open: Option<(Job, DateTime<Utc>)> = None;
    for (time, _, job, outcome) in sorted {
        match (outcome, open) {
            (None, _) => open = Some((job, time)),
            (Some(outcome), Some((open_job, started))) if open_job == job => {
                runs.push(JobRun {
                    job,
                    started,
                    end: Some(RunEnd {
                        outcome,
                        finished: time,
                    }),
                    message: None,
                });
                open = None;
            }
            (Some(_), _) => {}
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{entry, utc};

    #[test]
    fn a_start_is_paired_with_the_next_outcome_of_its_job() {
        let runs = pair_runs(&[
            entry(LogCategory::DataIntegrationStarted, "2015-01-18 10:00:00"),
            entry(LogCategory::CubeProcessingFailed, "2015-01-18 10:01:00"),
            entry(LogCategory::DataIntegrationSucceeded, "2015-01-18 10:03:30"),
            entry(LogCategory::DataIntegrationFailed, "2015-01-18 10:05:00"),
        ]);

        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].job, Job::DataIntegration);
        assert_eq!(runs[0].duration(), Some(TimeDelta::seconds(210)));
        assert_eq!(runs[0].end.map(|end| end.outcome), Some(Outcome::Succeeded));
    }

    #[test]
    fn a_start_followed_by_another_start_made_no_finished_run() {
        let runs = pair_runs(&[
            entry(LogCategory::CubeProcessingStarted, "2015-01-18 10:00:00"),
            entry(LogCategory::CubeProcessingStarted, "2015-01-18 10:15:00"),
            entry(LogCategory::CubeProcessingFailed, "2015-01-18 10:16:00"),
        ]);

        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].started, utc("2015-01-18 10:15:00"));
        assert_eq!(runs[0].duration(), Some(TimeDelta::minutes(1)));
    }

    #[test]
    fn a_run_still_in_progress_has_no_duration() {
        let runs = pair_runs(&[
            entry(LogCategory::DataIntegrationSucceeded, "2015-01-18 09:59:00"),
            entry(LogCategory::DataIntegrationStarted, "2015-01-18 10:00:00"),
        ]);

        assert!(runs.is_empty(), "{runs:?}");
    }

    #[test]
    fn the_chart_lists_the_newest_runs_oldest_first() {
        let runs = (0..30)
            .map(|minute| JobRun {
                job: Job::CubeProcessing,
                started: utc("2015-01-18 10:00:00") + TimeDelta::minutes(minute),
                end: Some(RunEnd {
                    outcome: Outcome::Succeeded,
                    finished: utc("2015-01-18 10:00:30") + TimeDelta::minutes(minute),
                }),
                message: None,
            })
            .collect();
        let read = StatusRead {
            runs,
            ..StatusRead::default()
        };

        let recent = read.recent_runs(Job::CubeProcessing);

        assert_eq!(recent.len(), CHART_DEPTH);
        assert_eq!(recent[0].started, utc("2015-01-18 10:10:00"));
        assert_eq!(recent[CHART_DEPTH - 1].started, utc("2015-01-18 10:29:00"));
        assert_eq!(
            read.last_run_duration(Job::CubeProcessing),
            Some(TimeDelta::seconds(30))
        );
        assert_eq!(read.last_run_duration(Job::DataIntegration), None);
    }

    #[test]
    fn runs_give_a_start_entry_and_an_outcome_entry_with_the_message() {
        let run = JobRun {
            job: Job::CubeProcessing,
            started: utc("2015-01-18 10:00:00"),
            end: Some(RunEnd {
                outcome: Outcome::Failed,
                finished: utc("2015-01-18 10:02:00"),
            }),
            message: Some("The cube is locked".into()),
        };

        let entries: Vec<LogEntry> = run.log_entries().collect();

        assert_eq!(entries[0].category, LogCategory::CubeProcessingStarted);
        assert_eq!(entries[0].description, None);
        assert_eq!(entries[1].category, LogCategory::CubeProcessingFailed);
        assert_eq!(entries[1].time, utc("2015-01-18 10:02:00"));
        assert_eq!(
            entries[1].description.as_deref(),
            Some("The cube is locked")
        );
    }

    #[test]
    fn a_failures_message_comes_from_the_tables_entry_or_the_agents_run_and_blank_is_none() {
        let failed_at = utc("2015-01-18 10:02:00");
        let run = |message: &str| JobRun {
            job: Job::CubeProcessing,
            started: utc("2015-01-18 10:00:00"),
            end: Some(RunEnd {
                outcome: Outcome::Failed,
                finished: failed_at,
            }),
            message: Some(message.to_owned()),
        };
        let agent = StatusRead::from_runs(vec![run("The cube is locked")]);
        let table = StatusRead {
            failures: vec![LogEntry {
                category: LogCategory::CubeProcessingFailed,
                time: failed_at,
                description: Some("The source refused".into()),
            }],
            ..StatusRead::default()
        };

        assert_eq!(
            agent.failure_message(Job::CubeProcessing, failed_at),
            Some("The cube is locked")
        );
        assert_eq!(
            table.failure_message(Job::CubeProcessing, failed_at),
            Some("The source refused")
        );
        assert_eq!(agent.failure_message(Job::DataIntegration, failed_at), None);
        assert_eq!(
            agent.failure_message(Job::CubeProcessing, utc("2015-01-18 10:03:00")),
            None
        );
        let blank = StatusRead::from_runs(vec![run("  ")]);
        assert_eq!(blank.failure_message(Job::CubeProcessing, failed_at), None);
    }
}
