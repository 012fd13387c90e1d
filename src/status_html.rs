//! The status page for people: one self-contained HTML document rendered from the status, the
//! database's failure or the switch that is off. No scripts, no external assets; every value
//! that reaches the markup goes through [`escape`].
use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::configuration::{env_name, key};
use crate::domain::{
    Freshness, IntegrationStatus, Job, JobRun, JobStatus, Outcome, StatusRead, STATUS_DEPTH,
};

/// The name the browser tab shows after the state.
const SERVICE_NAME: &str = "QoE Data Service";

/// What the page shows besides the status: the zone, the moment judged, the threshold, and
/// how often the page reloads itself (`None`: never).
#[derive(Debug, Clone, Copy)]
pub struct PageContext {
    pub zone: Tz,
    pub now: DateTime<Utc>,
    pub stale_after: TimeDelta,
    pub refresh: Option<Duration>,
}

/// The page's verdict, worst first: what the tab title and the banner lead with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The database could not answer: the jobs' state is unknown.
    Unavailable,
    /// A job's newest outcome is a failure.
    Failing,
    /// A job's newest success is older than the threshold, or there is none.
    Stale,
    Ok,
    /// `integration_log.enabled` is false: nothing is read.
    Disabled,
}

impl Verdict {
    /// The tab title: the state first, so it shows in a narrow tab.
    pub fn title(self) -> String {
        let state = match self {
            Verdict::Unavailable => "✗ database unavailable",
            Verdict::Failing => "✗ failing",
            Verdict::Stale => "stale",
            Verdict::Ok => "OK",
            Verdict::Disabled => "disabled",
        };
        format!("{state} · {SERVICE_NAME}")
    }
}

/// One job's card on the page: its part of the status, named for people.
struct JobCard<'a> {
    status: JobStatus<'a>,
    id: &'static str,
    title: &'static str,
    freshness: Freshness,
}

impl<'a> JobCard<'a> {
    fn new(status: JobStatus<'a>, context: &PageContext) -> Self {
        let (id, title) = match status.job {
            Job::DataIntegration => ("data-integration", "Data integration"),
            Job::CubeProcessing => ("cube-processing", "Cube processing"),
        };
        let freshness = Freshness::judge(
            status.successes.first().copied(),
            context.now,
            context.stale_after,
        );
        JobCard {
            status,
            id,
            title,
            freshness,
        }
    }

    /// Successes and failures merged, newest first; at the same instant the success first, as
    /// [`Self::newest_failure_if_failing`] judges a tie.
    fn outcomes(&self) -> Vec<(DateTime<Utc>, Outcome)> {
        let mut outcomes: Vec<(DateTime<Utc>, Outcome)> = self
            .status
            .successes
            .iter()
            .map(|time| (*time, Outcome::Succeeded))
            .chain(
                self.status
                    .failures
                    .iter()
                    .map(|time| (*time, Outcome::Failed)),
            )
            .collect();
        outcomes.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
        outcomes
    }

    /// Failing: the newest recorded outcome is a failure, as the `QoEJobFailing` alert judges
    /// it (`deploy/prometheus/alerts.yml`): a failure newer than every success.
    fn newest_failure_if_failing(&self) -> Option<DateTime<Utc>> {
        let failure = *self.status.failures.first()?;
        match self.status.successes.first() {
            Some(success) if *success >= failure => None,
            _ => Some(failure),
        }
    }

    /// How many of the last [`STATUS_DEPTH`] finished runs failed, and how many there were.
    fn failed_of_last(&self) -> (usize, usize) {
        let outcomes = self.outcomes();
        let last = &outcomes[..outcomes.len().min(STATUS_DEPTH)];
        let failed = last
            .iter()
            .filter(|(_, outcome)| *outcome == Outcome::Failed)
            .count();
        (failed, last.len())
    }
}

