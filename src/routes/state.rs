use std::sync::Arc;

use super::AppState;
use crate::cache::CachingStore;
use crate::configuration::{CacheSettings, IntegrationLogSettings};
use crate::metrics::{MeteredStore, Metrics, PoolGauge};
use crate::store::IntegrationLogStore;

impl AppState {
    /// Handlers read `database` through metering and the cache (`cache.ttl`).
    pub fn new(
        database: Arc<dyn IntegrationLogStore>,
        integration_log: IntegrationLogSettings,
        cache: CacheSettings,
        pool: Option<PoolGauge>,
    ) -> Self {
        let metrics = Arc::new(Metrics::new(pool));
        let metered = Arc::new(MeteredStore::new(database, metrics.clone()));
        let caching = Arc::new(CachingStore::with_log_limit(
            metered,
            cache.ttl,
            cache.log_max_entries,
        ));
        AppState {
            store: caching.clone(),
            integration_log,
            cache: caching,
            cache_settings: cache,
            metrics,
        }
    }

    /// Forgets every cached database answer (`POST /QoEDataService/ClearCache`).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }
}
