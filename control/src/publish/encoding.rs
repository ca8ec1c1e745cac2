//! Percent-encoding for the two places an API call carries our strings: URL path segments and
//! `application/x-www-form-urlencoded` bodies.
//!
//! Hand-written instead of a dependency because both are a few lines and fixed: a path segment
//! keeps only RFC 3986's unreserved characters (section 2.3) and encodes every other byte
//! (section 2.1), so a key with `/`, `?`, `%` or spaces names one segment and not a path
//! (Cloudflare's KV API asks for exactly this: "Use URL-encoding to use special characters ...
//! in the key name"); a form value follows the WHATWG URL standard's
//! `application/x-www-form-urlencoded` serializer (space is `+`; `*-._` and alphanumerics stay).

use core::fmt::Write as _;

/// Encodes `text` as one URL path segment.
pub(super) fn path_segment(text: &str) -> String {
    encode(
        text,
        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'),
        false,
    )
}

/// Encodes `text` as a form field's value.
pub(super) fn form_value(text: &str) -> String {
    encode(
        text,
        |b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_'),
        true,
    )
}

fn encode(text: &str, keep: impl Fn(u8) -> bool, space_as_plus: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else if space_as_plus && b == b' ' {
            out.push('+');
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_keeps_unreserved_characters_and_encodes_the_rest() {
        assert_eq!(path_segment("snapshot"), "snapshot");
        assert_eq!(path_segment("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(
            path_segment("health/live event?x=1#y"),
            "health%2Flive%20event%3Fx%3D1%23y"
        );
        assert_eq!(path_segment("100%"), "100%25");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn a_form_value_uses_plus_for_space_and_encodes_json_punctuation() {
        assert_eq!(form_value("a b"), "a+b");
        assert_eq!(
            form_value("{\"v\":1,\"x\":[\"+\"]}"),
            "%7B%22v%22%3A1%2C%22x%22%3A%5B%22%2B%22%5D%7D"
        );
        assert_eq!(form_value("*-._~"), "*-._%7E");
    }
}
