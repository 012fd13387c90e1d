//! The Windows service: `service install`, `service uninstall`, and the entry the Service
//! Control Manager starts (`service run`). A stop from the Service Control Manager, or the
//! system shutting down, asks to drain as Ctrl+C does ([`super::request_stop`]).
use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use super::service::{
    settings_from_example, Account, Install, ServiceError, SettingsFile, DESCRIPTION, DISPLAY_NAME,
    NAME,
};
use super::service_identity::EXAMPLE_SETTINGS_FILE;
use super::Serve;

/// `service run` started from a console, not by the Service Control Manager.
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_EXISTS: i32 = 1073;
/// A service setting this service manager does not know.
const ERROR_INVALID_LEVEL: i32 = 124;
const DELAYED_START: &str = "the delayed automatic start";

/// After a failure: restart after 10 s, then after a minute, then no more until a day without
/// failure (a wrong setting fails every start alike; its log says why).
fn recovery() -> ServiceFailureActions {
    let restart = |seconds| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(seconds),
    };
    ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 60 * 60)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![
            restart(10),
            restart(60),
            ServiceAction {
                action_type: ServiceActionType::None,
                delay: Duration::ZERO,
            },
        ]),
    }
}

pub(super) fn install_service(
    config: Option<&Path>,
    account: Option<&str>,
) -> Result<String, ServiceError> {
    let install = Install::new(config, account)?;
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(failed(
        "connecting to the Service Control Manager (run this as an administrator)",
    ))?;
    let executable = std::env::current_exe().map_err(|e| ServiceError::Manager {
        step: "finding this program's path",
        cause: e.to_string(),
    })?;
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: executable.clone(),
        launch_arguments: install.arguments(),
        dependencies: Vec::new(),
        account_name: install.account.manager_name().map(OsString::from),
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::DELETE)
        .map_err(|error| match os_error(&error) {
            Some(ERROR_SERVICE_EXISTS) => ServiceError::Manager {
                step: "registering the service",
                cause: format!(
                    "{NAME} is installed already: `{NAME} service uninstall` first to change it"
                ),
            },
            _ => failed("registering the service")(error),
        })?;
    let logs = super::service_log_directory(install.config.as_deref());
    let unsupported = match configure(&service, &install.account, &logs) {
        Ok(unsupported) => unsupported,
        Err(error) => {
            // All or nothing: a half-configured service would start at the next boot.
            let _ = service.delete();
            return Err(error);
        }
    };
    let mut said = format!(
        "installed the service {NAME} ({DISPLAY_NAME}) to run as {account}\n  command: \
         \"{executable}\" {arguments}\n  start: {start}; after a failure: restart after 10 s, \
         then 60 s, then not until a day without failure\n  log: {log}",
        start = if unsupported.contains(&DELAYED_START) {
            "automatic"
        } else {
            "automatic (delayed)"
        },
        account = install.account.name(),
        executable = executable.display(),
        arguments = install
            .arguments()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        log = logs.join(super::log_file::FILE_NAME).display(),
    );
    for setting in unsupported {
        said.push_str(&format!(
            "\n  not set: {setting} (this service manager does not support it)"
        ));
    }
    said.push_str(&format!(
        "\nstart it: Start-Service {NAME} (or sc.exe start {NAME})"
    ));
    Ok(said)
}

