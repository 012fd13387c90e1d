//! Against a real SQL Server (T-SQL semantics, permissions, the migrations themselves).
//! Skipped by `cargo test`; run with `docker compose up -d mssql` and
//! `QOETEST_DATABASE__CONNECTION_STRING='Server=tcp:localhost,1433;User Id=sa;Password=…;TrustServerCertificate=true' cargo test --test sql_server -- --ignored`.
//! Each test creates and drops a database of its own, except the compose test, which runs exactly
//! what `docker compose up` runs against the `QoEArchive` database and logins compose creates.
mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono_tz::Tz;
use qoe_data_service::configuration::Settings;
use qoe_data_service::db::{migrate, SqlServerStore};
use qoe_data_service::domain::IntegrationStatus;
use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

const NEEDS: &str = "QOETEST_DATABASE__CONNECTION_STRING";

type AdminClient = Client<Compat<TcpStream>>;

struct TestDatabase {
    name: String,
    admin_connection_string: String,
}

impl TestDatabase {
    async fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_connection_string = std::env::var(NEEDS)
            .unwrap_or_else(|_| panic!("set {NEEDS} to an admin connection string (see README)"));
        let name = format!(
            "QoEArchiveTest_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let database = TestDatabase {
            name,
            admin_connection_string,
        };
        let mut master = database.client_for(None, None).await;
        run(&mut master, &format!("CREATE DATABASE [{}]", database.name))
            .await
            .expect("CREATE DATABASE");
        database
    }

    /// The admin connection string pointed at `database`, or with another login.
    fn connection_string(&self, database: Option<&str>, login: Option<(&str, &str)>) -> String {
        connection_string(&self.admin_connection_string, database, login)
    }

    fn settings(&self, login: Option<(&str, &str)>) -> Settings {
        settings_for(self.connection_string(Some(&self.name), login))
    }

    async fn client_for(&self, database: Option<&str>, login: Option<(&str, &str)>) -> AdminClient {
        client(self.connection_string(database, login)).await
    }

    async fn admin(&self) -> AdminClient {
        self.client_for(Some(&self.name), None).await
    }

    async fn migrated() -> Self {
        let database = Self::create().await;
        migrate::run(&database.settings(None).database)
            .await
            .expect("migrations apply");
        database
    }

    /// A login of its own, made a member of `role`.
    async fn login_in_role(&self, role: &str) -> (String, String) {
        let login = format!("{}_{role}", self.name);
        let password = format!("Pw-{}-aA1!", std::process::id());
        let mut master = self.client_for(None, None).await;
        run(
            &mut master,
            &format!("CREATE LOGIN [{login}] WITH PASSWORD = N'{password}', CHECK_POLICY = OFF"),
        )
        .await
        .expect("CREATE LOGIN");
        let mut admin = self.admin().await;
        run(
            &mut admin,
            &format!("CREATE USER [{login}] FOR LOGIN [{login}]; ALTER ROLE {role} ADD MEMBER [{login}];"),
        )
        .await
        .expect("CREATE USER");
        (login, password)
    }

    async fn write(
        &self,
        client: &mut AdminClient,
        category: &str,
        utc_time: &str,
    ) -> tiberius::Result<()> {
        client
            .execute(
                "EXEC dbo.WriteIntegrationLog @LogCategory = @P1, @LogTime = @P2",
                &[&category, &utc_time],
            )
            .await
            .map(drop)
    }

    async fn drop_database(self) {
        let mut master = self.client_for(None, None).await;
        let _ = master
            .simple_query(format!(
                "ALTER DATABASE [{0}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{0}];",
                self.name
            ))
            .await;
        let _ = master
            .simple_query(format!(
                "DECLARE @sql nvarchar(max) = N''; \
                 SELECT @sql += N'DROP LOGIN ' + QUOTENAME(name) + N';' FROM sys.server_principals WHERE name LIKE N'{}[_]%'; \
                 EXEC (@sql);",
                self.name
            ))
            .await;
    }
}

