use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use qoe_data_service::cli::{is_check, Cli, Exit};
use qoe_data_service::telemetry;

/// How long the last log lines may take to reach stderr before the process exits anyway.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.exit_code() {
                0 => ExitCode::SUCCESS,
                _ if is_check(&args) => ExitCode::from(3),
                _ => ExitCode::from(2),
            };
        }
    };
    let code = match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<Exit>() {
            Some(Exit(code)) => ExitCode::from(*code),
            None => {
                // Not `eprintln!`: it panics when stderr is a closed pipe.
                telemetry::write_line(&format!("error: {error:#}"));
                ExitCode::FAILURE
            }
        },
    };
    telemetry::flush(FLUSH_LIMIT);
    code
}
