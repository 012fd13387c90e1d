//! `database.connection_string` checked at start with a real ADO.NET parser (the
//! `connection-string` crate, the one tiberius uses), so quoted values such as `Password={a;b}`
//! or `'…'` are read the same here as by the driver. Never quotes a value.
use std::path::Path;

use connection_string::AdoNetString;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use secrecy::ExposeSecret;

use super::errors::{invalid, SettingsError};
use super::types::DatabaseSettings;

const SETTING: &str = "database.connection_string";

/// The keys the service accepts, lower case as the parser gives them. The driver (tiberius)
/// reads all of these; add a key here when the service learns to use it.
pub const ALLOWED_KEYS: &[&str] = &[
    "server",
    "data source",
    "database",
    "initial catalog",
    "databasename",
    "user id",
    "uid",
    "user",
    "username",
    "password",
    "pwd",
    "integrated security",
    "integratedsecurity",
    "trusted_connection",
    "encrypt",
    "trustservercertificate",
    "trustservercertificateca",
    "hostnameincertificate",
    "hostname in certificate",
    "application name",
    "applicationname",
    "applicationintent",
    "workstation id",
    "workstationid",
    "multisubnetfailover",
];

/// Well-known ADO.NET keys the service does not support, with what to use instead. Only keys
/// named here or close to an allowed key are quoted in an error: any other "key" may be the
/// tail of a password that holds an unquoted `;`.
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    ("connect timeout", "use database.connect_timeout_ms"),
    ("connection timeout", "use database.connect_timeout_ms"),
    ("timeout", "use database.connect_timeout_ms"),
    ("command timeout", "use database.command_timeout_ms"),
    ("max pool size", "use database.pool_max_size"),
    ("min pool size", "the pool opens connections on demand"),
    ("pooling", "the service always pools connections"),
    ("connection lifetime", "not supported"),
    ("load balance timeout", "not supported"),
    ("multipleactiveresultsets", "not supported"),
    ("mars", "not supported"),
    ("persist security info", "not supported"),
    ("packet size", "not supported"),
    (
        "failover partner",
        "not supported; use an availability group listener",
    ),
    (
        "authentication",
        "not supported; use User Id and Password or Integrated Security",
    ),
    ("column encryption setting", "not supported"),
    ("current language", "not supported"),
    ("language", "not supported"),
    ("network library", "not supported; the service speaks TCP"),
    ("network", "not supported; the service speaks TCP"),
    ("connect retry count", "not supported"),
    ("connect retry interval", "not supported"),
    ("application intent", "write it as ApplicationIntent"),
];

/// Parses and checks the connection string: it parses, names a non-empty `Server`, and holds
/// only keys the service supports.
pub fn validate(text: &str) -> Result<AdoNetString, SettingsError> {
    let pairs = parse(text)?;
    let server = pairs
        .get("server")
        .or_else(|| pairs.get("data source"))
        .map(|server| server.trim());
    if server.is_none_or(str::is_empty) {
        return Err(invalid(
            SETTING,
            "has no Server; give Server=tcp:host,port (or host\\instance)",
        ));
    }
    let mut refused: Vec<String> = Vec::new();
    let mut unnamed = 0;
    for key in pairs.keys() {
        if ALLOWED_KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some((name, hint)) = UNSUPPORTED_KEYS.iter().find(|(name, _)| name == key) {
            refused.push(format!("`{name}` is not supported ({hint})"));
        } else if let Some(meant) = closest_allowed(key) {
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
    if !refused.is_empty() {
        refused.sort();
        return Err(invalid(SETTING, refused.join("; ")));
    }
    Ok(pairs)
}

/// The connection string's pairs, keys lower case. The error says what kind of mistake it is,
/// never where: a position would point into a password.
pub fn parse(text: &str) -> Result<AdoNetString, SettingsError> {
    text.parse::<AdoNetString>().map_err(|error| {
        let message = error.to_string().to_ascii_lowercase();
        let problem = if message.contains("quote") || message.contains("escape") {
            "has an unclosed quote or brace"
        } else {
            "is not `key=value` pairs separated by `;`"
        };
        invalid(
            SETTING,
            format!(
                "{problem}; values with `;`, quotes or braces are written Password={{…}} \
                "
            ),
        )
    })
}

fn closest_allowed(key: &str) -> Option<&'static str> {
    let known: Vec<String> = ALLOWED_KEYS.iter().map(|k| k.to_string()).collect();
    let meant = super::keys::closest(key, &known)?;
    ALLOWED_KEYS.iter().copied().find(|k| *k == meant)
}

/// True for `true`/`yes` (any case), as tiberius reads flags.
pub fn flag(pairs: &AdoNetString, key: &str) -> bool {
    pairs
        .get(key)
        .is_some_and(|value| matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "yes"))
}

