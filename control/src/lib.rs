//! The steering controller's core: everything `usher control` decides, with no I/O.
//!
//! The controller watches every CDN of an event and tells the edges which viewers each CDN
//! serves. This crate holds its decisions; `usher control` (in `shared/cli`) is the thin
//! runtime around it that reads the clock, sends the probes, serves the dashboard and writes
//! the files. The split follows sans-IO protocol crates: the runtime hands in what happened
//! (a probe's response, a QoE line, an operator's command, the time) and executes what comes
//! back (observations to feed, a signed snapshot to publish, HTTP requests to send).
//!
//! What it does not do: open sockets, read files or clocks, or sleep. Time arrives as `now_ms`
//! (Unix milliseconds) and randomness as seeds, so every outcome is reproducible in a test.
//!
//! Key design decision: the simulation (`usher control simulate`) and the live controller run
//! the same [`HealthModel`](usher_shared::health::HealthModel) evaluation and slot table, so a
//! threshold validated before the event is the threshold that acts during it.

pub mod admission;
pub mod config;
pub mod controller;
pub mod metrics;
pub mod operator;
pub mod probe;
pub mod publish;
pub mod qoe;
pub mod report;
pub mod simulation;
pub mod timeline;
