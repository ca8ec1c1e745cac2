//! What crosses the edge when it proxies a resource ([`Action::Proxy`](crate::Action::Proxy)):
//! which of the viewer's request headers reach the origin, and what the viewer gets of the
//! origin's response headers.
//!
//! Both are decisions, not platform plumbing, so every adapter takes them from here: the
//! viewer's cookies may hold a ticket and must never reach an origin or a cache key on any
//! platform, and the viewer must see the same headers whichever CDN served it.

use http::header::{self, HeaderMap, HeaderName};

/// Viewer request headers passed to the origin: the ones that make range requests and
/// revalidation work. Nothing else crosses: cookies and `Authorization` may hold the viewer's
/// ticket, and the origin has no use for who the viewer is (RFC 9110 §13 conditional requests,
/// §14 ranges, §12.5.3 content coding).
pub const FORWARDED: [HeaderName; 5] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::ACCEPT_ENCODING,
];

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `host`: a
/// proxy must not pass them on, and some hosts (WASI-HTTP) refuse them in a guest's response.
pub const HOP_BY_HOP: [HeaderName; 10] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
];

/// The viewer's headers that go to the origin with a proxied request, every value of each.
pub fn request_headers(viewer: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in &FORWARDED {
        for value in viewer.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    headers
}

/// Turns the origin's response headers into the viewer's, in place: connection-level headers
/// removed (including any that `Connection` names, RFC 9110 §7.6.1), then the core's headers
/// (`added`: the reason code, CORS) set over the origin's.
pub fn response_headers(headers: &mut HeaderMap, added: &HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
    for (name, value) in added {
        headers.insert(name, value.clone());
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_range_and_revalidation_headers_reach_the_origin() {
        let mut viewer = HeaderMap::new();
        viewer.insert(
            header::COOKIE,
            HeaderValue::from_static("usher_ticket=secret"),
        );
        viewer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret"),
        );
        viewer.insert(header::USER_AGENT, HeaderValue::from_static("player"));
        viewer.insert(header::RANGE, HeaderValue::from_static("bytes=0-99"));
        viewer.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\""));
        viewer.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"b\""));
        let sent = request_headers(&viewer);
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[header::RANGE], "bytes=0-99");
        assert_eq!(sent.get_all(header::IF_NONE_MATCH).iter().count(), 2);
        assert!(sent.get(header::COOKIE).is_none());
        assert!(sent.get(header::AUTHORIZATION).is_none());
    }

    #[test]
    fn the_viewer_gets_no_connection_headers_and_the_cores_headers_win() {
        let mut origin = HeaderMap::new();
        origin.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-trace"),
        );
        origin.insert("x-trace", HeaderValue::from_static("1"));
        origin.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        origin.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        origin.insert("x-usher-reason", HeaderValue::from_static("spoofed"));
        let mut added = HeaderMap::new();
        added.insert("x-usher-reason", HeaderValue::from_static("ok"));
        response_headers(&mut origin, &added);
        assert!(origin.get(header::CONNECTION).is_none());
        assert!(origin.get("x-trace").is_none(), "named by Connection");
        assert!(origin.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(origin[header::CONTENT_TYPE], "video/mp4");
        assert_eq!(origin["x-usher-reason"], "ok");
    }
}
