//! LL-HLS playlists written from the [`crate::timeline`]: a rendition's media playlist with
//! partial segments, preload hints and rendition reports, the decision a blocking playlist
//! reload needs, and the channel's multivariant playlist (draft-pantos-hls-rfc8216bis-16,
//! "RFC 8216bis" in the comments, whose section numbers they cite).
//!
//! What this module does not do: read a clock, a file or a socket. Time and everything
//! published come in as arguments and playlists go out as strings, so a playlist is a function
//! of what was published, which the HTTP server, the tests and a second zone can all call and
//! get the same bytes from. It does not hold blocked requests either: [`decide`] says whether
//! to answer, wait or refuse, and the server does the waiting.
//!
//! Key design decision: every instant written (`EXT-X-PROGRAM-DATE-TIME`) comes from the
//! epoch-locked timeline, not from a clock reading at publication, and names come from the
//! media sequence number, so the playlists of two transcoders fed the same source agree on
//! every segment's number, name and start time, and a player or CDN can switch between them.

mod media;
mod multivariant;
mod naming;
mod reload;
mod value;

pub use media::{
    KeySchedule, MEDIA_VERSION, MediaError, OpenSegment, Part, Rendition, RenditionReport,
    RenditionState, Segment, Window, duration_from_ticks,
};
pub use multivariant::{MultivariantError, multivariant};
pub(crate) use naming::safe_path;
pub use naming::{Naming, NamingError};
pub use reload::{
    Awaited, Now, Refusal, Reload, ReloadState, TIMEOUT_CODE, TIMEOUT_STATUS, decide,
};

/// Golden playlists: `tests/golden/playlists/NAME.m3u8`, byte-exact; `USHER_BLESS=1` rewrites
/// them (review the diff in git).
#[cfg(test)]
pub(crate) mod golden {
    use std::path::PathBuf;

    /// Compares `actual` with the golden file `name`, or writes it when blessing.
    pub(crate) fn check(name: &str, actual: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/playlists")
            .join(format!("{name}.m3u8"));
        if std::env::var_os("USHER_BLESS").is_some() {
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with USHER_BLESS=1)", path.display()));
        assert_eq!(
            actual,
            want,
            "{} differs (after an intended change: USHER_BLESS=1, then review git diff)",
            path.display()
        );
    }
}
