//! What differs by operating system, behind one small API, so that the rest of the code carries
//! no `cfg`: the signals that stop the service, the signals it ignores, and the listening
//! socket's options. `unix.rs` and `windows.rs` each implement the same private functions.
//!
//! Still to come here (the deploy issue): the Windows service entry (the Service Control
//! Manager's stop calls [`request_stop`], which drains like SIGTERM), the log sink a service
//! without a console writes to, and the integrated sign-in method each platform offers.
use std::sync::LazyLock;

use tokio::sync::Notify;

#[cfg(unix)]
#[path = "unix.rs"]
mod os;
#[cfg(windows)]
#[path = "windows.rs"]
mod os;

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
