use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::build_info;
use crate::configuration::{env_name, key, LogFormat, Settings, ENV_PREFIX};
use crate::db::{self, migrate};
use crate::diagnosis;
use crate::healthcheck;
use crate::metrics::Counter;
use crate::platform::{self, log_file::RotatingFile};
use crate::secrets_on_disk;
use crate::startup::Application;
use crate::telemetry::{self, Sink};

/// After `--help`: where the settings are and how to test them.
fn settings_help() -> String {
    format!(
        "Settings: defaults, then the --config TOML file, then environment variables
{ENV_PREFIX}_<SECTION>__<NAME> (e.g. {}, {},
{}=true, {}=sql_agent); every setting
and its variable is in the README's 'Configuration' table.
Test a configuration before serving: qoe-data-service check [--config PATH]",
        env_name(key::CONNECTION_STRING),
        env_name(key::LISTEN),
        env_name(key::ENABLED),
        env_name(key::SOURCE),
    )
}

/// QoE Data Service: the CQD Data API's integration status, read from SQL Server.
#[derive(Debug, Parser)]
#[command(version = build_info::LONG_VERSION, about, after_help = settings_help())]
pub struct Cli {
    /// A TOML settings file; `QOE_…` environment variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    #[command(after_help = settings_help())]
    Serve,
    /// Test the configuration and judge the jobs without serving: load the settings, connect,
    /// run readiness, read one Status and judge each job; print each step, OK or the failure
    /// with the fix. Exits as a monitoring plugin: 0 OK, 1 WARNING (a job is stale),
    /// 2 CRITICAL (a job is failing or never succeeded, or the database cannot be read),
    /// 3 UNKNOWN (called wrongly).
    #[command(after_help = settings_help())]
    Check {
        /// `text`: one line per step; `plugin`: a status line with performance data (each
        /// job's newest-success age) first, for Nagios, Icinga, Zabbix, PRTG or SCOM.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Apply the database migrations (use a login that may create tables and roles).
    Migrate,
    /// Exit 0 if the server at `http.listen` answers `GET /healthz`, over HTTPS when `http.tls`
    /// is set (for container healthchecks). Reads only the `http.*` settings.
    Healthcheck,
    /// The Windows service (Windows only; on Linux, systemd runs `serve`: see the README).
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Plugin,
}

/// The process ends with this code and prints nothing more: the command has said it all.
#[derive(Debug, thiserror::Error)]
#[error("exit code {0}")]
pub struct Exit(pub u8);

/// Whether the command line asks for `check`, so that calling it wrongly exits 3 (UNKNOWN,
/// as monitors read it) rather than clap's 2 (which a monitor reads as CRITICAL).
pub fn is_check<T: AsRef<std::ffi::OsStr>>(args: &[T]) -> bool {
    args.iter().skip(1).any(|arg| arg.as_ref() == "check")
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Register the Windows service `qoe-data-service` (as an administrator): it starts
    /// automatically (delayed) as `service run --config PATH`, is restarted after a failure, and
    /// logs to `logs\qoe-data-service.log` beside the --config file.
    Install {
        /// The account it runs as: a group managed service account `DOMAIN\name$` (no
        /// password), or NT AUTHORITY\LocalService (the default, the least privilege),
        /// NT AUTHORITY\NetworkService, LocalSystem.
        #[arg(long, value_name = "DOMAIN\\name$")]
        account: Option<String>,
    },
    /// What the MSI runs after registering the service (as an administrator): writes the
    /// example settings to --config when no file is there, sets what `install` sets besides
    /// the registration (delayed start, recovery actions, the log folder), and starts it.
    Configure {
        /// The account the service was registered with (given the log folder).
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        /// `http.listen` for a settings file written now (an existing file is never changed).
        #[arg(long, value_name = "ADDRESS:PORT")]
        listen: Option<String>,
    },
    /// Remove the Windows service (stop it first: Stop-Service qoe-data-service).
    Uninstall,
    /// What the Service Control Manager starts: `serve`, logging to a file; a stop from the
    /// Service Control Manager drains like Ctrl+C. In a console, use `serve`.
    Run,
}

/// How long the last log lines of a stopping service may take to reach its file.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        if let Command::Healthcheck = self.command {
            let http = Settings::load_http(self.config.as_deref())?;
            return healthcheck::check(&http).await;
        }
        if let Command::Check { format } = self.command {
            return check(self.config.as_deref(), format).await;
        }
        if let Command::Service(command) = self.command {
            return service(command, self.config);
        }
        let settings = Settings::load(self.config.as_deref())?;
        let dropped_log_lines = telemetry::init(settings.log.format);
        match self.command {
            Command::Healthcheck | Command::Check { .. } | Command::Service(_) => {}
            Command::Serve => serve(settings, dropped_log_lines, self.config.as_deref()).await?,
            Command::Migrate => {
                let report = migrate::run(&settings.database).await?;
                if report.applied.is_empty() {
                    tracing::info!("the database is up to date; nothing to apply");
                }
                for migration in &report.applied {
                    tracing::info!(%migration, "applied");
                }
            }
        }
        Ok(())
    }
}

