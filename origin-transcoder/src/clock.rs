//! The one place the origin reads the wall clock.
//!
//! The pure modules take time as an argument (`now_ms`); the adapters (encoder, server, node,
//! lease heartbeat) read it here, so every timestamp the origin acts on is the same kind of
//! number: Unix milliseconds, UTC, the epoch the timeline numbers segments from.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds now (0 if the clock is set before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
