//! Single-flight and read scale through the real pool and driver, against the TDS test server.
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use qoe_data_service::db::{SqlServerStore, STATUS_MARKER};
use qoe_data_service::paths::STATUS_PATH;
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
