//! The driver's configuration, built from the typed connection string
//! ([`ConnectionString`](super::connection::ConnectionString)) and the other `database.*`
//! settings; and the check of `database.ca_certificate_path`.
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use secrecy::ExposeSecret;
use tiberius::{AuthMethod, EncryptionLevel};

use super::connection::{Encrypt, ServerAddress, SignIn};
use super::errors::{invalid, SettingsError};
use super::types::DatabaseSettings;
use crate::files::{read_bounded, MAX_PEM_BYTES};

/// `database.ca_certificate_path` must be a regular file of at most [`MAX_PEM_BYTES`]
/// holding at least one certificate the TLS stack can parse, in the form the driver reads for
/// its extension: `.pem`/`.crt` PEM, `.der` DER.
pub fn check_ca_certificate(path: &Path) -> Result<(), SettingsError> {
    check_ca_file(path, |problem| {
        invalid("database.ca_certificate_path", problem)
    })
}

/// `TrustServerCertificateCA=` names a file the driver reads at every connection: the same
/// checks, at start, so that `/dev/zero` there cannot be read without end at each login.
pub fn check_connection_string_ca(path: &Path) -> Result<(), SettingsError> {
    check_ca_file(path, |problem| {
        invalid(
            "database.connection_string",
            format!("TrustServerCertificateCA: {problem}"),
        )
    })
}

fn check_ca_file(
    path: &Path,
    invalid: impl Fn(String) -> SettingsError,
) -> Result<(), SettingsError> {
    let bytes = read_bounded(path, MAX_PEM_BYTES).map_err(|problem| invalid(problem.at(path)))?;
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let certificates: Vec<CertificateDer<'static>> = match extension.as_str() {
        "pem" | "crt" => {
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            CertificateDer::pem_slice_iter(text)
                .collect::<Result<_, _>>()
                .map_err(|_| invalid(format!("{} is not valid PEM", path.display())))?
        }
        "der" if !bytes.is_empty() => vec![CertificateDer::from(bytes)],
        "der" => Vec::new(),
        _ => {
            return Err(invalid(format!(
                "{} must end in .pem, .crt (PEM) or .der (DER)",
                path.display()
            )))
        }
    };
    if certificates.is_empty() {
        return Err(invalid(format!("{} holds no certificate", path.display())));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (number, certificate) in certificates.into_iter().enumerate() {
        roots.add(certificate).map_err(|e| {
            invalid(format!(
                "certificate number {} in {} does not parse: {e}",
                number + 1,
                path.display()
            ))
        })?;
    }
    Ok(())
}

impl DatabaseSettings {
    /// The driver's configuration for the server the connection string names.
    pub fn tiberius_config(&self) -> tiberius::Config {
        self.driver_config(&self.connection_string.server)
    }

    /// The configuration for `host:port`, named by a routing ENVCHANGE: the same login,
    /// database, intent, TLS and timeouts, without the instance name of the first server.
    pub fn redirected_config(&self, host: &str, port: u16) -> tiberius::Config {
        self.driver_config(&ServerAddress {
            host: host.to_owned(),
            instance: None,
            port: Some(port),
        })
    }

    fn driver_config(&self, server: &ServerAddress) -> tiberius::Config {
        let target = &self.connection_string;
        let mut config = tiberius::Config::new();
        config.host(&server.host);
        if let Some(port) = server.port {
            config.port(port);
        }
        if let Some(instance) = &server.instance {
            config.instance_name(instance);
        }
        if let Some(database) = &target.database {
            config.database(database);
        }
        config.authentication(auth_method(&target.sign_in));
        config.encryption(match target.tls.encrypt {
            Encrypt::Off => EncryptionLevel::Off,
            Encrypt::Required => EncryptionLevel::Required,
            Encrypt::Strict => EncryptionLevel::Strict,
            Encrypt::Plaintext => EncryptionLevel::NotSupported,
        });
        // Loading refused TrustServerCertificate together with a CA (tiberius would panic).
        if target.tls.trust_server_certificate {
            config.trust_cert();
        }
        if let Some(ca) = target
            .tls
            .ca_certificate
            .as_ref()
            .or(self.ca_certificate_path.as_ref())
        {
            config.trust_cert_ca(ca.display());
        }
        if let Some(name) = &target.tls.host_name_in_certificate {
            config.hostname_in_certificate(name);
        }
        config.readonly(target.read_only);
        config.application_name(
            target
                .application_name
                .as_deref()
                .unwrap_or(env!("CARGO_PKG_NAME")),
        );
        if let Some(workstation) = &target.workstation_id {
            config.client_name(workstation);
        }
        config.multi_subnet_failover(target.multi_subnet_failover);
        config.handshake_timeout(Some(self.connect_timeout));
        // No per-round-trip timer in the driver: it arms a `futures-timer` delay served by a
        // thread of that crate's own on every round trip (~17 % of an uncached read's profile,
        // BENCHMARKS.md). The store bounds each command with `command_timeout` on tokio's timer
        // (`SqlServerStore::with_connection`), and `migrate` runs as long as it needs.
        config.command_timeout(None);
        config
    }
}

