//! The SQL Server store against the in-process TDS server (`testkit`): the log query's
//! parameters, row mapping and round trips, without a real SQL Server.
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use qoe_data_service::configuration::Settings;
use qoe_data_service::db::{LoginBackoff, SqlServerStore, LOG_MARKER};
use qoe_data_service::domain::{LogCategory, LogQuery};
use qoe_data_service::store::{IntegrationLogStore, Unavailability};
use testkit::integration_log::IntegrationLogDb;
use testkit::{Fault, TdsTestServer};

async fn store_for(db: IntegrationLogDb) -> (TdsTestServer, SqlServerStore) {
    let server = TdsTestServer::start(db)
        .await
        .expect("the TDS test server starts");
    let settings = Settings::for_tests(&server.ado_connection_string()).expect("valid settings");
    let store = SqlServerStore::new(&settings.database).expect("a store");
    (server, store)
}

fn query(pairs: &[(&str, &str)]) -> LogQuery {
    LogQuery::from_pairs(pairs.iter().copied()).expect("a valid query")
}

#[tokio::test]
async fn the_log_of_one_category_is_one_round_trip_newest_first() {
    let (server, store) = store_for(IntegrationLogDb::documentation_sample()).await;

    let entries = store
        .log_entries(query(&[("top", "2"), ("category", "CubeProcessingFailed")]))
        .await
        .expect("the log");

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0]
        .sql()
        .is_some_and(|sql| sql.contains(LOG_MARKER)));
    let times: Vec<NaiveDateTime> = entries.iter().map(|e| e.time.naive_utc()).collect();
    assert_eq!(
        times,
        vec![
            testkit::integration_log::parse_doc_time("01/18/2015 10:30:58").expect("time"),
            testkit::integration_log::parse_doc_time("01/18/2015 10:29:28").expect("time"),
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.category == LogCategory::CubeProcessingFailed));
    assert_eq!(
        entries[0].description.as_deref(),
        Some("CubeProcessingFailed (sample)")
    );
}

#[tokio::test]
async fn the_unfiltered_log_mixes_categories_and_keeps_missing_descriptions_null() {
    let (_server, store) = store_for(IntegrationLogDb::documentation_sample()).await;

    let entries = store
        .log_entries(query(&[("top", "3")]))
        .await
        .expect("the log");

    let categories: Vec<LogCategory> = entries.iter().map(|e| e.category).collect();
    assert_eq!(
        categories,
        vec![
            LogCategory::CubeProcessingFailed,
            LogCategory::CubeProcessingStarted,
            LogCategory::DataIntegrationSucceeded,
        ]
    );
    assert_eq!(entries[1].description, None);
}

#[tokio::test]
async fn one_deadline_bounds_the_pool_wait_connect_and_command_together() {
    let server = TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("the TDS test server starts");
    let mut settings =
        Settings::for_tests(&server.ado_connection_string()).expect("valid settings");
    settings.database.connect_timeout = Duration::from_millis(5000);
    settings.database.command_timeout = Duration::from_millis(5000);
    settings.database.request_timeout = Duration::from_millis(400);
    let store = SqlServerStore::new(&settings.database).expect("a store");
    server.set_fault(testkit::Fault::Stall);

    let started = std::time::Instant::now();
    let error = store
        .status_entries()
        .await
        .expect_err("the database never answers");

    assert_eq!(
        error.kind(),
        qoe_data_service::store::Unavailability::TimedOut
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "took {:?} with a 400 ms request deadline and 5 s command timeout",
        started.elapsed()
    );
    assert!(
        format!("{error:?}").contains("database.request_timeout_ms"),
        "{error:?}"
    );
}

#[test]
fn the_test_server_knows_each_query_by_the_services_own_marker() {
    use qoe_data_service::db;
    use testkit::{integration_log, sql_agent};

    for (service, test_server) in [
        (db::STATUS_MARKER, integration_log::STATUS_MARKER),
        (db::LOG_MARKER, integration_log::LOG_MARKER),
        (db::AGENT_HISTORY_MARKER, sql_agent::AGENT_HISTORY_MARKER),
        (
            db::AGENT_READINESS_MARKER,
            sql_agent::AGENT_READINESS_MARKER,
        ),
    ] {
        assert_eq!(
            test_server, service,
            "testkit would not recognise the query"
        );
    }
}

/// Reads `store` from `clients` tasks in a loop for `duration`; returns how many answered.
async fn hammer(store: &Arc<SqlServerStore>, clients: usize, duration: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut answered = 0;
                while tokio::time::Instant::now() < deadline {
                    let _ = store.status_read().await;
                    answered += 1;
                    tokio::task::yield_now().await;
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        answered += task.await.expect("a client task");
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusing_every_login_is_not_asked_at_request_rate_and_is_used_once_it_accepts() {
    let server = TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("the TDS test server starts");
    server.set_fault(Fault::LoginFailed);
    let settings = Settings::for_tests(&server.ado_connection_string()).expect("valid settings");
    let backoff = LoginBackoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(1),
    };
    let store =
        Arc::new(SqlServerStore::with_login_backoff(&settings.database, backoff).expect("a store"));

    let answered = hammer(&store, 50, Duration::from_secs(3)).await;
    let attempts = server.stats().login_attempts;
    let error = store.ping().await.expect_err("still refused");

    eprintln!("figure: 50 clients for 3 s against a server refusing logins: {answered} reads answered, {attempts} login attempts");
    assert!(
        answered > 1000,
        "reads were not answered promptly: {answered}"
    );
    // 200 ms doubling to 1 s, at least half of each wait: at most 8 attempts in 3 s.
    assert!(attempts <= 10, "{attempts} login attempts in 3 s");
    assert_eq!(error.kind(), Unavailability::LoginFailed);
    assert!(error.retry_after().is_some(), "no wait told: {error:?}");
    assert_eq!(store.pool_status().login_failures, attempts);

    server.set_fault(Fault::None);
    let recovered = tokio::time::timeout(Duration::from_secs(3), async {
        while store.status_read().await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    assert!(
        recovered.is_ok(),
        "no read succeeded within the longest wait"
    );
    assert_eq!(
        store.pool_status().retry_in,
        None,
        "the wait ended with the success"
    );
    store.ping().await.expect("the server accepts logins again");
}
