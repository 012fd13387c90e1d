//! The status page for people: one self-contained HTML document rendered from the status.
//! No scripts, no external assets; every value that reaches the markup goes through [`escape`].
use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::domain::{Freshness, IntegrationStatus, Job as JobKind, JobRun, Outcome, StatusRead};

/// What the page shows besides the status: the zone, the moment judged, the threshold.
#[derive(Debug, Clone, Copy)]
pub struct PageContext {
    pub zone: Tz,
    pub now: DateTime<Utc>,
    pub stale_after: TimeDelta,
}

/// One job's column on the page.
struct Job<'a> {
    kind: JobKind,
    id: &'static str,
    title: &'static str,
    successes: &'a [DateTime<Utc>],
    failures: &'a [DateTime<Utc>],
    start: Option<DateTime<Utc>>,
}

/// The whole page, with `runs` giving each job's durations. Pure: the same arguments give the
/// same bytes.
pub fn render(status: &IntegrationStatus, runs: &StatusRead, context: &PageContext) -> String {
    let jobs = status.jobs().map(|job| {
        let (id, title) = match job.job {
            JobKind::DataIntegration => ("data-integration", "Data integration"),
            JobKind::CubeProcessing => ("cube-processing", "Cube processing"),
        };
        Job {
            kind: job.job,
            id,
            title,
            successes: job.successes,
            failures: job.failures,
            start: job.start,
        }
    });
    let freshness = jobs.each_ref().map(|job| {
        Freshness::judge(
            job.successes.first().copied(),
            context.now,
            context.stale_after,
        )
    });
    let mut page = String::with_capacity(8 * 1024);
    page.push_str(HEAD);
    let _ = write!(
        page,
        "<header>\n<h1>QoE integration status</h1>\n<p class=\"meta\">Times in \
         <strong>{zone}</strong>. Checked at {now}. A job is <em>stale</em> when its newest \
         success is older than {threshold}.</p>\n</header>\n<main>\n",
        zone = escape(context.zone.name()),
        now = time_element(context.now, context.zone),
        threshold = escape(&duration_words(context.stale_after)),
    );
    page.push_str(&banner(&jobs, &freshness));
    page.push_str("<div class=\"jobs\">\n");
    for (job, freshness) in jobs.iter().zip(freshness) {
        page.push_str(&job_section(
            job,
            freshness,
            &runs.recent_runs(job.kind),
            context,
        ));
    }
    page.push_str(
        "</div>\n</main>\n<footer><p>The same data as JSON: \
         <code>GET /QoEDataService/IntegrationLog/Status</code>.</p></footer>\n</body>\n</html>\n",
    );
    page
}

