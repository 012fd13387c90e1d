//! Loading: the declared defaults, then the TOML file, then the `QOE_…` environment, merged;
//! old names of renamed settings moved to the new ones; list variables split on commas;
//! unknown settings named with a "did you mean"; every value checked by its type
//! ([`declared`](super::declared)) and the whole validated into the [`types`](super::types).
use std::collections::HashMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat, ValueKind};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::connection::ConnectionString;
use super::declared::{
    self, env_name, key, ConnectTimeoutMs, Declared, ALIASES, ENV_PREFIX, LIST_SETTINGS,
};
use super::errors::{invalid, shown, SettingsError};
use super::types::{
    ApiKeys, CacheSettings, DatabaseSettings, HttpSettings, IntegrationLogSettings, LogSettings,
    LogSource, Settings, SqlAgentSettings, TlsSettings,
};
use super::values::SourceKind;

/// A renamed setting: `(old, new)` key paths.
type Alias = (&'static str, &'static str);

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
        load_with_aliases(file, environment, ALIASES)
    }

    /// The defaults, reading the database at `connection_string` and listening on a free port
    /// of 127.0.0.1: what tests start from before setting the fields they care about.
    pub fn for_tests(connection_string: &str) -> Result<Self, SettingsError> {
        let mut declared = Declared::default();
        declared.database.connection_string = Some(connection_string.into());
        declared.http.listen.0 = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        declared.validate(Vec::new())
    }

    /// Every setting by its key path (`http.tls.cert_path`), sections left out: what an
    /// example configuration has to show.
    pub fn known_settings() -> Vec<String> {
        Self::defaults().into_iter().map(|(key, _)| key).collect()
    }

    /// Every setting with its default as TOML (`10`, `"UTC"`), `None` when it has none: read off
    /// the declaration, for the example file's and the README's checks.
    pub fn defaults() -> Vec<(String, Option<String>)> {
        declared::settings_with_defaults()
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
        struct HttpOnly {
            #[serde(default)]
            http: declared::Http,
        }
        let merged = merged(file, environment, ALIASES)?;
        let secrets = api_keys_in(&merged.value);
        let http: HttpOnly = merged
            .value
            .try_deserialize()
            .map_err(|e| SettingsError::from(e).hiding(&secrets))?;
        http.http.validate().map_err(|e| e.hiding(&secrets))
    }
}

fn load_with_aliases(
    file: Option<&Path>,
    environment: HashMap<String, String>,
    aliases: &[Alias],
) -> Result<Settings, SettingsError> {
    let merged = merged(file, environment, aliases)?;
    let secrets = api_keys_in(&merged.value);
    let mut unknown = Vec::new();
    let declared = serde_ignored::deserialize(merged.value, |path| unknown.push(path.to_string()));
    if !unknown.is_empty() {
        let mut known = Settings::known_settings();
        known.extend(declared::sections());
        return Err(SettingsError::Unknown(
            unknown
                .iter()
                .map(|key| unknown_setting(key, &known, file, &merged.environment))
                .collect(),
        ));
    }
    let declared: Declared = declared.map_err(|e| SettingsError::from(e).hiding(&secrets))?;
    declared
        .validate(merged.warnings)
        .map_err(|e| e.hiding(&secrets))
}

/// The file and the environment merged, before any value is checked.
struct Merged {
    value: config::Value,
    /// The environment without the list variables (to name the variable an unknown key came
    /// from).
    environment: HashMap<String, String>,
    /// One line for each old name of a renamed setting that was used.
    warnings: Vec<String>,
}

/// The file, then the `QOE_…` variables, merged over nothing: a setting that neither gives
/// takes its type's default when deserialized.
fn merged(
    file: Option<&Path>,
    environment: HashMap<String, String>,
    aliases: &[Alias],
) -> Result<Merged, SettingsError> {
    let mut warnings = Vec::new();
    let environment = rename_aliased_variables(environment, aliases, &mut warnings);
    let mut builder = Config::builder();
    if let Some(path) = file {
        let text = super::errors::read_toml(path)?;
        builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
    }
    let (lists, environment) = split_list_variables(environment);
    for (setting, entries) in lists {
        builder = builder.set_override(setting, entries)?;
    }
    let mut value: config::Value = builder
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .source(Some(environment.clone())),
        )
        .build()?
        .try_deserialize()?;
    rename_aliased_keys(&mut value, aliases, &mut warnings);
    Ok(Merged {
        value,
        environment,
        warnings,
    })
}

