//! Kerberos (Integrated Security=SSPI without a user) against a real MIT KDC started on
//! loopback with its own realm, through the real pool, driver and HTTP path. The TDS test
//! server accepts the GSSAPI token in LOGIN7 with its own keytab, as SQL Server does.
//!
//! The Kerberos variables (KRB5_CONFIG, KRB5_KTNAME, KRB5_CLIENT_KTNAME, KRB5CCNAME) are
//! process-wide, so this binary is on its own and its tests take turns.
#![cfg(all(unix, feature = "kerberos"))]
// Each test owns its runtime and thread; the lock only makes whole tests take turns.
#![allow(clippy::await_holding_lock)]
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use qoe_data_service::configuration::Settings;
use qoe_data_service::paths::STATUS_PATH;
use qoe_data_service::startup::Application;
use std::net::Ipv4Addr;
use testkit::integration_log::IntegrationLogDb;
use testkit::{
    LoginOptions, ServerOptions, SqlBrowserResponder, TdsTestServer, WindowsLogin, SQL_BROWSER_PORT,
};

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
use helpers::http_get;

const REALM: &str = "QOE.TEST";
const SBIN: &str = "/usr/sbin";

/// One test at a time: they share the process environment.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the MIT KDC tools are here. In CI they must be (`.ci/run` installs them).
fn kdc_tools_present() -> bool {
    let present = ["krb5kdc", "kdb5_util", "kadmin.local"]
        .iter()
        .all(|tool| Path::new(SBIN).join(tool).exists());
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but the MIT KDC (krb5-kdc, krb5-admin-server) is not installed"
        );
        eprintln!("skipped: install krb5-kdc and krb5-admin-server to run the Kerberos tests");
    }
    present
}

/// This test's turn, and a realm of its own with `qoe_service` in its `client.keytab`;
/// `None` (locally, without the KDC tools) means skip.
fn realm(name: &str) -> Option<(MutexGuard<'static, ()>, Kdc, PathBuf)> {
    let turn = one_at_a_time();
    if !kdc_tools_present() {
        return None;
    }
    let kdc = Kdc::start(name);
    let client = kdc.principal_in_keytab("qoe_service", "client.keytab");
    Some((turn, kdc, client))
}

/// A realm of its own in a temp dir, with its KDC running on a free loopback port.
struct Kdc {
    dir: PathBuf,
    process: Option<Child>,
}

