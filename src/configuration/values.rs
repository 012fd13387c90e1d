//! The kinds of value a setting takes, each carrying its default and its bounds in its type, so
//! that a setting's declaration (`declared.rs`) is its whole rule. Deserializing checks the
//! bounds; the loader names the setting in the error (the `config` crate puts the key path on
//! every error a value raises).
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::errors::{checked, shown};
use super::time_zone;

/// A whole number from `MIN` to `MAX`, `DEFAULT` when not given: `Bounded<1, 1000, 10>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Bounded<const MIN: u64, const MAX: u64, const DEFAULT: u64>(u64);

impl<const MIN: u64, const MAX: u64, const DEFAULT: u64> Bounded<MIN, MAX, DEFAULT> {
    pub const MIN: u64 = MIN;
    pub const MAX: u64 = MAX;
    /// A default outside the bounds does not compile.
    const DEFAULT: u64 = {
        assert!(
            MIN <= DEFAULT && DEFAULT <= MAX,
            "the default is out of bounds"
        );
        DEFAULT
    };

    pub fn get(self) -> u64 {
        self.0
    }

    /// The value read as milliseconds (settings named `…_ms`).
    pub fn millis(self) -> Duration {
        Duration::from_millis(self.0)
    }

    /// The value read as seconds (settings named `…_s`).
    pub fn seconds(self) -> Duration {
        Duration::from_secs(self.0)
    }

    /// Why `value` is refused: the one wording of a range rule.
    pub fn refusal() -> String {
        format!("must be a whole number from {MIN} to {MAX}")
    }
}

impl<const MIN: u64, const MAX: u64, const DEFAULT: u64> Default for Bounded<MIN, MAX, DEFAULT> {
    fn default() -> Self {
        Bounded(Self::DEFAULT)
    }
}

impl<const MIN: u64, const MAX: u64, const DEFAULT: u64> TryFrom<u64>
    for Bounded<MIN, MAX, DEFAULT>
{
    type Error = String;

    fn try_from(value: u64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&value) {
            Ok(Bounded(value))
        } else {
            Err(checked(Self::refusal()))
        }
    }
}

impl<const MIN: u64, const MAX: u64, const DEFAULT: u64> From<Bounded<MIN, MAX, DEFAULT>> for u64 {
    fn from(value: Bounded<MIN, MAX, DEFAULT>) -> u64 {
        value.0
    }
}

/// `http.listen`: an IP address and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Listen(pub SocketAddr);

impl Default for Listen {
    fn default() -> Self {
        Listen(SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

impl TryFrom<String> for Listen {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map(Listen).map_err(|_| {
            checked("expected an IP address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
        })
    }
}

impl From<Listen> for String {
    fn from(listen: Listen) -> String {
        listen.0.to_string()
    }
}

/// A time zone by IANA or Windows name; UTC when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(pub Tz);

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(Tz::UTC)
    }
}

impl TryFrom<String> for TimeZone {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        time_zone::parse(&text).map(TimeZone).map_err(checked)
    }
}

impl From<TimeZone> for String {
    fn from(zone: TimeZone) -> String {
        zone.0.name().to_owned()
    }
}

/// Longest name SQL Server allows for a job or a step (`sysname`).
pub const MAX_SYSNAME_CHARS: usize = 128;

/// A SQL Server Agent job or step name: 1 to [`MAX_SYSNAME_CHARS`] characters.
pub(super) fn sysname(text: String) -> Result<String, String> {
    if text.trim().is_empty() || text.chars().count() > MAX_SYSNAME_CHARS {
        Err(checked(format!(
            "must be a job step name of 1 to {MAX_SYSNAME_CHARS} characters"
        )))
    } else {
        Ok(text)
    }
}

/// A job step name with its default: `step_name!(DataIntegrationStep, "QoE Archive Data")`.
macro_rules! step_name {
    ($name:ident, $default:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(pub String);

        impl Default for $name {
            fn default() -> Self {
                $name($default.to_owned())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                super::values::sysname(text).map($name)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

pub(super) use step_name;

/// `integration_log.sql_agent.job_name`: a job name, or blank for none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobName(Option<String>);

impl JobName {
    pub fn get(self) -> Option<String> {
        self.0
    }
}

impl TryFrom<String> for JobName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim().is_empty() {
            Ok(JobName(None))
        } else {
            sysname(text).map(|name| JobName(Some(name)))
        }
    }
}

impl From<JobName> for String {
    fn from(name: JobName) -> String {
        name.0.unwrap_or_default()
    }
}

/// A setting that is one of a few words, matched in any case.
pub trait Choice: Sized + Copy + 'static {
    const WORDS: &'static [(&'static str, Self)];

    fn parse(text: &str) -> Result<Self, String> {
        Self::WORDS
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(text))
            .map(|&(_, choice)| choice)
            .ok_or_else(|| {
                let words: Vec<String> = Self::WORDS
                    .iter()
                    .map(|(word, _)| format!("`{word}`"))
                    .collect();
                checked(format!(
                    "{} is not one of {}",
                    shown(text),
                    words.join(", ")
                ))
            })
    }

    fn word(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::WORDS
            .iter()
            .find(|(_, choice)| *choice == self)
            .map_or("", |(word, _)| word)
    }
}

macro_rules! choice_serde {
    ($type:ty) => {
        impl TryFrom<String> for $type {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                <$type as Choice>::parse(&text)
            }
        }

        impl From<$type> for String {
            fn from(choice: $type) -> String {
                choice.word().to_owned()
            }
        }
    };
}

/// `integration_log.source`: where the runs are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SourceKind {
    #[default]
    Table,
    SqlAgent,
}

impl Choice for SourceKind {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("table", SourceKind::Table),
        ("sql_agent", SourceKind::SqlAgent),
    ];
}

choice_serde!(SourceKind);

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the request's span fields.
    Json,
}

impl Choice for LogFormat {
    const WORDS: &'static [(&'static str, Self)] =
        &[("text", LogFormat::Text), ("json", LogFormat::Json)];
}

choice_serde!(LogFormat);

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Small = Bounded<1, 10, 5>;

    #[test]
    fn a_bounded_number_takes_its_bounds_and_refuses_beyond_them() {
        assert_eq!(Small::default().get(), 5);
        assert_eq!(Small::try_from(1).map(Small::get), Ok(1));
        assert_eq!(Small::try_from(10).map(Small::get), Ok(10));
        for outside in [0, 11, u64::MAX] {
            let refusal = Small::try_from(outside).expect_err("outside");
            assert!(
                refusal.ends_with("must be a whole number from 1 to 10"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn a_choice_is_matched_in_any_case_and_a_wrong_one_lists_the_words() {
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        let refusal = SourceKind::parse("tabel").expect_err("a slip");
        assert!(
            refusal.ends_with("`tabel` is not one of `table`, `sql_agent`"),
            "{refusal}"
        );
    }

    #[test]
    fn a_step_name_is_one_to_128_characters() {
        use crate::configuration::declared::{CubeProcessingStep, DataIntegrationStep};

        assert!(DataIntegrationStep::try_from("x".repeat(128)).is_ok());
        assert!(DataIntegrationStep::try_from("x".repeat(129)).is_err());
        assert!(CubeProcessingStep::try_from("  ".to_owned()).is_err());
        assert_eq!(
            JobName::try_from(" ".to_owned()).map(JobName::get),
            Ok(None)
        );
    }
}
