//! Where the service connects and whether it works there, in words an admin acts on: the start
//! lines `serve` logs, and the report `check` prints (each step OK, or the reason and the fix
//! in setting names). A leaf: it reads settings and asks a store, nothing imports it back.
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::configuration::{env_name, key, LogSource, Settings, SettingsError, SignIn};
use crate::domain::{Freshness, IntegrationStatus, Job, JobState, JobVerdict, StatusRead};
use crate::status_html::{duration_words, local_time, shortened};
use crate::store::{
    with_failure_messages, IntegrationLogStore, NotReady, StoreError, Unavailability,
};

/// What to do while `integration_log.enabled` is `false`, in the words of both setting forms.
fn enable() -> String {
    format!(
        "set `{} = true` (or `{}=true`)",
        key::ENABLED,
        env_name(key::ENABLED)
    )
}

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
        "{} is false: Status, Integration Log and the status page answer 200 with an empty \
         body and read nothing; {} to serve them",
        key::ENABLED,
        enable()
    )
}

/// What the admin must change when the database answers with `kind`, in setting names.
pub fn fix(kind: Unavailability, source: &LogSource) -> &'static str {
    match kind {
        Unavailability::NameNotResolved => {
            "check the host name in `Server=` of database.connection_string: this machine's DNS \
             does not know it (`nslookup <host>` here); write the server's fully qualified name, \
             or its IP address"
        }
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
            "the server ended or refused the TLS handshake, or does not offer what `Encrypt=` in \
             database.connection_string asks: SQL Server encrypts the login even with \
             `Encrypt=False`/`Optional`, so enable TLS 1.2 on the server (SQL Server 2012/2014 \
             need their TLS 1.2 update) and give it a certificate; `Encrypt=strict` needs SQL \
             Server 2022 (else `Encrypt=True`); `Encrypt=True` needs a server that offers TLS: \
             see README 'What a reason means and what to fix'"
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

/// The step that judges the jobs: its warnings (a stale job) make the check WARNING.
const JOBS: &str = "jobs";

/// How long a failure's message may be in a report line.
const MESSAGE_LIMIT: usize = 300;

/// The steps in order; printed one line each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub steps: Vec<Step>,
    /// Each judged job's newest success, for the monitors' performance data.
    pub ages: Vec<JobAge>,
}

/// How old a job's newest success is, against the stale threshold, in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAge {
    pub job: Job,
    /// `None`: no success recorded.
    pub seconds: Option<i64>,
    pub stale_after: i64,
}

/// The monitoring-plugin states (Nagios, Icinga, Zabbix, PRTG, SCOM): the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MonitorState {
    Ok = 0,
    /// A job is stale.
    Warning = 1,
    /// A job is failing or never succeeded, or the service cannot read (settings, connection,
    /// readiness).
    Critical = 2,
    /// The check could not judge: it was called wrongly.
    Unknown = 3,
}

impl MonitorState {
    pub fn word(self) -> &'static str {
        match self {
            MonitorState::Ok => "OK",
            MonitorState::Warning => "WARNING",
            MonitorState::Critical => "CRITICAL",
            MonitorState::Unknown => "UNKNOWN",
        }
    }
}

