//! `integration_log.source = "sql_agent"` against a real SQL Server with SQL Server Agent
//! running (`MSSQL_AGENT_ENABLED=true`, as docker-compose.yml sets). Part of the `sql_server`
//! suite: `cargo test --test sql_server -- --ignored`. The server's clock zone is taken from
//! `QOETEST_SERVER_TIME_ZONE` (default `UTC`, the container's).
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use chrono_tz::Tz;
use qoe_data_service::configuration::{Settings, SqlAgentSettings};
use qoe_data_service::db::SqlAgentStore;
use qoe_data_service::domain::{
    IntegrationStatus, Job, LogCategory, LogQuery, Outcome, StatusRead,
};
use qoe_data_service::store::{IntegrationLogStore, NotReady, StoreError, Unavailability};

use super::{run, AdminClient, TestDatabase};

const ARCHIVE: &str = "QoE Archive Data";
const CUBE: &str = "Process Cube";
const CUBE_FAILURE: &str = "QoE agent test: the cube failed on purpose";

fn server_time_zone() -> Tz {
    std::env::var("QOETEST_SERVER_TIME_ZONE")
        .ok()
        .map(|zone| {
            zone.parse()
                .expect("QOETEST_SERVER_TIME_ZONE is an IANA zone")
        })
        .unwrap_or(Tz::UTC)
}

/// A two-step job named after the test database: archive waits 2 s and succeeds, the cube
/// waits 1 s and fails with [`CUBE_FAILURE`].
async fn create_job(msdb: &mut AdminClient, job: &str) {
    run(
        msdb,
        &format!(
            "EXEC dbo.sp_add_job @job_name = N'{job}';
             EXEC dbo.sp_add_jobstep @job_name = N'{job}', @step_id = 1, @step_name = N'{ARCHIVE}',
                 @subsystem = N'TSQL', @command = N'WAITFOR DELAY ''00:00:02'';',
                 @on_success_action = 3, @on_fail_action = 2;
             EXEC dbo.sp_add_jobstep @job_name = N'{job}', @step_id = 2, @step_name = N'{CUBE}',
                 @subsystem = N'TSQL',
                 @command = N'WAITFOR DELAY ''00:00:01''; THROW 50000, N''{CUBE_FAILURE}'', 1;',
                 @on_success_action = 1, @on_fail_action = 2;
             EXEC dbo.sp_add_jobserver @job_name = N'{job}', @server_name = N'(local)';"
        ),
    )
    .await
    .expect("the job is created");
}

async fn delete_job(msdb: &mut AdminClient, job: &str) {
    let _ = run(
        msdb,
        &format!("EXEC dbo.sp_delete_job @job_name = N'{job}';"),
    )
    .await;
}

