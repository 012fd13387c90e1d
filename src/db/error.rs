use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::bounded_stream::ANSWER_BYTE_BUDGET;
use crate::platform::sign_in::SignInFailure;
use crate::store::{StoreError, Unavailability};

/// SQL Server login errors: 18456 login failed, 18488 password must be changed, 18452 a
/// Windows login from an untrusted domain (or Windows logins only and a SQL login tried).
const LOGIN_ERRORS: [u32; 3] = [18456, 18488, 18452];

/// 4060 cannot open the database the login names (it does not exist, or the login has no
/// user in it), 911 the database does not exist: the fix is `Database=`, not the password.
const DATABASE_ERRORS: [u32; 2] = [4060, 911];

/// What the driver says after a rejected certificate names its own Rust API (`Config::…`)
/// and how to rebuild it; an admin needs our settings instead.
const DRIVER_TLS_ADVICE: [&str; 2] = ["To connect anyway", "Config::"];
const TLS_FIX: &str = "To trust it: database.ca_certificate_path or TrustServerCertificateCA= \
    naming its CA, or the certificate itself when it is self-signed (PEM or DER); \
    HostNameInCertificate= when it names another host than Server=; \
    TrustServerCertificate=true only for a test server.";

/// How tokio-rustls and rustls say that the server ended or refused the TLS handshake (a
/// server with TLS 1.0 only, or one that does not speak TLS first under `Encrypt=strict`):
/// the fix is the server's TLS or `Encrypt=`, not the host, port or firewall.
const TLS_HANDSHAKE_ENDED: [&str; 4] = [
    "tls handshake eof",
    "received fatal alert",
    "peer is incompatible",
    "received corrupt message",
];

/// What went wrong talking to SQL Server, with the step that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    #[error("resolving SQL Server's name `{addr}`")]
    NameNotResolved {
        /// `host:port` as the driver names it.
        addr: String,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("opening a TCP connection to SQL Server")]
    Tcp(#[source] Arc<io::Error>),
    #[error("connecting and logging in to SQL Server took longer than {0:?}")]
    ConnectTimedOut(Duration),
    #[error("logging in to SQL Server")]
    Login(#[source] tiberius::error::Error),
    #[error("no SQL Server connection became available within {0:?}")]
    NoConnection(Duration),
    #[error("{step}")]
    Command {
        step: &'static str,
        #[source]
        source: tiberius::error::Error,
    },
    #[error("SQL Server did not complete the command within {0:?}")]
    CommandTimedOut(Duration),
    #[error("the read (pool wait, connect and command) took longer than database.request_timeout_ms ({0:?})")]
    RequestTimedOut(Duration),
    #[error("SQL Server closed an idle connection")]
    ClosedByServer,
    #[error("SQL Server sent data on an idle connection")]
    UnexpectedData,
    #[error("unexpected result from SQL Server: {0}")]
    UnexpectedResult(String),
    #[error(
        "unexpected result from SQL Server: its answer exceeded the {} MiB a read may take; \
         the connection is discarded",
        ANSWER_BYTE_BUDGET / (1024 * 1024)
    )]
    AnswerTooLarge,
    #[error(
        "unexpected result from SQL Server: its answer ended inside a row or token; \
         the connection is discarded"
    )]
    AnswerCutShort,
    #[error(
        "looking up SQL Server instance `{instance}` through SQL Server Browser (UDP 1434){}",
        browser_outcome(*.browser_answered)
    )]
    Browser {
        instance: String,
        /// Whether SQL Server Browser answered a listing of the host's instances.
        browser_answered: bool,
        #[source]
        source: tiberius::error::Error,
    },
    // No duration in the text: the 503 log line is rate-limited by its text, which must
    // stay the same while the wait runs down (Retry-After and /readyz say how long).
    #[error("not connecting to SQL Server until the wait after the last failed attempt ends")]
    BackingOff {
        retry_in: Duration,
        #[source]
        last: Box<DbError>,
    },
    #[error(
        "SQL Server redirected the login a second time (to {host}:{port}); \
         only one routing redirect is followed"
    )]
    SecondRedirect { host: String, port: u16 },
}

