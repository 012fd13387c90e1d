//! `database.connection_string` read once, at start, into a typed [`ConnectionString`]: where
//! the server is, how to sign in, TLS. Parsed with a real ADO.NET parser (the
//! `connection-string` crate, the one tiberius uses), so quoted values such as
//! `Password={a;b}` or `'…'` are read as ADO.NET reads them. Errors name keys, never values.
//! The driver configuration is built from the typed result (`database.rs`), never from the text.
use std::path::PathBuf;
use std::time::Duration;

use connection_string::AdoNetString;
use secrecy::{ExposeSecret, SecretString};

use super::declared::{key, ConnectTimeoutMs};
use super::errors::{invalid, SettingsError};
use crate::platform::sign_in;

const SETTING: &str = key::CONNECTION_STRING;

/// The connection string, parsed and checked. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct ConnectionString {
    pub server: ServerAddress,
    pub database: Option<String>,
    pub sign_in: SignIn,
    pub tls: TlsOptions,
    /// `ApplicationIntent=ReadOnly`: an availability group may route the login to a replica.
    pub read_only: bool,
    /// `Application Name`, sent in the login (`program_name` in `sys.dm_exec_sessions`).
    pub application_name: Option<String>,
    /// `Workstation ID`, sent in the login as the client's host name.
    pub workstation_id: Option<String>,
    /// `MultiSubnetFailover=True`: try every address of the name at once.
    pub multi_subnet_failover: bool,
    /// `Connect Timeout` (seconds, as ADO.NET reads it); `database.connect_timeout_ms` wins.
    pub connect_timeout: Option<Duration>,
}

/// `Server=[tcp:]host[\instance][,port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub instance: Option<String>,
    pub port: Option<u16>,
}

impl ServerAddress {
    /// The instance to ask SQL Server Browser (UDP 1434) for: an explicit port wins.
    pub fn browser_instance(&self) -> Option<&str> {
        match self.port {
            Some(_) => None,
            None => self.instance.as_deref(),
        }
    }
}

/// How the service signs in to SQL Server.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// `User Id` and `Password` of a SQL Server login.
    SqlLogin {
        user: String,
        password: SecretString,
    },
    /// `Integrated Security` with `User Id` and `Password`: NTLM as that Windows account.
    Windows {
        user: String,
        password: SecretString,
    },
    /// `Integrated Security` alone: the process's own identity (SSPI on Windows, Kerberos on
    /// Linux), only where this build can sign in so.
    Integrated(sign_in::Integrated),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub encrypt: Encrypt,
    /// `TrustServerCertificate=True`: any certificate is accepted.
    pub trust_server_certificate: bool,
    /// `TrustServerCertificateCA`: a CA file to trust besides the system roots.
    pub ca_certificate: Option<PathBuf>,
    /// `HostNameInCertificate`: the name the certificate must carry, if not the host's.
    pub host_name_in_certificate: Option<String>,
}

/// `Encrypt`: absent means `Required`, as in current ADO.NET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    /// `false`/`no`/`Optional`: the login is encrypted, the rest only if the server insists.
    Off,
    /// `true`/`yes`/`Mandatory`.
    Required,
    /// `strict`: TDS 8, TLS before anything else.
    Strict,
    /// `DANGER_PLAINTEXT`: nothing is encrypted, not even the password.
    Plaintext,
}

/// What a key means to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Server,
    Database,
    User,
    Password,
    IntegratedSecurity,
    Encrypt,
    TrustServerCertificate,
    TrustServerCertificateCa,
    HostNameInCertificate,
    ApplicationName,
    ApplicationIntent,
    WorkstationId,
    MultiSubnetFailover,
    ConnectTimeout,
    /// Accepted for strings copied from a `web.config`; the password is never handed back.
    PersistSecurityInfo,
    /// Accepted either way: the service always pools its connections.
    Pooling,
    /// `False` is what the service does; `True` is refused.
    MultipleActiveResultSets,
}

