//! How a rendition names its files: the init segment, media segments, partial segments and the
//! media playlist itself, relative to the rendition's directory.
//!
//! Names are templates with two placeholders, `{n}` for the media sequence number and `{p}` for
//! the part index within the segment. Because the media sequence number is epoch-locked
//! ([`crate::timeline`]), a name is never reused for different media across restarts or
//! between zones, which is what lets a CDN cache segments as immutable.

use core::fmt;

use crate::timeline::Position;

/// Why a [`Naming`] cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamingError {
    /// A name is empty, absolute, climbs with `..`, or holds a character outside
    /// `A-Z a-z 0-9 . _ ~ - /`, the RFC 3986 unreserved set and the path separator: such a name
    /// would need percent-encoding, or could not be written inside a quoted-string (§4.2).
    Unsafe(&'static str),
    /// A template lacks a placeholder it needs (`{n}` for segments, `{n}` and `{p}` for parts),
    /// has one twice, or has one it must not (`{p}` in a segment name, any in the init or
    /// playlist name). A part name always holds `{p}` and a segment name never does, so the two
    /// cannot be the same template.
    Placeholders(&'static str),
}

impl fmt::Display for NamingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamingError::Unsafe(what) => write!(
                f,
                "the {what} name must be a relative path of A-Z a-z 0-9 . _ ~ - / without '..'"
            ),
            NamingError::Placeholders(what) => write!(
                f,
                "the {what} name has the wrong placeholders: segments need {{n}} once, parts {{n}} and {{p}} once each, the init and playlist names none"
            ),
        }
    }
}

impl std::error::Error for NamingError {}

/// The names of one rendition's files. The default is `init.mp4`, `{n}.m4s`, `{n}.{p}.m4s` and
/// `index.m3u8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naming {
    init: String,
    segment: String,
    part: String,
    playlist: String,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            init: "init.mp4".to_owned(),
            segment: "{n}.m4s".to_owned(),
            part: "{n}.{p}.m4s".to_owned(),
            playlist: "index.m3u8".to_owned(),
        }
    }
}

impl Naming {
    /// A naming from its four templates, checked: `segment` must hold `{n}` once, `part` `{n}`
    /// and `{p}` once each, `init` and `playlist` neither; every name is a relative path of
    /// URI-safe characters.
    pub fn new(init: &str, segment: &str, part: &str, playlist: &str) -> Result<Self, NamingError> {
        for (what, name, n, p) in [
            ("init", init, 0, 0),
            ("segment", segment, 1, 0),
            ("part", part, 1, 1),
            ("playlist", playlist, 0, 0),
        ] {
            let bare = name.replace("{n}", "0").replace("{p}", "0");
            if !safe_path(&bare) {
                return Err(NamingError::Unsafe(what));
            }
            if name.matches("{n}").count() != n || name.matches("{p}").count() != p {
                return Err(NamingError::Placeholders(what));
            }
        }
        Ok(Naming {
            init: init.to_owned(),
            segment: segment.to_owned(),
            part: part.to_owned(),
            playlist: playlist.to_owned(),
        })
    }

    /// The init segment's name (`EXT-X-MAP`).
    pub fn init(&self) -> &str {
        &self.init
    }

    /// Media segment `msn`'s name.
    pub fn segment(&self, msn: u64) -> String {
        self.segment.replace("{n}", &msn.to_string())
    }

    /// The name of part `at.part` of segment `at.msn`.
    pub fn part(&self, at: Position) -> String {
        self.part
            .replace("{n}", &at.msn.to_string())
            .replace("{p}", &at.part.to_string())
    }

    /// The media playlist's name in its rendition's directory.
    pub fn playlist(&self) -> &str {
        &self.playlist
    }

    /// The media playlist of rendition `name`, from the channel's directory, where the
    /// multivariant playlist is: `{name}/{playlist}`.
    pub fn from_channel(&self, name: &str) -> String {
        format!("{name}/{}", self.playlist)
    }

    /// The media playlist of rendition `name`, from a sibling rendition's directory, for
    /// `EXT-X-RENDITION-REPORT`: `../{name}/{playlist}`.
    pub fn from_sibling(&self, name: &str) -> String {
        format!("../{name}/{}", self.playlist)
    }
}

/// Whether `name` is a non-empty relative path of RFC 3986 unreserved characters and `/`, with
/// no empty, `.` or `..` segment: it needs no percent-encoding, cannot escape its directory and
/// fits in a quoted-string.
pub(crate) fn safe_path(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-/".contains(&b))
        && name
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_names_segments_and_parts_by_number() {
        let naming = Naming::default();
        assert_eq!(naming.init(), "init.mp4");
        assert_eq!(naming.segment(883_612_800), "883612800.m4s");
        assert_eq!(
            naming.part(Position {
                msn: 883_612_800,
                part: 3
            }),
            "883612800.3.m4s"
        );
        assert_eq!(naming.from_channel("720p"), "720p/index.m3u8");
        assert_eq!(naming.from_sibling("audio"), "../audio/index.m3u8");
    }

    #[test]
    fn a_custom_naming_renders_its_templates() {
        let naming = Naming::new(
            "v/init.mp4",
            "v/seg-{n}.mp4",
            "v/seg-{n}-part{p}.mp4",
            "live.m3u8",
        )
        .unwrap();
        assert_eq!(naming.segment(7), "v/seg-7.mp4");
        assert_eq!(
            naming.part(Position { msn: 7, part: 0 }),
            "v/seg-7-part0.mp4"
        );
        assert_eq!(naming.from_channel("360p"), "360p/live.m3u8");
    }

    #[test]
    fn templates_without_their_placeholders_are_refused() {
        let d = "init.mp4";
        assert_eq!(
            Naming::new(d, "seg.m4s", "{n}.{p}.m4s", "i.m3u8"),
            Err(NamingError::Placeholders("segment"))
        );
        assert_eq!(
            Naming::new(d, "{n}.m4s", "{n}.m4s", "i.m3u8"),
            Err(NamingError::Placeholders("part"))
        );
        assert_eq!(
            Naming::new(d, "{n}-{n}.m4s", "{n}.{p}.m4s", "i.m3u8"),
            Err(NamingError::Placeholders("segment"))
        );
        assert_eq!(
            Naming::new("init{n}.mp4", "{n}.m4s", "{n}.{p}.m4s", "i.m3u8"),
            Err(NamingError::Placeholders("init"))
        );
        assert_eq!(
            Naming::new(d, "{n}.{p}.m4s", "{n}.{p}.m4s", "i.m3u8"),
            Err(NamingError::Placeholders("segment"))
        );
    }

    #[test]
    fn names_that_need_escaping_or_leave_the_directory_are_refused() {
        for bad in [
            "",
            "/abs.mp4",
            "../up.mp4",
            "a//b.mp4",
            "a b.mp4",
            "a\"b.mp4",
            "a,b.mp4",
            "é.mp4",
        ] {
            assert_eq!(
                Naming::new(bad, "{n}.m4s", "{n}.{p}.m4s", "i.m3u8"),
                Err(NamingError::Unsafe("init")),
                "{bad:?}"
            );
        }
        assert_eq!(
            Naming::new("init.mp4", "{x}{n}.m4s", "{n}.{p}.m4s", "i.m3u8"),
            Err(NamingError::Unsafe("segment"))
        );
        assert!(
            NamingError::Unsafe("init")
                .to_string()
                .contains("relative path")
        );
    }
}