fn banner(jobs: &[Job<'_>; 2], freshness: &[Freshness; 2]) -> String {
    let stale: Vec<String> = jobs
        .iter()
        .zip(freshness)
        .filter(|(_, freshness)| freshness.is_stale())
        .map(|(job, _)| escape(&job.title.to_lowercase()))
        .collect();
    if stale.is_empty() {
        "<p class=\"banner fresh\" role=\"status\">Both jobs are up to date.</p>\n".to_owned()
    } else {
        format!(
            "<p class=\"banner stale\" role=\"alert\"><strong>Stale:</strong> {} {} not \
             succeeded recently.</p>\n",
            stale.join(" and "),
            if stale.len() == 1 { "has" } else { "have" }
        )
    }
}

fn job_section(
    job: &Job<'_>,
    freshness: Freshness,
    runs: &[&JobRun],
    context: &PageContext,
) -> String {
    let zone = context.zone;
    let mut section = String::new();
    let last_duration = runs.last().and_then(|run| run.duration()).map_or_else(
        || "<span class=\"none\">none recorded</span>".to_owned(),
        |duration| escape(&run_duration_words(duration)),
    );
    let _ = write!(
        section,
        "<section class=\"job\" aria-labelledby=\"{id}\">\n<h2 id=\"{id}\">{title}</h2>\n{age}\
         <dl>\n<dt>Last success</dt><dd>{success}</dd>\n<dt>Last failure</dt><dd>{failure}</dd>\n\
         <dt>Last start</dt><dd>{start}</dd>\n<dt>Last run took</dt><dd>{last_duration}</dd>\n\
         </dl>\n{chart}<h3>Recent runs</h3>\n",
        id = job.id,
        title = escape(job.title),
        age = freshness_line(freshness),
        success = optional_time(job.successes.first().copied(), zone),
        failure = optional_time(job.failures.first().copied(), zone),
        start = optional_time(job.start, zone),
        chart = duration_chart(job.id, runs, zone),
    );
    let mut runs: Vec<(DateTime<Utc>, bool)> = job
        .successes
        .iter()
        .map(|time| (*time, true))
        .chain(job.failures.iter().map(|time| (*time, false)))
        .collect();
    runs.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    if runs.is_empty() {
        section.push_str("<p class=\"none\">No finished runs recorded.</p>\n");
    } else {
        section.push_str("<ol class=\"timeline\">\n");
        for (time, succeeded) in runs {
            let (class, mark, word) = if succeeded {
                ("ok", "✓", "Succeeded")
            } else {
                ("failed", "✗", "Failed")
            };
            let _ = writeln!(
                section,
                "<li class=\"{class}\"><span class=\"mark\" aria-hidden=\"true\">{mark}</span> \
                 <span class=\"outcome\">{word}</span> {time}</li>",
                time = time_element(time, zone),
            );
        }
        section.push_str("</ol>\n");
    }
    section.push_str("</section>\n");
    section
}

/// Chart geometry, in SVG user units.
const CHART_WIDTH: usize = 320;
const CHART_HEIGHT: usize = 80;
const BAR_WIDTH: i64 = (CHART_WIDTH / crate::domain::CHART_DEPTH) as i64 - 2;

/// The recent runs as an inline SVG bar chart: one bar a run, placed along the x axis by its
/// start between the oldest (left edge) and the newest (right edge), height the duration
/// against the longest shown, colour (and each bar's title) the outcome. Markup only: no
/// script, no external resource, styled by the page's own stylesheet.
fn duration_chart(id: &str, runs: &[&JobRun], zone: Tz) -> String {
    let finished: Vec<(&JobRun, TimeDelta, Outcome)> = runs
        .iter()
        .filter_map(|run| Some((*run, run.duration()?, run.end?.outcome)))
        .collect();
    let (Some(first), Some(last)) = (finished.first(), finished.last()) else {
        return "<h3>Run durations</h3>\n<p class=\"none\">No run durations recorded.</p>\n"
            .to_owned();
    };
    let longest = finished
        .iter()
        .map(|(_, duration, _)| duration.num_milliseconds())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = String::new();
    let _ = write!(
        chart,
        "<h3 id=\"{id}-durations\">Run durations</h3>\n<svg class=\"chart\" role=\"img\" \
         aria-labelledby=\"{id}-durations\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" \
         preserveAspectRatio=\"none\">\n<title>Durations of the last {count} runs, oldest first; \
         the longest took {longest_words}.</title>\n",
        count = finished.len(),
        longest_words = escape(&run_duration_words(TimeDelta::milliseconds(longest))),
    );
    let span = (last.0.started - first.0.started).num_milliseconds();
    let track = CHART_WIDTH as i64 - BAR_WIDTH - 2;
    for (run, duration, outcome) in &finished {
        let offset = (run.started - first.0.started).num_milliseconds();
        let x = 1 + if span > 0 { offset * track / span } else { 0 };
        let height = ((duration.num_milliseconds() * (CHART_HEIGHT as i64 - 1)) / longest + 1)
            .clamp(1, CHART_HEIGHT as i64);
        let (class, word) = match outcome {
            Outcome::Succeeded => ("ok", "Succeeded"),
            Outcome::Failed => ("failed", "Failed"),
        };
        let _ = writeln!(
            chart,
            "<rect class=\"bar {class}\" x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\">\
             <title>{word}, started {started}, took {took}</title></rect>",
            y = CHART_HEIGHT as i64 - height,
            width = BAR_WIDTH,
            started = escape(&local_time(run.started, zone)),
            took = escape(&run_duration_words(*duration)),
        );
    }
    let _ = write!(
        chart,
        "</svg>\n<p class=\"axis\"><span>{oldest}</span><span>{newest}</span></p>\n",
        oldest = time_element(first.0.started, zone),
        newest = time_element(last.0.started, zone),
    );
    chart
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

fn freshness_line(freshness: Freshness) -> String {
    match freshness {
        Freshness::Fresh { age } => format!(
            "<p class=\"age fresh\">Newest success {} ago.</p>\n",
            escape(&duration_words(age))
        ),
        Freshness::Stale { age } => format!(
            "<p class=\"age stale\"><strong>Stale</strong>: newest success {} ago.</p>\n",
            escape(&duration_words(age))
        ),
        Freshness::NeverSucceeded => {
            "<p class=\"age stale\"><strong>Stale</strong>: no success recorded.</p>\n".to_owned()
        }
    }
}

fn optional_time(time: Option<DateTime<Utc>>, zone: Tz) -> String {
    time.map_or_else(
        || "<span class=\"none\">none recorded</span>".to_owned(),
        |time| time_element(time, zone),
    )
}

/// `<time datetime="2015-01-18T10:30:13Z">2015-01-18 13:30:13 MSK</time>`: machine-readable
/// instant, human-readable local time with the zone's abbreviation (which tells EDT from EST).
fn time_element(time: DateTime<Utc>, zone: Tz) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(&time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        escape(&local_time(time, zone)),
    )
}

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

/// Makes text safe inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Colours meet WCAG AA contrast on their backgrounds; status is never told by colour alone.
const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>QoE integration status</title>
<style>
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24; background: #f6f8fa; line-height: 1.45; }
body { margin: 0 auto; max-width: 64rem; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 0 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
.meta { margin: 0 0 1rem; color: #3d444d; }
.banner { padding: .75rem 1rem; border-radius: .5rem; border: 2px solid; font-size: 1.05rem; margin: 0 0 1rem; }
.banner.fresh { background: #dafbe1; border-color: #1a7f37; color: #0f3d1d; }
.banner.stale { background: #fff1e5; border-color: #bc4c00; color: #5c2200; }
.jobs { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
.job { background: #fff; border: 1px solid #d1d9e0; border-radius: .5rem; padding: 1rem; }
.age { margin: 0 0 .75rem; padding: .25rem .5rem; border-radius: .25rem; }
.age.fresh { background: #dafbe1; color: #0f3d1d; }
.age.stale { background: #fff1e5; color: #5c2200; border-left: 4px solid #bc4c00; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem .75rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; font-variant-numeric: tabular-nums; }
time { white-space: nowrap; }
.none { color: #3d444d; font-style: italic; }
.timeline { list-style: none; margin: 0; padding: 0 0 0 .25rem; border-left: 2px solid #d1d9e0; }
.timeline li { display: grid; grid-template-columns: 1.2em 6.4em 1fr; column-gap: .3rem; padding: .1rem 0 .1rem .5rem; font-variant-numeric: tabular-nums; }
.timeline .mark { font-weight: 700; text-align: center; }
.timeline .ok .mark, .timeline .ok .outcome { color: #116329; }
.timeline .failed .mark, .timeline .failed .outcome { color: #a40e26; }
.outcome { font-weight: 600; }
.chart { display: block; width: 100%; height: 5rem; background: #f6f8fa; border-bottom: 1px solid #3d444d; }
.chart .bar.ok { fill: #1a7f37; }
.chart .bar.failed { fill: #cf222e; }
.axis { display: flex; justify-content: space-between; margin: .1rem 0 0; font-size: .8rem; color: #3d444d; }
footer { margin-top: 1.5rem; color: #3d444d; font-size: .9rem; }
code { font-size: .9em; overflow-wrap: anywhere; }
@media (max-width: 30rem) { body { padding: .75rem; } .job { padding: .75rem; } .timeline { font-size: .95rem; } }
</style>
</head>
<body>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::utc;

    fn context(now: &str, zone: Tz) -> PageContext {
        PageContext {
            zone,
            now: utc(now),
            stale_after: TimeDelta::minutes(30),
        }
    }

    fn status() -> IntegrationStatus {
        IntegrationStatus {
            last_success_integrations: vec![utc("2015-01-18 10:30:13"), utc("2015-01-18 10:15:00")],
            last_success_cube_processings: vec![utc("2015-01-18 08:00:00")],
            last_failed_integrations: vec![utc("2015-01-18 10:20:00")],
            last_failed_cube_processings: vec![],
            last_data_integration_start: Some(utc("2015-01-18 10:45:00")),
            last_cube_processing_start: None,
        }
    }

    #[test]
    fn the_page_names_the_zone_and_shows_times_in_it() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::Europe__Moscow),
        );

        assert!(page.contains("<strong>Europe/Moscow</strong>"), "{page}");
        assert!(page
            .contains(r#"<time datetime="2015-01-18T10:30:13Z">2015-01-18 13:30:13 MSK</time>"#));
    }

    #[test]
    fn a_job_whose_newest_success_is_too_old_is_flagged_stale() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(page.contains(r#"role="alert"><strong>Stale:</strong> cube processing"#));
        assert!(page.contains("<strong>Stale</strong>: newest success 2 h 40 min ago."));
        assert!(page.contains("Newest success 9 min ago."));
    }

    #[test]
    fn fresh_jobs_give_a_calm_banner() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 08:10:00", Tz::UTC),
        );

        assert!(page.contains("Both jobs are up to date."), "{page}");
        assert!(!page.contains("role=\"alert\""));
    }

    #[test]
    fn a_job_without_any_success_is_stale() {
        let page = render(
            &IntegrationStatus::default(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(page.contains("data integration and cube processing have not succeeded"));
        assert_eq!(page.matches("no success recorded").count(), 2);
        assert_eq!(page.matches("No finished runs recorded.").count(), 2);
    }

    #[test]
    fn the_timeline_merges_successes_and_failures_newest_first() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        let first = page
            .find("2015-01-18 10:30:13 UTC</time></li>")
            .expect("success");
        let second = page
            .find("2015-01-18 10:20:00 UTC</time></li>")
            .expect("failure");
        let third = page
            .find("2015-01-18 10:15:00 UTC</time></li>")
            .expect("success");
        assert!(first < second && second < third);
        assert!(page.contains(r#"<li class="failed"><span class="mark" aria-hidden="true">✗</span> <span class="outcome">Failed</span>"#));
    }

    #[test]
    fn missing_times_read_none_recorded() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(page.contains("<dt>Last start</dt><dd><span class=\"none\">none recorded</span>"));
    }

    #[test]
    fn the_page_is_self_contained_and_mobile_ready() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page
            .contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#));
        for external in ["<script", "<link", "src=", "http://", "https://"] {
            assert!(!page.contains(external), "found {external}");
        }
    }

    fn runs() -> StatusRead {
        let run = |start: &str, seconds: i64, outcome: Outcome| JobRun {
            job: JobKind::DataIntegration,
            started: utc(start),
            end: Some(crate::domain::RunEnd {
                outcome,
                finished: utc(start) + TimeDelta::seconds(seconds),
            }),
            message: None,
        };
        StatusRead {
            entries: Vec::new(),
            runs: vec![
                run("2015-01-18 10:00:00", 100, Outcome::Succeeded),
                run("2015-01-18 10:15:00", 200, Outcome::Failed),
                run("2015-01-18 10:30:00", 50, Outcome::Succeeded),
            ],
        }
    }

    #[test]
    fn each_job_shows_its_last_runs_duration() {
        let page = render(&status(), &runs(), &context("2015-01-18 10:40:00", Tz::UTC));

        assert!(
            page.contains("<dt>Last run took</dt><dd>50 s</dd>"),
            "{page}"
        );
        assert!(
            page.contains("<dt>Last run took</dt><dd><span class=\"none\">none recorded</span>"),
            "cube processing has no runs: {page}"
        );
    }

    #[test]
    fn the_chart_draws_one_bar_a_run_along_time_height_by_duration_colour_by_outcome() {
        let page = render(&status(), &runs(), &context("2015-01-18 10:40:00", Tz::UTC));

        assert_eq!(page.matches("<svg class=\"chart\"").count(), 1, "{page}");
        let bars: Vec<&str> = page
            .match_indices("<rect ")
            .map(|(at, _)| &page[at..at + 90])
            .collect();
        assert_eq!(bars.len(), 3);
        assert!(
            bars[0].starts_with(r#"<rect class="bar ok" x="1" y="40" width="14" height="40""#),
            "{}",
            bars[0]
        );
        assert!(
            bars[1].starts_with(r#"<rect class="bar failed" x="153" y="0" width="14" height="80""#),
            "{}",
            bars[1]
        );
        assert!(
            bars[2].starts_with(r#"<rect class="bar ok" x="305" y="60" width="14" height="20""#),
            "{}",
            bars[2]
        );
        assert!(page
            .contains("<title>Failed, started 2015-01-18 10:15:00 UTC, took 3 min 20 s</title>"));
        assert!(
            page.contains("No run durations recorded."),
            "cube processing: {page}"
        );
    }

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
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
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
}
