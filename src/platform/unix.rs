//! Unix: SIGTERM and SIGINT stop gracefully, SIGQUIT at once; SIGHUP, SIGUSR1 and SIGUSR2
//! are logged.
use std::sync::LazyLock;

use tokio::signal::unix::{signal, SignalKind};

use super::service::ServiceError;
use super::{Serve, Stop};
use crate::log_limit::RateLimit;

pub(super) async fn stop_signal() -> Stop {
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::quit()),
    ) {
        (Ok(mut term), Ok(mut int), Ok(mut quit)) => {
            tokio::select! {
                _ = term.recv() => Stop::Drain,
                _ = int.recv() => Stop::Drain,
                _ = quit.recv() => Stop::Now,
            }
        }
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
            tracing::error!(%error, "cannot listen for SIGTERM, SIGINT and SIGQUIT; stop the service with SIGKILL");
            std::future::pending().await
        }
    }
}

/// Without a handler each of these would end the process at once, without draining (SIGHUP
/// exit 129, SIGUSR1 138, SIGUSR2 140).
pub(super) fn keep_serving_on_other_signals() -> std::io::Result<()> {
    let ignored = [
        (
            SignalKind::hangup(),
            "received SIGHUP: still serving; settings are not reloaded (restart the service to \
             apply changed settings)",
        ),
        (
            SignalKind::user_defined1(),
            "received SIGUSR1: ignored, still serving",
        ),
        (
            SignalKind::user_defined2(),
            "received SIGUSR2: ignored, still serving",
        ),
    ];
    for (kind, line) in ignored {
        let mut received = signal(kind)?;
        tokio::spawn(async move {
            // A signal sent in a loop must not fill the log.
            static LINES: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
            while received.recv().await.is_some() {
                if let Some(held_back) = LINES.admit(line) {
                    tracing::warn!(held_back, "{line}");
                }
            }
        });
    }
    Ok(())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn release_freed_memory() {
    // SAFETY: `malloc_trim` takes no pointer and works on glibc's own heap under its own
    // locks; any thread may call it at any time.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn release_freed_memory() {}

pub(super) fn prepare_listener(socket: &socket2::Socket) -> std::io::Result<()> {
    socket.set_reuse_address(true)
}

pub(super) fn readers_other_than_the_owner(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    super::file_readers::readers_by_mode(std::fs::metadata(path).ok()?.permissions().mode())
}

pub(super) fn fix_for_readable_secrets(path: &std::path::Path) -> String {
    format!(
        "move the secrets to the environment file (QOE_DATABASE__CONNECTION_STRING, \
         QOE_HTTP__API_KEYS in /etc/qoe-data-service/qoe.env, mode 0600; README 'Install'), \
         or if the service's own user owns the file: chmod 0600 {}",
        path.display()
    )
}

/// The Windows service commands: on Unix, systemd runs the service.
pub(super) fn install_service(
    _config: Option<&std::path::Path>,
    _account: Option<&str>,
) -> Result<String, ServiceError> {
    Err(ServiceError::OnlyOnWindows)
}

pub(super) fn configure_installed_service(
    _config: &std::path::Path,
    _account: Option<&str>,
    _listen: Option<&str>,
) -> Result<String, ServiceError> {
    Err(ServiceError::OnlyOnWindows)
}

pub(super) fn uninstall_service() -> Result<String, ServiceError> {
    Err(ServiceError::OnlyOnWindows)
}

pub(super) fn run_service(_serve: Serve) -> Result<(), ServiceError> {
    Err(ServiceError::OnlyOnWindows)
}
