//! In-flight requests (to say how many a shutdown cut off) and the signals the server does
//! not handle itself: SIGHUP is logged and serving goes on (settings are not reloaded).
use std::sync::atomic::{AtomicU64, Ordering};

static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);
/// Requests whose handling was dropped before it completed: a client went away or a
/// shutdown timed out.
static ABANDONED: AtomicU64 = AtomicU64::new(0);

/// Held while a request is handled; `finish` it when the answer is ready.
pub struct InFlight {
    finished: bool,
}

impl InFlight {
    pub fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        InFlight { finished: false }
    }

    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        if !self.finished {
            ABANDONED.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Requests in flight now plus those abandoned so far; the difference of two readings taken
/// around a shutdown is how many requests it cut off.
pub fn unfinished() -> u64 {
    IN_FLIGHT.load(Ordering::Acquire) + ABANDONED.load(Ordering::Acquire)
}

/// Requests being handled right now.
pub fn in_flight() -> u64 {
    IN_FLIGHT.load(Ordering::Acquire)
}

/// Logs every SIGHUP and keeps serving: without a handler, SIGHUP would kill the process at
/// once (exit 129) without draining. Settings are read at start only; restart to change them.
#[cfg(unix)]
pub fn keep_serving_on_sighup() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::warn!(
                "received SIGHUP: still serving; settings are not reloaded (restart the \
                 service to apply changed settings)"
            );
        }
    });
    Ok(())
}

/// Windows has no SIGHUP. (Stopgap until `platform` owns the signals.)
#[cfg(not(unix))]
pub fn keep_serving_on_sighup() -> std::io::Result<()> {
    Ok(())
}

/// Resolves at the first Ctrl+C (Windows' console stop; stopgap until `platform` owns it).
#[cfg(not(unix))]
pub async fn stop_requested() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves at the first SIGTERM or SIGINT (the signals the server stops on).
#[cfg(unix)]
pub async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