/// `admin` pointed at `database`, or with another login.
fn connection_string(admin: &str, database: Option<&str>, login: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> = admin
        .split(';')
        .filter(|pair| {
            let key = pair
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !pair.trim().is_empty()
                && key != "database"
                && (login.is_none()
                    || !["user id", "uid", "user", "username", "password", "pwd"]
                        .contains(&key.as_str()))
        })
        .map(str::to_owned)
        .collect();
    if let Some(database) = database {
        pairs.push(format!("Database={database}"));
    }
    if let Some((user, password)) = login {
        pairs.push(format!("User Id={user}"));
        pairs.push(format!("Password={password}"));
    }
    pairs.join(";")
}

fn settings_for(connection_string: String) -> Settings {
    let mut settings = Settings::for_tests(&connection_string).expect("valid test settings");
    settings.integration_log.enabled = true;
    settings
}

async fn client(connection_string: String) -> AdminClient {
    let config = settings_for(connection_string).database.tiberius_config();
    let tcp = TcpStream::connect(config.get_addr())
        .await
        .expect("TCP connect");
    Client::connect(config, tcp.compat_write())
        .await
        .expect("login")
}

/// Runs a script as sqlcmd -b does: batch by batch, stopping at the first error.
async fn run_script(client: &mut AdminClient, name: &str, script: &str) {
    for batch in support::batches(script) {
        run(client, &batch)
            .await
            .unwrap_or_else(|e| panic!("{name} failed: {e}\nin batch:\n{batch}"));
    }
}

/// Runs a batch to the end, so that errors after the first result are seen too.
async fn run(client: &mut AdminClient, sql: &str) -> tiberius::Result<()> {
    client
        .simple_query(sql)
        .await?
        .into_results()
        .await
        .map(drop)
}

