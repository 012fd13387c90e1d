//! The read path from handler to database: the trait handlers read through, and the layers
//! over the database store that [`layers::layered`] assembles (metered, then cached), and
//! what bounds the rate of queries the database sees ([`cache`], [`clearing`]).
pub mod cache;
pub mod clearing;
pub mod layers;
pub mod metered;
pub mod single_flight;

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::agent::SERVER_TIME_ZONE_MISMATCH;
use crate::domain::{IntegrationStatus, LogEntry, LogQuery, Outcome, StatusRead};

/// The reads the HTTP layer needs. `db::SqlServerStore` and `db::SqlAgentStore` are the real
/// ones; the layers in this module wrap one; tests supply doubles. Every method is required,
/// so a wrapper cannot forget to forward one.
#[async_trait]
pub trait IntegrationLogStore: Send + Sync + 'static {
    /// One Status read: the status entries and the finished runs with their durations (the
    /// table source pairs them from its entries; SQL Server Agent knows them directly).
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError>;
    /// The newest `query.top()` entries, of `query.category()` or of all, newest first.
    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError>;
    /// Proves a connection answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Why the service should not be ready although the database answers (a setting that
    /// disagrees with the server, a job step that does not exist); empty when ready.
    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError>;
}

/// A setting that disagrees with the server although the database answers: what `/readyz`
/// says, and what `check` and the start log say to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// The setting to change, e.g. `integration_log.sql_agent.server_time_zone`.
    pub setting: &'static str,
    /// What disagrees, in words a client may see; it names the setting.
    pub reason: String,
    /// What to change, in setting names.
    pub fix: String,
    /// Whether `/readyz` (open to anyone, keys or not) shows the fix after the reason: not
    /// when it names what exists on the server, such as the job steps of every job.
    pub fix_is_public: bool,
}

/// `/readyz`'s words: the reason, then the fix when it may be shown.
impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if self.fix_is_public {
            write!(f, ": {}", self.fix)?;
        }
        Ok(())
    }
}

/// `read` with the message of each failing job's newest failure, for people (the status page,
/// `check`). The Agent source's runs carry their messages; the table source's status query
/// reads no descriptions (Status stays one round trip), so each failing job's newest failure
/// is read from the log, `top=1` of its category, only while that job is failing. A log read
/// that fails leaves the message out: the page and `check` say the run left none.
pub async fn with_failure_messages(
    store: &dyn IntegrationLogStore,
    status: &IntegrationStatus,
    read: &Arc<StatusRead>,
) -> Arc<StatusRead> {
    let mut failures = Vec::new();
    for job in status.jobs() {
        let Some(failed_at) = job.failing_since() else {
            continue;
        };
        if read.failure_message(job.job, failed_at).is_some() {
            continue;
        }
        let query = LogQuery::newest(job.job.outcome(Outcome::Failed), 1);
        if let Ok(entries) = store.log_entries(query).await {
            failures.extend(entries);
        }
    }
    if failures.is_empty() {
        return read.clone();
    }
    Arc::new(StatusRead {
        failures,
        ..StatusRead::clone(read)
    })
}

/// Why the database could not answer, in words a client may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// The server's name in `Server=` does not resolve (DNS).
    NameNotResolved,
    Unreachable,
    TimedOut,
    LoginFailed,
    CertificateNotTrusted,
    QueryFailed,
    /// SQL Server Browser answered, and knows no such instance.
    InstanceNotFound,
    /// SQL Server Browser did not answer (UDP 1434 blocked, or the service is stopped).
    SqlBrowserUnreachable,
    /// The login's database does not exist or the login may not open it (4060, 911).
    DatabaseNotFound,
    /// `Encrypt=` asks for what the server does not offer (TLS off, or no TDS 8.0 for strict).
    EncryptionMismatch,
    /// The login was redirected, and the redirect target redirected again.
    RedirectedTwice,
    /// Kerberos: no ticket, no usable keytab entry, or the KDC refused the client's key.
    NoKerberosCredentials,
    /// Kerberos: no KDC of the realm answered.
    KdcUnreachable,
    /// Kerberos: the KDC knows no `MSSQLSvc/host:port` for the server (check `setspn -L`).
    SpnUnknown,
    /// SQL Server Agent source: the server's clock disagrees with
    /// `integration_log.sql_agent.server_time_zone`, so every time read would be shifted.
    ServerTimeZoneMismatch,
}

impl Unavailability {
    /// Every reason, for the checks that each has its fix (the README's table, `check`).
    pub const ALL: [Unavailability; 15] = [
        Unavailability::NameNotResolved,
        Unavailability::Unreachable,
        Unavailability::TimedOut,
        Unavailability::LoginFailed,
        Unavailability::CertificateNotTrusted,
        Unavailability::QueryFailed,
        Unavailability::InstanceNotFound,
        Unavailability::SqlBrowserUnreachable,
        Unavailability::DatabaseNotFound,
        Unavailability::EncryptionMismatch,
        Unavailability::RedirectedTwice,
        Unavailability::NoKerberosCredentials,
        Unavailability::KdcUnreachable,
        Unavailability::SpnUnknown,
        Unavailability::ServerTimeZoneMismatch,
    ];

