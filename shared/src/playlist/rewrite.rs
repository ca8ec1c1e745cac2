//! Rewriting every URI of a playlist: resolve it against the playlist URL, move it from the
//! origin to another base, and set query parameters, in one pass into one pre-sized buffer.

use alloc::string::String;
use alloc::vec::Vec;

use super::Playlist;
use super::url::{Base, BaseUrl, HttpUrl, Params, Reference, has_pair};

/// How to rewrite the URIs of a playlist.
///
/// Each URI (a URI line, or the URI attribute of one of the tags listed in
/// [`uri_attribute`](super::uri_attribute)) is resolved against `playlist_url` (RFC 3986 §5.2).
/// Then:
///
/// 1. if the result is under `to_base`, it keeps its place there and gets the parameters;
/// 2. else if it is under `from_base`, the part of its path under `from_base` is put under
///    `to_base`, and it gets the parameters;
/// 3. else it is left exactly as written.
///
/// Rule 1 comes first so that rewriting a rewritten playlist changes nothing, even when one base
/// holds the other. A rewritten URI is always absolute, its query keeps every other parameter in
/// order (a parameter of the same name has its value replaced in place) and its fragment stays
/// last.
///
/// Left exactly as written, whatever the bases: URIs with a scheme other than `http` and `https`
/// (`data:`, `skd://`), empty URIs, and URIs holding an `EXT-X-DEFINE` reference (`{$name}`,
/// draft-pantos-hls-rfc8216bis §4.3), which only the client can substitute. Because rule 3 leaves
/// third-party URIs alone, the parameters (a session token) never leak to a third party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite<'a> {
    /// Where the playlist was fetched from: the base for relative URIs (RFC 8216 §4.1).
    pub playlist_url: HttpUrl<'a>,
    /// The base URIs are moved away from: the origin. `None` means the root of the playlist URL's
    /// origin, so every URI on the origin's host moves.
    pub from_base: Option<BaseUrl<'a>>,
    /// The base URIs are moved to, e.g. a CDN.
    pub to_base: BaseUrl<'a>,
    /// Query parameters every rewritten URI gets, as plain text; they are percent-encoded where a
    /// query needs it.
    pub params: &'a [(&'a str, &'a str)],
}

impl Rewrite<'_> {
    /// Rewrites one URI reference as a playlist rewrite would; `None` when it is left as written.
    ///
    /// A rewrite is a pure function of the reference: every `EXT-X-BYTERANGE` range of one
    /// resource, and every tag pointing at one key or map, gets the same URI.
    #[must_use]
    pub fn rewrite_uri(&self, reference: &str) -> Option<String> {
        let mut out = Vec::new();
        if Rewriter::new(self).write_uri(reference, &mut out) {
            String::from_utf8(out).ok()
        } else {
            None
        }
    }
}

/// A [`Rewrite`] made ready for many URIs: parameters encoded once, scratch buffers reused.
struct Rewriter<'a> {
    base: Base<'a>,
    from_base: BaseUrl<'a>,
    to_base: BaseUrl<'a>,
    /// Whether the bases are on the playlist URL's origin, which every relative URI is on.
    playlist_on_from_origin: bool,
    playlist_on_to_origin: bool,
    params: Params,
    merged: String,
    path: String,
    seen: Vec<bool>,
}

impl<'a> Rewriter<'a> {
    fn new(rewrite: &Rewrite<'a>) -> Self {
        let url = rewrite.playlist_url;
        let from_base = rewrite
            .from_base
            .unwrap_or_else(|| BaseUrl::origin_of(&url));
        let to_base = rewrite.to_base;
        let base = Base::new(url);
        let (scheme, authority) = (base.url.scheme(), base.url.authority());
        Self {
            base,
            from_base,
            to_base,
            playlist_on_from_origin: from_base.same_origin(scheme, authority),
            playlist_on_to_origin: to_base.same_origin(scheme, authority),
            params: Params::new(rewrite.params),
            merged: String::with_capacity(128),
            path: String::with_capacity(128),
            seen: Vec::new(),
        }
    }

    /// How much longer a rewritten URI is than the original, at most, for the usual URI: a path
    /// relative to the playlist's directory gains the base, the directory and the parameters.
    fn growth_per_uri(&self) -> usize {
        self.to_base.prefix().len() + 1 + self.base.directory().len() + self.params.len()
    }