/// `serve`: the settings' warnings and the start line (and a warning if the settings file at
/// `config` exposes a secret), then serving until a stop is asked for; `/metrics` reports the
/// logger's `dropped_log_lines`.
async fn serve(
    settings: Settings,
    dropped_log_lines: Counter,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let application = Application::build_with_log_counter(settings.clone(), dropped_log_lines)?;
    tracing::info!(
        version = build_info::VERSION,
        listen = %settings.http.listen,
        port = application.port(),
        integration_log_enabled = settings.integration_log.enabled,
        time_zone = %settings.integration_log.time_zone,
        cache_ttl_ms = settings.cache.ttl.as_millis() as u64,
        https = settings.http.tls.is_some(),
        api_keys = if settings.http.api_keys.is_empty() { "off (open)" } else { "on" },
        cors_origins = %cors_origins(&settings.http.cors_trusted_origins),
        source = %diagnosis::source(&settings.integration_log.source),
        "serving the QoE Data Service {}: {}",
        build_info::VERSION,
        posture(&settings)
    );
    if let Some(warning) = config.and_then(secrets_on_disk::warning) {
        tracing::warn!("{warning}");
    }
    application.run_until_stopped().await?;
    Ok(())
}

/// `service …`: what each does is said on stdout; `run` returns once the service stopped.
fn service(command: ServiceCommand, config: Option<PathBuf>) -> anyhow::Result<()> {
    let said = match command {
        ServiceCommand::Install { account } => {
            platform::install_service(config.as_deref(), account.as_deref())?
        }
        ServiceCommand::Configure { account, listen } => {
            let config = config.context("service configure needs --config PATH")?;
            platform::configure_installed_service(&config, account.as_deref(), listen.as_deref())?
        }
        ServiceCommand::Uninstall => platform::uninstall_service()?,
        ServiceCommand::Run => {
            platform::run_service(Box::new(move || Box::pin(serve_as_a_service(config))))?;
            return Ok(());
        }
    };
    let _ = std::io::stdout().write_all(format!("{said}\n").as_bytes());
    Ok(())
}

/// `service run` once the Service Control Manager has started it: `serve`, with the log in a
/// file, as a service has no console; a failure to start is the log's last line.
async fn serve_as_a_service(config: Option<PathBuf>) -> anyhow::Result<()> {
    let logs = platform::service_log_directory(config.as_deref());
    let file = RotatingFile::open(&logs)
        .with_context(|| format!("opening the service's log in {}", logs.display()))?;
    let settings = Settings::load(config.as_deref());
    let format = settings
        .as_ref()
        .map_or(LogFormat::Text, |settings| settings.log.format);
    let dropped_log_lines = telemetry::init_to(format, Sink::File(Box::new(file)));
    let served = match settings {
        Ok(settings) => serve(settings, dropped_log_lines, config.as_deref()).await,
        Err(error) => Err(error.into()),
    };
    if let Err(error) = &served {
        telemetry::write_line(&format!("error: {error:#}"));
    }
    telemetry::flush(FLUSH_LIMIT);
    served
}

/// `check`: the report on stdout (logs stay off: the report says it in fewer words), the
/// monitoring-plugin state as the exit code.
async fn check(config: Option<&Path>, format: CheckFormat) -> anyhow::Result<()> {
    let loaded = Settings::load(config).and_then(|settings| Ok((db::open(&settings)?, settings)));
    let report = match loaded {
        Ok((database, settings)) => diagnosis::diagnose(&settings, database.store.as_ref()).await,
        Err(error) => diagnosis::settings_failed(&error),
    };
    let text = match format {
        CheckFormat::Text => report.to_string(),
        CheckFormat::Plugin => report.plugin_output(),
    };
    // Not `print!`: it panics when stdout is a closed pipe; the exit code still tells.
    let _ = std::io::stdout().write_all(text.as_bytes());
    match report.state() {
        diagnosis::MonitorState::Ok => Ok(()),
        state => Err(Exit(state as u8).into()),
    }
}

fn cors_origins(origins: &[String]) -> String {
    if origins.is_empty() {
        "none".to_owned()
    } else {
        origins.join(",")
    }
}

