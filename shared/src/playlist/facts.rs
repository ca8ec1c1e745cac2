//! Read-only facts about a playlist, read from its tags when asked: what kind it is, its sequence
//! numbers, its segments, parts and variants, and where its URIs are. They serve the edge's
//! decisions and the tests' checks that a rewrite changed nothing but URIs; nothing is cached, and
//! a tag that does not parse just yields no fact.

use core::ops::Range;

use super::Playlist;
use super::line::{LineKind, Tag};

/// Whether a playlist lists variant streams or media segments (RFC 8216 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    /// A multivariant (master) playlist: it has a tag only multivariant playlists have
    /// (draft-pantos-hls-rfc8216bis §4.4.6) and none only media playlists have.
    Multivariant,
    /// A media playlist: it has a media playlist, media segment or media metadata tag (§4.4.3,
    /// §4.4.4, §4.4.5) and no multivariant playlist tag.
    Media,
    /// Neither (only tags both kinds may have), or both, which the spec forbids; a client would
    /// fail to parse it, but a lossless model has no reason to.
    Indeterminate,
}

/// A media segment: a URI line with an `EXTINF` tag (RFC 8216 §4.3.2.1, draft-pantos-hls-rfc8216bis
/// §4.4.4.1) since the previous URI line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The segment URI, without surrounding whitespace.
    pub uri: &'a str,
    /// The duration exactly as written in `EXTINF`, before its comma.
    pub duration: &'a str,
    /// The index of the URI line in [`Playlist::lines`].
    pub line_index: usize,
}

impl Segment<'_> {
    /// The duration in seconds, if it is a finite, non-negative decimal number (§4.2
    /// decimal-floating-point or decimal-integer).
    #[must_use]
    pub fn duration_seconds(&self) -> Option<f64> {
        self.duration
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite() && *d >= 0.0)
    }
}

/// A URI in a playlist: where it is and what holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriRef<'a> {
    /// The index of its line in [`Playlist::lines`].
    pub line_index: usize,
    /// Its byte range in that line's [`text`](super::Line::text).
    pub span: Range<usize>,
    /// The URI as written.
    pub uri: &'a str,
    /// The name of the tag whose attribute holds it, or `None` for a URI line.
    pub tag: Option<&'a str>,
}

/// Tags only a multivariant playlist may have (draft-pantos-hls-rfc8216bis §4.4.6).
const MULTIVARIANT_TAGS: &[&str] = &[
    "EXT-X-MEDIA",
    "EXT-X-STREAM-INF",
    "EXT-X-I-FRAME-STREAM-INF",
    "EXT-X-SESSION-DATA",
    "EXT-X-SESSION-KEY",
    "EXT-X-CONTENT-STEERING",
];

/// Tags only a media playlist may have (draft-pantos-hls-rfc8216bis §4.4.3, §4.4.4, §4.4.5).
const MEDIA_TAGS: &[&str] = &[
    "EXT-X-TARGETDURATION",
    "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-DISCONTINUITY-SEQUENCE",
    "EXT-X-ENDLIST",
    "EXT-X-PLAYLIST-TYPE",
    "EXT-X-I-FRAMES-ONLY",
    "EXT-X-PART-INF",
    "EXT-X-SERVER-CONTROL",
    "EXTINF",
    "EXT-X-BYTERANGE",
    "EXT-X-DISCONTINUITY",
    "EXT-X-KEY",
    "EXT-X-MAP",
    "EXT-X-PROGRAM-DATE-TIME",
    "EXT-X-GAP",
    "EXT-X-BITRATE",
    "EXT-X-PART",
    "EXT-X-DATERANGE",
    "EXT-X-SKIP",
    "EXT-X-PRELOAD-HINT",
    "EXT-X-RENDITION-REPORT",
];

impl<'a> Playlist<'a> {
    fn tags(&self) -> impl Iterator<Item = &Tag<'a>> + '_ {
        self.lines.iter().filter_map(|line| line.tag())
    }

    fn count_tags(&self, name: &str) -> usize {
        self.tags().filter(|tag| tag.name() == name).count()
    }

    /// The value of the first tag of this name that is a decimal-integer (§4.2).
    fn integer_tag(&self, name: &str) -> Option<u64> {
        self.tags()
            .find(|tag| tag.name() == name)
            .and_then(|tag| tag.value())
            .and_then(|value| value.parse().ok())
    }

    /// Whether this is a multivariant or a media playlist.
    #[must_use]
    pub fn kind(&self) -> PlaylistKind {
        let (mut media, mut multivariant) = (false, false);
        for tag in self.tags() {
            media |= MEDIA_TAGS.contains(&tag.name());
            multivariant |= MULTIVARIANT_TAGS.contains(&tag.name());
        }
        match (media, multivariant) {
            (true, false) => PlaylistKind::Media,
            (false, true) => PlaylistKind::Multivariant,
            _ => PlaylistKind::Indeterminate,
        }
    }

    /// `EXT-X-TARGETDURATION` in seconds (§4.4.3.1).
    #[must_use]
    pub fn target_duration(&self) -> Option<u64> {
        self.integer_tag("EXT-X-TARGETDURATION")
    }

    /// `EXT-X-MEDIA-SEQUENCE` (§4.4.3.2); `None` when absent, which a client takes as 0.
    #[must_use]
    pub fn media_sequence(&self) -> Option<u64> {
        self.integer_tag("EXT-X-MEDIA-SEQUENCE")
    }

