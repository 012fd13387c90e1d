use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Prefix of the environment variables that override settings: `QOE_DATABASE__POOL_MAX_SIZE`.
pub const ENV_PREFIX: &str = "QOE";

/// Everything the service can be told, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub integration_log: IntegrationLogSettings,
    pub cache: CacheSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The ADO.NET connection string, as admins already have it. Holds the password.
    pub connection_string: SecretString,
    /// A PEM or DER file with the CA that signed SQL Server's certificate.
    pub ca_certificate_path: Option<PathBuf>,
    pub pool_max_size: u32,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// How long a stopping server lets in-flight requests finish.
    pub shutdown_timeout: Duration,
    /// Serve HTTPS (and HTTP/2) with this certificate; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the request's span fields.
    Json,
}

#[derive(Debug, Clone)]
pub struct IntegrationLogSettings {
    pub enabled: bool,
    pub time_zone: Tz,
}

/// A setting that is missing or wrong; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid setting `{setting}`: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
    #[error("invalid settings: {0}")]
    Source(String),
}

impl From<config::ConfigError> for SettingsError {
    fn from(error: config::ConfigError) -> Self {
        SettingsError::Source(error.to_string())
    }
}

pub(crate) fn invalid(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        problem: problem.into(),
    }
}

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
    connect_timeout_ms: u64,
    command_timeout_ms: u64,
}

#[derive(Deserialize)]
struct RawHttp {
    listen: String,
    shutdown_timeout_s: u64,
    #[serde(default)]
    tls: RawTls,
}

#[derive(Deserialize, Default)]
struct RawTls {
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawCache {
    ttl_ms: u64,
}

#[derive(Deserialize)]
struct RawLog {
    format: String,
}

#[derive(Deserialize)]
struct RawIntegrationLog {
    enabled: bool,
    time_zone: String,
}

const DEFAULTS: &str = r#"
[database]
pool_max_size = 10
connect_timeout_ms = 5000
command_timeout_ms = 10000

[http]
listen = "127.0.0.1:8080"
shutdown_timeout_s = 10

[integration_log]
enabled = false
time_zone = "UTC"

[cache]
ttl_ms = 5000

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
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        let raw: RawSettings = builder
            .add_source(
                Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("_")
                    .separator("__")
                    .source(Some(environment)),
            )
            .build()?
            .try_deserialize()?;
        raw.validate()
    }
}

impl RawSettings {
    fn validate(self) -> Result<Settings, SettingsError> {
        Ok(Settings {
            database: self.database.validate()?,
            http: self.http.validate()?,
            integration_log: IntegrationLogSettings {
                enabled: self.integration_log.enabled,
                time_zone: self.integration_log.time_zone.parse().map_err(|_| {
                    invalid(
                        "integration_log.time_zone",
                        format!(
                            "`{}` is not an IANA time zone name such as UTC or Europe/Moscow",
                            self.integration_log.time_zone
                        ),
                    )
                })?,
            },
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
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_s),
            tls: self.tls.validate()?,
        })
    }
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
                     e.g. Server=tcp:sql.example.org,1433;Database=QoEArchive;User Id=qoe_reader;Password=…",
                )
            })?;
        if !(1..=1000).contains(&self.pool_max_size) {
            return Err(invalid(
                "database.pool_max_size",
                "must be between 1 and 1000",
            ));
        }
        let connect_timeout = timeout("database.connect_timeout_ms", self.connect_timeout_ms)?;
        let command_timeout = timeout("database.command_timeout_ms", self.command_timeout_ms)?;
        if let Some(path) = &self.ca_certificate_path {
            std::fs::metadata(path).map_err(|e| {
                invalid(
                    "database.ca_certificate_path",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
        }
        let settings = DatabaseSettings {
            connection_string,
            ca_certificate_path: self.ca_certificate_path,
            pool_max_size: self.pool_max_size,
            connect_timeout,
            command_timeout,
        };
        settings.tiberius_config()?;
        Ok(settings)
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

impl DatabaseSettings {
    /// The one place the password is exposed: building the driver's configuration.
    pub fn tiberius_config(&self) -> Result<tiberius::Config, SettingsError> {
        let text = self.connection_string.expose_secret();
        let mut config = tiberius::Config::from_ado_string(text).map_err(|e| {
            invalid(
                "database.connection_string",
                format!(
                    "not a valid ADO.NET connection string: {}",
                    redact_password(&e.to_string(), text)
                ),
            )
        })?;
        if let Some(ca) = &self.ca_certificate_path {
            if ado_flag(text, "trustservercertificate")
                || ado_value(text, "trustservercertificateca").is_some()
            {
                return Err(invalid(
                    "database.ca_certificate_path",
                    "cannot be combined with TrustServerCertificate or TrustServerCertificateCA \
                     in database.connection_string; keep one of them",
                ));
            }
            config.trust_cert_ca(ca.display());
        }
        config.handshake_timeout(Some(self.connect_timeout));
        config.command_timeout(Some(self.command_timeout));
        if ado_value(text, "application name").is_none()
            && ado_value(text, "applicationname").is_none()
        {
            config.application_name(env!("CARGO_PKG_NAME"));
        }
        Ok(config)
    }
}

/// The value of `key` (lower case) in an ADO.NET connection string, unquoted values only.
fn ado_value<'a>(connection_string: &'a str, key: &str) -> Option<&'a str> {
    connection_string.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case(key).then(|| value.trim())
    })
}

fn ado_flag(connection_string: &str, key: &str) -> bool {
    matches!(
        ado_value(connection_string, key)
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("true" | "yes")
    )
}

/// Driver messages are not known to echo values, but a password must never reach a log.
fn redact_password(message: &str, connection_string: &str) -> String {
    ["password", "pwd"]
        .into_iter()
        .filter_map(|key| ado_value(connection_string, key))
        .filter(|password| !password.is_empty())
        .fold(message.to_owned(), |message, password| {
            message.replace(password, "***")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTION_STRING: &str = "Server=tcp:db.example.org,1433;Database=QoEArchive;User Id=qoe_reader;Password=S3cret-Pa55;Encrypt=true;TrustServerCertificate=false";

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

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match load(pairs) {
            Ok(_) => panic!("settings {pairs:?} were accepted"),
            Err(e) => e.to_string(),
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
        assert_eq!(settings.cache.ttl, Duration::from_secs(5));
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.http.shutdown_timeout, Duration::from_secs(10));
        assert!(settings.http.tls.is_none());
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

        let config = settings.database.tiberius_config().expect("driver config");

        // tiberius has no getter for the intent; its Debug shows the field it sends in LOGIN7.
        assert!(
            format!("{config:?}").contains("readonly: true"),
            "ApplicationIntent=ReadOnly was not passed to tiberius"
        );
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

        let config = settings.database.tiberius_config().expect("driver config");

        assert_eq!(config.get_addr(), "db.example.org:1433");
        assert_eq!(
            config.get_handshake_timeout(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(config.get_command_timeout(), Some(Duration::from_secs(10)));
    }
}
