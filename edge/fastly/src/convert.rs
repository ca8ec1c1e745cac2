//! Where Fastly's request meets the core's types: the request head as an `http::Request<()>`,
//! the client as a [`Client`], and the viewer headers an origin may see.
//!
//! These functions take plain values (the method and URL as text, the header pairs, the address
//! and geolocation figures Fastly reports), so they are tested natively; `handler` reads those
//! values from the `fastly` SDK. The SDK has its own `Request` → `http::Request` conversion, but
//! it panics on a URL the `http` crate cannot represent; here such a request is a 400.
//!
//! Non-goal: reading a body without a bound. Every body read here has a cap.

use std::io::Read;
use std::net::IpAddr;

use http::Request;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use usher_edge_core::{Client, forwarding};

/// The request head the core decides on, from the method, the absolute URL and the headers of
/// Fastly's client request. `None` when `http` cannot represent them (a method token or URL it
/// refuses), which the caller answers with 400 `bad_request`.
pub(crate) fn head<'h>(
    method: &str,
    url: &str,
    headers: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
) -> Option<Request<()>> {
    let mut request = Request::builder().method(method).uri(url).body(()).ok()?;
    let map = request.headers_mut();
    for (name, value) in headers {
        map.append(name.clone(), value.clone());
    }
    Some(request)
}

/// The client as Fastly sees it, owned for the length of a request: the connection's address
/// and, from Fastly's geolocation, the country and the autonomous system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientFacts {
    ip: Option<String>,
    country: Option<String>,
    asn: Option<u32>,
}

impl ClientFacts {
    /// The facts from Fastly's figures. Geolocation reports unknowns as placeholders (`**` or
    /// an empty country, AS number 0), which are left out rather than passed on as data.
    pub(crate) fn new(ip: Option<IpAddr>, country: Option<&str>, asn: Option<u32>) -> Self {
        let country = country
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(str::to_ascii_uppercase);
        ClientFacts {
            ip: ip.map(|ip| ip.to_string()),
            country,
            asn: asn.filter(|&n| n != 0),
        }
    }

    /// The facts as the core takes them.
    pub(crate) fn client(&self) -> Client<'_> {
        Client {
            ip: self.ip.as_deref(),
            country: self.country.as_deref(),
            asn: self.asn,
        }
    }
}

/// The viewer's headers that go to the origin with a proxied request.
pub(crate) fn forwarded(viewer: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    forwarding::FORWARDED
        .iter()
        .flat_map(move |name| viewer.get_all(name).iter().map(move |value| (name, value)))
}

/// Reads `body` until it ends or `cap` bytes are in hand, whichever comes first; the rest is
/// never read. A caller that must refuse bodies over a limit asks for one byte more than the
/// limit and looks at the length.
pub(crate) fn read_up_to(body: impl Read, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    body.take(u64::try_from(cap).unwrap_or(u64::MAX))
        .read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use http::Method;

    use http::header;

    use super::*;

    fn pairs(list: &[(&'static str, &'static str)]) -> Vec<(HeaderName, HeaderValue)> {
        list.iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn the_head_keeps_method_url_and_every_header_value_in_order() {
        let headers = pairs(&[
            ("host", "edge.example"),
            ("cookie", "a=1"),
            ("cookie", "usher_ticket=T"),
        ]);
        let request = head(
            "GET",
            "http://edge.example/events/final-2026/master.m3u8?ticket=T",
            headers.iter().map(|(n, v)| (n, v)),
        )
        .unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), "/events/final-2026/master.m3u8");
        assert_eq!(request.uri().query(), Some("ticket=T"));
        let cookies: Vec<_> = request.headers().get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "usher_ticket=T"]);
        assert_eq!(request.headers()["host"], "edge.example");
    }

    #[test]
    fn a_head_http_cannot_represent_is_refused_not_panicked_on() {
        let none = std::iter::empty();
        assert!(head("G ET", "http://edge.example/", none).is_none());
        let none = std::iter::empty();
        assert!(head("GET", "http://edge.example/a b", none).is_none());
    }

    #[test]
    fn geolocation_placeholders_are_left_out() {
        let ip = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
        let facts = ClientFacts::new(ip, Some("de"), Some(3320));
        let client = facts.client();
        assert_eq!(client.ip, Some("198.51.100.7"));
        assert_eq!(client.country, Some("DE"));
        assert_eq!(client.asn, Some(3320));

        let unknown = ClientFacts::new(None, Some("**"), Some(0));
        assert_eq!(unknown, ClientFacts::default());
        let empty = ClientFacts::new(ip, Some(""), None);
        assert_eq!(empty.client().country, None);
        assert_eq!(
            ClientFacts::new(ip, Some("DEU"), None).client().country,
            None
        );
    }

    /// A body that yields its chunks one read at a time, then fails or ends.
    struct Chunks(std::collections::VecDeque<std::io::Result<&'static [u8]>>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.pop_front() {
                None => Ok(0),
                Some(Err(error)) => Err(error),
                Some(Ok(chunk)) => {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        self.0.push_front(Ok(&chunk[n..]));
                    }
                    Ok(n)
                }
            }
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> Chunks {
        Chunks(parts.iter().map(|p| Ok(*p)).collect())
    }

    #[test]
    fn bodies_are_read_up_to_the_cap_and_no_further() {
        let body = || chunks(&[b"abc", b"def", b"ghi"]);
        assert_eq!(read_up_to(body(), 100).unwrap(), b"abcdefghi");
        assert_eq!(read_up_to(body(), 4).unwrap(), b"abcd");
        assert_eq!(read_up_to(body(), 6).unwrap(), b"abcdef");
        assert_eq!(read_up_to(body(), 0).unwrap(), b"");
        // The cap stops the reading: a failure after it is never reached.
        let mut failing = chunks(&[b"abc"]);
        failing
            .0
            .push_back(Err(std::io::ErrorKind::TimedOut.into()));
        assert_eq!(read_up_to(failing, 3).unwrap(), b"abc");
    }

    #[test]
    fn a_body_that_fails_before_the_cap_is_an_error() {
        let mut failing = chunks(&[b"abc"]);
        failing
            .0
            .push_back(Err(std::io::ErrorKind::TimedOut.into()));
        let error = read_up_to(failing, 100).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn only_range_and_revalidation_headers_reach_the_origin() {
        let mut viewer = HeaderMap::new();
        viewer.insert(header::RANGE, HeaderValue::from_static("bytes=0-99"));
        viewer.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\""));
        viewer.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"b\""));
        viewer.insert(header::COOKIE, HeaderValue::from_static("usher_ticket=T"));
        viewer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer T"));
        viewer.insert("fastly-client-ip", HeaderValue::from_static("198.51.100.7"));
        let sent: Vec<_> = forwarded(&viewer)
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            sent,
            [
                ("range", "bytes=0-99"),
                ("if-none-match", "\"a\""),
                ("if-none-match", "\"b\"")
            ]
        );
    }
}
