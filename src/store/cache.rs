//! The store handlers read: database answers kept for `cache.ttl` in a [`SingleFlightCache`]
//! per read, in the form they are served.
//!
//! An entry holds what is served, not only what was read: the Status entry carries the read,
//! the parsed status and (rendered once) the body with its tag, shared by `Arc`. A cached
//! Status hit takes no lock: each worker thread remembers the answer it last saw fresh and
//! reuses it while the cache says it is still fresh ([`SingleFlightCache::still_fresh`]).
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::FutureExt;

use super::single_flight::{Freshness, SingleFlightCache};
use super::{IntegrationLogStore, NotReady, StoreError};
use crate::conditional::Tagged;
use crate::domain::{IntegrationStatus, LogEntry, LogQuery, StatusRead};
use crate::metrics::CacheStats;

/// An [`IntegrationLogStore`] that answers reads from a [`SingleFlightCache`] per method.
/// To cache another read, add a cache field keyed by its parameters and route it through
/// `get_or_load` as [`CachingStore::log_answer`] does.
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

/// A Status answer a worker thread saw fresh: reusable while its cache says `seen` is still
/// fresh.
struct SeenStatus {
    cache: u64,
    seen: Freshness,
    answer: Arc<StatusAnswer>,
}

/// Caching stores a thread remembers answers of at once (one in the service; tests make more).
const SEEN_PER_THREAD: usize = 4;

thread_local! {
    /// Per worker thread, so a cached Status hit reads no shared map and takes no lock.
    static SEEN_STATUS: RefCell<Vec<SeenStatus>> = const { RefCell::new(Vec::new()) };
}

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
    /// A cache of `inner`'s answers for `ttl`, keeping at most `log_max_entries` distinct log
    /// queries.
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
        if let Some(answer) = self.seen_status() {
            return Ok(answer);
        }
        let inner = self.inner.clone();
        let (answer, seen) = self
            .status
            .get_or_load_fresh((), move || {
                async move { Ok(Arc::new(StatusAnswer::new(inner.status_read().await?))) }.boxed()
            })
            .await?;
        if let Some(seen) = seen {
            self.remember_status(seen, &answer);
        }
        Ok(answer)
    }

    /// This thread's remembered answer, if the cache says it is still fresh (a hit).
    fn seen_status(&self) -> Option<Arc<StatusAnswer>> {
        SEEN_STATUS.with_borrow(|remembered| {
            remembered
                .iter()
                .find(|s| s.cache == self.id)
                .filter(|s| self.status.still_fresh(s.seen))
                .map(|s| s.answer.clone())
        })
    }

    fn remember_status(&self, seen: Freshness, answer: &Arc<StatusAnswer>) {
        SEEN_STATUS.with_borrow_mut(|remembered| {
            remembered.retain(|s| s.cache != self.id);
            if remembered.len() >= SEEN_PER_THREAD {
                remembered.remove(0);
            }
            remembered.push(SeenStatus {
                cache: self.id,
                seen,
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
    /// The Status operation, the status page and `/metrics` share this one cached read.
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        Ok(self.status_answer().await?.read.clone())
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.log_answer(query).await?.entries.clone())
    }

    /// Never cached: always asks the database.
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    /// Never cached either (for the SQL Server Agent source: its settings against the server).
    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        self.inner.readiness().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures_util::future::join_all;

    use super::*;
    use crate::store::Unavailability;

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
        async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(QUERY_TIME).await;
            if self.failing.load(Ordering::SeqCst) {
                Err(StoreError::new(Unavailability::Unreachable, Down))
            } else {
                Ok(Arc::new(StatusRead::from_entries(Vec::new())))
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

        async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
            Ok(Vec::new())
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
        let caching = CachingStore::with_log_limit(store.clone(), ttl, 100);
        (store, caching)
    }

    #[tokio::test(start_paused = true)]
    async fn two_hundred_concurrent_misses_make_one_query() {
        let (store, cache) = cached(TTL);

        let results = join_all((0..200).map(|_| cache.status_read())).await;

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
        cache.status_read().await.expect("first");

        tokio::time::advance(TTL - Duration::from_millis(1)).await;
        cache.status_read().await.expect("within the ttl");
        assert_eq!(store.calls(), 1, "asked the database within the ttl");

        tokio::time::advance(Duration::from_millis(1)).await;
        cache.status_read().await.expect("after the ttl");
        assert_eq!(store.calls(), 2, "did not refresh after the ttl");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_not_cached_and_the_next_request_retries() {
        let (store, cache) = cached(TTL);
        store.fail(true);

        let concurrent = join_all((0..10).map(|_| cache.status_read())).await;
        assert!(
            concurrent.iter().all(Result::is_err),
            "waiters share the failure"
        );
        assert_eq!(store.calls(), 1);

        store.fail(false);
        cache.status_read().await.expect("the retry succeeds");
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_whose_waiters_went_away_still_completes_and_is_kept() {
        let (store, cache) = cached(TTL);
        let abandoned = tokio::time::timeout(QUERY_TIME / 2, cache.status_read()).await;
        assert!(
            abandoned.is_err(),
            "the first request gave up before the answer"
        );

        tokio::time::sleep(QUERY_TIME).await;
        cache.status_read().await.expect("answered from the cache");

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
        cache.status_read().await.expect("first");

        cache.clear();
        cache.status_read().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_running_during_clear_is_not_kept() {
        let (store, cache) = cached(TTL);

        let (during, ()) = tokio::join!(cache.status_read(), async {
            tokio::task::yield_now().await;
            cache.clear();
        });
        during.expect("the running load still answers its waiter");
        cache.status_read().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_asks_the_database_every_time() {
        let (store, cache) = cached(Duration::ZERO);

        join_all((0..3).map(|_| cache.status_read())).await;

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

        assert!(cache.log.keys_held() <= 10);
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
}
