//! Usher's edge router as a Cloudflare Worker (`wasm32-unknown-unknown`, built by
//! `worker-build`): the thin adapter between the Workers runtime and [`usher_edge_core`].
//!
//! Per request it turns the runtime's `Request` into an `http::Request<()>` (`convert`),
//! gathers the core's inputs (the time from `Date.now()`, sixteen bytes from
//! `crypto.getRandomValues`, the client's address from `CF-Connecting-IP` and its country and
//! ASN from `request.cf`, the configuration from the Worker's bindings and the health snapshot
//! from KV: `config`), calls the core, and carries out its decision (`handler`): a
//! response; a segment streamed from the origin (`origin`); a playlist from the Cache API or
//! the origin, with stale-if-error (`cache`); a beacon body read; the player library from KV,
//! or a stream lease read from and written to KV (`store`). It writes one access line per
//! request and the QoE events with `console.log` (`log`).
//!
//! # What the Worker needs
//!
//! - Variables `USHER_EVENTS`, `USHER_PATHWAYS`, `USHER_SETTINGS` and secrets
//!   `USHER_TICKET_KEYS`, `USHER_SESSION_KEY` (and `USHER_CONTENT_KEYS` when an event is
//!   encrypted): the configuration documents. A missing or invalid one makes every answer 503
//!   `config_error`; the access line says which and why.
//! - KV namespaces `USHER_ASSETS` (the player library), `USHER_LEASES` (stream leases) and,
//!   optionally, `USHER_HEALTH` (the steering controller's snapshot under `snapshot`).
//! - Outbound `fetch` to the origins named in `USHER_EVENTS` (full URLs).
//!
//! # What it does not do
//!
//! No logic of its own: every branch on what a request means is the core's. No Durable Objects:
//! leases live in KV, with KV's consistency (see `store`). No wrangler configuration: the
//! deployment's `wrangler.toml` (or the local workerd config the `local/` generator writes)
//! binds the names above.
//!
//! Key decision: the platform-free parts compile and are unit-tested natively; everything that
//! touches the Workers runtime is `cfg(target_arch = "wasm32")`, and so is the `worker`
//! dependency, so a host build of the workspace never compiles the Workers SDK. Response
//! bodies stay JavaScript streams from origin (or KV) to viewer, so a segment costs the Worker
//! the same CPU whatever its size.

// Natively only the platform-free modules and their tests are built; the glue that calls them
// exists on wasm32 alone, where `make clippy` checks the crate for dead code.
#![cfg_attr(
    not(target_arch = "wasm32"),
    allow(
        dead_code,
        reason = "the runtime glue that uses these items is compiled for wasm32 only"
    )
)]

mod cache;
mod config;
mod convert;
#[cfg(target_arch = "wasm32")]
mod handler;
#[cfg(target_arch = "wasm32")]
mod log;
mod origin;
mod store;

/// The Worker's `fetch` handler: every request, whatever happens, gets the core's answer.
#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    request: worker::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    Ok(handler::handle(request, env, ctx).await)
}
