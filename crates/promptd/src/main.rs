//! `promptd`: parse the command line, set up logging, run the subcommand.

use std::io::IsTerminal;

use clap::Parser;
use promptd::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROMPTD_LOG").unwrap_or_else(|_| {
                "promptd=info,promptd_server=info,promptd_store=info,warn".into()
            }),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(a) => promptd::serve(a).await,
            Command::Migrate(a) => promptd::migrate(a).await,
            Command::Render(a) => promptd::render(a),
            Command::Import(promptd::ImportCommand::Litellm(a)) => promptd::import_litellm(a).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
