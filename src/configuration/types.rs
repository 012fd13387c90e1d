//! The validated settings: what the server, the database pool and the handlers read.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};

use super::connection::ConnectionString;
use super::errors::{invalid, SettingsError};
use super::values::LogFormat;

/// Everything the service can be told, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub integration_log: IntegrationLogSettings,
    pub cache: CacheSettings,
    pub log: LogSettings,
    /// What loading has to say once logging is on: each old name of a renamed setting used.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The ADO.NET connection string, as admins already have it, parsed. Holds the password.
    pub connection_string: ConnectionString,
    /// A PEM or DER file with the CA that signed SQL Server's certificate.
    pub ca_certificate_path: Option<PathBuf>,
    pub pool_max_size: u32,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// One budget for a whole read: the wait for a pooled connection, connecting and the
    /// command together.
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Origins whose scripts may read the API (`scheme://host[:port]`, lower case). Empty: no CORS.
    pub cors_trusted_origins: Vec<String>,
    /// Keys a `/QoEDataService/…` request must carry. Empty: open.
    pub api_keys: ApiKeys,
    /// Status and the status page answer without a key while keys are set, so people can
    /// read the page in a browser; the Integration Log, ClearCache and `/metrics` keep them.
    pub public_status: bool,
    /// How long a stopping server lets in-flight requests finish.
    pub shutdown_timeout: Duration,
    /// Serve HTTPS with this certificate; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Longest HTTP/1 request head (request line and headers) a connection may send.
    pub max_request_head_bytes: usize,
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// How long every request head may take from its first byte.
    pub client_request_timeout: Duration,
    /// How long an idle keep-alive connection stays open; zero: closed after each answer.
    pub keep_alive: Duration,
    /// How long a client may take no bytes of an answer before its connection is closed.
    pub client_write_timeout: Duration,
}

/// The API keys, secret: `Debug` shows how many there are, never a key.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<SecretString>);

impl ApiKeys {
    /// Keys that are non-empty and free of whitespace; the error names `http.api_keys`.
    pub fn new(keys: Vec<SecretString>) -> Result<Self, SettingsError> {
        for (position, key) in keys.iter().enumerate() {
            let key = key.expose_secret();
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                return Err(invalid(
                    super::declared::key::API_KEYS,
                    format!(
                        "key number {} is empty or contains whitespace",
                        position + 1
                    ),
                ));
            }
        }
        Ok(ApiKeys(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> &[SecretString] {
        &self.0
    }
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys, redacted)", self.0.len())
    }
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long a database answer is reused; zero turns the cache off.
    pub ttl: Duration,
    /// Most distinct `IntegrationLog` answers kept rendered at once.
    pub log_max_entries: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct IntegrationLogSettings {
    pub enabled: bool,
    pub time_zone: Tz,
    /// The status page warns when a job's newest success is older than this.
    pub stale_after: TimeDelta,
    /// How often the status page reloads itself (`integration_log.page_refresh_s`); `None`: never.
    pub page_refresh: Option<Duration>,
    /// Where the runs are read from (`integration_log.source`).
    pub source: LogSource,
}

/// `integration_log.source`: the `dbo.IntegrationLog` table, or SQL Server Agent's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    Table,
    SqlAgent(SqlAgentSettings),
}

/// `integration_log.sql_agent.*`: which Agent job steps are CQD's two jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlAgentSettings {
    pub data_integration_step: String,
    pub cube_processing_step: String,
    /// Only this job's steps count; `None`: every job with a step of that name.
    pub job_name: Option<String>,
    /// The zone of the SQL Server machine's clock, in which Agent records run times.
    pub server_time_zone: Tz,
}
