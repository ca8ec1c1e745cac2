//! Where the Workers runtime's types meet the core's: the request head, the client, and the
//! headers that may cross a proxy.
//!
//! The Workers request arrives as a JavaScript `Request`: a method, a full URL and a `Headers`
//! object, plus Cloudflare's `cf` object. The core wants an `http::Request<()>` (it never reads
//! a body, except a beacon's, which the adapter hands over separately) and a [`Client`].
//!
//! Key decision: the head is built here from the three plain parts rather than with the
//! `worker` crate's `http` feature. That conversion wraps the body into a Rust stream (every
//! byte of a segment would cross into wasm and back), and it treats an unexpected
//! `cf.httpProtocol` as unreachable, a panic; building the head from strings cannot panic and
//! a request `http` cannot represent becomes a 400 like any other refusal.
//!
//! Non-goal: bodies. Response bodies stay JavaScript streams end to end (see `origin`).

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use usher_edge_core::{Client, forwarding};

/// The header in which Cloudflare gives the client's address. Cloudflare sets it on every
/// request and replaces any copy the client sent, so it can be trusted as is.
pub(crate) const CLIENT_IP: &str = "cf-connecting-ip";

/// A request the core cannot be given: the runtime accepted it, `http` cannot represent it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unreadable(String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable request: {}", self.0)
    }
}

/// The request head the core decides on, from the runtime's method, URL and header pairs.
///
/// The URL is absolute (`https://host/path?query`), as the runtime gives it, so the core sees
/// the host the viewer asked for in the URI's authority.
pub(crate) fn head<I>(method: &str, url: &str, headers: I) -> Result<Request<()>, Unreadable>
where
    I: IntoIterator<Item = (String, String)>,
{
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| Unreadable("method".into()))?;
    // Never echo the URL: its query may hold a ticket.
    let uri = url.parse::<Uri>().map_err(|_| Unreadable("URL".into()))?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let map = request.headers_mut();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Unreadable("header name".into()))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| Unreadable(format!("value of header {name}")))?;
        map.append(name, value);
    }
    Ok(request)
}

/// The client, from Cloudflare's address header and `cf` object. Values that do not parse are
/// left out rather than guessed at.
pub(crate) fn client<'a>(
    ip: Option<&'a str>,
    country: Option<&'a str>,
    asn: Option<u32>,
) -> Client<'a> {
    Client {
        ip: ip.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()),
        // Cloudflare's `T1` (Tor) and `XX` (unknown) are codes of the same shape: the health
        // model treats them as groups like any other.
        country: country.filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric())),
        asn: asn.filter(|&asn| asn != 0),
    }
}

/// The origin's response headers as the viewer gets them: connection-level headers removed
/// (including any that `Connection` names), and the core's headers (the reason code, CORS) set
/// over the origin's.
pub(crate) fn proxied(origin: &HeaderMap, added: &HeaderMap) -> HeaderMap {
    let mut headers = origin.clone();
    forwarding::response_headers(&mut headers, added);
    headers
}

#[cfg(target_arch = "wasm32")]
mod runtime {
    //! The same conversions on the runtime's objects.

    use bytes::Bytes;
    use http::{HeaderMap, HeaderName, HeaderValue, Response};
    use worker::{Headers, ResponseBuilder};

    /// The pairs of a runtime `Headers` object. Repeated fields come combined, as the Fetch
    /// standard's `Headers` iterator gives them (`set-cookie` aside, which requests lack).
    pub(crate) fn pairs(headers: &Headers) -> Vec<(String, String)> {
        headers.entries().collect()
    }

    /// A runtime `Headers` object from an `http` map, as a builder for a response. A value the
    /// runtime refuses is left out: every value here came from the core or from the origin
    /// through the runtime, so none should be.
    pub(crate) fn builder(status: u16, map: &HeaderMap) -> ResponseBuilder {
        let headers = Headers::new();
        for (name, value) in map {
            if let Ok(value) = value.to_str() {
                let _ = headers.append(name.as_str(), value);
            }
        }
        ResponseBuilder::new()
            .with_status(status)
            .with_headers(headers)
    }