/// `QOE_OLD…` variables of renamed settings become `QOE_NEW…`; a variable of the new name wins.
fn rename_aliased_variables(
    mut environment: HashMap<String, String>,
    aliases: &[Alias],
    warnings: &mut Vec<String>,
) -> HashMap<String, String> {
    for &(old, new) in aliases {
        let (old_name, new_name) = (env_name(old), env_name(new));
        let mut names: Vec<String> = environment
            .keys()
            .filter(|name| {
                let name = name.to_ascii_uppercase();
                name == old_name || name.starts_with(&format!("{old_name}__"))
            })
            .cloned()
            .collect();
        names.sort();
        for name in names {
            let Some(value) = environment.remove(&name) else {
                continue;
            };
            let renamed = format!("{new_name}{}", &name[old_name.len()..]).to_ascii_uppercase();
            let taken = environment
                .keys()
                .any(|other| other.eq_ignore_ascii_case(&renamed));
            warnings.push(if taken {
                format!(
                    "variable {name} is the old name of {renamed}, which is also set: {name} is \
                     ignored; remove it"
                )
            } else {
                format!(
                    "variable {name} is the old name of setting `{new}`: rename it {renamed}; the \
                     old name will stop working in a later version"
                )
            });
            if !taken {
                environment.insert(renamed, value);
            }
        }
    }
    environment
}

/// Old keys of renamed settings (left by the file) move to the new keys; a new key wins.
fn rename_aliased_keys(value: &mut config::Value, aliases: &[Alias], warnings: &mut Vec<String>) {
    for &(old, new) in aliases {
        let Some(moved) = take_at(value, old) else {
            continue;
        };
        if get_at(value, new).is_some() {
            warnings.push(format!(
                "settings file: `{old}` is the old name of `{new}`, which is also set: `{old}` \
                 is ignored; remove it"
            ));
        } else {
            warnings.push(format!(
                "settings file: `{old}` is the old name of setting `{new}`: rename it; the old \
                 name will stop working in a later version"
            ));
            put_at(value, new, moved);
        }
    }
}

fn table_at<'v>(
    value: &'v mut config::Value,
    path: &[&str],
) -> Option<&'v mut config::Map<String, config::Value>> {
    let mut table = match &mut value.kind {
        ValueKind::Table(table) => table,
        _ => return None,
    };
    for part in path {
        table = match &mut table.get_mut(*part)?.kind {
            ValueKind::Table(inner) => inner,
            _ => return None,
        };
    }
    Some(table)
}

fn take_at(value: &mut config::Value, key: &str) -> Option<config::Value> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, path) = parts.split_last()?;
    table_at(value, path)?.remove(*last)
}

fn get_at(value: &config::Value, key: &str) -> Option<config::Value> {
    let mut copy = value.clone();
    take_at(&mut copy, key)
}

fn put_at(value: &mut config::Value, key: &str, moved: config::Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, path)) = parts.split_last() else {
        return;
    };
    let mut table = match &mut value.kind {
        ValueKind::Table(table) => table,
        _ => return,
    };
    for part in path {
        let entry = table
            .entry((*part).to_owned())
            .or_insert_with(|| config::Value::new(None, ValueKind::Table(config::Map::new())));
        table = match &mut entry.kind {
            ValueKind::Table(inner) => inner,
            _ => return,
        };
    }
    table.insert((*last).to_owned(), moved);
}

/// The API keys as given, whatever else is wrong: no error may quote them.
fn api_keys_in(value: &config::Value) -> Vec<String> {
    let Some(keys) = get_at(value, key::API_KEYS) else {
        return Vec::new();
    };
    match keys.kind {
        ValueKind::Array(keys) => keys
            .into_iter()
            .filter_map(|key| key.into_string().ok())
            .collect(),
        _ => keys.into_string().into_iter().collect(),
    }
}

