use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{StoreError, Unavailability};

/// SQL Server login errors: 18456 login failed, 18488 password must be changed,
/// 4060 cannot open the database named in the connection string, 18452 a Windows login
/// from an untrusted domain (or Windows logins only and a SQL login tried).
const LOGIN_ERRORS: [u32; 4] = [18456, 18488, 4060, 18452];

/// What went wrong talking to SQL Server, with the step that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
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
    #[error("looking up SQL Server instance `{instance}` through SQL Server Browser (UDP 1434)")]
    Browser {
        instance: String,
        #[source]
        source: tiberius::error::Error,
    },
    #[error(
        "SQL Server redirected the login a second time (to {host}:{port}); \
         only one routing redirect is followed"
    )]
    SecondRedirect { host: String, port: u16 },
}

impl DbError {
    pub fn command(step: &'static str) -> impl FnOnce(tiberius::error::Error) -> DbError {
        move |source| DbError::Command { step, source }
    }

    pub fn unavailability(&self) -> Unavailability {
        match self {
            DbError::Tcp(e) if e.kind() == io::ErrorKind::TimedOut => Unavailability::TimedOut,
            DbError::Tcp(_) | DbError::ClosedByServer | DbError::UnexpectedData => {
                Unavailability::Unreachable
            }
            DbError::ConnectTimedOut(_)
            | DbError::NoConnection(_)
            | DbError::CommandTimedOut(_)
            | DbError::RequestTimedOut(_) => Unavailability::TimedOut,
            DbError::Browser { source, .. } => match source {
                tiberius::error::Error::Conversion(_) => Unavailability::InstanceNotFound,
                other => transport_unavailability(other),
            },
            DbError::SecondRedirect { .. } => Unavailability::RedirectedTwice,
            DbError::Login(e) => match e {
                tiberius::error::Error::Server(token) if LOGIN_ERRORS.contains(&token.code()) => {
                    Unavailability::LoginFailed
                }
                tiberius::error::Error::Tls(message)
                    if message.to_ascii_lowercase().contains("certificate") =>
                {
                    Unavailability::CertificateNotTrusted
                }
                tiberius::error::Error::Gssapi(message) => kerberos_unavailability(message),
                tiberius::error::Error::SspiRs(_) => Unavailability::LoginFailed,
                other => transport_unavailability(other),
            },
            DbError::Command { source, .. } => transport_unavailability(source),
            DbError::UnexpectedResult(_) => Unavailability::QueryFailed,
        }
    }

    pub fn into_store_error(self) -> StoreError {
        StoreError::new(self.unavailability(), self)
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

    fn kind_of_gssapi(message: &str) -> Unavailability {
        DbError::Login(tiberius::error::Error::Gssapi(message.to_owned())).unavailability()
    }

    #[test]
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
            source: tiberius::error::Error::Conversion("SQL browser timeout".into()),
        };

        assert_eq!(twice.unavailability(), Unavailability::RedirectedTwice);
        assert!(twice.to_string().contains("second time"), "{twice}");
        assert_eq!(unknown.unavailability(), Unavailability::InstanceNotFound);
        assert!(unknown.to_string().contains("`CQD`"), "{unknown}");
    }
}
