//! Where the service connects and whether it works there, in words an admin acts on: the start
//! lines `serve` logs, and the report `check` prints (each step OK, or the reason and the fix
//! in setting names). A leaf: it reads settings and asks a store, nothing imports it back.
use std::fmt;
use std::sync::Arc;

use crate::configuration::{LogSource, Settings, SettingsError, SignIn};
use crate::store::{IntegrationLogStore, StoreError, Unavailability};

/// What to do while `integration_log.enabled` is `false`, in the words of both setting forms.
const ENABLE: &str =
    "set `integration_log.enabled = true` (or `QOE_INTEGRATION_LOG__ENABLED=true`)";

/// Where the runs are read from, with the names that select them: `dbo.IntegrationLog table`,
/// or `SQL Server Agent history (steps `A` and `B` of job `J`, server time zone Z)`.
pub fn source(source: &LogSource) -> String {
    match source {
        LogSource::Table => "dbo.IntegrationLog table".to_owned(),
        LogSource::SqlAgent(agent) => format!(
            "SQL Server Agent history (steps `{}` and `{}`{}, server time zone {})",
            agent.data_integration_step,
            agent.cube_processing_step,
            match &agent.job_name {
                Some(job) => format!(" of job `{job}`"),
                None => String::new(),
            },
            agent.server_time_zone,
        ),
    }
}

/// Source, server, instance or port, database and login kind, never the password:
/// `source dbo.IntegrationLog table, server sql01, instance CQD, database QoEArchive,
/// SQL login qoe_service`.
pub fn target(settings: &Settings) -> String {
    let connection = &settings.database.connection_string;
    let server = &connection.server;
    let mut text = format!(
        "source {}, server {}",
        source(&settings.integration_log.source),
        server.host
    );
    if let Some(instance) = &server.instance {
        text.push_str(&format!(", instance {instance}"));
    }
    match server.port {
        Some(port) => text.push_str(&format!(", port {port}")),
        None if server.instance.is_some() => text.push_str(", port from SQL Browser"),
        None => text.push_str(", port 1433"),
    }
    match &connection.database {
        Some(database) => text.push_str(&format!(", database {database}")),
        None => text.push_str(", the login's default database"),
    }
    text.push_str(&match &connection.sign_in {
        SignIn::SqlLogin { user, .. } => format!(", SQL login {user}"),
        SignIn::Windows { user, .. } => format!(", NTLM as {user}"),
        SignIn::Integrated(own_account) => format!(", integrated ({})", own_account.describe()),
    });
    text
}

/// What `integration_log.enabled = false` means for a caller, and how to change it.
pub fn disabled_warning() -> String {
    format!(
        "integration_log.enabled is false: Status, Integration Log and the status page answer \
         200 with an empty body and read nothing; {ENABLE} to serve them"
    )
}

/// What the admin must change when the database answers with `kind`, in setting names.
pub fn fix(kind: Unavailability, source: &LogSource) -> &'static str {
    match kind {
        Unavailability::Unreachable => {
            "check the host and port in `Server=` of database.connection_string, that SQL Server \
             listens on TCP there and that no firewall is in between: see README 'Connecting to \
             your SQL Server'"
        }
        Unavailability::TimedOut => {
            "check the host and port in `Server=` of database.connection_string and the network; \
             or raise database.connect_timeout_ms / database.command_timeout_ms"
        }
        Unavailability::LoginFailed => {
            "check User Id/Password in database.connection_string, and that the login exists, is \
             enabled and may sign in this way: see README 'What a reason means and what to fix'"
        }
        Unavailability::DatabaseNotFound => {
            "check `Database=` in database.connection_string, and that the login has a user in \
             that database (CREATE USER … FOR LOGIN …)"
        }
        Unavailability::EncryptionMismatch => {
            "set `Encrypt=` in database.connection_string to what the server offers (`strict` \
             only for SQL Server 2022), or give the server a certificate and TLS 1.2"
        }
        Unavailability::CertificateNotTrusted => {
            "trust the server's certificate: database.ca_certificate_path (or \
             TrustServerCertificateCA= in database.connection_string), plus \
             HostNameInCertificate= when it names another host"
        }
        Unavailability::QueryFailed => match source {
            LogSource::Table => {
                "an existing CQD writes no dbo.IntegrationLog: set integration_log.source = \
                 \"sql_agent\" to read SQL Server Agent's history (README 'SQL Server Agent \
                 history as the source'); for the table source, run `qoe-data-service migrate` \
                 and grant the login the qoe_reader role (the log names the SQL error)"
            }
            LogSource::SqlAgent(_) => {
                "grant the login SELECT on msdb's Agent tables: see README 'SQL Server Agent \
                 history as the source' (the log names the SQL error)"
            }
        },
        Unavailability::InstanceNotFound => {
            "check the instance in `Server=host\\instance` of database.connection_string (SQL \
             Server Browser does not know it), or give the port: `Server=tcp:host,PORT`"
        }
        Unavailability::SqlBrowserUnreachable => {
            "let UDP 1434 through to the host in `Server=host\\instance` of \
             database.connection_string and start SQL Server Browser there, or give the port: \
             `Server=tcp:host,PORT`"
        }
        Unavailability::RedirectedTwice => {
            "name the server the listener redirects to in `Server=` of database.connection_string"
        }
        Unavailability::NoKerberosCredentials => {
            "check the keytab (KRB5_CLIENT_KTNAME) or ticket cache (KRB5CCNAME) of the service's \
             account, or sign in with User Id/Password in database.connection_string"
        }
        Unavailability::KdcUnreachable => {
            "check the realm's KDCs in /etc/krb5.conf (or KRB5_CONFIG) and that they answer on \
             port 88"
        }
        Unavailability::SpnUnknown => {
            "write the server's fully qualified name in `Server=` of database.connection_string \
             and check its MSSQLSvc/host:port SPN with `setspn -L`"
        }
        Unavailability::ServerTimeZoneMismatch => {
            "set integration_log.sql_agent.server_time_zone (or \
             QOE_INTEGRATION_LOG__SQL_AGENT__SERVER_TIME_ZONE) to the SQL Server machine's IANA \
             time zone"
        }
    }
}