/// Starts the job and waits until Agent has written its job outcome row (step 0).
async fn run_job_to_the_end(msdb: &mut AdminClient, job: &str) {
    run(
        msdb,
        &format!("EXEC dbo.sp_start_job @job_name = N'{job}';"),
    )
    .await
    .expect("sp_start_job (is SQL Server Agent running?)");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let finished: Option<i32> = msdb
            .query(
                "SELECT COUNT(*) FROM dbo.sysjobhistory AS h JOIN dbo.sysjobs AS j \
                 ON j.job_id = h.job_id WHERE j.name = @P1 AND h.step_id = 0",
                &[&job],
            )
            .await
            .expect("history query")
            .into_row()
            .await
            .expect("history row")
            .and_then(|row| row.get(0));
        if finished.unwrap_or(0) > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not finish within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn agent_store(settings: &Settings, job: &str) -> SqlAgentStore {
    SqlAgentStore::new(
        &settings.database,
        SqlAgentSettings {
            data_integration_step: ARCHIVE.into(),
            cube_processing_step: CUBE.into(),
            job_name: Some(job.into()),
            server_time_zone: server_time_zone(),
        },
    )
    .expect("store")
}

/// Settings connecting to msdb with `login`, or as the admin.
fn msdb_settings(database: &TestDatabase, login: Option<(&str, &str)>) -> Settings {
    Settings::for_tests(&database.connection_string(Some("msdb"), login))
        .expect("valid test settings")
}

/// A login with an msdb user and exactly `grants` (T-SQL run in msdb, `{user}` replaced).
async fn msdb_login(database: &TestDatabase, suffix: &str, grants: &str) -> (String, String) {
    let login = format!("{}_{suffix}", database.name);
    let password = format!("Agent-{}-Pw1!", std::process::id());
    let mut msdb = database.client_for(Some("msdb"), None).await;
    run(
        &mut msdb,
        &format!(
            "CREATE LOGIN [{login}] WITH PASSWORD = N'{password}', CHECK_POLICY = OFF, \
             DEFAULT_DATABASE = msdb; CREATE USER [{login}] FOR LOGIN [{login}]; {}",
            grants.replace("{user}", &format!("[{login}]"))
        ),
    )
    .await
    .expect("the login is created");
    (login, password)
}

async fn drop_msdb_user(database: &TestDatabase, login: &str) {
    let mut msdb = database.client_for(Some("msdb"), None).await;
    let _ = run(&mut msdb, &format!("DROP USER IF EXISTS [{login}];")).await;
}

const FOUR_TABLES: &str = "GRANT SELECT ON dbo.sysjobs TO {user}; \
     GRANT SELECT ON dbo.sysjobsteps TO {user}; \
     GRANT SELECT ON dbo.sysjobhistory TO {user}; \
     GRANT SELECT ON dbo.sysjobactivity TO {user};";

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn a_real_two_step_job_shows_in_status_log_and_durations() {
    let database = TestDatabase::create().await;
    let job = format!("{}_job", database.name);
    let mut msdb = database.client_for(Some("msdb"), None).await;
    create_job(&mut msdb, &job).await;
    run_job_to_the_end(&mut msdb, &job).await;
    let store = agent_store(&msdb_settings(&database, None), &job);

    let readiness = store.readiness().await.expect("readiness");
    let read = store.status_read().await.expect("status read");
    let log = store
        .log_entries(LogQuery::default())
        .await
        .expect("log read");
    delete_job(&mut msdb, &job).await;
    database.drop_database().await;

    assert!(readiness.is_empty(), "{readiness:?}");
    let status = IntegrationStatus::from_entries(read.entries.iter().copied());
    assert_eq!(status.last_success_integrations.len(), 1, "{status:?}");
    assert_eq!(status.last_failed_cube_processings.len(), 1, "{status:?}");
    assert!(status.last_failed_integrations.is_empty());
    let archive = read.recent_runs(Job::DataIntegration);
    let cube = read.recent_runs(Job::CubeProcessing);
    let archive_took = archive[0].duration().expect("finished");
    assert!(
        (TimeDelta::seconds(2)..TimeDelta::seconds(30)).contains(&archive_took),
        "{archive_took:?}"
    );
    assert_eq!(cube[0].end.map(|end| end.outcome), Some(Outcome::Failed));
    assert!(
        cube[0].started >= archive[0].end.expect("finished").finished - TimeDelta::seconds(1),
        "the cube starts after the archive step finished"
    );
    let now = chrono::Utc::now();
    assert!(
        (now - archive[0].started).num_minutes().abs() < 5,
        "server_time_zone gives the right instant: {:?} vs now {now:?}",
        archive[0].started
    );
    let failure = log
        .iter()
        .find(|entry| entry.category == LogCategory::CubeProcessingFailed)
        .expect("the cube failure is logged");
    assert!(
        failure
            .description
            .as_deref()
            .is_some_and(|text| text.contains(CUBE_FAILURE)),
        "{failure:?}"
    );
}

/// Creates a job that never ran, a login with an msdb user holding exactly `grants`, and asks
/// the Agent store for readiness and a Status read as that login; cleans up after.
async fn read_as_login_with(
    suffix: &str,
    grants: &str,
) -> (
    Result<Vec<NotReady>, StoreError>,
    Result<Arc<StatusRead>, StoreError>,
) {
    let database = TestDatabase::create().await;
    let job = format!("{}_job", database.name);
    let mut msdb = database.client_for(Some("msdb"), None).await;
    create_job(&mut msdb, &job).await;
    let (login, password) = msdb_login(&database, suffix, grants).await;
    let store = agent_store(&msdb_settings(&database, Some((&login, &password))), &job);

    let readiness = store.readiness().await;
    let read = store.status_read().await;
    delete_job(&mut msdb, &job).await;
    drop_msdb_user(&database, &login).await;
    database.drop_database().await;
    (readiness, read)
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn a_login_with_select_on_the_four_msdb_tables_reads_agent_history() {
    let (readiness, read) = read_as_login_with("agent_tables", FOUR_TABLES).await;

    assert_eq!(readiness.expect("readiness"), Vec::<NotReady>::new());
    assert!(
        read.expect("status read").runs.is_empty(),
        "the job never ran"
    );
}

/// SQLAgentReaderRole grants the `sp_help_job*` procedures, not SELECT on the tables: a login
/// with only that role is refused, which is why the README documents the four grants.
#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn a_login_with_only_sqlagentreaderrole_is_refused_the_history_tables() {
    let (readiness, read) = read_as_login_with(
        "agent_role",
        "ALTER ROLE SQLAgentReaderRole ADD MEMBER {user};",
    )
    .await;

    assert_eq!(
        read.map(drop).map_err(|e| e.kind()),
        Err(Unavailability::QueryFailed)
    );
    assert_eq!(
        readiness.map(drop).map_err(|e| e.kind()),
        Err(Unavailability::QueryFailed)
    );
}
