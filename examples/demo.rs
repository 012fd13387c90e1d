//! DEMO: the service over the TDS test server loaded with the CQD documentation sample.
//! For trying the API and for front-end work on the portal without SQL Server:
//! `cargo run --example demo`. The real thing is `docker compose up --build`.
use std::collections::HashMap;
use std::process::ExitCode;

use qoe_data_service::configuration::Settings;
use qoe_data_service::paths::{
    HEALTHZ_PATH, LOG_PATH, METRICS_PATH, OPENAPI_PATH, READYZ_PATH, STATUS_PAGE_PATH, STATUS_PATH,
};
use qoe_data_service::startup::Application;
use qoe_data_service::telemetry;
use testkit::integration_log::IntegrationLogDb;
use testkit::TdsTestServer;

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
    let database = TdsTestServer::start(IntegrationLogDb::documentation_sample()).await?;
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

    println!("QoE Data Service DEMO: the database is a TDS test server holding the CQD documentation sample,");
    println!("not SQL Server. For trying the API and portal front-end work; the real thing is `docker compose up --build`.");
    println!();
    println!("  Status        {base}{STATUS_PATH}");
    println!("  Log           {base}{LOG_PATH}?top=10");
    println!("  Status page   {base}{STATUS_PAGE_PATH}");
    println!("  OpenAPI       {base}{OPENAPI_PATH}");
    println!("  Metrics       {base}{METRICS_PATH}");
    println!("  Health        {base}{HEALTHZ_PATH}   Ready {base}{READYZ_PATH}");
    println!();
    println!("Ctrl-C stops the demo.");
    application.run_until_stopped().await?;
    Ok(())
}