fn browser_outcome(answered: bool) -> &'static str {
    if answered {
        ": it answered, and knows no such instance"
    } else {
        ": it did not answer"
    }
}

impl DbError {
    /// A failed login, with the driver's advice about its own API replaced by our settings.
    pub fn login(error: tiberius::error::Error) -> DbError {
        DbError::Login(match error {
            tiberius::error::Error::Tls(message) => {
                tiberius::error::Error::Tls(in_our_settings(&message))
            }
            other => other,
        })
    }

    pub fn command(step: &'static str) -> impl FnOnce(tiberius::error::Error) -> DbError {
        move |source| DbError::Command { step, source }
    }

    pub fn unavailability(&self) -> Unavailability {
        match self {
            DbError::NameNotResolved { .. } => Unavailability::NameNotResolved,
            DbError::Tcp(e) if e.kind() == io::ErrorKind::TimedOut => Unavailability::TimedOut,
            DbError::Tcp(_) | DbError::ClosedByServer | DbError::UnexpectedData => {
                Unavailability::Unreachable
            }
            DbError::ConnectTimedOut(_)
            | DbError::NoConnection(_)
            | DbError::CommandTimedOut(_)
            | DbError::RequestTimedOut(_) => Unavailability::TimedOut,
            DbError::Browser {
                source: tiberius::error::Error::Conversion(_),
                browser_answered,
                ..
            } => {
                if *browser_answered {
                    Unavailability::InstanceNotFound
                } else {
                    Unavailability::SqlBrowserUnreachable
                }
            }
            DbError::Browser { source, .. } => transport_unavailability(source),
            DbError::BackingOff { last, .. } => last.unavailability(),
            DbError::SecondRedirect { .. } => Unavailability::RedirectedTwice,
            DbError::Login(e) => login_unavailability(e),
            DbError::Command { source, .. } => transport_unavailability(source),
            DbError::UnexpectedResult(_) | DbError::AnswerTooLarge | DbError::AnswerCutShort => {
                Unavailability::QueryFailed
            }
        }
    }

    /// Whether the server (or the Kerberos KDC) refused the login itself: what locks out a
    /// domain account, unlike a name that does not resolve, a refused TCP connection, a TLS
    /// handshake or a timeout, which never reached the login.
    pub fn refused_login(&self) -> bool {
        matches!(
            self.unavailability(),
            Unavailability::LoginFailed
                | Unavailability::DatabaseNotFound
                | Unavailability::NoKerberosCredentials
        )
    }

    pub fn into_store_error(self) -> StoreError {
        StoreError::new(self.unavailability(), self)
    }
}

/// Everything the server or the driver refuses before the login completes is a login or TLS
/// reason: the fix is in the connection string, never in a query.
fn login_unavailability(error: &tiberius::error::Error) -> Unavailability {
    use tiberius::error::Error;
    match error {
        Error::Server(token) if DATABASE_ERRORS.contains(&token.code()) => {
            Unavailability::DatabaseNotFound
        }
        Error::Server(_) => Unavailability::LoginFailed,
        Error::Protocol(message) if message.to_ascii_lowercase().contains("encryption") => {
            Unavailability::EncryptionMismatch
        }
        // e.g. "Never got SSPI token": a Windows login the server does not take.
        Error::Protocol(_) => Unavailability::LoginFailed,
        Error::Tls(message) if message.to_ascii_lowercase().contains("certificate") => {
            Unavailability::CertificateNotTrusted
        }
        Error::Tls(_) => Unavailability::EncryptionMismatch,
        Error::Io { message, .. } if tls_handshake_ended(message) => {
            Unavailability::EncryptionMismatch
        }
        other => match crate::platform::sign_in::failure(other) {
            Some(SignInFailure::Kerberos(message)) => kerberos_unavailability(message),
            Some(SignInFailure::Ntlm) => Unavailability::LoginFailed,
            None => transport_unavailability(other),
        },
    }
}

