//! A run still going: the job's newest start with no outcome of the job since. `/metrics`
//! reports how long it has been going, so an alert can tell a run that hangs (or a job that
//! stopped without writing its outcome) from one that is merely slow.
use chrono::{DateTime, TimeDelta, Utc};

use super::JobStatus;

impl JobStatus<'_> {
    /// The start of the run in progress, if the newest start is newer than the job's newest
    /// success and newest failure. An outcome at the same instant as the start ends it, as
    /// [`pair_runs`](super::pair_runs) pairs them.
    pub fn run_in_progress_since(&self) -> Option<DateTime<Utc>> {
        let start = self.start?;
        let newest_outcome = self.successes.first().max(self.failures.first());
        match newest_outcome {
            Some(outcome) if *outcome >= start => None,
            _ => Some(start),
        }
    }

    /// How long the run in progress has been going at `now`; a start stamped after `now`
    /// (clocks apart) counts as zero.
    pub fn run_in_progress_for(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        self.run_in_progress_since()
            .map(|start| (now - start).max(TimeDelta::zero()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use crate::domain::test_support::{entry, utc};
    use crate::domain::{IntegrationStatus, Job, JobStatus, LogCategory};

    fn cube_processing(status: &IntegrationStatus) -> JobStatus<'_> {
        let [_, cube] = status.jobs();
        assert_eq!(cube.job, Job::CubeProcessing);
        cube
    }

    #[test]
    fn a_start_newer_than_every_outcome_is_a_run_in_progress() {
        let status = IntegrationStatus::from_entries([
            entry(LogCategory::CubeProcessingSucceeded, "2015-01-18 09:04:00"),
            entry(LogCategory::CubeProcessingFailed, "2015-01-18 09:30:00"),
            entry(LogCategory::CubeProcessingStarted, "2015-01-18 10:00:00"),
        ]);

        let running = cube_processing(&status).run_in_progress_for(utc("2015-01-18 10:12:30"));

        assert_eq!(running, Some(TimeDelta::seconds(750)));
    }

    #[test]
    fn an_outcome_at_or_after_the_start_ends_the_run() {
        for (outcome, at, why) in [
            (
                LogCategory::CubeProcessingSucceeded,
                "2015-01-18 10:04:00",
                "a success after it",
            ),
            (
                LogCategory::CubeProcessingFailed,
                "2015-01-18 10:04:00",
                "a failure after it",
            ),
            (
                LogCategory::CubeProcessingSucceeded,
                "2015-01-18 10:00:00",
                "an outcome at its instant",
            ),
        ] {
            let status = IntegrationStatus::from_entries([
                entry(LogCategory::CubeProcessingStarted, "2015-01-18 10:00:00"),
                entry(outcome, at),
            ]);

            assert_eq!(
                cube_processing(&status).run_in_progress_since(),
                None,
                "a start with {why} is not in progress"
            );
        }
    }

    #[test]
    fn a_first_run_with_no_outcome_yet_is_in_progress() {
        let status = IntegrationStatus::from_entries([entry(
            LogCategory::CubeProcessingStarted,
            "2015-01-18 10:00:00",
        )]);

        assert_eq!(
            cube_processing(&status).run_in_progress_since(),
            Some(utc("2015-01-18 10:00:00"))
        );
    }

    #[test]
    fn a_job_with_no_start_has_no_run_in_progress() {
        let status = IntegrationStatus::from_entries([entry(
            LogCategory::CubeProcessingFailed,
            "2015-01-18 10:00:00",
        )]);

        assert_eq!(cube_processing(&status).run_in_progress_since(), None);
    }

    #[test]
    fn the_other_jobs_outcome_does_not_end_a_run() {
        let status = IntegrationStatus::from_entries([
            entry(LogCategory::CubeProcessingStarted, "2015-01-18 10:00:00"),
            entry(LogCategory::DataIntegrationSucceeded, "2015-01-18 10:05:00"),
        ]);

        assert!(cube_processing(&status).run_in_progress_since().is_some());
    }

    #[test]
    fn a_start_stamped_after_now_has_been_running_for_zero_seconds() {
        let status = IntegrationStatus::from_entries([entry(
            LogCategory::CubeProcessingStarted,
            "2015-01-18 10:00:30",
        )]);

        let running = cube_processing(&status).run_in_progress_for(utc("2015-01-18 10:00:00"));

        assert_eq!(running, Some(TimeDelta::zero()));
    }
}
