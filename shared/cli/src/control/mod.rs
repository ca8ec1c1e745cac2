//! `usher control`: the steering controller's runtime around the `usher-control` core.
//!
//! This is the I/O half: [`run`](mod@run) is the long-running controller, which sends the probes
//! ([`probe`]) and the publications ([`publish`]) over HTTP ([`client`]), follows QoE files
//! ([`tail`]) and serves the dashboard and API ([`server`]); [`command`] sends an operator's
//! drain, pin, clear or admission command to it; [`simulate`] replays a scripted scenario through the same decision
//! code before the event. The decisions are the pure crate's.

pub(crate) mod client;
pub(crate) mod command;
#[cfg(test)]
mod local_server;
pub(crate) mod probe;
pub(crate) mod publish;
mod report;
pub(crate) mod run;
pub(crate) mod server;
mod simulate;
pub(crate) mod tail;

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

/// `usher control` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ControlCommand {
    /// Run the steering controller: probes, scoring, snapshots, dashboard.
    Run(run::RunArgs),
    /// Drain a CDN at once (sent to a running controller; logged with who and why).
    Drain(command::DrainArgs),
    /// Pin CDN weights (sent to a running controller; logged with who and why).
    Pin(command::PinArgs),
    /// Clear a CDN's drain or pin (sent to a running controller; logged with who and why).
    Clear(command::ClearArgs),
    /// Open, pause or set the rate of an event's waiting room (sent to a running controller;
    /// logged with who and why).
    Admission(command::AdmissionArgs),
    /// Simulate a scenario before the event: virtual viewers through the controller's own
    /// scoring and assignment code; prints one JSON report (docs/simulation.md).
    Simulate(simulate::SimulateArgs),
    /// Write the post-event report of one event from the controller's data directory:
    /// report.html (charts), report.json, timeline.csv, decisions.csv and, for an event with a
    /// waiting room, admission.csv.
    Report(report::ReportArgs),
}

/// Runs one `usher control` subcommand.
pub(crate) fn run(command: ControlCommand) -> Result<ExitCode> {
    match command {
        ControlCommand::Run(args) => run::run(args),
        ControlCommand::Drain(args) => command::drain(args),
        ControlCommand::Pin(args) => command::pin(args),
        ControlCommand::Clear(args) => command::clear(args),
        ControlCommand::Admission(args) => command::admission(args),
        ControlCommand::Simulate(args) => simulate::run(&args),
        ControlCommand::Report(args) => report::run(&args),
    }
}
