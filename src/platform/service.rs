//! The Windows service, as far as it is the same on every platform: its name, the account it
//! runs as, the command line the Service Control Manager starts, and where it logs. The calls
//! to the Service Control Manager are in `windows_service.rs`; elsewhere the `service`
//! commands answer that they are for Windows.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The service's name, as `Start-Service`, `sc.exe` and the Services console know it.
pub const NAME: &str = "qoe-data-service";
pub const DISPLAY_NAME: &str = "QoE Data Service";
pub const DESCRIPTION: &str = env!("CARGO_PKG_DESCRIPTION");

/// The account the service runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Account {
    /// `NT AUTHORITY\LocalService`, the default: the least privilege Windows offers (no
    /// administrator rights, anonymous on the network). Enough for a SQL login or NTLM with a
    /// password; `Integrated Security` needs an account the domain knows.
    #[default]
    LocalService,
    /// `NT AUTHORITY\NetworkService`: signs in to SQL Server as the computer (`DOMAIN\HOST$`).
    NetworkService,
    /// `LocalSystem`: every right on the machine; accepted, never advised.
    LocalSystem,
    /// `DOMAIN\name$`: a group managed service account; Windows keeps and rotates its password.
    Managed(String),
}

impl Account {
    /// Reads `--account`: a gMSA or one of the built-in service accounts, none of which has a
    /// password to give. A user account is refused: its password would have to go on the
    /// command line.
    pub fn parse(text: &str) -> Result<Account, ServiceError> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let bare = lower
            .strip_prefix("nt authority\\")
            .or_else(|| lower.strip_prefix(".\\"))
            .unwrap_or(&lower);
        match bare {
            "localservice" | "local service" => return Ok(Account::LocalService),
            "networkservice" | "network service" => return Ok(Account::NetworkService),
            "localsystem" | "system" => return Ok(Account::LocalSystem),
            _ => {}
        }
        match text.split_once('\\') {
            Some((domain, name))
                if !domain.is_empty()
                    && domain != "."
                    && name.len() > 1
                    && name.ends_with('$')
                    && !name.contains(['\\', '/', '@']) =>
            {
                Ok(Account::Managed(text.to_owned()))
            }
            _ => Err(ServiceError::AccountWithPassword(text.to_owned())),
        }
    }

    /// The name the Service Control Manager takes (`None` is LocalSystem).
    pub fn manager_name(&self) -> Option<&str> {
        match self {
            Account::LocalService => Some("NT AUTHORITY\\LocalService"),
            Account::NetworkService => Some("NT AUTHORITY\\NetworkService"),
            Account::LocalSystem => None,
            Account::Managed(name) => Some(name),
        }
    }

    /// The name to show and to grant the log directory to.
    pub fn name(&self) -> &str {
        self.manager_name().unwrap_or("LocalSystem")
    }
}

/// What `service install` registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The settings file, as an absolute path (the service does not start in its directory).
    pub config: Option<PathBuf>,
    pub account: Account,
}

impl Install {
    /// Checks `--config` (it must exist; made absolute) and `--account`.
    pub fn new(config: Option<&Path>, account: Option<&str>) -> Result<Install, ServiceError> {
        let config = match config {
            None => None,
            Some(path) => {
                let absolute = std::path::absolute(path)
                    .map_err(|_| ServiceError::NoConfig(path.to_owned()))?;
                if !absolute.is_file() {
                    return Err(ServiceError::NoConfig(absolute));
                }
                Some(absolute)
            }
        };
        let account = match account {
            Some(text) => Account::parse(text)?,
            None => Account::default(),
        };
        Ok(Install { config, account })
    }

    /// The arguments the Service Control Manager starts the binary with.
    pub fn arguments(&self) -> Vec<OsString> {
        let mut arguments: Vec<OsString> = vec!["service".into(), "run".into()];
        if let Some(config) = &self.config {
            arguments.push("--config".into());
            arguments.push(config.into());
        }
        arguments
    }
}

