//! Time zone settings: an IANA name (`Europe/Moscow`) or the Windows name an admin of a Windows
//! server has at hand (`tzutil /g` prints `Russian Standard Time`).
//!
//! Windows names go to IANA through CLDR's `windowsZones` table, territory `001` (the zone CLDR
//! names for the Windows zone as a whole), as the `windows-timezones` crate carries it.
use chrono_tz::Tz;
use windows_timezones::WindowsTimezone;

use super::errors::shown;

/// The zone `text` names, IANA first, then Windows; else the problem, quoting `text` only as
/// [`shown`] allows.
pub fn parse(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>()
        .or_else(|_| text.parse::<WindowsTimezone>().map(Tz::from))
        .map_err(|_| {
            format!(
                "{} is neither an IANA time zone name (UTC, Europe/Moscow) nor a Windows one \
                 (`tzutil /g`: Russian Standard Time)",
                shown(text)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::{LogSource, Settings};

    #[test]
    fn windows_names_map_to_the_iana_zone_cldr_gives_them() {
        for (windows, iana) in [
            ("Eastern Standard Time", Tz::America__New_York),
            ("Russian Standard Time", Tz::Europe__Moscow),
            ("W. Europe Standard Time", Tz::Europe__Berlin),
            ("China Standard Time", Tz::Asia__Shanghai),
            ("Pacific Standard Time", Tz::America__Los_Angeles),
            ("GMT Standard Time", Tz::Europe__London),
            ("Tokyo Standard Time", Tz::Asia__Tokyo),
        ] {
            let zone = parse(windows).unwrap_or_else(|e| panic!("{windows}: {e}"));
            assert_eq!(zone, iana, "{windows}");
        }
    }

    #[test]
    fn iana_names_are_taken_as_they_are() {
        for (name, zone) in [
            ("UTC", Tz::UTC),
            ("Europe/Moscow", Tz::Europe__Moscow),
            ("America/New_York", Tz::America__New_York),
        ] {
            assert_eq!(parse(name).expect(name), zone, "{name}");
        }
    }

    #[test]
    fn utc_is_utc_whichever_way_it_is_read() {
        let zone = parse("UTC").expect("UTC");

        assert_eq!(zone.name(), "UTC");
    }

    #[test]
    fn both_zone_settings_take_windows_names() {
        let environment = [
            (
                "QOE_DATABASE__CONNECTION_STRING",
                "Server=tcp:db,1433;User Id=u;Password=p",
            ),
            ("QOE_INTEGRATION_LOG__TIME_ZONE", "Russian Standard Time"),
            ("QOE_INTEGRATION_LOG__SOURCE", "sql_agent"),
            (
                "QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE",
                "Eastern Standard Time",
            ),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .into();

        let settings = Settings::load_from(None, environment).expect("valid");

        assert_eq!(settings.integration_log.time_zone, Tz::Europe__Moscow);
        let LogSource::SqlAgent(agent) = settings.integration_log.source else {
            panic!("source is not sql_agent");
        };
        assert_eq!(agent.server_time_zone, Tz::America__New_York);
    }

    #[test]
    fn an_unknown_zone_names_the_setting_and_both_kinds_of_name() {
        for unknown in ["Mars/Olympus", "Eastern Time", "eastern standard time", ""] {
            let environment = [
                (
                    "QOE_DATABASE__CONNECTION_STRING",
                    "Server=tcp:db,1433;User Id=u;Password=p",
                ),
                ("QOE_INTEGRATION_LOG__TIME_ZONE", unknown),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .into();
            let message = match Settings::load_from(None, environment) {
                Ok(settings) => panic!("`{unknown}` was taken as {settings:?}"),
                Err(e) => e.to_string(),
            };

            assert!(message.contains("integration_log.time_zone"), "{message}");
            assert!(message.contains("IANA"), "{message}");
            assert!(message.contains("Windows"), "{message}");
        }
    }
}
