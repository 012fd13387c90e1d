//! The shipped monitoring files (`deploy/`) name only series `/metrics` exposes: a panel on a
//! misspelt or removed metric stays empty and an alert on one never fires, both silently.
use std::collections::BTreeSet;

use qoe_data_service::paths::METRICS_PATH;
use qoe_data_service::startup::Application;
use qoe_data_service::store::Unavailability;
use testkit::integration_log::IntegrationLogDb;
use testkit::TdsTestServer;

use crate::helpers::*;

const DASHBOARD: &str = "deploy/grafana/qoe-data-service.json";
const ALERT_RULES: &str = "deploy/prometheus/alerts.yml";

fn repository_text(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `/metrics` of the service as production wires it (the SQL Server store and its pool), over
/// the TDS test server holding the documentation sample, with the integration log enabled.
async fn exposition() -> String {
    let server = TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("TDS test server starts");
    let mut settings = test_settings(&server.ado_connection_string());
    settings.integration_log.enabled = true;
    let port = run_in_background(Application::build(settings).expect("the service builds"));

    let response = http_get(port, METRICS_PATH).await;

    assert_eq!(response.status, 200, "{}", response.body);
    response.body
}

/// The series names an exposition declares (`# TYPE` lines; a histogram's samples are named
/// `_bucket`, `_sum` and `_count`) and the label names its samples carry (`qoe_job`).
fn exposed(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(declaration) = line.strip_prefix("# TYPE ") else {
            if let Some((_, labels)) = line.split_once('{') {
                names.extend(
                    labels
                        .split(',')
                        .filter_map(|label| label.split_once('='))
                        .map(|(name, _)| name.to_owned()),
                );
            }
            continue;
        };
        let (name, kind) = declaration
            .split_once(' ')
            .unwrap_or_else(|| panic!("a TYPE line without a type: {line}"));
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
        names.insert(name.to_owned());
    }
    names
}

/// Every `qoe_…` metric (or label) name in `text`; not the rules' own records, whose names
/// hold a colon (`qoe_job:stale_success_age_seconds`).
fn qoe_metric_names(text: &str) -> BTreeSet<String> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("qoe_") {
        let starts_a_name = !rest[..at].ends_with(is_name_char);
        let tail = &rest[at..];
        let end = tail.find(|c| !is_name_char(c)).unwrap_or(tail.len());
        if starts_a_name && !tail[..end].contains(':') {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// Every string in a JSON document (queries, legends, titles), depth first.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        serde_json::Value::Object(members) => members.values().for_each(|item| strings(item, out)),
        _ => {}
    }
}

fn dashboard_metric_names() -> BTreeSet<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&repository_text(DASHBOARD)).expect("the dashboard is JSON");
    let mut texts = Vec::new();
    strings(&dashboard, &mut texts);
    texts
        .iter()
        .flat_map(|text| qoe_metric_names(text))
        .collect()
}

fn missing(used: &BTreeSet<String>, exposed: &BTreeSet<String>) -> Vec<String> {
    used.difference(exposed).cloned().collect()
}

async fn assert_all_exposed(file: &str, used: &BTreeSet<String>) {
    let exposed = exposed(&exposition().await);

    assert_eq!(
        missing(used, &exposed),
        Vec::<String>::new(),
        "{file} names metrics /metrics does not expose"
    );
}

#[actix_web::test]
async fn every_metric_the_grafana_dashboard_queries_is_exposed() {
    let used = dashboard_metric_names();
    assert!(
        used.len() >= 10,
        "too few metrics found in {DASHBOARD}: {used:?}"
    );

    assert_all_exposed(DASHBOARD, &used).await;
}

#[actix_web::test]
async fn every_metric_the_alert_rules_use_is_exposed() {
    let used = qoe_metric_names(&repository_text(ALERT_RULES));
    assert!(
        used.contains("qoe_run_in_progress_seconds") && used.contains("qoe_status_up"),
        "{used:?}"
    );

    assert_all_exposed(ALERT_RULES, &used).await;
}

#[actix_web::test]
async fn a_metric_the_service_does_not_expose_is_reported_missing() {
    let query = "histogram_quantile(0.9, rate(qoe_http_request_duration_seconds_bucket[5m])) \
                 / qoe_no_such_metric_total{qoe_job=\"cube_processing\"}";

    let exposed = exposed(&exposition().await);

    assert_eq!(
        missing(&qoe_metric_names(query), &exposed),
        vec!["qoe_no_such_metric_total".to_owned()]
    );
}

const INHIBITIONS: &str = "deploy/alertmanager/alertmanager.yml";

/// The alert names (`- alert: QoE…`) of the rules.
fn alert_names() -> BTreeSet<String> {
    repository_text(ALERT_RULES)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
        .map(str::to_owned)
        .collect()
}

/// Each alternative of an `alertname` matcher's value: `QoEJob.*` and `QoE(A|B)` as the
/// inhibitions write them (a prefix before `.*`, alternatives in one group).
fn alertname_alternatives(matcher: &str) -> Vec<String> {
    let value = matcher.trim().trim_matches('"');
    let (prefix, group) = match value.split_once('(') {
        Some((prefix, rest)) => (prefix, rest.trim_end_matches(')')),
        None => ("", value),
    };
    group
        .split('|')
        .map(|alternative| format!("{prefix}{alternative}"))
        .collect()
}

#[test]
fn every_alert_name_the_inhibitions_match_is_an_alert_of_the_rules() {
    let alerts = alert_names();
    let text = repository_text(INHIBITIONS);
    let matchers: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alertname "))
        .map(|matcher| matcher.trim_start_matches(['=', '~']))
        .collect();
    assert!(matchers.len() >= 4, "{matchers:?}");

    for alternative in matchers.iter().flat_map(|m| alertname_alternatives(m)) {
        let matched = match alternative.strip_suffix(".*") {
            Some(prefix) => alerts.iter().any(|alert| alert.starts_with(prefix)),
            None => alerts.contains(&alternative),
        };
        assert!(
            matched,
            "{INHIBITIONS} matches `{alternative}`, which no rule of {ALERT_RULES} is: {alerts:?}"
        );
    }
}

/// The reasons (`qoe_status_unreadable_reason`'s label) the rules name: in matchers
/// (`reason="…"`) and in the description's fixes (`eq $reason "…"`).
fn reasons_in_rules() -> BTreeSet<String> {
    let text = repository_text(ALERT_RULES);
    let mut reasons = BTreeSet::new();
    for marker in ["reason=\"", "eq $reason \""] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let end = rest.find('"').expect("a closing quote");
            reasons.insert(rest[..end].to_owned());
        }
    }
    reasons
}

#[test]
fn every_reason_the_service_reports_has_its_fix_in_the_alert_rules_and_no_other_is_named() {
    let reported: BTreeSet<String> = Unavailability::ALL
        .map(|kind| kind.metric_label().to_owned())
        .into();

    assert_eq!(reasons_in_rules(), reported);
}
