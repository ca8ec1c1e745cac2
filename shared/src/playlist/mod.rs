//! HLS playlists: a lossless, line-oriented model of multivariant and media playlists (RFC 8216,
//! draft-pantos-hls-rfc8216bis, Low-Latency HLS included) that rewrites every URI and keeps every
//! other byte.
//!
//! The edge fetches a playlist from the origin on every viewer request and hands it on with each
//! URI pointing at a chosen CDN and carrying a session token. [`Playlist::parse`] borrows the body
//! and classifies each line as a URI, a tag, a comment or a blank; [`Playlist::rewrite`] writes
//! it back with its URIs changed as a [`Rewrite`] says, in one pass into one pre-sized buffer;
//! read-only facts ([`Playlist::kind`], [`Playlist::media_sequence`], [`Playlist::segments`],
//! [`Playlist::uris`] and others) serve the edge's decisions and the tests.
//! `docs/playlist-rewriting.md` has the rules in full.
//!
//! What this module does not do: validate playlists beyond their first line and their encoding,
//! understand tags it does not rewrite, or build playlists from scratch. A body that starts with
//! `#EXTM3U` and is UTF-8 parses whatever its tags say, and is written back as it came.
//!
//! The key design decision is that the model is made of borrowed lines, not of typed tags. Each
//! line keeps its exact text and line ending, so everything the module does not rewrite
//! (unknown tags, vendor lines, comments, attribute order and quoting, CRLF or mixed line endings,
//! a byte order mark, a missing final newline) survives byte for byte, including what a typed
//! model would normalise or drop. A rewrite replaces only the bytes of each URI: the whole of a
//! URI line but its surrounding whitespace, or the inside of the quotes of a URI attribute, found
//! by a quote-aware scan of the attribute list (§4.2).

mod attribute;
mod error;
mod facts;
mod line;
mod rewrite;
mod url;

use alloc::vec::Vec;

pub use error::{ParseError, ParseErrorKind};
pub use facts::{PlaylistKind, Segment, UriRef};
pub use line::{Line, LineEnding, LineKind, Tag, uri_attribute};
pub use rewrite::Rewrite;
pub use url::{BaseUrl, HttpUrl};

/// The UTF-8 byte order mark. RFC 8216 §4.1 forbids it, but some packagers write it and players
/// cope; it is kept, so that a rewrite changes nothing but URIs.
const BOM: &str = "\u{feff}";

/// A parsed playlist: its lines, borrowed from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playlist<'a> {
    bom: bool,
    /// The body after a byte order mark: what the lines tile, in order.
    text: &'a str,
    lines: Vec<Line<'a>>,
    len: usize,
    /// Lines that may hold a URI: URI lines and tags with a URI attribute; sizes rewrite buffers.
    uri_line_count: usize,
}

impl<'a> Playlist<'a> {
    /// Parses a body as an HLS playlist.
    ///
    /// A body is a playlist when its first line, after an optional byte order mark, is `#EXTM3U`
    /// (RFC 8216 §4.3.1.1; trailing whitespace is tolerated) and all of it is UTF-8 (§4.1).
    /// Nothing else is checked, so any such body parses, and is written back byte for byte.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when the body is not a playlist; its kind tells an empty body, an HTML or
    /// JSON document, binary data, a missing `#EXTM3U` and invalid UTF-8 apart.
    pub fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (bom, rest) = match body.strip_prefix(BOM.as_bytes()) {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let first_line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        if first_line.trim_ascii_end() != b"#EXTM3U" {
            return Err(ParseError::new(sniff(rest, first_line), 1));
        }
        let text = core::str::from_utf8(rest).map_err(|e| {
            let valid = rest.get(..e.valid_up_to()).unwrap_or_default();
            let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
            ParseError::new(ParseErrorKind::InvalidUtf8, line)
        })?;
        let lines = line::split(text);
        let uri_line_count = lines
            .iter()
            .filter(|line| match line.kind() {
                LineKind::Uri => true,
                LineKind::Tag(tag) => tag.uri_attribute().is_some(),
                _ => false,
            })
            .count();
        Ok(Self {
            bom,
            text,
            lines,
            len: body.len(),
            uri_line_count,
        })
    }

    /// Whether the body starts with a UTF-8 byte order mark (kept when writing).
    #[must_use]
    pub const fn has_bom(&self) -> bool {
        self.bom
    }

    /// The lines, in order; the first is `#EXTM3U`.
    #[must_use]
    pub fn lines(&self) -> &[Line<'a>] {
        &self.lines
    }

    /// The length of the body in bytes.
    #[must_use]
    pub const fn byte_len(&self) -> usize {
        self.len
    }