    /// Writes the rewritten `reference` and returns true, or writes nothing and returns false when
    /// the reference is left as written.
    fn write_uri(&mut self, reference: &str, out: &mut Vec<u8>) -> bool {
        // An empty reference is the playlist itself (RFC 3986 §5.2.2), which no tag means.
        if reference.is_empty() || has_pair(reference, b'{', b'$') {
            return false;
        }
        let reference = Reference::split(reference);
        if reference
            .scheme
            .is_some_and(|s| !s.eq_ignore_ascii_case("https") && !s.eq_ignore_ascii_case("http"))
        {
            return false;
        }
        let Some(target) = self
            .base
            .resolve(&reference, &mut self.merged, &mut self.path)
        else {
            return false;
        };
        let on_origin = |base: &BaseUrl<'_>, playlist_on_origin: bool| {
            if target.base_origin {
                playlist_on_origin
            } else {
                base.same_origin(target.scheme, target.authority)
            }
        };
        let path = self.path.as_str();
        let suffix = if on_origin(&self.to_base, self.playlist_on_to_origin) {
            self.to_base.path_suffix(path)
        } else {
            None
        };
        let Some(suffix) = suffix.or_else(|| {
            on_origin(&self.from_base, self.playlist_on_from_origin)
                .then(|| self.from_base.path_suffix(path))
                .flatten()
        }) else {
            return false;
        };
        self.to_base.write_prefix(out);
        out.extend_from_slice(suffix.as_bytes());
        self.params.write_query(target.query, &mut self.seen, out);
        if let Some(fragment) = target.fragment {
            out.push(b'#');
            out.extend_from_slice(fragment.as_bytes());
        }
        true
    }
}

