//! The domain's verdict and the alert rules judge alike. Each case below is a job history; the
//! test serves it, scrapes `/metrics` as Prometheus would (adding the scrape's `job` and
//! `instance`), and writes the samples as a `promtool test rules` case
//! whose expected alerts are what `JobVerdict` says of the same history: failing →
//! `QoEJobFailing`, stale → `QoEJobStale`, never succeeded → `QoEJobNeverSucceeded`.
//!
//! The cases are kept in `deploy/prometheus/verdict.test.yml`, which CI runs with promtool
//! beside `alerts.test.yml`; this test fails when that file is not what the verdict and the
//! metrics give today (`QOE_REGENERATE=1` rewrites it) and runs promtool on it itself when
//! promtool is installed (required when `CI` is set).
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use chrono::{DurationRound, TimeDelta, Utc};
use qoe_data_service::domain::{CategoryTime, Freshness, IntegrationStatus, LogCategory};
use qoe_data_service::paths::METRICS_PATH;

use crate::helpers::*;

/// The instant the cases are judged at, in seconds from the promtool test's start: far enough
/// in that a `for:` of up to two hours holds through the whole history.
const JUDGED_AT: i64 = 3 * 3600;
/// `QoEJobStale`'s threshold; the verdict is judged with the same.
const STALE_AFTER: TimeDelta = TimeDelta::hours(1);
const FILE: &str = "deploy/prometheus/verdict.test.yml";

/// A data integration history, in minutes before the judged instant; cube processing
/// succeeded 5 minutes before it in every case, so it never alerts.
struct Case {
    name: &'static str,
    successes: &'static [i64],
    failures: &'static [i64],
}

const CASES: [Case; 7] = [
    Case {
        name: "a recent success after a failure is OK",
        successes: &[5],
        failures: &[20],
    },
    Case {
        name: "a failure after a recent success is failing",
        successes: &[20],
        failures: &[10],
    },
    Case {
        name: "a failure long after the last success is failing and stale",
        successes: &[300],
        failures: &[10],
    },
    Case {
        name: "a success older than the threshold is stale",
        successes: &[300],
        failures: &[],
    },
    Case {
        name: "no outcome at all never succeeded",
        successes: &[],
        failures: &[],
    },
    Case {
        name: "only failures are failing and never succeeded",
        successes: &[],
        failures: &[10, 25],
    },
    Case {
        name: "a failure and a success at the same instant are not failing",
        successes: &[10],
        failures: &[10],
    },
];

fn entries(case: &Case, now: chrono::DateTime<Utc>) -> Vec<CategoryTime> {
    let at = |minutes: &i64| now - TimeDelta::minutes(*minutes);
    let of = |category, minutes: &[i64]| {
        minutes
            .iter()
            .map(move |m| CategoryTime {
                category,
                time: at(m),
            })
            .collect::<Vec<_>>()
    };
    [
        of(LogCategory::DataIntegrationSucceeded, case.successes),
        of(LogCategory::DataIntegrationFailed, case.failures),
        of(LogCategory::CubeProcessingSucceeded, &[5]),
    ]
    .concat()
}

/// The alerts the verdict says the rules raise for the history.
fn expected_alerts(entries: &[CategoryTime], now: chrono::DateTime<Utc>) -> BTreeSet<&'static str> {
    let status = IntegrationStatus::from_entries(entries.iter().copied());
    let [integration, cube] = status.verdicts(now, STALE_AFTER);
    assert_eq!(cube.failing_since, None);
    assert!(!cube.freshness.is_stale());
    let mut alerts = BTreeSet::new();
    if integration.failing_since.is_some() {
        alerts.insert("QoEJobFailing");
    }
    match integration.freshness {
        Freshness::Stale { .. } => alerts.insert("QoEJobStale"),
        Freshness::NeverSucceeded => alerts.insert("QoEJobNeverSucceeded"),
        Freshness::Fresh { .. } => false,
    };
    alerts
}

