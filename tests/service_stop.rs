//! The stop a service manager asks for, `platform::request_stop()` (what the Windows service's
//! Stop and Shutdown call), drains like SIGTERM: the service stops accepting and the request in
//! flight finishes. A test binary of its own, as the stop is process-wide; it runs on Linux and,
//! in the Windows leg, under Wine.
use std::time::{Duration, Instant};

use qoe_data_service::configuration::Settings;
use qoe_data_service::platform;
use qoe_data_service::startup::Application;
use testkit::integration_log::IntegrationLogDb;
use testkit::{Fault, TdsTestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(20);

async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix_web::test]
async fn a_stop_asked_by_the_service_manager_lets_the_request_in_flight_finish() {
    let server = TdsTestServer::start(IntegrationLogDb::documentation_sample())
        .await
        .expect("the TDS test server starts");
    server.set_fault(Fault::Stall);
    let mut settings = Settings::for_tests(&server.ado_connection_string()).expect("valid");
    settings.integration_log.enabled = true;
    settings.http.shutdown_timeout = LIMIT;
    let application = Application::build(settings).expect("the service starts");
    let port = application.port();
    let running = actix_web::rt::spawn(application.run_until_stopped());
    let mut in_flight = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    in_flight
        .write_all(
            b"GET /QoEDataService/IntegrationLog/Status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("send");
    wait_until("the status query to reach the database", async || {
        server.stats().requests > 0
    })
    .await;

    platform::request_stop();
    wait_until("the service to stop accepting", async || {
        TcpStream::connect(("127.0.0.1", port)).await.is_err()
    })
    .await;
    server.set_fault(Fault::None);

    let mut answer = String::new();
    in_flight
        .read_to_string(&mut answer)
        .await
        .expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let report = tokio::time::timeout(LIMIT, running)
        .await
        .expect("stopped in time")
        .expect("not panicked")
        .expect("served without error");
    assert_eq!((report.drained, report.cut_off), (1, 0), "{report:?}");
}
