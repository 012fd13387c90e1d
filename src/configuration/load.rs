//! Loading: defaults, then the TOML file, then the `QOE_…` environment, merged; list
//! variables split on commas; unknown settings named with a "did you mean"; every value
//! validated into the [`types`](super::types).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::TimeDelta;
use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::connection::ConnectionString;
use super::errors::{invalid, SettingsError};
use super::time_zone;
use super::types::{
    ApiKeys, CacheSettings, DatabaseSettings, HttpSettings, IntegrationLogSettings, LogFormat,
    LogSettings, LogSource, Settings, SqlAgentSettings, TlsSettings,
};

/// Prefix of the environment variables that override settings: `QOE_DATABASE__POOL_MAX_SIZE`.
pub const ENV_PREFIX: &str = "QOE";

#[derive(Deserialize)]
struct RawSettings {
    database: RawDatabase,
    http: RawHttp,
    integration_log: RawIntegrationLog,
    cache: RawCache,
    log: RawLog,
}

#[derive(Deserialize)]
struct RawDatabase {
    connection_string: Option<SecretString>,
    ca_certificate_path: Option<PathBuf>,
    pool_max_size: u32,
    /// Not in the defaults: `Connect Timeout` in the connection string applies when it is unset.
    connect_timeout_ms: Option<u64>,
    command_timeout_ms: u64,
    request_timeout_ms: u64,
}

#[derive(Deserialize)]
struct RawHttp {
    listen: String,
    #[serde(default)]
    cors_trusted_origins: Vec<String>,
    #[serde(default)]
    api_keys: Vec<SecretString>,
    public_status: bool,
    shutdown_timeout_s: u64,
    #[serde(default)]
    tls: RawTls,
    max_request_head_bytes: u64,
    max_connections: u64,
    client_request_timeout_ms: u64,
    keep_alive_s: u64,
}

#[derive(Deserialize, Default)]
struct RawTls {
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawCache {
    ttl_ms: u64,
    log_max_entries: u64,
}

#[derive(Deserialize)]
struct RawLog {
    format: String,
}

#[derive(Deserialize)]
struct RawIntegrationLog {
    enabled: bool,
    time_zone: String,
    stale_after_minutes: u64,
    page_refresh_s: u64,
    source: String,
    sql_agent: RawSqlAgent,
}

#[derive(Deserialize)]
struct RawSqlAgent {
    data_integration_step: String,
    cube_processing_step: String,
    job_name: Option<String>,
    server_time_zone: String,
}

/// `database.connect_timeout_ms` when neither it nor `Connect Timeout` is given.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);

/// Settings that are lists in the file and comma-separated in the environment.
const LIST_SETTINGS: [&str; 2] = ["http.cors_trusted_origins", "http.api_keys"];

const DEFAULTS: &str = r#"
[database]
pool_max_size = 10
command_timeout_ms = 10000
request_timeout_ms = 10000

[http]
listen = "127.0.0.1:8080"
public_status = false
shutdown_timeout_s = 10
max_request_head_bytes = 16384
max_connections = 2048
client_request_timeout_ms = 5000
keep_alive_s = 5

[integration_log]
enabled = false
time_zone = "UTC"
stale_after_minutes = 30
page_refresh_s = 60
source = "table"

[integration_log.sql_agent]
data_integration_step = "QoE Archive Data"
cube_processing_step = "Process Cube"
server_time_zone = "UTC"

[cache]
ttl_ms = 5000
log_max_entries = 256

[log]
format = "text"
"#;

impl Settings {
    /// Defaults, then the optional TOML file, then `QOE_…` variables from the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, std::env::vars().collect())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests use this).
    pub fn load_from(
        file: Option<&Path>,
        environment: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let (merged, environment) = merged(file, environment)?;
        let mut unknown = Vec::new();
        let raw = serde_ignored::deserialize(merged, |path| unknown.push(path.to_string()));
        if !unknown.is_empty() {
            let known = super::keys::known_keys::<RawSettings>();
            return Err(SettingsError::Unknown(
                unknown
                    .iter()
                    .map(|key| unknown_setting(key, &known, file, &environment))
                    .collect(),
            ));
        }
        let raw: RawSettings = raw.map_err(SettingsError::from)?;
        raw.validate()
    }

    /// The defaults, reading the database at `connection_string` and listening on a free port
    /// of 127.0.0.1: what tests start from before setting the fields they care about.
    pub fn for_tests(connection_string: &str) -> Result<Self, SettingsError> {
        let (defaults, _) = merged(None, HashMap::new())?;
        let mut raw = RawSettings::deserialize(defaults)?;
        raw.database.connection_string = Some(SecretString::from(connection_string));
        raw.http.listen = "127.0.0.1:0".to_owned();
        raw.validate()
    }

    /// Every setting by its key path (`http.tls.cert_path`), sections left out: what an
    /// example configuration has to show.
    pub fn known_settings() -> Vec<String> {
        let keys = super::keys::known_keys::<RawSettings>();
        let is_section = |key: &String| {
            let below = format!("{key}.");
            keys.iter().any(|other| other.starts_with(&below))
        };
        keys.iter()
            .filter(|key| !is_section(key))
            .cloned()
            .collect()
    }

