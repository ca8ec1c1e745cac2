//! Lines of a playlist: how a body is split into lines and what each line is (RFC 8216 §4.1).

use alloc::vec::Vec;
use core::ops::Range;

use super::attribute::Attributes;

/// How a line ends. RFC 8216 §4.1 allows LF and CRLF; the last line may have neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// A line feed (`\n`).
    Lf,
    /// A carriage return and a line feed (`\r\n`).
    CrLf,
    /// Nothing: the last line of a body that does not end with a line feed.
    Unterminated,
}

impl LineEnding {
    /// The bytes of this line ending.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lf => "\n",
            Self::CrLf => "\r\n",
            Self::Unterminated => "",
        }
    }
}

/// One line of a playlist: its text, without its line ending, and what kind of line it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    text: &'a str,
    /// Byte offset of `text` in the body (after a byte order mark).
    offset: usize,
    ending: LineEnding,
    kind: LineKind<'a>,
}

impl<'a> Line<'a> {
    /// The line's bytes without its line ending (a byte order mark is not part of the first line).
    #[must_use]
    pub const fn text(&self) -> &'a str {
        self.text
    }

    /// How the line ends.
    #[must_use]
    pub const fn ending(&self) -> LineEnding {
        self.ending
    }

    /// What kind of line this is.
    #[must_use]
    pub const fn kind(&self) -> &LineKind<'a> {
        &self.kind
    }

    /// The line's URI, without surrounding whitespace, if this is a URI line.
    #[must_use]
    pub fn uri(&self) -> Option<&'a str> {
        match self.kind {
            LineKind::Uri => Some(self.text.trim_ascii()),
            _ => None,
        }
    }

    /// The tag on this line, if this is a tag line.
    #[must_use]
    pub const fn tag(&self) -> Option<&Tag<'a>> {
        match &self.kind {
            LineKind::Tag(tag) => Some(tag),
            _ => None,
        }
    }

    /// Byte offset of the line's text in the body, after a byte order mark.
    pub(crate) const fn offset(&self) -> usize {
        self.offset
    }

    /// Byte ranges of [`Line::text`] that hold a URI a rewrite may change: the whole line but its
    /// surrounding whitespace for a URI line, and the inside of the quotes of each URI attribute
    /// of a tag that has one. An unquoted URI attribute is not a URI span: §4.2 makes URI values
    /// quoted-strings, and only inside quotes can a rewritten URI hold a comma.
    pub(crate) fn uri_spans(&self) -> UriSpans<'a> {
        let text = self.text;
        match &self.kind {
            LineKind::Uri => {
                let start = text.len() - text.trim_ascii_start().len();
                UriSpans::Line(Some(start..start + text.trim_ascii().len()))
            }
            LineKind::Tag(tag) => match tag.uri_attribute {
                Some(name) => UriSpans::Attributes(Attributes::new(text, tag.value_offset()), name),
                None => UriSpans::Line(None),
            },
            LineKind::Blank | LineKind::Comment => UriSpans::Line(None),
        }
    }
}

/// The URI spans of one line (see [`Line::uri_spans`]).
#[derive(Debug, Clone)]
pub(crate) enum UriSpans<'a> {
    /// A URI line's one span, until taken; or nothing, for lines without URIs.
    Line(Option<Range<usize>>),
    /// The quoted values of a tag's attributes with this name.
    Attributes(Attributes<'a>, &'static str),
}

impl Iterator for UriSpans<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        match self {
            Self::Line(span) => span.take(),
            Self::Attributes(attributes, name) => attributes
                .find(|a| a.quoted && a.name == *name)
                .map(|a| a.start..a.start + a.value.len()),
        }
    }
}

/// The four kinds of line of RFC 8216 §4.1: "Each line is a URI, is blank, or starts with the
/// character '#'. Lines that start with the character '#' are either comments or tags."
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind<'a> {
    /// Nothing, or only ASCII whitespace.
    Blank,
    /// A line starting with `#` but not `#EXT`: comments, `##` lines and vendor lines such as
    /// `#WV-AUDIO-CHANNELS 2` or `#USP-X-MEDIA`, which the spec counts as comments.
    Comment,
    /// A line starting with `#EXT`.
    Tag(Tag<'a>),
    /// Any other line: the URI of a media segment or of a variant stream.
    Uri,
}

/// A tag line, split at its first `:` into name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    name: &'a str,
    value: Option<&'a str>,
    uri_attribute: Option<&'static str>,
}

impl<'a> Tag<'a> {
    /// The tag name without the leading `#`, e.g. `EXT-X-KEY`.
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// Everything after the first `:`, exactly as written; `None` for a tag without a `:`.
    #[must_use]
    pub const fn value(&self) -> Option<&'a str> {
        self.value
    }

    /// The attribute that holds a URI for the tags whose URIs are rewritten (see
    /// [`uri_attribute`]), e.g. `URI` for `EXT-X-KEY` and `SERVER-URI` for
    /// `EXT-X-CONTENT-STEERING`.
    #[must_use]
    pub const fn uri_attribute(&self) -> Option<&'static str> {
        self.uri_attribute
    }

    /// Byte offset of the value within the line text: `#`, the name and `:`.
    pub(crate) const fn value_offset(&self) -> usize {
        self.name.len() + 2
    }
}

