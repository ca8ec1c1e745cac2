//! Where the component's outgoing requests go: the host's own services, or the origin through
//! the cache.
//!
//! The component asks for everything over `wasi:http/outgoing-handler`, because the
//! `wasi:http/proxy` world has no other way out. This host answers requests to two internal
//! authorities itself, inside wasmtime-wasi-http's `send_request` hook, without a socket:
//!
//! - [`ASSETS_AUTHORITY`]: the static asset store ([`super::assets`]), when `--assets` is given;
//! - [`STORE_AUTHORITY`]: the lease key-value store ([`super::store`]), unless `--lease-store`
//!   names an external one.
//!
//! An external lease store ([`StoreUrl`], `--lease-store`) is reached over the network, and
//! never through the cache: a lease record is shared state that other edges rewrite at any
//! moment, so a stored copy, a coalesced read or a stale stand-in for a failed store would each
//! let a ticket's screens be miscounted. Every request to the store's scheme, host and port goes
//! straight out, whatever the store answers (its answers need no cache headers).
//!
//! Every other request goes to [`super::cache`], and from there to the network. The names are
//! under `.internal`, which ICANN reserves for private use and which never resolves publicly, so
//! a component pointed at them by mistake on another host fails rather than reaching a stranger.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::assets::Assets;
use super::cache::{self, Cache};
use super::store::{self, Store};

/// The authority of the asset store; the component gets `http://{this}/` as `USHER_ASSETS_URL`.
pub(crate) const ASSETS_AUTHORITY: &str = "assets.usher.internal";

/// The authority of the lease store; the component gets `http://{this}/` as `USHER_STORE_URL`.
pub(crate) const STORE_AUTHORITY: &str = "store.usher.internal";

/// The largest request body the component may send: a lease record, with room to spare (the
/// store refuses values over its own, smaller limit).
const MAX_REQUEST_BODY_BYTES: usize = 1 << 20;

/// The services behind the component's outgoing requests, shared by every instance.
#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) assets: Option<Assets>,
    pub(crate) store: LeaseStore,
    pub(crate) cache: Arc<Cache>,
}

/// Where the component's lease records are kept.
#[derive(Debug)]
pub(crate) enum LeaseStore {
    /// In this process, at [`STORE_AUTHORITY`]: this edge's screens only.
    InProcess(Store),
    /// A service at this base URL, which several edges may share.
    External(StoreUrl),
}

impl LeaseStore {
    /// The base URL the component gets as `USHER_STORE_URL`.
    pub(crate) fn base_url(&self) -> String {
        match self {
            LeaseStore::InProcess(_) => format!("http://{STORE_AUTHORITY}/"),
            LeaseStore::External(url) => url.as_str().to_owned(),
        }
    }
}

/// The base URL of an external lease store: `http` or `https`, a host, no credentials, no
/// query, and a path ending in `/` (the component appends keys to it as they are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreUrl {
    text: String,
    https: bool,
    host: String,
    port: u16,
}

impl StoreUrl {
    /// Checks a `--lease-store` value; an absent path is `/`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("not a URL: {text:?} ({e})"))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("not an http:// or https:// URL: {text:?}")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("no host in {text:?}"))?;
        // Credentials in the URL would be printed at start-up and handed to the component.
        if authority.as_str().contains('@') {
            return Err("credentials in the lease store URL are not supported".to_owned());
        }
        if uri.query().is_some() {
            return Err(format!("a base URL has no query: {text:?}"));
        }
        if !uri.path().ends_with('/') {
            return Err(format!(
                "keys are appended to the base URL, so its path must end with /: {text:?}"
            ));
        }
        let scheme = if https { "https" } else { "http" };
        Ok(StoreUrl {
            text: format!("{scheme}://{authority}{}", uri.path()),
            https,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `uri` goes to the store's scheme, host and port (any path: sending a
    /// neighbour of the store past the cache costs a cache miss; sending a store request
    /// through it would cost correctness).
    fn serves(&self, uri: &Uri) -> bool {
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            _ => return false,
        };
        let Some(authority) = uri.authority() else {
            return false;
        };
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        https == self.https
            && port == self.port
            && authority.host().eq_ignore_ascii_case(&self.host)
    }
}

impl Services {
    async fn send(
        &self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Response<WasiBody>, Error> {
        // The request body is read before anything answers. The component writes it while it
        // waits for the answer, and an answer that came first would drop the body's receiving
        // end: the component's write of even an empty body then fails ("connection reset"),
        // and with it the whole request. One byte over the limit is enough to refuse a body.
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_REQUEST_BODY_BYTES + 1)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Ok(answer(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    Bytes::new(),
                    None,
                ));
            }
        };
        if body.len() > MAX_REQUEST_BODY_BYTES {
            return Ok(answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                Bytes::new(),
                None,
            ));
        }
        let internal = parts.uri.authority().map(|a| a.host().to_ascii_lowercase());
        match (internal.as_deref(), &self.store) {
            (Some(ASSETS_AUTHORITY), _) => Ok(self.asset(&parts).await),
            (Some(STORE_AUTHORITY), LeaseStore::InProcess(store)) => {
                Ok(stored(store, &parts, body))
            }
            (_, LeaseStore::External(url)) if url.serves(&parts.uri) => {
                cache::origin(Request::from_parts(parts, full(body)), options).await
            }
            _ => {
                self.cache
                    .send(Request::from_parts(parts, full(body)), options)
                    .await
            }
        }
    }

    async fn asset(&self, request: &Parts) -> Response<WasiBody> {
        let Some(assets) = &self.assets else {
            return answer(StatusCode::NOT_FOUND, None, Bytes::new(), None);
        };
        let name = request.uri.path().trim_start_matches('/');
        let found = assets.answer(&request.method, name).await;
        answer(found.status, None, found.body, Some(found.length))
    }
}

