//! ClearCache, rate-limited without weakening it: clears take effect at most once per
//! interval, and a caller returns only once a clear covering its call has taken effect.
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// When clears may take effect, shared by every ClearCache caller.
///
/// The guarantee: when [`ClearSchedule::clear`] returns, `forget` has been called with a
/// moment at or after the call began, so a read that starts afterwards is answered by a load
/// that started after the call (fresher than the clear). Callers that arrive within `interval`
/// of the last clear wait for the next one and share it.
pub struct ClearSchedule {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the last clear took effect.
    last: Option<Instant>,
    /// The moment the last clear forgot loads up to: every call that began by then is served.
    covered: Option<Instant>,
    /// The latest call waiting for the next clear.
    waiting: Option<Instant>,
}

impl ClearSchedule {
    pub fn new(interval: Duration) -> Self {
        ClearSchedule {
            interval,
            state: Mutex::new(State::default()),
        }
    }

    /// Calls `forget(moment)` now, or at the next slot (at most `interval` later) unless a
    /// caller that began after this one has done it meanwhile; returns once it was done.
    pub async fn clear(&self, forget: impl Fn(Instant)) {
        let called = Instant::now();
        let due = {
            let mut state = self.lock();
            match state.last {
                Some(last) if called < last + self.interval => {
                    state.waiting = state.waiting.max(Some(called));
                    last + self.interval
                }
                _ => {
                    forget(called);
                    state.take_effect(called, called);
                    return;
                }
            }
        };
        tokio::time::sleep_until(due).await;
        let mut state = self.lock();
        if state.covered.is_some_and(|covered| covered >= called) {
            return;
        }
        let moment = state.waiting.take().unwrap_or(called).max(called);
        forget(moment);
        state.take_effect(Instant::now(), moment);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Never held across an await; every update leaves the state whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn take_effect(&mut self, now: Instant, moment: Instant) {
        self.last = Some(now);
        self.covered = self.covered.max(Some(moment));
        if self.waiting.is_some_and(|waiting| waiting <= moment) {
            self.waiting = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures_util::future::join_all;

    use super::*;

    const INTERVAL: Duration = Duration::from_secs(1);

    /// Counts clears and remembers the moments they forgot up to.
    #[derive(Clone, Default)]
    struct Forgets(Arc<Mutex<Vec<Instant>>>);

    impl Forgets {
        fn record(&self) -> impl Fn(Instant) + '_ {
            move |moment| self.0.lock().expect("not poisoned").push(moment)
        }

        fn moments(&self) -> Vec<Instant> {
            self.0.lock().expect("not poisoned").clone()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_clear_takes_effect_at_once() {
        let schedule = ClearSchedule::new(INTERVAL);
        let forgets = Forgets::default();
        let called = Instant::now();

        schedule.clear(forgets.record()).await;

        assert_eq!(forgets.moments(), vec![called]);
        assert_eq!(Instant::now(), called, "it waited");
    }

    #[tokio::test(start_paused = true)]
    async fn many_clears_within_an_interval_take_effect_once_and_each_is_covered() {
        let schedule = ClearSchedule::new(INTERVAL);
        let forgets = Forgets::default();
        schedule.clear(forgets.record()).await;
        let returned = AtomicUsize::new(0);

        let callers = (0..50u64).map(|i| {
            let (schedule, forgets, returned) = (&schedule, &forgets, &returned);
            async move {
                tokio::time::sleep(Duration::from_millis(i * 10)).await;
                let called = Instant::now();
                schedule.clear(forgets.record()).await;
                let covered = forgets.moments().last().copied().expect("a clear");
                assert!(covered >= called, "returned before a clear covering it");
                returned.fetch_add(1, Ordering::SeqCst);
            }
        });
        join_all(callers).await;

        assert_eq!(returned.load(Ordering::SeqCst), 50);
        assert_eq!(
            forgets.moments().len(),
            2,
            "one clear at once, one for the 50"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clears_called_without_pause_take_effect_at_most_once_per_interval() {
        let schedule = ClearSchedule::new(INTERVAL);
        let forgets = Forgets::default();
        let started = Instant::now();

        while Instant::now() < started + 10 * INTERVAL {
            join_all((0..20).map(|_| schedule.clear(forgets.record()))).await;
        }

        let clears = forgets.moments().len();
        assert!(
            (10..=11).contains(&clears),
            "{clears} clears in 10 intervals"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_clear_after_a_quiet_interval_takes_effect_at_once() {
        let schedule = ClearSchedule::new(INTERVAL);
        let forgets = Forgets::default();
        schedule.clear(forgets.record()).await;

        tokio::time::advance(INTERVAL).await;
        let called = Instant::now();
        schedule.clear(forgets.record()).await;

        assert_eq!(forgets.moments().last(), Some(&called));
        assert_eq!(Instant::now(), called, "it waited");
    }
}
