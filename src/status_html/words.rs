//! Times, durations and outcomes as the page writes them.
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};

use crate::domain::Outcome;

/// `2015-01-18 13:30:13 MSK`: the page's format for a time in `zone`, seconds truncated.
pub fn local_time(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `0 min`, `45 min`, `2 h 5 min`, `3 d 4 h`: coarse on purpose, it is read at a glance.
pub fn duration_words(duration: TimeDelta) -> String {
    let minutes = duration.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, hours) if minutes == 0 => format!("{hours} h"),
        (0, hours) => format!("{hours} h {minutes} min"),
        (days, 0) => format!("{days} d"),
        (days, hours) => format!("{days} d {hours} h"),
    }
}

/// `0 s`, `45 s`, `3 min 20 s`, `1 h 5 min`: a run's duration, to the second.
pub fn run_duration_words(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds().max(0);
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds} s"),
        (0, minutes) => format!("{minutes} min {seconds} s"),
        (hours, minutes) => format!("{hours} h {minutes} min"),
    }
}

/// `<time datetime="2015-01-18T10:30:13Z">2015-01-18 13:30:13 MSK</time>`: machine-readable
/// instant, human-readable local time with the zone's abbreviation (which tells EDT from EST).
pub fn time_element(time: DateTime<Utc>, zone: Tz) -> Markup {
    time_tag(time, &local_time(time, zone))
}

pub fn time_tag(time: DateTime<Utc>, text: &str) -> Markup {
    html! { time datetime=(time.format("%Y-%m-%dT%H:%M:%SZ")) { (text) } }
}

pub fn optional_time(time: Option<DateTime<Utc>>, zone: Tz) -> Markup {
    match time {
        Some(time) => time_element(time, zone),
        None => none_recorded(),
    }
}

pub fn none_recorded() -> Markup {
    html! { span.none { "none recorded" } }
}

/// The class, mark and word an outcome is shown with: never colour alone.
pub fn outcome_words(outcome: Outcome) -> (&'static str, &'static str, &'static str) {
    match outcome {
        Outcome::Succeeded => ("ok", "✓", "Succeeded"),
        Outcome::Failed => ("failed", "✗", "Failed"),
    }
}

/// At most `limit` characters of `text`, whitespace runs made one space, cut after the last
/// whole word that fits with `…` appended; and whether it was cut.
pub fn shortened(text: &str, limit: usize) -> (String, bool) {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= limit {
        return (text, false);
    }
    let end = text
        .char_indices()
        .nth(limit)
        .map_or(text.len(), |(at, _)| at);
    let cut = &text[..end];
    let cut = cut.rfind(' ').map_or(cut, |space| &cut[..space]);
    (
        format!("{}…", cut.trim_end_matches([',', ';', ':', '.'])),
        true,
    )
}

/// Makes text safe inside HTML elements and double-quoted attributes (maud's escaping).
pub fn escape(text: &str) -> String {
    html! { (text) }.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::utc;

    #[test]
    fn run_durations_read_to_the_second() {
        let cases = [
            (TimeDelta::milliseconds(900), "0 s"),
            (TimeDelta::seconds(45), "45 s"),
            (TimeDelta::seconds(200), "3 min 20 s"),
            (TimeDelta::seconds(3900), "1 h 5 min"),
        ];
        for (duration, words) in cases {
            assert_eq!(run_duration_words(duration), words, "{duration:?}");
        }
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&lt;/a&gt;"
        );
    }

    #[test]
    fn durations_read_at_a_glance() {
        let cases = [
            (TimeDelta::seconds(59), "0 min"),
            (TimeDelta::minutes(45), "45 min"),
            (TimeDelta::minutes(120), "2 h"),
            (TimeDelta::minutes(125), "2 h 5 min"),
            (TimeDelta::minutes(3 * 1440 + 4 * 60 + 7), "3 d 4 h"),
            (TimeDelta::minutes(2 * 1440), "2 d"),
        ];
        for (duration, words) in cases {
            assert_eq!(duration_words(duration), words, "{duration:?}");
        }
    }

    #[test]
    fn local_times_tell_daylight_saving_apart() {
        assert_eq!(
            local_time(utc("2015-11-01 05:30:00"), Tz::America__New_York),
            "2015-11-01 01:30:00 EDT"
        );
        assert_eq!(
            local_time(utc("2015-11-01 06:30:00"), Tz::America__New_York),
            "2015-11-01 01:30:00 EST"
        );
    }

    #[test]
    fn long_messages_are_cut_after_a_whole_word_and_short_ones_kept_whole() {
        assert_eq!(
            shortened("The cube's  data\nsource refused", 100),
            ("The cube's data source refused".to_owned(), false)
        );
        assert_eq!(
            shortened("Cube processing failed: the source refused", 26),
            ("Cube processing failed…".to_owned(), true)
        );
        let (cut, was_cut) = shortened(&"é".repeat(50), 10);
        assert!(was_cut);
        assert_eq!(cut, format!("{}…", "é".repeat(10)));
    }
}
