//! Counters and histograms for `GET /metrics`, written in the Prometheus text format.
//!
//! Hand-written rather than a metrics crate: a dozen series do not justify a registry, and the
//! exposition format is a few lines of text. What is measured lives beside what it measures:
//! database reads in `store::metered`, job freshness in `domain::JobsRead`. A leaf: it is
//! handed what it renders (the counters and snapshots of [`counters`]) and imports none of the
//! parts that measure.
mod counters;

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

pub use counters::{
    CacheStats, Counter, PoolGauge, PoolStatus, ProtocolError, ProtocolErrors, Sources,
};

use chrono::TimeDelta;

use crate::build_info;
use crate::domain::{Freshness, JobsRead};

/// Upper bounds (seconds) of the latency buckets: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counts per bucket (not cumulative: one atomic add per observation; summed when rendered),
/// the last slot past every bound (`+Inf`), and the sum in nanoseconds.
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = cumulative + self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Most series a family keeps; observations of further label sets are not recorded. The label
/// values are bounded (route patterns, methods, statuses, commands), so this is never reached.
const MAX_SERIES: usize = 256;

type Series<const N: usize> = ([String; N], Histogram);

/// A histogram family keyed by its label values (in label order). Observing takes no lock:
/// series live in write-once slots found by a linear search over the few filled ones, and
/// only adding a new series takes the `adding` lock.
struct Family<const N: usize> {
    label_names: [&'static str; N],
    slots: Box<[OnceLock<Box<Series<N>>>]>,
    filled: AtomicUsize,
    adding: Mutex<()>,
}

impl<const N: usize> Family<N> {
    fn new(label_names: [&'static str; N]) -> Self {
        Family {
            label_names,
            slots: (0..MAX_SERIES).map(|_| OnceLock::new()).collect(),
            filled: AtomicUsize::new(0),
            adding: Mutex::new(()),
        }
    }

    fn find(&self, label_values: &[&str; N]) -> Option<&Histogram> {
        self.series()
            .find(|(values, _)| values.iter().zip(label_values).all(|(a, b)| a == b))
            .map(|(_, histogram)| histogram)
    }

    /// Every series added so far, in the order added.
    fn series(&self) -> impl Iterator<Item = &Series<N>> {
        let filled = self.filled.load(Ordering::Acquire);
        self.slots[..filled]
            .iter()
            .filter_map(|slot| slot.get().map(Box::as_ref))
    }

    fn observe(&self, label_values: [&str; N], elapsed: Duration) {
        if let Some(histogram) = self.find(&label_values) {
            return histogram.observe(elapsed);
        }
        let _adding = lock(&self.adding);
        if let Some(histogram) = self.find(&label_values) {
            return histogram.observe(elapsed);
        }
        let filled = self.filled.load(Ordering::Acquire);
        let Some(slot) = self.slots.get(filled) else {
            return;
        };
        let histogram = Histogram::new();
        histogram.observe(elapsed);
        let _ = slot.set(Box::new((label_values.map(str::to_owned), histogram)));
        self.filled.store(filled + 1, Ordering::Release);
    }

    /// The series sorted by their label values, as the exposition lists them.
    fn sorted(&self) -> Vec<&Series<N>> {
        let mut series: Vec<_> = self.series().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        series
    }

    fn labels(&self, values: &[String; N]) -> String {
        self.label_names
            .iter()
            .zip(values)
            .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn render_histogram(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (values, histogram) in self.sorted() {
            histogram.render(out, name, &self.labels(values));
        }
    }

    fn render_counts(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (values, histogram) in self.sorted() {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                self.labels(values),
                histogram.count()
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Guards only the adding of a series; nothing behind it can be left half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Everything `/metrics` reports that the process measures itself.
pub struct Metrics {
    http: Family<3>,
    db: Family<2>,
    sources: Sources,
    protocol_errors: ProtocolErrors,
}

impl Metrics {
    pub fn new(sources: Sources) -> Self {
        Metrics {
            http: Family::new(["route", "method", "status"]),
            db: Family::new(["command", "outcome"]),
            sources,
            protocol_errors: ProtocolErrors::default(),
        }
    }

    /// The counts the listener keeps of connections it closed by a protocol error.
    pub fn protocol_errors(&self) -> &ProtocolErrors {
        &self.protocol_errors
    }

    /// One answered HTTP request; `route` is the matched pattern, never the raw path, so
    /// the number of series stays bounded.
    pub fn observe_http(&self, route: &str, method: &str, status: &str, elapsed: Duration) {
        self.http.observe([route, method, status], elapsed);
    }

    pub fn observe_db(&self, command: &str, succeeded: bool, elapsed: Duration) {
        let outcome = if succeeded { "ok" } else { "error" };
        self.db.observe([command, outcome], elapsed);
    }

    /// The text exposition, with cache counters and job freshness passed in by the caller.
    pub fn render(&self, caches: &[(&'static str, CacheStats)], jobs: &JobsRead) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(
            out,
            "# HELP qoe_build_info The running build: its version, target and whether the kerberos feature is in. Always 1.\n\
             # TYPE qoe_build_info gauge\nqoe_build_info{{version=\"{}\",target=\"{}\",kerberos=\"{}\"}} 1",
            build_info::VERSION,
            build_info::TARGET,
            build_info::KERBEROS,
        );
        self.http.render_counts(
            &mut out,
            "qoe_http_requests_total",
            "HTTP requests answered, by route pattern, method and status.",
        );
        self.http.render_histogram(
            &mut out,
            "qoe_http_request_duration_seconds",
            "Time to answer an HTTP request.",
        );
        self.db.render_histogram(
            &mut out,
            "qoe_db_command_duration_seconds",
            "Time for a database read, including the wait for a pooled connection.",
        );
        if let Some(pool) = &self.sources.pool {
            let status = pool();
            let in_use = status.connections.saturating_sub(status.idle);
            gauge(
                &mut out,
                "qoe_db_pool_connections_in_use",
                "Pooled connections running a command.",
                in_use,
            );
            gauge(
                &mut out,
                "qoe_db_pool_connections_idle",
                "Pooled connections waiting for work.",
                status.idle,
            );
            gauge(
                &mut out,
                "qoe_db_pool_connections_max",
                "Most connections the pool opens.",
                status.max,
            );
            for (name, help, count) in [
                (
                    "qoe_db_login_failures_total",
                    "Connection attempts whose login SQL Server (or the Kerberos KDC) refused.",
                    status.login_failures,
                ),
                (
                    "qoe_db_connect_failures_total",
                    "Connection attempts that failed before a login: name not resolved, TCP refused or unreachable, TLS, timeout.",
                    status.connect_failures,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {count}"
                );
            }
            gauge(
                &mut out,
                "qoe_db_login_backoff_seconds",
                "Seconds until the next connection attempt while attempts back off after a failure; 0 otherwise.",
                status.retry_in.unwrap_or_default().as_secs_f64(),
            );
        }
        for (name, help, pick) in [
            (
                "qoe_cache_hits_total",
                "Reads answered from the cache.",
                (|s: &CacheStats| s.hits) as fn(&CacheStats) -> u64,
            ),
            (
                "qoe_cache_misses_total",
                "Reads that started a database query.",
                |s| s.misses,
            ),
            (
                "qoe_cache_coalesced_total",
                "Reads that waited for a query another request started.",
                |s| s.coalesced,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (cache, stats) in caches {
                let _ = writeln!(out, "{name}{{cache=\"{cache}\"}} {}", pick(stats));
            }
        }
        render_jobs(jobs, &mut out);
        let _ = writeln!(
            out,
            "# HELP qoe_log_lines_dropped_total Log lines lost because stderr was closed, failing or full.\n\
             # TYPE qoe_log_lines_dropped_total counter\nqoe_log_lines_dropped_total {}",
            self.sources.dropped_log_lines.get()
        );
        let _ = writeln!(
            out,
            "# HELP qoe_http_protocol_errors_total Connections closed by a protocol error: malformed or too long or too slow request heads, I/O errors.\n\
             # TYPE qoe_http_protocol_errors_total counter"
        );
        for (kind, count) in self.protocol_errors.by_kind() {
            let _ = writeln!(
                out,
                "qoe_http_protocol_errors_total{{kind=\"{}\"}} {count}",
                kind.label()
            );
        }
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Declared whenever the log is enabled; its one sample only while the log is unreadable.
fn unreadable_reason(out: &mut String, reason: Option<&str>) {
    let name = "qoe_status_unreadable_reason";
    let _ = writeln!(out, "# HELP {name} Why the integration log could not be read, while qoe_status_up is 0: always 1, the reason in its label (absent while readable).\n# TYPE {name} gauge");
    if let Some(reason) = reason {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} 1");
    }
}

/// The label naming the CQD job on the per-job series. Not `job`: Prometheus' scrape sets its
/// own `job` (the scrape job) and would store ours as `exported_job`.
pub const JOB_LABEL: &str = "qoe_job";

/// `qoe_integration_log_enabled`, `qoe_status_up` (with why not, while 0) and the per-job gauges.
fn render_jobs(jobs: &JobsRead, out: &mut String) {
    let enabled = "1 if integration_log.enabled is true; while 0, the API answers empty and no job series are reported.";
    let enabled_value = u8::from(!matches!(jobs, JobsRead::NotRead));
    gauge(out, "qoe_integration_log_enabled", enabled, enabled_value);
    let up = "1 if the integration log could be read.";
    let (now, status, last_run_seconds) = match jobs {
        JobsRead::NotRead => return,
        JobsRead::Unavailable { reason } => {
            gauge(out, "qoe_status_up", up, 0);
            return unreadable_reason(out, Some(reason));
        }
        JobsRead::Known {
            now,
            status,
            last_run_seconds,
        } => (now, status, last_run_seconds),
    };
    gauge(out, "qoe_status_up", up, 1);
    unreadable_reason(out, None);
    let jobs = status.jobs();
    let name = "qoe_last_success_age_seconds";
    let _ = writeln!(out, "# HELP {name} Seconds since the job last succeeded (absent if it never did).\n# TYPE {name} gauge");
    for job in &jobs {
        if let Some(newest) = job.successes.first() {
            let age = (*now - *newest).num_milliseconds() as f64 / 1000.0;
            let job = job.job.metric_label();
            let _ = writeln!(out, "{name}{{{JOB_LABEL}=\"{job}\"}} {age}");
        }
    }
    // Present for every job, unlike the age, so an alert fires for a job that never succeeded.
    let name = "qoe_job_has_succeeded";
    let _ = writeln!(out, "# HELP {name} 1 if the integration log holds a success of the job, 0 if it holds none.\n# TYPE {name} gauge");
    // The verdict judges it, as the page and `check` do; no threshold enters this part.
    for verdict in status.verdicts(*now, TimeDelta::MAX) {
        let succeeded = u8::from(verdict.freshness != Freshness::NeverSucceeded);
        let _ = writeln!(
            out,
            "{name}{{{JOB_LABEL}=\"{}\"}} {succeeded}",
            verdict.job.metric_label()
        );
    }
    let name = "qoe_last_failure_timestamp_seconds";
    let _ = writeln!(out, "# HELP {name} Unix time of the job's newest failure (absent if none).\n# TYPE {name} gauge");
    for job in &jobs {
        if let Some(newest) = job.failures.first() {
            let job = job.job.metric_label();
            let _ = writeln!(
                out,
                "{name}{{{JOB_LABEL}=\"{job}\"}} {}",
                newest.timestamp()
            );
        }
    }
    let name = "qoe_last_run_duration_seconds";
    let _ = writeln!(out, "# HELP {name} How long the job's newest finished run took (absent if none is known).\n# TYPE {name} gauge");
    for (job, seconds) in last_run_seconds {
        let _ = writeln!(
            out,
            "{name}{{{JOB_LABEL}=\"{}\"}} {seconds}",
            job.metric_label()
        );
    }
    let name = "qoe_run_in_progress_seconds";
    let _ = writeln!(out, "# HELP {name} Seconds since the job's newest start, while that start has no outcome yet (absent when no run is in progress).\n# TYPE {name} gauge");
    for job in &jobs {
        if let Some(running) = job.run_in_progress_for(*now) {
            let seconds = running.num_milliseconds() as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{name}{{{JOB_LABEL}=\"{}\"}} {seconds}",
                job.job.metric_label()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::{CategoryTime, Job, JobRun, LogCategory, StatusRead};

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 1, 18, hour, minute, 0)
            .single()
            .expect("valid time")
    }

    fn rendered(freshness: &JobsRead) -> String {
        Metrics::new(Sources::default()).render(&[], freshness)
    }

    #[test]
    fn the_age_of_the_newest_success_is_reported_per_job() {
        let entries = vec![
            CategoryTime {
                category: LogCategory::DataIntegrationSucceeded,
                time: at(10, 0),
            },
            CategoryTime {
                category: LogCategory::DataIntegrationSucceeded,
                time: at(9, 0),
            },
            CategoryTime {
                category: LogCategory::CubeProcessingFailed,
                time: at(9, 30),
            },
        ];

        let text = rendered(&JobsRead::from_entries(entries, at(10, 5)));

        assert!(text.contains("qoe_status_up 1\n"), "{text}");
        assert!(
            text.contains("qoe_last_success_age_seconds{qoe_job=\"data_integration\"} 300\n"),
            "{text}"
        );
        assert!(
            !text.contains("qoe_last_success_age_seconds{qoe_job=\"cube_processing\"}"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "qoe_last_failure_timestamp_seconds{{qoe_job=\"cube_processing\"}} {}\n",
                at(9, 30).timestamp()
            )),
            "{text}"
        );
    }

    /// Cube processing ran 09:00–09:04; data integration started at 09:30 and has not ended.
    fn a_finished_cube_run_and_an_integration_running_since_9_30() -> Vec<CategoryTime> {
        vec![
            CategoryTime {
                category: LogCategory::CubeProcessingStarted,
                time: at(9, 0),
            },
            CategoryTime {
                category: LogCategory::CubeProcessingSucceeded,
                time: at(9, 4),
            },
            CategoryTime {
                category: LogCategory::DataIntegrationStarted,
                time: at(9, 30),
            },
        ]
    }

    #[test]
    fn the_newest_finished_runs_duration_is_reported_per_job() {
        let text = rendered(&JobsRead::from_entries(
            a_finished_cube_run_and_an_integration_running_since_9_30(),
            at(10, 5),
        ));

        assert!(
            text.contains("qoe_last_run_duration_seconds{qoe_job=\"cube_processing\"} 240\n"),
            "{text}"
        );
        assert!(
            !text.contains("qoe_last_run_duration_seconds{qoe_job=\"data_integration\"}"),
            "a run still in progress has no duration: {text}"
        );
    }

    #[test]
    fn a_run_in_progress_is_reported_with_the_seconds_since_its_start() {
        let text = rendered(&JobsRead::from_entries(
            a_finished_cube_run_and_an_integration_running_since_9_30(),
            at(10, 5),
        ));

        assert!(
            text.contains("qoe_run_in_progress_seconds{qoe_job=\"data_integration\"} 2100\n"),
            "{text}"
        );
        assert!(
            !text.contains("qoe_run_in_progress_seconds{qoe_job=\"cube_processing\"}"),
            "a finished run is not in progress: {text}"
        );
    }

    #[test]
    fn a_running_agent_step_is_a_run_in_progress() {
        let running = JobRun {
            job: Job::CubeProcessing,
            started: at(10, 0),
            end: None,
            message: None,
        };

        let read = JobsRead::from_read(&StatusRead::from_runs(vec![running]), at(10, 1));
        let text = rendered(&read);

        assert!(
            text.contains("qoe_run_in_progress_seconds{qoe_job=\"cube_processing\"} 60\n"),
            "{text}"
        );
    }

    #[test]
    fn a_job_that_never_succeeded_is_reported_so_an_alert_can_fire() {
        let entries = vec![
            CategoryTime {
                category: LogCategory::DataIntegrationSucceeded,
                time: at(10, 0),
            },
            CategoryTime {
                category: LogCategory::CubeProcessingFailed,
                time: at(9, 30),
            },
        ];

        let text = rendered(&JobsRead::from_entries(entries, at(10, 5)));

        assert!(
            text.contains("qoe_job_has_succeeded{qoe_job=\"data_integration\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("qoe_job_has_succeeded{qoe_job=\"cube_processing\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn the_integration_log_switch_is_reported_whether_or_not_anything_is_read() {
        let disabled = rendered(&JobsRead::NotRead);
        let unreadable = rendered(&JobsRead::Unavailable {
            reason: "database_unreachable",
        });

        assert!(
            disabled.contains("qoe_integration_log_enabled 0\n"),
            "{disabled}"
        );
        assert!(
            unreadable.contains("qoe_integration_log_enabled 1\n"),
            "{unreadable}"
        );
    }

    #[test]
    fn an_unavailable_database_is_status_up_zero_with_its_reason_and_without_ages() {
        let text = rendered(&JobsRead::Unavailable {
            reason: "server_time_zone_mismatch",
        });

        assert!(text.contains("qoe_status_up 0\n"), "{text}");
        assert!(
            text.contains("qoe_status_unreadable_reason{reason=\"server_time_zone_mismatch\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("qoe_last_success_age_seconds{"), "{text}");
    }

    #[test]
    fn a_readable_log_reports_no_reason() {
        let text = rendered(&JobsRead::from_entries(Vec::new(), at(10, 5)));

        assert!(text.contains("qoe_status_up 1\n"), "{text}");
        assert!(!text.contains("qoe_status_unreadable_reason{"), "{text}");
    }

    #[test]
    fn a_histogram_counts_each_observation_in_every_bucket_at_or_above_it() {
        let metrics = Metrics::new(Sources::default());
        metrics.observe_http("/healthz", "GET", "200", Duration::from_millis(3));

        let text = metrics.render(&[], &JobsRead::NotRead);

        let labels = "route=\"/healthz\",method=\"GET\",status=\"200\"";
        assert!(
            text.contains(&format!("qoe_http_requests_total{{{labels}}} 1\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "qoe_http_request_duration_seconds_bucket{{{labels},le=\"0.0025\"}} 0\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "qoe_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "qoe_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 1\n"
            )),
            "{text}"
        );
        assert!(!text.contains("qoe_status_up"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
