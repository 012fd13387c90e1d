use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::future::IntoFuture;

use actix_service::boxed::BoxService;
use actix_service::ServiceExt;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{AsHeaderName, HeaderMap, TryIntoHeaderPair};
use actix_web::http::{Method, StatusCode};
use actix_web::test;
use actix_web::web::Bytes;
use async_trait::async_trait;
use chrono::TimeDelta;
use chrono_tz::Tz;
use futures_util::future::LocalBoxFuture;
use qoe_data_service::app_state::AppState;
use qoe_data_service::configuration::{
    ApiKeys, CacheSettings, IntegrationLogSettings, LogSource, Settings,
};
use qoe_data_service::domain::{CategoryTime, LogCategory, LogEntry, LogQuery, StatusRead};
use qoe_data_service::startup::{app, Application};
use qoe_data_service::store::{IntegrationLogStore, NotReady, StoreError, Unavailability};
use secrecy::SecretString;
use testkit::integration_log::{documentation_sample_rows, parse_doc_time};

#[path = "../support/mod.rs"]
mod support;

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

    /// Fails every call with `error`.
    pub fn failing_with(error: StoreError) -> Arc<Self> {
        Arc::new(FakeStore {
            failure: Mutex::new(Some(error)),
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
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        let entries = self.entries.lock().expect("not poisoned").clone();
        self.answer(entries)
            .map(|entries| Arc::new(StatusRead::from_entries(entries)))
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        *self.last_log_query.lock().expect("not poisoned") = Some(query);
        let log = self.log.lock().expect("not poisoned").clone();
        self.answer(log)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.answer(())
    }

    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        self.answer(Vec::new())
    }
}

fn enabled(time_zone: Tz) -> IntegrationLogSettings {
    IntegrationLogSettings {
        enabled: true,
        time_zone,
        stale_after: TimeDelta::minutes(30),
        page_refresh: Some(Duration::from_secs(60)),
        source: LogSource::Table,
    }
}

fn disabled() -> IntegrationLogSettings {
    IntegrationLogSettings {
        enabled: false,
        ..enabled(Tz::UTC)
    }
}

type AppService = BoxService<actix_http::Request, ServiceResponse, actix_web::Error>;

/// What a [`TestApp`]'s settings read as the database: never asked, the store is a double.
const UNUSED_DATABASE: &str = "Server=tcp:127.0.0.1,1433;User Id=qoe_test;Password=unused";

/// The app as production wires it (`AppState::new` and `startup::app`), in-process.
pub struct TestApp {
    service: AppService,
    state: AppState,
}

/// What a [`TestApp`] is spawned with: [`Settings::for_tests`] with the log enabled in UTC
/// and the cache off, over an empty store.
pub struct TestAppBuilder {
    store: Arc<dyn IntegrationLogStore>,
    settings: Settings,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        let mut settings = test_settings(UNUSED_DATABASE);
        settings.integration_log = enabled(Tz::UTC);
        settings.cache.ttl = Duration::ZERO;
        TestAppBuilder {
            store: FakeStore::with_entries(vec![]),
            settings,
        }
    }

    /// The default app: see [`TestAppBuilder`].
    pub async fn spawn() -> TestApp {
        TestApp::builder().spawn().await
    }

    pub fn get(&self, path: &str) -> AppRequest<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> AppRequest<'_> {
        self.request(Method::POST, path)
    }

    pub fn request(&self, method: Method, path: &str) -> AppRequest<'_> {
        AppRequest {
            app: self,
            request: test::TestRequest::default().method(method).uri(path),
        }
    }

    /// The state the handlers share, to look at the cache's counters.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// How many requests the API key check has refused.
    pub fn api_key_rejections(&self) -> u64 {
        self.state.api_keys.rejections()
    }
}

impl TestAppBuilder {
    pub fn store(mut self, store: Arc<dyn IntegrationLogStore>) -> Self {
        self.store = store;
        self
    }

