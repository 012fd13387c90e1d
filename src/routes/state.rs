//! The state every handler may use, and how it is built.
use std::sync::Arc;

use crate::configuration::{CacheSettings, IntegrationLogSettings};
use crate::metrics::{Metrics, PoolGauge};
use crate::store::cache::CachingStore;
use crate::store::{layers, IntegrationLogStore};

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
        let store = layers::layered(database, &cache, metrics.clone());
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
