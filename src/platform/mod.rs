//! What differs by operating system, behind one small API, so that the rest of the code carries
//! no `cfg`: the signals that stop the service, the signals it ignores, the listening socket's
//! options, and the integrated sign-in each platform (and build) offers. `unix.rs` and
//! `windows.rs` each implement the same private functions.
//!
//! The Windows service (install, uninstall, and the entry the Service Control Manager starts,
//! whose stop calls [`request_stop`] and drains like SIGTERM) is `windows_service.rs`; on other
//! systems the same calls answer that they are for Windows. A service has no console: it logs to
//! a [`log_file::RotatingFile`] in [`service_log_directory`].
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::LazyLock;

use tokio::sync::Notify;

#[cfg(unix)]
#[path = "unix.rs"]
mod os;
#[cfg(windows)]
#[path = "windows.rs"]
mod os;

/// Who besides the owner may read a file, from mode bits or an `icacls` listing.
pub mod file_readers;
/// The log file of a service without a console, rotated by size.
pub mod log_file;
/// The Windows service's name, account, command line and log place (the same everywhere).
pub mod service;
/// The service's name, arguments and default account, shared with the MSI's build.
pub mod service_identity;
/// The integrated sign-in to SQL Server: Windows' SSPI, or GSSAPI Kerberos on Unix.
pub mod sign_in;
#[cfg(windows)]
mod windows_service;

use service::ServiceError;

/// Stops asked for from inside the process (a service manager's stop), not by a signal.
static STOP: LazyLock<Notify> = LazyLock::new(Notify::new);

/// How a stop was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stop accepting and let in-flight requests finish (within `http.shutdown_timeout_s`).
    Drain,
    /// Stop at once, cutting off what is in flight (SIGQUIT).
    Now,
}

/// Resolves at the first request to stop: SIGTERM or SIGINT (Ctrl+C) on Unix, Ctrl+C or
/// Ctrl+Break on Windows, or [`request_stop`], each asking to drain; or SIGQUIT, to stop now.
pub async fn stop_requested() -> Stop {
    tokio::select! {
        stop = os::stop_signal() => stop,
        () = STOP.notified() => Stop::Drain,
    }
}

/// Asks [`stop_requested`] to resolve, as a stop signal would (kept if nobody waits yet).
pub fn request_stop() {
    STOP.notify_one();
}

/// Signals that must neither stop nor kill the service are logged and serving goes on: on
/// Unix SIGHUP (settings are not reloaded), SIGUSR1 and SIGUSR2. Nothing to do on Windows.
pub fn keep_serving_on_other_signals() -> std::io::Result<()> {
    os::keep_serving_on_other_signals()
}

/// The options a listening socket needs before `bind`: on Unix `SO_REUSEADDR`, so that a
/// restart binds at once while the old connections sit in `TIME_WAIT`; on Windows none, as
/// there `SO_REUSEADDR` would let another process bind the same port.
pub fn prepare_listener(socket: &socket2::Socket) -> std::io::Result<()> {
    os::prepare_listener(socket)
}

/// Gives the memory the allocator keeps free back to the operating system. glibc's `free` keeps
/// what thousands of connections freed in its arenas (100+ MB after 2,000 slow readers left,
/// BENCHMARKS.md) and returns it only on `malloc_trim`; Windows' heap decommits free pages
/// itself, so there (and on other C libraries) this does nothing.
pub fn release_freed_memory() {
    os::release_freed_memory();
}

/// What the Windows service serves: called once on the service's own thread, it serves until
/// [`stop_requested`] resolves; an error is a failed start or run (the Service Control Manager
/// then applies the recovery actions).
pub type Serve = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = anyhow::Result<()>>>> + Send>;

/// Who besides the owner, the system and administrators may read the file at `path` (`None`:
/// nobody, or the system cannot tell): group and other read bits on Unix; Users, Authenticated
/// Users or Everyone in its ACL on Windows.
pub fn readers_other_than_the_owner(path: &Path) -> Option<String> {
    os::readers_other_than_the_owner(path)
}

/// The command that keeps a settings file holding secrets from those readers.
pub fn fix_for_readable_secrets(path: &Path) -> String {
    os::fix_for_readable_secrets(path)
}

/// `service install`: registers the Windows service (see [`service::Install`]) and says what
/// it registered.
pub fn install_service(
    config: Option<&Path>,
    account: Option<&str>,
) -> Result<String, ServiceError> {
    os::install_service(config, account)
}

/// `service configure`: after the MSI registered the service, what `service install` does
/// besides registering (see `windows_service.rs`), the settings file from the example when
/// none is there, and a start.
pub fn configure_installed_service(
    config: &Path,
    account: Option<&str>,
    listen: Option<&str>,
) -> Result<String, ServiceError> {
    os::configure_installed_service(config, account, listen)
}

/// `service uninstall`: removes the stopped Windows service.
pub fn uninstall_service() -> Result<String, ServiceError> {
    os::uninstall_service()
}

/// `service run`: hands the process to the Service Control Manager, which runs `serve` and
/// returns once the service has stopped.
pub fn run_service(serve: Serve) -> Result<(), ServiceError> {
    os::run_service(serve)
}

/// Where the service logs: `logs` beside the settings file, else
/// `%ProgramData%\qoe-data-service\logs`.
pub fn service_log_directory(config: Option<&Path>) -> PathBuf {
    let program_data = std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    service::log_directory(config, &program_data)
}
