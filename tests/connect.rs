//! Issue #9 against the TDS test server: Windows logins (NTLM), named instances through a
//! SQL Server Browser responder, and AG/Azure routing redirects, through the real pool.
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qoe_data_service::configuration::Settings;
use qoe_data_service::db;
use qoe_data_service::store::{IntegrationLogStore, Unavailability};
use testkit::integration_log::IntegrationLogDb;
use testkit::{
    Fault, LoginOptions, ServerOptions, SqlBrowserResponder, TdsTestServer, WindowsLogin,
    SQL_BROWSER_PORT,
};

const ACCOUNT: &str = "CORP\\qoe_service";
const ACCOUNT_PASSWORD: &str = "Winter-2026!";

/// The store as `serve` and `check` open it.
fn store(connection_string: &str) -> Arc<dyn IntegrationLogStore> {
    database(connection_string).store
}

/// The store and its pool's gauge (what `/metrics` reads), opened as `serve` opens them.
fn database(connection_string: &str) -> db::Database {
    let mut settings = Settings::for_tests(connection_string).expect("valid settings");
    settings.database.connect_timeout = Duration::from_millis(3000);
    db::open(&settings).expect("a store")
}

async fn server(login: LoginOptions) -> TdsTestServer {
    TdsTestServer::start_with_login(
        ServerOptions::default(),
        login,
        IntegrationLogDb::documentation_sample(),
    )
    .await
    .expect("the TDS test server starts")
}

async fn ntlm_server() -> TdsTestServer {
    server(LoginOptions {
        windows: Some(WindowsLogin::Ntlm {
            user: ACCOUNT.to_owned(),
            password: ACCOUNT_PASSWORD.to_owned(),
        }),
        ..LoginOptions::default()
    })
    .await
}

fn windows_connection_string(port: u16, password: &str) -> String {
    format!(
        "Server=tcp:127.0.0.1,{port};Database=QoEArchive;Integrated Security=SSPI;\
         User Id={ACCOUNT};Password={password};Encrypt=DANGER_PLAINTEXT"
    )
}

#[tokio::test]
#[cfg_attr(
    windows,
    ignore = "under Wine, Windows' NTLM is Wine's, whose NEGOTIATE flags testkit's sspi-rs server refuses"
)]
async fn integrated_security_with_a_domain_user_logs_in_with_ntlm() {
    let server = ntlm_server().await;
    let store = store(&windows_connection_string(server.port(), ACCOUNT_PASSWORD));

    store.ping().await.expect("the NTLM login succeeds");

    let logins = server.logins();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert!(logins[0].integrated && logins[0].accepted, "{logins:?}");
    assert!(logins[0].user.eq_ignore_ascii_case(ACCOUNT), "{logins:?}");
}

#[tokio::test]
#[cfg_attr(
    windows,
    ignore = "under Wine, Windows' NTLM is Wine's, whose NEGOTIATE flags testkit's sspi-rs server refuses"
)]
async fn trusted_connection_is_accepted_as_a_synonym_for_ntlm() {
    let server = ntlm_server().await;
    let store = store(&format!(
        "Server=tcp:127.0.0.1,{};Trusted_Connection=yes;User Id={ACCOUNT};\
         Password={ACCOUNT_PASSWORD};Encrypt=DANGER_PLAINTEXT",
        server.port()
    ));

    store.ping().await.expect("the NTLM login succeeds");

    assert!(server.logins()[0].integrated);
}

#[tokio::test]
async fn a_wrong_windows_password_is_a_prompt_login_failure_without_the_password() {
    let server = ntlm_server().await;
    let store = store(&windows_connection_string(server.port(), "Summer-2025?"));

    let started = Instant::now();
    let error = store.ping().await.expect_err("the password is wrong");

    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.kind(), Unavailability::LoginFailed);
    assert_eq!(error.to_string(), "database login failed");
    let logged = format!("{error:?}");
    assert!(!logged.contains("Summer-2025?"), "{logged}");
    assert!(!server.logins()[0].accepted);
}

#[tokio::test]
async fn a_sql_login_is_refused_by_a_windows_only_server() {
    let server = ntlm_server().await;
    let store = store(&server.ado_connection_string());

    let error = store.ping().await.expect_err("Windows logins only");

    assert_eq!(error.kind(), Unavailability::LoginFailed);
}

