//! Rate limits for log lines a client or an outage can repeat at will: the first line of a
//! kind is written, then at most one per window, carrying how many were held back.
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a repeated line is written at most.
pub const WINDOW: Duration = Duration::from_secs(5);

/// Past this many distinct kinds, kinds quiet for a window are forgotten (bounded memory).
const MAX_KINDS: usize = 1024;

pub struct RateLimit {
    window: Duration,
    hasher: RandomState,
    kinds: Mutex<HashMap<u64, Kind>>,
}

struct Kind {
    written: Instant,
    held_back: u64,
}

impl RateLimit {
    pub fn new(window: Duration) -> Self {
        RateLimit {
            window,
            hasher: RandomState::new(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)`: write the line now, noting that `n` like it were held back since the last
    /// one. `None`: hold it back.
    pub fn admit(&self, kind: impl Hash) -> Option<u64> {
        self.admit_at(kind, Instant::now())
    }

    fn admit_at(&self, kind: impl Hash, now: Instant) -> Option<u64> {
        let key = self.hasher.hash_one(kind);
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        if kinds.len() >= MAX_KINDS && !kinds.contains_key(&key) {
            let window = self.window;
            kinds.retain(|_, kind| now.duration_since(kind.written) < window);
            if kinds.len() >= MAX_KINDS {
                kinds.clear();
            }
        }
        match kinds.get_mut(&key) {
            Some(kind) if now.duration_since(kind.written) < self.window => {
                kind.held_back += 1;
                None
            }
            Some(kind) => {
                let held_back = std::mem::take(&mut kind.held_back);
                kind.written = now;
                Some(held_back)
            }
            None => {
                kinds.insert(
                    key,
                    Kind {
                        written: now,
                        held_back: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_written_then_one_per_window_with_the_count_held_back() {
        let limit = RateLimit::new(Duration::from_secs(5));
        let start = Instant::now();

        assert_eq!(limit.admit_at("refused", start), Some(0));
        let within: Vec<_> = (1..=1000)
            .map(|i| limit.admit_at("refused", start + Duration::from_millis(i)))
            .collect();
        assert!(within.iter().all(Option::is_none));
        assert_eq!(
            limit.admit_at("refused", start + Duration::from_secs(5)),
            Some(1000)
        );
        assert_eq!(
            limit.admit_at("refused", start + Duration::from_secs(6)),
            None
        );
    }

    #[test]
    fn different_kinds_are_limited_separately() {
        let limit = RateLimit::new(Duration::from_secs(5));
        let now = Instant::now();

        assert_eq!(limit.admit_at("database down", now), Some(0));
        assert_eq!(limit.admit_at("login failed", now), Some(0));
        assert_eq!(limit.admit_at("database down", now), None);
    }

    #[test]
    fn the_kinds_remembered_are_bounded() {
        let limit = RateLimit::new(Duration::from_secs(5));
        let now = Instant::now();

        for kind in 0..10 * MAX_KINDS {
            limit.admit_at(kind, now);
        }

        assert!(limit.kinds.lock().expect("lock").len() <= MAX_KINDS);
    }
}
