//! The page's markup, one template per part. Every value is escaped by maud on the way in;
//! only the stylesheet, a file of this crate, goes in unescaped.
use std::time::Duration;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::chart::duration_chart;
use super::words::{
    duration_words, none_recorded, optional_time, outcome_words, run_duration_words, shortened,
    time_element,
};
use super::{PageContext, Verdict};
use crate::configuration::{env_name, key};
use crate::domain::agent::{utc_offset, ZoneMismatch};
use crate::domain::{
    outcomes, Freshness, Job, JobRun, JobStatus, JobVerdict, StatusRead, STATUS_DEPTH,
};

/// Colours meet WCAG AA contrast on their backgrounds; status is never told by colour alone.
/// Nothing may be wider than a 320 px screen: long values wrap, grids shrink to one column.
const STYLE: &str = include_str!("style.css");

/// The name the browser tab shows after the state.
pub const SERVICE_NAME: &str = "QoE Data Service";

/// How much of a failure's message the page shows; the log entry it links to has all of it.
const MESSAGE_LIMIT: usize = 300;

/// What the page calls the jobs, and the ids of their cards.
fn job_names(job: Job) -> (&'static str, &'static str) {
    match job {
        Job::DataIntegration => ("data-integration", "Data integration"),
        Job::CubeProcessing => ("cube-processing", "Cube processing"),
    }
}

/// The whole document: the title says `verdict`, the page reloads itself after `refresh`.
pub fn document(verdict: Verdict, refresh: Option<Duration>, body: Markup) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(refresh) = refresh {
                    meta http-equiv="refresh" content=(refresh.as_secs());
                }
                title { (verdict.title()) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (body)
                footer {
                    @if verdict.has_jobs() {
                        p {
                            "The same data as JSON: "
                            code { "GET /QoEDataService/IntegrationLog/Status" } "."
                        }
                    }
                    p.version { (SERVICE_NAME) " " (env!("CARGO_PKG_VERSION")) }
                }
            }
        }
    };
    let mut page = page.into_string();
    page.push('\n');
    page
}

/// The page's heading, with `meta` below it.
fn header(meta: Markup) -> Markup {
    html! {
        header {
            h1 { "QoE integration status" }
            (meta)
        }
    }
}