    /// Only the `http.*` settings (all `healthcheck` needs): no connection string required,
    /// other sections not read.
    pub fn load_http(file: Option<&Path>) -> Result<HttpSettings, SettingsError> {
        Self::load_http_from(file, std::env::vars().collect())
    }

    /// As [`Settings::load_http`], with the environment given explicitly (tests use this).
    pub fn load_http_from(
        file: Option<&Path>,
        environment: HashMap<String, String>,
    ) -> Result<HttpSettings, SettingsError> {
        #[derive(Deserialize)]
        struct RawHttpOnly {
            http: RawHttp,
        }
        let (merged, _) = merged(file, environment)?;
        let raw: RawHttpOnly = merged.try_deserialize()?;
        raw.http.validate()
    }
}

/// Defaults, then the file, then the `QOE_…` variables, merged; and the environment without
/// the list variables (to name the variable an unknown key came from).
fn merged(
    file: Option<&Path>,
    environment: HashMap<String, String>,
) -> Result<(config::Value, HashMap<String, String>), SettingsError> {
    let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
    if let Some(path) = file {
        let text = super::errors::read_toml(path)?;
        builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
    }
    let (lists, environment) = split_list_variables(environment)?;
    for (setting, entries) in lists {
        builder = builder.set_override(setting, entries)?;
    }
    let merged = builder
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .source(Some(environment.clone())),
        )
        .build()?
        .try_deserialize()?;
    Ok((merged, environment))
}

/// "unknown setting `http.api_key` (variable QOE_HTTP__API_KEY); did you mean `http.api_keys`?"
fn unknown_setting(
    key: &str,
    known: &[String],
    file: Option<&Path>,
    environment: &HashMap<String, String>,
) -> String {
    let variable = format!("{ENV_PREFIX}_{}", key.replace('.', "__")).to_uppercase();
    let below = format!("{variable}__");
    let mut variables: Vec<&String> = environment
        .keys()
        .filter(|name| {
            let name = name.to_ascii_uppercase();
            name == variable || name.starts_with(&below)
        })
        .collect();
    variables.sort();
    let origin = match (variables.first(), file) {
        (Some(name), _) => format!("variable {name}"),
        (None, Some(path)) => format!("in {}", path.display()),
        (None, None) => "in the environment".to_owned(),
    };
    let hint = match super::keys::closest(key, known) {
        Some(meant) => format!("; did you mean `{meant}`?"),
        None => String::new(),
    };
    format!("unknown setting `{key}` ({origin}){hint}")
}