/// Every key the service accepts, as ADO.NET spells it (matched in any case), with its meaning.
/// Synonyms share a meaning; giving two of them different values is refused.
pub const KEYS: &[(&str, Key)] = &[
    ("Server", Key::Server),
    ("Data Source", Key::Server),
    ("Address", Key::Server),
    ("Addr", Key::Server),
    ("Network Address", Key::Server),
    ("Database", Key::Database),
    ("Initial Catalog", Key::Database),
    ("DatabaseName", Key::Database),
    ("User Id", Key::User),
    ("UID", Key::User),
    ("User", Key::User),
    ("UserName", Key::User),
    ("Password", Key::Password),
    ("PWD", Key::Password),
    ("Integrated Security", Key::IntegratedSecurity),
    ("IntegratedSecurity", Key::IntegratedSecurity),
    ("Trusted_Connection", Key::IntegratedSecurity),
    ("Encrypt", Key::Encrypt),
    ("TrustServerCertificate", Key::TrustServerCertificate),
    ("Trust Server Certificate", Key::TrustServerCertificate),
    ("TrustServerCertificateCA", Key::TrustServerCertificateCa),
    ("HostNameInCertificate", Key::HostNameInCertificate),
    ("Host Name In Certificate", Key::HostNameInCertificate),
    ("Hostname In Certificate", Key::HostNameInCertificate),
    ("Application Name", Key::ApplicationName),
    ("ApplicationName", Key::ApplicationName),
    ("App", Key::ApplicationName),
    ("ApplicationIntent", Key::ApplicationIntent),
    ("Application Intent", Key::ApplicationIntent),
    ("Workstation ID", Key::WorkstationId),
    ("WorkstationId", Key::WorkstationId),
    ("WSID", Key::WorkstationId),
    ("MultiSubnetFailover", Key::MultiSubnetFailover),
    ("Multi Subnet Failover", Key::MultiSubnetFailover),
    ("Connect Timeout", Key::ConnectTimeout),
    ("Connection Timeout", Key::ConnectTimeout),
    ("Timeout", Key::ConnectTimeout),
    ("Persist Security Info", Key::PersistSecurityInfo),
    ("PersistSecurityInfo", Key::PersistSecurityInfo),
    ("Pooling", Key::Pooling),
    ("MultipleActiveResultSets", Key::MultipleActiveResultSets),
    ("Multiple Active Result Sets", Key::MultipleActiveResultSets),
];

/// Well-known ADO.NET keys the service refuses because it cannot honour them, with what to do
/// instead. Only keys named here or close to an accepted key are quoted in an error: any other
/// "key" may be the tail of a password that holds an unquoted `;`.
const REFUSED_KEYS: &[(&str, &str)] = &[
    ("Command Timeout", "use database.command_timeout_ms"),
    ("Max Pool Size", "use database.pool_max_size"),
    ("Min Pool Size", "the pool opens connections on demand"),
    ("Connection Lifetime", ""),
    ("Load Balance Timeout", ""),
    ("Packet Size", ""),
    ("Failover Partner", "use an availability group listener"),
    (
        "Authentication",
        "use User Id and Password, or Integrated Security",
    ),
    ("Column Encryption Setting", ""),
    ("Current Language", ""),
    ("Language", ""),
    ("Network Library", "the service speaks TCP"),
    ("Network", "the service speaks TCP"),
    ("Connect Retry Count", ""),
    ("Connect Retry Interval", ""),
    ("Enlist", ""),
    ("Replication", ""),
    ("Transaction Binding", ""),
    ("AttachDbFilename", ""),
    ("User Instance", ""),
];

