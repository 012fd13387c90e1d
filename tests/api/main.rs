//! Black-box HTTP tests through the production route table.
mod configuration;
mod health;
mod helpers;
mod status;
mod tds;