/// A list setting's name and its entries, as read from one environment variable.
type ListSetting = (&'static str, Vec<String>);

/// Takes `QOE_HTTP__CORS_TRUSTED_ORIGINS` and `QOE_HTTP__API_KEYS` out of the environment,
/// split on commas. Not `config`'s own list parsing: that only runs with `try_parsing`, which
/// would turn a key such as `12345` into a number and every other setting's text with it.
/// An empty variable is an empty list, except for the API keys: keys set but empty would
/// serve without keys, so that is refused (unset the variable to serve without keys).
/// Spaces around entries are dropped.
fn split_list_variables(
    mut environment: HashMap<String, String>,
) -> Result<(Vec<ListSetting>, HashMap<String, String>), SettingsError> {
    let mut lists = Vec::new();
    for setting in LIST_SETTINGS {
        let variable = format!("{ENV_PREFIX}_{}", setting.replace('.', "__")).to_uppercase();
        let Some(name) = environment
            .keys()
            .find(|name| name.eq_ignore_ascii_case(&variable))
            .cloned()
        else {
            continue;
        };
        let value = environment.remove(&name).unwrap_or_default();
        if value.trim().is_empty() && setting == "http.api_keys" {
            return Err(invalid(
                setting,
                format!(
                    "{name} is set but empty; unset it to serve without API keys, or give \
                     the keys separated by commas"
                ),
            ));
        }
        let entries = if value.trim().is_empty() {
            Vec::new()
        } else {
            value
                .split(',')
                .map(|entry| entry.trim().to_owned())
                .collect()
        };
        lists.push((setting, entries));
    }
    Ok((lists, environment))
}

impl RawSettings {
    fn validate(self) -> Result<Settings, SettingsError> {
        Ok(Settings {
            database: self.database.validate()?,
            http: self.http.validate()?,
            integration_log: self.integration_log.validate()?,
            cache: self.cache.validate()?,
            log: self.log.validate()?,
        })
    }
}

impl RawHttp {
    fn validate(self) -> Result<HttpSettings, SettingsError> {
        let listen = self.listen.parse().map_err(|_| {
            invalid(
                "http.listen",
                "expected an IP address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
            )
        })?;
        if self.shutdown_timeout_s > 3600 {
            return Err(invalid(
                "http.shutdown_timeout_s",
                "must be between 0 and 3600 seconds",
            ));
        }
        Ok(HttpSettings {
            listen,
            cors_trusted_origins: self
                .cors_trusted_origins
                .iter()
                .enumerate()
                .map(|(position, origin)| {
                    trusted_origin(origin).map_err(|problem| {
                        // A user-info part may hold a password: the entry is not echoed.
                        let entry = if origin.contains('@') {
                            format!("entry number {} (not shown)", position + 1)
                        } else {
                            format!("`{origin}`")
                        };
                        invalid(
                            "http.cors_trusted_origins",
                            format!(
                                "{entry} {problem}; give scheme, host and optional port \
                                 only, e.g. https://cqd.example.org or http://10.0.0.5:8080"
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            api_keys: ApiKeys::new(self.api_keys)?,
            public_status: self.public_status,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_s),
            tls: self.tls.validate()?,
            max_request_head_bytes: within(
                "http.max_request_head_bytes",
                self.max_request_head_bytes,
                1024..=1024 * 1024,
            )?,
            max_connections: within("http.max_connections", self.max_connections, 1..=100_000)?,
            client_request_timeout: Duration::from_millis(within(
                "http.client_request_timeout_ms",
                self.client_request_timeout_ms,
                100..=60_000,
            )? as u64),
            keep_alive: Duration::from_secs(within(
                "http.keep_alive_s",
                self.keep_alive_s,
                0..=3600,
            )? as u64),
        })
    }
}

impl RawIntegrationLog {
    fn validate(self) -> Result<IntegrationLogSettings, SettingsError> {
        let time_zone = time_zone::parse("integration_log.time_zone", &self.time_zone)?;
        if !(1..=MAX_STALE_AFTER_MINUTES).contains(&self.stale_after_minutes) {
            return Err(invalid(
                "integration_log.stale_after_minutes",
                format!("must be a whole number of minutes from 1 to {MAX_STALE_AFTER_MINUTES}"),
            ));
        }
        if self.page_refresh_s > MAX_PAGE_REFRESH_S {
            return Err(invalid(
                "integration_log.page_refresh_s",
                format!(
                    "must be a whole number of seconds from 1 to {MAX_PAGE_REFRESH_S}, or 0 to \
                     never reload the status page"
                ),
            ));
        }
        let sql_agent = self.sql_agent.validate()?;
        let source = match self.source.as_str() {
            "table" => LogSource::Table,
            "sql_agent" => LogSource::SqlAgent(sql_agent),
            other => {
                return Err(invalid(
                    "integration_log.source",
                    format!("`{other}` is neither `table` nor `sql_agent`"),
                ))
            }
        };
        Ok(IntegrationLogSettings {
            enabled: self.enabled,
            time_zone,
            stale_after: TimeDelta::minutes(self.stale_after_minutes as i64),
            page_refresh: (self.page_refresh_s > 0)
                .then(|| Duration::from_secs(self.page_refresh_s)),
            source,
        })
    }
}

/// Longest name SQL Server allows for a job or a step (`sysname`).
const MAX_SYSNAME_CHARS: usize = 128;

impl RawSqlAgent {
    fn validate(self) -> Result<SqlAgentSettings, SettingsError> {
        let name = |setting: &'static str, value: String| {
            let length = value.chars().count();
            if value.trim().is_empty() || length > MAX_SYSNAME_CHARS {
                Err(invalid(
                    setting,
                    format!("must be a job step name of 1 to {MAX_SYSNAME_CHARS} characters"),
                ))
            } else {
                Ok(value)
            }
        };
        let server_time_zone = time_zone::parse(
            "integration_log.sql_agent.server_time_zone",
            &self.server_time_zone,
        )?;
        let job_name = match self.job_name {
            Some(job) if job.trim().is_empty() => None,
            Some(job) => Some(name("integration_log.sql_agent.job_name", job)?),
            None => None,
        };
        Ok(SqlAgentSettings {
            data_integration_step: name(
                "integration_log.sql_agent.data_integration_step",
                self.data_integration_step,
            )?,
            cube_processing_step: name(
                "integration_log.sql_agent.cube_processing_step",
                self.cube_processing_step,
            )?,
            job_name,
            server_time_zone,
        })
    }
}

/// A week: longer than any sensible alarm threshold for a 15-minute job.
const MAX_STALE_AFTER_MINUTES: u64 = 7 * 24 * 60;
/// Longest status page reload interval: a day.
const MAX_PAGE_REFRESH_S: u64 = 24 * 60 * 60;

/// An origin as browsers send it: `http` or `https`, a host, an optional port, nothing else.
/// Scheme and host are lower-cased, as the `Origin` header always has them.
fn trusted_origin(text: &str) -> Result<String, &'static str> {
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.contains('*') {
        return Err("must not contain a wildcard");
    }
    if rest.ends_with('/') {
        return Err("must not end with a slash");
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err("must not have a path, query, fragment or user");
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (address, after) = bracketed.split_once(']').ok_or("has no valid host")?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or("has no valid host")?),
            };
            (address, port)
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let host_is_valid = if rest.starts_with('[') {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if !host_is_valid {
        return Err("has no valid host");
    }
    if let Some(port) = port {
        if !port.bytes().all(|b| b.is_ascii_digit()) || !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err("has no valid port (1 to 65535)");
        }
    }
    Ok(lower)
}

impl RawTls {
    fn validate(self) -> Result<Option<TlsSettings>, SettingsError> {
        let readable = |setting: &'static str, path: PathBuf| {
            std::fs::File::open(&path)
                .map(|_| path.clone())
                .map_err(|e| invalid(setting, format!("cannot read {}: {e}", path.display())))
        };
        match (self.cert_path, self.key_path) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsSettings {
                cert_path: readable("http.tls.cert_path", cert)?,
                key_path: readable("http.tls.key_path", key)?,
            })),
            (Some(_), None) => Err(invalid(
                "http.tls.key_path",
                "not set; HTTPS needs both http.tls.cert_path and http.tls.key_path",
            )),
            (None, Some(_)) => Err(invalid(
                "http.tls.cert_path",
                "not set; HTTPS needs both http.tls.cert_path and http.tls.key_path",
            )),
        }
    }
}

