//! `usher`: the operator's tool for Usher.
//!
//! Today it mints and verifies tokens, rewrites playlists and hosts the edge component locally
//! (`usher edge serve`); runs an origin node (`usher origin`) and the steering controller
//! (`usher control`); and runs a whole live event locally (`usher dev`). It is a thin front over the library crates: it parses
//! arguments, reads files and the clock, calls the pure code, and prints.
//!
//! Exit codes are a contract: 0 success (a valid token), 1 a negative answer (an invalid token,
//! a body that is not a playlist), 2 a usage error (bad flags, unreadable or invalid
//! configuration).

mod control;
mod dev;
mod edge;
mod origin;
mod playlist;
mod token;

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Usher: ticketed multi-CDN delivery for live events.
#[derive(Parser, Debug)]
#[command(name = "usher", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mint and verify ticket (JWT HS256) and session (EdgeAuth 2.0) tokens.
    #[command(subcommand)]
    Token(Box<token::TokenCommand>),
    /// Rewrite HLS playlists as the edge does.
    #[command(subcommand)]
    Playlist(playlist::PlaylistCommand),
    /// Run the edge router locally: a WASI-HTTP host for the edge component.
    #[command(subcommand)]
    Edge(edge::EdgeCommand),
    /// Run an origin: live ingest to an ABR ladder of CMAF LL-HLS segments.
    Origin(Box<origin::OriginArgs>),
    /// The steering controller: run it, command it, simulate and report on events.
    #[command(subcommand)]
    Control(control::ControlCommand),
    /// A whole live event on this machine: origins, CDNs with fault injectors, edges, the
    /// controller and its dashboard.
    Dev(Box<dev::DevArgs>),
}

/// A mistake in how `usher` was called or configured: exit 2, like clap's own usage errors.
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }

    /// Wraps a configuration error from the library. These never contain key material: the
    /// library's errors are codes, not echoes of input.
    pub(crate) fn from_config(error: impl fmt::Display) -> anyhow::Error {
        UsageError(error.to_string()).into()
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// One line on stderr. A closed stderr must not stop a server.
pub(crate) fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(format!("{line}\n").as_bytes());
}

/// The wall clock, Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes one line to stdout, reporting a closed pipe as an error instead of panicking.
pub(crate) fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(command) => token::run(*command),
        Command::Playlist(command) => playlist::run(command),
        Command::Edge(command) => edge::run(command),
        Command::Origin(args) => origin::run(*args),
        Command::Control(command) => control::run(command),
        Command::Dev(args) => dev::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let usage = error.downcast_ref::<UsageError>().is_some();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "usher: error: {error:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
