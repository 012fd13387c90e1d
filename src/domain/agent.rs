//! SQL Server Agent job history, decoded: `msdb.dbo.sysjobhistory` keeps a step's start as two
//! integers in the server's local time (`run_date` `yyyymmdd`, `run_time` `hhmmss`) and its
//! duration as an `hhmmss` integer. This module turns them into instants and runs.
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::runs::classify;
use super::{within_sql_server_range, Job, JobRun, LogCategory, Outcome, RunEnd};

/// `run_status` values of `sysjobhistory`.
const FAILED: i32 = 0;
const SUCCEEDED: i32 = 1;
const RETRY: i32 = 2;
const CANCELLED: i32 = 3;
const IN_PROGRESS: i32 = 4;

/// The `run_status` of the history rows that hold `category`'s entries when only some rows do
/// (every row holds a start): the history query's outcome filter, in which `0` stands for
/// failed and cancelled alike.
pub fn run_status_holding(category: LogCategory) -> Option<i32> {
    match classify(category).1? {
        Outcome::Succeeded => Some(SUCCEEDED),
        Outcome::Failed => Some(FAILED),
    }
}

/// An Agent value that cannot be what `msdb` documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentValueError {
    #[error("run_date {0} is not a yyyymmdd date")]
    Date(i32),
    #[error("run_time {0} is not an hhmmss time")]
    Time(i32),
    #[error("run_duration {0} is not an hhmmss duration")]
    Duration(i32),
    #[error("run_status {0} is not one SQL Server Agent writes")]
    Status(i32),
    #[error("a run that ends at {0} UTC, past what SQL Server's dates hold")]
    FinishOutOfRange(NaiveDateTime),
    #[error("start_execution_date {0} is past what SQL Server's dates hold")]
    JobStartOutOfRange(NaiveDateTime),
}

/// `20150118`, `103013` → 2015-01-18 10:30:13 (a wall-clock time, no zone).
pub fn agent_date_time(run_date: i32, run_time: i32) -> Result<NaiveDateTime, AgentValueError> {
    let date = NaiveDate::from_ymd_opt(run_date / 10_000, (run_date / 100 % 100) as u32, {
        (run_date % 100) as u32
    })
    .filter(|date| run_date > 0 && within_sql_server_range(date.and_time(NaiveTime::MIN)))
    .ok_or(AgentValueError::Date(run_date))?;
    let time = u32::try_from(run_time)
        .ok()
        .and_then(|t| NaiveTime::from_hms_opt(t / 10_000, t / 100 % 100, t % 100))
        .ok_or(AgentValueError::Time(run_time))?;
    Ok(date.and_time(time))
}

/// `10203` → 1 h 2 min 3 s. Hours may exceed 99 (`1000000` is 100 h).
pub fn agent_duration(run_duration: i32) -> Result<TimeDelta, AgentValueError> {
    let error = AgentValueError::Duration(run_duration);
    let value = i64::from(run_duration);
    let (hours, minutes, seconds) = (value / 10_000, value / 100 % 100, value % 100);
    if value < 0 || minutes >= 60 || seconds >= 60 {
        return Err(error);
    }
    Ok(TimeDelta::seconds(hours * 3600 + minutes * 60 + seconds))
}

/// The instant a wall-clock time of `zone` names. In the hour that repeats when clocks go back,
/// the first occurrence (still daylight time) is taken; a time in the hour skipped when clocks
/// go forward is read with the offset in force before the change.
pub fn local_to_utc(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(time) => time.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let before = zone
                .offset_from_utc_datetime(&(local - TimeDelta::days(1)))
                .fix()
                .local_minus_utc();
            (local - TimeDelta::seconds(i64::from(before))).and_utc()
        }
    }
}

/// What a Status read and `/readyz` say while the SQL Server's clock disagrees with
/// `integration_log.sql_agent.server_time_zone`: every time read would be shifted.
pub const SERVER_TIME_ZONE_MISMATCH: &str =
    "SQL Server's clock disagrees with setting `integration_log.sql_agent.server_time_zone`";

