use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::LogCategory;

/// How many runs of each outcome the status reports.
pub const STATUS_DEPTH: usize = 5;

/// The CQD timestamp format: `01/18/2015 10:30:13`, no fraction, no zone.
const CQD_TIMESTAMP_FORMAT: &str = "%m/%d/%Y %H:%M:%S";
const CQD_TIMESTAMP_LEN: usize = "01/18/2015 10:30:13".len();

/// One integration log entry as far as the status needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryTime {
    pub category: LogCategory,
    pub time: DateTime<Utc>,
}

/// The newest runs of both jobs, newest first, in UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationStatus {
    pub last_success_integrations: Vec<DateTime<Utc>>,
    pub last_success_cube_processings: Vec<DateTime<Utc>>,
    pub last_failed_integrations: Vec<DateTime<Utc>>,
    pub last_failed_cube_processings: Vec<DateTime<Utc>>,
    pub last_data_integration_start: Option<DateTime<Utc>>,
    pub last_cube_processing_start: Option<DateTime<Utc>>,
}

impl IntegrationStatus {
    /// Builds the status from entries in any order; extra entries beyond the depth are dropped.
    pub fn from_entries(entries: impl IntoIterator<Item = CategoryTime>) -> Self {
        let mut status = IntegrationStatus::default();
        for CategoryTime { category, time } in entries {
            match category {
                LogCategory::DataIntegrationSucceeded => {
                    status.last_success_integrations.push(time)
                }
                LogCategory::CubeProcessingSucceeded => {
                    status.last_success_cube_processings.push(time)
                }
                LogCategory::DataIntegrationFailed => status.last_failed_integrations.push(time),
                LogCategory::CubeProcessingFailed => status.last_failed_cube_processings.push(time),
                LogCategory::DataIntegrationStarted => {
                    status.last_data_integration_start =
                        status.last_data_integration_start.max(Some(time))
                }
                LogCategory::CubeProcessingStarted => {
                    status.last_cube_processing_start =
                        status.last_cube_processing_start.max(Some(time))
                }
            }
        }
        for runs in [
            &mut status.last_success_integrations,
            &mut status.last_success_cube_processings,
            &mut status.last_failed_integrations,
            &mut status.last_failed_cube_processings,
        ] {
            runs.sort_unstable_by(|a, b| b.cmp(a));
            runs.truncate(STATUS_DEPTH);
        }
        status
    }

    /// The document the CQD portal reads, with times shown in `zone`.
    pub fn render(&self, zone: Tz) -> StatusDocument {
        let render_all = |times: &[DateTime<Utc>]| -> Vec<String> {
            times
                .iter()
                .map(|time| cqd_timestamp(*time, zone))
                .collect()
        };
        StatusDocument {
            last_success_integrations: render_all(&self.last_success_integrations),
            last_success_cube_processings: render_all(&self.last_success_cube_processings),
            last_failed_integrations: render_all(&self.last_failed_integrations),
            last_failed_cube_processings: render_all(&self.last_failed_cube_processings),
            last_data_integration_start: self
                .last_data_integration_start
                .map(|time| cqd_timestamp(time, zone)),
            last_cube_processing_start: self
                .last_cube_processing_start
                .map(|time| cqd_timestamp(time, zone)),
        }
    }
}

/// How recent a job's newest success is, against the staleness threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The newest success is at most the threshold old.
    Fresh { age: TimeDelta },
    /// The newest success is older than the threshold.
    Stale { age: TimeDelta },
    /// No success is recorded at all.
    NeverSucceeded,
}

impl Freshness {
    /// Judges `newest_success` at `now`. A success stamped after `now` (clocks apart) is age 0.
    pub fn judge(
        newest_success: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        stale_after: TimeDelta,
    ) -> Self {
        match newest_success {
            None => Freshness::NeverSucceeded,
            Some(time) => {
                let age = (now - time).max(TimeDelta::zero());
                if age > stale_after {
                    Freshness::Stale { age }
                } else {
                    Freshness::Fresh { age }
                }
            }
        }
    }

    pub fn is_stale(self) -> bool {
        !matches!(self, Freshness::Fresh { .. })
    }
}

/// `GET /QoEDataService/IntegrationLog/Status` as the contract spells it, members in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusDocument {
    pub last_success_integrations: Vec<String>,
    pub last_success_cube_processings: Vec<String>,
    pub last_failed_integrations: Vec<String>,
    pub last_failed_cube_processings: Vec<String>,
    pub last_data_integration_start: Option<String>,
    pub last_cube_processing_start: Option<String>,
}