pub fn jobs(
    verdicts: &[JobVerdict; 2],
    status: &[JobStatus<'_>; 2],
    runs: &StatusRead,
    context: &PageContext,
) -> Markup {
    html! {
        (header(html! {
            p.meta {
                "Times in " strong { (context.zone.name()) } ". Checked at "
                (time_element(context.now, context.zone)) "."
                @if let Some(refresh) = context.refresh {
                    " This page reloads every " (refresh.as_secs()) " s."
                }
                " A job is " em { "failing" } " when its newest run failed, " em { "stale" }
                " when its newest success is older than " (duration_words(context.stale_after)) "."
            }
        }))
        main {
            (banner(verdicts, context))
            div.jobs {
                @for (verdict, status) in verdicts.iter().zip(status) {
                    (job_card(verdict, status, runs, context))
                }
            }
        }
    }
}

/// Failures first (each failing job's newest failure and how many of its last runs failed),
/// staleness second; a calm line when there is neither.
fn banner(verdicts: &[JobVerdict; 2], context: &PageContext) -> Markup {
    let failing: Vec<&JobVerdict> = verdicts
        .iter()
        .filter(|verdict| verdict.failing_since.is_some())
        .collect();
    let stale: Vec<&JobVerdict> = verdicts
        .iter()
        .filter(|verdict| verdict.freshness.is_stale())
        .collect();
    if failing.is_empty() && stale.is_empty() {
        return html! {
            div.banner.fresh role="status" {
                p {
                    strong { "✓ OK:" } " both jobs' newest runs succeeded, within the last "
                    (duration_words(context.stale_after)) "."
                }
            }
        };
    }
    let class = if failing.is_empty() {
        "banner stale"
    } else {
        "banner failing"
    };
    html! {
        div class=(class) role="alert" {
            @for verdict in &failing {
                @if let Some(failure) = verdict.failing_since {
                    p {
                        strong { "✗ Failing:" } " " (job_names(verdict.job).1)
                        ": its newest run failed at " (time_element(failure, context.zone)) "; "
                        (verdict.failed_of_last) " of its last " (verdict.of_last) " runs failed."
                    }
                }
            }
            @for verdict in &stale {
                p {
                    strong { "Stale:" } " " (job_names(verdict.job).1) " "
                    @match verdict.freshness {
                        Freshness::Stale { age } => {
                            "has not succeeded for " (duration_words(age))
                        }
                        _ => "has no success recorded",
                    }
                    "."
                }
            }
        }
    }
}

fn job_card(
    verdict: &JobVerdict,
    status: &JobStatus<'_>,
    read: &StatusRead,
    context: &PageContext,
) -> Markup {
    let zone = context.zone;
    let (id, title) = job_names(verdict.job);
    let runs: Vec<&JobRun> = read.recent_runs(verdict.job);
    let last_duration = runs.last().and_then(|run| run.duration());
    html! {
        section.job aria-labelledby=(id) {
            h2 id=(id) { (title) }
            @if let Some(failure) = verdict.failing_since {
                p.age.failing {
                    strong { "✗ Failing" } ": newest run failed "
                    (duration_words(context.now - failure)) " ago."
                }
                (failure_message(verdict.job, read.failure_message(verdict.job, failure)))
            }
            (freshness_line(verdict.freshness, verdict.failing_since.is_some()))
            dl {
                dt { "Last success" } dd { (optional_time(status.successes.first().copied(), zone)) }
                dt { "Last failure" } dd { (optional_time(status.failures.first().copied(), zone)) }
                dt { "Last start" } dd { (optional_time(status.start, zone)) }
                dt { "Last run took" }
                dd {
                    @match last_duration {
                        Some(duration) => (run_duration_words(duration)),
                        None => (none_recorded()),
                    }
                }
                dt { "Last " (STATUS_DEPTH) " runs" }
                dd {
                    @match verdict.of_last {
                        0 => (none_recorded()),
                        of => {
                            (of - verdict.failed_of_last) " succeeded, "
                            (verdict.failed_of_last) " failed"
                        }
                    }
                }
            }
            (duration_chart(id, &runs, zone))
            h3 { "Recent runs" }
            @let timeline = outcomes(status);
            @if timeline.is_empty() {
                p.none { "No finished runs recorded." }
            } @else {
                ol.timeline {
                    @for (time, outcome) in timeline {
                        @let (class, mark, word) = outcome_words(outcome);
                        li class=(class) {
                            span.mark aria-hidden="true" { (mark) } " "
                            span.outcome { (word) } " " (time_element(time, zone))
                        }
                    }
                }
            }
        }
    }
}

/// The newest failure's own words, cut to a readable length, and the log entry that holds
/// them whole: `GET /QoEDataService/IntegrationLog?category=…Failed&top=1`.
fn failure_message(job: Job, message: Option<&str>) -> Markup {
    let category = job.outcome(crate::domain::Outcome::Failed).as_str();
    let entry = format!("/QoEDataService/IntegrationLog?category={category}&top=1");
    html! {
        div.message {
            @match message {
                Some(message) => {
                    @let (shown, cut) = shortened(message, MESSAGE_LIMIT);
                    blockquote { (shown) }
                    p {
                        a href=(entry) {
                            @if cut { "The whole message in its log entry" }
                            @else { "Its log entry" }
                        }
                        " (" code { (category) } ")"
                    }
                }
                None => p {
                    "The run recorded no message: see "
                    a href=(entry) { "its log entry" }
                    " and the SQL Server Agent job history."
                },
            }
        }
    }
}

/// The age of the newest success; not green on a failing job, whose newest run failed.
fn freshness_line(freshness: Freshness, failing: bool) -> Markup {
    match freshness {
        Freshness::Fresh { age } => html! {
            p class=(if failing { "age neutral" } else { "age fresh" }) {
                "Newest success " (duration_words(age)) " ago."
            }
        },
        Freshness::Stale { age } => html! {
            p.age.stale { strong { "Stale" } ": newest success " (duration_words(age)) " ago." }
        },
        Freshness::NeverSucceeded => html! {
            p.age.stale { strong { "Stale" } ": no success recorded." }
        },
    }
}

/// When a failed read's page asks again: after the store's wait (`seconds`), by itself when
/// the page reloads itself (`refresh`), else on a reload.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub refresh: Option<Duration>,
    pub seconds: u64,
}

