//! A TTL cache whose concurrent misses on one key share a single load (single-flight).
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use super::{StoreError, Unavailability};
use crate::metrics::CacheStats;

/// Past this many keys, expired entries are dropped when a new load starts, so caching
/// queries keyed by their parameters cannot grow without bound.
const PRUNE_ABOVE: usize = 256;

type Load<V> = Shared<BoxFuture<'static, Result<V, StoreError>>>;

/// Each entry remembers when its load started, so that a clear can keep what is newer than it.
enum Entry<V> {
    Fresh {
        value: V,
        expires: Instant,
        started: Instant,
    },
    Loading {
        load: Load<V>,
        generation: u64,
        started: Instant,
    },
}

impl<V> Entry<V> {
    fn started(&self) -> Instant {
        match self {
            Entry::Fresh { started, .. } | Entry::Loading { started, .. } => *started,
        }
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
}

/// When a value was taken from a fresh entry: it is still the cached one while the cache's
/// version has not moved, and until the entry expires ([`SingleFlightCache::still_fresh`]).
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    version: u64,
    expires: Instant,
}

/// The entries and their version, which change together: the map can only be changed through
/// [`EntriesGuard::change`], which moves the version (under the lock). So a value seen fresh
/// at one version is still the cached one while the version has not moved.
struct Entries<K, V> {
    map: Mutex<HashMap<K, Entry<V>>>,
    version: AtomicU64,
}

struct EntriesGuard<'a, K, V> {
    map: MutexGuard<'a, HashMap<K, Entry<V>>>,
    version: &'a AtomicU64,
}

impl<K, V> Entries<K, V> {
    fn new() -> Self {
        Entries {
            map: Mutex::new(HashMap::new()),
            version: AtomicU64::new(0),
        }
    }

    /// Read before a lookup: see [`Freshness`].
    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn lock(&self) -> EntriesGuard<'_, K, V> {
        EntriesGuard {
            // Never held across an await and every update is a single insert or remove.
            map: self.map.lock().unwrap_or_else(PoisonError::into_inner),
            version: &self.version,
        }
    }
}

impl<K: Hash + Eq, V> EntriesGuard<'_, K, V> {
    fn get(&self, key: &K) -> Option<&Entry<V>> {
        self.map.get(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }

    /// The map, to change: the only way to it, so no change leaves the version where it was.
    fn change(&mut self) -> &mut HashMap<K, Entry<V>> {
        self.version.fetch_add(1, Ordering::Release);
        &mut self.map
    }
}

/// A TTL cache whose concurrent misses on one key share a single load. A failed load is
/// handed to everyone who waited for it and then forgotten, so the next request retries.
///
/// A load runs as a task of its own and settles the entry itself: if every request waiting
/// for it goes away (clients disconnect), it still completes within the command timeout
/// instead of lying half-done until the next request resumes it with its timer expired.
pub struct SingleFlightCache<K, V> {
    ttl: Duration,
    /// Most keys kept; past it the entry closest to expiry goes first.
    max_entries: usize,
    entries: Arc<Entries<K, V>>,
    next_generation: AtomicU64,
    counters: Counters,
}

