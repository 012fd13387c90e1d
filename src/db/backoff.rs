//! Connection attempts after a failure wait, so that a server refusing logins is not asked
//! again at request rate (a domain account would be locked out): exponential, capped, with
//! jitter. While the service waits, reads fail at once with the last failure's reason.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::DbError;

/// How long connection attempts wait after failures: `initial` after the first, doubling
/// up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginBackoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for LoginBackoff {
    fn default() -> Self {
        LoginBackoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// Admits connection attempts: any number side by side while logins succeed; after a failure
/// none until the wait is over, then one at a time until one succeeds.
pub(super) struct LoginGate {
    policy: LoginBackoff,
    state: Mutex<State>,
    /// Held by the one attempt allowed while the server is not known to accept logins.
    probe: tokio::sync::Mutex<()>,
    /// Attempts whose login the server refused ([`DbError::refused_login`]).
    refused_logins: AtomicU64,
    /// Attempts that failed before a login could be refused: name, TCP, TLS, timeouts.
    connect_failures: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Failed attempts since the last success.
    failures: u32,
    /// No attempt before this instant.
    until: Option<Instant>,
    last: Option<DbError>,
    /// The last attempt succeeded: attempts need not wait for each other.
    accepting: bool,
}

impl State {
    fn retry_in(&self) -> Option<Duration> {
        self.until?
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }
}

impl LoginGate {
    pub(super) fn new(policy: LoginBackoff) -> Self {
        LoginGate {
            policy,
            state: Mutex::new(State::default()),
            probe: tokio::sync::Mutex::new(()),
            refused_logins: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
        }
    }

    /// How long until the next attempt may run, while that is in the future.
    pub(super) fn retry_in(&self) -> Option<Duration> {
        lock(&self.state).retry_in()
    }

    /// The error a read gets while attempts wait: the last failure, and the wait left. One
    /// look at the state, so the wait and the failure belong together.
    pub(super) fn backing_off(&self) -> Option<DbError> {
        let state = lock(&self.state);
        let retry_in = state.retry_in()?;
        let last = state.last.clone()?;
        Some(DbError::BackingOff {
            retry_in,
            last: Box::new(last),
        })
    }

    /// Waits for a turn to connect, or says why there is none. Hold the returned guard
    /// until [`LoginGate::record`] has the outcome.
    pub(super) async fn admit(&self) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>, DbError> {
        if let Some(waiting) = self.backing_off() {
            return Err(waiting);
        }
        if lock(&self.state).accepting {
            return Ok(None);
        }
        let probe = self.probe.lock().await;
        // The attempt this one queued behind may have failed (or succeeded) meanwhile.
        if let Some(waiting) = self.backing_off() {
            return Err(waiting);
        }
        if lock(&self.state).accepting {
            return Ok(None);
        }
        Ok(Some(probe))
    }

    pub(super) fn record(&self, outcome: Result<(), &DbError>) {
        let mut state = lock(&self.state);
        let failure = match outcome {
            Ok(()) => {
                *state = State {
                    accepting: true,
                    ..State::default()
                };
                return;
            }
            Err(failure) => failure,
        };
        let counter = if failure.refused_login() {
            &self.refused_logins
        } else {
            &self.connect_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        state.last = Some(failure.clone());
        state.accepting = false;
        // Attempts that were already running when another failed do not lengthen the wait.
        if state.until.is_none_or(|until| until <= now) {
            state.failures = state.failures.saturating_add(1);
            state.until = Some(now + self.delay(state.failures));
        }
    }

    /// Attempts since the start whose login the server refused.
    pub(super) fn refused_logins(&self) -> u64 {
        self.refused_logins.load(Ordering::Relaxed)
    }

    /// Attempts since the start that failed before a login could be refused.
    pub(super) fn connect_failures(&self) -> u64 {
        self.connect_failures.load(Ordering::Relaxed)
    }

    /// The wait after the `failures`-th failure in a row: half the exponential delay plus a
    /// random share of the other half, so that services restarted together spread out.
    fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let full = self
            .policy
            .initial
            .saturating_mul(1 << doublings)
            .min(self.policy.max);
        let half = full / 2;
        half + half.mul_f64(random_fraction())
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain values, each written whole: a panic elsewhere cannot leave them half-written.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A number in [0, 1) from the standard library's randomly keyed hasher: enough for jitter.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> DbError {
        DbError::login(tiberius::error::Error::Protocol(
            "Never got SSPI token.".into(),
        ))
    }

    fn gate() -> LoginGate {
        LoginGate::new(LoginBackoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(30),
        })
    }

    #[test]
    fn each_failure_in_a_row_doubles_the_wait_up_to_the_cap_with_jitter() {
        let gate = gate();

        for (failures, full) in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (12, 30)] {
            let delay = gate.delay(failures);
            let full = Duration::from_secs(full);
            assert!(
                delay >= full / 2 && delay <= full,
                "failure {failures}: {delay:?}"
            );
        }
    }

    #[tokio::test]
    async fn after_a_failure_no_attempt_is_admitted_until_the_wait_is_over() {
        let gate = gate();
        let first = gate.admit().await.expect("the first attempt runs");

        gate.record(Err(&refused()));
        drop(first);
        let waiting = gate.admit().await.expect_err("backing off");

        assert!(matches!(waiting, DbError::BackingOff { .. }), "{waiting:?}");
        assert!(gate
            .retry_in()
            .is_some_and(|left| left <= Duration::from_secs(2)));
        assert_eq!(gate.refused_logins(), 1);
    }

    #[tokio::test]
    async fn a_success_ends_the_wait_and_lets_attempts_run_side_by_side() {
        let gate = gate();
        gate.record(Err(&refused()));

        gate.record(Ok(()));
        let one = gate.admit().await.expect("admitted");
        let two = gate.admit().await.expect("admitted beside the first");

        assert!(one.is_none() && two.is_none(), "no attempt holds the probe");
        assert_eq!(gate.retry_in(), None);
    }

    #[tokio::test]
    async fn failures_of_attempts_already_running_do_not_lengthen_the_wait() {
        let gate = LoginGate::new(LoginBackoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(30),
        });

        for _ in 0..10 {
            gate.record(Err(&refused()));
        }

        assert!(gate
            .retry_in()
            .is_some_and(|left| left <= Duration::from_secs(2)));
        assert_eq!(gate.refused_logins(), 10);
    }

    #[test]
    fn only_logins_the_server_refused_count_as_login_failures() {
        let gate = gate();
        let refused_tcp = DbError::Tcp(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let unresolved = DbError::NameNotResolved {
            addr: "sql01.invalid:1433".into(),
            source: std::sync::Arc::new(std::io::Error::other("no such host")),
        };

        gate.record(Err(&refused_tcp));
        gate.record(Err(&unresolved));
        gate.record(Err(&refused()));

        assert_eq!(gate.refused_logins(), 1);
        assert_eq!(gate.connect_failures(), 2);
    }
}
