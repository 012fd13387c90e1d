//! The status page for people: one self-contained HTML document rendered from the jobs'
//! verdicts, the database's failure or the switch that is off. No scripts, no external assets.
//! The markup is maud templates (`page.rs`), so every value is escaped by construction; the
//! chart's geometry is in `chart.rs`, the stylesheet in `style.css`.
mod chart;
mod page;
mod words;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::domain::agent::ZoneMismatch;
use crate::domain::{IntegrationStatus, JobState, StatusRead};
pub use page::ENABLE_LINE;
pub use words::{duration_words, escape, local_time, run_duration_words, shortened};

/// What the page shows besides the status: the zone, the moment judged, the threshold, and
/// how often the page reloads itself (`None`: never).
#[derive(Debug, Clone, Copy)]
pub struct PageContext {
    pub zone: Tz,
    pub now: DateTime<Utc>,
    pub stale_after: TimeDelta,
    pub refresh: Option<Duration>,
}

/// The page's state, worst first: what the tab title and the banner lead with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The database could not answer: the jobs' state is unknown.
    Unavailable,
    /// SQL Server's clock is in another zone than `integration_log.sql_agent.server_time_zone`.
    WrongServerTimeZone,
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
            Verdict::WrongServerTimeZone => "✗ server time zone differs",
            Verdict::Failing => "✗ failing",
            Verdict::Stale => "stale",
            Verdict::Ok => "OK",
            Verdict::Disabled => "disabled",
        };
        format!("{state} · {}", page::SERVICE_NAME)
    }

    /// The page shows the jobs (and Status has them as JSON).
    fn has_jobs(self) -> bool {
        matches!(self, Verdict::Failing | Verdict::Stale | Verdict::Ok)
    }

    /// The worst of the jobs' states.
    fn of_jobs(states: impl IntoIterator<Item = JobState>) -> Self {
        match states.into_iter().min() {
            Some(JobState::Failing) => Verdict::Failing,
            Some(JobState::NeverSucceeded | JobState::Stale) => Verdict::Stale,
            Some(JobState::Ok) | None => Verdict::Ok,
        }
    }
}

/// The page for a status read: `runs` gives each job's durations and failure messages. Pure:
/// the same arguments give the same bytes.
pub fn render(status: &IntegrationStatus, runs: &StatusRead, context: &PageContext) -> String {
    let verdicts = status.verdicts(context.now, context.stale_after);
    let verdict = Verdict::of_jobs(verdicts.iter().map(|verdict| verdict.state()));
    page::document(
        verdict,
        context.refresh,
        page::jobs(&verdicts, &status.jobs(), runs, context),
    )
}

/// The page while the database cannot answer: the reason in `/readyz`'s words and when the
/// page asks again (`retry_after`, the 503's `Retry-After`).
pub fn render_unavailable(reason: &str, retry_after: Duration, context: &PageContext) -> String {
    let retry = retry(retry_after, context);
    page::document(
        Verdict::Unavailable,
        retry.refresh,
        page::unavailable(reason, retry, context),
    )
}

/// The page while SQL Server's clock disagrees with the configured server zone: both
/// offsets and the setting to change.
pub fn render_time_zone_mismatch(
    mismatch: &ZoneMismatch,
    retry_after: Duration,
    context: &PageContext,
) -> String {
    let retry = retry(retry_after, context);
    page::document(
        Verdict::WrongServerTimeZone,
        retry.refresh,
        page::time_zone_mismatch(mismatch, retry, context),
    )
}

/// The page while `integration_log.enabled` is false: how to turn it on.
pub fn render_disabled(context: &PageContext) -> String {
    page::document(Verdict::Disabled, context.refresh, page::disabled())
}

