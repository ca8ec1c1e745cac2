//! Attribute lists (draft-pantos-hls-rfc8216bis §4.2): locating each `NAME=VALUE` pair of a tag
//! line by byte offsets, so that a value can be replaced without touching anything around it.
//!
//! The scan is quote-aware: a quoted-string may hold commas (`CODECS="avc1.64001f,mp4a.40.2"`),
//! so splitting at every comma would cut values in half. It is also lenient, because it only
//! locates values and never rejects a line: whitespace around names is skipped, an item without
//! `=` is passed over, and an unterminated quoted-string ends the scan (nothing after it is found,
//! so nothing after it is rewritten).

/// One attribute of an attribute list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attribute<'a> {
    /// The attribute name, without surrounding whitespace.
    pub(crate) name: &'a str,
    /// The value; for a quoted-string, what is between the quotes.
    pub(crate) value: &'a str,
    /// Byte offset of `value` in the scanned text.
    pub(crate) start: usize,
    /// Whether the value is a quoted-string. Only quoted values hold URIs (§4.2: a URI attribute
    /// is a quoted-string), which matters because only inside quotes can a rewritten URI safely
    /// hold commas.
    pub(crate) quoted: bool,
}

/// Iterator over the attributes of an attribute list that starts at a byte offset of `text`.
#[derive(Debug, Clone)]
pub(crate) struct Attributes<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Attributes<'a> {
    /// Scans `text` from byte offset `start` (the value offset of a tag line).
    pub(crate) const fn new(text: &'a str, start: usize) -> Self {
        Self { text, pos: start }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        loop {
            let rest = self.text.get(self.pos..)?;
            if rest.is_empty() {
                return None;
            }
            // Plain byte loops rather than `find`: items are a few bytes long, and a search call
            // per item would cost more than the scan.
            let eq = rest.bytes().position(|b| b == b'=' || b == b',')?;
            if rest.as_bytes().get(eq) == Some(&b',') {
                // An item without `=` (a stray comma, or junk): skip it.
                self.pos += eq + 1;
                continue;
            }
            let name = rest.get(..eq)?.trim_ascii();
            let value_pos = self.pos + eq + 1;
            let after = rest.get(eq + 1..)?;
            if let Some(inner) = after.strip_prefix('"') {
                let close = inner.bytes().position(|b| b == b'"')?;
                let value = inner.get(..close)?;
                let start = value_pos + 1;
                // Anything between the closing quote and the next comma is not valid, and is
                // skipped rather than mistaken for the next attribute.
                let after_close = start + close + 1;
                let comma = self
                    .text
                    .get(after_close..)
                    .and_then(|t| t.bytes().position(|b| b == b','));
                self.pos = match comma {
                    Some(comma) => after_close + comma + 1,
                    None => self.text.len(),
                };
                return Some(Attribute {
                    name,
                    value,
                    start,
                    quoted: true,
                });
            }
            let end = after.bytes().position(|b| b == b',').unwrap_or(after.len());
            let value = after.get(..end)?;
            self.pos = value_pos + end + 1;
            return Some(Attribute {
                name,
                value,
                start: value_pos,
                quoted: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn scan(text: &str) -> Vec<(&str, &str, bool)> {
        Attributes::new(text, 0)
            .map(|a| {
                assert_eq!(&text[a.start..a.start + a.value.len()], a.value);
                (a.name, a.value, a.quoted)
            })
            .collect()
    }

    #[test]
    fn quoted_values_may_hold_commas() {
        assert_eq!(
            scan(r#"BANDWIDTH=1280000,CODECS="avc1.64001f,mp4a.40.2",URI="a,b.m3u8""#),
            [
                ("BANDWIDTH", "1280000", false),
                ("CODECS", "avc1.64001f,mp4a.40.2", true),
                ("URI", "a,b.m3u8", true),
            ]
        );
    }

    #[test]
    fn values_may_hold_equals_signs() {
        assert_eq!(
            scan(r#"URI="seg.ts?a=1&b=2",IV=0x1"#),
            [("URI", "seg.ts?a=1&b=2", true), ("IV", "0x1", false)]
        );
    }

    #[test]
    fn whitespace_around_names_is_skipped() {
        assert_eq!(
            scan(r#"METHOD=AES-128, URI="k.key""#),
            [("METHOD", "AES-128", false), ("URI", "k.key", true)]
        );
    }

    #[test]
    fn item_without_equals_is_passed_over() {
        assert_eq!(scan("JUNK,A=1"), [("A", "1", false)]);
        assert_eq!(scan("A=1,,B=2"), [("A", "1", false), ("B", "2", false)]);
    }

    #[test]
    fn unterminated_quote_ends_the_scan() {
        assert_eq!(scan(r#"A=1,URI="open,B=2"#), [("A", "1", false)]);
    }

    #[test]
    fn junk_after_a_closing_quote_is_skipped() {
        assert_eq!(
            scan(r#"URI="a"junk,B=2"#),
            [("URI", "a", true), ("B", "2", false)]
        );
    }

    #[test]
    fn empty_and_trailing_comma_lists_yield_what_is_there() {
        assert_eq!(scan(""), []);
        assert_eq!(scan("A=1,"), [("A", "1", false)]);
        assert_eq!(scan(r#"URI="""#), [("URI", "", true)]);
    }

    #[test]
    fn scan_starts_at_the_given_offset() {
        let line = r#"#EXT-X-MAP:URI="init.mp4""#;
        let attrs: Vec<_> = Attributes::new(line, "#EXT-X-MAP:".len()).collect();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].value, "init.mp4");
        assert_eq!(attrs[0].start, "#EXT-X-MAP:URI=\"".len());
    }
}
