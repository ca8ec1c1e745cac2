//! A small HTTP/1.1 client for the controller: one request per connection, with its timings.
//!
//! The controller sends two kinds of requests: probes (the newest segment of a live event,
//! through each CDN) and snapshot publications (a `PUT` to an edge or a platform's API). Both
//! want the same thing from a client: a hard deadline, a cap on what is read, an error that
//! says which step failed, and for probes, honest timings. So [`send`] opens a fresh
//! connection for every request (TCP, then TLS for `https` with rustls, the ring provider and
//! the Mozilla roots of `webpki-roots`), sends the request over hyper's HTTP/1.1 connection,
//! reads the whole body, and reports [`Fetched::connect_ms`] (DNS, TCP and TLS),
//! [`Fetched::ttfb_ms`] (from the start to the response head, so it includes the connection,
//! as a viewer's first request does) and [`Fetched::total_ms`].
//!
//! What it does not do: pool or reuse connections (a pooled probe would measure a warm
//! connection no new viewer has), follow redirects (a probe reports them; a write API that
//! redirects is misconfigured), decompress, retry, speak HTTP/2, or use a proxy.

#![cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "temporary: `usher control run` (being written) is the caller; until it lands only tests call this"
    )
)]

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, HeaderValue, USER_AGENT};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::rt::{Read, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// How long a request may take and how much of the answer is read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The whole exchange: connecting, sending, the head and the body.
    pub(crate) timeout: Duration,
    /// The largest body read; a longer one is [`FetchError::BodyTooLarge`].
    pub(crate) max_body_bytes: usize,
}

/// A response, read whole, with the exchange's timings in milliseconds from its start.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The status.
    pub(crate) status: StatusCode,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body.
    pub(crate) body: Bytes,
    /// Resolving the host, the TCP handshake and, for `https`, the TLS handshake.
    #[allow(
        dead_code,
        reason = "measured for the probes, whose records do not carry it yet"
    )]
    pub(crate) connect_ms: f64,
    /// Until the response head arrived (connection included).
    pub(crate) ttfb_ms: f64,
    /// Until the last byte of the body arrived.
    pub(crate) total_ms: f64,
    /// The body's length in bytes.
    pub(crate) bytes: u64,
}

/// The step of an exchange that ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Resolving and connecting (TCP).
    Connect,
    /// The TLS handshake.
    Tls,
    /// Sending the request and waiting for the response head.
    Head,
    /// Reading the body.
    Body,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connecting",
            Phase::Tls => "the TLS handshake",
            Phase::Head => "waiting for the response head",
            Phase::Body => "reading the body",
        })
    }
}

