//! Where the platform's types meet the core's: `wstd` requests, responses and bodies on one
//! side, `Request<()>`, `Response<Bytes>`, `Bytes` and [`Client`] on the other.
//!
//! `wstd` already speaks `http` 1.x, so most of this is taking bodies apart and putting them
//! back. What is not mechanical lives here too, because it is about what the host hands the
//! guest, not about business meaning: which request headers carry the client's address and
//! location, which response headers may cross a proxy, and how much of a body is read.
//!
//! Non-goal: reading a whole body without a bound. Every body read here has a cap.

use bytes::{Bytes, BytesMut};
use http::header::HeaderMap;
use http::{Request, Response};
use usher_edge_core::{Client, forwarding};
use wstd::http::Body;
use wstd::http::body::HttpBody;
use wstd::http::body::util::BodyExt as _;

/// The client's address, as the host saw it on the connection.
///
/// The host must set this header and the two below itself, after removing any copy the client
/// sent: the guest cannot tell a forged header from the host's. `usher edge serve` does both.
pub(crate) const CLIENT_IP: &str = "x-usher-client-ip";
/// The client's ISO 3166-1 alpha-2 country, from the host's geolocation.
pub(crate) const COUNTRY: &str = "x-usher-country";
/// The client's autonomous system number, from the host's geolocation.
pub(crate) const ASN: &str = "x-usher-asn";

/// Splits a platform request into the head the core decides on and the body, which only the
/// beacon endpoint reads.
pub(crate) fn split(request: Request<Body>) -> (Request<()>, Body) {
    let (parts, body) = request.into_parts();
    (Request::from_parts(parts, ()), body)
}

/// The client, from the headers the host set. Values that do not parse are left out rather
/// than guessed at.
pub(crate) fn client(headers: &HeaderMap) -> Client<'_> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    Client {
        ip: text(CLIENT_IP).filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()),
        country: text(COUNTRY)
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())),
        asn: text(ASN).and_then(|asn| asn.parse().ok()),
    }
}

/// A response the core made, for the platform. A `HEAD` request gets the head only.
pub(crate) fn response(response: Response<Bytes>, head_only: bool) -> Response<Body> {
    if head_only {
        response.map(|_| Body::empty())
    } else {
        response.map(Body::from)
    }
}

/// The origin's response as the viewer gets it: its status and body untouched (the body is
/// streamed, never held), connection-level headers removed, and the core's headers (the reason
/// code, CORS) set over the origin's.
pub(crate) fn proxied(mut response: Response<Body>, added: &HeaderMap) -> Response<Body> {
    forwarding::response_headers(response.headers_mut(), added);
    response
}

/// Reads `body` until it ends or `cap` bytes are in hand, whichever comes first; the rest is
/// never read. A caller that must refuse bodies over a limit asks for one byte more than the
/// limit and looks at the length.
pub(crate) async fn read_up_to<B>(body: B, cap: usize) -> Result<Bytes, B::Error>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    let mut body = body;
    let mut out = BytesMut::new();
    while out.len() < cap {
        let Some(frame) = body.frame().await else {
            break;
        };
        // Trailers carry nothing the edge uses.
        if let Ok(data) = frame?.into_data() {
            let room = cap - out.len();
            out.extend_from_slice(data.get(..room).unwrap_or(&data));
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use http::{HeaderValue, StatusCode, header};
    use wstd::http::body::Frame;
    use wstd::http::body::util::Full;

    use super::*;

    /// Runs a future whose every step is ready at once: bodies made from memory.
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    /// A body of ready frames: data, or an error where a connection failed.
    struct Frames(std::collections::VecDeque<Result<Bytes, String>>);

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = String;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, String>>> {
            Poll::Ready(self.0.pop_front().map(|r| r.map(Frame::data)))
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> Frames {
        Frames(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect())
    }

    #[test]
    fn client_facts_come_from_the_host_headers_and_are_checked() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_IP, HeaderValue::from_static("198.51.100.7"));
        headers.insert(COUNTRY, HeaderValue::from_static("DE"));
        headers.insert(ASN, HeaderValue::from_static("3320"));
        let client = client(&headers);
        assert_eq!(client.ip, Some("198.51.100.7"));
        assert_eq!(client.country, Some("DE"));
        assert_eq!(client.asn, Some(3320));

        headers.insert(CLIENT_IP, HeaderValue::from_static("not an address"));
        headers.insert(COUNTRY, HeaderValue::from_static("Germany"));
        headers.insert(ASN, HeaderValue::from_static("-1"));
        let client = super::client(&headers);
        assert_eq!((client.ip, client.country, client.asn), (None, None, None));
    }

    #[test]
    fn a_proxied_response_loses_connection_headers_and_gains_the_cores() {
        let mut origin = Response::new(Body::empty());
        *origin.status_mut() = StatusCode::PARTIAL_CONTENT;
        let headers = origin.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close, x-hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        headers.insert("x-usher-reason", HeaderValue::from_static("from-origin"));
        let mut added = HeaderMap::new();
        added.insert("x-usher-reason", HeaderValue::from_static("ok"));
        let viewer = proxied(origin, &added);
        assert_eq!(viewer.status(), StatusCode::PARTIAL_CONTENT);
        let headers = viewer.headers();
        assert!(headers.get(header::CONNECTION).is_none());
        assert!(headers.get("x-hop").is_none());
        assert!(headers.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(headers["content-type"], "video/mp4");
        assert_eq!(headers["x-usher-reason"], "ok");
    }

    #[test]
    fn bodies_are_read_up_to_the_cap_and_no_further() {
        let body = || chunks(&[b"abc", b"def", b"ghi"]);
        assert_eq!(ready(read_up_to(body(), 100)).unwrap(), "abcdefghi");
        assert_eq!(ready(read_up_to(body(), 4)).unwrap(), "abcd");
        assert_eq!(ready(read_up_to(body(), 6)).unwrap(), "abcdef");
        assert_eq!(ready(read_up_to(body(), 0)).unwrap(), "");
        let full = Full::new(Bytes::from_static(b"x".repeat(10).leak()));
        assert_eq!(ready(read_up_to(full, 11)).unwrap().len(), 10);
    }

    #[test]
    fn a_body_error_is_returned() {
        let body = Frames([Ok(Bytes::from_static(b"abc")), Err("reset".to_owned())].into());
        assert_eq!(ready(read_up_to(body, 100)).unwrap_err(), "reset");
    }

    #[test]
    fn a_head_request_gets_no_body() {
        let response = Response::new(Bytes::from_static(b"#EXTM3U\n"));
        let head = super::response(response, true);
        assert_eq!(head.body().content_length(), Some(0));
    }
}