async fn count_rows(client: &mut AdminClient) -> i32 {
    client
        .simple_query("SELECT COUNT(*) FROM dbo.IntegrationLog")
        .await
        .expect("count")
        .into_row()
        .await
        .expect("row")
        .and_then(|row| row.get(0))
        .expect("a count")
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn migrations_apply_once_and_a_second_run_changes_nothing() {
    let database = TestDatabase::create().await;
    let settings = database.settings(None);

    let first = migrate::run(&settings.database).await.expect("first run");
    let second = migrate::run(&settings.database).await.expect("second run");

    assert_eq!(first.applied.len(), 3, "{first:?}");
    assert!(second.applied.is_empty(), "{second:?}");
    database.drop_database().await;
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_status_shows_what_the_job_steps_wrote_through_the_procedure() {
    let database = TestDatabase::migrated().await;
    let mut admin = database.admin().await;
    let rows = [
        ("DataIntegrationSucceeded", "2015-01-17 14:30:00"),
        ("DataIntegrationSucceeded", "2015-01-18 10:30:13"),
        ("DataIntegrationSucceeded", "2015-01-18 10:28:29"),
        ("DataIntegrationSucceeded", "2015-01-17 15:15:17"),
        ("DataIntegrationSucceeded", "2015-01-17 15:00:17"),
        ("DataIntegrationSucceeded", "2015-01-17 14:45:13"),
        ("CubeProcessingStarted", "2015-01-18 10:30:16"),
        ("CubeProcessingFailed", "2015-01-18 10:30:58"),
    ];
    for (category, time) in rows {
        database
            .write(&mut admin, category, time)
            .await
            .expect("write");
    }
    let (login, password) = database.login_in_role("qoe_reader").await;
    let store =
        SqlServerStore::new(&database.settings(Some((&login, &password))).database).expect("store");

    let entries = store.status_entries().await.expect("status");
    let document = IntegrationStatus::from_entries(entries).render(Tz::UTC);

    assert_eq!(
        document.last_success_integrations,
        vec![
            "01/18/2015 10:30:13",
            "01/18/2015 10:28:29",
            "01/17/2015 15:15:17",
            "01/17/2015 15:00:17",
            "01/17/2015 14:45:13"
        ]
    );
    assert_eq!(
        document.last_failed_cube_processings,
        vec!["01/18/2015 10:30:58"]
    );
    assert!(document.last_failed_integrations.is_empty());
    assert_eq!(document.last_data_integration_start, None);
    assert_eq!(
        document.last_cube_processing_start.as_deref(),
        Some("01/18/2015 10:30:16")
    );
    database.drop_database().await;
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_procedure_refuses_an_unknown_category_and_writes_nothing() {
    let database = TestDatabase::migrated().await;
    let mut admin = database.admin().await;

    let error = database
        .write(&mut admin, "DataIntegrationMaybe", "2015-01-18 10:30:13")
        .await
        .expect_err("an unknown category is refused");

    assert_eq!(error.code(), Some(50001), "{error}");
    assert!(
        error.to_string().contains("DataIntegrationMaybe"),
        "{error}"
    );
    assert_eq!(count_rows(&mut admin).await, 0);
    database.drop_database().await;
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_reader_login_can_read_but_cannot_write() {
    let database = TestDatabase::migrated().await;
    let (login, password) = database.login_in_role("qoe_reader").await;
    let mut reader = database
        .client_for(Some(&database.name), Some((&login, &password)))
        .await;

    let read = run(&mut reader, "SELECT TOP (1) Id FROM dbo.IntegrationLog").await;
    let insert = run(
        &mut reader,
        "INSERT INTO dbo.IntegrationLog (LogCategory) VALUES (N'DataIntegrationStarted')",
    )
    .await;
    let procedure = database
        .write(&mut reader, "DataIntegrationStarted", "2015-01-18 10:30:13")
        .await;

    assert!(read.is_ok(), "{:?}", read.err());
    assert_eq!(
        insert.err().and_then(|e| e.code()),
        Some(229),
        "INSERT permission denied"
    );
    assert_eq!(
        procedure.err().and_then(|e| e.code()),
        Some(229),
        "EXECUTE permission denied"
    );
    database.drop_database().await;
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_writer_login_can_only_call_the_procedure() {
    let database = TestDatabase::migrated().await;
    let (login, password) = database.login_in_role("qoe_writer").await;
    let mut writer = database
        .client_for(Some(&database.name), Some((&login, &password)))
        .await;

    let procedure = database
        .write(&mut writer, "DataIntegrationStarted", "2015-01-18 10:30:13")
        .await;
    let read = run(&mut writer, "SELECT TOP (1) Id FROM dbo.IntegrationLog").await;

    assert!(procedure.is_ok(), "{:?}", procedure.err());
    assert_eq!(
        read.err().and_then(|e| e.code()),
        Some(229),
        "SELECT permission denied"
    );
    database.drop_database().await;
}

/// One million rows, in one set-based statement: 6 digits cross-joined give 0..999999, one
/// entry a minute going back from 2015-01-18 10:30, cycling through the six categories.
const MILLION_ROWS: &str = "
WITH digits AS (SELECT d FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS t (d)),
numbers AS (
    SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS n
    FROM digits AS a CROSS JOIN digits AS b CROSS JOIN digits AS c
    CROSS JOIN digits AS e CROSS JOIN digits AS f CROSS JOIN digits AS g
)
INSERT INTO dbo.IntegrationLog WITH (TABLOCK) (LogTime, LogCategory)
SELECT DATEADD(MINUTE, -n, CONVERT(datetime2(3), '2015-01-18T10:30:00')),
       CHOOSE(n % 6 + 1, N'DataIntegrationStarted', N'DataIntegrationSucceeded',
              N'DataIntegrationFailed', N'CubeProcessingStarted', N'CubeProcessingSucceeded',
              N'CubeProcessingFailed')
FROM numbers;
UPDATE STATISTICS dbo.IntegrationLog;";

/// Logical reads per execution of the plan whose text holds the status marker, in this
/// database. The pattern is split so this query's own text does not match it.
const STATUS_READS: &str = "
SELECT CAST(SUM(qs.total_logical_reads) AS bigint) AS reads,
       CAST(SUM(qs.execution_count) AS bigint) AS executions
FROM sys.dm_exec_query_stats AS qs
CROSS APPLY sys.dm_exec_sql_text(qs.sql_handle) AS st
CROSS APPLY sys.dm_exec_plan_attributes(qs.plan_handle) AS pa
WHERE st.text LIKE N'%qoe' + N':status%'
  AND pa.attribute = N'dbid' AND CONVERT(int, pa.value) = DB_ID();";

/// Six ordered seeks that stop after at most 5 rows each: a few pages per seek, whatever
/// the size of the table. A scan of a million rows would read thousands of pages.
const MAX_STATUS_READS_PER_EXECUTION: i64 = 100;

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_status_query_stays_index_seeks_over_a_million_rows() {
    let database = TestDatabase::migrated().await;
    let mut admin = database.admin().await;
    run(&mut admin, MILLION_ROWS).await.expect("a million rows");
    assert_eq!(count_rows(&mut admin).await, 1_000_000);
    let store = SqlServerStore::new(&database.settings(None).database).expect("store");

    for _ in 0..10 {
        let entries = store.status_entries().await.expect("status");
        assert_eq!(
            entries.len(),
            4 * 5 + 2,
            "5 of each outcome and both starts"
        );
    }
    let row = admin
        .simple_query(STATUS_READS)
        .await
        .expect("query stats")
        .into_row()
        .await
        .expect("row")
        .expect("the status plan is in the plan cache");
    let reads: i64 = row.get("reads").expect("reads");
    let executions: i64 = row.get("executions").expect("executions");

    assert!(executions >= 10, "{executions} executions recorded");
    assert!(
        reads / executions <= MAX_STATUS_READS_PER_EXECUTION,
        "{} logical reads per status query over a million rows: no longer index seeks",
        reads / executions
    );
    database.drop_database().await;
}

/// The compose logins' passwords: the environment's, as compose takes them, else compose's
/// defaults. Keyed by the sqlcmd variable init.sql uses.
fn compose_passwords() -> Vec<(String, String)> {
    support::compose_sqlcmd_variables("db-init")
        .into_iter()
        .map(|(name, variable)| {
            let value =
                std::env::var(&variable).unwrap_or_else(|_| support::compose_default(&variable));
            (name, value)
        })
        .collect()
}

fn compose_password(sqlcmd_variable: &str) -> String {
    compose_passwords()
        .into_iter()
        .find_map(|(name, value)| (name == sqlcmd_variable).then_some(value))
        .unwrap_or_else(|| panic!("compose passes no {sqlcmd_variable} to init.sql"))
}

/// Exactly what `docker compose up` runs, in its order: db-init's init.sql in master (with the
/// sqlcmd variables compose gives it), `migrate` in QoEArchive as the admin, then db-seed's
/// roles.sql and demo-rows.sql in QoEArchive.
async fn run_what_compose_runs(admin: &str) {
    let passwords = compose_passwords();
    let values: Vec<(&str, &str)> = passwords
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let (init, database) = support::COMPOSE_INIT;
    let script = support::substitute(&support::read(init), &values);
    run_script(
        &mut client(connection_string(admin, database, None)).await,
        init,
        &script,
    )
    .await;

    let archive = connection_string(admin, Some("QoEArchive"), None);
    migrate::run(&settings_for(archive).database)
        .await
        .expect("migrate, as the compose migrate service runs it");

    for (script, database) in support::COMPOSE_SEED {
        let mut seed = client(connection_string(admin, database, None)).await;
        run_script(&mut seed, script, &support::read(script)).await;
    }
}

/// The compose tests share the compose database and logins: one at a time.
static COMPOSE_DATABASE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn admin_connection_string() -> String {
    std::env::var(NEEDS)
        .unwrap_or_else(|_| panic!("set {NEEDS} to an admin connection string (see README)"))
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_compose_scripts_run_twice_and_the_service_login_reads_the_documentation_sample() {
    let _one_at_a_time = COMPOSE_DATABASE.lock().await;
    let admin = admin_connection_string();

    run_what_compose_runs(&admin).await;
    run_what_compose_runs(&admin).await;

    let service = connection_string(
        &admin,
        Some("QoEArchive"),
        Some(("qoe_service", &compose_password("SERVICE_PASSWORD"))),
    );
    let store = SqlServerStore::new(&settings_for(service).database).expect("store");
    let entries = store
        .status_entries()
        .await
        .expect("the service login reads the log");
    let document = IntegrationStatus::from_entries(entries).render(Tz::UTC);
    assert_eq!(
        serde_json::to_value(&document).expect("the document serializes"),
        support::documented_status()
    );
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_compose_job_login_may_run_the_procedure_and_nothing_else() {
    let _one_at_a_time = COMPOSE_DATABASE.lock().await;
    let admin = admin_connection_string();
    run_what_compose_runs(&admin).await;
    let mut job = client(connection_string(
        &admin,
        Some("QoEArchive"),
        Some(("qoe_job", &compose_password("JOB_PASSWORD"))),
    ))
    .await;

    // Rolled back, so the demo rows stay the documentation sample.
    let procedure = run(
        &mut job,
        "BEGIN TRANSACTION; \
         EXEC dbo.WriteIntegrationLog @LogCategory = N'DataIntegrationStarted'; \
         ROLLBACK TRANSACTION;",
    )
    .await;
    let read = run(&mut job, "SELECT TOP (1) Id FROM dbo.IntegrationLog").await;
    let insert = run(
        &mut job,
        "INSERT INTO dbo.IntegrationLog (LogCategory) VALUES (N'DataIntegrationStarted')",
    )
    .await;

    assert!(procedure.is_ok(), "{:?}", procedure.err());
    assert_eq!(
        read.err().and_then(|e| e.code()),
        Some(229),
        "SELECT denied"
    );
    assert_eq!(
        insert.err().and_then(|e| e.code()),
        Some(229),
        "INSERT denied"
    );
}

#[tokio::test]
#[ignore = "needs SQL Server: see README"]
async fn the_readme_login_setup_runs_as_written_and_lets_the_service_read_but_not_write() {
    let database = TestDatabase::migrated().await;
    let password = format!("Pw-{}-aA1!", std::process::id());
    // The README's statements as written; only the names and the password are this test's own,
    // so that it neither collides with compose's logins nor leaves any behind.
    let own = |block: &str| {
        block
            .replace("qoe_service", &format!("{}_service", database.name))
            .replace("qoe_job", &format!("{}_job", database.name))
            .replace("N'…'", &format!("N'{password}'"))
    };
    let blocks = support::readme_sql_blocks(support::README_SETUP);
    let (in_master, in_archive) = (own(&blocks[0]), own(&blocks[1]));
    run_script(
        &mut database.client_for(None, None).await,
        "README block 1",
        &in_master,
    )
    .await;
    run_script(&mut database.admin().await, "README block 2", &in_archive).await;

    let service = format!("{}_service", database.name);
    let store = SqlServerStore::new(&database.settings(Some((&service, &password))).database)
        .expect("store");
    let read = store.status_entries().await;
    let mut as_service = database
        .client_for(Some(&database.name), Some((&service, &password)))
        .await;
    let write = database
        .write(
            &mut as_service,
            "DataIntegrationStarted",
            "2015-01-18 10:30:13",
        )
        .await;
    let job = format!("{}_job", database.name);
    let mut as_job = database
        .client_for(Some(&database.name), Some((&job, &password)))
        .await;
    let job_write = database
        .write(&mut as_job, "DataIntegrationStarted", "2015-01-18 10:30:13")
        .await;

    assert!(read.is_ok(), "{:?}", read.err());
    assert_eq!(
        write.err().and_then(|e| e.code()),
        Some(229),
        "EXECUTE denied"
    );
    assert!(job_write.is_ok(), "{:?}", job_write.err());
    database.drop_database().await;
}

/// The SQL Server Agent source against a real Agent (issue 8).
#[path = "sql_server/agent.rs"]
mod agent;
