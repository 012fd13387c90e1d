//! Black-box HTTP tests through the production route table.
mod cache;
mod conditional_get;
mod configuration;
mod health;
mod helpers;
mod metrics;
mod request_id;
mod status;
