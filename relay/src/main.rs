//! The `privaclaw-relay` binary: parse flags, set up logging, run the server until SIGTERM,
//! then exit at once: the server has closed its sockets, and nothing else needs waiting for
//! (dropping the runtime would wait on idle database and blocking-pool threads).

#![forbid(unsafe_code)]

use clap::Parser;
use privaclaw_relay::config::{Command, Config};
use privaclaw_relay::{backup, server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let done = match config.command.clone() {
        Some(Command::Backup { file }) => backup::backup(&config, &file).await.map(|said| println!("{said}")),
        Some(Command::Restore { file, replace }) => {
            backup::restore(&config, &file, replace).await.map(|said| println!("{said}"))
        }
        None => server::run(config).await,
    };
    if let Err(e) = done {
        eprintln!("privaclaw-relay: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}