impl Report {
    pub fn passed(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|step| matches!(step.outcome, Outcome::Failed { .. }))
    }

    /// CRITICAL on any failed step, WARNING on a stale job, OK otherwise. The `operations`
    /// warning (the API is disabled) is advice: the jobs are judged all the same.
    pub fn state(&self) -> MonitorState {
        let state_of = |step: &Step| match step.outcome {
            Outcome::Failed { .. } => MonitorState::Critical,
            Outcome::Warning(_) if step.name == JOBS => MonitorState::Warning,
            _ => MonitorState::Ok,
        };
        self.steps
            .iter()
            .map(state_of)
            .max()
            .unwrap_or(MonitorState::Ok)
    }

    /// The monitoring-plugin output: one status line naming what is wrong, `|` and each job's
    /// newest-success age (`'label'=value[UOM];warn;crit;min`), then the report as long output.
    pub fn plugin_output(&self) -> String {
        let state = self.state();
        let named = |step: &Step, text: &str| match step.name {
            JOBS => text.to_owned(),
            name => format!("{name}: {text}"),
        };
        // Worst first: what a monitor's one line shows must lead with the CRITICAL part.
        let failures = self.steps.iter().filter_map(|step| match &step.outcome {
            Outcome::Failed { reason, .. } => Some(named(step, reason)),
            _ => None,
        });
        let warnings = self.steps.iter().filter_map(|step| match &step.outcome {
            Outcome::Warning(detail) if step.name == JOBS => Some(named(step, detail)),
            _ => None,
        });
        let problems: Vec<String> = failures.chain(warnings).collect();
        let summary = if problems.is_empty() {
            match self.ages.len() {
                0 => "the service can read the integration log".to_owned(),
                _ => "every job's newest run succeeded, recently enough".to_owned(),
            }
        } else {
            problems.join("; ")
        };
        let perf: Vec<String> = self
            .ages
            .iter()
            .filter_map(|age| {
                Some(format!(
                    "{}_success_age={}s;{};;0",
                    age.job.metric_label(),
                    age.seconds?,
                    age.stale_after
                ))
            })
            .collect();
        let mut text = format!("QOE {} - {summary}", state.word());
        if !perf.is_empty() {
            text.push_str(" | ");
            text.push_str(&perf.join(" "));
        }
        text.push('\n');
        text.push_str(&self.to_string());
        text
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
    for warning in &settings.warnings {
        report.push("settings", Outcome::Warning(warning.clone()));
    }
    if !settings.integration_log.enabled {
        report.push("operations", Outcome::Warning(disabled_warning()));
    }
    if let Err(error) = store.ping().await {
        report.failed("connect", &error, source);
        report.push("readiness", Outcome::Skipped);
        report.push("status", Outcome::Skipped);
        report.push(JOBS, Outcome::Skipped);
        return report;
    }
    report.push("connect", Outcome::Ok("SQL Server answers".to_owned()));
    match store.readiness().await {
        Ok(reasons) if reasons.is_empty() => report.push("readiness", Outcome::Ok("ready".into())),
        Ok(reasons) => {
            for NotReady { reason, fix, .. } in reasons {
                report.push("readiness", Outcome::Failed { reason, fix });
            }
        }
        Err(error) => report.failed("readiness", &error, source),
    }
    match store.status_read().await {
        Ok(read) => {
            report.push(
                "status",
                Outcome::Ok(format!("read, {} job runs found", read.runs.len())),
            );
            let status = IntegrationStatus::from_entries(read.entries.iter().copied());
            let read = with_failure_messages(store, &status, &read).await;
            judge_jobs(&mut report, settings, &status, &read, Utc::now());
        }
        Err(error) => {
            report.failed("status", &error, source);
            report.push(JOBS, Outcome::Skipped);
        }
    }
    report
}

/// One `jobs` line per job: OK, stale (a warning), failing or never succeeded (failures).
fn judge_jobs(
    report: &mut Report,
    settings: &Settings,
    status: &IntegrationStatus,
    read: &StatusRead,
    now: DateTime<Utc>,
) {
    let log = &settings.integration_log;
    for verdict in status.verdicts(now, log.stale_after) {
        report.ages.push(JobAge {
            job: verdict.job,
            seconds: match verdict.freshness {
                Freshness::Fresh { age } | Freshness::Stale { age } => Some(age.num_seconds()),
                Freshness::NeverSucceeded => None,
            },
            stale_after: log.stale_after.num_seconds(),
        });
        let outcome = job_outcome(&verdict, read, settings, now);
        report.push(JOBS, outcome);
    }
}

