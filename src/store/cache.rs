//! The store handlers read: database answers kept in a [`SingleFlightCache`] per read, in the
//! form they are served, so that what the database sees is bounded whatever clients ask.
//!
//! An entry holds what is served, not only what was read: the Status entry carries the read,
//! the parsed status and (rendered once) the body with its tag, shared by `Arc`. A cached
//! Status hit takes no lock: each worker thread remembers the answer it last saw fresh and
//! reuses it while the cache says it is still fresh ([`SingleFlightCache::still_fresh`]).
//!
//! The log is read as the newest [`MAX_TOP`] entries of every category, once per `cache.ttl`,
//! and each `top` is a prefix of that read; a category is filtered from the same read when it
//! holds that category's newest `top`, else read on its own the same way: at most seven log
//! queries per ttl, whatever `top`s and categories are asked. Readiness is a result at most
//! [`READINESS_MAX_AGE`] old, and ClearCache takes effect at most once per [`CLEAR_INTERVAL`]
//! ([`ClearSchedule`] says what a caller is still promised).
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::FutureExt;

use super::clearing::ClearSchedule;
use super::single_flight::{Freshness, SingleFlightCache};
use super::{IntegrationLogStore, NotReady, StoreError};
use crate::conditional::Tagged;
use crate::domain::{IntegrationStatus, LogCategory, LogEntry, LogQuery, StatusRead, MAX_TOP};
use crate::metrics::CacheStats;

/// How old a readiness result `/readyz` answers from may be: one probe per this interval at
/// most, shared by every caller, whatever the cache's ttl.
pub const READINESS_MAX_AGE: Duration = Duration::from_secs(1);

/// ClearCache takes effect at most once per this interval; a call within it waits for the
/// next one (so it returns only once the cache was cleared after it began).
pub const CLEAR_INTERVAL: Duration = Duration::from_secs(1);

/// What a readiness probe found, kept whole: a failure is an answer too.
type Readiness = Result<Vec<NotReady>, StoreError>;

/// An [`IntegrationLogStore`] that answers reads from a [`SingleFlightCache`] per method.
/// To cache another read, add a cache field keyed by its parameters and route it through
/// `get_or_load` as [`CachingStore::log_answer`] does.
pub struct CachingStore {
    inner: Arc<dyn IntegrationLogStore>,
    ttl: Duration,
    status: SingleFlightCache<(), Arc<StatusAnswer>>,
    /// The newest [`MAX_TOP`] entries of every category (`None`) or of one: the reads every
    /// log query is answered from.
    log_reads: SingleFlightCache<Option<LogCategory>, Arc<LogRead>>,
    /// Log answers rendered from those reads and held at once, across reads.
    log_answers: AnswerBudget,
    readiness: SingleFlightCache<(), Readiness>,
    clears: ClearSchedule,
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

/// A log answer and its JSON body, rendered by the first request that needs it and reused by
/// every later one while its read is cached (a `top=1000` answer is about 100 KB of JSON).
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

/// How many log answers all reads may keep rendered together (`cache.log_max_entries`).
#[derive(Clone)]
struct AnswerBudget {
    max: usize,
    held: Arc<AtomicUsize>,
}

impl AnswerBudget {
    /// Takes one place, if one is free.
    fn take(&self) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.max).then_some(held + 1)
            })
            .is_ok()
    }

    fn give_back(&self, places: usize) {
        self.held.fetch_sub(places, Ordering::AcqRel);
    }
}

/// One log read (the newest [`MAX_TOP`] entries of all or of one category, newest first) and
/// the answers served from it so far, which live exactly as long as the read is cached.
struct LogRead {
    entries: Vec<LogEntry>,
    answers: Mutex<HashMap<LogQuery, Arc<LogAnswer>>>,
    budget: AnswerBudget,
}

