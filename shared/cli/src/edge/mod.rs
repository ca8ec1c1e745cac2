//! `usher edge serve`: a WASI-HTTP host for the edge component, on a local address, with the
//! services a CDN platform gives the edge elsewhere: an HTTP cache in front of the origins, a
//! key-value store for stream leases, and a static asset store.
//!
//! It runs the same artifact a WASI-HTTP platform would (`usher-edge-wasi-http.wasm`, built for
//! `wasm32-wasip2`) behind an HTTP/1.1 server, so the edge can be tried, demonstrated and
//! tested end to end on one machine, and so the local live event has a real edge. Per request
//! it makes a fresh instance of the component ([`component`]), hands it the request with the
//! client's facts set, and streams back what the component answers.
//!
//! What the host owes the component (see the component's crate docs) and how it pays:
//! - the configuration ([`config`]): the files of `--config DIR` (`events.json`,
//!   `pathways.json`, `settings.json`, `ticket-keys.json`, `session-key.txt`, optionally
//!   `content-keys.json`, `health-keys.json` and `health.json`, the controller's signed
//!   snapshot), passed as `USHER_*` environment variables. A missing file stops the start
//!   (exit code 2); a file the edge core's parser refuses is reported at start-up and served
//!   anyway, so the component answers 503 `config_error` as it would on any platform. The
//!   health snapshot is re-read when `health.json` changes;
//! - the client's facts: every client-sent `x-usher-*` header is removed, then
//!   `x-usher-client-ip` is set from the connection, and `x-usher-country` and `x-usher-asn`
//!   from the headers named by `--geo-country-header` and `--geo-asn-header`, which a fronting
//!   load balancer sets (without those options there is no geolocation: a client could forge
//!   any header);
//! - its outgoing requests ([`outgoing`]): origins through the HTTP cache ([`cache`],
//!   [`freshness`]); the asset store ([`assets`]) and the lease store ([`store`]) answered
//!   in-process at internal addresses the component gets as `USHER_ASSETS_URL` and
//!   `USHER_STORE_URL`. With `--lease-store URL` the component gets that URL instead, and its
//!   lease reads and writes go to that service over the network, past the cache: several
//!   `usher edge serve` nodes sharing one store count a ticket's screens across all of them;
//! - the logs: the component's stderr (the access log, JSON lines) and stdout (QoE events, JSON
//!   lines) are this process's.
//!
//! With `--fuel-per-request N` each instance gets a deterministic CPU budget in wasmtime fuel
//! ([`component`]): a request that spends it is answered 500 `cpu_budget_exceeded`, and every
//! request's consumption is a stderr line, `usher edge serve: fuel METHOD PATH USED`, which a
//! conformance harness can compare across runs and machines (time cannot be).
//!
//! Non-goals: TLS, HTTP/2, persistence (a restart empties the cache and forgets leases, unless
//! an external lease store keeps them), reloading anything but the health snapshot (restart
//! instead), and defending against a hostile component (it is our own; memory is capped, long
//! computations yield, and a fuel budget can stop them, nothing more).

mod assets;
mod cache;
mod component;
mod config;
mod freshness;
pub(crate) mod outgoing;
pub(crate) mod store;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt as _, Full};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::{UsageError, say};
use cache::{Cache, Limits};
use component::Host;
use config::Environment;
use outgoing::{ASSETS_AUTHORITY, LeaseStore, Services, StoreUrl};
use store::{Store, StoreLimits};

/// The edge, run locally.
#[derive(Subcommand, Debug)]
pub(crate) enum EdgeCommand {
    /// Serve the WASI-HTTP edge component over HTTP/1.1, a fresh instance per request, with an
    /// HTTP cache, a lease store and an asset store.
    Serve(ServeArgs),
}