/// `service configure`: what the MSI runs once it has registered the service, so that an MSI
/// install ends as `service install` does: the settings file from the example when none is
/// there, then [`configure`] (delayed start, recovery actions, the log folder for the account),
/// then a start. The start is not waited for: a service without a connection string yet stops
/// at once with the reason last in its log, and the install still succeeds.
pub(super) fn configure_installed_service(
    config: &Path,
    account: Option<&str>,
    listen: Option<&str>,
) -> Result<String, ServiceError> {
    let example = std::env::current_exe()
        .map_err(|e| ServiceError::Manager {
            step: "finding this program's path",
            cause: e.to_string(),
        })?
        .with_file_name(EXAMPLE_SETTINGS_FILE);
    let settings = settings_from_example(config, &example, listen)?;
    // The MSI has registered the account already; one set later in services.msc (a user
    // account) is not refused here, only given the log folder.
    let account = account.map_or(Account::default(), |text| {
        Account::parse(text).unwrap_or_else(|_| Account::Managed(text.trim().to_owned()))
    });
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(failed("connecting to the Service Control Manager"))?;
    let service = manager
        .open_service(
            NAME,
            ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS,
        )
        .map_err(failed("opening the service"))?;
    let logs = super::service_log_directory(Some(config));
    let unsupported = configure(&service, &account, &logs)?;
    let mut said = match settings {
        SettingsFile::Written => format!("wrote {} from the example", config.display()),
        SettingsFile::Kept => format!("kept {} as it is", config.display()),
    };
    for setting in unsupported {
        said.push_str(&format!(
            "\nnot set: {setting} (this service manager does not support it)"
        ));
    }
    match service.start::<&str>(&[]) {
        Ok(()) => said.push_str(&format!("\nstarted {NAME}")),
        Err(error) => said.push_str(&format!(
            "\nnot started: {}; fix it, then Start-Service {NAME}",
            failed("starting the service")(error)
        )),
    }
    Ok(said)
}

/// Everything `service install` sets besides the registration itself; the settings this
/// service manager does not know (Windows' knows all; Wine's lacks the delayed start) are
/// returned, not failed on.
fn configure(
    service: &windows_service::service::Service,
    account: &Account,
    logs: &Path,
) -> Result<Vec<&'static str>, ServiceError> {
    let mut unsupported = Vec::new();
    let mut optional = |setting: &'static str, result: windows_service::Result<()>| match result {
        Err(error) if os_error(&error) == Some(ERROR_INVALID_LEVEL) => {
            unsupported.push(setting);
            Ok(())
        }
        other => other.map_err(failed(setting)),
    };
    service
        .set_description(DESCRIPTION)
        .map_err(failed("the description"))?;
    // Delayed: the service needs the network, the domain and SQL Server, not an early start.
    optional(DELAYED_START, service.set_delayed_auto_start(true))?;
    optional(
        "the recovery actions",
        service.update_failure_actions(recovery()),
    )?;
    // A start that fails on a setting exits with an error code rather than crashing.
    optional(
        "the recovery actions for a start that fails",
        service.set_failure_actions_on_non_crash_failures(true),
    )?;
    std::fs::create_dir_all(logs).map_err(|e| ServiceError::Manager {
        step: "creating the log directory",
        cause: format!("{}: {e}", logs.display()),
    })?;
    grant_writing(logs, account)?;
    Ok(unsupported)
}

/// The service's account may write its log directory (SYSTEM may already). Built-in accounts
/// by SID: their names are translated on a non-English Windows.
fn grant_writing(directory: &Path, account: &Account) -> Result<(), ServiceError> {
    let grantee = match account {
        Account::LocalSystem => return Ok(()),
        Account::LocalService => "*S-1-5-19",
        Account::NetworkService => "*S-1-5-20",
        Account::Managed(name) => name,
    };
    let step = "letting the service's account write its log directory (icacls)";
    let output = std::process::Command::new("icacls")
        .arg(directory)
        .arg("/grant")
        .arg(format!("{grantee}:(OI)(CI)M"))
        .output()
        .map_err(|e| ServiceError::Manager {
            step,
            cause: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ServiceError::Manager {
            step,
            cause: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        })
    }
}