impl LogRead {
    fn new(entries: Vec<LogEntry>, budget: AnswerBudget) -> Self {
        LogRead {
            entries,
            answers: Mutex::new(HashMap::new()),
            budget,
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<LogQuery, Arc<LogAnswer>>> {
        // Never held across an await; every update is a single insert.
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn newest(&self, query: LogQuery) -> impl Iterator<Item = &LogEntry> {
        self.entries
            .iter()
            .filter(move |entry| query.category().is_none_or(|c| c == entry.category))
            .take(usize::from(query.top()))
    }

    /// The answer to `query` already served from this read.
    fn kept(&self, query: LogQuery) -> Option<Arc<LogAnswer>> {
        self.answers().get(&query).cloned()
    }

    /// Whether this read holds the newest `top` entries `query` asks for: it has that many of
    /// its category, or the store had fewer than the read asked for (so it gave them all).
    fn holds(&self, query: LogQuery) -> bool {
        self.entries.len() < usize::from(MAX_TOP)
            || self.newest(query).count() == usize::from(query.top())
    }

    /// The answer to `query` from this read, kept for the next request while the budget
    /// allows.
    fn answer(&self, query: LogQuery) -> Arc<LogAnswer> {
        if let Some(answer) = self.kept(query) {
            return answer;
        }
        let answer = Arc::new(LogAnswer::new(self.newest(query).cloned().collect()));
        let mut answers = self.answers();
        if let Some(kept) = answers.get(&query) {
            return kept.clone();
        }
        if self.budget.take() {
            answers.insert(query, answer.clone());
        }
        answer
    }
}

impl Drop for LogRead {
    fn drop(&mut self) {
        let held = self.answers().len();
        self.budget.give_back(held);
    }
}

impl CachingStore {
    /// A cache of `inner`'s answers for `ttl`, keeping at most `log_max_entries` rendered log
    /// answers.
    pub fn with_log_limit(
        inner: Arc<dyn IntegrationLogStore>,
        ttl: Duration,
        log_max_entries: usize,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        CachingStore {
            inner,
            ttl,
            status: SingleFlightCache::new(ttl),
            log_reads: SingleFlightCache::new(ttl),
            log_answers: AnswerBudget {
                max: log_max_entries,
                held: Arc::new(AtomicUsize::new(0)),
            },
            readiness: SingleFlightCache::new(READINESS_MAX_AGE),
            clears: ClearSchedule::new(CLEAR_INTERVAL),
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

    /// The answer to `query`, with its memoized body: from the cached read of the newest
    /// entries of every category, or of `query`'s category when that read lacks some of
    /// them. With the cache off (`cache.ttl` 0), the store is asked exactly `query`.
    pub async fn log_answer(&self, query: LogQuery) -> Result<Arc<LogAnswer>, StoreError> {
        if self.ttl.is_zero() {
            let entries = self.inner.log_entries(query).await?;
            return Ok(Arc::new(LogAnswer::new(entries)));
        }
        let newest = self.log_read(None).await?;
        if let Some(answer) = newest.kept(query) {
            return Ok(answer);
        }
        let read = if newest.holds(query) {
            newest
        } else {
            self.log_read(query.category()).await?
        };
        Ok(read.answer(query))
    }

    /// The cached read of the newest [`MAX_TOP`] entries of `category` (or of all).
    async fn log_read(&self, category: Option<LogCategory>) -> Result<Arc<LogRead>, StoreError> {
        let inner = self.inner.clone();
        let budget = self.log_answers.clone();
        self.log_reads
            .get_or_load(category, move || {
                async move {
                    let entries = inner.log_entries(LogQuery::deepest(category)).await?;
                    Ok(Arc::new(LogRead::new(entries, budget)))
                }
                .boxed()
            })
            .await
    }

    /// Empties every cache of database answers (`POST /QoEDataService/ClearCache`), at most
    /// once per [`CLEAR_INTERVAL`]: returns once a clear that began no earlier than this call
    /// took effect, so a read that starts afterwards is answered by a query that started
    /// after this call. Reads already running that started after it are kept and shared.
    /// Readiness is not a cached answer of the data and is left as it is.
    pub async fn clear(&self) {
        self.clears
            .clear(|moment| {
                self.status.forget_loaded_until(moment);
                self.log_reads.forget_loaded_until(moment);
            })
            .await;
    }

    /// Each cache's name and counters, for `/metrics`.
    pub fn stats(&self) -> Vec<(&'static str, CacheStats)> {
        vec![
            ("status", self.status.stats()),
            ("integration_log", self.log_reads.stats()),
            ("readiness", self.readiness.stats()),
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

    /// A result at most [`READINESS_MAX_AGE`] old, failures included; one probe at a time,
    /// shared by every caller.
    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        let inner = self.inner.clone();
        self.readiness
            .get_or_load((), move || {
                async move { Ok(inner.readiness().await) }.boxed()
            })
            .await?
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

    /// Takes `QUERY_TIME` (virtual) per call, counts calls, and fails while told to. Its
    /// log holds `log` (newest first) and answers each query as a database would.
    #[derive(Default)]
    struct SlowStore {
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
        log: Vec<LogEntry>,
        log_queries: Mutex<Vec<LogQuery>>,
    }

    impl SlowStore {
        fn with_log(log: Vec<LogEntry>) -> Self {
            SlowStore {
                log,
                ..SlowStore::default()
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn log_queries(&self) -> Vec<LogQuery> {
            self.log_queries.lock().expect("not poisoned").clone()
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

        async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.log_queries.lock().expect("not poisoned").push(query);
            tokio::time::sleep(QUERY_TIME).await;
            Ok(self
                .log
                .iter()
                .filter(|entry| query.category().is_none_or(|c| c == entry.category))
                .take(usize::from(query.top()))
                .cloned()
                .collect())
        }

        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }

        async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(QUERY_TIME).await;
            if self.failing.load(Ordering::SeqCst) {
                Err(StoreError::new(Unavailability::Unreachable, Down))
            } else {
                Ok(Vec::new())
            }
        }
    }

    /// `count` entries a minute apart, newest first: a `CubeProcessingFailed` every
    /// `failure_every`, `DataIntegrationSucceeded` otherwise.
    fn log_with_failures_every(count: usize, failure_every: usize) -> Vec<LogEntry> {
        let newest = chrono::DateTime::<chrono::Utc>::from_timestamp(1_421_577_000, 0)
            .expect("a valid time");
        (0..count)
            .map(|i| LogEntry {
                category: if i % failure_every == failure_every - 1 {
                    LogCategory::CubeProcessingFailed
                } else {
                    LogCategory::DataIntegrationSucceeded
                },
                time: newest - chrono::TimeDelta::minutes(i as i64),
                description: Some(format!("entry {i}")),
            })
            .collect()
    }

    fn log_query(pairs: &[(&str, &str)]) -> LogQuery {
        LogQuery::from_pairs(pairs.iter().copied()).expect("valid query")
    }

    /// A cache over a store whose log is [`log_with_failures_every`]`(count, failure_every)`.
    fn cached_log(count: usize, failure_every: usize) -> (Arc<SlowStore>, CachingStore) {
        let store = Arc::new(SlowStore::with_log(log_with_failures_every(
            count,
            failure_every,
        )));
        let cache = CachingStore::with_log_limit(store.clone(), TTL, 100);
        (store, cache)
    }

    /// The newest `top` cube failures, through `cache`.
    async fn cube_failures(cache: &CachingStore, top: usize) -> Arc<LogAnswer> {
        let top = top.to_string();
        cache
            .log_answer(log_query(&[
                ("top", &top),
                ("category", LogCategory::CubeProcessingFailed.as_str()),
            ]))
            .await
            .expect("read")
    }

    #[tokio::test(start_paused = true)]
    async fn every_top_is_answered_from_one_read_of_the_newest_entries_cleared_with_the_rest() {
        let (store, cache) = cached_log(3000, 20);

        for top in 1..=MAX_TOP {
            let answer = cache
                .log_answer(log_query(&[("top", &top.to_string())]))
                .await
                .expect("read");
            assert_eq!(answer.entries[..], store.log[..usize::from(top)]);
        }
        let before_clear = store.calls();
        cache.clear().await;
        cache.log_entries(LogQuery::default()).await.expect("read");

        assert_eq!(before_clear, 1, "one query for a thousand tops");
        assert_eq!(store.log_queries()[0], LogQuery::deepest(None));
        assert_eq!(store.calls(), 2, "ClearCache forgets log reads too");
    }

    #[tokio::test(start_paused = true)]
    async fn a_category_is_filtered_from_the_newest_entries_when_they_hold_its_newest_top() {
        let (store, cache) = cached_log(3000, 20);

        let failures = cube_failures(&cache, 50).await;

        let expected: Vec<LogEntry> = store
            .log
            .iter()
            .filter(|e| e.category == LogCategory::CubeProcessingFailed)
            .take(50)
            .cloned()
            .collect();
        assert_eq!(failures.entries, expected);
        assert_eq!(store.log_queries(), vec![LogQuery::deepest(None)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_category_rare_among_the_newest_entries_is_read_once_on_its_own_for_every_top() {
        let (store, cache) = cached_log(100_000, 100);
        let failed = LogCategory::CubeProcessingFailed;

        for top in [5, 10, 11, 200, 1000] {
            let answer = cube_failures(&cache, top).await;
            assert_eq!(answer.entries.len(), top, "top={top}");
            assert!(answer.entries.iter().all(|e| e.category == failed));
        }

        assert_eq!(
            store.log_queries(),
            vec![LogQuery::deepest(None), LogQuery::deepest(Some(failed))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_log_answers_every_category_from_the_one_read() {
        let (store, cache) = cached_log(300, 100);

        let answer = cube_failures(&cache, 10).await;

        assert_eq!(answer.entries.len(), 3, "all there are");
        assert_eq!(store.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_cache_off_the_log_asks_the_store_exactly_what_the_client_asked() {
        let store = Arc::new(SlowStore::with_log(log_with_failures_every(300, 100)));
        let cache = CachingStore::with_log_limit(store.clone(), Duration::ZERO, 100);
        let query = log_query(&[("top", "7"), ("category", "CubeProcessingFailed")]);

        cache.log_answer(query).await.expect("read");

        assert_eq!(store.log_queries(), vec![query]);
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

        cache.clear().await;
        cache.status_read().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_running_during_clear_is_not_kept() {
        let (store, cache) = cached(TTL);

        let (during, ()) = tokio::join!(cache.status_read(), async {
            tokio::task::yield_now().await;
            cache.clear().await;
        });
        during.expect("the running load still answers its waiter");
        cache.status_read().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn clear_cache_called_without_pause_reloads_the_status_at_most_once_a_second() {
        let (store, cache) = cached(TTL);
        let started = tokio::time::Instant::now();

        let client = || async {
            while started.elapsed() < Duration::from_secs(10) {
                cache.clear().await;
                cache.status_read().await.expect("read");
            }
        };
        join_all((0..20).map(|_| client())).await;

        let queries = store.calls();
        assert!(queries <= 11, "{queries} status queries in 10 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_after_clear_returns_is_answered_by_a_query_started_after_clear_was_called() {
        let (store, cache) = cached(TTL);
        cache.clear().await;
        cache.status_read().await.expect("first");

        tokio::time::advance(Duration::from_millis(300)).await;
        let clear_called = tokio::time::Instant::now();
        cache.clear().await;
        let loads_before = store.calls();
        cache.status_read().await.expect("after clear");

        assert!(
            clear_called.elapsed() >= CLEAR_INTERVAL - Duration::from_millis(300),
            "the second clear within a second took effect at once"
        );
        assert_eq!(
            store.calls(),
            loads_before + 1,
            "answered from before the clear"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_clear_keeps_a_read_that_started_after_it_was_called_and_shares_it() {
        let (store, cache) = cached(TTL);
        cache.clear().await;

        let (cleared, reading) = tokio::join!(cache.clear(), async {
            tokio::time::sleep(CLEAR_INTERVAL - QUERY_TIME / 2).await;
            cache.status_read().await
        });
        let _: () = cleared;
        reading.expect("read during the clear's wait");
        cache.status_read().await.expect("after the clear");

        assert_eq!(
            store.calls(),
            1,
            "the read in flight was newer than the clear"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_is_probed_once_for_every_caller_and_kept_a_second() {
        let (store, cache) = cached(TTL);

        let results = join_all((0..200).map(|_| cache.readiness())).await;
        tokio::time::advance(READINESS_MAX_AGE - Duration::from_millis(1)).await;
        cache.readiness().await.expect("still kept");
        assert_eq!(store.calls(), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        cache.readiness().await.expect("probed again");

        assert!(results.iter().all(Result::is_ok));
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_readiness_is_kept_a_second_too_and_not_cleared_by_clear_cache() {
        let (store, cache) = cached(TTL);
        store.fail(true);

        for _ in 0..50 {
            assert!(cache.readiness().await.is_err());
        }
        cache.clear().await;
        assert!(
            cache.readiness().await.is_err(),
            "ClearCache forgot readiness"
        );
        tokio::time::advance(READINESS_MAX_AGE).await;
        store.fail(false);
        let again = cache.readiness().await;

        assert!(again.is_ok(), "the failure outlived its second");
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_asks_the_database_every_time() {
        let (store, cache) = cached(Duration::ZERO);

        join_all((0..3).map(|_| cache.status_read())).await;

        assert_eq!(store.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_log_cache_keeps_at_most_its_bound_of_rendered_answers() {
        let store = Arc::new(SlowStore::with_log(log_with_failures_every(3000, 5)));
        let cache = CachingStore::with_log_limit(store.clone(), TTL, 10);

        for (i, category) in [None, Some("CubeProcessingFailed")]
            .into_iter()
            .cycle()
            .take(7000)
            .enumerate()
        {
            let top = (i % 1000 + 1).to_string();
            let mut pairs = vec![("top", top.as_str())];
            pairs.extend(category.map(|c| ("category", c)));
            cache.log_answer(log_query(&pairs)).await.expect("read");
            assert!(cache.log_answers.held.load(Ordering::SeqCst) <= 10);
        }

        cache.clear().await;
        tokio::time::sleep(QUERY_TIME).await;
        assert_eq!(
            cache.log_answers.held.load(Ordering::SeqCst),
            0,
            "a cleared read gives its places back"
        );
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

        cache.clear().await;
        cache.status_answer().await.expect("after clear");

        assert_eq!(store.calls(), 2);
    }
}
