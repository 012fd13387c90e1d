//! The Windows service, as far as it is the same on every platform: its name, the account it
//! runs as, the command line the Service Control Manager starts, and where it logs. The calls
//! to the Service Control Manager are in `windows_service.rs`; elsewhere the `service`
//! commands answer that they are for Windows.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use super::service_identity::{DISPLAY_NAME, NAME};
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
            Account::LocalService => Some(super::service_identity::DEFAULT_ACCOUNT),
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
        let mut arguments: Vec<OsString> = super::service_identity::RUN_ARGUMENTS
            .iter()
            .map(OsString::from)
            .collect();
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

/// What `service configure` did with the settings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsFile {
    /// None was there: the example was written (with `http.listen` when one was given).
    Written,
    /// The admin's file was there and stays as it is.
    Kept,
}

/// The settings file the MSI leaves: the example when no file is at `config`, with
/// `listen = '…'` under `[http]` when `listen` is given; an existing file is never touched, so an
/// upgrade keeps the admin's edits.
pub fn settings_from_example(
    config: &Path,
    example: &Path,
    listen: Option<&str>,
) -> Result<SettingsFile, ServiceError> {
    let listen = match listen.map(str::trim).filter(|listen| !listen.is_empty()) {
        Some(text) => Some(
            text.parse::<std::net::SocketAddr>()
                .map_err(|_| ServiceError::Listen(text.to_owned()))?,
        ),
        None => None,
    };
    if config.exists() {
        return Ok(SettingsFile::Kept);
    }
    let failed = |step: &'static str| {
        move |e: std::io::Error| ServiceError::Manager {
            step,
            cause: e.to_string(),
        }
    };
    let mut text =
        std::fs::read_to_string(example).map_err(failed("reading the example settings"))?;
    if let Some(listen) = listen {
        let section = text.find("\n[http]\n").map(|at| at + "\n[http]\n".len());
        let line = format!("listen = '{listen}'\n");
        match section {
            Some(at) => text.insert_str(at, &line),
            None => text.push_str(&format!("\n[http]\n{line}")),
        }
    }
    if let Some(directory) = config.parent() {
        std::fs::create_dir_all(directory).map_err(failed("creating the settings folder"))?;
    }
    std::fs::write(config, text).map_err(failed("writing the settings file"))?;
    Ok(SettingsFile::Written)
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
    #[error("listen address `{0}`: give an address and port, e.g. 0.0.0.0:8080")]
    Listen(String),
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

    fn example_and_target(name: &str) -> (PathBuf, PathBuf) {
        let directory = std::env::temp_dir().join(format!("qoe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).expect("temp dir");
        let example = directory.join("qoe.example.toml");
        std::fs::write(
            &example,
            "[database]\n\n[http]\n# listen = '127.0.0.1:8080'\n",
        )
        .expect("example");
        (example, directory.join("settings").join("qoe.toml"))
    }

    #[test]
    fn a_first_install_writes_the_example_with_the_listen_address_given() {
        let (example, config) = example_and_target("first-install");

        let done = settings_from_example(&config, &example, Some("0.0.0.0:8080")).expect("written");

        assert_eq!(done, SettingsFile::Written);
        let written = std::fs::read_to_string(&config).expect("settings");
        assert_eq!(
            written,
            "[database]\n\n[http]\nlisten = '0.0.0.0:8080'\n# listen = '127.0.0.1:8080'\n"
        );
    }

    #[test]
    fn an_upgrade_never_touches_the_admins_settings_file() {
        let (example, config) = example_and_target("upgrade");
        std::fs::create_dir_all(config.parent().expect("parent")).expect("dir");
        std::fs::write(&config, "# edited by the admin\n").expect("settings");

        let done = settings_from_example(&config, &example, Some("0.0.0.0:9090")).expect("kept");

        assert_eq!(done, SettingsFile::Kept);
        assert_eq!(
            std::fs::read_to_string(&config).expect("settings"),
            "# edited by the admin\n"
        );
    }

    #[test]
    fn a_listen_address_that_is_not_one_is_refused_before_anything_is_written() {
        let (example, config) = example_and_target("bad-listen");

        let message = settings_from_example(&config, &example, Some("port 8080"))
            .expect_err("refused")
            .to_string();

        assert!(message.contains("port 8080"), "{message}");
        assert!(!config.exists());
        assert_eq!(
            settings_from_example(&config, &example, Some("")).expect("no address"),
            SettingsFile::Written
        );
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
