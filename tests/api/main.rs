//! Black-box HTTP tests through the production route table.
mod api_keys;
mod clear_cache;
mod configuration;
mod cors;
mod health;
mod helpers;
mod integration_log;
mod openapi;
mod status;
mod status_page;
mod tds;
