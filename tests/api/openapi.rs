use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use chrono_tz::Tz;
use qoe_data_service::domain::{IntegrationStatus, LogCategory, LogEntry};
use qoe_data_service::openapi::document;
use qoe_data_service::paths::{LOG_PATH, OPENAPI_PATH};
use qoe_data_service::routes::routed_operations;
use serde_json::Value;

use crate::helpers::*;

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => found.push(target.clone()),
                    _ => refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

fn member_names(value: &Value) -> Vec<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_documented_operations_are_exactly_the_routed_ones() {
    let routed: BTreeSet<(String, String)> = routed_operations()
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();

    assert_eq!(documented_operations(&document()), routed);
}

#[actix_web::test]
async fn every_routed_operation_is_answered_by_the_route_table() {
    let app = TestApp::spawn().await;

    for (method, path) in routed_operations() {
        let response = app.request(method.clone(), path).await;

        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&response.status),
            "{method} {path} answered {}",
            response.status
        );
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);

    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

#[test]
fn the_status_schema_lists_what_the_handler_serializes_in_order() {
    let doc = document();
    let served =
        serde_json::to_string(&IntegrationStatus::default().render(Tz::UTC)).expect("serializable");
    let served_members = member_names(&serde_json::from_str(&served).expect("JSON"));

    let schema = &doc["components"]["schemas"]["StatusDocument"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();

    assert_eq!(member_names(&schema["properties"]), served_members);
    let positions: Vec<Option<usize>> = required
        .iter()
        .map(|member| served.find(&format!("\"{member}\"")))
        .collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.is_sorted(),
        "`required` is not the served order: {required:?} vs {served}"
    );
}

#[test]
fn the_log_entry_schema_lists_what_the_handler_serializes() {
    let doc = document();
    let entry = LogEntry {
        category: LogCategory::DataIntegrationFailed,
        time: chrono::DateTime::UNIX_EPOCH,
        description: None,
    };
    let served = serde_json::to_value(entry.render(Tz::UTC)).expect("serializable");

    let schema = &doc["components"]["schemas"]["LogEntry"];

    let mut documented = member_names(&schema["properties"]);
    let mut actual = member_names(&served);
    documented.sort();
    actual.sort();
    assert_eq!(documented, actual);
}

#[test]
fn the_category_enum_is_every_category() {
    let doc = document();

    let documented: Vec<&str> = doc["components"]["schemas"]["LogCategory"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();

    assert_eq!(
        documented,
        LogCategory::ALL.map(LogCategory::as_str).to_vec()
    );
}

#[test]
fn the_log_documents_top_and_category_and_nothing_else() {
    let doc = document();

    let parameters: Vec<&str> = doc["paths"][LOG_PATH]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();

    assert_eq!(parameters, vec!["top", "category"]);
}

#[actix_web::test]
async fn the_document_is_served_as_openapi_3_without_a_key() {
    let app = TestApp::builder()
        .disabled()
        .api_keys(&["k-1"])
        .spawn()
        .await;

    let response = app.get(OPENAPI_PATH).await;

    assert_eq!(response.status, StatusCode::OK);
    let served = response.json();
    assert!(served["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    assert_eq!(served, document());
}

#[test]
fn the_documents_version_is_the_packages() {
    assert_eq!(document()["info"]["version"], env!("CARGO_PKG_VERSION"));
}
