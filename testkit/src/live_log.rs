//! Integration logs like a live system's, placed relative to a given `now`: the demo shows them
//! (`cargo run --example demo -- --scenario …`) and the browser test renders them. The CQD
//! documentation sample stays as it is (`integration_log::DOCUMENTATION_SAMPLE`): contract
//! tests compare it byte for byte, and its times are from 2015.
use chrono::{NaiveDateTime, TimeDelta};

use crate::integration_log::LogRow;

/// What the log tells about the two jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Both jobs run every 15 minutes and succeed.
    Healthy,
    /// Cube processing's newest run failed, and one of the four before it; integration is fine.
    FailingCube,
    /// Cube processing stopped three hours ago; integration is fine.
    StaleCube,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::Healthy,
        Scenario::FailingCube,
        Scenario::StaleCube,
    ];

    /// `healthy`, `failing-cube`, `stale-cube`: the demo's `--scenario` values.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::FailingCube => "failing-cube",
            Scenario::StaleCube => "stale-cube",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How many runs of each job the log holds: more than the status page's chart shows.
const RUNS: i64 = 24;
/// How often each job starts.
const CADENCE_MINUTES: i64 = 15;

/// `Started` rows paired with their outcomes, newest run ending about a minute before `now`:
/// integration takes 2 to 3 minutes, cube processing a minute after it.
pub fn live_log(now: NaiveDateTime, scenario: Scenario) -> Vec<LogRow> {
    let mut rows = Vec::new();
    for run in 0..RUNS {
        let started = now - TimeDelta::minutes(4 + CADENCE_MINUTES * run);
        let integrated = started + TimeDelta::seconds(120 + 20 * (run % 3));
        push_run(&mut rows, "DataIntegration", started, integrated, None);
        let cube_started = integrated + TimeDelta::seconds(10);
        let cube_finished = cube_started + TimeDelta::seconds(50 + 15 * (run % 2));
        let cube_failure = match scenario {
            Scenario::Healthy => None,
            Scenario::FailingCube if [0, 2].contains(&run) => {
                Some("Cube processing failed: the cube's data source refused the connection")
            }
            Scenario::FailingCube => None,
            Scenario::StaleCube if run * CADENCE_MINUTES < 180 => continue,
            Scenario::StaleCube => None,
        };
        push_run(
            &mut rows,
            "CubeProcessing",
            cube_started,
            cube_finished,
            cube_failure,
        );
    }
    rows
}

fn push_run(
    rows: &mut Vec<LogRow>,
    job: &str,
    started: NaiveDateTime,
    finished: NaiveDateTime,
    failure: Option<&str>,
) {
    rows.push(LogRow::new(
        format!("{job}Started"),
        started,
        None::<String>,
    ));
    rows.push(match failure {
        None => LogRow::new(format!("{job}Succeeded"), finished, None::<String>),
        Some(message) => LogRow::new(format!("{job}Failed"), finished, Some(message)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        crate::integration_log::parse_doc_time("12/06/2026 10:00:00").expect("a time")
    }

    fn newest(rows: &[LogRow], category: &str) -> Option<NaiveDateTime> {
        rows.iter()
            .filter(|row| row.category == category)
            .map(|row| row.time)
            .max()
    }

    #[test]
    fn every_run_is_a_start_before_its_outcome_and_nothing_is_in_the_future() {
        for scenario in Scenario::ALL {
            let rows = live_log(now(), scenario);
            for pair in rows.chunks(2) {
                assert!(pair[0].category.ends_with("Started"), "{scenario:?}");
                assert!(pair[0].time < pair[1].time, "{scenario:?}");
                assert!(pair[1].time < now(), "{scenario:?}");
            }
        }
    }

    #[test]
    fn the_scenarios_say_what_their_names_say() {
        let healthy = live_log(now(), Scenario::Healthy);
        assert!(newest(&healthy, "CubeProcessingFailed").is_none());

        let failing = live_log(now(), Scenario::FailingCube);
        assert!(
            newest(&failing, "CubeProcessingFailed") > newest(&failing, "CubeProcessingSucceeded")
        );

        let stale = live_log(now(), Scenario::StaleCube);
        let cube_age = now() - newest(&stale, "CubeProcessingSucceeded").expect("a success");
        assert!(cube_age > TimeDelta::hours(3), "{cube_age}");
        assert!(
            now() - newest(&stale, "DataIntegrationSucceeded").expect("a success")
                < TimeDelta::minutes(5)
        );
    }

    #[test]
    fn scenario_names_read_back() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::from_name(scenario.name()), Some(scenario));
        }
        assert_eq!(Scenario::from_name("broken"), None);
    }
}