/// Held while a test's SQL Browser responder listens. Each test gets its own loopback address,
/// which keeps UDP 1434 apart on Linux; Wine, though, binds a UDP socket on a loopback address
/// as 0.0.0.0 on the loopback device, where two responders collide: there they take turns.
static SQL_BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A TDS test server on `ip` and a SQL Browser naming its port for `instance`; the turn comes
/// first, so that it is released last.
async fn named_instance(
    ip: Ipv4Addr,
    instance: &str,
) -> (
    tokio::sync::MutexGuard<'static, ()>,
    TdsTestServer,
    SqlBrowserResponder,
) {
    let turn = SQL_BROWSER_TURN.lock().await;
    let server = server(LoginOptions {
        bind: ip,
        ..LoginOptions::default()
    })
    .await;
    let sql_browser = SqlBrowserResponder::start(
        ip,
        SQL_BROWSER_PORT,
        HashMap::from([(instance.to_owned(), server.port())]),
    )
    .await
    .expect("UDP 1434 on a private loopback address (needs root, as CI runs)");
    (turn, server, sql_browser)
}

#[tokio::test]
async fn a_host_backslash_instance_finds_its_port_through_sql_browser() {
    let ip = Ipv4Addr::new(127, 0, 9, 1);
    let (_turn, server, _sql_browser) = named_instance(ip, "CQD").await;

    for prefix in ["", "tcp:"] {
        let store = store(&format!(
            "Server={prefix}{ip}\\CQD;Database=QoEArchive;User Id=qoe_service;\
             Password=p;Encrypt=DANGER_PLAINTEXT"
        ));
        store
            .ping()
            .await
            .expect("the instance is found and logged in to");
    }

    assert_eq!(server.logins().len(), 2);
}

#[tokio::test]
async fn an_explicit_port_wins_over_sql_browser() {
    let ip = Ipv4Addr::new(127, 0, 9, 2);
    // SQL Browser answers CQD with the decoy's port: only the explicit port may be used.
    let (_turn, decoy, _sql_browser) = named_instance(ip, "CQD").await;
    let server = server(LoginOptions {
        bind: ip,
        ..LoginOptions::default()
    })
    .await;
    let store = store(&format!(
        "Server=tcp:{ip}\\CQD,{};User Id=qoe_service;Password=p;Encrypt=DANGER_PLAINTEXT",
        server.port()
    ));

    store.ping().await.expect("logged in on the explicit port");

    assert_eq!(server.logins().len(), 1, "the explicit port was not used");
    assert!(decoy.logins().is_empty(), "SQL Browser's port was used");
}

#[tokio::test]
#[cfg_attr(
    windows,
    ignore = "under Wine 8 the instance listing that tells an unknown instance from a silent SQL Browser gets no answer (Wine binds the responder's loopback UDP socket as 0.0.0.0 on the loopback device); the lookup itself is tested"
)]
async fn an_unknown_instance_is_a_clear_error_within_the_connect_timeout() {
    let ip = Ipv4Addr::new(127, 0, 9, 3);
    let (_turn, _server, _sql_browser) = named_instance(ip, "CQD").await;
    let store = store(&format!(
        "Server={ip}\\NOSUCH;User Id=qoe_service;Password=p;Encrypt=DANGER_PLAINTEXT"
    ));

    let started = Instant::now();
    let error = store.ping().await.expect_err("no such instance");

    assert!(started.elapsed() < Duration::from_millis(3000));
    assert_eq!(error.kind(), Unavailability::InstanceNotFound);
    let logged = format!("{error:?}");
    assert!(logged.contains("NOSUCH"), "{logged}");
    assert!(logged.contains("SQL Server Browser"), "{logged}");
}

fn read_only(port: u16) -> String {
    format!(
        "Server=tcp:127.0.0.1,{port};Database=QoEArchive;User Id=qoe_service;Password=p;\
         ApplicationIntent=ReadOnly;Encrypt=DANGER_PLAINTEXT"
    )
}

#[tokio::test]
async fn a_routing_redirect_is_followed_once_with_read_only_intent_to_both_servers() {
    let secondary = server(LoginOptions::default()).await;
    let listener = server(LoginOptions {
        route_to: Some(("127.0.0.1".to_owned(), secondary.port())),
        ..LoginOptions::default()
    })
    .await;
    let store = store(&read_only(listener.port()));

    store.ping().await.expect("the secondary answers");

    let at_listener = listener.logins();
    let at_secondary = secondary.logins();
    assert_eq!(at_listener.len(), 1, "{at_listener:?}");
    assert_eq!(at_secondary.len(), 1, "{at_secondary:?}");
    assert!(at_listener[0].read_only_intent && at_secondary[0].read_only_intent);
    assert!(at_secondary[0].accepted);
    assert_eq!(
        secondary.requests().len(),
        1,
        "the query ran on the secondary"
    );
}