impl ConnectionString {
    /// Parses and checks `database.connection_string`: it parses, names a `Server`, holds only
    /// keys the service can honour, and says unambiguously how to sign in.
    pub fn parse(text: &SecretString) -> Result<Self, SettingsError> {
        let pairs = Pairs::parse(text.expose_secret())?;
        pairs.check_keys()?;
        let Some((server_key, server)) = pairs.value(Key::Server)? else {
            return Err(no_server());
        };
        let connect_timeout = match pairs.value(Key::ConnectTimeout)? {
            Some((key, seconds)) => Some(connect_timeout(key, seconds)?),
            None => None,
        };
        if let Some((key, value)) = pairs.value(Key::MultipleActiveResultSets)? {
            if flag(key, value)? {
                return Err(invalid(
                    SETTING,
                    format!(
                        "`{key}=True` is not supported (the service runs one command at a time \
                         on a connection); remove it or set it to False"
                    ),
                ));
            }
        }
        for harmless in [Key::PersistSecurityInfo, Key::Pooling] {
            if let Some((key, value)) = pairs.value(harmless)? {
                flag(key, value)?;
            }
        }
        let read_only = match pairs.value(Key::ApplicationIntent)? {
            None => false,
            Some((_, value)) if value.trim().eq_ignore_ascii_case("readonly") => true,
            Some((_, value)) if value.trim().eq_ignore_ascii_case("readwrite") => false,
            Some((key, _)) => {
                return Err(invalid(
                    SETTING,
                    format!("`{key}` must be ReadOnly or ReadWrite"),
                ))
            }
        };
        Ok(ConnectionString {
            server: server_address(server_key, server)?,
            database: pairs.text(Key::Database)?,
            sign_in: pairs.sign_in()?,
            tls: pairs.tls()?,
            read_only,
            application_name: pairs.text(Key::ApplicationName)?,
            workstation_id: pairs.text(Key::WorkstationId)?,
            multi_subnet_failover: pairs.flag(Key::MultiSubnetFailover)?,
            connect_timeout,
        })
    }
}

fn no_server() -> SettingsError {
    invalid(
        SETTING,
        "has no Server; give Server=tcp:host,port (or host\\instance)",
    )
}

/// The parsed pairs, keys lower case as the parser gives them.
struct Pairs(AdoNetString);

impl Pairs {
    /// The error says what kind of mistake it is, never where: a position would point into a
    /// password.
    fn parse(text: &str) -> Result<Self, SettingsError> {
        text.parse::<AdoNetString>().map(Pairs).map_err(|error| {
            let message = error.to_string().to_ascii_lowercase();
            let problem = if message.contains("quote") || message.contains("escape") {
                "has an unclosed quote or brace"
            } else {
                "is not `key=value` pairs separated by `;`"
            };
            invalid(
                SETTING,
                format!("{problem}; values with `;`, quotes or braces are written Password={{…}}"),
            )
        })
    }

    /// Every key is one the service honours; the others are named once each, misspellings
    /// with the key meant.
    fn check_keys(&self) -> Result<(), SettingsError> {
        let mut refused: Vec<String> = Vec::new();
        let mut unnamed = 0;
        for key in self.0.keys() {
            if meaning(key).is_some() {
                continue;
            }
            if let Some((name, hint)) = REFUSED_KEYS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
            {
                refused.push(if hint.is_empty() {
                    format!("`{name}` is not supported")
                } else {
                    format!("`{name}` is not supported: {hint}")
                });
            } else if let Some(meant) = closest_key(key) {
                refused.push(format!(
                    "`{key}` is not a known key; did you mean `{meant}`?"
                ));
            } else {
                unnamed += 1;
            }
        }
        if unnamed > 0 {
            refused.push(format!(
                "{unnamed} key(s) are not known; check the spelling, and if a value such as the \
                 password contains `;`, enclose it in braces: Password={{…}}"
            ));
        }
        if refused.is_empty() {
            return Ok(());
        }
        refused.sort();
        Err(invalid(SETTING, refused.join("; ")))
    }

