//! The state every handler and middleware may use, and the one function that builds it.
use std::sync::Arc;

use crate::configuration::{CacheSettings, IntegrationLogSettings, Settings};
use crate::metrics::{Metrics, Sources};
use crate::middleware::api_key::ApiKeyGate;
use crate::middleware::request_context::Requests;
use crate::store::cache::CachingStore;
use crate::store::{layers, IntegrationLogStore};

/// What every handler and middleware may use. Cheap to clone: all of it is shared by the
/// server's workers.
#[derive(Clone)]
pub struct AppState {
    /// The one store handlers read: the database, metered, behind the cache (`cache.ttl`).
    pub store: Arc<CachingStore>,
    pub integration_log: IntegrationLogSettings,
    pub cache_settings: CacheSettings,
    pub metrics: Arc<Metrics>,
    /// `http.api_keys`: the gate `middleware::api_key` checks; part of the state so that no
    /// wiring can leave it out (`routes::configure` registers it for the middleware).
    pub api_keys: Arc<ApiKeyGate>,
    /// `http.cors_trusted_origins`.
    pub cors_trusted_origins: Vec<String>,
    /// Requests in flight and the HTTP metrics, recorded by `middleware::request_context`.
    pub requests: Arc<Requests>,
}

impl AppState {
    /// The state as `settings` say, over `database` read through metering and the cache, with
    /// `/metrics` reading `sources`: how the server and the in-process tests both build it.
    pub fn new(
        database: Arc<dyn IntegrationLogStore>,
        settings: &Settings,
        sources: Sources,
    ) -> Self {
        let cache = settings.cache;
        let metrics = Arc::new(Metrics::new(sources));
        let store = layers::layered(database, &cache, metrics.clone());
        AppState {
            store,
            integration_log: settings.integration_log.clone(),
            cache_settings: cache,
            requests: Arc::new(Requests::new(metrics.clone())),
            metrics,
            api_keys: Arc::new(
                ApiKeyGate::new(&settings.http.api_keys).public_status(settings.http.public_status),
            ),
            cors_trusted_origins: settings.http.cors_trusted_origins.clone(),
        }
    }

    /// Forgets every cached database answer (`POST /QoEDataService/ClearCache`), at most once
    /// per `store::cache::CLEAR_INTERVAL` (see [`CachingStore::clear`]).
    pub async fn clear_cache(&self) {
        self.store.clear().await;
    }
}
