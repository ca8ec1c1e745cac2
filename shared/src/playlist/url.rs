//! URLs for rewriting: the playlist URL and the bases that URIs are moved between, and the RFC 3986
//! pieces a rewrite needs: splitting a reference into components (Appendix B), resolving it
//! against the playlist URL (§5.2), comparing origins (§6.2.2, §6.2.3) and editing a query.
//!
//! Nothing here decodes or re-encodes percent-escapes in a URI taken from a playlist: its path,
//! query and fragment are copied as written, so a rewrite never changes what a URI names on the
//! server. Only the parameter names and values the caller adds are percent-encoded.

use alloc::string::String;
use alloc::vec::Vec;

/// An absolute `http` or `https` URL (RFC 3986 §4.3): where a playlist was fetched from, the base
/// its relative URIs are resolved against (RFC 8216 §4.1: "relative to the URI of the Playlist that
/// contains it").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    text: &'a str,
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> HttpUrl<'a> {
    /// Parses an absolute `http` or `https` URL with a non-empty authority. Returns `None` for
    /// anything else, and for text holding a character that is never valid in a URI (whitespace,
    /// controls, non-ASCII, `"<>\^`{|}`): such a character could break the quoted attribute a
    /// rewritten URI is written into.
    #[must_use]
    pub fn parse(text: &'a str) -> Option<Self> {
        if !is_uri_text(text) {
            return None;
        }
        let reference = Reference::split(text);
        let scheme = reference.scheme.filter(|s| is_http(s))?;
        let authority = reference.authority.filter(|a| !a.is_empty())?;
        Some(Self {
            text,
            scheme,
            authority,
            path: reference.path,
            query: reference.query,
        })
    }

    /// The URL as given.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    pub(crate) const fn scheme(&self) -> &'a str {
        self.scheme
    }

    pub(crate) const fn authority(&self) -> &'a str {
        self.authority
    }
}

/// An absolute `http` or `https` URL without query or fragment, taken as a directory: the prefix
/// URIs are moved from or to. `https://cdn.example/live` and `https://cdn.example/live/` are the
/// same base, and a URI is under it when its path starts with `/live/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseUrl<'a> {
    /// Scheme, `://`, authority and path, without the path's trailing `/`.
    prefix: &'a str,
    scheme: &'a str,
    authority: &'a str,
    /// The path without its trailing `/` (empty for the root).
    path: &'a str,
}

impl<'a> BaseUrl<'a> {
    /// Parses a base: an absolute `http` or `https` URL with an authority and no query or
    /// fragment, holding only characters valid in a URI, and with no `.` or `..` path segment.
    /// A dot segment would make a rewritten URI resolve somewhere else than it reads, so rewriting
    /// it again would move it again.
    #[must_use]
    pub fn parse(text: &'a str) -> Option<Self> {
        let url = HttpUrl::parse(text)?;
        if url.query.is_some() || text.contains('#') || has_dot_segment(url.path) {
            return None;
        }
        let prefix = text.strip_suffix('/').unwrap_or(text);
        let path = url.path.strip_suffix('/').unwrap_or(url.path);
        Some(Self {
            prefix,
            scheme: url.scheme,
            authority: url.authority,
            path,
        })
    }

    /// The root of this base's origin: the same scheme and authority with the path `/`.
    #[must_use]
    pub fn origin(&self) -> Self {
        let end = self.prefix.len().saturating_sub(self.path.len());
        Self {
            prefix: self.prefix.get(..end).unwrap_or(self.prefix),
            path: "",
            ..*self
        }
    }

    /// The root of a URL's origin, e.g. `https://origin.example/` for
    /// `https://origin.example/events/e1/index.m3u8`.
    #[must_use]
    pub fn origin_of(url: &HttpUrl<'a>) -> Self {
        let end = url.scheme.len() + "://".len() + url.authority.len();
        Self {
            prefix: url.text.get(..end).unwrap_or(url.text),
            scheme: url.scheme,
            authority: url.authority,
            path: "",
        }
    }

    /// The base without the `/` that ends it as a directory: scheme, `://`, authority and path,
    /// e.g. `https://cdn.example/live`. Rewritten URIs start with this and a `/`.
    #[must_use]
    pub const fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// Whether a URL of this scheme and authority is on this base's origin, compared as
    /// RFC 3986 §6.2.2 and §6.2.3 allow: case-insensitive scheme and host, and a default or empty
    /// port equal to no port.
    pub(crate) fn same_origin(&self, scheme: &str, authority: &str) -> bool {
        scheme.eq_ignore_ascii_case(self.scheme)
            && same_authority(authority, self.authority, self.scheme)
    }

