//! The platform-free heart of Usher: what the edge router and the origin share.
//!
//! * [`token`]: the two token layers. Ticket tokens are JWT HS256 (RFC 7519) issued by the
//!   ticketing system; session tokens are Akamai EdgeAuth 2.0 compatible and minted by the edge
//!   for every playlist and segment URI.
//! * [`playlist`]: a lossless, line-oriented model of HLS playlists (RFC 8216 and
//!   draft-pantos-hls-rfc8216bis, Low-Latency HLS included) that rewrites every URI and keeps
//!   every other byte.
//! * [`health`]: the CDN scoring model shared by the steering controller and the edge, and the
//!   versioned snapshot the controller publishes.
//! * [`content_key`]: the AES-128 keys of encrypted segments, derived from a master secret by
//!   the origin that encrypts and the edge that serves them to viewers.
//!
//! What this crate does not do: any I/O. It never reads a clock, a random source, the
//! environment, a file or the network. Time comes in as `now` arguments, and platform facts come
//! in as plain data, so the same code runs on every viewer request at every CDN and in every test.
//!
//! The key design decision is that the crate is `#![no_std]` (with `alloc`): the clock, the
//! environment, files and sockets are unreachable by construction, and it builds unchanged for
//! native targets and for wasm32-wasip1 (Fastly), wasm32-unknown-unknown (Cloudflare Workers) and
//! wasm32-wasip2 (WASI-HTTP hosts).
#![no_std]

extern crate alloc;

pub mod content_key;
pub mod health;
pub mod playlist;
pub mod token;