    /// The value given for `wanted`, as the parser gave it (quotes removed, nothing trimmed:
    /// a password keeps its spaces), and the key it was given under; synonyms that disagree are
    /// refused, naming both keys.
    fn value(&self, wanted: Key) -> Result<Option<(&'static str, &str)>, SettingsError> {
        let mut found: Option<(&'static str, &str)> = None;
        for (key, value) in self.0.iter() {
            let Some((name, _)) = KEYS
                .iter()
                .find(|(name, means)| *means == wanted && name.eq_ignore_ascii_case(key))
            else {
                continue;
            };
            let value = value.as_str();
            match found {
                Some((first, earlier)) if earlier != value => {
                    let (a, b) = if first < *name {
                        (first, *name)
                    } else {
                        (*name, first)
                    };
                    return Err(invalid(
                        SETTING,
                        format!("`{a}` and `{b}` mean the same and disagree; keep one"),
                    ));
                }
                Some(_) => {}
                None => found = Some((name, value)),
            }
        }
        Ok(found)
    }

    fn text(&self, wanted: Key) -> Result<Option<String>, SettingsError> {
        Ok(self
            .value(wanted)?
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned))
    }

    fn flag(&self, wanted: Key) -> Result<bool, SettingsError> {
        match self.value(wanted)? {
            Some((key, value)) => flag(key, value),
            None => Ok(false),
        }
    }

    /// `Integrated Security` and its synonym `Trusted_Connection` follow one rule: on with a
    /// `User Id` and `Password` is NTLM as that account, on alone is the service's own identity;
    /// a user without a password (or the reverse) is refused rather than sent empty, and so is
    /// the own identity on a build that has no way to sign in as it.
    fn sign_in(&self) -> Result<SignIn, SettingsError> {
        let user = self.value(Key::User)?.map(|(_, user)| user.to_owned());
        let password = self
            .value(Key::Password)?
            .map(|(_, password)| SecretString::from(password));
        let integrated = match self.value(Key::IntegratedSecurity)? {
            None => None,
            Some((key, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "sspi" | "true" | "yes" => Some(key),
                "false" | "no" => None,
                _ => {
                    return Err(invalid(
                        SETTING,
                        format!("`{key}` must be SSPI, true, yes, false or no"),
                    ))
                }
            },
        };
        Ok(match (integrated, user, password) {
            (None, user, password) => SignIn::SqlLogin {
                user: user.unwrap_or_default(),
                password: password.unwrap_or_else(|| SecretString::from("")),
            },
            (Some(_), Some(user), Some(password)) => SignIn::Windows { user, password },
            (Some(_), None, None) => SignIn::Integrated(
                sign_in::integrated().map_err(|refusal| invalid(SETTING, refusal.to_string()))?,
            ),
            (Some(key), _, _) => {
                return Err(invalid(
                    SETTING,
                    format!(
                        "`{key}` with a User Id needs a Password too (NTLM as that account), \
                         or neither (the service's own identity); give both or neither"
                    ),
                ))
            }
        })
    }

    fn tls(&self) -> Result<TlsOptions, SettingsError> {
        let encrypt = match self.value(Key::Encrypt)? {
            None => Encrypt::Required,
            Some((key, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "mandatory" => Encrypt::Required,
                "false" | "no" | "optional" => Encrypt::Off,
                "strict" => Encrypt::Strict,
                "danger_plaintext" => Encrypt::Plaintext,
                _ => {
                    return Err(invalid(
                        SETTING,
                        format!("`{key}` must be true, false or strict"),
                    ))
                }
            },
        };
        let tls = TlsOptions {
            encrypt,
            trust_server_certificate: self.flag(Key::TrustServerCertificate)?,
            ca_certificate: self.text(Key::TrustServerCertificateCa)?.map(PathBuf::from),
            host_name_in_certificate: self.text(Key::HostNameInCertificate)?,
        };
        if tls.trust_server_certificate && tls.ca_certificate.is_some() {
            return Err(invalid(
                SETTING,
                "`TrustServerCertificate` and `TrustServerCertificateCA` exclude each other; \
                 keep one",
            ));
        }
        Ok(tls)
    }
}

fn meaning(key: &str) -> Option<Key> {
    KEYS.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, means)| *means)
}

fn closest_key(key: &str) -> Option<&'static str> {
    let known: Vec<String> = KEYS
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    let meant = super::keys::closest(key, &known)?;
    KEYS.iter()
        .map(|(name, _)| *name)
        .find(|name| name.eq_ignore_ascii_case(meant))
}