/// The page for a status read: `runs` gives each job's durations. Pure: the same arguments
/// give the same bytes.
pub fn render(status: &IntegrationStatus, runs: &StatusRead, context: &PageContext) -> String {
    let cards = status.jobs().map(|job| JobCard::new(job, context));
    let verdict = if cards
        .iter()
        .any(|card| card.newest_failure_if_failing().is_some())
    {
        Verdict::Failing
    } else if cards.iter().any(|card| card.freshness.is_stale()) {
        Verdict::Stale
    } else {
        Verdict::Ok
    };
    let mut page = start(verdict, context.refresh);
    let _ = write!(
        page,
        "<p class=\"meta\">Times in <strong>{zone}</strong>. Checked at {now}.{reload} A job is \
         <em>failing</em> when its newest run failed, <em>stale</em> when its newest success is \
         older than {threshold}.</p>\n</header>\n<main>\n",
        zone = escape(context.zone.name()),
        now = time_element(context.now, context.zone),
        reload = reload_words(context.refresh),
        threshold = escape(&duration_words(context.stale_after)),
    );
    page.push_str(&banner(&cards, context));
    page.push_str("<div class=\"jobs\">\n");
    for card in &cards {
        page.push_str(&job_section(
            card,
            &runs.recent_runs(card.status.job),
            context,
        ));
    }
    page.push_str(
        "</div>\n</main>\n<footer><p>The same data as JSON: <code>GET \
         /QoEDataService/IntegrationLog/Status</code>.</p></footer>\n",
    );
    finish(page)
}

/// The page while the database cannot answer: the reason in `/readyz`'s words and when the
/// page asks again (`retry_after`, the 503's `Retry-After`).
pub fn render_unavailable(reason: &str, retry_after: Duration, context: &PageContext) -> String {
    let retry_seconds = retry_after.as_secs().max(1);
    let refresh = context.refresh.map(|_| Duration::from_secs(retry_seconds));
    let mut page = start(Verdict::Unavailable, refresh);
    let retry = match refresh {
        Some(_) => format!("This page tries again in {retry_seconds} s."),
        None => format!(
            "Reload the page to try again (the service asks for {retry_seconds} s between \
             tries)."
        ),
    };
    let _ = write!(
        page,
        "<p class=\"meta\">Checked at {now}.</p>\n</header>\n<main>\n<div class=\"banner \
         failing\" role=\"alert\">\n<p><strong>✗ Database unavailable:</strong> {reason}.</p>\n\
         <p>The integration log could not be read, so the jobs' state is unknown. {retry}</p>\n\
         </div>\n<section class=\"job\">\n<h2>What to check</h2>\n<p><code>GET /readyz</code> \
         gives the same reason; the service's log has the full cause (never shown here). The \
         README names each reason and what to check.</p>\n</section>\n</main>\n",
        now = time_element(context.now, context.zone),
        reason = escape(reason),
    );
    finish(page)
}

/// The page while `integration_log.enabled` is false: how to turn it on.
pub fn render_disabled(context: &PageContext) -> String {
    let mut page = start(Verdict::Disabled, context.refresh);
    page.push_str(&format!(
        "</header>\n<main>\n<div class=\"banner off\" role=\"status\">\n<p><strong>Disabled:\
         </strong> the integration log API is turned off, so the service reads nothing and has \
         nothing to show.</p>\n</div>\n<section class=\"job\">\n<h2>How to turn it on</h2>\n\
         <p>Set <code>{setting}</code> to <code>true</code> in the settings \
         file:</p>\n<pre><code>[integration_log]\nenabled = true</code></pre>\n<p>or set the \
         environment variable <code>{variable}=true</code>, then restart the \
         service.</p>\n<p>While it is off, Status and Integration Log answer <code>200</code> \
         with an empty body, as CQD does, and the database is not read.</p>\n</section>\n\
         </main>\n",
        setting = key::ENABLED,
        variable = env_name(key::ENABLED),
    ));
    finish(page)
}