impl<K, V> SingleFlightCache<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A zero `ttl` turns caching (and sharing) off: every call loads.
    pub fn new(ttl: Duration) -> Self {
        Self::bounded(ttl, usize::MAX)
    }

    /// As [`SingleFlightCache::new`], keeping at most `max_entries` keys (at least one).
    pub fn bounded(ttl: Duration, max_entries: usize) -> Self {
        SingleFlightCache {
            ttl,
            max_entries: max_entries.max(1),
            entries: Arc::new(Entries::new()),
            next_generation: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    /// Whether a value taken `seen` is still the cached one and fresh; if so, it is reused
    /// without looking into the map and counted as a hit.
    pub fn still_fresh(&self, seen: Freshness) -> bool {
        let fresh = self.entries.version() == seen.version && Instant::now() < seen.expires;
        if fresh {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    /// The cached value of `key`, or the result of the load already running for it, or of
    /// `load()` started now.
    pub async fn get_or_load(
        &self,
        key: K,
        load: impl FnOnce() -> BoxFuture<'static, Result<V, StoreError>>,
    ) -> Result<V, StoreError> {
        Ok(self.get_or_load_fresh(key, load).await?.0)
    }

    /// As [`SingleFlightCache::get_or_load`], with its [`Freshness`] when the value was taken
    /// from a fresh entry (not from a load, whose entry may since have been cleared).
    pub async fn get_or_load_fresh(
        &self,
        key: K,
        load: impl FnOnce() -> BoxFuture<'static, Result<V, StoreError>>,
    ) -> Result<(V, Option<Freshness>), StoreError> {
        if self.ttl.is_zero() {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Ok((load().await?, None));
        }
        let version = self.entries.version();
        let shared = {
            let mut entries = self.entries.lock();
            match entries.get(&key) {
                Some(Entry::Fresh { value, expires, .. }) if Instant::now() < *expires => {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    let freshness = Freshness {
                        version,
                        expires: *expires,
                    };
                    return Ok((value.clone(), Some(freshness)));
                }
                Some(Entry::Loading { load, .. }) => {
                    self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                    load.clone()
                }
                _ => {
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    let map = entries.change();
                    if map.len() > PRUNE_ABOVE || map.len() >= self.max_entries {
                        let now = Instant::now();
                        map.retain(|_, entry| match entry {
                            Entry::Fresh { expires, .. } => now < *expires,
                            Entry::Loading { .. } => true,
                        });
                    }
                    evict_down_to(map, self.max_entries - 1);
                    let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                    let started = Instant::now();
                    let shared = self.spawn_load(key.clone(), generation, started, load());
                    map.insert(
                        key,
                        Entry::Loading {
                            load: shared.clone(),
                            generation,
                            started,
                        },
                    );
                    shared
                }
            }
        };
        Ok((shared.await?, None))
    }

    fn spawn_load(
        &self,
        key: K,
        generation: u64,
        started: Instant,
        load: BoxFuture<'static, Result<V, StoreError>>,
    ) -> Load<V> {
        let entries = Arc::clone(&self.entries);
        let ttl = self.ttl;
        let task = tokio::spawn(async move {
            let result = load.await;
            settle(&entries, key, generation, started, &result, ttl);
            result
        });
        async move {
            task.await
                .unwrap_or_else(|failed| Err(StoreError::new(Unavailability::QueryFailed, failed)))
        }
        .boxed()
        .shared()
    }

    /// Forgets every entry; loads already running finish for their waiters but are not kept.
    pub fn clear(&self) {
        self.forget_loaded_until(Instant::now());
    }

    /// Forgets every entry whose load started at or before `moment`, fresh or still running
    /// (a running one finishes for its waiters but is not kept). Loads started after it stay,
    /// and later requests share them: they are already newer than `moment`.
    pub fn forget_loaded_until(&self, moment: Instant) {
        self.entries
            .lock()
            .change()
            .retain(|_, entry| entry.started() > moment);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            coalesced: self.counters.coalesced.load(Ordering::Relaxed),
        }
    }

    /// Keys held, fresh, expired or loading.
    #[cfg(test)]
    pub(crate) fn keys_held(&self) -> usize {
        self.entries.lock().len()
    }
}

/// Drops the fresh entries closest to expiry until at most `keep` remain. Loads in flight
/// stay: their number is bounded by the requests being served.
fn evict_down_to<K: Hash + Eq + Clone, V>(entries: &mut HashMap<K, Entry<V>>, keep: usize) {
    while entries.len() > keep {
        let oldest = entries
            .iter()
            .filter_map(|(key, entry)| match entry {
                Entry::Fresh { expires, .. } => Some((*expires, key)),
                Entry::Loading { .. } => None,
            })
            .min_by_key(|(expires, _)| *expires)
            .map(|(_, key)| key.clone());
        match oldest {
            Some(key) => {
                entries.remove(&key);
            }
            None => break,
        }
    }
}

/// Only the load still registered for the key settles it: after `clear` it is not.
fn settle<K: Hash + Eq, V: Clone>(
    entries: &Entries<K, V>,
    key: K,
    generation: u64,
    started: Instant,
    result: &Result<V, StoreError>,
    ttl: Duration,
) {
    let mut entries = entries.lock();
    let current = matches!(
        entries.get(&key),
        Some(Entry::Loading { generation: g, .. }) if *g == generation
    );
    if !current {
        return;
    }
    match result {
        Ok(value) => {
            let expires = Instant::now() + ttl;
            entries.change().insert(
                key,
                Entry::Fresh {
                    value: value.clone(),
                    expires,
                    started,
                },
            );
        }
        Err(_) => {
            entries.change().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures_util::future::join_all;

    use super::*;

    const TTL: Duration = Duration::from_secs(5);
    const LOAD_TIME: Duration = Duration::from_millis(100);

    #[derive(Debug, thiserror::Error)]
    #[error("the test load failed")]
    struct Failed;

    /// Loads that take `LOAD_TIME` (virtual), answer `value` (or fail) and are counted.
    #[derive(Clone, Default)]
    struct Loads(Arc<AtomicUsize>);

    impl Loads {
        fn of(
            &self,
            value: Result<u32, ()>,
        ) -> impl FnOnce() -> BoxFuture<'static, Result<u32, StoreError>> {
            let count = self.0.clone();
            move || {
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(LOAD_TIME).await;
                    value.map_err(|()| StoreError::new(Unavailability::Unreachable, Failed))
                }
                .boxed()
            }
        }

        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_cached_separately() {
        let cache: SingleFlightCache<u32, u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();

        assert_eq!(cache.get_or_load(1, loads.of(Ok(10))).await.expect("1"), 10);
        assert_eq!(cache.get_or_load(2, loads.of(Ok(20))).await.expect("2"), 20);
        assert_eq!(
            cache
                .get_or_load(1, loads.of(Ok(99)))
                .await
                .expect("1 again"),
            10
        );

        assert_eq!(loads.count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_on_one_key_share_one_load() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();

        let values = join_all((0..20).map(|_| cache.get_or_load((), loads.of(Ok(7))))).await;

        assert!(values.iter().all(|value| matches!(value, Ok(7))));
        assert_eq!(loads.count(), 1);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                misses: 1,
                coalesced: 19
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_load_is_shared_and_then_forgotten() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();

        let failed = join_all((0..3).map(|_| cache.get_or_load((), loads.of(Err(()))))).await;
        let retried = cache.get_or_load((), loads.of(Ok(1))).await;

        assert!(
            failed.iter().all(Result::is_err),
            "waiters share the failure"
        );
        assert_eq!(retried.expect("the retry loads"), 1);
        assert_eq!(loads.count(), 2);
    }

    /// Loads the value, then takes it from its fresh entry: that take's freshness.
    async fn loaded_then_seen_fresh(
        cache: &SingleFlightCache<(), u32>,
        loads: &Loads,
    ) -> Freshness {
        cache.get_or_load((), loads.of(Ok(1))).await.expect("load");
        let (_, seen) = cache
            .get_or_load_fresh((), loads.of(Ok(2)))
            .await
            .expect("hit");
        seen.expect("taken from a fresh entry")
    }

    #[tokio::test(start_paused = true)]
    async fn a_value_is_fresh_until_its_ttl_passes() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();
        let seen = loaded_then_seen_fresh(&cache, &loads).await;

        tokio::time::advance(TTL - Duration::from_millis(1)).await;
        assert!(cache.still_fresh(seen), "expired within the ttl");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!cache.still_fresh(seen), "fresh past the ttl");
        assert_eq!(
            cache
                .get_or_load((), loads.of(Ok(3)))
                .await
                .expect("reload"),
            3
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_value_seen_fresh_is_stale_once_the_cache_is_cleared() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();
        let seen = loaded_then_seen_fresh(&cache, &loads).await;

        cache.clear();

        assert!(!cache.still_fresh(seen));
    }

    #[tokio::test(start_paused = true)]
    async fn a_value_from_a_load_carries_no_freshness() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(TTL);

        let (_, seen) = cache
            .get_or_load_fresh((), Loads::default().of(Ok(1)))
            .await
            .expect("load");

        assert!(seen.is_none(), "its entry may have been cleared meanwhile");
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_running_during_clear_answers_but_is_not_kept() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();

        let (during, ()) = tokio::join!(cache.get_or_load((), loads.of(Ok(1))), async {
            tokio::task::yield_now().await;
            cache.clear();
        });
        let after = cache.get_or_load((), loads.of(Ok(2))).await;

        assert_eq!(during.expect("the waiter gets its answer"), 1);
        assert_eq!(after.expect("loaded again"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn forgetting_up_to_a_moment_keeps_loads_started_after_it_and_shares_them() {
        let cache: SingleFlightCache<u32, u32> = SingleFlightCache::new(TTL);
        let loads = Loads::default();
        cache.get_or_load(1, loads.of(Ok(1))).await.expect("old");
        let moment = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;

        let (newer, (), shared) = tokio::join!(
            cache.get_or_load(2, loads.of(Ok(2))),
            async {
                tokio::task::yield_now().await;
                cache.forget_loaded_until(moment);
            },
            async {
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                cache.get_or_load(2, loads.of(Ok(0))).await
            }
        );
        let old = cache.get_or_load(1, loads.of(Ok(10))).await;

        assert_eq!((newer.expect("2"), shared.expect("2 shared")), (2, 2));
        assert_eq!(
            old.expect("reloaded"),
            10,
            "the load before the moment was kept"
        );
        assert_eq!(loads.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_loads_every_time() {
        let cache: SingleFlightCache<(), u32> = SingleFlightCache::new(Duration::ZERO);
        let loads = Loads::default();

        join_all((0..3).map(|_| cache.get_or_load((), loads.of(Ok(1))))).await;

        assert_eq!(loads.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_cache_drops_the_entry_closest_to_expiry() {
        let cache: SingleFlightCache<u32, u32> = SingleFlightCache::bounded(TTL, 2);
        let loads = Loads::default();

        for key in [1, 2, 3] {
            cache
                .get_or_load(key, loads.of(Ok(key)))
                .await
                .expect("load");
        }
        cache.get_or_load(3, loads.of(Ok(0))).await.expect("kept");
        cache
            .get_or_load(1, loads.of(Ok(0)))
            .await
            .expect("reloaded");

        assert!(cache.keys_held() <= 2);
        assert_eq!(loads.count(), 4, "key 1 went first and key 3 stayed");
    }
}
