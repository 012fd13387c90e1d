use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use qoe_data_service::cli::Cli;
use qoe_data_service::telemetry;

/// How long the last log lines may take to reach stderr before the process exits anyway.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

#[actix_web::main]
async fn main() -> ExitCode {
    let code = match Cli::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not `eprintln!`: it panics when stderr is a closed pipe.
            telemetry::write_line(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    };
    telemetry::flush(FLUSH_LIMIT);
    code
}