/// The configured zone's offset differs from the server clock's: the history's local times
/// cannot be read as that zone's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{SERVER_TIME_ZONE_MISMATCH}: {}", self.offsets_and_fix())]
pub struct ZoneMismatch {
    pub zone: Tz,
    pub expected_minutes: i32,
    pub server_minutes: i32,
}

impl ZoneMismatch {
    /// Both offsets and what to set: `it is `Europe/Moscow`, UTC+03:00 now, but SQL Server's
    /// clock is UTC-05:00: set it to the SQL Server machine's time zone`.
    pub fn offsets_and_fix(&self) -> String {
        format!(
            "it is `{}`, {} now, but SQL Server's clock is {}: set it to the SQL Server \
             machine's time zone",
            self.zone.name(),
            utc_offset(self.expected_minutes),
            utc_offset(self.server_minutes)
        )
    }
}

/// Compares the server clock's offset from UTC (`DATEDIFF(minute, SYSUTCDATETIME(),
/// SYSDATETIME())`) with `zone`'s at `now`. DATEDIFF counts minute boundaries between two
/// readings of the clock, so one minute either way agrees.
pub fn check_server_offset(
    zone: Tz,
    server_minutes: i32,
    now: DateTime<Utc>,
) -> Result<(), ZoneMismatch> {
    let expected_minutes = zone
        .offset_from_utc_datetime(&now.naive_utc())
        .fix()
        .local_minus_utc()
        / 60;
    if (server_minutes - expected_minutes).abs() > 1 {
        return Err(ZoneMismatch {
            zone,
            expected_minutes,
            server_minutes,
        });
    }
    Ok(())
}

/// `UTC+03:00`, `UTC-04:30`.
pub fn utc_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.abs();
    format!("UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `sysjobhistory`'s columns for one step row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub run_status: i32,
    pub run_date: i32,
    pub run_time: i32,
    pub run_duration: i32,
    pub message: Option<String>,
}

/// One row of the Agent history query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRow {
    /// A configured step exists; `history` is `None` when it has never run.
    Step {
        job: Job,
        history: Option<HistoryRow>,
    },
    /// The step is running now in the current Agent session. It started when the step before
    /// it (`previous`: its newest history row) finished or, when it is the job's first step,
    /// when the job did (`job_started`, local time).
    Running {
        job: Job,
        previous: Option<HistoryRow>,
        job_started: Option<NaiveDateTime>,
    },
}

/// What the Agent history says about both jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentHistory {
    /// Finished runs and runs in progress, any order.
    pub runs: Vec<JobRun>,
    /// Jobs whose configured step name matched no step.
    pub missing: Vec<Job>,
}

/// When a step row's run started and finished, in UTC.
fn start_and_finish(
    row: &HistoryRow,
    zone: Tz,
) -> Result<(DateTime<Utc>, DateTime<Utc>), AgentValueError> {
    let started = local_to_utc(agent_date_time(row.run_date, row.run_time)?, zone);
    let finished = started + agent_duration(row.run_duration)?;
    if !within_sql_server_range(finished.naive_utc()) {
        return Err(AgentValueError::FinishOutOfRange(finished.naive_utc()));
    }
    Ok((started, finished))
}