/// `usher edge serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The edge component: target/wasm32-wasip2/release/usher-edge-wasi-http.wasm.
    #[arg(long, value_name = "FILE")]
    wasm: PathBuf,
    /// The configuration directory: events.json, pathways.json, settings.json,
    /// ticket-keys.json, session-key.txt, and optionally content-keys.json (when an event is
    /// encrypted), health-keys.json (the keys health snapshots are signed with) and health.json
    /// (the signed snapshot, re-read when it changes).
    #[arg(long, value_name = "DIR")]
    config: PathBuf,
    /// The address to listen on. Port 0 picks a free port; the address bound is printed on
    /// stderr.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The static assets served under /assets/, laid out by asset name (`make edge-assets`
    /// builds target/edge-assets). Without it, every asset answers 404 not_found.
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// The HTTP cache's size in bytes, for origin responses the component fetches. 0 turns the
    /// cache off.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    cache_size: usize,
    /// The largest response body the cache stores, bytes; larger ones stream through.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    cache_max_object: usize,
    /// A request header, set by a trusted load balancer in front, with the client's ISO 3166-1
    /// alpha-2 country. Without it the edge has no country: clients could forge any header.
    #[arg(long, value_name = "NAME", value_parser = header_name)]
    geo_country_header: Option<HeaderName>,
    /// A request header, set by a trusted load balancer in front, with the client's autonomous
    /// system number.
    #[arg(long, value_name = "NAME", value_parser = header_name)]
    geo_asn_header: Option<HeaderName>,
    /// A CPU budget per request, in wasmtime fuel (about one unit per WebAssembly instruction;
    /// the same count for the same work on every run and machine). A request that spends it is
    /// answered 500 cpu_budget_exceeded. Each request's consumption is printed on stderr as
    /// `usher edge serve: fuel METHOD PATH USED`. Without it, nothing is counted (counting
    /// costs speed).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    fuel_per_request: Option<u64>,
    /// An external lease store (e.g. http://127.0.0.1:9000/), speaking the store API of
    /// docs/edge.md, instead of the in-process one: edges sharing one store count a ticket's
    /// screens across all of them. Its requests never pass through the HTTP cache.
    #[arg(long, value_name = "URL", value_parser = StoreUrl::parse)]
    lease_store: Option<StoreUrl>,
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("not a header name: {name:?}"))
}

/// Request headers only the host may set: the component trusts them.
const HOST_HEADER_PREFIX: &str = "x-usher-";

/// The client's address, for the component.
const CLIENT_IP: &str = "x-usher-client-ip";

/// The client's country, for the component.
const COUNTRY: &str = "x-usher-country";