fn tls_handshake_ended(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    TLS_HANDSHAKE_ENDED
        .iter()
        .any(|sign| message.contains(sign))
}

/// The driver's text up to its own advice, then what to set instead.
fn in_our_settings(message: &str) -> String {
    let advice = DRIVER_TLS_ADVICE
        .iter()
        .filter_map(|marker| message.find(marker))
        .min();
    match advice {
        Some(at) => format!("{} {TLS_FIX}", message[..at].trim_end()),
        None if message.to_ascii_lowercase().contains("certificate") => {
            format!("{message}. {TLS_FIX}")
        }
        None => message.to_owned(),
    }
}

fn transport_unavailability(error: &tiberius::error::Error) -> Unavailability {
    match error {
        tiberius::error::Error::Io { kind, .. } if *kind == io::ErrorKind::TimedOut => {
            Unavailability::TimedOut
        }
        tiberius::error::Error::Io { .. } | tiberius::error::Error::Tls(_) => {
            Unavailability::Unreachable
        }
        tiberius::error::Error::Server(token) if LOGIN_ERRORS.contains(&token.code()) => {
            Unavailability::LoginFailed
        }
        tiberius::error::Error::Server(token) if DATABASE_ERRORS.contains(&token.code()) => {
            Unavailability::DatabaseNotFound
        }
        _ => Unavailability::QueryFailed,
    }
}