impl RawCache {
    fn validate(self) -> Result<CacheSettings, SettingsError> {
        if self.ttl_ms > 3_600_000 {
            return Err(invalid(
                "cache.ttl_ms",
                "must be between 0 (off) and 3600000 milliseconds",
            ));
        }
        Ok(CacheSettings {
            ttl: Duration::from_millis(self.ttl_ms),
            log_max_entries: within("cache.log_max_entries", self.log_max_entries, 1..=100_000)?,
        })
    }
}

impl RawLog {
    fn validate(self) -> Result<LogSettings, SettingsError> {
        let format = match self.format.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(invalid(
                    "log.format",
                    format!("`{}` is neither `text` nor `json`", self.format),
                ))
            }
        };
        Ok(LogSettings { format })
    }
}

impl RawDatabase {
    fn validate(self) -> Result<DatabaseSettings, SettingsError> {
        let connection_string = self
            .connection_string
            .filter(|text| !text.expose_secret().trim().is_empty())
            .ok_or_else(|| {
                invalid(
                    "database.connection_string",
                    "not set; give the ADO.NET connection string of the QoE archive database, \
                     e.g. Server=tcp:sql.example.org,1433;Database=QoEArchive;User Id=qoe_service;Password=…",
                )
            })?;
        if !(1..=1000).contains(&self.pool_max_size) {
            return Err(invalid(
                "database.pool_max_size",
                "must be between 1 and 1000",
            ));
        }
        let command_timeout = timeout("database.command_timeout_ms", self.command_timeout_ms)?;
        let request_timeout = timeout("database.request_timeout_ms", self.request_timeout_ms)?;
        let connection_string = ConnectionString::parse(&connection_string)?;
        let connect_timeout = match self.connect_timeout_ms {
            Some(millis) => timeout("database.connect_timeout_ms", millis)?,
            None => connection_string
                .connect_timeout
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        };
        if let Some(path) = &self.ca_certificate_path {
            super::database::check_ca_certificate(path)?;
            let tls = &connection_string.tls;
            if tls.trust_server_certificate || tls.ca_certificate.is_some() {
                return Err(invalid(
                    "database.ca_certificate_path",
                    "cannot be combined with TrustServerCertificate or TrustServerCertificateCA \
                     in database.connection_string; keep one of them",
                ));
            }
        }
        if let Some(path) = &connection_string.tls.ca_certificate {
            super::database::check_connection_string_ca(path)?;
        }
        let settings = DatabaseSettings {
            connection_string,
            ca_certificate_path: self.ca_certificate_path,
            pool_max_size: self.pool_max_size,
            connect_timeout,
            command_timeout,
            request_timeout,
        };
        Ok(settings)
    }
}