    /// Any settings (start from [`Settings::for_tests`]); the database is still the store.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    pub fn integration_log(mut self, integration_log: IntegrationLogSettings) -> Self {
        self.settings.integration_log = integration_log;
        self
    }

    /// The integration log enabled, its times shown in `time_zone`.
    pub fn time_zone(mut self, time_zone: Tz) -> Self {
        self.settings.integration_log = enabled(time_zone);
        self
    }

    /// The integration log switched off.
    pub fn disabled(mut self) -> Self {
        self.settings.integration_log = disabled();
        self
    }

    pub fn api_keys(mut self, keys: &[&str]) -> Self {
        let keys = keys.iter().map(|&key| SecretString::from(key)).collect();
        self.settings.http.api_keys = ApiKeys::new(keys).expect("valid test keys");
        self
    }

    /// `http.public_status = true`: Status and the page answer without a key.
    pub fn public_status(mut self) -> Self {
        self.settings.http.public_status = true;
        self
    }

    pub fn trusted_origins(mut self, origins: &[&str]) -> Self {
        self.settings.http.cors_trusted_origins =
            origins.iter().map(|&origin| origin.to_owned()).collect();
        self
    }

    /// Database answers are cached for `ttl`.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.settings.cache.ttl = ttl;
        self
    }

    pub fn cache(mut self, cache: CacheSettings) -> Self {
        self.settings.cache = cache;
        self
    }

    pub async fn spawn(self) -> TestApp {
        let state = AppState::new(self.store, &self.settings, Default::default());
        let service = test::init_service(app(state.clone())).await;
        TestApp {
            service: actix_service::boxed::service(
                service.map(ServiceResponse::map_into_boxed_body),
            ),
            state,
        }
    }
}

/// A request on its way to a [`TestApp`]: add headers, then `.await` it.
pub struct AppRequest<'a> {
    app: &'a TestApp,
    request: test::TestRequest,
}

impl AppRequest<'_> {
    pub fn with_header(mut self, name: impl TryIntoHeaderPair) -> Self {
        self.request = self.request.insert_header(name);
        self
    }
}

impl<'a> IntoFuture for AppRequest<'a> {
    type Output = TestResponse;
    type IntoFuture = LocalBoxFuture<'a, TestResponse>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let response = test::call_service(&self.app.service, self.request.to_request()).await;
            let status = response.status();
            let headers = response.headers().clone();
            let body = test::read_body(response).await;
            TestResponse {
                status,
                headers,
                body,
            }
        })
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// A header as text, if present and printable.
    pub fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
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
    let time = parse_doc_time(cqd_time).unwrap_or_else(|| panic!("bad sample time {cqd_time}"));
    CategoryTime {
        category,
        time: time.and_utc(),
    }
}

/// The documentation's sample (testkit's, the one source) as the store hands it out.
pub fn documentation_sample() -> Vec<CategoryTime> {
    documentation_sample_rows()
        .into_iter()
        .map(|row| CategoryTime {
            category: row.category.parse().expect("a sample category"),
            time: row.time.and_utc(),
        })
        .collect()
}

/// With the integration log switched off, `path` answers 200 with an empty body and never
/// asks `store`, whatever it holds.
pub async fn assert_disabled_answers_empty_without_the_database(path: &str, store: Arc<FakeStore>) {
    let app = TestApp::builder()
        .store(store.clone())
        .disabled()
        .spawn()
        .await;

    let response = app.get(path).await;

    assert_eq!(response.status, StatusCode::OK, "{path}");
    assert!(response.body.is_empty(), "{path}: {}", response.text());
    assert_eq!(
        store.calls(),
        0,
        "{path}: the store was called while disabled"
    );
}

/// Checks a response body against the documentation sample: same values, members in order.
pub fn assert_is_documentation_sample(body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let actual: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(actual, support::documented_status(), "{text}");
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
    async fn status_read(&self) -> Result<Arc<StatusRead>, StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.status_read().await
    }

    async fn log_entries(&self, query: LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.log_entries(query).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn readiness(&self) -> Result<Vec<NotReady>, StoreError> {
        self.inner.readiness().await
    }
}

