//! `legato`: the Legato practice log from the command line, over the same core, store and
//! sync engine as the desktop app. `main.rs` parses the command line ([`cli::Cli`]) and calls
//! [`run`]; each command group lives in a module of [`commands`].
//!
//! One data directory is one device (`--data-dir`, `LEGATO_DATA_DIR`): `legato.db` (the
//! store), `config.toml` (server and account, never the token), and, only where no OS
//! keyring exists or `LEGATO_KEYRING=file` says so, the private file `token`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod http;
pub mod output;
pub mod token;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::commands::{
    account, conflicts, dead_letters, devices, goal, log, repertoire, stats, status, sync, transfer,
};
use crate::context::Context;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let mut ctx = Context::new(&cli)?;
    match cli.command {
        Command::Account(command) => account::run(&mut ctx, command),
        Command::Devices(command) => devices::run(&ctx, command),
        Command::Log(command) => log::run(&ctx, command),
        Command::Repertoire(command) => repertoire::run(&ctx, command),
        Command::Goal(command) => goal::run(&ctx, command),
        Command::Sync(args) => sync::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Stats(args) => stats::run(&ctx, &args),
        Command::Conflicts(command) => conflicts::run(&ctx, command),
        Command::DeadLetters(command) => dead_letters::run(&ctx, command),
        Command::Export(args) => transfer::export(&ctx, &args),
        Command::Import(args) => transfer::import(&ctx, &args),
    }
}