    /// The part of a path on this base's origin that is under the base: what follows the base's
    /// path and a `/`.
    pub(crate) fn path_suffix<'t>(&self, path: &'t str) -> Option<&'t str> {
        // An empty path is the same resource as `/` for http(s) (RFC 3986 §6.2.3).
        let path = if path.is_empty() { "/" } else { path };
        path.strip_prefix(self.path)?.strip_prefix('/')
    }

    /// Writes the base as a directory URL, ending with `/`.
    pub(crate) fn write_prefix(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix.as_bytes());
        out.push(b'/');
    }
}

/// The components of a URI reference (RFC 3986 §3), as split by the regular expression of
/// RFC 3986 Appendix B. Splitting never fails: every string is some reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reference<'a> {
    pub(crate) scheme: Option<&'a str>,
    pub(crate) authority: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) fragment: Option<&'a str>,
}

impl<'a> Reference<'a> {
    /// `^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?` (RFC 3986 Appendix B).
    pub(crate) fn split(text: &'a str) -> Self {
        // One pass finds the end of the scheme (a `:` before any `/`, `?` or `#`), the first `?`
        // and the first `#`: URIs are short, and one loop costs less than three searches.
        let (mut scheme_end, mut query_at, mut fragment_at) = (None, None, None);
        let mut scheme_possible = true;
        for (i, byte) in text.bytes().enumerate() {
            match byte {
                b'#' => {
                    fragment_at = Some(i);
                    break;
                }
                b'?' if query_at.is_none() => {
                    query_at = Some(i);
                    scheme_possible = false;
                }
                b':' if scheme_possible => {
                    scheme_end = (i > 0).then_some(i);
                    scheme_possible = false;
                }
                b'/' => scheme_possible = false,
                _ => {}
            }
        }
        let end = fragment_at.unwrap_or(text.len());
        let fragment = fragment_at.and_then(|i| text.get(i + 1..));
        let query = query_at.and_then(|i| text.get(i + 1..end));
        let rest = text.get(..query_at.unwrap_or(end)).unwrap_or_default();
        let (scheme, rest) = match scheme_end {
            Some(colon) => (rest.get(..colon), rest.get(colon + 1..).unwrap_or_default()),
            None => (None, rest),
        };
        let (authority, path) = match rest.strip_prefix("//") {
            Some(hier) => {
                let end = hier.find('/').unwrap_or(hier.len());
                (hier.get(..end), hier.get(end..).unwrap_or_default())
            }
            None => (None, rest),
        };
        Self {
            scheme,
            authority,
            path,
            query,
            fragment,
        }
    }
}

/// A resolved reference (RFC 3986 §5.2.2) whose path is held apart, in a reusable buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) authority: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) fragment: Option<&'a str>,
    /// Whether scheme and authority are the base URL's, as for every relative-path reference;
    /// lets a rewrite reuse one origin comparison for all of them.
    pub(crate) base_origin: bool,
}

/// A base URL prepared for resolving many references against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Base<'a> {
    pub(crate) url: HttpUrl<'a>,
    /// The base path up to and including its last `/` (§5.2.3 merge), `/` for an empty path.
    directory: &'a str,
    /// Whether `directory` has no dot segment, so a merge with a clean reference path is clean.
    directory_clean: bool,
}

impl<'a> Base<'a> {
    pub(crate) fn new(url: HttpUrl<'a>) -> Self {
        let directory = match url.path.rfind('/') {
            Some(slash) => url.path.get(..=slash).unwrap_or("/"),
            None => "/",
        };
        Self {
            url,
            directory,
            directory_clean: !has_dot_segment(directory),
        }
    }

