use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{test, web};
use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use qoe_data_service::configuration::{
    CacheSettings, HttpSettings, IntegrationLogSettings, LogSource, Settings,
};
use qoe_data_service::domain::{CategoryTime, LogCategory, LogEntry, LogQuery};
use qoe_data_service::middleware::api_key::ApiKeyGate;
use qoe_data_service::routes::AppState;
use qoe_data_service::startup::app;
use qoe_data_service::store::{IntegrationLogStore, StoreError, Unavailability};

/// A store double: answers with what the test gave it, counts the calls and keeps the
/// last log query it was asked.
#[derive(Default)]
pub struct FakeStore {
    entries: Mutex<Vec<CategoryTime>>,
    log: Mutex<Vec<LogEntry>>,
    last_log_query: Mutex<Option<LogQuery>>,
    failure: Mutex<Option<StoreError>>,
    calls: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("Login failed for user 'qoe_service'. server=sql01.corp.example password=S3cret-Pa55")]
pub struct DriverSaysTooMuch;

impl FakeStore {
    pub fn with_entries(entries: Vec<CategoryTime>) -> Arc<Self> {
        Arc::new(FakeStore {
            entries: Mutex::new(entries),
            ..FakeStore::default()
        })
    }

    /// Answers the log query with `log` as given, whatever the query.
    pub fn with_log(log: Vec<LogEntry>) -> Arc<Self> {
        Arc::new(FakeStore {
            log: Mutex::new(log),
            ..FakeStore::default()
        })
    }

    pub fn last_log_query(&self) -> Option<LogQuery> {
        *self.last_log_query.lock().expect("not poisoned")
    }

