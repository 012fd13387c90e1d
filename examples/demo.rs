//! DEMO: the service over the TDS test server holding a log like a live system's, placed
//! relative to now. For trying the API and for front-end work on the portal without SQL Server:
//! `cargo run --example demo` (both jobs healthy), `-- --scenario failing-cube`,
//! `-- --scenario stale-cube`, or `-- --scenario documentation-sample` (the CQD documentation's
//! rows of 2015, as the Status contract shows them). The real thing is
//! `docker compose up --build`.
use std::collections::HashMap;
use std::process::ExitCode;

use qoe_data_service::configuration::Settings;
use qoe_data_service::paths::{
    HEALTHZ_PATH, LOG_PATH, METRICS_PATH, OPENAPI_PATH, READYZ_PATH, STATUS_PAGE_PATH, STATUS_PATH,
};
use qoe_data_service::startup::Application;
use qoe_data_service::telemetry;
use testkit::integration_log::IntegrationLogDb;
use testkit::live_log::{live_log, Scenario};
use testkit::TdsTestServer;

const USAGE: &str = "usage: cargo run --example demo [-- --scenario healthy|failing-cube|stale-cube|documentation-sample]";
const DOCUMENTATION_SAMPLE: &str = "documentation-sample";

/// The demo's data: a live-looking log of `Scenario`, or the documentation sample.
fn database(arguments: &[String]) -> anyhow::Result<(IntegrationLogDb, &'static str)> {
    let scenario = match arguments {
        [] => Scenario::Healthy.name(),
        [flag, name] if flag == "--scenario" => name.as_str(),
        _ => anyhow::bail!("{USAGE}"),
    };
    if scenario == DOCUMENTATION_SAMPLE {
        return Ok((
            IntegrationLogDb::documentation_sample(),
            "the CQD documentation sample (2015)",
        ));
    }
    let scenario = Scenario::from_name(scenario)
        .ok_or_else(|| anyhow::anyhow!("unknown scenario `{scenario}`\n{USAGE}"))?;
    let log = IntegrationLogDb::new();
    log.set_rows(live_log(chrono::Utc::now().naive_utc(), scenario));
    let described = match scenario {
        Scenario::Healthy => "a healthy log (both jobs every 15 minutes)",
        Scenario::FailingCube => "a log whose cube processing is failing",
        Scenario::StaleCube => "a log whose cube processing stopped three hours ago",
    };
    Ok((log, described))
}

#[actix_web::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (log, described) = database(&arguments)?;
    let database = TdsTestServer::start(log).await?;
    let mut environment: HashMap<String, String> = std::env::vars().collect();
    environment.insert(
        "QOE_DATABASE__CONNECTION_STRING".into(),
        database.ado_connection_string(),
    );
    environment.insert("QOE_INTEGRATION_LOG__ENABLED".into(), "true".into());
    let settings = Settings::load_from(None, environment)?;
    telemetry::init(settings.log.format);
    let application = Application::build(settings.clone())?;
    let base = format!(
        "http://{}:{}",
        settings.http.listen.ip(),
        application.port()
    );

    println!("QoE Data Service DEMO: the database is a TDS test server holding {described},");
    println!("not SQL Server. For trying the API and portal front-end work; the real thing is `docker compose up --build`.");
    println!("Other data: {USAGE}");
    println!();
    println!("  Status        {base}{STATUS_PATH}");
    println!("  Log           {base}{LOG_PATH}?top=10");
    println!("  Status page   {base}{STATUS_PAGE_PATH}");
    println!("  OpenAPI       {base}{OPENAPI_PATH}");
    println!("  Metrics       {base}{METRICS_PATH}");
    println!("  Health        {base}{HEALTHZ_PATH}   Ready {base}{READYZ_PATH}");
    // For a service of your own against the demo's data (.ci/wine/service-check does so).
    println!("  Database      {}", database.ado_connection_string());
    println!();
    println!("Ctrl-C stops the demo.");
    application.run_until_stopped().await?;
    Ok(())
}