impl Retry {
    fn words(self) -> String {
        let seconds = self.seconds;
        match self.refresh {
            Some(_) => format!("This page tries again in {seconds} s."),
            None => format!(
                "Reload the page to try again (the service asks for {seconds} s between tries)."
            ),
        }
    }
}

/// The database could not answer: the reason in `/readyz`'s words and when the page asks
/// again.
pub fn unavailable(reason: &str, retry: Retry, context: &PageContext) -> Markup {
    html! {
        (checked_at(context))
        main {
            div.banner.failing role="alert" {
                p { strong { "✗ Database unavailable:" } " " (reason) "." }
                p {
                    "The integration log could not be read, so the jobs' state is unknown. "
                    (retry.words())
                }
            }
            section.job {
                h2 { "What to check" }
                p {
                    code { "GET /readyz" } " gives the same reason; the service's log has the "
                    "full cause (never shown here). The README names each reason and what to check."
                }
            }
        }
    }
}

/// SQL Server's clock is in another zone than the setting says: both offsets and the setting.
pub fn time_zone_mismatch(mismatch: &ZoneMismatch, retry: Retry, context: &PageContext) -> Markup {
    html! {
        (checked_at(context))
        main {
            div.banner.failing role="alert" {
                p {
                    strong { "✗ SQL Server's time zone differs from the setting:" }
                    " the service reads SQL Server Agent's times as "
                    strong { (mismatch.zone.name()) } ", " (utc_offset(mismatch.expected_minutes))
                    " now, but SQL Server's clock is " strong { (utc_offset(mismatch.server_minutes)) } "."
                }
                p {
                    "Every time read from the job history would be shifted, so none is shown. "
                    (retry.words())
                }
            }
            section.job {
                h2 { "What to change" }
                dl {
                    dt { "The service's zone" }
                    dd { (mismatch.zone.name()) ", " (utc_offset(mismatch.expected_minutes)) " now" }
                    dt { "SQL Server's clock" }
                    dd { (utc_offset(mismatch.server_minutes)) }
                }
                p {
                    "Set " code { (key::SERVER_TIME_ZONE) } " (or "
                    code { (env_name(key::SERVER_TIME_ZONE)) } ") to the SQL "
                    "Server machine's time zone, as " code { "tzutil /g" } " prints it there, then "
                    "restart the service. " code { "GET /readyz" } " and "
                    code { "qoe-data-service check" } " say the same."
                }
            }
        }
    }
}

fn checked_at(context: &PageContext) -> Markup {
    header(html! {
        p.meta { "Checked at " (time_element(context.now, context.zone)) "." }
    })
}

/// The line of the installed example settings file that enabling changes, and what it becomes.
pub const ENABLE_LINE: (&str, &str) = ("# enabled = false", "enabled = true");

/// `integration_log.enabled` is false: how to turn it on, in the installed settings file.
pub fn disabled() -> Markup {
    let (was, becomes) = ENABLE_LINE;
    html! {
        (header(html! {}))
        main {
            div.banner.off role="status" {
                p {
                    strong { "Disabled:" } " the integration log API is turned off, so the service "
                    "reads nothing and has nothing to show."
                }
            }
            section.job {
                h2 { "How to turn it on" }
                p {
                    "Set " code { (key::ENABLED) } " to " code { "true" } ": in the "
                    "settings file, under " code { "[integration_log]" } ", change the line "
                    code.was { (was) } " to " code.becomes { (becomes) } " (a line "
                    code { "enabled = false" } " becomes " code { "enabled = true" } " the same way). "
                    "Keep one " code { "[integration_log]" } " section: a second one stops the start."
                }
                p {
                    "Or set the environment variable " code { (env_name(key::ENABLED)) "=true" }
                    ". Then restart the service."
                }
                p {
                    "While it is off, Status and Integration Log answer " code { "200" }
                    " with an empty body, as CQD does, and the database is not read."
                }
            }
        }
    }
}
