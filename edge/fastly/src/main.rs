//! Usher's edge router on Fastly Compute (`wasm32-wasip1`): the thin adapter between Fastly's
//! platform and [`usher_edge_core`].
//!
//! Per request it turns Fastly's client request into an `http::Request<()>` ([`convert`]),
//! gathers the core's inputs (the wall clock, sixteen bytes from the host's randomness, the
//! client's address and Fastly's geolocation of it, the configuration and health snapshot from
//! Fastly's stores: [`config`]), calls the core, and carries out its decision (`handler`): a
//! response; a segment sent to the origin's backend through Fastly's HTTP cache and streamed
//! back (`origin`); a playlist fetched through the Core Cache with request collapsing and
//! stale-if-error ([`cache`], `playlist`) and rewritten; a beacon body read; a static asset
//! streamed from a KV store; a ticket's stream lease read from and written back to another
//! (`store`). It writes one access line per request and the core's QoE events to two Fastly log
//! endpoints ([`log`]).
//!
//! # What the service must have
//!
//! - A Config Store `usher_config` and a Secret Store `usher_secrets` with the documents, and
//!   KV stores `usher_health` (the controller's health snapshot), `usher_assets` (the player
//!   library, keyed by its path below `/assets/`) and `usher_leases`, all linked under exactly
//!   these names ([`config`] lists the keys).
//! - **One backend per origin, named after the origin's id** in the `events` document, with the
//!   origin's host as its address (the path comes from the request) and its timeouts set
//!   (`first_byte_timeout` 10 s covers an LL-HLS blocking reload). A missing backend is a 503
//!   `config_error`.
//! - Log endpoints `usher_access` and `usher_qoe` (or the names the Config Store gives).
//!
//! `edge/fastly/fastly.toml` describes all of this for Viceroy, Fastly's local runtime.
//!
//! # What it does not do
//!
//! Purging: playlists age out of the cache by their own freshness, segments by the origin's
//! headers. Retries: a failed origin request is answered (or stood in for by a stale copy), not
//! repeated.
//!
//! Key decision: only the platform glue is built for wasm32. The `fastly` crate links against
//! the Compute host's imports and nothing else, so the glue modules (`handler`, `origin`,
//! `playlist`, `store`) and the SDK itself are compiled for `wasm32` only, and every decision
//! those modules need that is not I/O (request conversion, configuration assembly, cache
//! freshness and entry encoding, log lines) lives in the modules here that build and are
//! unit-tested natively. Natively the binary does nothing.

// Natively, the platform glue that calls these items is not compiled; their tests still run.
#![cfg_attr(
    not(target_arch = "wasm32"),
    allow(
        dead_code,
        reason = "used by the wasm32-only platform glue; natively only their tests call them"
    )
)]

mod cache;
mod config;
mod convert;
mod log;

#[cfg(target_arch = "wasm32")]
mod handler;
#[cfg(target_arch = "wasm32")]
mod origin;
#[cfg(target_arch = "wasm32")]
mod playlist;
#[cfg(target_arch = "wasm32")]
mod store;

/// Answers the request Compute started this instance for.
#[cfg(target_arch = "wasm32")]
fn main() {
    handler::serve();
}

/// Natively there is no Compute host to serve: the binary exists so that the pure modules build
/// and their tests run with the rest of the workspace.
#[cfg(not(target_arch = "wasm32"))]
fn main() {}