/// The document up to the page's heading: the title says `verdict`, the page reloads itself
/// after `refresh`.
fn start(verdict: Verdict, refresh: Option<Duration>) -> String {
    let mut page = String::with_capacity(12 * 1024);
    page.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta \
         name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    );
    if let Some(refresh) = refresh {
        let _ = writeln!(
            page,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            refresh.as_secs()
        );
    }
    let _ = writeln!(page, "<title>{}</title>", escape(&verdict.title()));
    page.push_str(STYLE);
    page.push_str("</head>\n<body>\n<header>\n<h1>QoE integration status</h1>\n");
    page
}

fn finish(mut page: String) -> String {
    page.push_str("</body>\n</html>\n");
    page
}

fn reload_words(refresh: Option<Duration>) -> String {
    match refresh {
        Some(refresh) => format!(" This page reloads every {} s.", refresh.as_secs()),
        None => String::new(),
    }
}

/// Failures first (each failing job's newest failure and how many of its last runs failed),
/// staleness second; a calm line when there is neither.
fn banner(cards: &[JobCard<'_>; 2], context: &PageContext) -> String {
    let mut lines = String::new();
    for card in cards {
        let Some(failure) = card.newest_failure_if_failing() else {
            continue;
        };
        let (failed, of) = card.failed_of_last();
        let _ = writeln!(
            lines,
            "<p><strong>✗ Failing:</strong> {title}: its newest run failed at {time}; {failed} \
             of its last {of} runs failed.</p>",
            title = escape(card.title),
            time = time_element(failure, context.zone),
        );
    }
    let failing = !lines.is_empty();
    for card in cards {
        let why = match card.freshness {
            Freshness::Fresh { .. } => continue,
            Freshness::Stale { age } => {
                format!("has not succeeded for {}", escape(&duration_words(age)))
            }
            Freshness::NeverSucceeded => "has no success recorded".to_owned(),
        };
        let _ = writeln!(
            lines,
            "<p><strong>Stale:</strong> {title} {why}.</p>",
            title = escape(card.title),
        );
    }
    if lines.is_empty() {
        return format!(
            "<div class=\"banner fresh\" role=\"status\">\n<p><strong>✓ OK:</strong> both jobs' \
             newest runs succeeded, within the last {}.</p>\n</div>\n",
            escape(&duration_words(context.stale_after))
        );
    }
    let class = if failing { "failing" } else { "stale" };
    format!("<div class=\"banner {class}\" role=\"alert\">\n{lines}</div>\n")
}

fn job_section(card: &JobCard<'_>, runs: &[&JobRun], context: &PageContext) -> String {
    let zone = context.zone;
    let job = &card.status;
    let mut section = String::new();
    let last_duration = runs.last().and_then(|run| run.duration()).map_or_else(
        || "<span class=\"none\">none recorded</span>".to_owned(),
        |duration| escape(&run_duration_words(duration)),
    );
    let recent = match card.failed_of_last() {
        (_, 0) => "<span class=\"none\">none recorded</span>".to_owned(),
        (failed, of) => format!("{} succeeded, {failed} failed", of - failed),
    };
    let failing = card
        .newest_failure_if_failing()
        .map_or_else(String::new, |failure| {
            format!(
            "<p class=\"age failing\"><strong>✗ Failing</strong>: newest run failed {} ago.</p>\n",
            escape(&duration_words(context.now - failure))
        )
        });
    let _ = write!(
        section,
        "<section class=\"job\" aria-labelledby=\"{id}\">\n<h2 id=\"{id}\">{title}</h2>\n\
         {failing}{age}<dl>\n<dt>Last success</dt><dd>{success}</dd>\n<dt>Last failure</dt>\
         <dd>{failure}</dd>\n<dt>Last start</dt><dd>{start}</dd>\n<dt>Last run took</dt>\
         <dd>{last_duration}</dd>\n<dt>Last {depth} runs</dt><dd>{recent}</dd>\n</dl>\n\
         {chart}<h3>Recent runs</h3>\n",
        id = card.id,
        title = escape(card.title),
        age = freshness_line(card.freshness, !failing.is_empty()),
        success = optional_time(job.successes.first().copied(), zone),
        failure = optional_time(job.failures.first().copied(), zone),
        start = optional_time(job.start, zone),
        depth = STATUS_DEPTH,
        chart = duration_chart(card.id, runs, zone),
    );
    let outcomes = card.outcomes();
    if outcomes.is_empty() {
        section.push_str("<p class=\"none\">No finished runs recorded.</p>\n");
    } else {
        section.push_str("<ol class=\"timeline\">\n");
        for (time, outcome) in outcomes {
            let (class, mark, word) = outcome_words(outcome);
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

/// The class, mark and word an outcome is shown with: never colour alone.
fn outcome_words(outcome: Outcome) -> (&'static str, &'static str, &'static str) {
    match outcome {
        Outcome::Succeeded => ("ok", "✓", "Succeeded"),
        Outcome::Failed => ("failed", "✗", "Failed"),
    }
}

/// Chart geometry, in SVG user units.
const CHART_WIDTH: usize = 320;
const CHART_HEIGHT: usize = 80;
const BAR_WIDTH: i64 = (CHART_WIDTH / crate::domain::CHART_DEPTH) as i64 - 2;

/// Steps the duration axis may take, in seconds: round numbers of seconds, minutes and hours.
const SCALE_STEPS: [i64; 16] = [
    5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];
/// Most steps above zero on the duration axis, so its labels never crowd.
const MAX_TICKS: i64 = 4;

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

/// The recent runs as an inline SVG bar chart: one bar a run, placed along the x axis by its
/// start between the oldest (left edge) and the newest (right edge), height the duration on a
/// scale of round steps labelled beside it, colour (and each bar's title) the outcome. Markup
/// only: no script, no external resource, styled by the page's own stylesheet. The labels are
/// HTML beside the SVG, which stretches to the card's width and so cannot hold text.
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
        .map(|(_, duration, _)| *duration)
        .max()
        .unwrap_or_default();
    let (step, ticks) = duration_scale(longest);
    let top = step * ticks * 1000;
    let height = CHART_HEIGHT as i64;
    let mut chart = String::new();
    let _ = write!(
        chart,
        "<h3 id=\"{id}-durations\">Run durations</h3>\n<div class=\"chart-box\">\n<p \
         class=\"y-axis\" aria-hidden=\"true\">",
    );
    for tick in (0..=ticks).rev() {
        let _ = write!(chart, "<span>{}</span>", tick_words(tick * step, step));
    }
    let _ = write!(
        chart,
        "</p>\n<svg class=\"chart\" role=\"img\" aria-labelledby=\"{id}-durations\" viewBox=\"0 \
         0 {CHART_WIDTH} {CHART_HEIGHT}\" preserveAspectRatio=\"none\">\n<title>Durations of the \
         last {count} runs, oldest first; the longest took {longest_words}.</title>\n",
        count = finished.len(),
        longest_words = escape(&run_duration_words(longest)),
    );
    for tick in 1..ticks {
        let _ = writeln!(
            chart,
            "<line class=\"grid\" x1=\"0\" x2=\"{CHART_WIDTH}\" y1=\"{y}\" y2=\"{y}\" \
             vector-effect=\"non-scaling-stroke\"/>",
            y = height - tick * height / ticks,
        );
    }
    let span = (last.0.started - first.0.started).num_milliseconds();
    let track = CHART_WIDTH as i64 - BAR_WIDTH - 2;
    for (run, duration, outcome) in &finished {
        let offset = (run.started - first.0.started).num_milliseconds();
        let x = 1 + if span > 0 { offset * track / span } else { 0 };
        let bar = (duration.num_milliseconds() * height / top).clamp(1, height);
        let (class, _, word) = outcome_words(*outcome);
        let _ = writeln!(
            chart,
            "<rect class=\"bar {class}\" x=\"{x}\" y=\"{y}\" width=\"{BAR_WIDTH}\" \
             height=\"{bar}\"><title>{word}, started {started}, took {took}</title></rect>",
            y = height - bar,
            started = escape(&local_time(run.started, zone)),
            took = escape(&run_duration_words(*duration)),
        );
    }
    let _ = write!(
        chart,
        "</svg>\n<p class=\"axis\"><span>{oldest}</span><span>{newest}</span></p>\n</div>\n",
        oldest = axis_time(first.0.started, zone),
        newest = axis_time(last.0.started, zone),
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

/// The age of the newest success; not green on a failing job, whose newest run failed.
fn freshness_line(freshness: Freshness, failing: bool) -> String {
    match freshness {
        Freshness::Fresh { age } => format!(
            "<p class=\"age {}\">Newest success {} ago.</p>\n",
            if failing { "neutral" } else { "fresh" },
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
    time_tag(time, &local_time(time, zone))
}

/// A start under the chart: to the minute, the zone named at the top of the page.
fn axis_time(time: DateTime<Utc>, zone: Tz) -> String {
    let text = time
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    time_tag(time, &text)
}

fn time_tag(time: DateTime<Utc>, text: &str) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(&time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        escape(text),
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
/// Nothing may be wider than a 320 px screen: long values wrap, grids shrink to one column.
const STYLE: &str = r#"<style>
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24; background: #f6f8fa; line-height: 1.45; }
body { margin: 0 auto; max-width: 64rem; padding: 1rem; overflow-wrap: anywhere; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 0 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
.meta { margin: 0 0 1rem; color: #3d444d; }
.banner { padding: .5rem 1rem; border-radius: .5rem; border: 2px solid; font-size: 1.05rem; margin: 0 0 1rem; }
.banner p { margin: .25rem 0; }
.banner.fresh { background: #dafbe1; border-color: #1a7f37; color: #0f3d1d; }
.banner.stale { background: #fff1e5; border-color: #bc4c00; color: #5c2200; }
.banner.failing { background: #ffebe9; border-color: #cf222e; color: #6e011a; }
.banner.off { background: #ddf4ff; border-color: #0969da; color: #0a3069; }
.jobs { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(18rem, 100%), 1fr)); gap: 1rem; }
.job { background: #fff; border: 1px solid #d1d9e0; border-radius: .5rem; padding: 1rem; min-width: 0; }
.job > :last-child { margin-bottom: 0; }
.age { margin: 0 0 .75rem; padding: .25rem .5rem; border-radius: .25rem; }
.age.fresh { background: #dafbe1; color: #0f3d1d; }
.age.neutral { background: #f6f8fa; color: #1b1f24; }
.age.stale { background: #fff1e5; color: #5c2200; border-left: 4px solid #bc4c00; }
.age.failing { background: #ffebe9; color: #6e011a; border-left: 4px solid #cf222e; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem .75rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; font-variant-numeric: tabular-nums; }
.none { color: #3d444d; font-style: italic; }
time { display: inline-block; }
.timeline { list-style: none; margin: 0; padding: 0 0 0 .25rem; border-left: 2px solid #d1d9e0; }
.timeline li { display: grid; grid-template-columns: 1.2em 6.4em minmax(0, 1fr); column-gap: .3rem; padding: .1rem 0 .1rem .5rem; font-variant-numeric: tabular-nums; }
.timeline .mark { font-weight: 700; text-align: center; }
.timeline .ok .mark, .timeline .ok .outcome { color: #116329; }
.timeline .failed .mark, .timeline .failed .outcome { color: #a40e26; }
.outcome { font-weight: 600; }
.chart-box { margin-top: .6rem; display: grid; grid-template-columns: max-content minmax(0, 1fr); column-gap: .4rem; }
.y-axis { display: flex; flex-direction: column; justify-content: space-between; margin: -.5em 0; font-size: .75rem; line-height: 1; text-align: right; color: #3d444d; white-space: nowrap; font-variant-numeric: tabular-nums; }
.chart { grid-column: 2; display: block; width: 100%; height: 5rem; background: #f6f8fa; border-bottom: 1px solid #3d444d; border-left: 1px solid #3d444d; box-sizing: border-box; }
.chart .grid { stroke: #d1d9e0; stroke-width: 1; }
.chart .bar.ok { fill: #1a7f37; }
.chart .bar.failed { fill: #cf222e; }
.axis { grid-column: 2; display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 .75rem; margin: .1rem 0 0; font-size: .75rem; color: #3d444d; }
.axis time { white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid #d1d9e0; border-radius: .25rem; padding: .5rem; white-space: pre-wrap; }
footer { margin-top: 1.5rem; color: #3d444d; font-size: .9rem; }
code { font-size: .9em; overflow-wrap: anywhere; }
@media (max-width: 30rem) { body { padding: .75rem; } .job { padding: .75rem; } .timeline { font-size: .95rem; } .banner { padding: .5rem .75rem; } }
</style>
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
            refresh: Some(Duration::from_secs(60)),
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

    /// Cube processing's newest run failed (two of its three runs did); integration is fine.
    fn failing_cube() -> IntegrationStatus {
        IntegrationStatus {
            last_failed_cube_processings: vec![
                utc("2015-01-18 10:25:00"),
                utc("2015-01-18 09:55:00"),
            ],
            last_success_cube_processings: vec![utc("2015-01-18 10:10:00")],
            ..status()
        }
    }

    fn title(page: &str) -> &str {
        let start = page.find("<title>").expect("a title") + "<title>".len();
        let end = page.find("</title>").expect("a title");
        &page[start..end]
    }

    fn banner(page: &str) -> &str {
        let start = page.find("<div class=\"banner").expect("a banner");
        let end = start + page[start..].find("</div>").expect("the banner's end");
        &page[start..end]
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

        assert_eq!(title(&page), "stale · QoE Data Service");
        assert!(banner(&page).starts_with("<div class=\"banner stale\" role=\"alert\">"));
        assert!(
            banner(&page).contains(
                "<strong>Stale:</strong> Cube processing has not succeeded for 2 h 40 min."
            ),
            "{page}"
        );
        assert!(page.contains("<strong>Stale</strong>: newest success 2 h 40 min ago."));
        assert!(page.contains("Newest success 9 min ago."));
    }

    #[test]
    fn fresh_jobs_whose_newest_runs_succeeded_give_a_calm_banner_and_an_ok_title() {
        let page = render(
            &IntegrationStatus {
                last_success_cube_processings: vec![utc("2015-01-18 10:20:00")],
                ..status()
            },
            &StatusRead::default(),
            &context("2015-01-18 10:35:00", Tz::UTC),
        );

        assert_eq!(title(&page), "OK · QoE Data Service");
        assert!(
            banner(&page).contains("<strong>✓ OK:</strong> both jobs' newest runs succeeded"),
            "{page}"
        );
        assert!(!page.contains("role=\"alert\""));
    }

    #[test]
    fn a_job_without_any_success_is_stale() {
        let page = render(
            &IntegrationStatus::default(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert_eq!(title(&page), "stale · QoE Data Service");
        assert!(banner(&page).contains("Data integration has no success recorded."));
        assert!(banner(&page).contains("Cube processing has no success recorded."));
        assert_eq!(page.matches("no success recorded").count(), 4);
        assert_eq!(page.matches("No finished runs recorded.").count(), 2);
    }

    #[test]
    fn a_job_whose_newest_run_failed_is_failing_and_named_before_staleness() {
        let page = render(
            &IntegrationStatus {
                last_success_integrations: vec![utc("2015-01-18 09:00:00")],
                last_failed_integrations: vec![],
                ..failing_cube()
            },
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert_eq!(title(&page), "✗ failing · QoE Data Service");
        let banner = banner(&page);
        assert!(banner.starts_with("<div class=\"banner failing\" role=\"alert\">"));
        let failing = banner
            .find(
                "<strong>✗ Failing:</strong> Cube processing: its newest run failed at <time \
                 datetime=\"2015-01-18T10:25:00Z\">2015-01-18 10:25:00 UTC</time>; 2 of its last \
                 3 runs failed.",
            )
            .unwrap_or_else(|| panic!("the failure is named: {banner}"));
        let stale = banner
            .find("<strong>Stale:</strong> Data integration has not succeeded for 1 h 40 min.")
            .unwrap_or_else(|| panic!("the staleness is named: {banner}"));
        assert!(failing < stale, "failures first: {banner}");
        assert!(
            !banner.contains("Failing:</strong> Data integration"),
            "{banner}"
        );
        assert!(page.contains("<strong>✗ Failing</strong>: newest run failed 15 min ago."));
        assert!(page.contains("<dt>Last 5 runs</dt><dd>1 succeeded, 2 failed</dd>"));
        assert!(
            page.contains("<p class=\"age neutral\">Newest success 30 min ago.</p>"),
            "a failing job's recent success is not shown green: {page}"
        );
    }

    #[test]
    fn a_failure_followed_by_a_success_is_not_failing_but_still_counted() {
        let page = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(!page.contains("Failing"), "integration recovered: {page}");
        assert!(page.contains("<dt>Last 5 runs</dt><dd>2 succeeded, 1 failed</dd>"));
    }

    #[test]
    fn a_failure_and_a_success_at_the_same_instant_are_not_failing_as_the_alert_judges() {
        let page = render(
            &IntegrationStatus {
                last_failed_integrations: vec![utc("2015-01-18 10:30:13")],
                ..status()
            },
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(!page.contains("Failing"), "{page}");
    }

    #[test]
    fn only_the_last_five_runs_are_counted() {
        let card_of = |status: &IntegrationStatus| {
            let context = context("2015-01-18 10:40:00", Tz::UTC);
            JobCard::new(status.jobs()[0], &context).failed_of_last()
        };
        let status = IntegrationStatus {
            last_success_integrations: (0..5)
                .map(|minute| utc(&format!("2015-01-18 10:0{minute}:00")))
                .collect(),
            last_failed_integrations: (5..10)
                .map(|minute| utc(&format!("2015-01-18 10:0{minute}:00")))
                .collect(),
            ..IntegrationStatus::default()
        };

        assert_eq!(card_of(&status), (5, 5));
        assert_eq!(card_of(&IntegrationStatus::default()), (0, 0));
    }

    #[test]
    fn the_page_reloads_itself_at_the_configured_interval_or_never() {
        let every_minute = render(
            &status(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );
        let never = render(
            &status(),
            &StatusRead::default(),
            &PageContext {
                refresh: None,
                ..context("2015-01-18 10:40:00", Tz::UTC)
            },
        );

        assert!(every_minute.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
        assert!(every_minute.contains("This page reloads every 60 s."));
        assert!(!never.contains("http-equiv"), "{never}");
        assert!(!never.contains("reloads"), "{never}");
    }

    #[test]
    fn the_unavailable_page_gives_the_reason_and_when_it_tries_again() {
        let page = render_unavailable(
            "database login failed",
            Duration::from_secs(5),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert_eq!(title(&page), "✗ database unavailable · QoE Data Service");
        assert!(banner(&page)
            .contains("<strong>✗ Database unavailable:</strong> database login failed."));
        assert!(
            page.contains("<meta http-equiv=\"refresh\" content=\"5\">"),
            "{page}"
        );
        assert!(page.contains("This page tries again in 5 s."));
        assert!(page.contains("<code>GET /readyz</code> gives the same reason"));
    }

    #[test]
    fn without_reloads_the_unavailable_page_says_to_reload_it() {
        let page = render_unavailable(
            "database unreachable",
            Duration::from_secs(5),
            &PageContext {
                refresh: None,
                ..context("2015-01-18 10:40:00", Tz::UTC)
            },
        );

        assert!(!page.contains("http-equiv"), "{page}");
        assert!(page.contains("Reload the page to try again"));
    }

    #[test]
    fn the_disabled_page_says_how_to_enable_it() {
        let page = render_disabled(&context("2015-01-18 10:40:00", Tz::UTC));

        assert_eq!(title(&page), "disabled · QoE Data Service");
        assert!(page.contains("<code>integration_log.enabled</code> to <code>true</code>"));
        assert!(page.contains("[integration_log]\nenabled = true"));
        assert!(page.contains("<code>QOE_INTEGRATION_LOG__ENABLED=true</code>"));
        assert!(
            !page.contains("<section class=\"job\" aria-labelledby"),
            "no jobs: {page}"
        );
        assert!(
            !page.contains("The same data as JSON"),
            "Status is empty: {page}"
        );
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
    fn every_state_is_self_contained_and_mobile_ready() {
        let context = context("2015-01-18 10:40:00", Tz::UTC);
        let pages = [
            render(&status(), &StatusRead::default(), &context),
            render(&failing_cube(), &runs(), &context),
            render_unavailable("database unreachable", Duration::from_secs(5), &context),
            render_disabled(&context),
        ];

        for page in pages {
            assert!(page.starts_with("<!DOCTYPE html>"));
            assert!(page.contains(
                r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
            ));
            for external in ["<script", "<link", "src=", "http://", "https://"] {
                assert!(!page.contains(external), "found {external}: {page}");
            }
            assert!(page.ends_with("</html>\n"));
        }
    }

    fn runs() -> StatusRead {
        let run = |start: &str, seconds: i64, outcome: Outcome| JobRun {
            job: Job::DataIntegration,
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
        // The scale runs to 4 min: 100 s is 33 of 80 units, 200 s 66, 50 s 16.
        assert!(
            bars[0].starts_with(r#"<rect class="bar ok" x="1" y="47" width="14" height="33""#),
            "{}",
            bars[0]
        );
        assert!(
            bars[1]
                .starts_with(r#"<rect class="bar failed" x="153" y="14" width="14" height="66""#),
            "{}",
            bars[1]
        );
        assert!(
            bars[2].starts_with(r#"<rect class="bar ok" x="305" y="64" width="14" height="16""#),
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
    fn the_chart_has_a_duration_scale_with_gridlines_at_its_ticks() {
        let page = render(&status(), &runs(), &context("2015-01-18 10:40:00", Tz::UTC));

        assert!(
            page.contains(
                "<p class=\"y-axis\" aria-hidden=\"true\"><span>4 min</span><span>3 min</span>\
                 <span>2 min</span><span>1 min</span><span>0</span></p>"
            ),
            "{page}"
        );
        assert_eq!(page.matches("<line class=\"grid\"").count(), 3, "{page}");
        assert!(page.contains("<line class=\"grid\" x1=\"0\" x2=\"320\" y1=\"20\" y2=\"20\""));
        assert!(
            page.contains(
                "<p class=\"axis\"><span><time datetime=\"2015-01-18T10:00:00Z\">2015-01-18 \
                 10:00</time></span><span><time datetime=\"2015-01-18T10:30:00Z\">2015-01-18 \
                 10:30</time></span></p>"
            ),
            "the starts under the chart, to the minute: {page}"
        );
    }

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