pub(super) fn uninstall_service() -> Result<String, ServiceError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(failed(
            "connecting to the Service Control Manager (run this as an administrator)",
        ))?;
    let service = manager
        .open_service(NAME, ServiceAccess::QUERY_STATUS | ServiceAccess::DELETE)
        .map_err(|error| match os_error(&error) {
            Some(ERROR_SERVICE_DOES_NOT_EXIST) => ServiceError::Manager {
                step: "opening the service",
                cause: format!("{NAME} is not installed"),
            },
            _ => failed("opening the service")(error),
        })?;
    let state = service
        .query_status()
        .map_err(failed("asking the service's state"))?
        .current_state;
    if state != ServiceState::Stopped {
        return Err(ServiceError::StillRunning(
            format!("{state:?}").to_ascii_lowercase(),
        ));
    }
    service.delete().map_err(failed("removing the service"))?;
    Ok(format!(
        "removed the service {NAME}; its settings and log files stay where they are"
    ))
}

/// What `service_main` runs, handed over by [`run_service`] (the dispatcher calls a plain
/// function).
static SERVE: Mutex<Option<Serve>> = Mutex::new(None);
/// Whether the service reported itself stopped; the stop heartbeat ends then.
static STOPPED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
/// The first stop starts the heartbeat; later ones only ask again.
static STOPPING: AtomicBool = AtomicBool::new(false);
static STATUS: OnceLock<service_control_handler::ServiceStatusHandle> = OnceLock::new();

pub(super) fn run_service(serve: Serve) -> Result<(), ServiceError> {
    *SERVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(serve);
    // Blocks until the service has stopped.
    service_dispatcher::start(NAME, ffi_service_main).map_err(|error| match os_error(&error) {
        Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) => {
            ServiceError::NotStartedByTheServiceManager
        }
        _ => failed("connecting to the Service Control Manager")(error),
    })
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    let Some(serve) = SERVE.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        return;
    };
    let Ok(status) = service_control_handler::register(NAME, on_control) else {
        return;
    };
    let _ = STATUS.set(status);
    set_status(ServiceState::Running, 0, ServiceExitCode::NO_ERROR);
    let served = actix_rt::System::new().block_on(serve());
    let exit = match served {
        Ok(()) => ServiceExitCode::NO_ERROR,
        Err(_) => ServiceExitCode::ServiceSpecific(1),
    };
    let mut stopped = STOPPED.0.lock().unwrap_or_else(PoisonError::into_inner);
    *stopped = true;
    set_status(ServiceState::Stopped, 0, exit);
    STOPPED.1.notify_all();
}

fn on_control(control: ServiceControl) -> ServiceControlHandlerResult {
    match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            tracing::info!(
                "the Service Control Manager asks the service to stop ({control:?}): draining"
            );
            if !STOPPING.swap(true, Ordering::AcqRel) {
                std::thread::spawn(stop_heartbeat);
            }
            super::request_stop();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    }
}

/// While the service drains (up to `http.shutdown_timeout_s`), tells the Service Control
/// Manager every few seconds that the stop is progressing, so it does not take the service for
/// hung.
fn stop_heartbeat() {
    let (lock, stopped_changed) = &STOPPED;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let mut checkpoint = 1;
    while !*stopped {
        set_status(
            ServiceState::StopPending,
            checkpoint,
            ServiceExitCode::NO_ERROR,
        );
        checkpoint += 1;
        stopped = stopped_changed
            .wait_timeout(stopped, Duration::from_secs(3))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn set_status(state: ServiceState, checkpoint: u32, exit_code: ServiceExitCode) {
    let Some(status) = STATUS.get() else {
        return;
    };
    let controls_accepted = match state {
        ServiceState::Running => ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        _ => ServiceControlAccept::empty(),
    };
    let _ = status.set_service_status(ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted,
        exit_code,
        checkpoint,
        wait_hint: Duration::from_secs(10),
        process_id: None,
    });
}

fn os_error(error: &windows_service::Error) -> Option<i32> {
    match error {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

fn failed(step: &'static str) -> impl Fn(windows_service::Error) -> ServiceError {
    move |error| ServiceError::Manager {
        step,
        cause: match &error {
            windows_service::Error::Winapi(io) => io.to_string(),
            other => other.to_string(),
        },
    }
}
