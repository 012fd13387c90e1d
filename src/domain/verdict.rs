//! Each job judged once: OK, stale, failing or never succeeded, with how many of its last runs
//! failed. The status page, `check` and `/metrics` show this verdict; the alert rules in
//! `deploy/prometheus/alerts.yml` judge the same from `/metrics`, and `tests/alert_verdict.rs`
//! pins the two together on the same data.
use chrono::{DateTime, TimeDelta, Utc};

use super::{Freshness, IntegrationStatus, Job, JobStatus, Outcome, STATUS_DEPTH};

/// A job's state, worst first: what a monitor reports and the page leads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JobState {
    /// The newest recorded outcome is a failure.
    Failing,
    /// No success is recorded at all.
    NeverSucceeded,
    /// The newest success is older than the threshold.
    Stale,
    Ok,
}

/// One job's verdict at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobVerdict {
    pub job: Job,
    pub freshness: Freshness,
    /// The newest failure when it is newer than every success (`QoEJobFailing`). At the same
    /// instant the success wins.
    pub failing_since: Option<DateTime<Utc>>,
    /// How many of the last [`STATUS_DEPTH`] finished runs failed.
    pub failed_of_last: usize,
    /// How many finished runs that counts (at most [`STATUS_DEPTH`]).
    pub of_last: usize,
}

impl JobVerdict {
    pub fn judge(status: &JobStatus<'_>, now: DateTime<Utc>, stale_after: TimeDelta) -> Self {
        let freshness = Freshness::judge(status.successes.first().copied(), now, stale_after);
        let failing_since = status.failing_since();
        let last = outcomes(status);
        let of_last = last.len().min(STATUS_DEPTH);
        let failed_of_last = last[..of_last]
            .iter()
            .filter(|(_, outcome)| *outcome == Outcome::Failed)
            .count();
        JobVerdict {
            job: status.job,
            freshness,
            failing_since,
            failed_of_last,
            of_last,
        }
    }

    /// The worst that is true of the job: failing before never succeeded before stale.
    pub fn state(&self) -> JobState {
        match (self.failing_since, self.freshness) {
            (Some(_), _) => JobState::Failing,
            (None, Freshness::NeverSucceeded) => JobState::NeverSucceeded,
            (None, Freshness::Stale { .. }) => JobState::Stale,
            (None, Freshness::Fresh { .. }) => JobState::Ok,
        }
    }
}

impl JobStatus<'_> {
    /// The newest failure when it is newer than every success; at the same instant the
    /// success wins.
    pub fn failing_since(&self) -> Option<DateTime<Utc>> {
        let failure = *self.failures.first()?;
        match self.successes.first() {
            Some(success) if *success >= failure => None,
            _ => Some(failure),
        }
    }
}

/// Successes and failures merged, newest first; at the same instant the success first, as
/// [`JobVerdict::failing_since`] judges a tie.
pub fn outcomes(status: &JobStatus<'_>) -> Vec<(DateTime<Utc>, Outcome)> {
    let mut outcomes: Vec<(DateTime<Utc>, Outcome)> = status
        .successes
        .iter()
        .map(|time| (*time, Outcome::Succeeded))
        .chain(status.failures.iter().map(|time| (*time, Outcome::Failed)))
        .collect();
    outcomes.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    outcomes
}

impl IntegrationStatus {
    /// Both jobs judged at `now`, in [`Job::ALL`] order.
    pub fn verdicts(&self, now: DateTime<Utc>, stale_after: TimeDelta) -> [JobVerdict; 2] {
        self.jobs()
            .map(|status| JobVerdict::judge(&status, now, stale_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::utc;

    const NOW: &str = "2015-01-18 10:40:00";

    fn judge(successes: &[&str], failures: &[&str]) -> JobVerdict {
        let successes: Vec<_> = successes.iter().map(|time| utc(time)).collect();
        let failures: Vec<_> = failures.iter().map(|time| utc(time)).collect();
        let status = JobStatus {
            job: Job::CubeProcessing,
            successes: &successes,
            failures: &failures,
            start: None,
        };
        JobVerdict::judge(&status, utc(NOW), TimeDelta::minutes(30))
    }

    #[test]
    fn a_job_whose_newest_success_is_recent_and_newest_outcome_a_success_is_ok() {
        let verdict = judge(&["2015-01-18 10:30:00"], &["2015-01-18 10:15:00"]);

        assert_eq!(verdict.state(), JobState::Ok);
        assert_eq!((verdict.failed_of_last, verdict.of_last), (1, 2));
    }

    #[test]
    fn a_job_whose_newest_outcome_is_a_failure_is_failing_since_that_failure() {
        let verdict = judge(&["2015-01-18 10:10:00"], &["2015-01-18 10:25:00"]);

        assert_eq!(verdict.state(), JobState::Failing);
        assert_eq!(verdict.failing_since, Some(utc("2015-01-18 10:25:00")));
    }

    #[test]
    fn a_failure_and_a_success_at_the_same_instant_are_not_failing() {
        let verdict = judge(&["2015-01-18 10:25:00"], &["2015-01-18 10:25:00"]);

        assert_eq!(verdict.failing_since, None);
        assert_eq!(verdict.state(), JobState::Ok);
    }

    #[test]
    fn a_job_that_only_failed_is_failing_rather_than_never_succeeded() {
        let verdict = judge(&[], &["2015-01-18 10:25:00"]);

        assert_eq!(verdict.freshness, Freshness::NeverSucceeded);
        assert_eq!(verdict.state(), JobState::Failing);
    }

    #[test]
    fn a_job_with_no_outcome_at_all_never_succeeded() {
        assert_eq!(judge(&[], &[]).state(), JobState::NeverSucceeded);
    }

    #[test]
    fn a_job_whose_newest_success_is_older_than_the_threshold_is_stale() {
        let verdict = judge(&["2015-01-18 10:09:59"], &[]);

        assert_eq!(verdict.state(), JobState::Stale);
        assert_eq!(judge(&["2015-01-18 10:10:00"], &[]).state(), JobState::Ok);
    }

    #[test]
    fn only_the_last_five_runs_are_counted() {
        let successes: Vec<String> = (0..5).map(|m| format!("2015-01-18 10:0{m}:00")).collect();
        let failures: Vec<String> = (5..10).map(|m| format!("2015-01-18 10:0{m}:00")).collect();
        let successes: Vec<&str> = successes.iter().map(String::as_str).collect();
        let failures: Vec<&str> = failures.iter().map(String::as_str).collect();

        let verdict = judge(&successes, &failures);

        assert_eq!((verdict.failed_of_last, verdict.of_last), (5, 5));
        let none = judge(&[], &[]);
        assert_eq!((none.failed_of_last, none.of_last), (0, 0));
    }

    #[test]
    fn states_order_worst_first() {
        assert!(JobState::Failing < JobState::NeverSucceeded);
        assert!(JobState::NeverSucceeded < JobState::Stale);
        assert!(JobState::Stale < JobState::Ok);
    }
}
