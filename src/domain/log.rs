use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::LogCategory;

/// How many entries the log returns when the client does not say.
pub const DEFAULT_TOP: u16 = 100;
/// The most entries one request may ask for: keeps every answer small and the seek short.
pub const MAX_TOP: u16 = 1000;

/// One integration log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub category: LogCategory,
    pub time: DateTime<Utc>,
    pub description: Option<String>,
}

/// Which entries to read: the newest `top`, of one category or of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogQuery {
    top: u16,
    category: Option<LogCategory>,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            top: DEFAULT_TOP,
            category: None,
        }
    }
}

/// A query parameter the log does not accept; the message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogQueryError {
    #[error("invalid query parameter `top`: must be a whole number from 1 to {MAX_TOP}")]
    Top,
    #[error(
        "invalid query parameter `category`: must be one of DataIntegrationStarted, \
         DataIntegrationSucceeded, DataIntegrationFailed, CubeProcessingStarted, \
         CubeProcessingSucceeded, CubeProcessingFailed"
    )]
    Category,
    #[error("invalid query parameter `{0}`: given more than once")]
    Repeated(&'static str),
    #[error("unknown query parameter `{0}`: only `top` and `category` are accepted")]
    Unknown(String),
}

impl LogQuery {
    /// Reads `top` and `category` from decoded query pairs; anything else is an error.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, LogQueryError> {
        let mut top = None;
        let mut category = None;
        for (name, value) in pairs {
            match name {
                "top" => set_once(&mut top, "top", parse_top(value)?)?,
                "category" => set_once(
                    &mut category,
                    "category",
                    value.parse().map_err(|_| LogQueryError::Category)?,
                )?,
                other => return Err(LogQueryError::Unknown(other.to_owned())),
            }
        }
        Ok(LogQuery {
            top: top.unwrap_or(DEFAULT_TOP),
            category,
        })
    }

    /// The deepest query: the newest [`MAX_TOP`] entries of `category` (or of all), from
    /// which every narrower query of that category can be answered.
    pub fn deepest(category: Option<LogCategory>) -> Self {
        LogQuery {
            top: MAX_TOP,
            category,
        }
    }

    /// The newest `top` entries of `category` (`top` at least 1, at most [`MAX_TOP`]).
    pub fn newest(category: LogCategory, top: u16) -> Self {
        LogQuery {
            top: top.clamp(1, MAX_TOP),
            category: Some(category),
        }
    }

    pub fn top(&self) -> u16 {
        self.top
    }

    pub fn category(&self) -> Option<LogCategory> {
        self.category
    }
}

/// Digits only: `u16::from_str` would also take a sign.
fn parse_top(value: &str) -> Result<u16, LogQueryError> {
    Some(value)
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u16>().ok())
        .filter(|top| (1..=MAX_TOP).contains(top))
        .ok_or(LogQueryError::Top)
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), LogQueryError> {
    match slot.replace(value) {
        Some(_) => Err(LogQueryError::Repeated(name)),
        None => Ok(()),
    }
}

/// One entry as `GET /QoEDataService/IntegrationLog` spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogEntryDocument {
    pub log_category: &'static str,
    pub log_time: String,
    pub log_description: Option<String>,
}

impl LogEntry {
    /// The entry as the CQD portal reads it, with its time shown in `zone`.
    pub fn render(&self, zone: Tz) -> LogEntryDocument {
        LogEntryDocument {
            log_category: self.category.as_str(),
            log_time: log_timestamp(self.time, zone),
            log_description: self.description.clone(),
        }
    }
}

