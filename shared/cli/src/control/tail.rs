//! Following QoE files: the edges' QoE lines, as log shipping appends them to a file.
//!
//! `usher edge serve` writes its QoE stream on stdout; redirected to a file, this follows it,
//! as `tail -F` would: from the end at start (old lines describe a past the model has no use
//! for), every new complete line, and from the start again when the file is truncated or
//! replaced (a rotation).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::run::Hub;

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(250);

/// The longest line kept: a longer one is dropped (a QoE line is well under a kilobyte).
const MAX_LINE: usize = 64 << 10;

/// Follows `path` for as long as the controller runs.
pub(crate) async fn follow(path: PathBuf, hub: Arc<Hub>) {
    // A file there at start is read from its end (old lines describe a past the model has no
    // use for); one that appears later is read from its start.
    let (mut position, mut identity) = match std::fs::metadata(&path) {
        Ok(meta) => (meta.len(), identity_of(&meta)),
        Err(_) => (0, None),
    };
    let mut partial: Vec<u8> = Vec::new();
    loop {
        tokio::time::sleep(POLL).await;
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        let id = identity_of(&meta);
        let len = meta.len();
        // Replaced or truncated: the new file from its start.
        let start = if identity != id || len < position {
            partial.clear();
            0
        } else {
            position
        };
        identity = id;
        if len == start {
            position = start;
            continue;
        }
        if file.seek(SeekFrom::Start(start)).is_err() {
            continue;
        }
        let mut fresh = Vec::new();
        if file.take(len - start).read_to_end(&mut fresh).is_err() {
            continue;
        }
        position = start + fresh.len() as u64;
        partial.extend_from_slice(&fresh);
        // Only complete lines: the writer may be in the middle of one.
        if let Some(end) = partial.iter().rposition(|b| *b == b'\n') {
            let rest = partial.split_off(end + 1);
            hub.qoe_lines(&partial);
            partial = rest;
        }
        if partial.len() > MAX_LINE {
            partial.clear();
        }
    }
}

/// The file's identity (device and inode), to tell a replaced file from a grown one.
fn identity_of(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}