/// Sorts a GSSAPI (MIT Kerberos) failure by what an admin must fix. The text is the library's
/// major and minor status messages; it names principals and realms, never keys.
fn kerberos_unavailability(message: &str) -> Unavailability {
    let message = message.to_ascii_lowercase();
    if message.contains("cannot contact any kdc")
        || message.contains("cannot find kdc")
        || message.contains("cannot resolve network address for kdc")
    {
        Unavailability::KdcUnreachable
    } else if message.contains("client") && message.contains("not found in kerberos database") {
        Unavailability::NoKerberosCredentials
    } else if message.contains("server") && message.contains("not found in kerberos database") {
        Unavailability::SpnUnknown
    } else if message.contains("no kerberos credentials")
        || message.contains("no credentials")
        || message.contains("key table")
        || message.contains("keytab")
        || message.contains("preauthentication failed")
        || message.contains("password incorrect")
        || message.contains("ticket expired")
    {
        Unavailability::NoKerberosCredentials
    } else {
        Unavailability::LoginFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(unix, feature = "kerberos"))]
    fn kind_of_gssapi(message: &str) -> Unavailability {
        DbError::Login(tiberius::error::Error::Gssapi(message.to_owned())).unavailability()
    }

    #[test]
    #[cfg(all(unix, feature = "kerberos"))]
    fn kerberos_failures_are_sorted_by_what_an_admin_must_fix() {
        assert_eq!(
            kind_of_gssapi("Cannot contact any KDC for realm 'CORP.EXAMPLE'"),
            Unavailability::KdcUnreachable
        );
        assert_eq!(
            kind_of_gssapi(
                "Server MSSQLSvc/sql01:1433@CORP.EXAMPLE not found in Kerberos database"
            ),
            Unavailability::SpnUnknown
        );
        assert_eq!(
            kind_of_gssapi("Client 'qoe_service@CORP.EXAMPLE' not found in Kerberos database"),
            Unavailability::NoKerberosCredentials
        );
        assert_eq!(
            kind_of_gssapi("Server not found in Kerberos database"),
            Unavailability::SpnUnknown
        );
        assert_eq!(
            kind_of_gssapi("No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_0)"),
            Unavailability::NoKerberosCredentials
        );
        assert_eq!(
            kind_of_gssapi("Preauthentication failed"),
            Unavailability::NoKerberosCredentials
        );
        assert_eq!(
            kind_of_gssapi("Unknown code 42"),
            Unavailability::LoginFailed
        );
    }

    #[test]
    fn a_second_redirect_and_an_unknown_instance_have_reasons_of_their_own() {
        let twice = DbError::SecondRedirect {
            host: "replica3".into(),
            port: 1433,
        };
        let unknown = DbError::Browser {
            instance: "CQD".into(),
            browser_answered: true,
            source: tiberius::error::Error::Conversion("SQL browser timeout".into()),
        };
        let silent = DbError::Browser {
            instance: "CQD".into(),
            browser_answered: false,
            source: tiberius::error::Error::Conversion("SQL browser timeout".into()),
        };

        assert_eq!(twice.unavailability(), Unavailability::RedirectedTwice);
        assert!(twice.to_string().contains("second time"), "{twice}");
        assert_eq!(unknown.unavailability(), Unavailability::InstanceNotFound);
        assert!(unknown.to_string().contains("`CQD`"), "{unknown}");
        assert!(
            unknown.to_string().contains("knows no such instance"),
            "{unknown}"
        );
        assert_eq!(
            silent.unavailability(),
            Unavailability::SqlBrowserUnreachable
        );
        assert!(silent.to_string().contains("did not answer"), "{silent}");
    }

    /// What tiberius 0.13 says after rustls rejects a certificate (rustls_tls_stream.rs).
    const DRIVER_CERTIFICATE_ERROR: &str = "the server's certificate was rejected during the \
        TLS handshake: invalid peer certificate: UnknownIssuer. To connect anyway you can: (1) \
        trust a specific CA certificate with `Config::trust_cert_ca(path)`, or an in-memory CA \
        bundle with `Config::trust_cert_ca_bundle(bytes)`; (4) build tiberius with the \
        `native-tls` backend, which is more lenient toward legacy certificates.";

    #[test]
    fn a_rejected_certificate_is_explained_in_our_settings_not_the_drivers_api() {
        let error = DbError::login(tiberius::error::Error::Tls(
            DRIVER_CERTIFICATE_ERROR.to_owned(),
        ));
        let logged = format!("{:?}", error.clone().into_store_error());

        assert_eq!(
            error.unavailability(),
            Unavailability::CertificateNotTrusted
        );
        assert!(logged.contains("UnknownIssuer"), "{logged}");
        for ours in [
            "database.ca_certificate_path",
            "TrustServerCertificateCA=",
            "HostNameInCertificate=",
            "TrustServerCertificate=true",
        ] {
            assert!(logged.contains(ours), "{ours} missing: {logged}");
        }
        for theirs in ["Config::", "trust_cert", "native-tls", "build tiberius"] {
            assert!(!logged.contains(theirs), "{theirs} passed on: {logged}");
        }
    }

    #[test]
    fn failures_before_the_login_completes_have_login_or_tls_reasons() {
        let encryption = DbError::login(tiberius::error::Error::Protocol(
            "Server does not allow the requested encryption level.".into(),
        ));
        let no_sspi = DbError::login(tiberius::error::Error::Protocol(
            "Never got SSPI token.".into(),
        ));

        assert_eq!(
            encryption.unavailability(),
            Unavailability::EncryptionMismatch
        );
        assert_eq!(no_sspi.unavailability(), Unavailability::LoginFailed);
    }

    #[test]
    fn backing_off_reports_the_reason_of_the_last_failure() {
        let backing_off = DbError::BackingOff {
            retry_in: Duration::from_secs(4),
            last: Box::new(DbError::login(tiberius::error::Error::Protocol(
                "Server does not allow the requested encryption level.".into(),
            ))),
        };

        assert_eq!(
            backing_off.unavailability(),
            Unavailability::EncryptionMismatch
        );
    }
}
