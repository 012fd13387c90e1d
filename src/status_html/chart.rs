//! The recent runs as an inline SVG bar chart: one bar a run, placed along the x axis by its
//! start between the oldest (left edge) and the newest (right edge), height the duration on a
//! scale of round steps labelled beside it, colour (and each bar's title) the outcome. Markup
//! only: no script, no external resource, styled by the page's own stylesheet. The labels are
//! HTML beside the SVG, which stretches to the card's width and so cannot hold text.
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};

use super::words::{local_time, outcome_words, run_duration_words, time_tag};
use crate::domain::{JobRun, Outcome, CHART_DEPTH};

/// Chart geometry, in SVG user units.
const CHART_WIDTH: i64 = 320;
const CHART_HEIGHT: i64 = 80;
const BAR_WIDTH: i64 = CHART_WIDTH / CHART_DEPTH as i64 - 2;

/// Steps the duration axis may take, in seconds: round numbers of seconds, minutes and hours.
const SCALE_STEPS: [i64; 16] = [
    5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];
/// Most steps above zero on the duration axis, so its labels never crowd.
const MAX_TICKS: i64 = 4;

/// The chart of `runs` (oldest first) for the job whose card is `id`.
pub fn duration_chart(id: &str, runs: &[&JobRun], zone: Tz) -> Markup {
    let finished: Vec<(&JobRun, TimeDelta, Outcome)> = runs
        .iter()
        .filter_map(|run| Some((*run, run.duration()?, run.end?.outcome)))
        .collect();
    let (Some(first), Some(last)) = (finished.first(), finished.last()) else {
        return html! {
            h3 { "Run durations" }
            p.none { "No run durations recorded." }
        };
    };
    let longest = finished
        .iter()
        .map(|(_, duration, _)| *duration)
        .max()
        .unwrap_or_default();
    let (step, ticks) = duration_scale(longest);
    let top = step * ticks * 1000;
    let span = (last.0.started - first.0.started).num_milliseconds();
    let track = CHART_WIDTH - BAR_WIDTH - 2;
    let heading = format!("{id}-durations");
    let view_box = format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}");
    html! {
        h3 id=(heading) { "Run durations" }
        div.chart-box {
            p.y-axis aria-hidden="true" {
                @for tick in (0..=ticks).rev() {
                    span { (tick_words(tick * step, step)) }
                }
            }
            svg.chart role="img" aria-labelledby=(heading) viewBox=(view_box) preserveAspectRatio="none" {
                title {
                    "Durations of the last " (finished.len()) " runs, oldest first; the longest took "
                    (run_duration_words(longest)) "."
                }
                @for tick in 1..ticks {
                    @let y = CHART_HEIGHT - tick * CHART_HEIGHT / ticks;
                    line.grid x1="0" x2=(CHART_WIDTH) y1=(y) y2=(y) vector-effect="non-scaling-stroke" {}
                }
                @for (run, duration, outcome) in &finished {
                    @let offset = (run.started - first.0.started).num_milliseconds();
                    @let x = 1 + if span > 0 { offset * track / span } else { 0 };
                    @let bar = (duration.num_milliseconds() * CHART_HEIGHT / top).clamp(1, CHART_HEIGHT);
                    @let (class, _, word) = outcome_words(*outcome);
                    rect class=(format!("bar {class}")) x=(x) y=(CHART_HEIGHT - bar) width=(BAR_WIDTH) height=(bar) {
                        title {
                            (word) ", started " (local_time(run.started, zone)) ", took "
                            (run_duration_words(*duration))
                        }
                    }
                }
            }
            p.axis {
                span { (axis_time(first.0.started, zone)) }
                span { (axis_time(last.0.started, zone)) }
            }
        }
    }
}

/// The duration axis for runs up to `longest`: a round step and how many of them reach it.
fn duration_scale(longest: TimeDelta) -> (i64, i64) {
    let longest = longest.num_milliseconds().max(1);
    let step = SCALE_STEPS
        .iter()
        .copied()
        .find(|step| longest <= step * 1000 * MAX_TICKS)
        .unwrap_or_else(|| (longest / 1000 / MAX_TICKS / 86400 + 1) * 86400);
    let ticks = ((longest + step * 1000 - 1) / (step * 1000)).max(1);
    (step, ticks)
}

/// `0`, `30 s`, `90 s`, `2 min`, `90 min`, `2 h`: an axis label, in the unit of the axis's
/// `step` so that one axis never mixes units.
fn tick_words(seconds: i64, step: i64) -> String {
    match seconds {
        0 => "0".to_owned(),
        s if step % 3600 == 0 => format!("{} h", s / 3600),
        s if step % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A start under the chart: to the minute, the zone named at the top of the page.
fn axis_time(time: DateTime<Utc>, zone: Tz) -> Markup {
    let text = time
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    time_tag(time, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_scale_takes_round_steps_and_at_most_four_of_them() {
        let cases = [
            (TimeDelta::zero(), (5, 1), "a zero run still has a scale"),
            (TimeDelta::seconds(12), (5, 3), "seconds"),
            (TimeDelta::seconds(50), (15, 4), "under a minute"),
            (TimeDelta::seconds(200), (60, 4), "minutes"),
            (TimeDelta::seconds(240), (60, 4), "exactly on a tick"),
            (
                TimeDelta::seconds(241),
                (120, 3),
                "just past the fourth tick",
            ),
            (TimeDelta::minutes(50), (900, 4), "quarter hours"),
            (TimeDelta::hours(5), (7200, 3), "hours"),
            (
                TimeDelta::days(9),
                (259_200, 3),
                "longer than the table: whole days",
            ),
        ];
        for (longest, scale, case) in cases {
            assert_eq!(duration_scale(longest), scale, "{case}");
        }
    }

    #[test]
    fn axis_labels_are_short_and_one_axis_keeps_one_unit() {
        let cases = [
            (0, 30, "0"),
            (30, 30, "30 s"),
            (90, 30, "90 s"),
            (120, 60, "2 min"),
            (5400, 1800, "90 min"),
            (7200, 3600, "2 h"),
        ];
        for (seconds, step, words) in cases {
            assert_eq!(tick_words(seconds, step), words, "{seconds} by {step}");
        }
    }
}
