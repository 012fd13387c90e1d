//! The store decorator that times every database read for `/metrics`.
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{IntegrationLogStore, NotReady, StoreError};
use crate::domain::{LogEntry, LogQuery, StatusRead};
use crate::metrics::Metrics;

/// Times every read of the store it wraps (`qoe_db_command_duration_seconds`), labelled by
/// the method's own name (`integration_log` for the log).
pub struct MeteredStore {
    inner: Arc<dyn IntegrationLogStore>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn IntegrationLogStore>, metrics: Arc<Metrics>) -> Self {
        MeteredStore { inner, metrics }
    }

    fn record<T>(&self, command: &str, started: Instant, result: &Result<T, StoreError>) {
        self.metrics
            .observe_db(command, result.is_ok(), started.elapsed());
    }
}

#[async_trait]
impl IntegrationLogStore for MeteredStore {
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        let started = Instant::now();
        let result = self.inner.status_read().await;
        self.record("status", started, &result);
        result
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let started = Instant::now();
        let result = self.inner.log_entries(query).await;
        self.record("integration_log", started, &result);
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.ping().await;
        self.record("ping", started, &result);
        result
    }

    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        let started = Instant::now();
        let result = self.inner.readiness().await;
        self.record("readiness", started, &result);
        result
    }
}