impl Kdc {
    fn start(name: &str) -> Kdc {
        let dir = std::env::temp_dir().join(format!("qoe-kdc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("KDC dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let d = dir.display();
        std::fs::write(
            dir.join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n \
                 dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n \
                 udp_preference_limit = 1\n\n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )
        .expect("krb5.conf");
        std::fs::write(
            dir.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\n[realms]\n {REALM} = {{\n  \
                 database_name = {d}/principal\n  key_stash_file = {d}/stash\n  \
                 acl_file = {d}/kadm5.acl\n  kdc_listen = 127.0.0.1:{port}\n  \
                 kdc_tcp_listen = 127.0.0.1:{port}\n }}\n\n\
                 [logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        )
        .expect("kdc.conf");
        std::fs::write(dir.join("kadm5.acl"), "").expect("acl");
        let kdc = Kdc { dir, process: None };
        kdc.run(
            "kdb5_util",
            &["create", "-s", "-r", REALM, "-P", "master-key-pw"],
        );
        kdc
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(Path::new(SBIN).join(tool));
        command
            .env("KRB5_CONFIG", self.dir.join("krb5.conf"))
            .env("KRB5_KDC_PROFILE", self.dir.join("kdc.conf"))
            .stdin(Stdio::null());
        command
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().expect(tool);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn kadmin(&self, query: &str) {
        self.run("kadmin.local", &["-r", REALM, "-q", query]);
    }

    /// A principal with a random key, exported to `keytab` (in the KDC dir).
    fn principal_in_keytab(&self, principal: &str, keytab: &str) -> PathBuf {
        let path = self.dir.join(keytab);
        self.kadmin(&format!("addprinc -randkey +requires_preauth {principal}"));
        self.kadmin(&format!("ktadd -k {} {principal}", path.display()));
        path
    }

    fn serve(&mut self) {
        let child = self
            .command("krb5kdc")
            .args(["-n", "-r", REALM])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("krb5kdc starts");
        self.process = Some(child);
        // Wait until it accepts on its TCP port.
        let conf = std::fs::read_to_string(self.dir.join("krb5.conf")).expect("conf");
        let port = conf
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .and_then(|p| p.trim().parse::<u16>().ok())
            .expect("KDC port");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "krb5kdc did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Points this process's Kerberos library at the realm, the server keytab and `client`.
    fn use_client_keytab(&self, client: &Path, cache: &str) {
        std::env::set_var("KRB5_CONFIG", self.dir.join("krb5.conf"));
        std::env::set_var("KRB5_KTNAME", self.dir.join("server.keytab"));
        std::env::set_var("KRB5_CLIENT_KTNAME", client);
        std::env::set_var(
            "KRB5CCNAME",
            format!("FILE:{}", self.dir.join(cache).display()),
        );
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TDS test server that takes Kerberos logins for MSSQLSvc/localhost:<port>, with its key
/// in the KDC's `server.keytab`.
async fn kerberos_server(kdc: &Kdc) -> (TdsTestServer, String) {
    let (server, port) = kerberos_server_on(kdc, Ipv4Addr::LOCALHOST, "localhost").await;
    let connection_string = format!(
        "Server=tcp:localhost,{port};Database=QoEArchive;Integrated Security=SSPI;\
         Encrypt=DANGER_PLAINTEXT"
    );
    (server, connection_string)
}

/// As [`kerberos_server`], listening on `ip` with the SPN `MSSQLSvc/<host>:<port>`.
async fn kerberos_server_on(kdc: &Kdc, ip: Ipv4Addr, host: &str) -> (TdsTestServer, u16) {
    // Bind first to learn the port, then register the SPN SQL Server would register; the
    // server takes over the listener, so the port is never free for another process.
    let listener = std::net::TcpListener::bind((ip, 0)).expect("free port");
    let port = listener.local_addr().expect("addr").port();
    let spn = format!("MSSQLSvc/{host}:{port}");
    kdc.principal_in_keytab(&spn, "server.keytab");
    let server = TdsTestServer::start_on(
        listener,
        ServerOptions::default(),
        LoginOptions {
            bind: ip,
            windows: Some(WindowsLogin::Kerberos {
                service_principal: spn,
            }),
            ..LoginOptions::default()
        },
        IntegrationLogDb::documentation_sample(),
    )
    .await
    .expect("the TDS test server starts");
    (server, port)
}

/// The service itself, built from settings as in production, on a free port.
fn service(connection_string: &str) -> u16 {
    let mut settings = Settings::for_tests(connection_string).expect("valid settings");
    settings.database.connect_timeout = Duration::from_millis(3000);
    settings.database.command_timeout = Duration::from_millis(1000);
    settings.integration_log.enabled = true;
    let application = Application::build(settings).expect("the service starts");
    let port = application.port();
    tokio::spawn(application.run_until_stopped());
    port
}

#[tokio::test]
async fn a_keytab_identity_logs_in_with_kerberos_and_the_status_is_served() {
    let Some((_turn, mut kdc, client)) = realm("ok") else {
        return;
    };
    let (server, connection_string) = kerberos_server(&kdc).await;
    kdc.serve();
    kdc.use_client_keytab(&client, "ccache-ok");
    let port = service(&connection_string);

    let ready = http_get(port, "/readyz").await;
    let status = http_get(port, STATUS_PATH).await;

    assert_eq!(
        ready.status,
        200,
        "{} {:?} {}",
        ready.body,
        server.logins(),
        std::fs::read_to_string(kdc.dir.join("kdc.log")).unwrap_or_default()
    );
    assert_eq!(status.status, 200, "{}", status.body);
    let logins = server.logins();
    assert!(!logins.is_empty());
    assert!(
        logins
            .iter()
            .all(|l| l.accepted && l.integrated && l.user == format!("qoe_service@{REALM}")),
        "{logins:?}"
    );
}

#[tokio::test]
async fn a_stale_keytab_is_a_503_that_names_the_kerberos_credentials() {
    let Some((_turn, mut kdc, _client)) = realm("stale") else {
        return;
    };
    let stale = kdc.principal_in_keytab("qoe_stale", "stale.keytab");
    // The KDC's key changes; the keytab keeps the old one.
    kdc.kadmin("cpw -randkey qoe_stale");
    let (server, connection_string) = kerberos_server(&kdc).await;
    kdc.serve();
    kdc.use_client_keytab(&stale, "ccache-stale");
    let port = service(&connection_string);

    let ready = http_get(port, "/readyz").await;

    assert_eq!(ready.status, 503);
    assert_eq!(
        reason_of(&ready.body),
        "no valid Kerberos credentials",
        "{}",
        ready.body
    );
    assert!(server.logins().is_empty(), "no ticket, so no login");
}

#[tokio::test]
async fn a_kdc_that_is_down_is_a_prompt_503() {
    let Some((_turn, mut kdc, client)) = realm("down") else {
        return;
    };
    let (_server, connection_string) = kerberos_server(&kdc).await;
    // The KDC never runs.
    kdc.stop();
    kdc.use_client_keytab(&client, "ccache-down");
    let port = service(&connection_string);

    let started = Instant::now();
    let ready = http_get(port, "/readyz").await;

    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ready.status, 503);
    assert_eq!(
        reason_of(&ready.body),
        "Kerberos KDC unreachable",
        "{}",
        ready.body
    );
}

#[tokio::test]
async fn a_server_without_its_spn_in_the_kdc_is_a_503_that_says_so() {
    let Some((_turn, mut kdc, client)) = realm("no-spn") else {
        return;
    };
    kdc.serve();
    kdc.use_client_keytab(&client, "ccache-no-spn");
    // Nothing listens there and no MSSQLSvc/localhost:<port> is registered: the ticket request
    // fails before any TCP connection would matter.
    let server = TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("the TDS test server starts");
    let port = service(&format!(
        "Server=tcp:localhost,{};Database=QoEArchive;Integrated Security=SSPI;\
         Encrypt=DANGER_PLAINTEXT",
        server.port()
    ));

    let ready = http_get(port, "/readyz").await;

    assert_eq!(ready.status, 503);
    assert_eq!(
        reason_of(&ready.body),
        "database SPN unknown to Kerberos",
        "{}",
        ready.body
    );
}

#[tokio::test]
async fn a_named_instance_is_asked_for_with_the_spn_of_the_port_sql_browser_returns() {
    let Some((_turn, mut kdc, client)) = realm("instance") else {
        return;
    };
    let ip = Ipv4Addr::new(127, 0, 9, 20);
    let (server, port) = kerberos_server_on(&kdc, ip, &ip.to_string()).await;
    let _sql_browser = SqlBrowserResponder::start(
        ip,
        SQL_BROWSER_PORT,
        HashMap::from([("CQD".to_owned(), port)]),
    )
    .await
    .expect("UDP 1434 on a private loopback address (needs root, as CI runs)");
    kdc.serve();
    kdc.use_client_keytab(&client, "ccache-instance");
    let service = service(&format!(
        "Server={ip}\\CQD;Database=QoEArchive;Integrated Security=SSPI;Encrypt=DANGER_PLAINTEXT"
    ));

    let ready = http_get(service, "/readyz").await;

    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(server.logins().iter().all(|l| l.accepted && l.integrated));
}

/// The reason `/readyz` gives, whatever else the body says (such as when it retries).
fn reason_of(body: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["status"], "unavailable", "{body}");
    body["reason"].as_str().unwrap_or_default().to_owned()
}