    /// The base path up to and including its last `/`.
    pub(crate) const fn directory(&self) -> &'a str {
        self.directory
    }

    /// Resolves `reference` (RFC 3986 §5.2.2, strict parser), writing the target's path into
    /// `path` (using `merged` as scratch). Returns `None` when the target has no authority
    /// (`http:g`): such a target names nothing a base can hold.
    pub(crate) fn resolve(
        &self,
        reference: &Reference<'a>,
        merged: &mut String,
        path: &mut String,
    ) -> Option<Target<'a>> {
        let base = &self.url;
        let fragment = reference.fragment;
        if let Some(scheme) = reference.scheme {
            let authority = reference.authority?;
            remove_dot_segments(reference.path, path);
            return Some(Target {
                scheme,
                authority,
                query: reference.query,
                fragment,
                base_origin: false,
            });
        }
        if let Some(authority) = reference.authority {
            remove_dot_segments(reference.path, path);
            return Some(Target {
                scheme: base.scheme,
                authority,
                query: reference.query,
                fragment,
                base_origin: false,
            });
        }
        let query = if reference.path.is_empty() {
            // §5.2.2 copies the base path as it is, assuming it normalised; normalising it here
            // keeps a rewritten URI stable when rewritten again, even for a base path with `..`.
            remove_dot_segments(base.path, path);
            reference.query.or(base.query)
        } else {
            if reference.path.starts_with('/') {
                remove_dot_segments(reference.path, path);
            } else if self.directory_clean && !has_dot_segment(reference.path) {
                // The common case: the merge (§5.2.3) is already free of dot segments.
                path.clear();
                path.push_str(self.directory);
                path.push_str(reference.path);
            } else {
                merged.clear();
                merged.push_str(self.directory);
                merged.push_str(reference.path);
                remove_dot_segments(merged, path);
            }
            reference.query
        };
        Some(Target {
            scheme: base.scheme,
            authority: base.authority,
            query,
            fragment,
            base_origin: true,
        })
    }
}

/// RFC 3986 §5.2.4, writing into `out`.
pub(crate) fn remove_dot_segments(input: &str, out: &mut String) {
    out.clear();
    if !has_dot_segment(input) {
        // The common case, a path without `.` or `..` segments, is the identity.
        out.push_str(input);
        return;
    }
    let mut input = input;
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            // A.
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            // A.
            input = rest;
        } else if let Some(rest) = input
            .strip_prefix("/..")
            .filter(|r| r.is_empty() || r.starts_with('/'))
        {
            // C: "/../" or "/.." becomes "/", and the last output segment goes.
            input = if rest.is_empty() { "/" } else { rest };
            let keep = out.rfind('/').unwrap_or(0);
            out.truncate(keep);
        } else if let Some(rest) = input
            .strip_prefix("/.")
            .filter(|r| r.is_empty() || r.starts_with('/'))
        {
            // B: "/./" or "/." becomes "/".
            input = if rest.is_empty() { "/" } else { rest };
        } else if input == "." || input == ".." {
            // D.
            input = "";
        } else {
            // E: move the first segment, with its leading "/" if any, to the output.
            let skip = usize::from(input.starts_with('/'));
            let end = input
                .get(skip..)
                .and_then(|r| r.find('/'))
                .map_or(input.len(), |i| i + skip);
            out.push_str(input.get(..end).unwrap_or_default());
            input = input.get(end..).unwrap_or_default();
        }
    }
}

/// Whether a path may hold a `.` or `..` segment. False positives (`/.hidden`) only cost the slow
/// path of [`remove_dot_segments`], which handles them correctly.
fn has_dot_segment(path: &str) -> bool {
    path.starts_with('.') || has_pair(path, b'/', b'.')
}

/// Whether `text` holds the byte `first` followed by `second`. A plain loop: for the short strings
/// of a playlist it beats a substring searcher, whose setup costs more than the search.
pub(crate) fn has_pair(text: &str, first: u8, second: u8) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|pair| matches!(pair, [a, b] if *a == first && *b == second))
}

/// Query parameters to set, percent-encoded once per rewrite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    /// Each parameter's encoded name and `name=value` text.
    encoded: Vec<(String, String)>,
    /// All of them as a query: `?name=value&name=value`, for the common URI without a query.
    query: String,
}

impl Params {
    pub(crate) fn new(params: &[(&str, &str)]) -> Self {
        let encoded: Vec<(String, String)> = params
            .iter()
            .map(|(name, value)| {
                let mut encoded_name = String::with_capacity(name.len());
                percent_encode(name, false, &mut encoded_name);
                let mut pair = String::with_capacity(name.len() + value.len() + 1);
                pair.push_str(&encoded_name);
                pair.push('=');
                percent_encode(value, true, &mut pair);
                (encoded_name, pair)
            })
            .collect();
        let mut query = String::new();
        for (i, (_, pair)) in encoded.iter().enumerate() {
            query.push(if i == 0 { '?' } else { '&' });
            query.push_str(pair);
        }
        Self { encoded, query }
    }