impl FakeStore {
    /// From now on, answer (`None`) or fail with `kind`.
    pub fn set_failure(&self, kind: Option<Unavailability>) {
        *self.failure.lock().expect("not poisoned") =
            kind.map(|kind| StoreError::new(kind, DriverSaysTooMuch));
    }
}

/// Runs `application` in the background, as the binary does; its port.
pub fn run_in_background(application: Application) -> u16 {
    let port = application.port();
    actix_web::rt::spawn(application.run_until_stopped());
    port
}

/// The whole service, bound as `settings` say, over an empty store double; its port.
pub fn serve_over_an_empty_store(settings: Settings) -> u16 {
    let application = Application::build_with_store(settings, FakeStore::with_entries(vec![]))
        .expect("the service starts");
    run_in_background(application)
}

/// [`Settings::for_tests`]: the defaults, this database, a free port on 127.0.0.1.
pub fn test_settings(connection_string: &str) -> Settings {
    Settings::for_tests(connection_string).unwrap_or_else(|e| panic!("test settings rejected: {e}"))
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

/// One CQD run of a history where the cube fails rarely: the archive step starts at `start`
/// (UTC) and takes a minute, then the cube takes 30 s and fails when `cube_failed`.
#[derive(Debug, Clone, Copy)]
pub struct RareFailureRun {
    pub start: chrono::NaiveDateTime,
    pub cube_failed: bool,
}

impl RareFailureRun {
    pub const ARCHIVE_SECONDS: i64 = 60;
    pub const CUBE_SECONDS: i64 = 30;

    pub fn cube_start(&self) -> chrono::NaiveDateTime {
        self.start + TimeDelta::seconds(Self::ARCHIVE_SECONDS)
    }

    pub fn cube_end(&self) -> chrono::NaiveDateTime {
        self.cube_start() + TimeDelta::seconds(Self::CUBE_SECONDS)
    }

    /// The cube step's message, which both sources serve as `LogDescription`.
    pub fn cube_message(&self) -> String {
        format!("cube run of {}", self.start.format("%Y-%m-%d %H:%M"))
    }
}

/// 1,000 runs every 15 minutes, oldest first, up to 2015-01-18 10:30 UTC; one cube run in 100
/// fails, so the newest 1,000 log entries (250 runs) hold only 2 or 3 failures.
pub fn rare_failure_runs() -> Vec<RareFailureRun> {
    let newest = chrono::NaiveDate::from_ymd_opt(2015, 1, 18)
        .and_then(|day| day.and_hms_opt(10, 30, 0))
        .expect("a valid time");
    (0..1000i64)
        .rev()
        .map(|age| RareFailureRun {
            start: newest - TimeDelta::minutes(15 * age),
            cube_failed: age % 100 == 7,
        })
        .collect()
}

/// What both sources must answer over [`rare_failure_runs`]: `?category=…Failed&top=N` is the
/// newest N failures of the cube (as many as there are), newest first, with their messages.
pub async fn assert_the_newest_rare_failures_are_found(app: &TestApp) {
    let failures: Vec<serde_json::Value> = rare_failure_runs()
        .iter()
        .rev()
        .filter(|run| run.cube_failed)
        .map(|run| {
            serde_json::json!({
                "LogCategory": "CubeProcessingFailed",
                "LogTime": run.cube_end().format("%Y-%m-%dT%H:%M:%S.00").to_string(),
                "LogDescription": run.cube_message(),
            })
        })
        .collect();
    for top in [1, 5, 10, 11, 1000] {
        let response = app
            .get(&format!(
                "{}?category=CubeProcessingFailed&top={top}",
                qoe_data_service::paths::LOG_PATH
            ))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
        let expected = &failures[..top.min(failures.len())];
        assert_eq!(
            body,
            serde_json::Value::from(expected.to_vec()),
            "top={top}"
        );
    }
}
