//! Single-flight and read scale through the real pool and driver, against the TDS test server.
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use futures_util::future::join_all;
use qoe_data_service::db::{SqlServerStore, STATUS_MARKER};
use qoe_data_service::paths::{
    API_KEY_HEADER, CLEAR_CACHE_PATH, LOG_PATH, READYZ_PATH, STATUS_PATH,
};
use qoe_data_service::store::IntegrationLogStore;
use testkit::integration_log::IntegrationLogDb;
use testkit::{Fault, Request, TdsTestServer};

use crate::helpers::*;

const LIMIT: Duration = Duration::from_secs(10);

async fn sample_server() -> TdsTestServer {
    TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("the TDS test server starts")
}

fn status_queries(server: &TdsTestServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|request| match request {
            Request::Rpc { sql, .. } => sql.as_deref().is_some_and(|s| s.contains(STATUS_MARKER)),
            Request::Batch { sql } => sql.contains(STATUS_MARKER),
        })
        .count()
}

#[actix_web::test]
async fn two_hundred_concurrent_misses_make_one_status_query_on_the_server() {
    let server = sample_server().await;
    server.set_fault(Fault::Stall);
    let mut settings = test_settings(&server.ado_connection_string());
    settings.integration_log.enabled = true;
    let store = SqlServerStore::new(&settings.database).expect("store");
    let app = TestApp::builder()
        .store(Arc::new(store))
        .integration_log(settings.integration_log)
        .cache(settings.cache)
        .spawn()
        .await;

    let requests = join_all((0..200).map(|_| app.get(STATUS_PATH).into_future()));
    let release = async {
        wait_until("200 requests waiting on the cache", LIMIT, || {
            let stats = app.state().store.stats()[0].1;
            stats.misses + stats.coalesced == 200
        })
        .await;
        wait_until("the query to reach the server", LIMIT, || {
            status_queries(&server) == 1
        })
        .await;
        server.set_fault(Fault::None);
    };
    let (responses, ()) = tokio::join!(requests, release);

    assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(status_queries(&server), 1);
}

#[actix_web::test]
async fn application_intent_read_only_reaches_the_server_in_login7() {
    let server = sample_server().await;
    for (suffix, read_only_logins) in [("", 0), (";ApplicationIntent=ReadOnly", 1)] {
        let before = server.stats().read_only_logins;
        let settings = test_settings(&format!("{}{suffix}", server.ado_connection_string()));
        let store = SqlServerStore::new(&settings.database).expect("store");

        store.ping().await.expect("ping");

        assert_eq!(
            server.stats().read_only_logins - before,
            read_only_logins,
            "connection string suffix `{suffix}`"
        );
    }
}

/// How long each workload of [`clients_cannot_make_the_service_query_more_than_five_times_a_second`]
/// runs: long enough for a few of the one-second intervals that bound it.
const WORKLOAD: Duration = Duration::from_secs(3);
const CLIENTS: u64 = 20;
/// The rate the database may see whatever clients do (issue 28).
const MAX_QUERIES_PER_SECOND: f64 = 5.0;

/// What 20 clients do in a loop: ClearCache then Status; `/readyz`; the log with a random
/// `top` (and category, every fourth request).
#[derive(Debug, Clone, Copy)]
enum Workload {
    ClearCacheThenStatus,
    Readyz,
    RandomTops,
}

impl Workload {
    async fn run(self, app: &TestApp, key: Option<&str>) -> u64 {
        let started = std::time::Instant::now();
        let answered = std::sync::atomic::AtomicU64::new(0);
        let client = |seed: u64| {
            let answered = &answered;
            async move {
                let mut random = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
                while started.elapsed() < WORKLOAD {
                    random = random
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let path = match self {
                        Workload::ClearCacheThenStatus => {
                            send(app, Method::POST, CLEAR_CACHE_PATH, key).await;
                            STATUS_PATH.to_owned()
                        }
                        Workload::Readyz => READYZ_PATH.to_owned(),
                        Workload::RandomTops => {
                            let top = (random >> 33) % 1000 + 1;
                            match (random >> 20) % 4 {
                                0 => format!("{LOG_PATH}?top={top}&category=CubeProcessingFailed"),
                                _ => format!("{LOG_PATH}?top={top}"),
                            }
                        }
                    };
                    let status = send(app, Method::GET, &path, key).await;
                    assert_eq!(status, StatusCode::OK, "{path}");
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        };
        join_all((0..CLIENTS).map(client)).await;
        answered.into_inner()
    }
}

async fn send(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> StatusCode {
    let request = app.request(method, path);
    let request = match key {
        Some(key) => request.with_header((API_KEY_HEADER, key)),
        None => request,
    };
    request.await.status
}

#[actix_web::test]
async fn clients_cannot_make_the_service_query_more_than_five_times_a_second() {
    let server = sample_server().await;
    let settings = test_settings(&server.ado_connection_string());
    let store = Arc::new(SqlServerStore::new(&settings.database).expect("store"));
    const KEY: &str = "a-key-of-the-test-that-is-long-enough";

    for key in [None, Some(KEY)] {
        let mut builder = TestApp::builder()
            .store(store.clone())
            .cache(settings.cache);
        if let Some(key) = key {
            builder = builder.api_keys(&[key]);
        }
        let app = builder.spawn().await;
        for workload in [
            Workload::ClearCacheThenStatus,
            Workload::Readyz,
            Workload::RandomTops,
        ] {
            let before = server.stats().requests;
            let answered = workload.run(&app, key).await;
            let queries = server.stats().requests - before;

            let rate = queries as f64 / WORKLOAD.as_secs_f64();
            eprintln!(
                "figure: {workload:?}, API keys {}: {answered} answers, {queries} queries \
                 ({rate:.1}/s)",
                if key.is_some() { "on" } else { "off" }
            );
            assert!(answered > CLIENTS, "{workload:?}: the clients hardly ran");
            assert!(
                rate <= MAX_QUERIES_PER_SECOND,
                "{workload:?}: {queries} queries in {WORKLOAD:?}"
            );
        }
    }
}
