//! The OpenAPI 3.1 description served at `/openapi.json`. Written by hand as JSON: the service
//! has eight operations, and a literal document is easier to review than derive attributes
//! spread over handlers and domain types. Tests keep it honest: its paths and methods must be
//! the routed ones (`routes::routed_operations`) and its schemas must match what the handlers serialize.
use serde_json::{json, Value};

use crate::domain::{LogCategory, DEFAULT_TOP, MAX_TOP, STATUS_DEPTH};
use crate::paths::{
    API_KEY_HEADER, CLEAR_CACHE_PATH, HEALTHZ_PATH, LOG_PATH, METRICS_PATH, OPENAPI_PATH,
    READYZ_PATH, STATUS_PAGE_PATH, STATUS_PATH,
};

/// The whole document.
pub fn document() -> Value {
    let categories: Vec<&str> = LogCategory::ALL.iter().map(|c| c.as_str()).collect();
    let mut paths = serde_json::Map::new();
    for (path, item) in [
        (STATUS_PATH, status_operation()),
        (LOG_PATH, log_operation()),
        (STATUS_PAGE_PATH, status_page_operation()),
        (CLEAR_CACHE_PATH, clear_cache_operation()),
        (HEALTHZ_PATH, healthz_operation()),
        (READYZ_PATH, readyz_operation()),
        (OPENAPI_PATH, openapi_operation()),
        (METRICS_PATH, metrics_operation()),
    ] {
        paths.insert(path.to_owned(), item);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "QoE Data Service",
            "version": crate::build_info::VERSION,
            "description": "The CQD Data API's integration status and log, read from the QoE \
                archive database. The integration log operations answer 200 with an empty body \
                while `integration_log.enabled` is false (the default); the status page then \
                says how to enable it. \
                When `http.api_keys` is set, every /QoEDataService/… request and /metrics \
                need a key (Status and the status page do not with `http.public_status = \
                true`). Every response carries `X-Request-Id` (the request's own, if it \
                sent a printable one of at most 128 characters, else a generated one)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": { "type": "apiKey", "in": "header", "name": "X-Api-Key" },
                "Bearer": { "type": "http", "scheme": "bearer",
                            "description": "The same API key, as `Authorization: Bearer <key>`." }
            },
            "schemas": {
                "StatusDocument": status_schema(),
                "LogEntry": log_entry_schema(),
                "LogCategory": { "type": "string", "enum": categories },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": { "type": "string" },
                        "reason": { "type": "string", "description": "On a 503: why the database is unavailable, in `/readyz`'s words (e.g. `database unreachable`, or the SQL Server Agent source's server time zone mismatch)." }
                    },
                    "additionalProperties": false
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": { "type": "string", "enum": ["ok", "ready", "unavailable"] },
                        "reason": { "type": "string", "description": "Why the service is not ready: the database is unavailable (without server names or driver text), or, with the SQL Server Agent source, a setting that disagrees with the server (naming the setting)." },
                        "retry_in_s": { "type": "integer", "minimum": 1, "description": "While connection attempts back off after a failed connect or login: seconds until the next attempt (the same as `Retry-After`)." }
                    },
                    "additionalProperties": false
                },
                "CqdTimestamp": {
                    "type": "string",
                    "pattern": r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$",
                    "description": "MM/dd/yyyy HH:mm:ss in the configured time zone, no zone suffix.",
                    "examples": ["01/18/2015 10:30:13"]
                }
            }
        }
    })
}

/// `X-Api-Key` or `Bearer`, or nothing when the service runs without keys.
fn keyed() -> Value {
    json!([{ "ApiKey": [] }, { "Bearer": [] }, {}])
}

fn with_key_responses(mut responses: Value) -> Value {
    responses["401"] = json!({
        "description": format!("`http.api_keys` is set and the request carries no valid key \
            (`{API_KEY_HEADER}` or `Authorization: Bearer`)."),
        "headers": { "WWW-Authenticate": { "schema": { "type": "string" },
                     "description": "Bearer realm=\"qoe-data-service\"" } },
        "content": json_of("Error")
    });
    responses
}

fn unavailable() -> Value {
    json!({
        "description": "The database could not answer in time; retry after `Retry-After` seconds.",
        "headers": { "Retry-After": { "schema": { "type": "integer" } } },
        "content": json_of("Error")
    })
}

/// Conditional GET: a strong `ETag` on 200 and `304` for a matching `If-None-Match`.
fn conditional(mut operation: Value) -> Value {
    match operation["get"]["parameters"].as_array_mut() {
        Some(parameters) => parameters.push(if_none_match()),
        None => operation["get"]["parameters"] = json!([if_none_match()]),
    }
    let responses = &mut operation["get"]["responses"];
    responses["200"]["headers"] = json!({
        "ETag": { "schema": { "type": "string" }, "description": "Strong tag of the body." },
        "Cache-Control": { "schema": { "type": "string" },
                           "description": "`max-age` equal to `cache.ttl_ms` in seconds; `no-cache` when the cache is off." }
    });
    responses["304"] =
        json!({ "description": "The body has not changed since the tag in `If-None-Match`." });
    operation
}

fn if_none_match() -> Value {
    json!({ "name": "If-None-Match", "in": "header", "required": false,
            "description": "A tag from an earlier answer; a current one gets 304 without a body.",
            "schema": { "type": "string" } })
}

fn json_of(schema: &str) -> Value {
    json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } })
}