/// Where the service logs: `logs` beside the settings file, or without one under
/// `program_data` (`%ProgramData%\qoe-data-service\logs`).
pub fn log_directory(config: Option<&Path>, program_data: &Path) -> PathBuf {
    match config.and_then(Path::parent) {
        Some(directory) if !directory.as_os_str().is_empty() => directory.join("logs"),
        _ => program_data.join(NAME).join("logs"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "`service` installs and runs the Windows service, on Windows only; on Linux run the \
         service under systemd (deploy/systemd/qoe-data-service.service, README 'Install')"
    )]
    OnlyOnWindows,
    #[error(
        "--account {0}: give a group managed service account (DOMAIN\\name$, no password), \
         NT AUTHORITY\\LocalService (the default), NT AUTHORITY\\NetworkService or LocalSystem. \
         A user account needs its password, which this command does not take: install, then \
         set the account and password in services.msc (Log On)"
    )]
    AccountWithPassword(String),
    #[error("--config {0}: no such file (write the settings first, then install)")]
    NoConfig(PathBuf),
    #[error(
        "`service run` is what the Service Control Manager starts; start the service with \
         `Start-Service {NAME}`, or serve in this console with `serve`"
    )]
    NotStartedByTheServiceManager,
    #[error("the service {NAME} is {0}: stop it first (`Stop-Service {NAME}`)")]
    StillRunning(String),
    #[error("{step}: {cause}")]
    Manager { step: &'static str, cause: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_managed_service_account_is_taken_as_given_without_a_password() {
        for name in ["CORP\\qoe-svc$", "corp.example\\QOE$"] {
            let account = Account::parse(name).expect(name);

            assert_eq!(account, Account::Managed(name.to_owned()));
            assert_eq!(account.manager_name(), Some(name));
        }
    }

    #[test]
    fn the_built_in_accounts_are_known_by_their_usual_names() {
        for (text, account) in [
            ("NT AUTHORITY\\LocalService", Account::LocalService),
            ("LocalService", Account::LocalService),
            ("nt authority\\local service", Account::LocalService),
            ("NT AUTHORITY\\NetworkService", Account::NetworkService),
            ("NetworkService", Account::NetworkService),
            ("LocalSystem", Account::LocalSystem),
            (".\\LocalSystem", Account::LocalSystem),
            ("NT AUTHORITY\\SYSTEM", Account::LocalSystem),
        ] {
            assert_eq!(Account::parse(text).expect(text), account, "{text}");
        }
        assert_eq!(Account::LocalSystem.manager_name(), None);
        assert_eq!(
            Account::NetworkService.manager_name(),
            Some("NT AUTHORITY\\NetworkService")
        );
    }

    #[test]
    fn the_default_account_is_local_service() {
        let install = Install::new(None, None).expect("valid");

        assert_eq!(install.account, Account::LocalService);
        assert_eq!(
            install.account.manager_name(),
            Some("NT AUTHORITY\\LocalService")
        );
    }

    #[test]
    fn an_account_that_needs_a_password_is_refused_naming_what_to_give() {
        for text in [
            "CORP\\qoe_service",
            "qoe-svc$",
            ".\\qoe$",
            "\\qoe$",
            "CORP\\$",
            "qoe@corp.example",
        ] {
            let message = Account::parse(text).expect_err(text).to_string();

            assert!(message.contains("DOMAIN\\name$"), "{text}: {message}");
            assert!(message.contains("LocalService"), "{text}: {message}");
        }
    }

    #[test]
    fn the_service_is_started_as_service_run_with_the_absolute_settings_path() {
        let directory = std::env::temp_dir().join(format!("qoe-install-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let config = directory.join("qoe.toml");
        std::fs::write(&config, "").expect("settings file");

        let install = Install::new(Some(&config), None).expect("valid");
        let without = Install::new(None, None).expect("valid");

        assert_eq!(
            install.arguments(),
            ["service", "run", "--config"]
                .map(OsString::from)
                .into_iter()
                .chain([config.into_os_string()])
                .collect::<Vec<_>>()
        );
        assert_eq!(without.arguments(), ["service", "run"].map(OsString::from));
    }

    #[test]
    fn a_settings_file_that_does_not_exist_is_refused_at_install() {
        let missing = std::env::temp_dir()
            .join("qoe-no-such-dir")
            .join("qoe.toml");

        let message = Install::new(Some(&missing), None)
            .expect_err("refused")
            .to_string();

        assert!(message.contains("no such file"), "{message}");
        assert!(message.contains("qoe.toml"), "{message}");
    }

    #[test]
    fn the_log_goes_to_logs_beside_the_settings_file_or_under_program_data() {
        let program_data = Path::new("/programdata");
        let config = std::env::temp_dir().join("qoe").join("qoe.toml");

        assert_eq!(
            log_directory(Some(&config), program_data),
            std::env::temp_dir().join("qoe").join("logs")
        );
        assert_eq!(
            log_directory(None, program_data),
            program_data.join("qoe-data-service").join("logs")
        );
        assert_eq!(
            log_directory(Some(Path::new("qoe.toml")), program_data),
            program_data.join("qoe-data-service").join("logs")
        );
    }
}
