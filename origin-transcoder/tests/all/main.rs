//! Integration tests of the origin, against real FFmpeg output. One binary, one module per area.

mod cmaf;
mod encryption;
mod ingest;
mod lease;
mod origin;
mod package;
mod redis;
mod standby;