impl Playlist<'_> {
    /// The playlist with its URIs rewritten as `rewrite` says, every other byte as it was.
    #[must_use]
    pub fn rewrite(&self, rewrite: &Rewrite<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        self.rewrite_into(rewrite, &mut out);
        out
    }

    /// Appends the rewritten playlist to `out`, reserving room for it once.
    pub fn rewrite_into(&self, rewrite: &Rewrite<'_>, out: &mut Vec<u8>) {
        let mut rewriter = Rewriter::new(rewrite);
        out.reserve(self.byte_len() + self.uri_line_count * rewriter.growth_per_uri());
        if self.bom {
            out.extend_from_slice(super::BOM.as_bytes());
        }
        // The lines tile the body, so everything between two URIs is copied from the body in one
        // piece: every byte that is not a URI is kept by construction, and cheaply.
        let mut copied = 0;
        for line in &self.lines {
            for span in line.uri_spans() {
                let (start, end) = (line.offset() + span.start, line.offset() + span.end);
                let before = self.text.get(copied..start).unwrap_or_default();
                let uri = self.text.get(start..end).unwrap_or_default();
                out.extend_from_slice(before.as_bytes());
                if !rewriter.write_uri(uri, out) {
                    out.extend_from_slice(uri.as_bytes());
                }
                copied = end;
            }
        }
        out.extend_from_slice(self.text.get(copied..).unwrap_or_default().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYLIST_URL: &str = "https://origin.example/events/e1/720p/index.m3u8";
    const TOKEN: &[(&str, &str)] = &[("__token__", "T")];

    fn edge() -> Rewrite<'static> {
        Rewrite {
            playlist_url: HttpUrl::parse(PLAYLIST_URL).unwrap(),
            from_base: None,
            to_base: BaseUrl::parse("https://cdn-a.example/").unwrap(),
            params: TOKEN,
        }
    }

    #[test]
    fn relative_uri_moves_to_the_cdn_with_the_token() {
        let rw = edge();
        assert_eq!(
            rw.rewrite_uri("seg1.ts").as_deref(),
            Some("https://cdn-a.example/events/e1/720p/seg1.ts?__token__=T")
        );
        assert_eq!(
            rw.rewrite_uri("../1080p/index.m3u8").as_deref(),
            Some("https://cdn-a.example/events/e1/1080p/index.m3u8?__token__=T")
        );
        assert_eq!(
            rw.rewrite_uri("/keys/k1.key").as_deref(),
            Some("https://cdn-a.example/keys/k1.key?__token__=T")
        );
    }

    #[test]
    fn absolute_origin_uri_moves_to_the_cdn() {
        assert_eq!(
            edge()
                .rewrite_uri("HTTPS://ORIGIN.example:443/events/e1/a.ts?x=1#t=2")
                .as_deref(),
            Some("https://cdn-a.example/events/e1/a.ts?x=1&__token__=T#t=2")
        );
    }

    #[test]
    fn uri_already_on_the_cdn_only_gets_the_token() {
        assert_eq!(
            edge()
                .rewrite_uri("https://cdn-a.example/x/a.ts?__token__=old&b=1")
                .as_deref(),
            Some("https://cdn-a.example/x/a.ts?__token__=T&b=1")
        );
    }

    #[test]
    fn third_party_other_scheme_and_variable_uris_are_left_alone() {
        let rw = edge();
        for uri in [
            "https://ads.example/ad.ts",
            "//ads.example/ad.ts",
            "http://origin.example/a.ts",
            "https://origin.example:8443/a.ts",
            "data:text/plain;base64,AAAA",
            "skd://key-id-1",
            "{$base}/seg1.ts",
            "seg1.ts?token={$token}",
            "",
            "http:g",
        ] {
            assert_eq!(rw.rewrite_uri(uri), None, "{uri}");
        }
    }

    #[test]
    fn from_base_limits_what_moves() {
        let rw = Rewrite {
            from_base: BaseUrl::parse("https://origin.example/events/"),
            ..edge()
        };
        assert_eq!(
            rw.rewrite_uri("a.ts").as_deref(),
            Some("https://cdn-a.example/e1/720p/a.ts?__token__=T")
        );
        assert_eq!(rw.rewrite_uri("/other/a.ts"), None);
    }

    #[test]
    fn nested_bases_rewrite_idempotently() {
        let rw = Rewrite {
            to_base: BaseUrl::parse("https://origin.example/cdn").unwrap(),
            ..edge()
        };
        let once = rw.rewrite_uri("a.ts").unwrap();
        assert_eq!(
            once,
            "https://origin.example/cdn/events/e1/720p/a.ts?__token__=T"
        );
        assert_eq!(rw.rewrite_uri(&once).as_deref(), Some(once.as_str()));
    }

    #[test]
    fn without_params_the_query_is_kept_verbatim() {
        let rw = Rewrite {
            params: &[],
            ..edge()
        };
        assert_eq!(
            rw.rewrite_uri("a.ts?&x").as_deref(),
            Some("https://cdn-a.example/events/e1/720p/a.ts?&x")
        );
    }

    #[test]
    fn byte_ranges_of_one_resource_share_one_uri() {
        let body = b"#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:100@0\nmain.mp4\n#EXTINF:1,\n#EXT-X-BYTERANGE:100@100\nmain.mp4\n";
        let out = Playlist::parse(body).unwrap().rewrite(&edge());
        let out = core::str::from_utf8(&out).unwrap();
        let uri = "https://cdn-a.example/events/e1/720p/main.mp4?__token__=T";
        assert_eq!(out.matches(uri).count(), 2, "{out}");
    }

    #[test]
    fn only_the_uri_span_of_a_tag_changes() {
        let body =
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128, URI=\"k.key\" ,IV=0x1,KEYFORMAT=\"identity\"\n";
        let out = Playlist::parse(body.as_bytes()).unwrap().rewrite(&edge());
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128, URI=\"https://cdn-a.example/events/e1/720p/k.key?__token__=T\" ,IV=0x1,KEYFORMAT=\"identity\"\n"
        );
    }

    #[test]
    fn output_buffer_is_reserved_once() {
        let body = b"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg1.ts?a=1\n#EXTINF:4,\nseg2.ts#f\n";
        let playlist = Playlist::parse(body).unwrap();
        let rewrite = edge();
        let rewriter = Rewriter::new(&rewrite);
        let reserved = body.len() + playlist.uri_line_count * rewriter.growth_per_uri();
        let out = playlist.rewrite(&rewrite);
        assert!(out.len() <= reserved, "{} > {reserved}", out.len());
    }

    #[test]
    fn unquoted_uri_attribute_is_not_rewritten() {
        // §4.2 makes URI a quoted-string; an unquoted one could not safely hold a comma.
        let body = "#EXTM3U\n#EXT-X-MAP:URI=init.mp4\n";
        let out = Playlist::parse(body.as_bytes()).unwrap().rewrite(&edge());
        assert_eq!(out, body.as_bytes());
    }

    #[test]
    fn uri_line_keeps_surrounding_whitespace() {
        let body = "#EXTM3U\n#EXTINF:1,\n  a.ts\t\r\n";
        let out = Playlist::parse(body.as_bytes()).unwrap().rewrite(&edge());
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "#EXTM3U\n#EXTINF:1,\n  https://cdn-a.example/events/e1/720p/a.ts?__token__=T\t\r\n"
        );
    }
}