/// `database.ca_certificate_path` must hold at least one certificate the TLS stack can parse,
/// in the form the driver reads for its extension: `.pem`/`.crt` PEM, `.der` DER.
pub fn check_ca_certificate(path: &Path) -> Result<(), SettingsError> {
    const CA: &str = "database.ca_certificate_path";
    let bytes = std::fs::read(path)
        .map_err(|e| invalid(CA, format!("cannot read {}: {e}", path.display())))?;
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let certificates: Vec<CertificateDer<'static>> = match extension.as_str() {
        "pem" | "crt" => {
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            CertificateDer::pem_slice_iter(text)
                .collect::<Result<_, _>>()
                .map_err(|_| invalid(CA, format!("{} is not valid PEM", path.display())))?
        }
        "der" if !bytes.is_empty() => vec![CertificateDer::from(bytes)],
        "der" => Vec::new(),
        _ => {
            return Err(invalid(
                CA,
                format!(
                    "{} must end in .pem, .crt (PEM) or .der (DER)",
                    path.display()
                ),
            ))
        }
    };
    if certificates.is_empty() {
        return Err(invalid(
            CA,
            format!("{} holds no certificate", path.display()),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (number, certificate) in certificates.into_iter().enumerate() {
        roots.add(certificate).map_err(|e| {
            invalid(
                CA,
                format!(
                    "certificate number {} in {} does not parse: {e}",
                    number + 1,
                    path.display()
                ),
            )
        })?;
    }
    Ok(())
}

impl DatabaseSettings {
    /// The one place the password is exposed: building the driver's configuration.
    pub fn tiberius_config(&self) -> Result<tiberius::Config, SettingsError> {
        let text = self.connection_string.expose_secret();
        let pairs = parse(text)?;
        let mut config = tiberius::Config::from_ado_string(text).map_err(|e| {
            invalid(
                "database.connection_string",
                format!(
                    "not a valid ADO.NET connection string: {}",
                    redact_passwords(&e.to_string(), &pairs)
                ),
            )
        })?;
        if let Some(ca) = &self.ca_certificate_path {
            if flag(&pairs, "trustservercertificate")
                || pairs.contains_key("trustservercertificateca")
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
        // No per-round-trip timer in the driver: it arms a `futures-timer` delay served by a
        // thread of that crate's own on every round trip (~17 % of an uncached read's profile,
        // BENCHMARKS.md). The store bounds each command with `command_timeout` on tokio's timer
        // (`SqlServerStore::with_connection`), and `migrate` runs as long as it needs.
        config.command_timeout(None);
        if !pairs.contains_key("application name") && !pairs.contains_key("applicationname") {
            config.application_name(env!("CARGO_PKG_NAME"));
        }
        Ok(config)
    }
}

/// Driver messages are not known to echo values, but a password must never reach a log.
fn redact_passwords(message: &str, pairs: &AdoNetString) -> String {
    ["password", "pwd"]
        .into_iter()
        .filter_map(|key| pairs.get(key))
        .filter(|password| !password.is_empty())
        .fold(message.to_owned(), |message, password| {
            message.replace(password.as_str(), "***")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        match validate(text) {
            Ok(_) => panic!("{text} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn quoted_values_are_read_as_the_driver_reads_them() {
        let pairs = validate("Server=tcp:db,1433;Password={a;b};User Id='x;y'").expect("valid");

        assert_eq!(pairs.get("password").map(String::as_str), Some("a;b"));
        assert_eq!(pairs.get("user id").map(String::as_str), Some("x;y"));
    }

    #[test]
    fn a_missing_or_empty_server_is_refused() {
        for text in [
            "Database=QoEArchive;User Id=u",
            "Server=;User Id=u",
            "Server=  ",
        ] {
            let message = error_of(text);
            assert!(message.contains("has no Server"), "{text}: {message}");
        }
    }

    #[test]
    fn a_misspelt_key_is_refused_naming_it_and_the_key_it_meant() {
        let message = error_of("Server=db;Pasword=S3cret-Pa55");

        assert!(message.contains("`pasword`"), "{message}");
        assert!(message.contains("did you mean `password`"), "{message}");
        assert!(!message.contains("S3cret-Pa55"), "{message}");
    }

    #[test]
    fn a_known_but_unsupported_key_is_refused_with_what_to_use_instead() {
        let message = error_of("Server=db;Connect Timeout=30");

        assert!(message.contains("`connect timeout`"), "{message}");
        assert!(message.contains("database.connect_timeout_ms"), "{message}");
    }

    #[test]
    fn the_tail_of_an_unquoted_password_is_never_quoted_as_a_key() {
        let message = error_of("Server=db;Password=S3cret;Zq7xWv=Pa55");

        assert!(!message.contains("Zq7xWv"), "{message}");
        assert!(!message.to_lowercase().contains("zq7xwv"), "{message}");
        assert!(message.contains("Password={…}"), "{message}");
    }

    #[test]
    fn the_keys_windows_authentication_and_failover_need_are_accepted() {
        for text in [
            "Server=db\\SQLEXPRESS;Integrated Security=SSPI",
            "Server=tcp:db\\inst;Trusted_Connection=true",
            "Server=db\\inst,1433;IntegratedSecurity=true;MultiSubnetFailover=true",
        ] {
            validate(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn an_unclosed_quote_is_refused_without_quoting_the_string() {
        let message = error_of("Server=db;Password='S3cret-Pa55");

        assert!(message.contains("unclosed quote"), "{message}");
        assert!(!message.contains("S3cret"), "{message}");
    }

    fn ca_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("qoe-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate_that_parses() {
        let certificates =
            testkit::TestCertificates::generate(&["localhost"]).expect("test certificates");
        check_ca_certificate(&ca_file("good.pem", certificates.ca_pem.as_bytes()))
            .expect("a real CA certificate");
        let der = CertificateDer::from_pem_slice(certificates.ca_pem.as_bytes()).expect("PEM");
        check_ca_certificate(&ca_file("good.der", der.as_ref())).expect("the same CA as DER");

        for (name, contents) in [
            ("not-pem.pem", &b"just some text"[..]),
            ("empty.pem", &b""[..]),
            (
                "bad-block.crt",
                &b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"[..],
            ),
            ("garbage.der", &b"\x30\x03\x01\x02\x03"[..]),
            ("ca.txt", certificates.ca_pem.as_bytes()),
        ] {
            let error = check_ca_certificate(&ca_file(name, contents))
                .expect_err(name)
                .to_string();
            assert!(
                error.contains("database.ca_certificate_path"),
                "{name}: {error}"
            );
        }
    }
}