#[tokio::test]
async fn a_redirect_keeps_a_quoted_password_with_special_characters() {
    let secondary = server(LoginOptions::default()).await;
    let listener = server(LoginOptions {
        route_to: Some(("127.0.0.1".to_owned(), secondary.port())),
        ..LoginOptions::default()
    })
    .await;
    let store = store(&format!(
        "Server=tcp:127.0.0.1,{};User Id=qoe_service;Password={{p;w=1}};\
         Encrypt=DANGER_PLAINTEXT",
        listener.port()
    ));

    store.ping().await.expect("the secondary answers");

    let passwords = |server: &TdsTestServer| -> Vec<String> {
        server
            .logins()
            .into_iter()
            .map(|login| login.password)
            .collect()
    };
    assert_eq!(passwords(&listener), ["p;w=1"]);
    assert_eq!(passwords(&secondary), ["p;w=1"], "the redirect's login");
}

#[tokio::test]
async fn a_second_redirect_is_an_error_that_says_so() {
    let third = server(LoginOptions::default()).await;
    let second = server(LoginOptions {
        route_to: Some(("127.0.0.1".to_owned(), third.port())),
        ..LoginOptions::default()
    })
    .await;
    let first = server(LoginOptions {
        route_to: Some(("127.0.0.1".to_owned(), second.port())),
        ..LoginOptions::default()
    })
    .await;
    let store = store(&read_only(first.port()));

    let error = store
        .ping()
        .await
        .expect_err("only one redirect is followed");

    assert_eq!(error.kind(), Unavailability::RedirectedTwice);
    assert!(format!("{error:?}").contains("second time"), "{error:?}");
    assert!(third.logins().is_empty());
}

#[tokio::test]
async fn multi_subnet_failover_logs_in_through_whichever_address_answers() {
    // "localhost" resolves to 127.0.0.1 and often ::1; the server listens on 127.0.0.1 only.
    let server = server(LoginOptions::default()).await;
    let store = store(&format!(
        "Server=tcp:localhost,{};User Id=qoe_service;Password=p;MultiSubnetFailover=True;\
         Encrypt=DANGER_PLAINTEXT",
        server.port()
    ));

    store.ping().await.expect("logged in");

    assert_eq!(server.logins().len(), 1);
}

/// What a store reports when the server answers every LOGIN7 with error `number`.
async fn refused_at_login_with(number: i32, message: &str) -> Unavailability {
    let server = server(LoginOptions::default()).await;
    server.set_fault(Fault::LoginError {
        number,
        message: message.to_owned(),
    });
    let store = store(&server.ado_connection_string());

    let error = store.ping().await.expect_err("the login is refused");

    assert_eq!(server.stats().login_attempts, 1, "error {number}");
    error.kind()
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_or_does_not_exist_is_its_own_reason() {
    for (number, message, expected) in [
        (
            4060,
            "Cannot open database \"QoEArchiv\" requested by the login. The login failed.",
            Unavailability::DatabaseNotFound,
        ),
        (
            911,
            "Database 'QoEArchiv' does not exist. Make sure that the name is entered correctly.",
            Unavailability::DatabaseNotFound,
        ),
        (
            18456,
            "Login failed for user 'qoe_service'.",
            Unavailability::LoginFailed,
        ),
    ] {
        let kind = refused_at_login_with(number, message).await;

        assert_eq!(kind, expected, "error {number}");
    }
    assert_eq!(
        Unavailability::DatabaseNotFound.reason(),
        "database not found or not accessible"
    );
}

#[tokio::test]
async fn encrypt_true_against_a_server_without_tls_is_an_encryption_mismatch() {
    let server = server(LoginOptions::default()).await;
    let store = store(&format!(
        "Server=tcp:127.0.0.1,{};Database=QoEArchive;User Id=qoe_service;Password=p;\
         Encrypt=true;TrustServerCertificate=true",
        server.port()
    ));

    let error = store.ping().await.expect_err("the server offers no TLS");

    assert_eq!(error.kind(), Unavailability::EncryptionMismatch);
    assert_eq!(
        server.stats().login_attempts,
        0,
        "no LOGIN7 sent in the clear"
    );
}

#[tokio::test]
async fn ntlm_against_a_server_that_takes_sql_logins_only_is_a_login_failure() {
    let server = server(LoginOptions::default()).await;
    let store = store(&windows_connection_string(server.port(), ACCOUNT_PASSWORD));

    let error = store.ping().await.expect_err("no SSPI exchange");

    assert_eq!(error.kind(), Unavailability::LoginFailed, "{error:?}");
}

#[tokio::test]
#[cfg_attr(
    windows,
    ignore = "under Wine 8 the instance listing that tells an unknown instance from a silent SQL Browser gets no answer (Wine binds the responder's loopback UDP socket as 0.0.0.0 on the loopback device); the lookup itself is tested"
)]
async fn a_silent_sql_browser_is_told_apart_from_an_instance_it_does_not_know() {
    let answering = Ipv4Addr::new(127, 0, 9, 5);
    let silent = Ipv4Addr::new(127, 0, 9, 6);
    let (_turn, _server, _sql_browser) = named_instance(answering, "CQD").await;
    let connection_string = |ip: Ipv4Addr, instance: &str| {
        format!("Server={ip}\\{instance};User Id=qoe_service;Password=p;Encrypt=DANGER_PLAINTEXT")
    };

    let unknown = store(&connection_string(answering, "NOSUCH"))
        .ping()
        .await
        .expect_err("no such instance");
    let unanswered = store(&connection_string(silent, "CQD"))
        .ping()
        .await
        .expect_err("nobody answers on UDP 1434");

    assert_eq!(
        unknown.kind(),
        Unavailability::InstanceNotFound,
        "{unknown:?}"
    );
    assert_eq!(
        unanswered.kind(),
        Unavailability::SqlBrowserUnreachable,
        "{unanswered:?}"
    );
    assert!(
        format!("{unanswered:?}").contains("did not answer"),
        "{unanswered:?}"
    );
}