/// One sentence an operator can check at a glance: who may call, from where, over what.
pub fn posture(settings: &Settings) -> String {
    let http = &settings.http;
    format!(
        "API keys {}, CORS origins {}, TLS {}, source {}, IntegrationLog operations {}",
        if http.api_keys.is_empty() {
            "OFF (anyone who reaches the port may call)".to_owned()
        } else {
            format!(
                "on ({} keys{})",
                http.api_keys.keys().len(),
                if http.public_status {
                    "; Status and the status page without a key"
                } else {
                    ""
                }
            )
        },
        cors_origins(&http.cors_trusted_origins),
        if http.tls.is_some() { "on" } else { "off" },
        diagnosis::source(&settings.integration_log.source),
        if settings.integration_log.enabled {
            "enabled"
        } else {
            "disabled"
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;
    use secrecy::SecretString;

    use super::*;
    use crate::configuration::{ApiKeys, LogSource, SqlAgentSettings};

    fn settings() -> Settings {
        Settings::for_tests("Server=tcp:db,1433;User Id=qoe_service;Password=x").expect("valid")
    }

    #[test]
    fn the_version_names_the_target_and_whether_kerberos_is_built_in() {
        use clap::CommandFactory;
        let kerberos = if cfg!(feature = "kerberos") {
            "on"
        } else {
            "off"
        };

        let version = Cli::command().render_version();

        assert_eq!(
            version,
            format!(
                "qoe-data-service {} ({}, kerberos {kerberos})\n",
                env!("CARGO_PKG_VERSION"),
                build_info::TARGET
            )
        );
        assert!(build_info::TARGET.contains('-'), "{}", build_info::TARGET);
    }

    #[test]
    fn the_start_line_says_plainly_that_an_unkeyed_service_is_open() {
        let line = posture(&settings());

        assert!(line.contains("API keys OFF"), "{line}");
        assert!(line.contains("CORS origins none"), "{line}");
        assert!(line.contains("TLS off"), "{line}");
        assert!(line.contains("operations disabled"), "{line}");
        assert!(line.contains("source dbo.IntegrationLog table"), "{line}");
    }

    #[test]
    fn the_start_line_names_the_agent_steps_it_reads() {
        let mut settings = settings();
        settings.integration_log.source = LogSource::SqlAgent(SqlAgentSettings {
            data_integration_step: "QoE Archive Data".into(),
            cube_processing_step: "Process Cube".into(),
            job_name: Some("CQD".into()),
            server_time_zone: Tz::Europe__Moscow,
        });

        let line = posture(&settings);

        assert!(
            line.contains("source SQL Server Agent history (steps `QoE Archive Data` and `Process Cube` of job `CQD`, server time zone Europe/Moscow)"),
            "{line}"
        );
    }

    #[test]
    fn the_start_line_counts_keys_and_lists_origins_without_printing_a_key() {
        let mut settings = settings();
        settings.http.api_keys = ApiKeys::new(vec![
            SecretString::from("Key-0ne"),
            SecretString::from("Key-Tw0"),
        ])
        .expect("valid keys");
        settings.http.cors_trusted_origins = vec!["https://cqd.example.org".into()];
        settings.integration_log.enabled = true;

        let line = posture(&settings);

        assert!(line.contains("API keys on (2 keys)"), "{line}");
        settings.http.public_status = true;
        let line = posture(&settings);
        assert!(
            line.contains("API keys on (2 keys; Status and the status page without a key)"),
            "{line}"
        );
        assert!(line.contains("https://cqd.example.org"), "{line}");
        assert!(line.contains("operations enabled"), "{line}");
        assert!(!line.contains("Key-0ne"), "{line}");
    }
}

#[cfg(test)]
mod service_tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_service_refuses_a_settings_file_that_is_no_small_regular_file_at_once() {
        let dir = std::env::temp_dir().join(format!("qoe-service-settings-{}", std::process::id()));
        // A directory where the settings file should be; the log goes beside it.
        let config = dir.join("qoe.toml");
        std::fs::create_dir_all(&config).expect("temp dir");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let started = Instant::now();

        let served = runtime.block_on(serve_as_a_service(Some(config.clone())));

        let error = format!("{:#}", served.expect_err("a directory is no settings file"));
        assert!(started.elapsed() < Duration::from_secs(1), "{error}");
        assert!(error.contains(&config.display().to_string()), "{error}");
        assert!(error.contains("1048576 bytes"), "{error}");
        // Best effort: on Windows the log file opened beside the settings may still be open.
        let _ = std::fs::remove_dir_all(&dir);
    }
}