    /// Fails every call with a cause whose text must never reach a client.
    pub fn failing(kind: Unavailability) -> Arc<Self> {
        Arc::new(FakeStore {
            failure: Mutex::new(Some(StoreError::new(kind, DriverSaysTooMuch))),
            ..FakeStore::default()
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn answer<T>(&self, value: T) -> Result<T, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.failure.lock().expect("not poisoned").clone() {
            Some(failure) => Err(failure),
            None => Ok(value),
        }
    }
}

#[async_trait]
impl IntegrationLogStore for FakeStore {
    async fn status_entries(&self) -> Result<Vec<CategoryTime>, StoreError> {
        let entries = self.entries.lock().expect("not poisoned").clone();
        self.answer(entries)
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        *self.last_log_query.lock().expect("not poisoned") = Some(query);
        let log = self.log.lock().expect("not poisoned").clone();
        self.answer(log)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.answer(())
    }
}

pub fn enabled(time_zone: Tz) -> IntegrationLogSettings {
    IntegrationLogSettings {
        enabled: true,
        time_zone,
        stale_after: TimeDelta::minutes(30),
        source: LogSource::Table,
    }
}

pub fn disabled() -> IntegrationLogSettings {
    IntegrationLogSettings {
        enabled: false,
        ..enabled(Tz::UTC)
    }
}

/// The app as production wires it, in-process, with no CORS, no API keys and the cache off.
pub async fn spawn_app(
    store: Arc<dyn IntegrationLogStore>,
    integration_log: IntegrationLogSettings,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    spawn_app_with_cache(store, integration_log, Duration::ZERO).await
}

/// As [`spawn_app`], caching database answers for `ttl`.
pub async fn spawn_app_with_cache(
    store: Arc<dyn IntegrationLogStore>,
    integration_log: IntegrationLogSettings,
    ttl: Duration,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let http = open_http();
    let gate = web::Data::new(ApiKeyGate::new(&http.api_keys));
    spawn(store, integration_log, http, gate, ttl).await
}

/// The app as production wires it, middleware included, with the given HTTP settings.
pub async fn spawn_app_with(
    store: Arc<dyn IntegrationLogStore>,
    integration_log: IntegrationLogSettings,
    http: HttpSettings,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let gate = web::Data::new(ApiKeyGate::new(&http.api_keys));
    spawn_app_with_gate(store, integration_log, http, gate).await
}

/// An enabled app over an empty store, with the given HTTP settings.
pub async fn spawn_enabled_app(
    http: HttpSettings,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    spawn_app_with(FakeStore::with_entries(vec![]), enabled(Tz::UTC), http).await
}

/// As [`spawn_app_with`], keeping a handle on the API key gate to read its count.
pub async fn spawn_app_with_gate(
    store: Arc<dyn IntegrationLogStore>,
    integration_log: IntegrationLogSettings,
    http: HttpSettings,
    gate: web::Data<ApiKeyGate>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    spawn(store, integration_log, http, gate, Duration::ZERO).await
}

async fn spawn(
    store: Arc<dyn IntegrationLogStore>,
    integration_log: IntegrationLogSettings,
    http: HttpSettings,
    gate: web::Data<ApiKeyGate>,
    ttl: Duration,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let cache = CacheSettings {
        ttl,
        log_max_entries: 256,
    };
    let state = AppState::new(store, integration_log, cache, None);
    test::init_service(app(state, gate, &http)).await
}

/// A response header as text, if present and printable.
pub fn header_text<B>(
    response: &ServiceResponse<B>,
    name: impl actix_web::http::header::AsHeaderName,
) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

pub fn open_http() -> HttpSettings {
    HttpSettings::open(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// A response read off a real socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` on 127.0.0.1:port over HTTP/1.1, for tests of the bound server.
pub async fn http_get(port: u16, path: &str) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the server accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("an answer within 10 s")
    .expect("response read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub fn entry(category: LogCategory, cqd_time: &str) -> CategoryTime {
    CategoryTime {
        category,
        time: NaiveDateTime::parse_from_str(cqd_time, "%m/%d/%Y %H:%M:%S")
            .unwrap_or_else(|e| panic!("bad sample time {cqd_time}: {e}"))
            .and_utc(),
    }
}

/// The rows behind the documentation's sample, plus one older success that the 5-cut drops.
pub fn documentation_sample() -> Vec<CategoryTime> {
    use LogCategory::*;
    let mut rows = Vec::new();
    let mut add = |category, times: &[&str]| {
        rows.extend(times.iter().map(|time| entry(category, time)));
    };
    add(
        DataIntegrationSucceeded,
        &[
            "01/17/2015 14:30:00",
            "01/18/2015 10:30:13",
            "01/18/2015 10:28:29",
            "01/17/2015 15:15:17",
            "01/17/2015 15:00:17",
            "01/17/2015 14:45:13",
        ],
    );
    add(
        CubeProcessingSucceeded,
        &[
            "01/17/2015 15:16:40",
            "01/17/2015 15:01:41",
            "01/17/2015 14:47:19",
            "01/17/2015 14:31:40",
            "01/17/2015 14:17:01",
        ],
    );
    add(
        CubeProcessingFailed,
        &[
            "01/18/2015 10:30:58",
            "01/18/2015 10:29:28",
            "01/17/2015 10:02:20",
            "01/15/2015 20:01:56",
            "01/15/2015 19:45:50",
        ],
    );
    add(CubeProcessingStarted, &["01/18/2015 10:30:16"]);
    rows
}

/// The documentation's sample response, with its empty member made valid JSON.
pub const DOCUMENTATION_SAMPLE_JSON: &str = r#"{
"LastSuccessIntegrations": ["01/18/2015 10:30:13", "01/18/2015 10:28:29", "01/17/2015 15:15:17", "01/17/2015 15:00:17", "01/17/2015 14:45:13"],
"LastSuccessCubeProcessings": ["01/17/2015 15:16:40", "01/17/2015 15:01:41", "01/17/2015 14:47:19", "01/17/2015 14:31:40", "01/17/2015 14:17:01"],
"LastFailedIntegrations": [],
"LastFailedCubeProcessings": ["01/18/2015 10:30:58", "01/18/2015 10:29:28", "01/17/2015 10:02:20", "01/15/2015 20:01:56", "01/15/2015 19:45:50"],
"LastDataIntegrationStart": null,
"LastCubeProcessingStart": "01/18/2015 10:30:16"
}"#;

/// Checks a response body against the documentation sample: same values, members in order.
pub fn assert_is_documentation_sample(body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let actual: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let expected: serde_json::Value =
        serde_json::from_str(DOCUMENTATION_SAMPLE_JSON).expect("the sample is valid JSON");
    assert_eq!(actual, expected, "{text}");
    let positions: Vec<usize> = [
        "LastSuccessIntegrations",
        "LastSuccessCubeProcessings",
        "LastFailedIntegrations",
        "LastFailedCubeProcessings",
        "LastDataIntegrationStart",
        "LastCubeProcessingStart",
    ]
    .iter()
    .map(|member| text.find(member).unwrap_or(usize::MAX))
    .collect();
    assert!(
        positions.is_sorted(),
        "members out of contract order: {text}"
    );
}

/// A store whose every read takes `delay` of (virtual) time: concurrent requests overlap.
pub struct SlowStore {
    inner: Arc<FakeStore>,
    delay: Duration,
}

impl SlowStore {
    pub fn new(inner: Arc<FakeStore>, delay: Duration) -> Arc<Self> {
        Arc::new(SlowStore { inner, delay })
    }
}

#[async_trait]
impl IntegrationLogStore for SlowStore {
    async fn status_entries(&self) -> Result<Vec<CategoryTime>, StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.status_entries().await
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.log_entries(query).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

impl FakeStore {
    /// From now on, answer (`None`) or fail with `kind`.
    pub fn set_failure(&self, kind: Option<Unavailability>) {
        *self.failure.lock().expect("not poisoned") =
            kind.map(|kind| StoreError::new(kind, DriverSaysTooMuch));
    }
}

pub fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

/// Settings as the binary would load them from `QOE_…` variables, with a connection string.
pub fn settings_with(connection_string: &str, pairs: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert(
        "QOE_DATABASE__CONNECTION_STRING".into(),
        connection_string.into(),
    );
    Settings::load_from(None, env).unwrap_or_else(|e| panic!("test settings rejected: {e}"))
}

/// Polls `condition` every 5 ms until it holds; fails the test after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