/// `true`/`yes`/`false`/`no` in any case, as ADO.NET and tiberius read flags.
fn flag(key: &str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(invalid(SETTING, format!("`{key}` must be true or false"))),
    }
}

/// `Connect Timeout` in whole seconds, as ADO.NET reads it, within the bounds of
/// `database.connect_timeout_ms`; `0` (wait forever) is refused.
fn connect_timeout(key: &str, seconds: &str) -> Result<Duration, SettingsError> {
    let bounded = seconds
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|seconds| seconds.checked_mul(1000))
        .and_then(|millis| ConnectTimeoutMs::try_from(millis).ok());
    bounded.map(ConnectTimeoutMs::millis).ok_or_else(|| {
        invalid(
            SETTING,
            format!(
                "`{key}` must be whole seconds between {} and {}",
                ConnectTimeoutMs::MIN.div_ceil(1000),
                ConnectTimeoutMs::MAX / 1000
            ),
        )
    })
}

/// `[tcp:]host[\instance][,port]`; `(local)` and `.` are this machine.
fn server_address(key: &str, value: &str) -> Result<ServerAddress, SettingsError> {
    let faulty = || {
        invalid(
            SETTING,
            format!("`{key}` must be host, host,port or host\\instance (TCP only)"),
        )
    };
    let value = value.trim();
    let value = match value.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("tcp:") => &value[4..],
        _ => value,
    };
    let (host_part, port) = match value.split_once(',') {
        Some((host, port)) => (
            host,
            Some(port.trim().parse::<u16>().map_err(|_| faulty())?),
        ),
        None => (value, None),
    };
    let (host, instance) = match host_part.split_once('\\') {
        Some((_, instance)) if instance.contains('\\') => return Err(faulty()),
        Some((host, instance)) => (host.trim(), Some(instance.trim())),
        None => (host_part.trim(), None),
    };
    if host.is_empty() {
        return Err(no_server());
    }
    // `np:`, `lpc:` and `admin:` name other protocols; a host name has no `:` unless IPv6.
    if ["np:", "lpc:", "admin:"]
        .iter()
        .any(|protocol| host.to_ascii_lowercase().starts_with(protocol))
    {
        return Err(faulty());
    }
    let host = match host {
        "(local)" | "." => "localhost",
        host => host,
    };
    Ok(ServerAddress {
        host: host.to_owned(),
        instance: instance.filter(|i| !i.is_empty()).map(str::to_owned),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ConnectionString {
        ConnectionString::parse(&SecretString::from(text)).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error_of(text: &str) -> String {
        match ConnectionString::parse(&SecretString::from(text)) {
            Ok(_) => panic!("{text} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn user_of(sign_in: &SignIn) -> (&'static str, Option<&str>, Option<&str>) {
        match sign_in {
            SignIn::SqlLogin { user, password } => {
                ("sql", Some(user.as_str()), Some(password.expose_secret()))
            }
            SignIn::Windows { user, password } => (
                "windows",
                Some(user.as_str()),
                Some(password.expose_secret()),
            ),
            SignIn::Integrated(_) => ("integrated", None, None),
        }
    }

    #[test]
    fn quoted_values_are_read_as_the_driver_reads_them() {
        let target = parsed("Server=tcp:db,1433;Password={a;b};User Id='x;y'");

        assert_eq!(user_of(&target.sign_in), ("sql", Some("x;y"), Some("a;b")));
    }

    #[test]
    fn a_quoted_password_keeps_its_spaces_and_password_synonyms_must_agree() {
        let text = "Server=h;User Id=u;Password=' p w '";
        let as_the_driver_reads_it = text.parse::<AdoNetString>().expect("parses");

        assert_eq!(
            user_of(&parsed(text).sign_in).2,
            as_the_driver_reads_it.get("password").map(String::as_str)
        );
        assert_eq!(
            user_of(&parsed(text).sign_in).2.map(|p| &p[..2]),
            Some(" p")
        );
        let message = error_of("Server=h;Password=S3cret-Pa55;PWD=other");
        assert!(message.contains("`PWD` and `Password`"), "{message}");
        assert!(!message.contains("S3cret-Pa55"), "{message}");
    }

    #[test]
    fn a_missing_or_empty_server_is_refused() {
        for text in [
            "Database=QoEArchive;User Id=u",
            "Server=;User Id=u",
            "Server=  ",
            "Server=,1433",
        ] {
            let message = error_of(text);
            assert!(message.contains("has no Server"), "{text}: {message}");
        }
    }

    #[test]
    fn the_server_is_read_into_host_instance_and_port() {
        for (text, host, instance, port) in [
            ("Server=tcp:sql01,1433", "sql01", None, Some(1433)),
            ("Server=sql01\\CQD", "sql01", Some("CQD"), None),
            (
                "Data Source=TCP:sql01\\CQD,51433",
                "sql01",
                Some("CQD"),
                Some(51433),
            ),
            ("Address=(local)", "localhost", None, None),
        ] {
            let server = parsed(text).server;

            assert_eq!(server.host, host, "{text}");
            assert_eq!(server.instance.as_deref(), instance, "{text}");
            assert_eq!(server.port, port, "{text}");
        }
        assert_eq!(
            parsed("Server=sql01\\CQD").server.browser_instance(),
            Some("CQD")
        );
        assert_eq!(
            parsed("Server=sql01\\CQD,1").server.browser_instance(),
            None
        );
    }

    #[test]
    fn a_server_in_another_protocol_or_with_a_bad_port_is_refused_naming_the_key() {
        for text in [
            "Server=np:\\\\sql01\\pipe\\sql\\query",
            "Server=lpc:sql01",
            "Server=sql01,port",
            "Server=sql01,1,2",
            "Data Source=sql01,99999",
        ] {
            let message = error_of(text);
            assert!(message.contains("TCP only"), "{text}: {message}");
        }
    }

    #[test]
    fn synonyms_that_disagree_are_refused_naming_both() {
        let message = error_of("Server=a;Data Source=b");

        assert!(message.contains("`Data Source` and `Server`"), "{message}");
        parsed("Server=a;Data Source=a");
    }

    #[test]
    fn a_misspelt_key_is_refused_naming_it_and_the_key_it_meant() {
        let message = error_of("Server=db;Pasword=S3cret-Pa55");

        assert!(message.contains("`pasword`"), "{message}");
        assert!(message.contains("did you mean `Password`"), "{message}");
        assert!(!message.contains("S3cret-Pa55"), "{message}");
    }

    #[test]
    fn a_known_but_unsupported_key_is_refused_once_with_what_to_use_instead() {
        let message = error_of("Server=db;Command Timeout=30;Packet Size=8000");

        assert!(
            message.contains("`Command Timeout` is not supported: use database.command_timeout_ms"),
            "{message}"
        );
        assert!(
            message.contains("`Packet Size` is not supported"),
            "{message}"
        );
        assert_eq!(message.matches("not supported").count(), 2, "{message}");
    }

    #[test]
    fn the_tail_of_an_unquoted_password_is_never_quoted_as_a_key() {
        let message = error_of("Server=db;Password=S3cret;Zq7xWv=Pa55");

        assert!(!message.to_lowercase().contains("zq7xwv"), "{message}");
        assert!(message.contains("Password={…}"), "{message}");
    }

    #[test]
    fn an_unclosed_quote_is_refused_without_quoting_the_string() {
        let message = error_of("Server=db;Password='S3cret-Pa55");

        assert!(message.contains("unclosed quote"), "{message}");
        assert!(!message.contains("S3cret"), "{message}");
    }

    #[test]
    fn user_and_password_without_integrated_security_are_a_sql_login() {
        for text in [
            "Server=h;User Id=u;Password=pw",
            "Server=h;UID=u;PWD=pw;Integrated Security=false",
            "Server=h;User=u;Password=pw;Trusted_Connection=no",
        ] {
            assert_eq!(
                user_of(&parsed(text).sign_in),
                ("sql", Some("u"), Some("pw")),
                "{text}"
            );
        }
    }

    #[test]
    fn integrated_security_with_user_and_password_is_ntlm_as_that_user() {
        for value in ["SSPI", "true", "yes", "True"] {
            let target = parsed(&format!(
                "Server=h;Integrated Security={value};User Id=CORP\\svc;Password=pw"
            ));
            assert_eq!(
                user_of(&target.sign_in),
                ("windows", Some("CORP\\svc"), Some("pw")),
                "{value}"
            );
        }
    }

    #[test]
    fn trusted_connection_with_user_and_password_is_ntlm_as_that_user() {
        for value in ["SSPI", "true", "yes"] {
            let target = parsed(&format!(
                "Server=h;Trusted_Connection={value};User Id=CORP\\svc;Password=pw"
            ));
            assert_eq!(
                user_of(&target.sign_in),
                ("windows", Some("CORP\\svc"), Some("pw")),
                "{value}"
            );
        }
    }

    #[test]
    #[cfg(any(windows, all(unix, feature = "kerberos")))]
    fn either_synonym_alone_is_the_services_own_identity() {
        for text in [
            "Server=h;Integrated Security=SSPI",
            "Server=h;IntegratedSecurity=true",
            "Server=h;Trusted_Connection=yes",
        ] {
            assert_eq!(user_of(&parsed(text).sign_in).0, "integrated", "{text}");
        }
    }

    #[test]
    #[cfg(all(unix, not(feature = "kerberos")))]
    fn either_synonym_alone_is_refused_at_start_naming_the_feature_and_the_alternative() {
        for text in [
            "Server=h;Integrated Security=SSPI",
            "Server=h;IntegratedSecurity=true",
            "Server=h;Trusted_Connection=yes",
        ] {
            let message = error_of(text);

            assert!(message.contains(SETTING), "{text}: {message}");
            assert!(message.contains("--features kerberos"), "{text}: {message}");
            assert!(
                message.contains("User Id and Password"),
                "{text}: {message}"
            );
            assert!(message.contains("DOMAIN\\user"), "{text}: {message}");
        }
    }

    #[test]
    fn integrated_security_with_a_user_but_no_password_is_refused_at_start() {
        let message = error_of("Server=h;Integrated Security=SSPI;User Id=CORP\\svc");

        assert!(
            message.contains("`Integrated Security` with a User Id needs a Password"),
            "{message}"
        );
    }

    #[test]
    fn trusted_connection_with_a_user_but_no_password_is_refused_at_start() {
        let message = error_of("Server=h;Trusted_Connection=true;UID=CORP\\svc");

        assert!(
            message.contains("`Trusted_Connection` with a User Id needs a Password"),
            "{message}"
        );
    }

    #[test]
    fn either_synonym_with_a_password_but_no_user_is_refused_at_start() {
        for key in ["Integrated Security", "Trusted_Connection"] {
            let message = error_of(&format!("Server=h;{key}=SSPI;Password=S3cret-Pa55"));

            assert!(
                message.contains(&format!("`{key}` with a User Id")),
                "{message}"
            );
            assert!(!message.contains("S3cret-Pa55"), "{message}");
        }
    }

    #[test]
    fn either_synonym_with_a_value_other_than_sspi_true_or_false_is_refused_naming_the_key() {
        for key in ["Integrated Security", "Trusted_Connection"] {
            let message = error_of(&format!("Server=h;{key}=maybe"));

            assert!(
                message.contains(&format!("`{key}` must be SSPI")),
                "{message}"
            );
        }
    }

    #[test]
    fn the_synonyms_disagreeing_is_refused() {
        let message = error_of("Server=h;Integrated Security=SSPI;Trusted_Connection=false");

        assert!(
            message.contains("`Integrated Security` and `Trusted_Connection`"),
            "{message}"
        );
    }

    #[test]
    fn tls_options_are_read_with_encryption_required_by_default() {
        let defaults = parsed("Server=h").tls;
        let options = parsed(
            "Server=h;Encrypt=strict;TrustServerCertificateCA=/etc/ca.pem;\
             HostNameInCertificate=sql.example.org",
        )
        .tls;

        assert_eq!(defaults.encrypt, Encrypt::Required);
        assert!(!defaults.trust_server_certificate);
        assert_eq!(options.encrypt, Encrypt::Strict);
        assert_eq!(options.ca_certificate, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            options.host_name_in_certificate.as_deref(),
            Some("sql.example.org")
        );
        for (value, encrypt) in [
            ("false", Encrypt::Off),
            ("Optional", Encrypt::Off),
            ("yes", Encrypt::Required),
            ("Mandatory", Encrypt::Required),
            ("DANGER_PLAINTEXT", Encrypt::Plaintext),
        ] {
            assert_eq!(
                parsed(&format!("Server=h;Encrypt={value}")).tls.encrypt,
                encrypt
            );
        }
        let message =
            error_of("Server=h;TrustServerCertificate=true;TrustServerCertificateCA=/ca.pem");
        assert!(message.contains("exclude each other"), "{message}");
    }

    #[test]
    fn persist_security_info_is_accepted_either_way() {
        parsed("Server=h;Persist Security Info=False");
        parsed("Server=h;PersistSecurityInfo=true");
        assert!(error_of("Server=h;Persist Security Info=sometimes")
            .contains("`Persist Security Info`"));
    }

    #[test]
    fn pooling_is_accepted_either_way_because_the_service_always_pools() {
        parsed("Server=h;Pooling=true");
        parsed("Server=h;Pooling=False");
    }

    #[test]
    fn multiple_active_result_sets_false_is_accepted_and_true_refused_naming_it_once() {
        parsed("Server=h;MultipleActiveResultSets=False");

        let message = error_of("Server=h;MultipleActiveResultSets=True");

        assert!(
            message.contains("`MultipleActiveResultSets=True` is not supported"),
            "{message}"
        );
        assert_eq!(message.matches("not supported").count(), 1, "{message}");
    }

    #[test]
    fn connect_timeout_and_its_synonyms_are_seconds() {
        for key in ["Connect Timeout", "Connection Timeout", "Timeout"] {
            let target = parsed(&format!("Server=h;{key}=30"));

            assert_eq!(
                target.connect_timeout,
                Some(Duration::from_secs(30)),
                "{key}"
            );
        }
        for value in ["0", "soon", "-1", "601"] {
            let message = error_of(&format!("Server=h;Connect Timeout={value}"));
            assert!(
                message.contains("`Connect Timeout` must be whole seconds"),
                "{message}"
            );
        }
    }

    #[test]
    fn application_name_and_workstation_id_are_read() {
        let target = parsed("Server=h;Application Name=CQD status;Workstation ID=web01");

        assert_eq!(target.application_name.as_deref(), Some("CQD status"));
        assert_eq!(target.workstation_id.as_deref(), Some("web01"));
    }

    #[test]
    fn a_string_copied_from_a_web_config_is_accepted() {
        let target = parsed(
            "Data Source=sql01\\CQD;Initial Catalog=QoEArchive;Persist Security Info=False;\
             User ID=qoe_service;Password={p;w};MultipleActiveResultSets=False;Pooling=True;\
             Connect Timeout=30;Encrypt=True;TrustServerCertificate=False;\
             Application Name=QoE;Application Intent=ReadOnly;Workstation ID=web01",
        );

        assert_eq!(target.database.as_deref(), Some("QoEArchive"));
        assert!(target.read_only);
        assert_eq!(
            user_of(&target.sign_in),
            ("sql", Some("qoe_service"), Some("p;w"))
        );
    }

    #[test]
    fn an_application_intent_other_than_read_only_or_read_write_is_refused() {
        assert!(!parsed("Server=h;ApplicationIntent=ReadWrite").read_only);
        assert!(error_of("Server=h;ApplicationIntent=ReadOnce").contains("`ApplicationIntent`"));
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let target = parsed("Server=h;User Id=u;Password=S3cret-Pa55");

        assert!(!format!("{target:?}").contains("S3cret-Pa55"));
    }
}