fn within(
    setting: &'static str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<usize, SettingsError> {
    if range.contains(&value) {
        Ok(value as usize)
    } else {
        Err(invalid(
            setting,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

fn timeout(setting: &'static str, millis: u64) -> Result<Duration, SettingsError> {
    if (1..=600_000).contains(&millis) {
        Ok(Duration::from_millis(millis))
    } else {
        Err(invalid(
            setting,
            "must be between 1 and 600000 milliseconds",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    const CONNECTION_STRING: &str = "Server=tcp:db.example.org,1433;Database=QoEArchive;User Id=qoe_service;Password=S3cret-Pa55;Encrypt=true;TrustServerCertificate=false";

    fn environment(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut env = environment(&[("QOE_DATABASE__CONNECTION_STRING", CONNECTION_STRING)]);
        env.extend(environment(pairs));
        Settings::load_from(None, env)
    }

    #[test]
    fn test_settings_are_the_loaded_defaults_on_a_free_local_port() {
        let for_tests = Settings::for_tests(CONNECTION_STRING).expect("valid");
        let loaded = load(&[("QOE_HTTP__LISTEN", "127.0.0.1:0")]).expect("valid");

        assert_eq!(format!("{for_tests:?}"), format!("{loaded:?}"));
        assert_eq!(
            for_tests.http.listen,
            std::net::SocketAddr::from(([127, 0, 0, 1], 0))
        );
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match load(pairs) {
            Ok(_) => panic!("settings {pairs:?} were accepted"),
            Err(e) => e.to_string(),
        }
    }

    const SECRET: &str = "S3cret-Pa55";

    fn load_file(toml: &str, pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "qoe-file-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("settings.toml");
        std::fs::write(&file, toml).expect("write settings");
        Settings::load_from(Some(&file), environment(pairs))
    }

    fn file_error(toml: &str) -> String {
        match load_file(toml, &[]) {
            Ok(_) => panic!("settings file {toml:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_toml_syntax_error_names_the_line_and_key_but_never_quotes_the_password() {
        let message = file_error(&format!(
            "[database]\npool_max_size = 3\nconnection_string = \"Server=db;Password={SECRET}\n"
        ));

        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("connection_string"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
    }

    #[test]
    fn a_backslash_in_a_double_quoted_connection_string_says_to_use_single_quotes() {
        let message = file_error(
            "[database]\nconnection_string = \"Server=sql01\\CQD;Database=QoEArchive\"\n",
        );

        assert!(message.contains("line 2"), "{message}");
        assert!(
            message.contains("connection_string = 'Server=sql01\\CQD;…'"),
            "{message}"
        );
    }

    #[test]
    fn a_backslash_in_a_single_quoted_connection_string_is_read_as_written() {
        let settings = load_file(
            "[database]\nconnection_string = 'Server=sql01\\CQD;User Id=u;Password=p'\n",
            &[],
        )
        .expect("valid");

        assert_eq!(
            settings
                .database
                .connection_string
                .server
                .instance
                .as_deref(),
            Some("CQD")
        );
    }

    #[test]
    fn an_api_key_given_as_text_instead_of_a_list_is_named_but_never_echoed() {
        let message = file_error(&format!("[http]\napi_keys = \"{SECRET}\"\n"));

        assert!(message.contains("http.api_keys"), "{message}");
        assert!(message.contains("sequence"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
    }

    #[test]
    fn no_error_path_echoes_a_secret() {
        let files = [
            format!("[database]\nconnection_string = \"Password={SECRET}\n"),
            format!("[database]\nconnection_string = '{SECRET}\n"),
            format!("[database]\nconnection_string = {SECRET}\n"),
            format!("[database]\nconnection_string = [\"{SECRET}\"]\n"),
            format!("[database]\nconnection_string = {{ x = \"{SECRET}\" }}\n"),
            format!("[database]\nconnection_string = \"Password={SECRET}\"\nconnection_string = \"{SECRET}\"\n"),
            format!("[http]\napi_keys = \"{SECRET}\"\n"),
            format!("[http]\napi_keys = [\"{SECRET}\", 5]\n"),
            format!("[http]\napi_keys = [\"{SECRET}\",\n"),
            format!("[http]\napi_keys = [\"has space {SECRET}\"]\n"),
            format!("[http]\napi_key = [\"{SECRET}\"]\n"),
            format!("{SECRET}\n"),
            format!("[http.api_keys]\nx = \"{SECRET}\"\n"),
            format!("[database]\nconnection_string = \"Server=db;Password={{{SECRET}\"\n"),
            format!("[database]\nconnection_string = \"Server=db;Pasword={SECRET}\"\n"),
            format!("[database]\nconnection_string = \"Password={SECRET}\"\n"),
            format!("[database]\nconnection_string = \"Server=db;Password={SECRET};Encrypt={SECRET}\"\n"),
        ];
        for toml in &files {
            let message = file_error(toml);
            assert!(!message.contains(SECRET), "{toml:?} gave `{message}`");
        }
        let variables: &[&[(&str, &str)]] = &[
            &[("QOE_HTTP__API_KEY", SECRET)],
            &[("QOE_HTTP__API_KEYS", &format!("ok,{SECRET} x"))],
            &[(
                "QOE_DATABASE__CONNECTION_STRING",
                &format!("Password={SECRET}"),
            )],
            &[(
                "QOE_DATABASE__CONNECTION_STRING",
                &format!("Server=db;Password='{SECRET}"),
            )],
            &[(
                "QOE_DATABASE__CONNECTION_STRING",
                &format!("Server=db;Pwd={SECRET};Encrypt=maybe"),
            )],
            &[("QOE_DATABASE", SECRET)],
            &[("QOE_HTTP__TLS", SECRET)],
        ];
        for pairs in variables {
            match Settings::load_from(None, environment(pairs)) {
                Ok(_) => panic!("{pairs:?} was accepted"),
                Err(e) => assert!(!e.to_string().contains(SECRET), "{pairs:?} gave `{e}`"),
            }
        }
    }

    #[test]
    fn an_unknown_variable_is_refused_naming_it_and_the_setting_it_probably_meant() {
        let message = error_of(&[("QOE_HTTP__API_KEY", "k-1")]);

        assert!(message.contains("QOE_HTTP__API_KEY"), "{message}");
        assert!(
            message.contains("did you mean `http.api_keys`"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_with_a_suggestion() {
        let message = match load_file(
            "[integration_log]\nenabeld = true\n[http]\napi_key = [\"k-1\"]\n",
            &[("QOE_DATABASE__CONNECTION_STRING", CONNECTION_STRING)],
        ) {
            Ok(_) => panic!("misspelt keys were accepted"),
            Err(e) => e.to_string(),
        };

        assert!(
            message.contains("`integration_log.enabeld`")
                && message.contains("did you mean `integration_log.enabled`"),
            "{message}"
        );
        assert!(
            message.contains("`http.api_key`") && message.contains("did you mean `http.api_keys`"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_section_or_top_level_variable_is_refused() {
        for (variable, key) in [
            ("QOE_TEST_CHROMIUM", "test_chromium"),
            ("QOE_HTTPS__LISTEN", "https"),
            ("QOE_HTTP__TLS__CERT", "http.tls.cert"),
        ] {
            let message = error_of(&[(variable, "x")]);
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(message.contains(variable), "{message}");
        }
    }

    #[test]
    fn every_setting_of_the_raw_structs_is_known() {
        let known = crate::configuration::keys::known_keys::<RawSettings>();

        for key in [
            "database.connection_string",
            "http.api_keys",
            "http.tls.cert_path",
            "integration_log.enabled",
            "cache.ttl_ms",
            "log.format",
        ] {
            assert!(known.iter().any(|k| k == key), "{key} not in {known:?}");
        }
    }

    #[test]
    fn defaults_apply_when_only_the_connection_string_is_given() {
        let settings = load(&[]).expect("valid");

        assert_eq!(
            settings.http.listen,
            "127.0.0.1:8080".parse().expect("addr")
        );
        assert!(!settings.integration_log.enabled);
        assert_eq!(settings.integration_log.time_zone, Tz::UTC);
        assert_eq!(settings.database.pool_max_size, 10);
        assert_eq!(settings.database.connect_timeout, Duration::from_secs(5));
        assert_eq!(settings.database.command_timeout, Duration::from_secs(10));
        assert_eq!(settings.database.request_timeout, Duration::from_secs(10));
        assert!(settings.http.shutdown_timeout >= settings.database.request_timeout);
        assert!(settings.http.cors_trusted_origins.is_empty());
        assert!(settings.http.api_keys.is_empty());
        assert_eq!(settings.integration_log.stale_after, TimeDelta::minutes(30));
        assert_eq!(
            settings.integration_log.page_refresh,
            Some(Duration::from_secs(60))
        );
        assert_eq!(settings.cache.ttl, Duration::from_secs(5));
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.http.shutdown_timeout, Duration::from_secs(10));
        assert!(settings.http.tls.is_none());
    }

    #[test]
    fn trusted_origins_are_comma_separated_in_the_environment() {
        let settings = load(&[(
            "QOE_HTTP__CORS_TRUSTED_ORIGINS",
            "https://cqd.example.org, http://10.0.0.5:8080,https://[::1]:8443",
        )])
        .expect("valid");

        assert_eq!(
            settings.http.cors_trusted_origins,
            vec![
                "https://cqd.example.org",
                "http://10.0.0.5:8080",
                "https://[::1]:8443"
            ]
        );
    }

    #[test]
    fn a_single_trusted_origin_is_a_list_of_one() {
        let settings =
            load(&[("QOE_HTTP__CORS_TRUSTED_ORIGINS", "https://cqd.example.org")]).expect("valid");

        assert_eq!(
            settings.http.cors_trusted_origins,
            vec!["https://cqd.example.org"]
        );
    }

    #[test]
    fn an_empty_variable_means_no_trusted_origins() {
        let settings = load(&[("QOE_HTTP__CORS_TRUSTED_ORIGINS", "")]).expect("valid");

        assert!(settings.http.cors_trusted_origins.is_empty());
    }

    #[test]
    fn api_keys_set_but_empty_are_refused_not_taken_as_no_keys() {
        for empty in ["", "  "] {
            let message = error_of(&[("QOE_HTTP__API_KEYS", empty)]);

            assert!(message.contains("http.api_keys"), "{message}");
            assert!(message.contains("QOE_HTTP__API_KEYS"), "{message}");
        }
    }

    #[test]
    fn a_trusted_origin_with_a_password_is_refused_without_echoing_it() {
        let message = error_of(&[(
            "QOE_HTTP__CORS_TRUSTED_ORIGINS",
            "https://cqd.example.org,https://user:s3cr3t-pw@cqd.example.org",
        )]);

        assert!(message.contains("http.cors_trusted_origins"), "{message}");
        assert!(message.contains("entry number 2"), "{message}");
        assert!(!message.contains("s3cr3t-pw"), "{message}");
        assert!(!message.contains("user:"), "{message}");
    }

    #[test]
    fn lists_come_from_the_file_as_toml_arrays() {
        let dir = std::env::temp_dir().join(format!("qoe-lists-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("settings.toml");
        std::fs::write(
            &file,
            "[http]\ncors_trusted_origins = [\"https://CQD.example.org\"]\napi_keys = [\"k-1\", \"k-2\"]\n",
        )
        .expect("write settings");

        let settings = Settings::load_from(
            Some(&file),
            environment(&[("QOE_DATABASE__CONNECTION_STRING", CONNECTION_STRING)]),
        )
        .expect("valid");

        assert_eq!(
            settings.http.cors_trusted_origins,
            vec!["https://cqd.example.org"],
            "lower-cased as browsers send it"
        );
        assert_eq!(settings.http.api_keys.keys().len(), 2);
    }

    #[test]
    fn api_keys_are_comma_separated_and_may_look_like_numbers() {
        let settings = load(&[("QOE_HTTP__API_KEYS", "12345,true")]).expect("valid");

        let keys: Vec<&str> = settings
            .http
            .api_keys
            .keys()
            .iter()
            .map(|key| key.expose_secret())
            .collect();
        assert_eq!(keys, vec!["12345", "true"]);
    }

    #[test]
    fn api_keys_never_appear_in_debug_output() {
        let settings = load(&[("QOE_HTTP__API_KEYS", "Key-0ne,Key-Tw0")]).expect("valid");

        let printed = format!("{settings:?}");

        assert!(!printed.contains("Key-0ne"), "{printed}");
        assert!(!printed.contains("Key-Tw0"), "{printed}");
        assert!(printed.contains("2 keys"), "{printed}");
    }

    #[test]
    fn a_malformed_trusted_origin_is_refused_naming_the_setting() {
        for origin in [
            "cqd.example.org",
            "ftp://cqd.example.org",
            "https://cqd.example.org/",
            "https://cqd.example.org/cqd",
            "https://*.example.org",
            "*",
            "https://cqd.example.org?x=1",
            "https://cqd.example.org#top",
            "https://user@cqd.example.org",
            "https://",
            "https://cqd.example.org:",
            "https://cqd.example.org:0",
            "https://cqd.example.org:99999",
            "https://cqd..example.org",
            "https://[::1",
            "https://cqd.example.org,,https://other.example.org",
        ] {
            let message = error_of(&[("QOE_HTTP__CORS_TRUSTED_ORIGINS", origin)]);
            assert!(
                message.contains("http.cors_trusted_origins"),
                "{origin} gave `{message}`"
            );
        }
    }

    #[test]
    fn environment_variables_override_defaults() {
        let settings = load(&[
            ("QOE_HTTP__LISTEN", "0.0.0.0:9000"),
            ("QOE_INTEGRATION_LOG__ENABLED", "true"),
            ("QOE_INTEGRATION_LOG__TIME_ZONE", "Europe/Moscow"),
            ("QOE_DATABASE__POOL_MAX_SIZE", "3"),
            ("QOE_DATABASE__COMMAND_TIMEOUT_MS", "250"),
        ])
        .expect("valid");

        assert_eq!(settings.http.listen, "0.0.0.0:9000".parse().expect("addr"));
        assert!(settings.integration_log.enabled);
        assert_eq!(settings.integration_log.time_zone, Tz::Europe__Moscow);
        assert_eq!(settings.database.pool_max_size, 3);
        assert_eq!(
            settings.database.command_timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("qoe-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("settings.toml");
        std::fs::write(
            &file,
            "[integration_log]\nenabled = true\ntime_zone = \"Asia/Tokyo\"\n",
        )
        .expect("write settings");

        let settings = Settings::load_from(
            Some(&file),
            environment(&[
                ("QOE_DATABASE__CONNECTION_STRING", CONNECTION_STRING),
                ("QOE_INTEGRATION_LOG__TIME_ZONE", "UTC"),
            ]),
        )
        .expect("valid");

        assert!(settings.integration_log.enabled, "from the file");
        assert_eq!(
            settings.integration_log.time_zone,
            Tz::UTC,
            "from the environment"
        );
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("QOE_HTTP__LISTEN", "localhost")], "http.listen"),
            (
                &[("QOE_INTEGRATION_LOG__TIME_ZONE", "Mars/Olympus")],
                "integration_log.time_zone",
            ),
            (
                &[("QOE_INTEGRATION_LOG__ENABLED", "maybe")],
                "integration_log.enabled",
            ),
            (
                &[("QOE_INTEGRATION_LOG__STALE_AFTER_MINUTES", "0")],
                "integration_log.stale_after_minutes",
            ),
            (
                &[("QOE_INTEGRATION_LOG__STALE_AFTER_MINUTES", "half an hour")],
                "integration_log.stale_after_minutes",
            ),
            (
                &[("QOE_INTEGRATION_LOG__STALE_AFTER_MINUTES", "100000")],
                "integration_log.stale_after_minutes",
            ),
            (
                &[("QOE_INTEGRATION_LOG__PAGE_REFRESH_S", "86401")],
                "integration_log.page_refresh_s",
            ),
            (
                &[("QOE_INTEGRATION_LOG__PAGE_REFRESH_S", "a minute")],
                "integration_log.page_refresh_s",
            ),
            (&[("QOE_HTTP__API_KEYS", "good,has space")], "http.api_keys"),
            (&[("QOE_HTTP__API_KEYS", "good,,other")], "http.api_keys"),
            (
                &[("QOE_DATABASE__POOL_MAX_SIZE", "0")],
                "database.pool_max_size",
            ),
            (
                &[("QOE_DATABASE__POOL_MAX_SIZE", "many")],
                "database.pool_max_size",
            ),
            (
                &[("QOE_DATABASE__CONNECT_TIMEOUT_MS", "0")],
                "database.connect_timeout_ms",
            ),
            (
                &[("QOE_DATABASE__COMMAND_TIMEOUT_MS", "-5")],
                "database.command_timeout_ms",
            ),
            (
                &[("QOE_DATABASE__CA_CERTIFICATE_PATH", "/no/such/ca.pem")],
                "database.ca_certificate_path",
            ),
            (
                &[("QOE_DATABASE__CONNECTION_STRING", "")],
                "database.connection_string",
            ),
            (
                &[(
                    "QOE_DATABASE__CONNECTION_STRING",
                    "Server=tcp:db,1433;Encrypt=sometimes",
                )],
                "database.connection_string",
            ),
            (&[("QOE_CACHE__TTL_MS", "-1")], "cache.ttl_ms"),
            (&[("QOE_CACHE__TTL_MS", "3600001")], "cache.ttl_ms"),
            (&[("QOE_LOG__FORMAT", "xml")], "log.format"),
            (
                &[("QOE_HTTP__SHUTDOWN_TIMEOUT_S", "soon")],
                "http.shutdown_timeout_s",
            ),
            (
                &[("QOE_HTTP__TLS__CERT_PATH", "/no/such/cert.pem")],
                "http.tls.key_path",
            ),
            (
                &[("QOE_HTTP__TLS__KEY_PATH", "/no/such/key.pem")],
                "http.tls.cert_path",
            ),
            (
                &[
                    ("QOE_HTTP__TLS__CERT_PATH", "/no/such/cert.pem"),
                    ("QOE_HTTP__TLS__KEY_PATH", "/no/such/key.pem"),
                ],
                "http.tls.cert_path",
            ),
        ];
        for (pairs, setting) in cases {
            let message = error_of(pairs);
            assert!(
                message.contains(setting),
                "{pairs:?} gave `{message}`, which does not name {setting}"
            );
        }
    }

    #[test]
    fn a_zero_ttl_turns_the_cache_off_and_json_logs_can_be_chosen() {
        let settings =
            load(&[("QOE_CACHE__TTL_MS", "0"), ("QOE_LOG__FORMAT", "json")]).expect("valid");

        assert_eq!(settings.cache.ttl, Duration::ZERO);
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn application_intent_read_only_reaches_the_driver() {
        let settings = load(&[(
            "QOE_DATABASE__CONNECTION_STRING",
            &format!("{CONNECTION_STRING};ApplicationIntent=ReadOnly"),
        )])
        .expect("valid");

        let config = settings.database.tiberius_config();

        // tiberius has no getter for the intent; its Debug shows the field it sends in LOGIN7.
        assert!(
            format!("{config:?}").contains("readonly: true"),
            "ApplicationIntent=ReadOnly was not passed to tiberius"
        );
    }

    #[test]
    fn a_malformed_trusted_connection_stops_the_settings_naming_the_key() {
        let message = error_of(&[(
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=h,1;Trusted_Connection=maybe",
        )]);

        assert!(message.contains("database.connection_string"), "{message}");
        assert!(message.contains("`Trusted_Connection`"), "{message}");
    }

    #[test]
    fn integrated_security_with_a_user_but_no_password_stops_the_settings() {
        let message = error_of(&[(
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=h,1;Integrated Security=SSPI;User Id=CORP\\svc",
        )]);

        assert!(message.contains("needs a Password"), "{message}");
    }

    #[test]
    fn connect_timeout_in_the_connection_string_applies_unless_the_setting_is_given() {
        let with_key = format!("{CONNECTION_STRING};Connect Timeout=30");
        let from_string = load(&[("QOE_DATABASE__CONNECTION_STRING", &with_key)]).expect("valid");
        let from_setting = load(&[
            ("QOE_DATABASE__CONNECTION_STRING", &with_key),
            ("QOE_DATABASE__CONNECT_TIMEOUT_MS", "1500"),
        ])
        .expect("valid");

        assert_eq!(
            from_string.database.connect_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            from_string
                .database
                .tiberius_config()
                .get_handshake_timeout(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            from_setting.database.connect_timeout,
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn the_ca_file_setting_reaches_the_driver_and_excludes_the_connection_strings_own() {
        let certificates =
            testkit::TestCertificates::generate(&["localhost"]).expect("test certificates");
        let dir = std::env::temp_dir().join(format!("qoe-ca-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, certificates.ca_pem.as_bytes()).expect("write");
        let ca = ca.to_string_lossy().into_owned();

        let settings = load(&[("QOE_DATABASE__CA_CERTIFICATE_PATH", &ca)]).expect("valid");
        let config = format!("{:?}", settings.database.tiberius_config());
        // As `Debug` writes it: quoted, a Windows path's `\` doubled.
        assert!(config.contains(&format!("{ca:?}")), "{config}");

        for key in [
            "TrustServerCertificate=true",
            "TrustServerCertificateCA=/etc/ca.pem",
        ] {
            let message = error_of(&[
                ("QOE_DATABASE__CA_CERTIFICATE_PATH", &ca),
                (
                    "QOE_DATABASE__CONNECTION_STRING",
                    &format!("Server=h,1;User Id=u;Password=p;{key}"),
                ),
            ]);
            assert!(
                message.contains("database.ca_certificate_path"),
                "{key}: {message}"
            );
            assert!(message.contains("keep one of them"), "{key}: {message}");
        }
    }

    #[test]
    fn a_missing_connection_string_is_named() {
        let message = match Settings::load_from(None, HashMap::new()) {
            Ok(_) => panic!("accepted without a connection string"),
            Err(e) => e.to_string(),
        };

        assert!(message.contains("database.connection_string"), "{message}");
    }

    #[test]
    fn the_password_never_appears_in_debug_output() {
        let settings = load(&[]).expect("valid");

        let printed = format!("{settings:?} {:?}", settings.database);

        assert!(!printed.contains("S3cret-Pa55"), "{printed}");
    }

    #[test]
    fn the_password_never_appears_in_a_connection_string_error() {
        let message = error_of(&[(
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:db,1433;Password=S3cret-Pa55;Encrypt=S3cret-Pa55",
        )]);

        assert!(!message.contains("S3cret-Pa55"), "{message}");
    }

    #[test]
    fn the_connection_string_reaches_the_driver_with_our_timeouts() {
        let settings = load(&[("QOE_DATABASE__CONNECT_TIMEOUT_MS", "1500")]).expect("valid");

        let config = settings.database.tiberius_config();

        assert_eq!(config.get_addr(), "db.example.org:1433");
        assert_eq!(
            config.get_handshake_timeout(),
            Some(Duration::from_millis(1500))
        );
        // The store enforces database.command_timeout_ms itself, on tokio's timer.
        assert_eq!(config.get_command_timeout(), None);
    }
}