/// One step of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// Works, but not as the admin probably wants.
    Warning(String),
    Failed {
        reason: String,
        fix: String,
    },
    /// Not tried: an earlier step failed.
    Skipped,
}

/// The steps in order; printed one line each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub steps: Vec<Step>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|step| matches!(step.outcome, Outcome::Failed { .. }))
    }

    fn push(&mut self, name: &'static str, outcome: Outcome) {
        self.steps.push(Step { name, outcome });
    }

    fn failed(&mut self, name: &'static str, error: &StoreError, source: &LogSource) {
        self.push(
            name,
            Outcome::Failed {
                reason: error.kind().reason().to_owned(),
                fix: fix(error.kind(), source).to_owned(),
            },
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            match &step.outcome {
                Outcome::Ok(detail) => writeln!(f, "OK    {}: {detail}", step.name)?,
                Outcome::Warning(detail) => writeln!(f, "WARN  {}: {detail}", step.name)?,
                Outcome::Failed { reason, fix } => {
                    writeln!(f, "FAIL  {}: {reason} → {fix}", step.name)?
                }
                Outcome::Skipped => writeln!(f, "SKIP  {}: an earlier step failed", step.name)?,
            }
        }
        Ok(())
    }
}

/// The report for a settings file or environment that does not load.
pub fn settings_failed(error: &SettingsError) -> Report {
    let mut report = Report::default();
    report.push(
        "settings",
        Outcome::Failed {
            reason: error.to_string(),
            fix: "correct that setting in the --config file or its QOE_… variable: see README \
                  'Configuration'"
                .to_owned(),
        },
    );
    report
}

/// Loads nothing and serves nothing: connects through `store`, runs readiness, reads one Status.
pub async fn diagnose(settings: &Settings, store: &dyn IntegrationLogStore) -> Report {
    let source = &settings.integration_log.source;
    let mut report = Report::default();
    report.push("settings", Outcome::Ok(target(settings)));
    if !settings.integration_log.enabled {
        report.push("operations", Outcome::Warning(disabled_warning()));
    }
    if let Err(error) = store.ping().await {
        report.failed("connect", &error, source);
        report.push("readiness", Outcome::Skipped);
        report.push("status", Outcome::Skipped);
        return report;
    }
    report.push("connect", Outcome::Ok("SQL Server answers".to_owned()));
    match store.readiness().await {
        Ok(reasons) if reasons.is_empty() => report.push("readiness", Outcome::Ok("ready".into())),
        Ok(reasons) => {
            for reason in reasons {
                // Readiness reasons name their setting and what to set it to.
                let (reason, fix) = match reason.split_once(": ") {
                    Some((reason, fix)) => (reason.to_owned(), fix.to_owned()),
                    None => (
                        reason,
                        "see README 'SQL Server Agent history as the source'".into(),
                    ),
                };
                report.push("readiness", Outcome::Failed { reason, fix });
            }
        }
        Err(error) => report.failed("readiness", &error, source),
    }
    match store.status_read().await {
        Ok(read) => report.push(
            "status",
            Outcome::Ok(format!("read, {} job runs found", read.runs.len())),
        ),
        Err(error) => report.failed("status", &error, source),
    }
    report
}