#[tokio::test]
async fn a_server_name_that_does_not_resolve_is_its_own_reason_naming_the_host() {
    // `.invalid` never resolves (RFC 6761).
    for server in ["tcp:qoe-sql.invalid,1433", r"qoe-sql.invalid\CQD"] {
        let database = database(&format!(
            "Server={server};User Id=qoe_service;Password=p;Encrypt=DANGER_PLAINTEXT"
        ));

        let error = database.store.ping().await.expect_err("no such host");

        assert_eq!(
            error.kind(),
            Unavailability::NameNotResolved,
            "{server}: {error:?}"
        );
        assert!(
            format!("{error:?}").contains("qoe-sql.invalid"),
            "{server}: the log names the host: {error:?}"
        );
        assert_eq!((database.pool)().login_failures, 0, "{server}");
    }
}

#[tokio::test]
async fn a_tls_handshake_the_server_ends_or_refuses_is_an_encryption_mismatch_under_every_encrypt()
{
    for (fault, logged) in [
        (Fault::EndTlsHandshake, "tls handshake eof"),
        (Fault::RefuseTlsHandshake, "received fatal alert"),
    ] {
        for encrypt in ["False", "Optional", "True"] {
            let server = server(LoginOptions::default()).await;
            server.set_fault(fault.clone());
            let database = database(&format!(
                "Server=tcp:127.0.0.1,{};User Id=qoe_service;Password=p;Encrypt={encrypt};\
                 TrustServerCertificate=true",
                server.port()
            ));

            let error = database.store.ping().await.expect_err("the handshake ends");

            assert_eq!(
                error.kind(),
                Unavailability::EncryptionMismatch,
                "{fault:?}, Encrypt={encrypt}: {error:?}"
            );
            assert!(
                format!("{error:?}").contains(logged),
                "{fault:?}, Encrypt={encrypt}: {error:?}"
            );
            assert_eq!(server.stats().login_attempts, 0, "no LOGIN7 was sent");
            assert_eq!(
                (database.pool)().login_failures,
                0,
                "the server refused no login"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_tcp_connection_is_not_counted_as_a_login_failure_but_a_refused_login_is() {
    let nothing_listens = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let unreachable = database(&format!(
        "Server=tcp:127.0.0.1,{nothing_listens};User Id=qoe_service;Password=p;\
         Encrypt=DANGER_PLAINTEXT"
    ));
    let server = server(LoginOptions::default()).await;
    server.set_fault(Fault::LoginFailed);
    let refusing = database(&server.ado_connection_string());

    let outage = unreachable.store.ping().await.expect_err("nothing listens");
    let refused = refusing
        .store
        .ping()
        .await
        .expect_err("the login is refused");

    assert_eq!(outage.kind(), Unavailability::Unreachable, "{outage:?}");
    assert_eq!((unreachable.pool)().login_failures, 0);
    assert_eq!((unreachable.pool)().connect_failures, 1);
    assert_eq!(refused.kind(), Unavailability::LoginFailed, "{refused:?}");
    assert_eq!((refusing.pool)().login_failures, 1);
    assert_eq!((refusing.pool)().connect_failures, 0);
}