/// `2015-03-18T10:28:29.10`: local date-time in `zone`, hundredths truncated, no zone suffix.
pub fn log_timestamp(time: DateTime<Utc>, zone: Tz) -> String {
    let local = time.with_timezone(&zone);
    // A leap second carries nanoseconds beyond 999_999_999; it still shows as .99.
    let hundredths = (local.nanosecond() / 10_000_000).min(99);
    format!("{}.{hundredths:02}", local.format("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::utc;

    fn query(pairs: &[(&str, &str)]) -> Result<LogQuery, LogQueryError> {
        LogQuery::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn log_times_show_two_fractional_digits_like_the_documentation() {
        assert_eq!(
            log_timestamp(utc("2015-03-18 10:28:29.100"), Tz::UTC),
            "2015-03-18T10:28:29.10"
        );
    }

    #[test]
    fn log_time_fractions_are_truncated_not_rounded() {
        assert_eq!(
            log_timestamp(utc("2015-03-18 10:28:29.999"), Tz::UTC),
            "2015-03-18T10:28:29.99"
        );
    }

    #[test]
    fn a_whole_second_still_shows_two_zeros() {
        assert_eq!(
            log_timestamp(utc("2015-03-18 10:28:29"), Tz::UTC),
            "2015-03-18T10:28:29.00"
        );
    }

    #[test]
    fn log_times_render_in_the_configured_zone_without_a_suffix() {
        assert_eq!(
            log_timestamp(utc("2015-03-18 10:28:29.105"), Tz::Europe__Moscow),
            "2015-03-18T13:28:29.10"
        );
    }

    #[test]
    fn an_entry_without_a_description_renders_null() {
        let entry = LogEntry {
            category: LogCategory::CubeProcessingSucceeded,
            time: utc("2015-03-18 10:28:29.1"),
            description: None,
        };

        let json = serde_json::to_string(&entry.render(Tz::UTC)).expect("serializable");

        assert_eq!(
            json,
            r#"{"LogCategory":"CubeProcessingSucceeded","LogTime":"2015-03-18T10:28:29.10","LogDescription":null}"#
        );
    }

    #[test]
    fn no_parameters_mean_the_newest_hundred_of_every_category() {
        assert_eq!(query(&[]), Ok(LogQuery::default()));
        assert_eq!(LogQuery::default().top(), 100);
        assert_eq!(LogQuery::default().category(), None);
    }

    #[test]
    fn top_and_category_are_read() {
        let parsed = query(&[("top", "5"), ("category", "DataIntegrationFailed")]).expect("valid");

        assert_eq!(parsed.top(), 5);
        assert_eq!(parsed.category(), Some(LogCategory::DataIntegrationFailed));
    }

    #[test]
    fn top_accepts_exactly_one_to_a_thousand() {
        assert_eq!(query(&[("top", "1")]).map(|q| q.top()), Ok(1));
        assert_eq!(query(&[("top", "1000")]).map(|q| q.top()), Ok(1000));
        for bad in ["0", "1001", "-1", "65536", "ten", "", "1.5", " 5", "+5"] {
            assert_eq!(
                query(&[("top", bad)]),
                Err(LogQueryError::Top),
                "top={bad:?}"
            );
        }
    }

    #[test]
    fn an_unknown_category_is_refused() {
        assert_eq!(
            query(&[("category", "dataintegrationfailed")]),
            Err(LogQueryError::Category)
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused_by_name() {
        assert_eq!(
            query(&[("limit", "5")]),
            Err(LogQueryError::Unknown("limit".into()))
        );
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert_eq!(
            query(&[("top", "5"), ("top", "6")]),
            Err(LogQueryError::Repeated("top"))
        );
    }

    #[test]
    fn the_category_message_lists_every_category() {
        let message = LogQueryError::Category.to_string();

        for category in LogCategory::ALL {
            assert!(message.contains(category.as_str()), "{message}");
        }
    }

    #[test]
    fn every_message_names_its_parameter() {
        let cases = [
            (LogQueryError::Top, "`top`"),
            (LogQueryError::Category, "`category`"),
            (LogQueryError::Repeated("category"), "`category`"),
            (LogQueryError::Unknown("limit".into()), "`limit`"),
        ];
        for (error, name) in cases {
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