/// "unknown setting `http.api_key` (variable QOE_HTTP__API_KEY); did you mean `http.api_keys`?"
fn unknown_setting(
    key: &str,
    known: &[String],
    file: Option<&Path>,
    environment: &HashMap<String, String>,
) -> String {
    let variable = env_name(key);
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
    format!("unknown setting {} ({origin}){hint}", shown(key))
}

/// A list setting's name and its entries, as read from one environment variable.
type ListSetting = (&'static str, Vec<String>);

/// Takes `QOE_HTTP__CORS_TRUSTED_ORIGINS` and `QOE_HTTP__API_KEYS` out of the environment,
/// split on commas. Not `config`'s own list parsing: that only runs with `try_parsing`, which
/// would turn a key such as `12345` into a number and every other setting's text with it.
/// An empty variable is an empty list; spaces around entries are dropped.
fn split_list_variables(
    mut environment: HashMap<String, String>,
) -> (Vec<ListSetting>, HashMap<String, String>) {
    let mut lists = Vec::new();
    for setting in LIST_SETTINGS {
        let variable = env_name(setting);
        let Some(name) = environment
            .keys()
            .find(|name| name.eq_ignore_ascii_case(&variable))
            .cloned()
        else {
            continue;
        };
        let value = environment.remove(&name).unwrap_or_default();
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
    (lists, environment)
}

impl Declared {
    fn validate(self, warnings: Vec<String>) -> Result<Settings, SettingsError> {
        Ok(Settings {
            database: self.database.validate()?,
            http: self.http.validate()?,
            integration_log: self.integration_log.validate()?,
            cache: CacheSettings {
                ttl: self.cache.ttl_ms.millis(),
                log_max_entries: self.cache.log_max_entries.get() as usize,
            },
            log: LogSettings {
                format: self.log.format,
            },
            warnings,
        })
    }
}

impl declared::Http {
    fn validate(self) -> Result<HttpSettings, SettingsError> {
        Ok(HttpSettings {
            listen: self.listen.0,
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
                            shown(origin)
                        };
                        invalid(
                            key::CORS_TRUSTED_ORIGINS,
                            format!(
                                "{entry} {problem}; give scheme, host and optional port \
                                 only, e.g. https://cqd.example.org or http://10.0.0.5:8080"
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            api_keys: match self.api_keys {
                None => ApiKeys::default(),
                Some(keys) if keys.is_empty() => {
                    return Err(invalid(
                        key::API_KEYS,
                        format!(
                            "is set but empty (`api_keys = []`, or {} set to nothing); remove \
                             it to serve without API keys, or give the keys",
                            env_name(key::API_KEYS)
                        ),
                    ))
                }
                Some(keys) => ApiKeys::new(keys)?,
            },
            public_status: self.public_status,
            shutdown_timeout: self.shutdown_timeout_s.seconds(),
            tls: self.tls.validate()?,
            max_request_head_bytes: self.max_request_head_bytes.get() as usize,
            max_connections: self.max_connections.get() as usize,
            client_request_timeout: self.client_request_timeout_ms.millis(),
            keep_alive: self.keep_alive_s.seconds(),
            client_write_timeout: self.client_write_timeout_ms.millis(),
        })
    }
}

impl declared::IntegrationLog {
    fn validate(self) -> Result<IntegrationLogSettings, SettingsError> {
        let agent = self.sql_agent;
        let source = match self.source {
            SourceKind::Table => LogSource::Table,
            SourceKind::SqlAgent => LogSource::SqlAgent(SqlAgentSettings {
                data_integration_step: agent.data_integration_step.0,
                cube_processing_step: agent.cube_processing_step.0,
                job_name: agent.job_name.and_then(|name| name.get()),
                server_time_zone: agent.server_time_zone.0,
            }),
        };
        Ok(IntegrationLogSettings {
            enabled: self.enabled,
            time_zone: self.time_zone.0,
            stale_after: chrono::TimeDelta::minutes(self.stale_after_minutes.get() as i64),
            page_refresh: (self.page_refresh_s.get() > 0).then(|| self.page_refresh_s.seconds()),
            source,
        })
    }
}

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

impl declared::Tls {
    fn validate(self) -> Result<Option<TlsSettings>, SettingsError> {
        let readable = |setting: &'static str, path: std::path::PathBuf| {
            std::fs::File::open(&path)
                .map(|_| path.clone())
                .map_err(|e| invalid(setting, format!("cannot read {}: {e}", path.display())))
        };
        let both = format!(
            "not set; HTTPS needs both {} and {}",
            key::TLS_CERT_PATH,
            key::TLS_KEY_PATH
        );
        match (self.cert_path, self.key_path) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsSettings {
                cert_path: readable(key::TLS_CERT_PATH, cert)?,
                key_path: readable(key::TLS_KEY_PATH, key)?,
            })),
            (Some(_), None) => Err(invalid(key::TLS_KEY_PATH, both)),
            (None, Some(_)) => Err(invalid(key::TLS_CERT_PATH, both)),
        }
    }
}