/// At start, in the background (the service starts and serves either way): logs where it
/// connects, warns when the operations are disabled, and runs readiness once, logging a WARN
/// with the reason and the fix when it fails.
pub fn at_start(settings: &Settings, store: Arc<dyn IntegrationLogStore>) {
    let source = settings.integration_log.source.clone();
    let connects_to = target(settings);
    tracing::info!(%connects_to, "database: {connects_to}");
    if !settings.integration_log.enabled {
        tracing::warn!("{}", disabled_warning());
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        match store.readiness().await {
            Ok(reasons) if reasons.is_empty() => {
                tracing::info!("ready: the database answers and the settings agree with it")
            }
            Ok(reasons) => {
                for reason in reasons {
                    tracing::warn!(reason, "not ready at start: {reason}");
                }
            }
            Err(error) => {
                let reason = error.kind().reason();
                let fix = fix(error.kind(), &source);
                tracing::warn!(
                    reason,
                    fix,
                    error = ?error,
                    "not ready at start: {reason} → {fix}"
                );
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(connection_string: &str) -> Settings {
        Settings::for_tests(connection_string).expect("valid")
    }

    #[test]
    fn the_target_names_server_port_database_and_sql_login_without_the_password() {
        let line = target(&settings(
            "Server=tcp:sql01,1433;Database=QoEArchive;User Id=qoe_service;Password=S3cret!",
        ));

        assert_eq!(
            line,
            "source dbo.IntegrationLog table, server sql01, port 1433, database QoEArchive, \
             SQL login qoe_service"
        );
    }

    #[test]
    fn the_target_names_a_named_instance_and_an_ntlm_account() {
        let line = target(&settings(
            r"Server=sql01\CQD;Integrated Security=SSPI;User Id=CORP\qoe;Password=S3cret!",
        ));

        assert_eq!(
            line,
            r"source dbo.IntegrationLog table, server sql01, instance CQD, port from SQL Browser, the login's default database, NTLM as CORP\qoe"
        );
    }

    #[test]
    #[cfg(any(windows, all(unix, feature = "kerberos")))]
    fn the_target_names_the_agent_source_and_integrated_sign_in() {
        use crate::configuration::SqlAgentSettings;
        let mut settings = settings("Server=sql01.corp.example;Integrated Security=true");
        settings.integration_log.source = LogSource::SqlAgent(SqlAgentSettings {
            data_integration_step: "QoE Archive Data".into(),
            cube_processing_step: "Process Cube".into(),
            job_name: None,
            server_time_zone: chrono_tz::Tz::Europe__Berlin,
        });

        let line = target(&settings);

        assert!(line.starts_with("source SQL Server Agent history (steps `QoE Archive Data` and `Process Cube`, server time zone Europe/Berlin), server sql01.corp.example, port 1433"), "{line}");
        assert!(
            line.ends_with(if cfg!(windows) {
                "integrated (the service's own account, through Windows' SSPI (Kerberos or NTLM))"
            } else {
                "integrated (the service's own Kerberos identity)"
            }),
            "{line}"
        );
    }

    #[test]
    fn a_report_prints_one_line_per_step_with_the_fix_after_the_reason() {
        let report = Report {
            steps: vec![
                Step {
                    name: "settings",
                    outcome: Outcome::Ok("server sql01".into()),
                },
                Step {
                    name: "connect",
                    outcome: Outcome::Failed {
                        reason: "database login failed".into(),
                        fix: fix(Unavailability::LoginFailed, &LogSource::Table).into(),
                    },
                },
                Step {
                    name: "status",
                    outcome: Outcome::Skipped,
                },
            ],
        };

        assert!(!report.passed());
        assert_eq!(
            report.to_string(),
            "OK    settings: server sql01\n\
             FAIL  connect: database login failed → check User Id/Password in \
             database.connection_string, and that the login exists, is enabled and may sign in \
             this way: see README 'What a reason means and what to fix'\n\
             SKIP  status: an earlier step failed\n"
        );
    }

    #[test]
    fn a_warning_does_not_fail_the_report() {
        let report = Report {
            steps: vec![Step {
                name: "operations",
                outcome: Outcome::Warning(disabled_warning()),
            }],
        };

        assert!(report.passed());
        assert!(report
            .to_string()
            .contains("QOE_INTEGRATION_LOG__ENABLED=true"));
    }

    #[test]
    fn every_fix_names_a_setting_or_a_readme_section() {
        for kind in Unavailability::ALL {
            let fix = fix(kind, &LogSource::Table);
            assert!(
                fix.contains("database.")
                    || fix.contains("integration_log.")
                    || fix.contains("README")
                    || fix.contains("KRB5"),
                "{kind:?}: {fix}"
            );
        }
    }

    #[test]
    fn a_settings_failure_names_the_setting_and_never_its_value() {
        let error = Settings::load_from(
            None,
            [(
                "QOE_DATABASE__CONNECTION_STRING".to_owned(),
                "Server=tcp:sql01;User Id=qoe;Password=S3cret!;Encrpyt=true".to_owned(),
            )]
            .into(),
        )
        .expect_err("a misspelt key");

        let text = settings_failed(&error).to_string();

        assert!(text.starts_with("FAIL  settings: "), "{text}");
        assert!(text.contains("database.connection_string"), "{text}");
        assert!(!text.contains("S3cret!"), "{text}");
    }
}
