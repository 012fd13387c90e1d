//! Keeps database answers for `cache.ttl`, with one query in flight per key (single-flight).
//!
//! An entry holds what is served, not only what was read: the Status entry carries the read,
//! the parsed status and (rendered once) the body with its tag, shared by `Arc`. A cached
//! Status hit takes no lock: each worker thread remembers the answer it last saw fresh and
//! reuses it while the cache's version (bumped whenever an entry settles or the cache is
//! cleared) is unchanged and the entry has not expired.
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use crate::conditional::Tagged;
use crate::domain::{CategoryTime, IntegrationStatus, LogEntry, LogQuery, StatusRead};
use crate::store::{IntegrationLogStore, StoreError, Unavailability};

/// Past this many keys, expired entries are dropped when a new load starts, so caching
/// queries keyed by their parameters cannot grow without bound.
const PRUNE_ABOVE: usize = 256;

type Load<V> = Shared<BoxFuture<'static, Result<V, StoreError>>>;

enum Entry<V> {
    Fresh { value: V, expires: Instant },
    Loading { load: Load<V>, generation: u64 },
}

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

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
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
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
    next_generation: AtomicU64,
    /// Bumped (under the lock) whenever an entry settles or the cache is cleared: a value
    /// seen fresh at one version is still the cached one while the version has not moved.
    version: Arc<AtomicU64>,
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
            entries: Arc::new(Mutex::new(HashMap::new())),
            next_generation: AtomicU64::new(0),
            version: Arc::new(AtomicU64::new(0)),
            counters: Counters::default(),
        }
    }

    /// See [`SingleFlightCache::version`]'s field: read before a lookup, compare later.
    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A hit answered without looking into the map (a worker's remembered answer).
    fn count_hit(&self) {
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
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

    /// As [`SingleFlightCache::get_or_load`], with the entry's expiry when the value was
    /// taken from a fresh entry (not from a load, whose entry may since have been cleared).
    async fn get_or_load_fresh(
        &self,
        key: K,
        load: impl FnOnce() -> BoxFuture<'static, Result<V, StoreError>>,
    ) -> Result<(V, Option<Instant>), StoreError> {
        if self.ttl.is_zero() {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Ok((load().await?, None));
        }
        let shared = {
            let mut entries = lock(&self.entries);
            match entries.get(&key) {
                Some(Entry::Fresh { value, expires }) if Instant::now() < *expires => {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((value.clone(), Some(*expires)));
                }
                Some(Entry::Loading { load, .. }) => {
                    self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                    load.clone()
                }
                _ => {
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    if entries.len() > PRUNE_ABOVE || entries.len() >= self.max_entries {
                        let now = Instant::now();
                        entries.retain(|_, entry| match entry {
                            Entry::Fresh { expires, .. } => now < *expires,
                            Entry::Loading { .. } => true,
                        });
                    }
                    evict_down_to(&mut entries, self.max_entries - 1);
                    let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                    let shared = self.spawn_load(key.clone(), generation, load());
                    entries.insert(
                        key,
                        Entry::Loading {
                            load: shared.clone(),
                            generation,
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
        load: BoxFuture<'static, Result<V, StoreError>>,
    ) -> Load<V> {
        let entries = Arc::clone(&self.entries);
        let version = Arc::clone(&self.version);
        let ttl = self.ttl;
        let task = tokio::spawn(async move {
            let result = load.await;
            settle(&entries, &version, key, generation, &result, ttl);
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
        let mut entries = lock(&self.entries);
        entries.clear();
        self.version.fetch_add(1, Ordering::Release);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            coalesced: self.counters.coalesced.load(Ordering::Relaxed),
        }
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
    entries: &Mutex<HashMap<K, Entry<V>>>,
    version: &AtomicU64,
    key: K,
    generation: u64,
    result: &Result<V, StoreError>,
    ttl: Duration,
) {
    let mut entries = lock(entries);
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
            entries.insert(
                key,
                Entry::Fresh {
                    value: value.clone(),
                    expires,
                },
            );
            version.fetch_add(1, Ordering::Release);
        }
        Err(_) => {
            entries.remove(&key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Never held across an await and every update is a single insert or remove.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An [`IntegrationLogStore`] that answers reads from a [`SingleFlightCache`] per method.
/// To cache another read, add a cache field keyed by its parameters and route it through
/// `get_or_load` as `status_entries` does.
pub struct CachingStore {
    inner: Arc<dyn IntegrationLogStore>,
    status: SingleFlightCache<(), Arc<StatusAnswer>>,
    log: SingleFlightCache<LogQuery, Arc<LogAnswer>>,
    /// Tells this store's answers apart in the workers' memory ([`SEEN_STATUS`]).
    id: u64,
}

/// The cached Status read in every form a request needs: the read (status page, metrics),
/// the parsed status and the rendered body with its tag (Status operation), built once per
/// load and shared by every hit.
pub struct StatusAnswer {
    pub read: Arc<StatusRead>,
    pub status: IntegrationStatus,
    body: OnceLock<Tagged>,
}

impl StatusAnswer {
    fn new(read: Arc<StatusRead>) -> Self {
        StatusAnswer {
            status: IntegrationStatus::from_entries(read.entries.iter().copied()),
            read,
            body: OnceLock::new(),
        }
    }

    /// The rendered body, rendering it from the parsed status on first use.
    pub fn body_or_render<E>(
        &self,
        render: impl FnOnce(&IntegrationStatus) -> Result<Vec<u8>, E>,
    ) -> Result<&Tagged, E> {
        render_once(&self.body, || render(&self.status))
    }
}

/// The body in `cell`, rendered by the first caller (a racing second render is dropped).
fn render_once<E>(
    cell: &OnceLock<Tagged>,
    render: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<&Tagged, E> {
    if let Some(body) = cell.get() {
        return Ok(body);
    }
    let body = Tagged::new(render()?);
    Ok(cell.get_or_init(|| body))
}

/// A Status answer a worker thread saw fresh: reusable while its cache's version is `version`
/// and until `expires`.
struct SeenStatus {
    cache: u64,
    version: u64,
    expires: Instant,
    answer: Arc<StatusAnswer>,
}

/// Caching stores a thread remembers answers of at once (one in the service; tests make more).
const SEEN_PER_THREAD: usize = 4;

thread_local! {
    /// Per worker thread, so a cached Status hit reads no shared map and takes no lock.
    static SEEN_STATUS: RefCell<Vec<SeenStatus>> = const { RefCell::new(Vec::new()) };
}

/// Default of `cache.log_max_entries`: distinct log queries kept at once.
pub const DEFAULT_LOG_MAX_ENTRIES: usize = 256;

/// A cached log answer and its JSON body, rendered by the first request that needs it and
/// reused by every later hit (a `top=1000` answer is about 100 KB of JSON).
pub struct LogAnswer {
    pub entries: Vec<LogEntry>,
    body: OnceLock<Tagged>,
}

impl LogAnswer {
    fn new(entries: Vec<LogEntry>) -> Self {
        LogAnswer {
            entries,
            body: OnceLock::new(),
        }
    }

    /// The rendered body, rendering it on first use.
    pub fn body_or_render<E>(
        &self,
        render: impl FnOnce(&[LogEntry]) -> Result<Vec<u8>, E>,
    ) -> Result<&Tagged, E> {
        render_once(&self.body, || render(&self.entries))
    }
}

impl CachingStore {
    pub fn new(inner: Arc<dyn IntegrationLogStore>, ttl: Duration) -> Self {
        Self::with_log_limit(inner, ttl, DEFAULT_LOG_MAX_ENTRIES)
    }

    /// As [`CachingStore::new`], keeping at most `log_max_entries` distinct log queries.
    pub fn with_log_limit(
        inner: Arc<dyn IntegrationLogStore>,
        ttl: Duration,
        log_max_entries: usize,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        CachingStore {
            inner,
            status: SingleFlightCache::new(ttl),
            log: SingleFlightCache::bounded(ttl, log_max_entries),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The (cached) Status answer: from this thread's memory while the cache has not changed
    /// and the entry is fresh, otherwise from the cache (or a load) and then remembered.
    pub async fn status_answer(&self) -> Result<Arc<StatusAnswer>, StoreError> {
        let version = self.status.version();
        if let Some(answer) = self.seen_status(version) {
            self.status.count_hit();
            return Ok(answer);
        }
        let inner = self.inner.clone();
        let (answer, expires) = self
            .status
            .get_or_load_fresh((), move || {
                async move { Ok(Arc::new(StatusAnswer::new(inner.status_read().await?))) }.boxed()
            })
            .await?;
        if let Some(expires) = expires {
            self.remember_status(version, expires, &answer);
        }
        Ok(answer)
    }

    fn seen_status(&self, version: u64) -> Option<Arc<StatusAnswer>> {
        SEEN_STATUS.with_borrow(|seen| {
            seen.iter()
                .find(|s| s.cache == self.id)
                .filter(|s| s.version == version && Instant::now() < s.expires)
                .map(|s| s.answer.clone())
        })
    }

    /// `version` was read before the lookup that found `answer` fresh: if the cache has
    /// changed since, the versions differ and the memory is not used.
    fn remember_status(&self, version: u64, expires: Instant, answer: &Arc<StatusAnswer>) {
        SEEN_STATUS.with_borrow_mut(|seen| {
            seen.retain(|s| s.cache != self.id);
            if seen.len() >= SEEN_PER_THREAD {
                seen.remove(0);
            }
            seen.push(SeenStatus {
                cache: self.id,
                version,
                expires,
                answer: answer.clone(),
            });
        });
    }

    /// The (cached) answer to `query`, with its memoized body.
    pub async fn log_answer(&self, query: LogQuery) -> Result<Arc<LogAnswer>, StoreError> {
        let inner = self.inner.clone();
        self.log
            .get_or_load(query, move || {
                async move {
                    inner
                        .log_entries(query)
                        .await
                        .map(|entries| Arc::new(LogAnswer::new(entries)))
                }
                .boxed()
            })
            .await
    }

    /// Empties every cache (`POST /QoEDataService/ClearCache`).
    pub fn clear(&self) {
        self.status.clear();
        self.log.clear();
    }

    /// Each cache's name and counters, for `/metrics`.
    pub fn stats(&self) -> Vec<(&'static str, CacheStats)> {
        vec![
            ("status", self.status.stats()),
            ("integration_log", self.log.stats()),
        ]
    }
}

#[async_trait]
impl IntegrationLogStore for CachingStore {
    async fn status_entries(&self) -> Result<Vec<CategoryTime>, StoreError> {
        Ok(self.status_answer().await?.read.entries.clone())
    }

    /// The Status operation, the status page and `/metrics` share this one cached read.
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        Ok(self.status_answer().await?.read.clone())
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.log_answer(query).await?.entries.clone())
    }

    /// Readiness always asks the database.
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn readiness(&self) -> Result<Vec<String>, StoreError> {
        self.inner.readiness().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures_util::future::join_all;

    use super::*;

    const TTL: Duration = Duration::from_secs(5);
    const QUERY_TIME: Duration = Duration::from_millis(100);

    #[derive(Debug, thiserror::Error)]
    #[error("the test database is down")]
    struct Down;

    /// Takes `QUERY_TIME` (virtual) per call, counts calls, and fails while told to.
    #[derive(Default)]
    struct SlowStore {
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
    }

    impl SlowStore {
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn fail(&self, failing: bool) {
            self.failing.store(failing, Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl IntegrationLogStore for SlowStore {
        async fn status_entries(&self) -> Result<Vec<CategoryTime>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(QUERY_TIME).await;
            if self.failing.load(Ordering::SeqCst) {
                Err(StoreError::new(Unavailability::Unreachable, Down))
            } else {
                Ok(Vec::new())
            }
        }

        async fn log_entries(&self, _query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(QUERY_TIME).await;
            Ok(Vec::new())
        }

        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn log_reads_are_cached_per_query_and_cleared_with_the_rest() {
        let (store, cache) = cached(TTL);
        let newest_ten = LogQuery::from_pairs([("top", "10")]).expect("valid query");

        join_all((0..50).map(|_| cache.log_entries(newest_ten))).await;
        cache.log_entries(LogQuery::default()).await.expect("read");
        let before_clear = store.calls();
        cache.clear();
        cache.log_entries(newest_ten).await.expect("read");

        assert_eq!(before_clear, 2, "one query per distinct LogQuery");
        assert_eq!(store.calls(), 3, "ClearCache forgets log reads too");
    }

    fn cached(ttl: Duration) -> (Arc<SlowStore>, CachingStore) {
        let store = Arc::new(SlowStore::default());
        let caching = CachingStore::new(store.clone(), ttl);
        (store, caching)
    }

    #[tokio::test(start_paused = true)]
    async fn two_hundred_concurrent_misses_make_one_query() {
        let (store, cache) = cached(TTL);

        let results = join_all((0..200).map(|_| cache.status_entries())).await;

        assert!(results.iter().all(Result::is_ok));
        assert_eq!(store.calls(), 1);
        assert_eq!(
            cache.stats()[0].1,
            CacheStats {
                hits: 0,
                misses: 1,
                coalesced: 199
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_reused_until_the_ttl_passes() {
        let (store, cache) = cached(TTL);
        cache.status_entries().await.expect("first");

        tokio::time::advance(TTL - Duration::from_millis(1)).await;
        cache.status_entries().await.expect("within the ttl");
        assert_eq!(store.calls(), 1, "asked the database within the ttl");

        tokio::time::advance(Duration::from_millis(1)).await;
        cache.status_entries().await.expect("after the ttl");
        assert_eq!(store.calls(), 2, "did not refresh after the ttl");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_not_cached_and_the_next_request_retries() {
        let (store, cache) = cached(TTL);
        store.fail(true);

        let concurrent = join_all((0..10).map(|_| cache.status_entries())).await;
        assert!(
            concurrent.iter().all(Result::is_err),
            "waiters share the failure"
        );
        assert_eq!(store.calls(), 1);

        store.fail(false);
        cache.status_entries().await.expect("the retry succeeds");
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_whose_waiters_went_away_still_completes_and_is_kept() {
        let (store, cache) = cached(TTL);
        let abandoned = tokio::time::timeout(QUERY_TIME / 2, cache.status_entries()).await;
        assert!(
            abandoned.is_err(),
            "the first request gave up before the answer"
        );

        tokio::time::sleep(QUERY_TIME).await;
        cache
            .status_entries()
            .await
            .expect("answered from the cache");

        assert_eq!(store.calls(), 1);
        let stats = cache.stats()[0].1;
        assert_eq!(
            (stats.hits, stats.coalesced),
            (1, 0),
            "the abandoned load was left for the next request to finish"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clear_empties_the_cache() {
        let (store, cache) = cached(TTL);
        cache.status_entries().await.expect("first");

        cache.clear();
        cache.status_entries().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_running_during_clear_is_not_kept() {
        let (store, cache) = cached(TTL);

        let (during, ()) = tokio::join!(cache.status_entries(), async {
            tokio::task::yield_now().await;
            cache.clear();
        });
        during.expect("the running load still answers its waiter");
        cache.status_entries().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_asks_the_database_every_time() {
        let (store, cache) = cached(Duration::ZERO);

        join_all((0..3).map(|_| cache.status_entries())).await;

        assert_eq!(store.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_log_cache_keeps_at_most_its_bound_of_distinct_queries() {
        let store = Arc::new(SlowStore::default());
        let cache = CachingStore::with_log_limit(store.clone(), TTL, 10);

        for top in 1..=7000u16 {
            let query = LogQuery::from_pairs([("top", (top % 1000 + 1).to_string().as_str())])
                .expect("valid query");
            cache.log_answer(query).await.expect("read");
        }

        assert!(lock(&cache.log.entries).len() <= 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cached_log_answer_is_rendered_once() {
        let (_store, cache) = cached(TTL);
        let renders = AtomicUsize::new(0);
        let render = |_: &[LogEntry]| {
            renders.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(b"[]".to_vec())
        };

        for _ in 0..5 {
            let answer = cache.log_answer(LogQuery::default()).await.expect("read");
            answer.body_or_render(render).expect("rendered");
        }

        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cached_status_answer_is_rendered_once_and_reloaded_after_the_ttl() {
        let (store, cache) = cached(TTL);
        let renders = AtomicUsize::new(0);
        let render = |_: &IntegrationStatus| {
            renders.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(b"{}".to_vec())
        };

        for _ in 0..5 {
            let answer = cache.status_answer().await.expect("read");
            answer.body_or_render(render).expect("rendered");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);

        tokio::time::advance(TTL).await;
        let answer = cache.status_answer().await.expect("read");
        answer.body_or_render(render).expect("rendered");
        assert_eq!(store.calls(), 2, "a remembered answer outlived its ttl");
        assert_eq!(renders.load(Ordering::SeqCst), 2);
        assert_eq!(
            cache.stats()[0].1,
            CacheStats {
                hits: 4,
                misses: 2,
                coalesced: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_remembered_status_answer_is_dropped_by_clear() {
        let (store, cache) = cached(TTL);
        cache.status_answer().await.expect("first");
        cache.status_answer().await.expect("remembered");

        cache.clear();
        cache.status_answer().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_cached_separately() {
        let cache: SingleFlightCache<u32, u32> = SingleFlightCache::new(TTL);
        let loads = Arc::new(AtomicUsize::new(0));
        let load = |value: u32| {
            let loads = loads.clone();
            move || {
                async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    Ok(value)
                }
                .boxed()
            }
        };

        assert_eq!(cache.get_or_load(1, load(10)).await.expect("1"), 10);
        assert_eq!(cache.get_or_load(2, load(20)).await.expect("2"), 20);
        assert_eq!(cache.get_or_load(1, load(99)).await.expect("1 again"), 10);

        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }
}
