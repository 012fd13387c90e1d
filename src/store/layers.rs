//! How the store handlers read is assembled from the database store.
use std::sync::Arc;

use super::cache::CachingStore;
use super::metered::MeteredStore;
use super::IntegrationLogStore;
use crate::configuration::CacheSettings;
use crate::metrics::Metrics;

/// The one store handlers read: `database`, each read timed for `/metrics`, behind the cache
/// (`cache.ttl`, `cache.log_max_entries`), so cached answers are not counted as reads.
pub fn layered(
    database: Arc<dyn IntegrationLogStore>,
    cache: &CacheSettings,
    metrics: Arc<Metrics>,
) -> Arc<CachingStore> {
    let metered = Arc::new(MeteredStore::new(database, metrics));
    Arc::new(CachingStore::with_log_limit(
        metered,
        cache.ttl,
        cache.log_max_entries,
    ))
}
