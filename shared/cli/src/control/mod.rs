//! `usher control`: the steering controller's runtime around the `usher-control` core.
//!
//! [`client`] is its HTTP client and [`publish`] puts the sealed snapshot where the edges read
//! it; [`simulate`] replays a scripted scenario through the controller's decision code before the
//! event, and [`report`] writes the post-event report from its record. The decisions are the pure
//! crate's.

pub(crate) mod client;
#[cfg(test)]
mod local_server;
pub(crate) mod publish;
mod report;
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
    /// Write the post-event report of one event from the controller's data directory:
    /// report.html (charts), report.json, timeline.csv and decisions.csv.
    Report(report::ReportArgs),
}

/// Runs one `usher control` subcommand.
pub(crate) fn run(command: ControlCommand) -> Result<ExitCode> {
    match command {
        ControlCommand::Simulate(args) => simulate::run(&args),
        ControlCommand::Report(args) => report::run(&args),
    }
}