/// The client's autonomous system number, for the component.
const ASN: &str = "x-usher-asn";

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs an `usher edge` command.
pub(crate) fn run(command: EdgeCommand) -> anyhow::Result<ExitCode> {
    match command {
        EdgeCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let health_seen = config::health_stamp(&args.config);
    let (mut fixed, health) = config::read(&args.config)?;
    let assets = match &args.assets {
        Some(dir) => {
            let assets = assets::Assets::open(dir).map_err(|e| {
                UsageError::new(format!("cannot serve assets from {}: {e}", dir.display()))
            })?;
            fixed.push((config::ASSETS_URL, format!("http://{ASSETS_AUTHORITY}/")));
            Some(assets)
        }
        None => None,
    };
    let store = match &args.lease_store {
        Some(url) => LeaseStore::External(url.clone()),
        None => LeaseStore::InProcess(Store::new(StoreLimits::default())),
    };
    fixed.push((config::STORE_URL, store.base_url()));
    let mut facts = Vec::new();
    if let Some(fuel) = args.fuel_per_request {
        facts.push(format!("fuel per request: {fuel}"));
    }
    if let Some(url) = &args.lease_store {
        facts.push(format!("lease store: {}", url.as_str()));
    }
    let env = Arc::new(Environment::new(fixed, health));
    let services = Arc::new(Services {
        assets,
        store,
        cache: Arc::new(Cache::new(Limits {
            capacity: args.cache_size,
            max_object: args.cache_max_object,
        })),
    });
    let started = Instant::now();
    let host = Host::new(
        &args.wasm,
        Arc::clone(&env),
        services,
        args.fuel_per_request,
    )?;
    facts.insert(
        0,
        format!(
            "component ready in {:.2} s, {}",
            started.elapsed().as_secs_f64(),
            host.compiled
        ),
    );
    let geo = Geo {
        country: args.geo_country_header.clone(),
        asn: args.geo_asn_header.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| UsageError::new(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener.local_addr().context("reading the bound address")?;
        tokio::spawn(config::watch_health(env, args.config.clone(), health_seen));
        say(&format!(
            "usher edge serve: listening on http://{address} ({})",
            facts.join("; ")
        ));
        accept(listener, Arc::new(host), Arc::new(geo)).await;
        anyhow::Ok(())
    });
    // Requests still running after the grace period are abandoned, not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    served?;
    say("usher edge serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Where the client's location comes from: request headers a trusted load balancer sets.
#[derive(Clone, Debug, Default)]
struct Geo {
    country: Option<HeaderName>,
    asn: Option<HeaderName>,
}

/// Accepts connections until Ctrl-C or SIGTERM, then lets in-flight requests finish (for at
/// most [`SHUTDOWN_GRACE`]).
async fn accept(listener: TcpListener, host: Arc<Host>, geo: Arc<Geo>) {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A failed accept (out of descriptors, a reset before accept) concerns one
                // connection; the listener goes on.
                Err(error) => {
                    log_error(&format!("accept: {error}"));
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let host = Arc::clone(&host);
        let geo = Arc::clone(&geo);
        let service = service_fn(move |request| {
            let host = Arc::clone(&host);
            let request = for_component(request, peer, &geo);
            async move { Ok::<_, Infallible>(host.handle(request).await) }
        });
        let connection = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up mid-request is its own business.
            let _ = connection.await;
        });
    }
    drop(listener);
    say("usher edge serve: shutting down");
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Resolves on Ctrl-C, or on SIGTERM where there are signals.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The request as the component gets it: no client-sent `x-usher-*` header; the client's
/// address from the connection; its country and ASN from the trusted headers `geo` names, if
/// any (the component checks their form).
fn for_component<B>(mut request: Request<B>, peer: SocketAddr, geo: &Geo) -> Request<B> {
    let headers = request.headers_mut();
    let trusted = |name: &Option<HeaderName>| name.as_ref().and_then(|n| headers.get(n)).cloned();
    let country = trusted(&geo.country);
    let asn = trusted(&geo.asn);
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(HOST_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; the component and the
    // tokens want a.b.c.d.
    let ip = peer.ip().to_canonical().to_string();
    if let Ok(value) = HeaderValue::from_str(&ip) {
        headers.insert(CLIENT_IP, value);
    }
    if let Some(country) = country {
        headers.insert(COUNTRY, country);
    }
    if let Some(asn) = asn {
        headers.insert(ASN, asn);
    }
    request
}

/// A plain-text answer from the host itself.
fn failure(status: StatusCode, message: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(message.as_bytes()))
        .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A host error, as a JSON line on stderr beside the component's access lines.
fn log_error(error: &str) {
    say(&serde_json::json!({ "host_error": error }).to_string());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An empty directory of its own for a unit test, in the system temp dir.
    pub(crate) fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("usher-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri("/healthz");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn client_sent_host_headers_are_replaced_by_the_peer_address() {
        let request = request(&[
            ("x-usher-client-ip", "203.0.113.66"),
            ("X-Usher-Country", "ZZ"),
            ("x-usher-asn", "1"),
            ("x-other", "kept"),
        ]);
        let peer: SocketAddr = "[::ffff:198.51.100.7]:50000".parse().unwrap();
        let request = for_component(request, peer, &Geo::default());
        let headers = request.headers();
        assert_eq!(headers["x-usher-client-ip"], "198.51.100.7");
        assert!(headers.get("x-usher-country").is_none());
        assert!(headers.get("x-usher-asn").is_none());
        assert_eq!(headers["x-other"], "kept");
    }

    #[test]
    fn geolocation_comes_only_from_the_trusted_headers_named() {
        let geo = Geo {
            country: Some(HeaderName::from_static("x-lb-country")),
            asn: Some(HeaderName::from_static("x-lb-asn")),
        };
        let peer: SocketAddr = "198.51.100.7:50000".parse().unwrap();
        let sent = request(&[
            ("x-lb-country", "DE"),
            ("x-lb-asn", "3320"),
            ("x-usher-country", "ZZ"),
        ]);
        let headers = for_component(sent, peer, &geo).headers().clone();
        assert_eq!(headers["x-usher-country"], "DE");
        assert_eq!(headers["x-usher-asn"], "3320");
        // Without the load balancer's header, a client's own claim does not count.
        let forged = request(&[("x-usher-country", "ZZ")]);
        let headers = for_component(forged, peer, &geo).headers().clone();
        assert!(headers.get("x-usher-country").is_none());
        assert!(headers.get("x-usher-asn").is_none());
        // And a load balancer header may itself be in the host's namespace.
        let geo = Geo {
            country: Some(HeaderName::from_static("x-usher-country")),
            asn: None,
        };
        let sent = request(&[("x-usher-country", "FR")]);
        let headers = for_component(sent, peer, &geo).headers().clone();
        assert_eq!(headers["x-usher-country"], "FR");
    }
}