/// Why a request got no complete answer. None holds request headers, so no token can appear.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The URL is not an absolute `http`/`https` URL with a host (or has user info).
    BadUrl(String),
    /// The host did not resolve, or refused or reset the connection.
    Connect {
        /// `host:port`.
        addr: String,
        /// The system's reason.
        error: std::io::Error,
    },
    /// The TLS handshake failed (certificate, protocol).
    Tls {
        /// The host.
        host: String,
        /// The reason.
        error: std::io::Error,
    },
    /// The deadline passed.
    Timeout {
        /// The step it passed in.
        phase: Phase,
        /// The deadline, in milliseconds.
        after_ms: u128,
    },
    /// The server broke HTTP/1.1 or closed the connection early.
    Protocol(hyper::Error),
    /// The body is longer than the limit.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::BadUrl(why) => write!(f, "bad URL: {why}"),
            FetchError::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            FetchError::Tls { host, error } => write!(f, "TLS with {host} failed: {error}"),
            FetchError::Timeout { phase, after_ms } => {
                write!(f, "timed out after {after_ms} ms {phase}")
            }
            FetchError::Protocol(error) => write!(f, "HTTP exchange failed: {error}"),
            FetchError::BodyTooLarge { limit } => {
                write!(f, "the response body is longer than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for FetchError {}

/// What `User-Agent` says when the request does not say it.
const AGENT: &str = concat!("usher-control/", env!("CARGO_PKG_VERSION"));

/// Sends `request` (an absolute `http` or `https` URL) on a new connection and reads the whole
/// answer, within `limits`.
pub(crate) async fn send<B: Into<Bytes>>(
    request: Request<B>,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + limits.timeout);
    let timeout = |phase| FetchError::Timeout {
        phase,
        after_ms: limits.timeout.as_millis(),
    };
    let (mut parts, body) = request.into_parts();
    let origin = Origin::of(&parts.uri)?;

    // RFC 9112, section 3.2: a request to an origin server carries the origin-form target and
    // the authority in Host.
    parts.uri = Uri::from(origin.path_and_query.clone());
    if !parts.headers.contains_key(HOST) {
        let host = HeaderValue::from_str(&origin.authority)
            .map_err(|_| FetchError::BadUrl("the host is not a valid header value".into()))?;
        parts.headers.insert(HOST, host);
    }
    if !parts.headers.contains_key(USER_AGENT) {
        parts
            .headers
            .insert(USER_AGENT, HeaderValue::from_static(AGENT));
    }
    let request = Request::from_parts(parts, Full::new(body.into()));

    let addr = format!("{}:{}", origin.connect_host, origin.port);
    let tcp = timeout_at(
        deadline,
        TcpStream::connect((origin.connect_host.as_str(), origin.port)),
    )
    .await
    .map_err(|_| timeout(Phase::Connect))?
    .map_err(|error| FetchError::Connect { addr, error })?;
    // Requests are one write each; Nagle would only hold the last segment back.
    let _ = tcp.set_nodelay(true);

    if origin.tls {
        let name = ServerName::try_from(origin.connect_host.clone())
            .map_err(|_| FetchError::BadUrl("the host is not a valid TLS server name".into()))?;
        let tls = timeout_at(
            deadline,
            TlsConnector::from(tls_config()).connect(name, tcp),
        )
        .await
        .map_err(|_| timeout(Phase::Tls))?
        .map_err(|error| FetchError::Tls {
            host: origin.connect_host.clone(),
            error,
        })?;
        exchange(TokioIo::new(tls), request, start, deadline, limits).await
    } else {
        exchange(TokioIo::new(tcp), request, start, deadline, limits).await
    }
}

/// Sends `request` over the connected `io` and reads the answer.
async fn exchange<I>(
    io: I,
    request: Request<Full<Bytes>>,
    start: Instant,
    deadline: tokio::time::Instant,
    limits: &Limits,
) -> Result<Fetched, FetchError>
where
    I: Read + Write + Unpin + Send + 'static,
{
    let connect_ms = millis(start.elapsed());
    let timeout = |phase| FetchError::Timeout {
        phase,
        after_ms: limits.timeout.as_millis(),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(FetchError::Protocol)?;
    // The connection is driven by its own task while this one sends and reads; dropping the
    // guard (on every return, and on a caller's cancellation) stops it and closes the socket.
    let _driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));

    let response = timeout_at(deadline, sender.send_request(request))
        .await
        .map_err(|_| timeout(Phase::Head))?
        .map_err(FetchError::Protocol)?;
    let ttfb_ms = millis(start.elapsed());
    let (parts, mut body) = response.into_parts();

    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(FetchError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    let mut read = BytesMut::new();
    while let Some(frame) = timeout_at(deadline, body.frame())
        .await
        .map_err(|_| timeout(Phase::Body))?
    {
        let frame = frame.map_err(FetchError::Protocol)?;
        if let Ok(data) = frame.into_data() {
            if read.len().saturating_add(data.len()) > limits.max_body_bytes {
                return Err(FetchError::BodyTooLarge {
                    limit: limits.max_body_bytes,
                });
            }
            read.extend_from_slice(&data);
        }
    }
    let total_ms = millis(start.elapsed());
    let body = read.freeze();
    Ok(Fetched {
        status: parts.status,
        headers: parts.headers,
        bytes: body.len() as u64,
        body,
        connect_ms,
        ttfb_ms,
        total_ms,
    })
}

/// Where a URL says to connect.
struct Origin {
    tls: bool,
    /// The host to resolve: without the brackets of an IPv6 literal.
    connect_host: String,
    port: u16,
    /// `host[:port]` as written, for `Host`.
    authority: String,
    path_and_query: PathAndQuery,
}

impl Origin {
    fn of(uri: &Uri) -> Result<Self, FetchError> {
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => {
                return Err(FetchError::BadUrl(format!(
                    "not an absolute http(s) URL: {uri}"
                )));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| FetchError::BadUrl(format!("no host: {uri}")))?;
        if authority.as_str().contains('@') {
            // Credentials in a URL would be sent nowhere and logged everywhere.
            return Err(FetchError::BadUrl(
                "user info in the URL is not supported".into(),
            ));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(FetchError::BadUrl(format!("no host: {uri}")));
        }
        Ok(Origin {
            tls,
            connect_host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path_and_query: uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        })
    }
}

/// The TLS client configuration, built once: TLS 1.2 and 1.3 with the ring provider, Mozilla's
/// roots, and ALPN offering only HTTP/1.1 (the only version this client speaks).
fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = match ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder,
            // The ring provider supports the default versions; this is unreachable, and the
            // fallback (the process-wide default provider) is as safe.
            Err(_) => ClientConfig::builder(),
        };
        let mut config = builder.with_root_certificates(roots).with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }))
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests"
    )]

    use std::net::SocketAddr;

    use http::{Method, Response};
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;

    use super::super::local_server::LocalServer;
    use super::*;

    fn limits(timeout_ms: u64, max_body_bytes: usize) -> Limits {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            max_body_bytes,
        }
    }

    fn get(url: &str) -> Request<Bytes> {
        Request::builder().uri(url).body(Bytes::new()).unwrap()
    }

    #[tokio::test]
    async fn a_request_reaches_the_server_in_origin_form_with_host_and_the_body() {
        let server = LocalServer::start(|request| async move {
            let summary = format!(
                "{} {} host={} agent={} body={}",
                request.method(),
                request.uri(),
                request.headers()[HOST].to_str().unwrap(),
                request.headers()[USER_AGENT].to_str().unwrap(),
                String::from_utf8_lossy(request.body()),
            );
            Response::builder()
                .status(201)
                .header("x-seen", "yes")
                .body(Full::new(Bytes::from(summary)))
                .unwrap()
        })
        .await;
        let request = Request::builder()
            .method(Method::PUT)
            .uri(server.url("/a/b%20c?x=1"))
            .body(b"payload".to_vec())
            .unwrap();
        let fetched = send(request, &limits(5000, 1 << 16)).await.unwrap();
        assert_eq!(fetched.status, StatusCode::CREATED);
        assert_eq!(fetched.headers["x-seen"], "yes");
        let expected = format!(
            "PUT /a/b%20c?x=1 host={} agent={AGENT} body=payload",
            server.addr()
        );
        assert_eq!(fetched.body, expected.as_bytes());
        assert_eq!(fetched.bytes, expected.len() as u64);
        assert!(fetched.connect_ms <= fetched.ttfb_ms && fetched.ttfb_ms <= fetched.total_ms);
    }

    #[tokio::test]
    async fn ttfb_includes_the_time_the_server_takes_to_answer() {
        let server = LocalServer::start(|_| async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Response::new(Full::new(Bytes::from_static(b"late")))
        })
        .await;
        let fetched = send(get(&server.url("/")), &limits(5000, 1024))
            .await
            .unwrap();
        assert!(fetched.ttfb_ms >= 250.0, "ttfb {} ms", fetched.ttfb_ms);
        assert!(fetched.connect_ms < fetched.ttfb_ms);
        assert!(fetched.total_ms >= fetched.ttfb_ms);
        assert_eq!(fetched.body, "late");
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_in_time_is_a_head_timeout() {
        let server = LocalServer::start(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Response::new(Full::new(Bytes::new()))
        })
        .await;
        let error = send(get(&server.url("/")), &limits(200, 1024))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::Timeout {
                    phase: Phase::Head,
                    after_ms: 200
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "timed out after 200 ms waiting for the response head"
        );
    }

    /// A server on 127.0.0.1 that reads the request, writes `answer` as it is, then holds the
    /// connection open. Stopped when the returned task is aborted.
    async fn raw_server(answer: Vec<u8>) -> (SocketAddr, AbortOnDrop) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
            stream.write_all(&answer).await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        (addr, AbortOnDrop(task))
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_a_body_timeout() {
        let (addr, _server) =
            raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf!".to_vec()).await;
        let error = send(get(&format!("http://{addr}/")), &limits(300, 1024))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::Timeout {
                    phase: Phase::Body,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_declared_body_over_the_limit_is_refused_before_reading_it() {
        let server = LocalServer::start(|_| async {
            Response::new(Full::new(Bytes::from(vec![b'x'; 5000])))
        })
        .await;
        let error = send(get(&server.url("/")), &limits(5000, 1000))
            .await
            .unwrap_err();
        assert!(
            matches!(error, FetchError::BodyTooLarge { limit: 1000 }),
            "{error:?}"
        );
        let fits = send(get(&server.url("/")), &limits(5000, 5000))
            .await
            .unwrap();
        assert_eq!(fits.bytes, 5000);
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_refused_while_reading() {
        // No Content-Length: only reading finds the length (600 + 600 bytes against 1000).
        let chunk = format!("258\r\n{}\r\n", "z".repeat(600));
        let answer =
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n");
        let (addr, _server) = raw_server(answer.clone().into_bytes()).await;
        let error = send(get(&format!("http://{addr}/")), &limits(5000, 1000))
            .await
            .unwrap_err();
        assert!(
            matches!(error, FetchError::BodyTooLarge { limit: 1000 }),
            "{error:?}"
        );
        let (addr, _server) = raw_server(answer.into_bytes()).await;
        let fits = send(get(&format!("http://{addr}/")), &limits(5000, 1200))
            .await
            .unwrap();
        assert_eq!(fits.body, "z".repeat(1200));
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        // A port that was just free: bind, note, close.
        let addr: SocketAddr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let error = send(get(&format!("http://{addr}/")), &limits(2000, 1024))
            .await
            .unwrap_err();
        assert!(matches!(&error, FetchError::Connect { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot connect to {addr}: ")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn urls_it_cannot_use_are_refused_before_connecting() {
        for url in ["/relative", "ftp://host/x", "http://user:secret@127.0.0.1/"] {
            let error = send(get(url), &limits(1000, 1024)).await.unwrap_err();
            assert!(matches!(error, FetchError::BadUrl(_)), "{url}: {error:?}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_tls_fails_the_handshake_as_tls() {
        // A plain HTTP server behind an https URL: the handshake, not the exchange, fails.
        let server = LocalServer::start(|_| async { Response::new(Full::new(Bytes::new())) }).await;
        let url = format!("https://{}/", server.addr());
        let error = send(get(&url), &limits(3000, 1024)).await.unwrap_err();
        assert!(matches!(error, FetchError::Tls { .. }), "{error:?}");
    }
}