/// An answer of the in-process lease store.
fn stored(store: &Store, request: &Parts, body: Bytes) -> Response<WasiBody> {
    let Some(key) = percent_decoded(request.uri.path().trim_start_matches('/')) else {
        return answer(StatusCode::BAD_REQUEST, None, Bytes::new(), None);
    };
    let ttl = request
        .headers
        .get(store::TTL_HEADER)
        .and_then(|v| v.to_str().ok());
    let found = store.answer(&request.method, &key, ttl, body, Instant::now());
    let content_type = found.content_type();
    answer(found.status, content_type, found.body, None)
}

/// The hooks of one instance: its outgoing requests go to the shared [`Services`].
pub(crate) struct Outgoing {
    pub(crate) services: Arc<Services>,
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _request_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let services = Arc::clone(&self.services);
        Box::new(async move {
            let response = services.send(request, options).await?;
            // Connections are driven by their own tasks (see the cache), so there is nothing
            // left to wait for here.
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// An answer from an internal service.
fn answer(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
    length: Option<u64>,
) -> Response<WasiBody> {
    let length = length.unwrap_or(body.len() as u64);
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| -> Error { match never {} })
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, content_type);
    }
    response
}

/// A request body already read.
fn full(body: Bytes) -> WasiBody {
    Full::new(body)
        .map_err(|never| -> Error { match never {} })
        .boxed_unsync()
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); `None` for a bad escape or bytes that are not UTF-8.
pub(crate) fn percent_decoded(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_external_store_url_is_a_base_for_keys() {
        let url = StoreUrl::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/");
        let url = StoreUrl::parse("HTTPS://KV.example/ns/leases/").unwrap();
        assert_eq!(url.as_str(), "https://KV.example/ns/leases/");
        for bad in [
            "127.0.0.1:9000",
            "ftp://kv.example/",
            "http://kv.example/ns",
            "http://kv.example/?ns=1",
            "http://user:secret@kv.example/",
            "/ns/",
            "",
        ] {
            let refused = StoreUrl::parse(bad);
            assert!(refused.is_err(), "{bad}");
            assert!(!refused.unwrap_err().contains("secret"), "{bad}");
        }
    }

    #[test]
    fn every_request_to_the_external_stores_host_and_port_bypasses_the_cache() {
        let url = StoreUrl::parse("http://Store.example:9000/kv/").unwrap();
        let serves = |uri: &str| url.serves(&uri.parse().unwrap());
        assert!(serves("http://store.example:9000/kv/leases/e/0a"));
        assert!(serves("http://STORE.EXAMPLE:9000/elsewhere"));
        assert!(!serves("http://store.example/kv/leases/e/0a"));
        assert!(!serves("https://store.example:9000/kv/leases/e/0a"));
        assert!(!serves("http://origin.example:9000/kv/leases/e/0a"));
        let default_port = StoreUrl::parse("https://kv.example/").unwrap();
        assert!(default_port.serves(&"https://kv.example:443/k".parse().unwrap()));
        assert!(!default_port.serves(&"http://kv.example/k".parse().unwrap()));
    }

    #[test]
    fn store_keys_are_percent_decoded() {
        assert_eq!(
            percent_decoded("leases/final-2026/ab%3Acd").as_deref(),
            Some("leases/final-2026/ab:cd")
        );
        assert_eq!(percent_decoded("a%2Fb").as_deref(), Some("a/b"));
        for bad in ["a%", "a%2", "a%zz", "a%+1", "%ff"] {
            assert_eq!(percent_decoded(bad), None, "{bad}");
        }
    }
}
