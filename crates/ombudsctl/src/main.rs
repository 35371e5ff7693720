//! `ombudsctl`: the operator's command-line client for Ombuds. It talks to the
//! services over their gRPC APIs (ComplaintService on intake, RoutingService on
//! routing, SlaService on the SLA watchdog, AnalyticsService on analytics), like any
//! other client would; `dlq` alone talks to NATS, where the dead letters are.
//!
//! `cli` parses the command line, `commands` makes the calls, `render` prints the
//! answers as text or JSON, and `client` connects and turns every failure into one
//! line on standard error (`error: NOT_FOUND: no complaint with ticket TS-…`) and a
//! non-zero exit code.

mod calendar;
mod cli;
mod client;
mod commands;
mod dlq;
mod lifecycle;
mod render;
mod transfer;

use std::{io::Write, process::ExitCode};

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors, --help and --version exit here with clap's own codes (2 and 0).
    let cli = cli::Cli::parse();
    let (output, failure) = match commands::run(cli).await {
        Ok(out) => (out, None),
        Err(client::CtlError::Partial { output, message }) => (output, Some(message)),
        Err(e) => (String::new(), Some(e.to_string())),
    };
    if let Err(e) = write_stdout(&output) {
        // A closed pipe (`ombudsctl list | head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the output: {e}");
            return ExitCode::FAILURE;
        }
    }
    match failure {
        None => ExitCode::SUCCESS,
        Some(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write_stdout(s: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(s.as_bytes())?;
    stdout.flush()
}
