//! Windows: Ctrl+C and Ctrl+Break stop gracefully; there are no other signals to ignore. The
//! service commands are in `windows_service.rs`.
use tokio::signal::windows::{ctrl_break, ctrl_c};

pub(super) use super::windows_service::{
    configure_installed_service, install_service, run_service, uninstall_service,
};
use super::Stop;

pub(super) async fn stop_signal() -> Stop {
    match (ctrl_c(), ctrl_break()) {
        (Ok(mut c), Ok(mut brk)) => {
            tokio::select! {
                _ = c.recv() => Stop::Drain,
                _ = brk.recv() => Stop::Drain,
            }
        }
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "cannot listen for Ctrl+C and Ctrl+Break");
            std::future::pending().await
        }
    }
}

pub(super) fn keep_serving_on_other_signals() -> std::io::Result<()> {
    Ok(())
}

/// Windows' heap decommits the free pages it holds by itself.
pub(super) fn release_freed_memory() {}

/// No `SO_REUSEADDR`: on Windows it lets another process bind the same port.
pub(super) fn prepare_listener(_socket: &socket2::Socket) -> std::io::Result<()> {
    Ok(())
}

pub(super) fn readers_other_than_the_owner(path: &std::path::Path) -> Option<String> {
    let output = std::process::Command::new("icacls")
        .arg(path)
        .output()
        .ok()?;
    super::file_readers::readers_by_icacls(&String::from_utf8_lossy(&output.stdout))
}

pub(super) fn fix_for_readable_secrets(path: &std::path::Path) -> String {
    format!(
        "let only SYSTEM, Administrators and the service's account read it: icacls \"{}\" \
         /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F *S-1-5-19:R (S-1-5-19 is \
         LocalService; name a gMSA as 'CORP\\qoe-svc$:R'), or take the connection string from \
         the service's environment (README 'Secrets on Windows')",
        path.display()
    )
}
