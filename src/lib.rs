//! QoE Data Service: the CQD Data API's integration status, read from the QoE archive database.
// No unsafe code but one call, allowed where it is (`platform::unix::release_freed_memory`).
#![deny(unsafe_code)]

/// The API's errors by meaning, mapped to HTTP in one place.
pub mod api_error;
/// The state every handler and middleware may use, and the one function that builds it.
pub mod app_state;
/// What this build is: version, target, the `kerberos` feature.
pub mod build_info;
/// Command-line interface: `serve`, `check`, `migrate` and `healthcheck`.
pub mod cli;
/// Conditional GET: strong `ETag`s, `304 Not Modified`, `Cache-Control`; tagged bodies.
pub mod conditional;
/// Settings: defaults, TOML file and `QOE_…` environment, validated at start.
pub mod configuration;
/// SQL Server access: connection pool, queries, row mapping and migrations.
pub mod db;
/// Where the service connects and whether it works there: the start lines and `check`'s report.
pub mod diagnosis;
/// The integration log and the status document, free of I/O.
pub mod domain;
/// Files named by settings, read only if regular and within a size limit.
pub mod files;
/// `qoe-data-service healthcheck`: asks a running server's `/healthz`.
pub mod healthcheck;
/// The HTTP(S) server: capped request heads and connections, explicit backlog.
pub mod listener;
/// Rate limits for log lines clients or outages can repeat.
pub mod log_limit;
/// Counters and histograms behind `GET /metrics`: a leaf, handed what it renders.
pub mod metrics;
/// What wraps the route table: request context, CORS, the API-key gate.
pub mod middleware;
/// The OpenAPI 3 description of the HTTP API.
pub mod openapi;
/// The HTTP API's paths and header names (a leaf: routes, OpenAPI and middleware share it).
pub mod paths;
/// What differs by operating system: stop signals, signals ignored, listener socket options,
/// the integrated sign-in to SQL Server.
pub mod platform;
/// HTTP handlers and the route table.
pub mod routes;
/// The warning at start when the settings file holds a secret others may read.
pub mod secrets_on_disk;
/// How far apart two names are: "did you mean" and the nearest names first.
pub mod spelling;
/// Building and running the HTTP server.
pub mod startup;
/// The HTML status page for people, rendered from the status without I/O.
pub mod status_html;
/// What the handlers need from the database, as a trait the tests can replace, and the
/// layers (metering, cache) between them and the database.
pub mod store;
/// Logging setup.
pub mod telemetry;
/// HTTPS: the rustls server configuration from `http.tls.*`.
pub mod tls;
