//! A hostile or broken SQL Server (issue 28): a read stops at the rows its query can return
//! and at the bytes an answer may take, an answer that ends inside a row fails at once, and
//! each is an unexpected result (`503`, "database query failed") on a connection the pool
//! discards. Through the TDS test server's faults.
use std::time::Duration;

use qoe_data_service::configuration::Settings;
use qoe_data_service::db::SqlServerStore;
use qoe_data_service::domain::LogQuery;
use qoe_data_service::store::{IntegrationLogStore, StoreError, Unavailability};
use testkit::integration_log::IntegrationLogDb;
use testkit::{Fault, TdsTestServer};

/// Longer than any answer here needs: a read that ends within it ended on its own.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const PROMPTLY: Duration = Duration::from_secs(5);

async fn store_for(db: IntegrationLogDb) -> (TdsTestServer, SqlServerStore) {
    let server = TdsTestServer::start(db)
        .await
        .expect("the TDS test server starts");
    let mut settings =
        Settings::for_tests(&server.ado_connection_string()).expect("valid settings");
    settings.database.command_timeout = COMMAND_TIMEOUT;
    settings.database.request_timeout = COMMAND_TIMEOUT;
    let store = SqlServerStore::new(&settings.database).expect("a store");
    (server, store)
}

async fn store_with(fault: Fault) -> (TdsTestServer, SqlServerStore) {
    let (server, store) = store_for(IntegrationLogDb::documentation_sample()).await;
    server.set_fault(fault);
    (server, store)
}

fn top(n: &str) -> LogQuery {
    LogQuery::from_pairs([("top", n)]).expect("a valid query")
}

/// The read failed as an unexpected result whose cause says `why`, and the connection it used
/// was closed; with the fault gone, the next read succeeds on a new connection.
async fn assert_refused_and_recovered(
    server: &TdsTestServer,
    store: &SqlServerStore,
    outcome: Result<Result<(), StoreError>, tokio::time::error::Elapsed>,
    why: &str,
) {
    let error = outcome
        .expect("answered before the command timeout")
        .expect_err("the read fails");
    assert_eq!(error.kind(), Unavailability::QueryFailed, "{error:?}");
    assert!(format!("{error:?}").contains(why), "{error:?}");
    assert_eq!(
        store.pool_status().connections,
        0,
        "the connection stays pooled"
    );

    server.set_fault(Fault::None);
    store
        .log_entries(top("2"))
        .await
        .expect("a fresh connection reads again");
    assert_eq!(server.stats().logins_ok, 2);
}

#[tokio::test]
async fn endless_rows_to_the_status_query_stop_at_the_rows_it_can_return() {
    let (server, store) = store_with(Fault::EndlessRows).await;

    let outcome = tokio::time::timeout(PROMPTLY, store.status_entries())
        .await
        .map(|read| read.map(drop));

    assert_refused_and_recovered(&server, &store, outcome, "more than the 30 rows").await;
}

#[tokio::test]
async fn endless_rows_to_the_log_query_stop_at_top() {
    let (server, store) = store_with(Fault::EndlessRows).await;

    let outcome = tokio::time::timeout(PROMPTLY, store.log_entries(top("7")))
        .await
        .map(|read| read.map(drop));

    assert_refused_and_recovered(&server, &store, outcome, "more than the 7 rows").await;
}

#[tokio::test]
async fn endless_rows_to_select_1_stop_after_one_row() {
    let (server, store) = store_with(Fault::EndlessRows).await;

    let outcome = tokio::time::timeout(PROMPTLY, store.ping()).await;

    assert_refused_and_recovered(&server, &store, outcome, "more than the 1 rows").await;
}

#[tokio::test]
async fn a_never_ending_nvarchar_max_value_stops_at_the_byte_budget_of_a_read() {
    let (server, store) = store_with(Fault::EndlessValue).await;

    let outcome = tokio::time::timeout(PROMPTLY, store.log_entries(top("1")))
        .await
        .map(|read| read.map(drop));

    assert_refused_and_recovered(
        &server,
        &store,
        outcome,
        "exceeded the 4 MiB a read may take",
    )
    .await;
}

#[tokio::test]
async fn an_answer_whose_final_packet_ends_inside_a_row_fails_at_once() {
    let (server, store) = store_with(Fault::EndMidRow).await;

    let outcome = tokio::time::timeout(PROMPTLY, store.log_entries(top("3")))
        .await
        .map(|read| read.map(drop));

    assert_refused_and_recovered(&server, &store, outcome, "ended inside a row or token").await;
}

#[tokio::test]
async fn readiness_refuses_a_select_1_whose_answer_ends_inside_its_row() {
    let (server, store) = store_with(Fault::EndMidRow).await;

    let outcome = tokio::time::timeout(PROMPTLY, store.ping()).await;

    assert_refused_and_recovered(&server, &store, outcome, "ended inside a row or token").await;
}

#[tokio::test]
async fn a_log_time_past_the_year_9999_is_an_unexpected_result_not_data() {
    let db = IntegrationLogDb::documentation_sample();
    let far = chrono::NaiveDate::from_ymd_opt(45_000, 6, 17)
        .and_then(|day| day.and_hms_opt(17, 2, 47))
        .expect("chrono holds it");
    db.push(testkit::integration_log::LogRow::new(
        "CubeProcessingSucceeded",
        far,
        None::<String>,
    ));
    let (_server, store) = store_for(db).await;

    let status = store.status_entries().await.expect_err("no status");
    let log = store.log_entries(top("3")).await.expect_err("no log");

    for error in [status, log] {
        assert_eq!(error.kind(), Unavailability::QueryFailed, "{error:?}");
        assert!(
            format!("{error:?}").contains("past what SQL Server's dates hold"),
            "{error:?}"
        );
    }
}