fn job_outcome(
    verdict: &JobVerdict,
    read: &StatusRead,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Outcome {
    let log = &settings.integration_log;
    let job = job_words(verdict.job);
    let success_age = match verdict.freshness {
        Freshness::Fresh { age } | Freshness::Stale { age } => {
            format!("newest success {} ago", duration_words(age))
        }
        Freshness::NeverSucceeded => "no success recorded".to_owned(),
    };
    match (verdict.state(), verdict.failing_since) {
        (JobState::Failing, Some(failure)) => {
            let message = read
                .failure_message(verdict.job, failure)
                .map(|message| format!(": {}", shortened(message, MESSAGE_LIMIT).0))
                .unwrap_or_default();
            Outcome::Failed {
                reason: format!(
                    "{job} failing: its newest run failed at {} ({} ago){message}; {} of its last \
                     {} runs failed; {success_age}",
                    local_time(failure, log.time_zone),
                    duration_words(now - failure),
                    verdict.failed_of_last,
                    verdict.of_last,
                ),
                fix: "the fix is in the job, not in this service: read the message in the SQL \
                      Server Agent job history on the CQD SQL Server (or GET \
                      /QoEDataService/IntegrationLog?category=…Failed)"
                    .to_owned(),
            }
        }
        (JobState::NeverSucceeded | JobState::Failing, _) => Outcome::Failed {
            reason: format!("{job} never succeeded: the integration log holds no success of it"),
            fix: match &log.source {
                LogSource::Table => {
                    "check that the job's steps call dbo.WriteIntegrationLog: \
                                     see README 'How the jobs write entries'"
                }
                LogSource::SqlAgent(_) => {
                    "check that integration_log.sql_agent.\
                                           data_integration_step and cube_processing_step name \
                                           CQD's steps, and the SQL Server Agent job history"
                }
            }
            .to_owned(),
        },
        (JobState::Stale, _) => Outcome::Warning(format!(
            "{job} stale: {success_age}, longer than integration_log.stale_after_minutes ({}); \
             check that its SQL Server Agent job is enabled and scheduled",
            duration_words(log.stale_after)
        )),
        (JobState::Ok, _) => Outcome::Ok(format!("{job} OK: {success_age}")),
    }
}

fn job_words(job: Job) -> &'static str {
    match job {
        Job::DataIntegration => "data integration",
        Job::CubeProcessing => "cube processing",
    }
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
                for NotReady {
                    setting,
                    reason,
                    fix,
                    ..
                } in reasons
                {
                    tracing::warn!(setting, reason, fix, "not ready at start: {reason} → {fix}");
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
            ..Report::default()
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
            ..Report::default()
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

    fn judged(entries: Vec<crate::domain::CategoryTime>) -> Report {
        let mut report = Report::default();
        let read = StatusRead::from_entries(entries);
        let status = IntegrationStatus::from_entries(read.entries.iter().copied());
        judge_jobs(
            &mut report,
            &settings("Server=tcp:sql01;User Id=qoe;Password=x"),
            &status,
            &read,
            crate::domain::test_support::utc("2015-01-18 10:40:00"),
        );
        report
    }

    #[test]
    fn fresh_jobs_are_ok_and_the_plugin_line_gives_each_age_against_the_threshold() {
        use crate::domain::test_support::entry;
        use crate::domain::LogCategory::*;
        let report = judged(vec![
            entry(DataIntegrationSucceeded, "2015-01-18 10:30:00"),
            entry(CubeProcessingSucceeded, "2015-01-18 10:35:00"),
        ]);

        assert_eq!(report.state(), MonitorState::Ok);
        assert_eq!(
            report.plugin_output().lines().next(),
            Some(
                "QOE OK - every job's newest run succeeded, recently enough | \
                 data_integration_success_age=600s;1800;;0 cube_processing_success_age=300s;1800;;0"
            )
        );
        assert!(report
            .to_string()
            .contains("OK    jobs: data integration OK: newest success 10 min ago\n"));
    }

    #[test]
    fn a_stale_job_warns_and_a_failing_one_is_critical_with_its_time_and_message() {
        use crate::domain::test_support::entry;
        use crate::domain::LogCategory::*;
        let stale = judged(vec![
            entry(DataIntegrationSucceeded, "2015-01-18 10:30:00"),
            entry(CubeProcessingSucceeded, "2015-01-18 08:00:00"),
        ]);
        let failing = judged(vec![
            entry(DataIntegrationSucceeded, "2015-01-18 10:30:00"),
            entry(DataIntegrationFailed, "2015-01-18 10:35:00"),
            entry(CubeProcessingSucceeded, "2015-01-18 08:00:00"),
        ]);

        assert_eq!(stale.state(), MonitorState::Warning);
        assert!(
            stale
                .plugin_output()
                .starts_with("QOE WARNING - cube processing stale: newest success 2 h 40 min ago"),
            "{}",
            stale.plugin_output()
        );
        assert_eq!(failing.state(), MonitorState::Critical);
        assert!(
            failing.to_string().contains(
                "FAIL  jobs: data integration failing: its newest run failed at 2015-01-18 \
                 10:35:00 UTC (5 min ago); 1 of its last 2 runs failed"
            ),
            "{failing}"
        );
    }

    #[test]
    fn a_job_with_no_outcome_never_succeeded_and_is_critical_without_an_age() {
        let report = judged(Vec::new());

        assert_eq!(report.state(), MonitorState::Critical);
        assert!(report
            .to_string()
            .contains("FAIL  jobs: cube processing never succeeded"));
        assert!(!report.plugin_output().contains('|'), "no age to report");
    }

    #[test]
    fn the_disabled_operations_warning_is_advice_not_a_warning_state() {
        let report = Report {
            steps: vec![Step {
                name: "operations",
                outcome: Outcome::Warning(disabled_warning()),
            }],
            ..Report::default()
        };

        assert_eq!(report.state(), MonitorState::Ok);
    }
}
