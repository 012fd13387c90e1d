//! The state every handler may use, and how it is built.
use std::sync::Arc;

use crate::cache::CachingStore;
use crate::configuration::{CacheSettings, IntegrationLogSettings};
use crate::metrics::{MeteredStore, Metrics, PoolGauge};
use crate::store::IntegrationLogStore;

/// What every handler may use. Cheap to clone: the store is shared.
#[derive(Clone)]
pub struct AppState {
    /// The one store handlers read: the database, metered, behind the cache (`cache.ttl`).
    pub store: Arc<CachingStore>,
    pub integration_log: IntegrationLogSettings,
    pub cache_settings: CacheSettings,
    pub metrics: Arc<Metrics>,
}

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
        let store = Arc::new(CachingStore::with_log_limit(
            metered,
            cache.ttl,
            cache.log_max_entries,
        ));
        AppState {
            store,
            integration_log,
            cache_settings: cache,
            metrics,
        }
    }

    /// Forgets every cached database answer (`POST /QoEDataService/ClearCache`).
    pub fn clear_cache(&self) {
        self.store.clear();
    }
}