impl declared::Database {
    fn validate(self) -> Result<DatabaseSettings, SettingsError> {
        let connection_string = self
            .connection_string
            .filter(|text| !text.expose_secret().trim().is_empty())
            .ok_or_else(|| {
                invalid(
                    key::CONNECTION_STRING,
                    "not set; give the ADO.NET connection string of the QoE archive database, \
                     e.g. Server=tcp:sql.example.org,1433;Database=QoEArchive;User Id=qoe_service;Password=…",
                )
            })?;
        let connection_string = ConnectionString::parse(&connection_string)?;
        let connect_timeout = match self.connect_timeout_ms {
            Some(millis) => millis.millis(),
            None => connection_string
                .connect_timeout
                .unwrap_or_else(|| ConnectTimeoutMs::default().millis()),
        };
        if let Some(path) = &self.ca_certificate_path {
            super::database::check_ca_certificate(path)?;
            let tls = &connection_string.tls;
            if tls.trust_server_certificate || tls.ca_certificate.is_some() {
                return Err(invalid(
                    key::CA_CERTIFICATE_PATH,
                    format!(
                        "cannot be combined with TrustServerCertificate or \
                         TrustServerCertificateCA in {}; keep one of them",
                        key::CONNECTION_STRING
                    ),
                ));
            }
        }
        if let Some(path) = &connection_string.tls.ca_certificate {
            super::database::check_connection_string_ca(path)?;
        }
        Ok(DatabaseSettings {
            connection_string,
            ca_certificate_path: self.ca_certificate_path,
            pool_max_size: self.pool_max_size.get() as u32,
            connect_timeout,
            command_timeout: self.command_timeout_ms.millis(),
            request_timeout: self.request_timeout_ms.millis(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;
    use chrono_tz::Tz;

    use super::*;
    use crate::configuration::LogFormat;

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

#[cfg(test)]
mod bounded_file_and_echo_tests {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use super::*;

    const CONNECTION_STRING: &str =
        "Server=tcp:db.example.org,1433;User Id=qoe_service;Password=S3cret-Pa55";

    fn environment(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut environment: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        environment
            .entry("QOE_DATABASE__CONNECTION_STRING".to_owned())
            .or_insert_with(|| CONNECTION_STRING.to_owned());
        environment
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qoe-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn file_with(name: &str, toml: &str) -> PathBuf {
        let file = temp_dir("settings-files").join(name);
        std::fs::write(&file, toml).expect("write settings");
        file
    }

    fn error_of(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
        match Settings::load_from(file, environment(pairs)) {
            Ok(_) => panic!("accepted: {file:?} {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// Refused at once, naming the file and the limit.
    fn assert_refused_promptly(path: &Path) {
        let started = Instant::now();

        let message = error_of(Some(path), &[]);

        assert!(started.elapsed() < Duration::from_secs(1), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("1048576 bytes"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_as_the_settings_file_is_refused_at_once_naming_it_and_the_limit() {
        for device in ["/dev/zero", "/dev/urandom"] {
            assert_refused_promptly(Path::new(device));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_as_the_settings_file_is_refused_without_waiting_for_a_writer() {
        let fifo = temp_dir("settings-fifo").join("qoe.toml");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());

        assert_refused_promptly(&fifo);
    }

    #[test]
    fn a_directory_as_the_settings_file_is_refused_naming_it_and_the_limit() {
        assert_refused_promptly(&temp_dir("settings-directory"));
    }

    #[test]
    fn a_huge_sparse_settings_file_is_refused_without_reading_it() {
        let path = temp_dir("settings-sparse").join("qoe.toml");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(2 * 1024 * 1024 * 1024)
            .expect("a 2 GiB sparse file");

        assert_refused_promptly(&path);
        std::fs::remove_file(&path).expect("clean up");
    }

    #[test]
    fn a_settings_file_just_over_the_limit_is_refused_and_one_at_it_is_read() {
        let comment = format!("#{}\n", "x".repeat(1024 * 1024 - 2));
        assert_eq!(comment.len(), 1024 * 1024);
        let at_limit = file_with("at-limit.toml", &comment);
        let over = file_with("over-limit.toml", &format!("{comment}\n"));

        assert!(Settings::load_from(Some(&at_limit), environment(&[])).is_ok());
        assert_refused_promptly(&over);
    }

    #[test]
    fn an_empty_api_key_list_in_the_file_is_refused_like_the_empty_variable() {
        let file = file_with("empty-keys.toml", "[http]\napi_keys = []\n");

        let message = error_of(Some(&file), &[]);

        assert!(message.contains("http.api_keys"), "{message}");
        assert!(message.contains("empty"), "{message}");
        let without = Settings::load_from(None, environment(&[])).expect("no keys: open");
        assert!(without.http.api_keys.is_empty());
    }

    #[test]
    fn a_long_value_is_named_by_its_length_never_echoed() {
        let huge = "x".repeat(10 * 1024 * 1024);

        let message = error_of(None, &[("QOE_INTEGRATION_LOG__TIME_ZONE", &huge)]);

        assert!(message.contains("integration_log.time_zone"), "{message}");
        assert!(message.contains("10485760 characters"), "{message}");
        assert!(
            message.len() < 400,
            "{} bytes: {message:.400}",
            message.len()
        );
    }

    #[test]
    fn a_long_unknown_key_is_named_by_its_length() {
        let file = file_with(
            "long-key.toml",
            &format!("[http]\n\"{}\" = 1\n", "k".repeat(100_000)),
        );

        let message = error_of(Some(&file), &[]);

        assert!(
            message.contains("unknown setting a value of 100005 characters"),
            "{message:.300}"
        );
        assert!(message.len() < 400, "{message:.300}");
    }

    #[test]
    fn a_short_wrong_value_is_quoted_to_help_the_admin() {
        let message = error_of(None, &[("QOE_INTEGRATION_LOG__TIME_ZONE", "Mars/Olympus")]);

        assert!(message.contains("`Mars/Olympus`"), "{message}");
    }

    #[test]
    fn a_password_pasted_into_a_setting_is_never_echoed() {
        for (variable, value) in [
            ("QOE_INTEGRATION_LOG__TIME_ZONE", "Password=Hunter2-pw"),
            ("QOE_INTEGRATION_LOG__TIME_ZONE", "Server=db;pwd=Hunter2-pw"),
            ("QOE_INTEGRATION_LOG__SOURCE", "PASSWORD=Hunter2-pw"),
            ("QOE_LOG__FORMAT", "Pwd=Hunter2-pw"),
            (
                "QOE_HTTP__CORS_TRUSTED_ORIGINS",
                "Server=db;Password=Hunter2-pw",
            ),
        ] {
            let message = error_of(None, &[(variable, value)]);

            assert!(!message.contains("Hunter2-pw"), "{variable}: {message}");
            assert!(message.contains("password"), "{variable}: {message}");
        }
    }

    #[test]
    fn an_api_key_pasted_into_another_setting_is_never_echoed() {
        for (variable, value) in [
            ("QOE_INTEGRATION_LOG__TIME_ZONE", "K3y-0f-the-api"),
            ("QOE_HTTP__CORS_TRUSTED_ORIGINS", "K3y-0f-the-api"),
            (
                "QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE",
                "K3y-0f-the-api",
            ),
        ] {
            let message = error_of(
                None,
                &[
                    ("QOE_HTTP__API_KEYS", "other,K3y-0f-the-api"),
                    (variable, value),
                ],
            );

            assert!(!message.contains("K3y-0f-the-api"), "{variable}: {message}");
        }
        let file = file_with(
            "key-in-zone.toml",
            "[http]\napi_keys = [\"K3y-0f-the-api\"]\n[integration_log]\ntime_zone = \"K3y-0f-the-api\"\n",
        );
        let message = error_of(Some(&file), &[]);
        assert!(message.contains("integration_log.time_zone"), "{message}");
        assert!(!message.contains("K3y-0f-the-api"), "{message}");
    }

    #[test]
    fn a_key_set_twice_names_the_key_and_the_line_where_it_was_first_set() {
        for (name, toml, again, key, first) in [
            (
                "table-twice.toml",
                "[integration_log]\n# enabled = false\ntime_zone = 'UTC'\n\n[cache]\nttl_ms = 5000\n\n[integration_log]\nenabled = true\n",
                "line 8",
                "`integration_log`",
                "first at line 1",
            ),
            (
                "key-twice.toml",
                "[cache]\nttl_ms = 5000\nlog_max_entries = 10\nttl_ms = 0\n",
                "line 4",
                "`cache.ttl_ms`",
                "first at line 2",
            ),
        ] {
            let message = error_of(Some(&file_with(name, toml)), &[]);

            for expected in [again, key, first] {
                assert!(message.contains(expected), "{name}: {message}");
            }
        }
    }

    const RENAMED: &[Alias] = &[("cache.ttl_millis", "cache.ttl_ms")];

    fn load_renamed(file: Option<&Path>, pairs: &[(&str, &str)]) -> Settings {
        load_with_aliases(file, environment(pairs), RENAMED).expect("valid")
    }

    #[test]
    fn an_old_name_in_the_file_still_works_and_warns_naming_the_new_one() {
        let file = file_with("old-name.toml", "[cache]\nttl_millis = 1234\n");

        let settings = load_renamed(Some(&file), &[]);

        assert_eq!(settings.cache.ttl, Duration::from_millis(1234));
        assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
        assert!(
            settings.warnings[0].contains("`cache.ttl_millis`"),
            "{:?}",
            settings.warnings
        );
        assert!(
            settings.warnings[0].contains("`cache.ttl_ms`"),
            "{:?}",
            settings.warnings
        );
        assert!(
            Settings::load_from(Some(&file), environment(&[])).is_err(),
            "without the alias the old name is unknown"
        );
    }

    #[test]
    fn an_old_variable_name_still_works_and_warns_naming_the_new_one() {
        let settings = load_renamed(None, &[("QOE_CACHE__TTL_MILLIS", "4321")]);

        assert_eq!(settings.cache.ttl, Duration::from_millis(4321));
        assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
        assert!(
            settings.warnings[0].contains("QOE_CACHE__TTL_MS"),
            "{:?}",
            settings.warnings
        );
    }

    #[test]
    fn the_new_name_wins_over_the_old_one_and_the_old_one_is_said_to_be_ignored() {
        let file = file_with("both-names.toml", "[cache]\nttl_millis = 1\nttl_ms = 2\n");

        let from_file = load_renamed(Some(&file), &[]);
        let from_environment = load_renamed(
            None,
            &[("QOE_CACHE__TTL_MILLIS", "1"), ("QOE_CACHE__TTL_MS", "2")],
        );
        let variable_over_file = load_renamed(Some(&file), &[("QOE_CACHE__TTL_MILLIS", "3")]);

        for settings in [&from_file, &from_environment] {
            assert_eq!(settings.cache.ttl, Duration::from_millis(2));
            assert!(
                settings.warnings[0].contains("ignored"),
                "{:?}",
                settings.warnings
            );
        }
        assert_eq!(variable_over_file.cache.ttl, Duration::from_millis(3));
    }

    #[test]
    fn a_bound_is_checked_by_the_type_and_the_error_names_the_setting() {
        let message = error_of(None, &[("QOE_DATABASE__POOL_MAX_SIZE", "1001")]);

        assert_eq!(
            message,
            "invalid setting `database.pool_max_size`: must be a whole number from 1 to 1000"
        );
    }
}
