//! Black-box HTTP tests through the production route table.
mod alert_verdict;
mod api_keys;
mod cache;
mod check;
mod clear_cache;
mod conditional_get;
mod configuration;
mod cors;
mod deploy;
mod health;
mod helpers;
mod https;
mod integration_log;
mod limits;
// Both stop the binary with SIGTERM (and SIGHUP): Unix signals.
#[cfg(unix)]
mod logging;
mod metrics;
mod openapi;
mod request_id;
mod service;
#[cfg(unix)]
mod shutdown;
mod sql_agent;
mod status;
mod status_page;
mod tds;
mod tds_read_scale;