    /// An `http` map from a runtime `Headers` object (a response's, for the proxy and cache).
    pub(crate) fn map(headers: &Headers) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers.entries() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                map.append(name, value);
            }
        }
        map
    }

    /// A response the core made, for the runtime. A `HEAD` request gets the head only, and an
    /// empty body is no body at all: 204 and 304 must not have one (Fetch §6.4, null body
    /// statuses), and the runtime refuses to build them with one.
    pub(crate) fn response(response: Response<Bytes>, head_only: bool) -> worker::Response {
        let (parts, body) = response.into_parts();
        let builder = builder(parts.status.as_u16(), &parts.headers);
        if head_only || body.is_empty() {
            builder.empty()
        } else {
            builder.fixed(body.to_vec())
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use runtime::{builder, map, pairs, response};

#[cfg(test)]
mod tests {
    use http::header;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_head_keeps_method_absolute_url_and_headers() {
        let request = head(
            "GET",
            "https://cdn-a.example/events/final-2026/master.m3u8?ticket=T&x=1",
            pairs(&[("cookie", "usher_ticket=T"), ("cmcd-request", "bl=2000")]),
        )
        .unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), "/events/final-2026/master.m3u8");
        assert_eq!(request.uri().query(), Some("ticket=T&x=1"));
        assert_eq!(
            request.uri().authority().map(|a| a.as_str()),
            Some("cdn-a.example")
        );
        assert_eq!(request.headers()["cookie"], "usher_ticket=T");
        assert_eq!(request.headers()["cmcd-request"], "bl=2000");
    }

    #[test]
    fn a_head_http_cannot_hold_is_unreadable_and_does_not_echo_the_url() {
        let bad_method = head("GE T", "https://a.example/", pairs(&[])).unwrap_err();
        assert_eq!(bad_method.to_string(), "unreadable request: method");
        let bad_url = head("GET", "https://a.example/?ticket=se cret", pairs(&[])).unwrap_err();
        assert!(!bad_url.to_string().contains("secret"), "{bad_url}");
        let bad_value = head(
            "GET",
            "https://a.example/",
            pairs(&[("x-a", "line\nbreak")]),
        );
        assert!(bad_value.is_err());
        // Methods the runtime passes on unchanged reach the core, which refuses them itself.
        assert_eq!(
            head("PROPFIND", "https://a.example/", pairs(&[]))
                .unwrap()
                .method()
                .as_str(),
            "PROPFIND"
        );
    }

    #[test]
    fn client_facts_come_from_cloudflare_and_are_checked() {
        let client = client(Some("2001:db8::7"), Some("DE"), Some(3320));
        assert_eq!(client.ip, Some("2001:db8::7"));
        assert_eq!(client.country, Some("DE"));
        assert_eq!(client.asn, Some(3320));
        let tor = super::client(Some("198.51.100.7"), Some("T1"), None);
        assert_eq!(tor.country, Some("T1"));
        let junk = super::client(Some("not an address"), Some("Germany"), Some(0));
        assert_eq!((junk.ip, junk.country, junk.asn), (None, None, None));
    }

    #[test]
    fn a_proxied_response_loses_connection_headers_and_gains_the_cores() {
        let mut origin = HeaderMap::new();
        origin.insert(header::CONNECTION, HeaderValue::from_static("close, x-hop"));
        origin.insert("x-hop", HeaderValue::from_static("1"));
        origin.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        origin.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        origin.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1234"));
        origin.insert("x-usher-reason", HeaderValue::from_static("from-origin"));
        let mut added = HeaderMap::new();
        added.insert("x-usher-reason", HeaderValue::from_static("ok"));
        added.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        let viewer = proxied(&origin, &added);
        assert!(viewer.get(header::CONNECTION).is_none());
        assert!(viewer.get("x-hop").is_none());
        assert!(viewer.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(viewer["content-type"], "video/mp4");
        assert_eq!(viewer["content-length"], "1234");
        assert_eq!(viewer["x-usher-reason"], "ok");
        assert_eq!(viewer["access-control-allow-origin"], "*");
    }
}
