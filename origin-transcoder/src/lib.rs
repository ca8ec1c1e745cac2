//! Usher's live origin: a live ingest turned into an ABR ladder of small CMAF segments with
//! LL-HLS playlists, the same in every availability zone.
//!
//! Two layers, as in a sans-IO protocol crate. The pure core decides and describes without
//! doing any I/O:
//!
//! * [`timeline`]: epoch-locked numbering. The segment holding UTC instant `t` is
//!   `floor(t / D)` for segment duration `D`, so two transcoders fed the same source in two
//!   zones agree on every segment's number, start and part boundaries without talking to each
//!   other, and a player can switch between them mid-stream.
//! * [`cmaf`]: fragmented MP4 as encoders write it: split from a pipe into boxes, the codec
//!   strings and timescales of the initialisation section, each fragment's decode time,
//!   duration and sync sample, and its timestamps rewritten onto the epoch-locked timeline.
//! * [`package`]: an encoder's fragments cut into epoch-locked parts and segments, with
//!   epoch timestamps and numbers, the same in every zone.
//! * [`playlist`]: LL-HLS media and multivariant playlists written from that timeline
//!   (RFC 8216bis: partial segments, preload hints, blocking reloads, rendition reports).
//! * [`ladder`]: the ABR ladder (video rungs with their H.264 levels, and the audio) and the
//!   `--ladder` list that describes it.
//! * [`encryption`]: optional HLS AES-128 segment encryption, with keys rotating on the epoch
//!   grid and derived from a master secret the edge shares, so the edge serves them.
//!
//! * [`source`] and [`encode`]: the inputs and the FFmpeg command line that encodes them.
//! * The decisions of [`ingest`]: which publisher is accepted (its stream key), and whether
//!   a push input is healthy.
//! * The decisions of [`lease`] (its tracker, RESP codec and embedded store).
//!
//! Around it, the adapters that do I/O on Tokio: [`encoder`] (FFmpeg as a supervised child
//! process, its outputs packaged as they arrive), [`ingest`] (a listener per push input, RTMP
//! or SRT, apart from the encoder, so that an input's health is watched while another is on
//! the air), [`channel`] (what is published, in memory and on disk), [`server`] (HTTP/1.1 and HTTP/2), [`lease`]'s Redis client and heartbeat,
//! [`metrics`] and [`node`] (the channels of one node, as `usher origin` runs them).
//!
//! What it does not do: decode or encode media itself (FFmpeg does, as a child process, so a
//! crashing codec never takes the origin down), authorise viewers or hand them keys (the edge
//! does both).
//!
//! Key design decision: time is the only coordinator. Numbering, keyframe instants and media
//! timestamps all derive from the wall clock and the configured durations, never from a
//! counter a process keeps, so a restarted or standby transcoder continues the same sequence
//! and never reuses a name for different bytes.

pub mod channel;
pub mod clock;
pub mod cmaf;
pub mod encode;
pub mod encoder;
pub mod encryption;
pub mod ingest;
pub mod ladder;
pub mod lease;
pub mod metrics;
pub mod node;
pub mod package;
pub mod playlist;
pub mod server;
pub mod source;
pub mod timeline;