/// The attribute of a tag that holds a URI, for every tag of draft-pantos-hls-rfc8216bis that has
/// one. Attributes that hold URIs but belong to clients (`X-` attributes of `EXT-X-DATERANGE`, such
/// as the interstitial `X-ASSET-URI`) are not listed: their meaning is private to the client, and
/// they usually point at third parties.
#[must_use]
pub fn uri_attribute(tag_name: &str) -> Option<&'static str> {
    match tag_name {
        // §4.4.4.4, §4.4.4.5, §4.4.4.9: media segment tags.
        "EXT-X-KEY" | "EXT-X-MAP" | "EXT-X-PART"
        // §4.4.5.3, §4.4.5.4: Low-Latency HLS metadata tags.
        | "EXT-X-PRELOAD-HINT" | "EXT-X-RENDITION-REPORT"
        // §4.4.6.1, §4.4.6.3, §4.4.6.4, §4.4.6.5: multivariant playlist tags.
        | "EXT-X-MEDIA" | "EXT-X-I-FRAME-STREAM-INF" | "EXT-X-SESSION-DATA"
        | "EXT-X-SESSION-KEY" => Some("URI"),
        // §4.4.6.6.
        "EXT-X-CONTENT-STEERING" => Some("SERVER-URI"),
        _ => None,
    }
}

/// Splits a body (without its byte order mark) into classified lines. Every byte of `body` is in
/// exactly one line's text or ending, so writing the lines back reproduces `body`.
pub(crate) fn split(body: &str) -> Vec<Line<'_>> {
    // Most playlist lines are 20 to 100 bytes long; this avoids most regrowth without
    // over-allocating much for long lines.
    let mut lines = Vec::with_capacity(body.len() / 32 + 1);
    let mut rest = body;
    let mut offset = 0;
    while !rest.is_empty() {
        let (raw, ending, tail) = match rest.split_once('\n') {
            Some((raw, tail)) => match raw.strip_suffix('\r') {
                Some(raw) => (raw, LineEnding::CrLf, tail),
                None => (raw, LineEnding::Lf, tail),
            },
            None => (rest, LineEnding::Unterminated, ""),
        };
        lines.push(Line {
            text: raw,
            offset,
            ending,
            kind: classify(raw),
        });
        offset += raw.len() + ending.as_str().len();
        rest = tail;
    }
    lines
}

/// Classifies one line (RFC 8216 §4.1). A line of only whitespace is blank, not a URI: the spec
/// forbids whitespace outside of values, and a URI of spaces would be meaningless.
fn classify(text: &str) -> LineKind<'_> {
    if let Some(tag) = text.strip_prefix("#EXT") {
        // The name runs to the first `:`; attribute values may hold more (`URI="https:..."`).
        let (name_rest, value) = match tag.bytes().position(|b| b == b':') {
            Some(colon) => (tag.get(..colon).unwrap_or_default(), tag.get(colon + 1..)),
            None => (tag, None),
        };
        let name = text.get(1..4 + name_rest.len()).unwrap_or_default();
        LineKind::Tag(Tag {
            name,
            value,
            uri_attribute: uri_attribute(name),
        })
    } else if text.starts_with('#') {
        LineKind::Comment
    } else if text.trim_ascii().is_empty() {
        LineKind::Blank
    } else {
        LineKind::Uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(body: &str) -> Vec<(&str, LineEnding)> {
        split(body).iter().map(|l| (l.text(), l.ending())).collect()
    }

    #[test]
    fn lf_crlf_and_unterminated_endings_are_told_apart() {
        assert_eq!(
            kinds("a\nb\r\nc"),
            [
                ("a", LineEnding::Lf),
                ("b", LineEnding::CrLf),
                ("c", LineEnding::Unterminated)
            ]
        );
    }

    #[test]
    fn offsets_locate_each_line_in_the_body() {
        let body = "#EXTM3U\r\n\nseg.ts\n#EXT-X-ENDLIST";
        for line in split(body) {
            assert_eq!(
                &body[line.offset()..line.offset() + line.text().len()],
                line.text()
            );
        }
    }

    #[test]
    fn lone_carriage_return_stays_in_the_line() {
        assert_eq!(kinds("a\rb\n"), [("a\rb", LineEnding::Lf)]);
    }

    #[test]
    fn trailing_line_feed_does_not_add_an_empty_line() {
        assert_eq!(
            kinds("a\n\n"),
            [("a", LineEnding::Lf), ("", LineEnding::Lf)]
        );
    }

    #[test]
    fn tags_comments_blanks_and_uris_are_classified() {
        let lines =
            split("#EXT-X-KEY:METHOD=NONE\n#EXT-X-ENDLIST\n## note\n#USP-X-MEDIA:x\n \nseg.ts\n");
        let tag = lines[0].tag().unwrap();
        assert_eq!(tag.name(), "EXT-X-KEY");
        assert_eq!(tag.value(), Some("METHOD=NONE"));
        assert_eq!(tag.uri_attribute(), Some("URI"));
        assert_eq!(tag.value_offset(), "#EXT-X-KEY:".len());
        let endlist = lines[1].tag().unwrap();
        assert_eq!((endlist.name(), endlist.value()), ("EXT-X-ENDLIST", None));
        assert_eq!(lines[2].kind(), &LineKind::Comment);
        assert_eq!(lines[3].kind(), &LineKind::Comment);
        assert_eq!(lines[4].kind(), &LineKind::Blank);
        assert_eq!(lines[5].uri(), Some("seg.ts"));
    }

    #[test]
    fn tag_value_keeps_colons_after_the_first() {
        let lines = split("#EXT-X-MAP:URI=\"https://a/b\"");
        assert_eq!(lines[0].tag().unwrap().value(), Some("URI=\"https://a/b\""));
    }

    #[test]
    fn content_steering_uri_is_in_server_uri() {
        assert_eq!(uri_attribute("EXT-X-CONTENT-STEERING"), Some("SERVER-URI"));
        assert_eq!(uri_attribute("EXT-X-STREAM-INF"), None);
        assert_eq!(uri_attribute("EXT-X-DATERANGE"), None);
    }
}