    /// Bytes the parameters add to a URI at most.
    pub(crate) fn len(&self) -> usize {
        self.encoded.iter().map(|(_, pair)| pair.len() + 1).sum()
    }

    /// Writes `?query` with the parameters set: an existing parameter of the same name has its
    /// value replaced in place (later duplicates are dropped), other parameters keep their text and
    /// order, and new parameters go last. Empty `&&` items are dropped. `seen` is scratch space.
    ///
    /// Without parameters the query is copied as it was, `?` included.
    pub(crate) fn write_query(&self, query: Option<&str>, seen: &mut Vec<bool>, out: &mut Vec<u8>) {
        if self.encoded.is_empty() {
            if let Some(query) = query {
                out.push(b'?');
                out.extend_from_slice(query.as_bytes());
            }
            return;
        }
        if query.is_none_or(|q| q.bytes().all(|b| b == b'&')) {
            // Nothing to keep or replace: the parameters, in order, are the query.
            out.extend_from_slice(self.query.as_bytes());
            return;
        }
        seen.clear();
        seen.resize(self.encoded.len(), false);
        let mut separator = b'?';
        for item in query.unwrap_or_default().split('&') {
            if item.is_empty() {
                continue;
            }
            let name = item.split_once('=').map_or(item, |(name, _)| name);
            let text = match self.encoded.iter().position(|(n, _)| n == name) {
                Some(i) => match seen.get_mut(i) {
                    Some(done) if !*done => {
                        *done = true;
                        self.encoded.get(i).map_or(item, |(_, pair)| pair.as_str())
                    }
                    _ => continue,
                },
                None => item,
            };
            out.push(separator);
            out.extend_from_slice(text.as_bytes());
            separator = b'&';
        }
        for ((_, pair), done) in self.encoded.iter().zip(seen.iter()) {
            if !*done {
                out.push(separator);
                out.extend_from_slice(pair.as_bytes());
                separator = b'&';
            }
        }
    }
}

/// Percent-encodes (RFC 3986 §2.1) every byte that is not safe in a query value, or in a name when
/// `value` is false. Kept as they are: unreserved characters and the sub-delimiters and `:@/?`
/// that a query may hold, except `&`, `+` and `;`, which servers take as separators or spaces, and
/// `=` in names. `"` is always encoded, so a parameter cannot end the quoted-string it is written
/// into, and so is `{`, so a parameter cannot smuggle in an `EXT-X-DEFINE` reference. A comma is
/// kept: URIs are only written into URI lines and quoted-strings, where a comma is harmless.
fn percent_encode(text: &str, value: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b','
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
            )
            || (value && byte == b'=');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push('%');
            for nibble in [byte >> 4, byte & 0x0f] {
                out.push(char::from(
                    HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                ));
            }
        }
    }
}

fn is_http(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")
}

/// Whether `text` holds only characters that may appear in a URI (RFC 3986 §2): printable ASCII
/// other than space and `"<>\^`{|}`.
fn is_uri_text(text: &str) -> bool {
    text.bytes().all(|b| {
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
    })
}

/// Whether two authorities name the same server (RFC 3986 §6.2.2.1 case, §6.2.3 ports).
fn same_authority(a: &str, b: &str, scheme: &str) -> bool {
    if a == b {
        return true;
    }
    let (a_user, a_host, a_port) = split_authority(a);
    let (b_user, b_host, b_port) = split_authority(b);
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    let explicit = |port: &str| !port.is_empty() && port != default;
    a_user == b_user
        && a_host.eq_ignore_ascii_case(b_host)
        && (a_port == b_port || (!explicit(a_port) && !explicit(b_port)))
}

