//! What `/metrics` is handed by the parts that measure it: counters they own and increment,
//! and the snapshots they fill. Plain types, so those parts import this leaf and never the
//! other way round.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A count that only grows, shared by whoever increments it and `/metrics`. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why the listener closed a connection, as `qoe_http_protocol_errors_total{kind}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// A request head that does not parse.
    Malformed,
    /// A request head longer than `http.max_request_head_bytes`.
    HeadTooLong,
    /// A request head slower than `http.client_request_timeout_ms`.
    HeadTimeout,
    /// The connection failed (reset, broken pipe, …).
    Io,
    Other,
    /// An answer the client took none of within `http.client_write_timeout_ms`.
    WriteTimeout,
}

impl ProtocolError {
    pub const ALL: [ProtocolError; 6] = [
        ProtocolError::Malformed,
        ProtocolError::HeadTooLong,
        ProtocolError::HeadTimeout,
        ProtocolError::Io,
        ProtocolError::Other,
        ProtocolError::WriteTimeout,
    ];

    /// The `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            ProtocolError::Malformed => "malformed",
            ProtocolError::HeadTooLong => "head_too_long",
            ProtocolError::HeadTimeout => "head_timeout",
            ProtocolError::Io => "io",
            ProtocolError::Other => "other",
            ProtocolError::WriteTimeout => "write_timeout",
        }
    }
}

/// Connections closed by a protocol error, by kind: counted by the listener. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct ProtocolErrors(Arc<[AtomicU64; ProtocolError::ALL.len()]>);

impl ProtocolErrors {
    pub fn count(&self, kind: ProtocolError) {
        self.0[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Each kind with its count, in [`ProtocolError::ALL`]'s order.
    pub fn by_kind(&self) -> [(ProtocolError, u64); ProtocolError::ALL.len()] {
        ProtocolError::ALL.map(|kind| (kind, self.0[kind as usize].load(Ordering::Relaxed)))
    }
}

/// The database pool's view of its connections, and of failed connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
    /// Connection attempts since the start whose login the server (or the KDC) refused.
    pub login_failures: u64,
    /// Connection attempts since the start that failed before a login could be refused: a
    /// name that does not resolve, a refused or unreachable TCP connection, TLS, timeouts.
    pub connect_failures: u64,
    /// How long until the next attempt may run, while attempts back off.
    pub retry_in: Option<Duration>,
}

/// Reads the pool's state at scrape time.
pub type PoolGauge = Arc<dyn Fn() -> PoolStatus + Send + Sync>;

/// How a cache has answered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from a fresh entry.
    pub hits: u64,
    /// Started a database query.
    pub misses: u64,
    /// Waited for a query another request had started.
    pub coalesced: u64,
}

/// What `/metrics` reads from parts outside the request path, handed over by the wiring: the
/// pool's gauge (none for a store double) and the logger's count of lines it could not write.
#[derive(Clone, Default)]
pub struct Sources {
    pub pool: Option<PoolGauge>,
    pub dropped_log_lines: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_protocol_error_is_counted_apart_under_its_own_label() {
        let errors = ProtocolErrors::default();
        errors.count(ProtocolError::HeadTooLong);
        errors.count(ProtocolError::HeadTooLong);
        errors.count(ProtocolError::Io);

        let counted: Vec<_> = errors
            .by_kind()
            .into_iter()
            .map(|(kind, count)| (kind.label(), count))
            .collect();

        assert_eq!(
            counted,
            [
                ("malformed", 0),
                ("head_too_long", 2),
                ("head_timeout", 0),
                ("io", 1),
                ("other", 0),
                ("write_timeout", 0)
            ]
        );
    }
}