/// Renders an instant as CQD does: local wall-clock time in `zone`, fraction truncated.
///
/// Written digit by digit: `DateTime::format` parses the pattern and renders the zone's
/// name into a fresh `String` on every call, which was about 5 % of an uncached Status read.
pub fn cqd_timestamp(time: DateTime<Utc>, zone: Tz) -> String {
    let local = time.with_timezone(&zone).naive_local();
    let year = local.year();
    if !(0..=9999).contains(&year) {
        return local.format(CQD_TIMESTAMP_FORMAT).to_string();
    }
    let mut text = String::with_capacity(CQD_TIMESTAMP_LEN);
    let mut push = |value: u32, digits: u32, then: Option<char>| {
        for place in (0..digits).rev() {
            text.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
        text.extend(then);
    };
    push(local.month(), 2, Some('/'));
    push(local.day(), 2, Some('/'));
    push(year as u32, 4, Some(' '));
    push(local.hour(), 2, Some(':'));
    push(local.minute(), 2, Some(':'));
    push(local.second(), 2, None);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{entry, utc};

    #[test]
    fn runs_are_listed_newest_first_whatever_the_input_order() {
        let status = IntegrationStatus::from_entries([
            entry(LogCategory::DataIntegrationSucceeded, "2015-01-17 15:00:17"),
            entry(LogCategory::DataIntegrationSucceeded, "2015-01-18 10:30:13"),
            entry(LogCategory::DataIntegrationSucceeded, "2015-01-17 15:15:17"),
        ]);

        assert_eq!(
            status.last_success_integrations,
            vec![
                utc("2015-01-18 10:30:13"),
                utc("2015-01-17 15:15:17"),
                utc("2015-01-17 15:00:17")
            ]
        );
    }

    #[test]
    fn only_the_newest_five_of_a_category_are_kept() {
        let entries = (0..8).map(|minute| {
            entry(
                LogCategory::CubeProcessingFailed,
                &format!("2015-01-17 10:0{minute}:00"),
            )
        });

        let status = IntegrationStatus::from_entries(entries);

        assert_eq!(status.last_failed_cube_processings.len(), STATUS_DEPTH);
        assert_eq!(
            status.last_failed_cube_processings[0],
            utc("2015-01-17 10:07:00")
        );
        assert_eq!(
            status.last_failed_cube_processings[4],
            utc("2015-01-17 10:03:00")
        );
    }

    #[test]
    fn runs_logged_at_the_same_instant_each_count_toward_the_five() {
        let entries = std::iter::repeat_n(
            entry(LogCategory::DataIntegrationFailed, "2015-01-17 10:00:00"),
            7,
        );

        let status = IntegrationStatus::from_entries(entries);

        assert_eq!(
            status.last_failed_integrations,
            vec![utc("2015-01-17 10:00:00"); STATUS_DEPTH]
        );
    }

    #[test]
    fn an_empty_category_is_an_empty_array() {
        let document = IntegrationStatus::from_entries([]).render(Tz::UTC);

        let json = serde_json::to_string(&document).expect("serializable");

        assert!(json.contains(r#""LastFailedIntegrations":[]"#), "{json}");
    }

    #[test]
    fn a_job_never_started_has_a_null_start() {
        let document = IntegrationStatus::from_entries([entry(
            LogCategory::CubeProcessingStarted,
            "2015-01-18 10:30:16",
        )])
        .render(Tz::UTC);

        let json: serde_json::Value = serde_json::to_value(&document).expect("serializable");

        assert_eq!(json["LastDataIntegrationStart"], serde_json::Value::Null);
        assert_eq!(json["LastCubeProcessingStart"], "01/18/2015 10:30:16");
    }

    #[test]
    fn the_latest_start_wins_when_several_are_given() {
        let status = IntegrationStatus::from_entries([
            entry(LogCategory::DataIntegrationStarted, "2015-01-18 10:15:00"),
            entry(LogCategory::DataIntegrationStarted, "2015-01-18 10:30:00"),
            entry(LogCategory::DataIntegrationStarted, "2015-01-18 10:00:00"),
        ]);

        assert_eq!(
            status.last_data_integration_start,
            Some(utc("2015-01-18 10:30:00"))
        );
    }

    #[test]
    fn members_are_pascal_case_in_contract_order() {
        let json = serde_json::to_string(&IntegrationStatus::default().render(Tz::UTC))
            .expect("serializable");

        assert_eq!(
            json,
            r#"{"LastSuccessIntegrations":[],"LastSuccessCubeProcessings":[],"LastFailedIntegrations":[],"LastFailedCubeProcessings":[],"LastDataIntegrationStart":null,"LastCubeProcessingStart":null}"#
        );
    }

    #[test]
    fn timestamps_render_as_us_date_and_24_hour_time() {
        assert_eq!(
            cqd_timestamp(utc("2015-01-08 22:05:09"), Tz::UTC),
            "01/08/2015 22:05:09"
        );
    }

    #[test]
    fn fractions_of_a_second_are_truncated_not_rounded() {
        assert_eq!(
            cqd_timestamp(utc("2015-01-18 10:30:13.999"), Tz::UTC),
            "01/18/2015 10:30:13"
        );
    }

    #[test]
    fn timestamps_read_as_chronos_own_format_from_year_1_to_9999_and_beyond() {
        let mut time = utc("0001-01-01 00:00:00");
        let step = TimeDelta::days(97) + TimeDelta::minutes(7_919) + TimeDelta::seconds(13);
        let far_future = utc("9999-12-31 23:59:59") + TimeDelta::days(800);
        while time < far_future {
            for zone in [Tz::UTC, Tz::America__New_York, Tz::Asia__Kolkata] {
                let by_chrono = time
                    .with_timezone(&zone)
                    .format(CQD_TIMESTAMP_FORMAT)
                    .to_string();
                assert_eq!(cqd_timestamp(time, zone), by_chrono, "{time} in {zone}");
            }
            time += step;
        }
    }

    #[test]
    fn timestamps_render_in_the_configured_zone_across_daylight_saving() {
        let cases = [
            (
                "2015-03-08 06:59:59",
                "03/08/2015 01:59:59",
                "last second of EST",
            ),
            (
                "2015-03-08 07:00:00",
                "03/08/2015 03:00:00",
                "first second of EDT",
            ),
            (
                "2015-11-01 05:30:00",
                "11/01/2015 01:30:00",
                "01:30 EDT before falling back",
            ),
            (
                "2015-11-01 06:30:00",
                "11/01/2015 01:30:00",
                "01:30 EST after falling back",
            ),
        ];
        for (stored_utc, shown, case) in cases {
            assert_eq!(
                cqd_timestamp(utc(stored_utc), Tz::America__New_York),
                shown,
                "{case}"
            );
        }
    }

    #[test]
    fn a_success_within_the_threshold_is_fresh() {
        let freshness = Freshness::judge(
            Some(utc("2015-01-18 10:00:00")),
            utc("2015-01-18 10:30:00"),
            TimeDelta::minutes(30),
        );

        assert_eq!(
            freshness,
            Freshness::Fresh {
                age: TimeDelta::minutes(30)
            }
        );
    }

    #[test]
    fn a_success_older_than_the_threshold_is_stale() {
        let freshness = Freshness::judge(
            Some(utc("2015-01-18 10:00:00")),
            utc("2015-01-18 10:30:01"),
            TimeDelta::minutes(30),
        );

        assert!(freshness.is_stale());
    }

    #[test]
    fn a_job_that_never_succeeded_counts_as_stale() {
        let freshness = Freshness::judge(None, utc("2015-01-18 10:30:00"), TimeDelta::minutes(30));

        assert_eq!(freshness, Freshness::NeverSucceeded);
        assert!(freshness.is_stale());
    }

    #[test]
    fn a_success_stamped_in_the_future_is_age_zero() {
        let freshness = Freshness::judge(
            Some(utc("2015-01-18 10:31:00")),
            utc("2015-01-18 10:30:00"),
            TimeDelta::minutes(30),
        );

        assert_eq!(
            freshness,
            Freshness::Fresh {
                age: TimeDelta::zero()
            }
        );
    }

    #[test]
    fn order_follows_the_instant_not_the_local_wall_clock() {
        let status = IntegrationStatus::from_entries([
            entry(LogCategory::DataIntegrationSucceeded, "2015-11-01 05:45:00"),
            entry(LogCategory::DataIntegrationSucceeded, "2015-11-01 06:15:00"),
        ]);

        let document = status.render(Tz::America__New_York);

        assert_eq!(
            document.last_success_integrations,
            vec!["11/01/2015 01:15:00", "11/01/2015 01:45:00"],
            "01:15 EST happened after 01:45 EDT"
        );
    }
}
