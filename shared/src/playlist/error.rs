//! Why a body is not an HLS playlist.

use core::fmt;

/// A body that cannot be read as an HLS playlist, and the 1-based line where that became clear.
///
/// Only the shape of a body is judged: a body that starts with `#EXTM3U` and is UTF-8 always
/// parses, however odd its tags, because the model is lossless and never needs to understand a
/// line to copy it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    line: usize,
}

impl ParseError {
    pub(crate) const fn new(kind: ParseErrorKind, line: usize) -> Self {
        Self { kind, line }
    }

    /// What was wrong with the body.
    #[must_use]
    pub const fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The 1-based line where the problem is: 1, except for [`ParseErrorKind::InvalidUtf8`].
    #[must_use]
    pub const fn line(&self) -> usize {
        self.line
    }
}

/// The ways a body fails to be a playlist. The kinds that describe what the body looks like
/// instead (`Html`, `Json`, `Binary`) exist because an origin or a proxy that fails tends to answer
/// with exactly those, and an operator reading the log wants to know which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The body has no bytes, or only a byte order mark and ASCII whitespace.
    Empty,
    /// The body's first non-whitespace byte is `<`: an HTML error page, or XML such as a DASH MPD.
    Html,
    /// The body's first non-whitespace byte is `{` or `[`: a JSON document such as an API error.
    Json,
    /// The first line holds a NUL byte or is not UTF-8: a media segment, an image or compressed
    /// bytes served where a playlist was expected.
    Binary,
    /// The first line is text but is not the `#EXTM3U` tag, which RFC 8216 §4.3.1.1
    /// (draft-pantos-hls-rfc8216bis §4.4.1.1) requires as the first line of every playlist.
    MissingHeader,
    /// The body starts with `#EXTM3U` but a later line is not UTF-8, which RFC 8216 §4.1 requires.
    InvalidUtf8,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty body",
            Self::Html => "html or xml document",
            Self::Json => "json document",
            Self::Binary => "binary data",
            Self::MissingHeader => "first line is not #EXTM3U",
            Self::InvalidUtf8 => "invalid utf-8",
        })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an hls playlist: {} at line {}",
            self.kind, self.line
        )
    }
}

impl core::error::Error for ParseError {}