    /// `EXT-X-DISCONTINUITY-SEQUENCE` (§4.4.3.3); `None` when absent, which a client takes as 0.
    #[must_use]
    pub fn discontinuity_sequence(&self) -> Option<u64> {
        self.integer_tag("EXT-X-DISCONTINUITY-SEQUENCE")
    }

    /// Whether the playlist has `EXT-X-ENDLIST` (§4.4.3.4): no segment will be added.
    #[must_use]
    pub fn has_endlist(&self) -> bool {
        self.tags().any(|tag| tag.name() == "EXT-X-ENDLIST")
    }

    /// The media segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        let mut duration = None;
        self.lines
            .iter()
            .enumerate()
            .filter_map(move |(line_index, line)| match line.kind() {
                LineKind::Tag(tag) if tag.name() == "EXTINF" => {
                    // `EXTINF:<duration>,[<title>]`
                    let value = tag.value().unwrap_or_default();
                    duration = Some(value.split_once(',').map_or(value, |(d, _)| d));
                    None
                }
                LineKind::Uri => Some(Segment {
                    uri: line.uri()?,
                    duration: duration.take()?,
                    line_index,
                }),
                _ => None,
            })
    }

    /// How many media segments the playlist lists (segments skipped by `EXT-X-SKIP` are not
    /// listed, so not counted).
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.segments().count()
    }

    /// How many `EXT-X-PART` tags (§4.4.4.9) the playlist has.
    #[must_use]
    pub fn part_count(&self) -> usize {
        self.count_tags("EXT-X-PART")
    }

    /// How many `EXT-X-STREAM-INF` tags (§4.4.6.2), so variant streams, the playlist has.
    #[must_use]
    pub fn variant_count(&self) -> usize {
        self.count_tags("EXT-X-STREAM-INF")
    }

    /// Every URI a rewrite may change, in order (see [`Rewrite`](super::Rewrite)).
    pub fn uris(&self) -> impl Iterator<Item = UriRef<'a>> + '_ {
        self.lines
            .iter()
            .enumerate()
            .flat_map(|(line_index, line)| {
                let text = line.text();
                let tag = line.tag().map(Tag::name);
                line.uri_spans().map(move |span| UriRef {
                    line_index,
                    uri: text.get(span.clone()).unwrap_or_default(),
                    span,
                    tag,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const MEDIA: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:17\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:3.96,title\n#EXT-X-PART:DURATION=1.0,URI=\"a.0.mp4\"\na.mp4\n#EXTINF:4,\nb.mp4\nc.mp4\n#EXT-X-ENDLIST\n";

    #[test]
    fn media_playlist_facts_are_read_from_tags() {
        let p = Playlist::parse(MEDIA.as_bytes()).unwrap();
        assert_eq!(p.kind(), PlaylistKind::Media);
        assert_eq!(p.target_duration(), Some(4));
        assert_eq!(p.media_sequence(), Some(17));
        assert_eq!(p.discontinuity_sequence(), Some(2));
        assert!(p.has_endlist());
        assert_eq!(p.part_count(), 1);
        assert_eq!(p.variant_count(), 0);
        let segments: Vec<_> = p.segments().collect();
        assert_eq!(segments.len(), 2, "c.mp4 has no EXTINF, so is no segment");
        assert_eq!((segments[0].uri, segments[0].duration), ("a.mp4", "3.96"));
        assert_eq!(segments[0].duration_seconds(), Some(3.96));
        assert_eq!(
            (segments[1].uri, segments[1].duration_seconds()),
            ("b.mp4", Some(4.0))
        );
        assert_eq!(p.segment_count(), 2);
    }

    #[test]
    fn uris_lists_lines_and_attributes_with_spans() {
        let p = Playlist::parse(MEDIA.as_bytes()).unwrap();
        let uris: Vec<_> = p.uris().map(|u| (u.uri, u.tag)).collect();
        assert_eq!(
            uris,
            [
                ("init.mp4", Some("EXT-X-MAP")),
                ("a.0.mp4", Some("EXT-X-PART")),
                ("a.mp4", None),
                ("b.mp4", None),
                ("c.mp4", None),
            ]
        );
        for u in p.uris() {
            assert_eq!(&p.lines()[u.line_index].text()[u.span], u.uri);
        }
    }

    #[test]
    fn multivariant_playlist_is_recognised() {
        let p = Playlist::parse(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nw.m3u8\n").unwrap();
        assert_eq!(p.kind(), PlaylistKind::Multivariant);
        assert_eq!(p.variant_count(), 2);
        assert_eq!(p.segment_count(), 0);
        assert_eq!(p.media_sequence(), None);
    }

    #[test]
    fn mixed_or_bare_playlists_are_indeterminate() {
        let bare = Playlist::parse(b"#EXTM3U\n#EXT-X-VERSION:7\n").unwrap();
        assert_eq!(bare.kind(), PlaylistKind::Indeterminate);
        let mixed =
            Playlist::parse(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXTINF:1,\ns.ts\n")
                .unwrap();
        assert_eq!(mixed.kind(), PlaylistKind::Indeterminate);
    }

    #[test]
    fn unparsable_numbers_yield_no_fact() {
        let p = Playlist::parse(b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n#EXT-X-TARGETDURATION\n#EXTINF:abc,\ns.ts\n#EXTINF:-1,\nt.ts\n").unwrap();
        assert_eq!(p.media_sequence(), None);
        assert_eq!(p.target_duration(), None);
        let durations: Vec<_> = p.segments().map(|s| s.duration_seconds()).collect();
        assert_eq!(durations, [None, None]);
    }
}