    /// The reason as `qoe_status_unreadable_reason`'s `reason` label, which the alert rules
    /// match: renaming one is a breaking change for them.
    pub fn metric_label(self) -> &'static str {
        match self {
            Unavailability::NameNotResolved => "name_not_resolved",
            Unavailability::Unreachable => "database_unreachable",
            Unavailability::TimedOut => "database_timed_out",
            Unavailability::LoginFailed => "database_login_failed",
            Unavailability::CertificateNotTrusted => "certificate_not_trusted",
            Unavailability::QueryFailed => "query_failed",
            Unavailability::InstanceNotFound => "instance_not_found",
            Unavailability::SqlBrowserUnreachable => "sql_browser_unreachable",
            Unavailability::DatabaseNotFound => "database_not_found",
            Unavailability::EncryptionMismatch => "encryption_mismatch",
            Unavailability::RedirectedTwice => "redirected_twice",
            Unavailability::NoKerberosCredentials => "no_kerberos_credentials",
            Unavailability::KdcUnreachable => "kdc_unreachable",
            Unavailability::SpnUnknown => "spn_unknown",
            Unavailability::ServerTimeZoneMismatch => "server_time_zone_mismatch",
        }
    }

    /// A short reason without server names, driver text or credentials.
    pub fn reason(self) -> &'static str {
        match self {
            Unavailability::NameNotResolved => "database server name not resolved",
            Unavailability::Unreachable => "database unreachable",
            Unavailability::TimedOut => "database did not answer in time",
            Unavailability::LoginFailed => "database login failed",
            Unavailability::CertificateNotTrusted => "database TLS certificate not trusted",
            Unavailability::QueryFailed => "database query failed",
            Unavailability::InstanceNotFound => "database instance not found by SQL Browser",
            Unavailability::SqlBrowserUnreachable => "SQL Browser did not answer",
            Unavailability::DatabaseNotFound => "database not found or not accessible",
            Unavailability::EncryptionMismatch => {
                "database encryption setting not supported by the server"
            }
            Unavailability::RedirectedTwice => "database redirected the login more than once",
            Unavailability::NoKerberosCredentials => "no valid Kerberos credentials",
            Unavailability::KdcUnreachable => "Kerberos KDC unreachable",
            Unavailability::SpnUnknown => "database SPN unknown to Kerberos",
            Unavailability::ServerTimeZoneMismatch => SERVER_TIME_ZONE_MISMATCH,
        }
    }
}

/// A failed read: the client-safe kind plus the full cause for the log.
#[derive(Clone)]
pub struct StoreError {
    kind: Unavailability,
    cause: Arc<dyn Error + Send + Sync>,
    retry_after: Option<Duration>,
}

impl StoreError {
    pub fn new(kind: Unavailability, cause: impl Error + Send + Sync + 'static) -> Self {
        StoreError {
            kind,
            cause: Arc::new(cause),
            retry_after: None,
        }
    }

    /// The store will not try again before `after` (it backs off after failed logins).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn kind(&self) -> Unavailability {
        self.kind
    }

    /// How long until the store tries the database again, when it knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.reason())
    }
}

/// Prints the whole cause chain on one line: this is what goes to the log, where a line break
/// would be escaped (`telemetry`).
impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.reason(), self.cause)?;
        let mut source = self.cause.source();
        while let Some(cause) = source {
            write!(f, "; caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.cause.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::Unavailability::{self, *};

    /// A new variant stops this compiling: add it to `Unavailability::ALL`, and give it a row
    /// in the README.
    #[allow(dead_code)]
    fn listed(kind: Unavailability) {
        match kind {
            NameNotResolved
            | Unreachable
            | TimedOut
            | LoginFailed
            | CertificateNotTrusted
            | QueryFailed
            | InstanceNotFound
            | SqlBrowserUnreachable
            | DatabaseNotFound
            | EncryptionMismatch
            | RedirectedTwice
            | NoKerberosCredentials
            | KdcUnreachable
            | SpnUnknown
            | ServerTimeZoneMismatch => {}
        }
    }

    #[test]
    fn every_reason_has_its_own_metric_label_that_prometheus_accepts_as_written() {
        let labels: std::collections::BTreeSet<&str> =
            Unavailability::ALL.map(Unavailability::metric_label).into();

        assert_eq!(labels.len(), Unavailability::ALL.len(), "{labels:?}");
        for label in labels {
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }

    #[test]
    fn every_reason_has_a_row_in_the_readme_saying_what_to_fix() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("#### What a reason means and what to fix")
            .nth(1)
            .expect("the README's reasons table");
        let first_cells: Vec<&str> = table
            .lines()
            .take_while(|line| line.is_empty() || line.starts_with('|') || !line.starts_with('#'))
            .filter_map(|line| line.strip_prefix("| "))
            .filter_map(|row| row.split(" | ").next())
            .collect();

        for kind in Unavailability::ALL {
            assert!(
                first_cells.iter().any(|cell| cell.contains(kind.reason())),
                "no README row for {kind:?} ({})",
                kind.reason()
            );
        }
    }
}