/// A failed read's page reloads after the store's wait rather than the usual interval.
fn retry(retry_after: Duration, context: &PageContext) -> page::Retry {
    let seconds = retry_after.as_secs().max(1);
    page::Retry {
        refresh: context.refresh.map(|_| Duration::from_secs(seconds)),
        seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::utc;
    use crate::domain::{Job, JobRun, Outcome};

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
        assert!(page.contains(
            "change the line <code class=\"was\"># enabled = false</code> to <code \
             class=\"becomes\">enabled = true</code>"
        ));
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
            runs: vec![
                run("2015-01-18 10:00:00", 100, Outcome::Succeeded),
                run("2015-01-18 10:15:00", 200, Outcome::Failed),
                run("2015-01-18 10:30:00", 50, Outcome::Succeeded),
            ],
            ..StatusRead::default()
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

    /// A failing cube run whose Agent step said `message`.
    fn failed_cube_run(message: &str) -> StatusRead {
        StatusRead {
            runs: vec![JobRun {
                job: Job::CubeProcessing,
                started: utc("2015-01-18 10:20:00"),
                end: Some(crate::domain::RunEnd {
                    outcome: Outcome::Failed,
                    finished: utc("2015-01-18 10:25:00"),
                }),
                message: Some(message.to_owned()),
            }],
            ..StatusRead::default()
        }
    }

    #[test]
    fn a_failing_job_shows_its_newest_failures_message_escaped_with_a_link_to_its_log_entry() {
        let page = render(
            &failing_cube(),
            &failed_cube_run("Cube <b>processing</b> failed: the source & \"its\" login"),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(
            page.contains(
                "<blockquote>Cube &lt;b&gt;processing&lt;/b&gt; failed: the source &amp; \
                 &quot;its&quot; login</blockquote>"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                "<a href=\"/QoEDataService/IntegrationLog?category=CubeProcessingFailed&amp;top=1\"\
                 >Its log entry</a>"
            ),
            "{page}"
        );
        assert_eq!(
            page.matches("<blockquote>").count(),
            1,
            "only the failing job: {page}"
        );
    }

    #[test]
    fn the_table_sources_description_of_the_newest_failure_is_shown_too() {
        let read = StatusRead {
            failures: vec![crate::domain::LogEntry {
                category: crate::domain::LogCategory::CubeProcessingFailed,
                time: utc("2015-01-18 10:25:00"),
                description: Some("The cube's data source refused the connection".into()),
            }],
            ..StatusRead::default()
        };

        let page = render(
            &failing_cube(),
            &read,
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(
            page.contains("<blockquote>The cube's data source refused the connection</blockquote>"),
            "{page}"
        );
    }

    #[test]
    fn a_long_message_is_cut_and_links_to_the_whole_of_it() {
        let message = format!(
            "Cube processing failed: {}",
            "the source refused ".repeat(40)
        );

        let page = render(
            &failing_cube(),
            &failed_cube_run(&message),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        let start = page.find("<blockquote>").expect("the message") + "<blockquote>".len();
        let shown = &page[start..start + page[start..].find("</blockquote>").expect("its end")];
        assert!(
            shown.chars().count() <= 301 && shown.ends_with(" the…"),
            "{shown}"
        );
        assert!(
            page.contains(">The whole message in its log entry</a>"),
            "{page}"
        );
    }

    #[test]
    fn a_failure_without_a_message_says_so_and_still_links_its_log_entry() {
        let page = render(
            &failing_cube(),
            &StatusRead::default(),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert!(page.contains("The run recorded no message: see <a href=\"/QoEDataService/IntegrationLog?category=CubeProcessingFailed&amp;top=1\">its log entry</a>"), "{page}");
    }

    #[test]
    fn a_server_time_zone_mismatch_is_its_own_state_with_both_offsets_and_the_setting() {
        let mismatch = ZoneMismatch {
            zone: Tz::Europe__Berlin,
            expected_minutes: 60,
            server_minutes: 180,
        };

        let page = render_time_zone_mismatch(
            &mismatch,
            Duration::from_secs(5),
            &context("2015-01-18 10:40:00", Tz::UTC),
        );

        assert_eq!(
            title(&page),
            "✗ server time zone differs · QoE Data Service"
        );
        assert!(!page.contains("Database unavailable"), "{page}");
        let banner = banner(&page);
        assert!(
            banner.contains("<strong>Europe/Berlin</strong>, UTC+01:00 now, but SQL Server's clock is <strong>UTC+03:00</strong>"),
            "{banner}"
        );
        assert!(page.contains("<code>integration_log.sql_agent.server_time_zone</code>"));
        assert!(page.contains("<code>QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE</code>"));
        assert!(page.contains("This page tries again in 5 s."));
    }

    #[test]
    fn every_page_footer_carries_the_version() {
        let context = context("2015-01-18 10:40:00", Tz::UTC);
        let version = format!(
            "QoE Data Service {}</p></footer>",
            env!("CARGO_PKG_VERSION")
        );

        for page in [
            render(&status(), &StatusRead::default(), &context),
            render_unavailable("database unreachable", Duration::from_secs(5), &context),
            render_disabled(&context),
        ] {
            assert!(page.contains(&version), "{page}");
        }
    }
}