/// How the driver signs in, and the one place a password is exposed. `Integrated` is what the
/// platform offers (`platform::sign_in`): SSPI on Windows, GSSAPI Kerberos on Linux.
fn auth_method(sign_in: &SignIn) -> AuthMethod {
    match sign_in {
        SignIn::SqlLogin { user, password } => {
            AuthMethod::sql_server(user, password.expose_secret())
        }
        SignIn::Windows { user, password } => AuthMethod::windows(user, password.expose_secret()),
        SignIn::Integrated(own_account) => own_account.auth_method(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(connection_string: &str) -> tiberius::Config {
        super::super::Settings::for_tests(connection_string)
            .unwrap_or_else(|e| panic!("{connection_string}: {e}"))
            .database
            .tiberius_config()
    }

    #[test]
    fn each_sign_in_method_reaches_the_driver_as_its_own_auth_method() {
        for (text, method) in [
            ("Server=h,1;User Id=u;Password=pw", "SqlServer"),
            (
                "Server=h,1;Integrated Security=SSPI;User Id=CORP\\svc;Password=pw",
                "Windows",
            ),
            (
                "Server=h,1;Trusted_Connection=yes;User Id=CORP\\svc;Password=pw",
                "Windows",
            ),
            (
                "Server=h,1;Trusted_Connection=false;User Id=u;Password=pw",
                "SqlServer",
            ),
        ] {
            let text_of_config = format!("{:?}", config(text));

            assert!(text_of_config.contains(method), "{text}: {text_of_config}");
        }
    }

    #[test]
    #[cfg(any(windows, all(unix, feature = "kerberos")))]
    fn the_services_own_account_reaches_the_driver_as_integrated() {
        for text in [
            "Server=h,1;Integrated Security=true",
            "Server=h,1;Trusted_Connection=SSPI",
        ] {
            let text_of_config = format!("{:?}", config(text));

            assert!(
                text_of_config.contains("Integrated"),
                "{text}: {text_of_config}"
            );
        }
    }

    #[test]
    fn the_application_name_is_sent_and_defaults_to_the_service_name() {
        let named = format!("{:?}", config("Server=h,1;Application Name=CQD status"));
        let unnamed = format!("{:?}", config("Server=h,1"));

        assert!(
            named.contains("application_name: Some(\"CQD status\")"),
            "{named}"
        );
        assert!(
            unnamed.contains(&format!(
                "application_name: Some(\"{}\")",
                env!("CARGO_PKG_NAME")
            )),
            "{unnamed}"
        );
    }

    #[test]
    fn tls_options_and_the_workstation_reach_the_driver() {
        let text = format!(
            "{:?}",
            config(
                "Server=h,1;Encrypt=strict;TrustServerCertificate=true;\
                 HostNameInCertificate=sql.example.org;Workstation ID=web01"
            )
        );

        assert!(text.contains("Strict"), "{text}");
        assert!(text.contains("bypass: true"), "{text}");
        assert!(text.contains("sql.example.org"), "{text}");
        assert!(text.contains("client_name: Some(\"web01\")"), "{text}");
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

    #[test]
    fn a_ca_path_that_is_not_a_regular_file_is_refused_without_reading_it() {
        let directory = ca_file("dir-marker.pem", b"").with_file_name("");
        // Device files are at these paths on Unix only.
        let devices = if cfg!(unix) {
            vec!["/dev/zero".into(), "/dev/urandom".into()]
        } else {
            Vec::new()
        };
        for path in devices.into_iter().chain([directory]) {
            let error = check_ca_certificate(&path)
                .expect_err("not a regular file")
                .to_string();

            assert!(error.contains("database.ca_certificate_path"), "{error}");
            assert!(error.contains("not a regular file"), "{error}");
        }
    }

    #[test]
    fn trust_server_certificate_ca_in_the_connection_string_is_checked_at_start_alike() {
        // A device on Unix; a directory elsewhere.
        let not_a_file = if cfg!(unix) {
            "/dev/zero".to_owned()
        } else {
            std::env::temp_dir().display().to_string()
        };
        let error = super::super::Settings::for_tests(&format!(
            "Server=h,1;Encrypt=strict;TrustServerCertificateCA={not_a_file}"
        ))
        .expect_err("no CA file")
        .to_string();

        assert!(error.contains("database.connection_string"), "{error}");
        assert!(error.contains("TrustServerCertificateCA"), "{error}");
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[test]
    fn a_ca_file_larger_than_the_limit_is_refused() {
        let huge = vec![b'A'; (MAX_PEM_BYTES + 1) as usize];

        let error = check_ca_certificate(&ca_file("huge.pem", &huge))
            .expect_err("too large")
            .to_string();

        assert!(error.contains("database.ca_certificate_path"), "{error}");
        assert!(error.contains("larger than"), "{error}");
    }
}