/// Splits an authority into userinfo, host and port (empty when absent).
fn split_authority(authority: &str) -> (&str, &str, &str) {
    let (user, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    // A colon inside an IP literal (`[::1]`) is not a port separator.
    match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (user, host, port),
        _ => (user, host_port, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    /// Resolves and recomposes (RFC 3986 §5.3).
    fn resolve_str(base: &str, reference: &str) -> String {
        let base = Base::new(HttpUrl::parse(base).unwrap());
        let (mut merged, mut path) = (String::new(), String::new());
        let r = Reference::split(reference);
        let Some(t) = base.resolve(&r, &mut merged, &mut path) else {
            // `http:g`: a scheme without authority; recompose from the reference itself.
            return format!("{}:{}", r.scheme.unwrap(), r.path);
        };
        let mut s = format!("{}://{}{}", t.scheme, t.authority, path);
        if let Some(q) = t.query {
            s = format!("{s}?{q}");
        }
        if let Some(f) = t.fragment {
            s = format!("{s}#{f}");
        }
        s
    }

    #[test]
    fn rfc3986_normal_examples_resolve() {
        // RFC 3986 §5.4.1, minus "g:h", whose scheme is not http.
        let base = "http://a/b/c/d;p?q";
        for (reference, expected) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q#s"),
            ("g#s", "http://a/b/c/g#s"),
            ("g?y#s", "http://a/b/c/g?y#s"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("g;x?y#s", "http://a/b/c/g;x?y#s"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
        ] {
            assert_eq!(resolve_str(base, reference), expected, "{reference}");
        }
    }

    #[test]
    fn rfc3986_abnormal_examples_resolve() {
        // RFC 3986 §5.4.2.
        let base = "http://a/b/c/d;p?q";
        for (reference, expected) in [
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("g?y/../x", "http://a/b/c/g?y/../x"),
            ("g#s/./x", "http://a/b/c/g#s/./x"),
            ("g#s/../x", "http://a/b/c/g#s/../x"),
            ("http:g", "http:g"),
        ] {
            assert_eq!(resolve_str(base, reference), expected, "{reference}");
        }
    }

    #[test]
    fn empty_reference_normalises_the_base_path() {
        assert_eq!(resolve_str("http://a/b/../c/d?q", "#f"), "http://a/c/d?q#f");
    }

    #[test]
    fn remove_dot_segments_matches_rfc_walkthroughs() {
        // RFC 3986 §5.2.4 step-by-step examples.
        let mut out = String::new();
        remove_dot_segments("/a/b/c/./../../g", &mut out);
        assert_eq!(out, "/a/g");
        remove_dot_segments("mid/content=5/../6", &mut out);
        assert_eq!(out, "mid/6");
    }

    #[test]
    fn split_follows_appendix_b() {
        let r = Reference::split("https://u@h:8443/p/a;x?q=1&r#f?g");
        assert_eq!(r.scheme, Some("https"));
        assert_eq!(r.authority, Some("u@h:8443"));
        assert_eq!(r.path, "/p/a;x");
        assert_eq!(r.query, Some("q=1&r"));
        assert_eq!(r.fragment, Some("f?g"));
        let r = Reference::split("seg=1:2.ts");
        assert_eq!(
            r.scheme,
            Some("seg=1"),
            "a colon before any slash ends a scheme"
        );
        let r = Reference::split("a/b:c");
        assert_eq!((r.scheme, r.path), (None, "a/b:c"));
        let r = Reference::split(":x");
        assert_eq!((r.scheme, r.path), (None, ":x"));
        let r = Reference::split("a?b:c#d?e");
        assert_eq!(
            (r.scheme, r.path, r.query, r.fragment),
            (None, "a", Some("b:c"), Some("d?e"))
        );
        let r = Reference::split("#only");
        assert_eq!((r.path, r.query, r.fragment), ("", None, Some("only")));
        let r = Reference::split("x?");
        assert_eq!((r.path, r.query, r.fragment), ("x", Some(""), None));
        let r = Reference::split("//h?q");
        assert_eq!((r.authority, r.path, r.query), (Some("h"), "", Some("q")));
    }

    #[test]
    fn http_url_rejects_other_schemes_and_unsafe_characters() {
        assert!(HttpUrl::parse("https://origin.example/a/index.m3u8?x=1").is_some());
        assert!(HttpUrl::parse("HTTP://origin.example").is_some());
        for bad in [
            "",
            "origin.example/a",
            "/a/b",
            "ftp://origin.example/",
            "https:///path",
            "https:/x",
            "https://origin.example/a b",
            "https://origin.example/\"",
            "https://origin.example/{$v}",
            "https://örigin.example/",
        ] {
            assert_eq!(HttpUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn base_url_is_a_directory_with_or_without_trailing_slash() {
        let with = BaseUrl::parse("https://cdn.example/live/").unwrap();
        let without = BaseUrl::parse("https://cdn.example/live").unwrap();
        assert_eq!(with, without);
        assert_eq!(with.prefix(), "https://cdn.example/live");
        let root = BaseUrl::parse("https://cdn.example").unwrap();
        assert_eq!(root, BaseUrl::parse("https://cdn.example/").unwrap());
        assert_eq!(with.origin(), root);
        let url = HttpUrl::parse("https://cdn.example/x/y.m3u8?t=1").unwrap();
        assert_eq!(BaseUrl::origin_of(&url), root);
    }

    #[test]
    fn base_url_rejects_query_fragment_and_dot_segments() {
        for bad in [
            "https://cdn.example/?a=1",
            "https://cdn.example/#f",
            "https://cdn.example/a/../b",
            "https://cdn.example/./b",
            "data:text/plain,x",
        ] {
            assert_eq!(BaseUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn origins_compare_as_rfc3986_normalizes_them() {
        let base = BaseUrl::parse("https://CDN.example:443/live").unwrap();
        assert!(base.same_origin("HTTPS", "cdn.EXAMPLE"));
        assert!(base.same_origin("https", "cdn.example:"));
        assert!(!base.same_origin("https", "cdn.example:8443"));
        assert!(!base.same_origin("http", "cdn.example"));
        assert!(!base.same_origin("https", "u@cdn.example"));
        let v6 = BaseUrl::parse("http://[::1]:80/").unwrap();
        assert!(v6.same_origin("http", "[::1]"));
        assert!(!v6.same_origin("http", "[::2]"));
    }

    #[test]
    fn path_suffix_is_what_follows_the_base_directory() {
        let base = BaseUrl::parse("https://cdn.example/live").unwrap();
        assert_eq!(base.path_suffix("/live/a/b.ts"), Some("a/b.ts"));
        assert_eq!(base.path_suffix("/live"), None);
        assert_eq!(base.path_suffix("/livestream/a.ts"), None);
        assert_eq!(
            base.origin().path_suffix(""),
            Some(""),
            "an empty path is `/`"
        );
    }

    #[test]
    fn clean_and_dotted_merges_resolve_alike() {
        // The fast path (no dot segments) and the slow one (remove_dot_segments) agree.
        assert_eq!(resolve_str("http://a/b/c/d", "e/f"), "http://a/b/c/e/f");
        assert_eq!(resolve_str("http://a/b/../c/d", "e/f"), "http://a/c/e/f");
        assert_eq!(resolve_str("http://a", "e"), "http://a/e");
        assert!(has_pair("a/.b", b'/', b'.'));
        assert!(!has_pair("a./b", b'/', b'.'));
        assert!(!has_pair("", b'/', b'.'));
    }

    fn query(params: &[(&str, &str)], existing: Option<&str>) -> String {
        let mut out = Vec::new();
        Params::new(params).write_query(existing, &mut Vec::new(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn existing_parameter_is_replaced_in_place() {
        let t = [("__token__", "new")];
        assert_eq!(
            query(&t, Some("a=1&__token__=old&b=2")),
            "?a=1&__token__=new&b=2"
        );
        assert_eq!(query(&t, Some("__token__=x&__token__=y")), "?__token__=new");
        assert_eq!(query(&t, Some("__token__")), "?__token__=new");
    }

    #[test]
    fn new_parameters_are_appended_in_order() {
        let p = [("a", "1"), ("b", "2")];
        assert_eq!(query(&p, None), "?a=1&b=2");
        assert_eq!(query(&p, Some("z=0&b=9")), "?z=0&b=2&a=1");
        assert_eq!(query(&p, Some("")), "?a=1&b=2");
        assert_eq!(query(&p, Some("&&z=0&")), "?z=0&a=1&b=2");
    }

    #[test]
    fn no_parameters_copies_the_query_as_written() {
        assert_eq!(query(&[], Some("")), "?");
        assert_eq!(query(&[], Some("a&&b")), "?a&&b");
        assert_eq!(query(&[], None), "");
    }

    #[test]
    fn parameters_are_percent_encoded_where_a_query_needs_it() {
        assert_eq!(
            query(&[("__token__", "st=1~exp=2~acl=/*~hmac=ab")], None),
            "?__token__=st=1~exp=2~acl=/*~hmac=ab"
        );
        assert_eq!(
            query(&[("a=b", "x&y+z;\"{$v}# é%")], None),
            "?a%3Db=x%26y%2Bz%3B%22%7B$v%7D%23%20%C3%A9%25"
        );
    }
}