fn status_operation() -> Value {
    conditional(json!({ "get": {
        "operationId": "getLastIntegrationData",
        "summary": "Get Last Integration Data",
        "description": format!("The newest {STATUS_DEPTH} successful and failed runs of data \
            integration and cube processing, and the latest start of each."),
        "security": keyed(),
        "responses": with_key_responses(json!({
            "200": { "description": "The status; an empty body while disabled.",
                     "content": json_of("StatusDocument") },
            "503": unavailable()
        }))
    }}))
}

fn log_operation() -> Value {
    conditional(json!({ "get": {
        "operationId": "getIntegrationLog",
        "summary": "Get Integration Log",
        "description": "Log entries, newest first. Any other query parameter is refused.",
        "security": keyed(),
        "parameters": [
            { "name": "top", "in": "query", "required": false,
              "description": "How many entries, newest first.",
              "schema": { "type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": DEFAULT_TOP } },
            { "name": "category", "in": "query", "required": false,
              "description": "Only entries of this category.",
              "schema": { "$ref": "#/components/schemas/LogCategory" } }
        ],
        "responses": with_key_responses(json!({
            "200": { "description": "The entries; an empty body while disabled.",
                     "content": { "application/json": { "schema": {
                         "type": "array", "maxItems": MAX_TOP,
                         "items": { "$ref": "#/components/schemas/LogEntry" } } } } },
            "400": { "description": "A query parameter is out of range, unknown or repeated; the message names it.",
                     "content": json_of("Error") },
            "503": unavailable()
        }))
    }}))
}

fn status_page_operation() -> Value {
    json!({ "get": {
        "operationId": "getStatusPage",
        "summary": "Status page for people",
        "description": "Both jobs side by side with last success, failure and start, recent \
            runs and their durations; a banner naming failing jobs (newest outcome a failure) \
            first and stale jobs (newest success older than \
            `integration_log.stale_after_minutes`) second; the state in the title. Reloads \
            itself every `integration_log.page_refresh_s` seconds (0: never). Never cached \
            (`no-store`).",
        "security": keyed(),
        "responses": with_key_responses(json!({
            "200": { "description": "The page; while `integration_log.enabled` is false, a page \
                         saying how to enable it (the database is not read).",
                     "content": { "text/html": { "schema": { "type": "string" } } } },
            "503": {
                "description": "The database could not answer: a page naming the reason in \
                    `/readyz`'s words and reloading after `Retry-After` seconds.",
                "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                "content": { "text/html": { "schema": { "type": "string" } } }
            }
        }))
    }})
}

fn clear_cache_operation() -> Value {
    json!({ "post": {
        "operationId": "clearCache",
        "summary": "Clear Cache",
        "description": "Empties the cached Status and Integration Log answers, so a read that \
            starts after this answer goes to the database. Takes effect at most once a second: \
            a call within a second of the last clear waits for the next one.",
        "security": keyed(),
        "responses": with_key_responses(json!({
            "200": { "description": "Done; empty body." }
        }))
    }})
}

fn healthz_operation() -> Value {
    json!({ "get": {
        "operationId": "healthz",
        "summary": "Liveness: the process runs. Never touches the database.",
        "security": [],
        "responses": { "200": { "description": "Running.", "content": json_of("Health") } }
    }})
}

fn readyz_operation() -> Value {
    json!({ "get": {
        "operationId": "readyz",
        "summary": "Readiness: a pooled connection answers SELECT 1 (a result at most a second \
            old, shared by every caller).",
        "security": [],
        "responses": {
            "200": { "description": "Ready.", "content": json_of("Health") },
            "503": { "description": "The database is unavailable; `reason` says how.",
                     "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                     "content": json_of("Health") }
        }
    }})
}

fn openapi_operation() -> Value {
    json!({ "get": {
        "operationId": "openapi",
        "summary": "This document.",
        "security": [],
        "responses": { "200": { "description": "OpenAPI 3.1.",
                                "content": { "application/json": { "schema": { "type": "object" } } } } }
    }})
}

fn metrics_operation() -> Value {
    json!({ "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics: requests, latencies, the pool, the cache and job freshness.",
        "security": keyed(),
        "responses": with_key_responses(json!({
            "200": { "description": "Prometheus text exposition format 0.0.4.",
                     "content": { "text/plain": { "schema": { "type": "string" } } } }
        }))
    }})
}

fn status_schema() -> Value {
    let runs = json!({ "type": "array", "maxItems": STATUS_DEPTH,
                       "items": { "$ref": "#/components/schemas/CqdTimestamp" },
                       "description": "Newest first; [] when none." });
    let start = json!({ "oneOf": [ { "$ref": "#/components/schemas/CqdTimestamp" }, { "type": "null" } ],
                        "description": "null when no run is recorded." });
    json!({
        "type": "object",
        "required": ["LastSuccessIntegrations", "LastSuccessCubeProcessings",
                     "LastFailedIntegrations", "LastFailedCubeProcessings",
                     "LastDataIntegrationStart", "LastCubeProcessingStart"],
        "properties": {
            "LastSuccessIntegrations": runs,
            "LastSuccessCubeProcessings": runs,
            "LastFailedIntegrations": runs,
            "LastFailedCubeProcessings": runs,
            "LastDataIntegrationStart": start,
            "LastCubeProcessingStart": start
        },
        "additionalProperties": false
    })
}

fn log_entry_schema() -> Value {
    json!({
        "type": "object",
        "required": ["LogCategory", "LogTime", "LogDescription"],
        "properties": {
            "LogCategory": { "$ref": "#/components/schemas/LogCategory" },
            "LogTime": { "type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{2}$",
                         "description": "Local date-time in the configured zone, hundredths truncated, no zone suffix.",
                         "examples": ["2015-03-18T10:28:29.10"] },
            "LogDescription": { "type": ["string", "null"] }
        },
        "additionalProperties": false
    })
}
