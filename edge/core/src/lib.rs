//! Usher's edge router, without the platform: every decision the edge makes about a viewer
//! request, as a pure function of the request and plain data.
//!
//! The same core runs inside three adapters (Fastly Compute, Cloudflare Workers, WASI-HTTP
//! hosts). An adapter turns its platform's request into an [`http::Request`], gathers the
//! inputs the core asks for (the time, the client's address and location, the configuration
//! documents, the health snapshot, a few random bytes), calls the core, and executes what comes
//! back: a response to send, or an origin fetch to make and hand back. The adapter never branches
//! on business meaning, so the edge behaves the same on every CDN, and every behaviour is tested
//! here, natively, without a server.
//!
//! What this crate does not do: any I/O. It never reads a clock, a store, the network or the
//! environment; it never writes a log (it builds the lines, [`access`], and the adapter writes them) and it never holds a
//! segment body (segments are streamed by the adapter from the origin).
//!
//! The key design decision is the split of each request into *decide* and *finish*: `decide`
//! answers from the request alone when it can (a refused token, the player page, a segment
//! pass-through), and otherwise says what to fetch; `finish` turns the origin's playlist into the
//! viewer's. Platform types stop at the adapter's boundary; `http` 1.x types are the vocabulary.

pub mod access;
pub mod admission;
pub mod cmcd;
pub mod config;
pub mod credential;
pub mod decision;
pub mod forwarding;
pub mod lease;
pub mod page;
pub mod reason;
pub mod route;
pub mod steering;

pub use decision::{
    Action, Answer, AssetResponse, Client, Decision, EdgeInput, Fetched, OriginFailure,
    RewritePlan, Upstream, beacon, decide, finish, proxied,
};
pub use lease::{LeaseCheck, StoreWrite, Stored, leased};
