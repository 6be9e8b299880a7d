//! `edge-screen`: parse the command line, run, map errors to exit codes.

use clap::Parser;
use edge_screen::commands::{self, Exit};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = edge_screen::cli::Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let code = err.downcast_ref::<Exit>().map_or(1, |e| e.code);
            eprintln!("edge-screen: {err:#}");
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

/// A closed pipe (`edge-screen ... | head`) is a normal way to stop reading, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
