use std::process::ExitCode;

use clap::Parser;
use qoe_data_service::cli::Cli;

#[actix_web::main]
async fn main() -> ExitCode {
    match Cli::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