    /// Appends the playlist, exactly as parsed, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len);
        if self.bom {
            out.extend_from_slice(BOM.as_bytes());
        }
        for line in &self.lines {
            out.extend_from_slice(line.text().as_bytes());
            out.extend_from_slice(line.ending().as_str().as_bytes());
        }
    }

    /// The playlist exactly as parsed: the same bytes as the body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// Tells what a body that does not start with `#EXTM3U` looks like instead.
fn sniff(body: &[u8], first_line: &[u8]) -> ParseErrorKind {
    match body.trim_ascii_start().first() {
        None => ParseErrorKind::Empty,
        Some(b'<') => ParseErrorKind::Html,
        Some(b'{' | b'[') => ParseErrorKind::Json,
        Some(_) if first_line.contains(&0) || core::str::from_utf8(first_line).is_err() => {
            ParseErrorKind::Binary
        }
        Some(_) => ParseErrorKind::MissingHeader,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(body: &[u8]) -> ParseErrorKind {
        Playlist::parse(body).unwrap_err().kind()
    }

    #[test]
    fn empty_or_whitespace_body_is_empty() {
        assert_eq!(kind_of(b""), ParseErrorKind::Empty);
        assert_eq!(kind_of(b" \r\n\t\n"), ParseErrorKind::Empty);
        assert_eq!(kind_of(BOM.as_bytes()), ParseErrorKind::Empty);
    }

    #[test]
    fn html_error_page_is_html() {
        let page = b"<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n";
        assert_eq!(kind_of(page), ParseErrorKind::Html);
        assert_eq!(
            kind_of(b"\n  <?xml version=\"1.0\"?><MPD/>"),
            ParseErrorKind::Html
        );
    }

    #[test]
    fn json_body_is_json() {
        assert_eq!(kind_of(br#"{"error":"not found"}"#), ParseErrorKind::Json);
        assert_eq!(kind_of(b"[1,2]"), ParseErrorKind::Json);
    }

    #[test]
    fn binary_body_is_binary() {
        // An MPEG-TS packet header, a PNG signature, and text with a NUL.
        assert_eq!(
            kind_of(&[0x47, 0x40, 0x00, 0x10, 0xff, 0xfe]),
            ParseErrorKind::Binary
        );
        assert_eq!(kind_of(b"\x89PNG\r\n\x1a\n"), ParseErrorKind::Binary);
        assert_eq!(kind_of(b"abc\0def"), ParseErrorKind::Binary);
    }

    #[test]
    fn text_without_header_is_missing_header() {
        assert_eq!(
            kind_of(b"#EXTINF:10,\nseg.ts\n"),
            ParseErrorKind::MissingHeader
        );
        assert_eq!(kind_of(b"\n#EXTM3U\n"), ParseErrorKind::MissingHeader);
        assert_eq!(kind_of(b"#EXTM3U8\n"), ParseErrorKind::MissingHeader);
        assert_eq!(kind_of(b"Not Found"), ParseErrorKind::MissingHeader);
    }

    #[test]
    fn invalid_utf8_after_header_names_its_line() {
        let err = Playlist::parse(b"#EXTM3U\n#EXTINF:1,\r\nseg\xff.ts\n").unwrap_err();
        assert_eq!(err.kind(), ParseErrorKind::InvalidUtf8);
        assert_eq!(err.line(), 3);
        assert_eq!(
            alloc::format!("{err}"),
            "not an hls playlist: invalid utf-8 at line 3"
        );
    }

    #[test]
    fn header_may_have_trailing_whitespace_and_crlf() {
        let p = Playlist::parse(b"#EXTM3U \r\n").unwrap();
        assert_eq!(p.lines()[0].ending(), LineEnding::CrLf);
    }

    #[test]
    fn bom_is_kept_and_not_part_of_the_first_line() {
        let body = "\u{feff}#EXTM3U\nseg.ts".as_bytes();
        let p = Playlist::parse(body).unwrap();
        assert!(p.has_bom());
        assert_eq!(p.lines()[0].text(), "#EXTM3U");
        assert_eq!(p.to_bytes(), body);
    }

    #[test]
    fn write_is_identity_for_odd_bodies() {
        for body in [
            "#EXTM3U",
            "#EXTM3U\n",
            "#EXTM3U\r\n\r\n",
            "#EXTM3U\n#EXT-X-KEY:URI=\"unterminated\n## x\n  \nseg.ts",
            "#EXTM3U\r\n#EXTINF:1,\nseg.ts\r\n\n\r",
        ] {
            let p = Playlist::parse(body.as_bytes()).unwrap();
            assert_eq!(p.to_bytes(), body.as_bytes(), "{body:?}");
            assert_eq!(p.byte_len(), body.len());
        }
    }
}