/// One `/metrics` sample line as Prometheus stores it after the scrape, as a promtool series
/// over the test's minutes: ages grow a minute a minute, Unix times move to the test's clock
/// (rounded to the minute, as the cases are), other gauges stay.
fn series(line: &str, now: chrono::DateTime<Utc>) -> Option<(String, String)> {
    let (name_labels, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match name_labels.split_once('{') {
        Some((name, labels)) => (name, labels.trim_end_matches('}')),
        None => (name_labels, ""),
    };
    let labels: Vec<String> = labels
        .split(',')
        .filter(|label| !label.is_empty())
        .map(str::to_owned)
        .chain([
            "job=\"qoe-data-service\"".to_owned(),
            "instance=\"qoe01:8080\"".to_owned(),
        ])
        .collect();
    let minutes = JUDGED_AT / 60;
    let round = |seconds: f64| (seconds / 60.0).round() as i64 * 60;
    let values = if name.ends_with("_age_seconds") || name.ends_with("_in_progress_seconds") {
        format!("{}+60x{minutes}", round(value) - JUDGED_AT)
    } else if name.ends_with("_timestamp_seconds") {
        format!(
            "{}x{minutes}",
            round(value - now.timestamp() as f64) + JUDGED_AT
        )
    } else {
        format!("{value}x{minutes}")
    };
    Some((format!("{name}{{{}}}", labels.join(", ")), values))
}

async fn promtool_case(case: &Case) -> String {
    let now = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("truncating to seconds");
    let entries = entries(case, now);
    let expected = expected_alerts(&entries, now);
    let app = TestApp::builder()
        .store(FakeStore::with_entries(entries))
        .spawn()
        .await;
    let metrics = app.get(METRICS_PATH).await.text();
    let mut text = format!(
        "  - name: {}\n    interval: 1m\n    input_series:\n",
        case.name
    );
    for line in metrics.lines().filter(|line| {
        line.starts_with("qoe_") && (line.contains("qoe_job=") || line.starts_with("qoe_status_up"))
    }) {
        if let Some((series, values)) = series(line, now) {
            let _ = writeln!(
                text,
                "      - series: '{series}'\n        values: \"{values}\""
            );
        }
    }
    let _ = writeln!(
        text,
        "    promql_expr_test:\n      - expr: 'count by (alertname) (ALERTS{{alertstate=\"firing\", alertname=~\"QoEJob.*\"}})'\n        eval_time: {}m\n        exp_samples:{}",
        JUDGED_AT / 60,
        if expected.is_empty() { " []" } else { "" }
    );
    for alert in expected {
        let _ = writeln!(
            text,
            "          - labels: '{{alertname=\"{alert}\"}}'\n            value: 1"
        );
    }
    text
}

async fn generated() -> String {
    let mut file = String::from(
        "# Generated by tests/api/alert_verdict.rs (QOE_REGENERATE=1 cargo test --test api \
         alert_verdict): each case is a job\n# history as /metrics reports it, and the alerts \
         the domain's verdict (src/domain/verdict.rs) says the rules raise.\n# CI runs it: \
         promtool test rules deploy/prometheus/verdict.test.yml\nrule_files:\n  - alerts.yml\n\
         \nevaluation_interval: 1m\n\ntests:\n",
    );
    for case in &CASES {
        file.push_str(&promtool_case(case).await);
    }
    file
}

fn promtool_or_skip() -> Option<()> {
    if cfg!(windows) {
        // CI's Linux leg runs promtool on the same cases; a Windows build under Wine cannot
        // start the Linux promtool.
        eprintln!("skipped running promtool: the Linux leg runs it");
        return None;
    }
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    match found {
        true => Some(()),
        false if std::env::var_os("CI").is_some() => {
            panic!("CI needs promtool for the verdict's alert cases")
        }
        false => {
            eprintln!("skipped running promtool: it is not installed");
            None
        }
    }
}

#[actix_web::test]
async fn the_alert_rules_raise_for_each_history_exactly_what_the_domains_verdict_says() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE);
    let generated = generated().await;
    if std::env::var_os("QOE_REGENERATE").is_some() {
        std::fs::write(&path, &generated).expect("the cases are written");
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == generated,
        "{FILE} is not what the verdict and /metrics give today; rerun with QOE_REGENERATE=1 \
         and review the diff. Generated:\n{generated}"
    );

    if promtool_or_skip().is_some() {
        let output = std::process::Command::new("promtool")
            .args(["test", "rules"])
            .arg(&path)
            .output()
            .expect("promtool runs");
        assert!(
            output.status.success(),
            "the alert rules disagree with the verdict:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
