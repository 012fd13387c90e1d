//! Every setting, declared once: its key is the field's path, its default and bounds are its
//! type's (`values.rs`). The key list, the defaults (`Settings::defaults`), the environment
//! names, the example file's and the README's checks are all read off this tree; `load.rs`
//! turns it into the validated [`Settings`](super::Settings).
//!
//! A new setting is a field here with a type that carries its default and bounds, a line in
//! `deploy/qoe.example.toml` and a row in the README's Configuration table (tests ask for both).
//! A renamed setting keeps its old name in [`ALIASES`].
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

use super::values::{step_name, Bounded, JobName, Listen, LogFormat, SourceKind, TimeZone};

/// Old names of renamed settings, `(old, new)`, kept for at least one minor version; each use
/// logs a WARN naming the new name. Applied to file keys and `QOE_…` variables alike.
pub const ALIASES: &[(&str, &str)] = &[];

/// A timeout of one step of a read: 1 ms to 10 minutes.
pub type CommandTimeoutMs = Bounded<1, 600_000, 10_000>;
/// `database.connect_timeout_ms`, and `Connect Timeout` in the connection string (seconds).
pub type ConnectTimeoutMs = Bounded<1, 600_000, 5_000>;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Declared {
    pub database: Database,
    pub http: Http,
    pub integration_log: IntegrationLog,
    pub cache: Cache,
    pub log: Log,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Database {
    #[serde(serialize_with = "redacted")]
    pub connection_string: Option<SecretString>,
    pub ca_certificate_path: Option<PathBuf>,
    pub pool_max_size: Bounded<1, 1000, 10>,
    /// Unset: `Connect Timeout` in the connection string, else the type's default (the default
    /// shown).
    #[serde(serialize_with = "or_default")]
    pub connect_timeout_ms: Option<ConnectTimeoutMs>,
    pub command_timeout_ms: CommandTimeoutMs,
    pub request_timeout_ms: CommandTimeoutMs,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Http {
    pub listen: Listen,
    pub cors_trusted_origins: Vec<String>,
    /// Unset: no keys (open). Set, even to an empty list: those keys.
    #[serde(serialize_with = "redacted_keys")]
    pub api_keys: Option<Vec<SecretString>>,
    /// With keys: Status and the status page answer without one.
    pub public_status: bool,
    pub shutdown_timeout_s: Bounded<0, 3600, 10>,
    pub tls: Tls,
    pub max_request_head_bytes: Bounded<1024, { 1024 * 1024 }, 16_384>,
    pub max_connections: Bounded<1, 100_000, 2048>,
    pub client_request_timeout_ms: Bounded<100, 60_000, 5000>,
    pub keep_alive_s: Bounded<0, 3600, 5>,
    pub client_write_timeout_ms: Bounded<100, 60_000, 5000>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tls {
    pub cert_path: Option<PathBuf>,
    pub key_path: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntegrationLog {
    pub enabled: bool,
    pub time_zone: TimeZone,
    /// A week at most: longer than any sensible alarm threshold for a 15-minute job.
    pub stale_after_minutes: Bounded<1, { 7 * 24 * 60 }, 30>,
    /// A day at most; `0`: never.
    pub page_refresh_s: Bounded<0, { 24 * 60 * 60 }, 60>,
    pub source: SourceKind,
    pub sql_agent: SqlAgent,
}

step_name!(DataIntegrationStep, "QoE Archive Data");
step_name!(CubeProcessingStep, "Process Cube");

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SqlAgent {
    pub data_integration_step: DataIntegrationStep,
    pub cube_processing_step: CubeProcessingStep,
    pub job_name: Option<JobName>,
    pub server_time_zone: TimeZone,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Cache {
    /// An hour at most; `0`: no cache.
    pub ttl_ms: Bounded<0, 3_600_000, 5000>,
    pub log_max_entries: Bounded<1, 100_000, 256>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Log {
    pub format: LogFormat,
}

/// Settings whose value is a list: a TOML array, or comma-separated in one variable.
pub const LIST_SETTINGS: [&str; 2] = ["http.cors_trusted_origins", "http.api_keys"];

fn or_default<S: Serializer>(
    value: &Option<ConnectTimeoutMs>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.unwrap_or_default().serialize(serializer)
}

fn redacted<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    value.as_ref().map(|_| "(redacted)").serialize(serializer)
}

fn redacted_keys<S: Serializer>(
    keys: &Option<Vec<SecretString>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    keys.as_ref()
        .map(|keys| vec!["(redacted)"; keys.len()])
        .serialize(serializer)
}

/// Every setting as `(key, default)`, `default` in TOML (`10`, `"UTC"`), `None` for a setting
/// without one; in declaration order.
pub fn settings_with_defaults() -> Vec<(String, Option<String>)> {
    let tree = serde_json::to_value(Declared::default()).unwrap_or_default();
    let mut settings = Vec::new();
    walk(&tree, String::new(), &mut settings);
    settings
}

fn walk(value: &serde_json::Value, key: String, settings: &mut Vec<(String, Option<String>)>) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            for (field, value) in fields {
                let child = if key.is_empty() {
                    field.clone()
                } else {
                    format!("{key}.{field}")
                };
                walk(value, child, settings);
            }
        }
        Value::Null => settings.push((key, None)),
        Value::Array(entries) if entries.is_empty() => settings.push((key, None)),
        other => settings.push((key, Some(other.to_string()))),
    }
}

/// Every section, by its key path (`http.tls`).
pub fn sections() -> Vec<String> {
    let mut sections: Vec<String> = settings_with_defaults()
        .into_iter()
        .flat_map(|(key, _)| {
            let parts: Vec<&str> = key.split('.').collect();
            (1..parts.len())
                .map(|end| parts[..end].join("."))
                .collect::<Vec<_>>()
        })
        .collect();
    sections.sort();
    sections.dedup();
    sections
}

/// The environment variable that sets `key`: `http.api_keys` → `QOE_HTTP__API_KEYS`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}_{}", key.replace('.', "__")).to_ascii_uppercase()
}

/// Prefix of the environment variables that override settings: `QOE_DATABASE__POOL_MAX_SIZE`.
pub const ENV_PREFIX: &str = "QOE";

/// Setting keys that code outside the settings names (in messages and advice), each checked
/// against the declaration by a test.
pub mod key {
    pub const CONNECTION_STRING: &str = "database.connection_string";
    pub const CA_CERTIFICATE_PATH: &str = "database.ca_certificate_path";
    pub const LISTEN: &str = "http.listen";
    pub const API_KEYS: &str = "http.api_keys";
    pub const CORS_TRUSTED_ORIGINS: &str = "http.cors_trusted_origins";
    pub const TLS_CERT_PATH: &str = "http.tls.cert_path";
    pub const TLS_KEY_PATH: &str = "http.tls.key_path";
    pub const ENABLED: &str = "integration_log.enabled";
    pub const TIME_ZONE: &str = "integration_log.time_zone";
    pub const SOURCE: &str = "integration_log.source";
    pub const DATA_INTEGRATION_STEP: &str = "integration_log.sql_agent.data_integration_step";
    pub const CUBE_PROCESSING_STEP: &str = "integration_log.sql_agent.cube_processing_step";
    pub const SERVER_TIME_ZONE: &str = "integration_log.sql_agent.server_time_zone";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        settings_with_defaults()
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    #[test]
    fn every_key_named_outside_the_settings_is_declared() {
        let keys = keys();
        for named in [
            key::CONNECTION_STRING,
            key::CA_CERTIFICATE_PATH,
            key::LISTEN,
            key::API_KEYS,
            key::CORS_TRUSTED_ORIGINS,
            key::TLS_CERT_PATH,
            key::TLS_KEY_PATH,
            key::ENABLED,
            key::TIME_ZONE,
            key::SOURCE,
            key::DATA_INTEGRATION_STEP,
            key::CUBE_PROCESSING_STEP,
            key::SERVER_TIME_ZONE,
        ]
        .iter()
        .chain(&LIST_SETTINGS)
        {
            assert!(keys.iter().any(|k| k == named), "{named} is not declared");
        }
    }

    #[test]
    fn each_default_is_read_off_its_type() {
        let defaults = settings_with_defaults();
        let default_of = |wanted: &str| {
            defaults
                .iter()
                .find(|(key, _)| key == wanted)
                .unwrap_or_else(|| panic!("{wanted} is not declared"))
                .1
                .clone()
        };

        assert_eq!(default_of("database.pool_max_size").as_deref(), Some("10"));
        assert_eq!(
            default_of("http.listen").as_deref(),
            Some("\"127.0.0.1:8080\"")
        );
        assert_eq!(
            default_of("integration_log.enabled").as_deref(),
            Some("false")
        );
        assert_eq!(default_of("log.format").as_deref(), Some("\"text\""));
        assert_eq!(default_of("database.connection_string"), None);
        assert_eq!(default_of("http.api_keys"), None);
        assert_eq!(default_of("http.tls.cert_path"), None);
    }

    #[test]
    fn sections_hold_settings_and_are_no_setting_themselves() {
        assert_eq!(
            sections(),
            [
                "cache",
                "database",
                "http",
                "http.tls",
                "integration_log",
                "integration_log.sql_agent",
                "log"
            ]
        );
    }

    #[test]
    fn an_environment_name_is_the_key_in_capitals_with_sections_joined_by_two_underscores() {
        assert_eq!(env_name("http.api_keys"), "QOE_HTTP__API_KEYS");
        assert_eq!(
            env_name("integration_log.sql_agent.server_time_zone"),
            "QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE"
        );
    }
}
