//! Black-box HTTP tests through the production route table.
mod cache;
mod conditional_get;
mod configuration;
mod health;
mod helpers;
mod https;
mod metrics;
mod request_id;
mod shutdown;
mod status;
mod tds;
