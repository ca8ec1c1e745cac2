//! `usher control`: the steering controller's runtime around the `usher-control` core.
//!
//! [`simulate`] replays a scripted scenario through the controller's decision code before the
//! event. The decisions are the pure crate's.

mod simulate;

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

/// `usher control` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ControlCommand {
    /// Simulate a scenario before the event: virtual viewers through the controller's own
    /// scoring and assignment code; prints one JSON report (docs/simulation.md).
    Simulate(simulate::SimulateArgs),
}

/// Runs one `usher control` subcommand.
pub(crate) fn run(command: ControlCommand) -> Result<ExitCode> {
    match command {
        ControlCommand::Simulate(args) => simulate::run(&args),
    }
}
