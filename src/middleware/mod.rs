//! Everything that wraps the route table, in the order a request meets it
//! (`startup::app`): `request_context` (span, request id, HTTP metrics), `cors`, then
//! `api_key` (the API-key gate).
pub mod api_key;
pub mod cors;
pub mod request_context;
