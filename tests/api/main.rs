//! Black-box HTTP tests through the production route table.
mod clear_cache;
mod configuration;
mod health;
mod helpers;
mod integration_log;
mod status;
