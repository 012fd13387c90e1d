//! Test-only MS-TDS 7.4 server that tiberius 0.13 can connect to, log in to and query.
//!
//! Start a [`TdsTestServer`] with a [`Handler`] (a closure `Fn(&Request) -> Response` works, and
//! so does [`integration_log::IntegrationLogDb`]), connect tiberius with
//! [`TdsTestServer::ado_connection_string`], and inspect [`TdsTestServer::requests`].
//! Plaintext mode needs `Encrypt=DANGER_PLAINTEXT` on the client; TLS mode is TDS 8.0 strict
//! (`Encrypt=strict`) with certificates from [`TestCertificates`].

pub mod integration_log;
pub mod live_log;
mod login;
mod server;
pub mod sql_agent;
mod sql_browser;
mod tls;
mod types;
mod wire;

pub use login::{LoginOptions, LoginRecord, WindowsLogin};
pub use server::{ServerOptions, TdsTestServer, DEFAULT_DATABASE, DEFAULT_PASSWORD, DEFAULT_USER};
pub use sql_browser::{SqlBrowserResponder, SQL_BROWSER_PORT};
pub use tls::{TestCertificates, TlsIdentity, TDS_ALPN};
pub use types::{Column, ColumnType, Fault, Handler, Request, Response, ResultSet, Stats, Value};