/// Decodes rows into runs. Outcomes: 1 succeeded; 0 failed and 3 cancelled both count as
/// failed; 2 (retry) is an attempt that will be repeated, not an outcome, and is skipped;
/// 4 (in progress) is a start without an end. Finish = start + duration, so a run that crosses
/// midnight or a daylight-saving change ends at the right instant.
pub fn decode_history(rows: Vec<AgentRow>, zone: Tz) -> Result<AgentHistory, AgentValueError> {
    let mut history = AgentHistory::default();
    let mut present = Vec::new();
    for row in rows {
        match row {
            AgentRow::Step { job, history: row } => {
                present.push(job);
                let Some(row) = row else { continue };
                let outcome = match row.run_status {
                    SUCCEEDED => Some(Outcome::Succeeded),
                    FAILED | CANCELLED => Some(Outcome::Failed),
                    IN_PROGRESS => None,
                    RETRY => continue,
                    other => return Err(AgentValueError::Status(other)),
                };
                let (started, finished) = start_and_finish(&row, zone)?;
                history.runs.push(JobRun {
                    job,
                    started,
                    end: outcome.map(|outcome| RunEnd { outcome, finished }),
                    message: row.message,
                });
            }
            AgentRow::Running {
                job,
                previous,
                job_started,
            } => {
                present.push(job);
                let started = match (previous, job_started) {
                    (Some(previous), _) => Some(start_and_finish(&previous, zone)?.1),
                    (None, Some(local)) if !within_sql_server_range(local) => {
                        return Err(AgentValueError::JobStartOutOfRange(local))
                    }
                    (None, Some(local)) => Some(local_to_utc(local, zone)),
                    (None, None) => None,
                };
                if let Some(started) = started {
                    history.runs.push(JobRun {
                        job,
                        started,
                        end: None,
                        message: None,
                    });
                }
            }
        }
    }
    history.missing = Job::ALL
        .into_iter()
        .filter(|job| !present.contains(job))
        .collect();
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_found_by_their_run_status_and_starts_in_every_row() {
        use LogCategory::*;
        let filters = LogCategory::ALL.map(|category| (category, run_status_holding(category)));

        assert_eq!(
            filters,
            [
                (DataIntegrationStarted, None),
                (DataIntegrationSucceeded, Some(SUCCEEDED)),
                (DataIntegrationFailed, Some(FAILED)),
                (CubeProcessingStarted, None),
                (CubeProcessingSucceeded, Some(SUCCEEDED)),
                (CubeProcessingFailed, Some(FAILED)),
            ]
        );
    }
    use crate::domain::test_support::utc;
    use crate::domain::{IntegrationStatus, StatusRead};

    fn naive(text: &str) -> NaiveDateTime {
        utc(text).naive_utc()
    }

    fn step(
        job: Job,
        run_status: i32,
        run_date: i32,
        run_time: i32,
        run_duration: i32,
    ) -> AgentRow {
        AgentRow::Step {
            job,
            history: Some(HistoryRow {
                run_status,
                run_date,
                run_time,
                run_duration,
                message: Some(format!("status {run_status}")),
            }),
        }
    }

    fn decode(rows: Vec<AgentRow>, zone: Tz) -> AgentHistory {
        decode_history(rows, zone).expect("decodable rows")
    }

    #[test]
    fn integer_dates_and_times_decode_to_a_wall_clock_time() {
        assert_eq!(
            agent_date_time(20150118, 103013),
            Ok(naive("2015-01-18 10:30:13"))
        );
        assert_eq!(
            agent_date_time(20151231, 0),
            Ok(naive("2015-12-31 00:00:00"))
        );
        assert_eq!(
            agent_date_time(20150118, 5),
            Ok(naive("2015-01-18 00:00:05"))
        );
    }

    #[test]
    fn impossible_dates_and_times_are_refused() {
        assert_eq!(
            agent_date_time(20150230, 0),
            Err(AgentValueError::Date(20150230))
        );
        assert_eq!(agent_date_time(0, 0), Err(AgentValueError::Date(0)));
        assert_eq!(
            agent_date_time(20150118, 246000),
            Err(AgentValueError::Time(246000))
        );
        assert_eq!(
            agent_date_time(20150118, -1),
            Err(AgentValueError::Time(-1))
        );
    }

    #[test]
    fn hhmmss_durations_decode_to_hours_minutes_and_seconds() {
        assert_eq!(agent_duration(0), Ok(TimeDelta::zero()));
        assert_eq!(agent_duration(13), Ok(TimeDelta::seconds(13)));
        assert_eq!(agent_duration(10203), Ok(TimeDelta::seconds(3723)));
        assert_eq!(agent_duration(1000000), Ok(TimeDelta::hours(100)));
    }

    #[test]
    fn impossible_durations_are_refused() {
        for bad in [-1, 60, 6000, 99] {
            assert_eq!(
                agent_duration(bad),
                Err(AgentValueError::Duration(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn local_times_become_utc_with_the_zones_winter_and_summer_offsets() {
        let zone = Tz::America__New_York;
        assert_eq!(
            local_to_utc(naive("2015-01-18 10:00:00"), zone),
            utc("2015-01-18 15:00:00")
        );
        assert_eq!(
            local_to_utc(naive("2015-07-18 10:00:00"), zone),
            utc("2015-07-18 14:00:00")
        );
    }

    #[test]
    fn a_time_in_the_hour_repeated_in_autumn_reads_as_its_first_occurrence() {
        assert_eq!(
            local_to_utc(naive("2015-11-01 01:30:00"), Tz::America__New_York),
            utc("2015-11-01 05:30:00"),
            "01:30 EDT, not 01:30 EST"
        );
    }

    #[test]
    fn a_time_in_the_hour_skipped_in_spring_reads_with_the_offset_before_the_change() {
        assert_eq!(
            local_to_utc(naive("2015-03-08 02:30:00"), Tz::America__New_York),
            utc("2015-03-08 07:30:00")
        );
    }

    #[test]
    fn a_run_across_the_spring_change_finishes_its_duration_after_its_start() {
        // 01:59:00 EST + 2 minutes = 03:01:00 EDT.
        let history = decode(
            vec![step(Job::DataIntegration, SUCCEEDED, 20150308, 15900, 200)],
            Tz::America__New_York,
        );

        let run = &history.runs[0];
        assert_eq!(run.started, utc("2015-03-08 06:59:00"));
        assert_eq!(
            run.end.map(|end| end.finished),
            Some(utc("2015-03-08 07:01:00"))
        );
        assert_eq!(run.duration(), Some(TimeDelta::minutes(2)));
    }

    #[test]
    fn a_run_across_the_autumn_change_finishes_its_duration_after_its_start() {
        // 01:50 EDT + 20 minutes = 01:10 EST.
        let history = decode(
            vec![step(Job::CubeProcessing, FAILED, 20151101, 15000, 2000)],
            Tz::America__New_York,
        );

        let run = &history.runs[0];
        assert_eq!(run.started, utc("2015-11-01 05:50:00"));
        assert_eq!(
            run.end.map(|end| end.finished),
            Some(utc("2015-11-01 06:10:00"))
        );
    }

    #[test]
    fn a_run_crossing_midnight_finishes_the_next_day() {
        let history = decode(
            vec![step(Job::CubeProcessing, SUCCEEDED, 20151231, 235930, 200)],
            Tz::UTC,
        );

        assert_eq!(
            history.runs[0].end.map(|end| end.finished),
            Some(utc("2016-01-01 00:01:30"))
        );
    }

    #[test]
    fn retry_rows_are_not_outcomes_and_are_ignored() {
        let history = decode(
            vec![
                step(Job::DataIntegration, RETRY, 20150118, 100000, 10),
                step(Job::DataIntegration, SUCCEEDED, 20150118, 100100, 10),
            ],
            Tz::UTC,
        );

        assert_eq!(history.runs.len(), 1);
        assert_eq!(history.runs[0].started, utc("2015-01-18 10:01:00"));
    }

    #[test]
    fn a_cancelled_step_counts_as_failed() {
        let history = decode(
            vec![step(Job::CubeProcessing, CANCELLED, 20150118, 100000, 10)],
            Tz::UTC,
        );

        let status = IntegrationStatus::from_entries(StatusRead::from_runs(history.runs).entries);
        assert_eq!(
            status.last_failed_cube_processings,
            vec![utc("2015-01-18 10:00:10")]
        );
        assert!(status.last_success_cube_processings.is_empty());
    }

    #[test]
    fn an_outcome_counts_at_the_finish_and_its_start_is_the_jobs_start() {
        let history = decode(
            vec![step(Job::DataIntegration, SUCCEEDED, 20150118, 103000, 113)],
            Tz::UTC,
        );

        let status = IntegrationStatus::from_entries(StatusRead::from_runs(history.runs).entries);
        assert_eq!(
            status.last_success_integrations,
            vec![utc("2015-01-18 10:31:13")]
        );
        assert_eq!(
            status.last_data_integration_start,
            Some(utc("2015-01-18 10:30:00"))
        );
    }

    #[test]
    fn a_missing_step_gives_no_runs_and_is_named() {
        let history = decode(
            vec![AgentRow::Step {
                job: Job::DataIntegration,
                history: None,
            }],
            Tz::UTC,
        );

        assert!(history.runs.is_empty());
        assert_eq!(history.missing, vec![Job::CubeProcessing]);
    }

    #[test]
    fn a_step_running_now_is_its_jobs_newest_start() {
        let history = decode(
            vec![
                step(Job::CubeProcessing, SUCCEEDED, 20150118, 100000, 100),
                AgentRow::Running {
                    job: Job::CubeProcessing,
                    previous: Some(HistoryRow {
                        run_status: SUCCEEDED,
                        run_date: 20150118,
                        run_time: 101500,
                        run_duration: 30,
                        message: None,
                    }),
                    job_started: Some(naive("2015-01-18 10:15:00")),
                },
                AgentRow::Running {
                    job: Job::DataIntegration,
                    previous: None,
                    job_started: Some(naive("2015-01-18 10:30:00")),
                },
            ],
            Tz::UTC,
        );

        let status = IntegrationStatus::from_entries(StatusRead::from_runs(history.runs).entries);
        assert_eq!(
            status.last_cube_processing_start,
            Some(utc("2015-01-18 10:15:30"))
        );
        assert_eq!(
            status.last_data_integration_start,
            Some(utc("2015-01-18 10:30:00"))
        );
        assert!(status.last_success_integrations.is_empty());
    }

    #[test]
    fn a_run_date_past_the_year_9999_is_not_a_date() {
        for run_date in [459_350_617, 100_000_101] {
            assert_eq!(
                agent_date_time(run_date, 170247),
                Err(AgentValueError::Date(run_date)),
                "{run_date}"
            );
        }
        assert_eq!(
            agent_date_time(99_991_231, 235959),
            Ok(naive("9999-12-31 23:59:59"))
        );
    }

    #[test]
    fn a_run_that_would_end_past_the_year_9999_is_an_error() {
        let late = step(Job::CubeProcessing, 1, 99_991_231, 230000, 20000);

        assert_eq!(
            decode_history(vec![late], Tz::UTC),
            Err(AgentValueError::FinishOutOfRange(
                NaiveDate::from_ymd_opt(10000, 1, 1)
                    .and_then(|day| day.and_hms_opt(1, 0, 0))
                    .expect("chrono holds it")
            ))
        );
    }

    #[test]
    fn a_running_job_started_past_the_year_9999_is_an_error() {
        let started = NaiveDate::from_ymd_opt(45935, 6, 17)
            .expect("chrono holds it")
            .and_time(NaiveTime::MIN);
        let running = AgentRow::Running {
            job: Job::DataIntegration,
            previous: None,
            job_started: Some(started),
        };

        assert_eq!(
            decode_history(vec![running], Tz::UTC),
            Err(AgentValueError::JobStartOutOfRange(started))
        );
    }

    #[test]
    fn an_unknown_run_status_is_an_error() {
        assert_eq!(
            decode_history(vec![step(Job::DataIntegration, 7, 20150118, 0, 0)], Tz::UTC),
            Err(AgentValueError::Status(7))
        );
    }

    #[test]
    fn a_server_clock_on_the_zones_offset_agrees_within_a_minute() {
        let winter = utc("2026-01-15 12:00:00");
        for server_minutes in [-301, -300, -299] {
            assert_eq!(
                check_server_offset(Tz::America__New_York, server_minutes, winter),
                Ok(()),
                "{server_minutes}"
            );
        }
    }

    #[test]
    fn a_server_clock_off_the_zones_offset_is_a_mismatch_naming_the_setting_and_both_offsets() {
        let summer = utc("2026-07-15 12:00:00");

        let mismatch = check_server_offset(Tz::America__New_York, -300, summer)
            .expect_err("New York is UTC-4 in July");

        assert_eq!(
            mismatch.to_string(),
            "SQL Server's clock disagrees with setting `integration_log.sql_agent.server_time_zone`: \
             it is `America/New_York`, UTC-04:00 now, but SQL Server's clock is UTC-05:00: \
             set it to the SQL Server machine's time zone"
        );
        assert!(mismatch.to_string().starts_with(SERVER_TIME_ZONE_MISMATCH));
    }

    #[test]
    fn offsets_read_as_utc_plus_or_minus_hours_and_minutes() {
        assert_eq!(utc_offset(180), "UTC+03:00");
        assert_eq!(utc_offset(-270), "UTC-04:30");
        assert_eq!(utc_offset(0), "UTC+00:00");
    }
}
