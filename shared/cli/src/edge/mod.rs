//! `usher edge serve`: a WASI-HTTP host for the edge component, on a local address.
//!
//! It runs the same artifact a WASI-HTTP platform would (`usher-edge-wasi-http.wasm`, built for
//! `wasm32-wasip2`) behind an HTTP/1.1 server, so the edge can be tried, demonstrated and
//! tested end to end on one machine. Per request it makes a fresh instance of the component
//! (instances come from wasmtime's pooling allocator, so that costs microseconds), hands it the
//! request with `x-usher-client-ip` set from the TCP peer, and streams back what the component
//! answers. The component's outgoing requests go straight to the network: to the origin.
//!
//! What the host owes the component (see the component's crate docs) and how it pays:
//! - the configuration: the files of `--config DIR` (`events.json`, `pathways.json`,
//!   `settings.json`, `ticket-keys.json`, `session-key.txt`, optionally `health.json`), read
//!   once at start-up and passed as `USHER_*` environment variables. A missing file stops the
//!   start (exit code 2); a file the edge core's parser refuses is reported at start-up and
//!   served anyway, so the component answers 503 `config_error` as it would on any platform;
//! - the client's address: every client-sent `x-usher-*` header is removed, then
//!   `x-usher-client-ip` is set from the connection (no geolocation, so no country or ASN);
//! - the logs: the component's stderr (the access log, JSON lines) and stdout (QoE events, JSON
//!   lines) are this process's.
//!
//! Non-goals, for now: an HTTP cache in front of the origin (phase 2: until then every playlist
//! and segment request reaches the origin), TLS, HTTP/2, reloading the configuration or the
//! health snapshot while running (restart instead), and defending against a hostile component
//! (it is our own; memory is capped and long computations yield, nothing more).
//!
//! Key decision: the component is compiled once at start-up (seconds in a debug build, whose
//! Cranelift is unoptimised; far less in a release build) and pre-linked (`ProxyPre`), so the
//! per-request cost is an instantiation from the pool plus the component's own work.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use usher_edge_core::config::{ConfigParts, EdgeConfig};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::UsageError;

/// The edge, run locally.
#[derive(Subcommand, Debug)]
pub(crate) enum EdgeCommand {
    /// Serve the WASI-HTTP edge component over HTTP/1.1, a fresh instance per request.
    Serve(ServeArgs),
}

/// `usher edge serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The edge component: target/wasm32-wasip2/release/usher-edge-wasi-http.wasm.
    #[arg(long, value_name = "FILE")]
    wasm: PathBuf,
    /// The configuration directory: events.json, pathways.json, settings.json,
    /// ticket-keys.json, session-key.txt, and optionally health.json.
    #[arg(long, value_name = "DIR")]
    config: PathBuf,
    /// The address to listen on. Port 0 picks a free port; the address bound is printed on
    /// stderr.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

/// The configuration files, and the variables the component reads them from. The names are the
/// component's (`edge/wasi-http/src/config.rs`); the end-to-end test proves they agree.
const CONFIG_FILES: [(&str, &str); 5] = [
    ("events.json", "USHER_EVENTS"),
    ("pathways.json", "USHER_PATHWAYS"),
    ("settings.json", "USHER_SETTINGS"),
    ("ticket-keys.json", "USHER_TICKET_KEYS"),
    ("session-key.txt", "USHER_SESSION_KEY"),
];

/// The optional health snapshot file and its variable.
const HEALTH_FILE: (&str, &str) = ("health.json", "USHER_HEALTH");

/// Request headers only the host may set: the component trusts them.
const HOST_HEADER_PREFIX: &str = "x-usher-";

/// The client's address, for the component.
const CLIENT_IP: &str = "x-usher-client-ip";

/// Instances alive at once. Each holds a pooled linear memory; a request beyond this waits for
/// a slot instead of failing, so the pool can never run dry.
const MAX_INSTANCES: u32 = 256;

/// The largest linear memory an instance may grow to. The component needs a few MiB (a
/// playlist is at most `playlist.max_bytes`, 16 MiB at the very most).
const MAX_MEMORY_BYTES: usize = 128 << 20;

/// How often running instances yield their thread (wasmtime epochs), so one long computation
/// cannot hold a worker thread while other requests wait.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs an `usher edge` command.
pub(crate) fn run(command: EdgeCommand) -> anyhow::Result<ExitCode> {
    match command {
        EdgeCommand::Serve(args) => serve(&args),
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let env = read_config(&args.config)?;
    let started = Instant::now();
    let host = Host::new(&args.wasm, env)?;
    let compiled = started.elapsed();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| UsageError::new(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener.local_addr().context("reading the bound address")?;
        say(&format!(
            "usher edge serve: listening on http://{address} (component ready in {:.2} s)",
            compiled.as_secs_f64()
        ));
        accept(listener, Arc::new(host)).await;
        anyhow::Ok(())
    });
    // Requests still running after the grace period are abandoned, not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    served?;
    say("usher edge serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Reads the configuration directory into the component's variables. A missing file is a
/// usage error. The contents are checked with the parser the component uses, and a refusal is
/// said at once, but not fatal: the component then answers 503 `config_error`, as it would on
/// a platform whose store holds a bad document, and this host stays faithful to that.
fn read_config(dir: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read_to_string(&path)
            .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))
    };
    let mut env = Vec::new();
    for (file, name) in CONFIG_FILES {
        env.push((name, read(file)?));
    }
    let part = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    let checked = EdgeConfig::from_parts(&ConfigParts {
        events: part("USHER_EVENTS"),
        pathways: part("USHER_PATHWAYS"),
        settings: part("USHER_SETTINGS"),
        ticket_keys: part("USHER_TICKET_KEYS"),
        session_key: part("USHER_SESSION_KEY"),
    });
    if let Err(error) = checked {
        say(&format!(
            "usher edge serve: warning: {error}; every request will answer 503 config_error"
        ));
    }
    let (file, name) = HEALTH_FILE;
    if dir.join(file).exists() {
        env.push((name, read(file)?));
    }
    Ok(env)
}

/// The compiled component and what every instance gets.
struct Host {
    pre: ProxyPre<Instance>,
    env: Vec<(&'static str, String)>,
    slots: Arc<Semaphore>,
}

impl Host {
    fn new(wasm: &Path, env: Vec<(&'static str, String)>) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        // A Rust wasip2 component is one core module plus a few small shim modules with a
        // table each; the totals leave room for that at every slot.
        pool.total_component_instances(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES * 8)
            .total_memories(MAX_INSTANCES * 2)
            .total_tables(MAX_INSTANCES * 8)
            .total_stacks(MAX_INSTANCES)
            .max_memory_size(MAX_MEMORY_BYTES);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true);
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("configuring wasmtime")?;
        let component = Component::from_file(&engine, wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("loading the component {}", wasm.display()))
            .map_err(|e| UsageError::new(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI-HTTP")?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(|e| UsageError::new(format!("not a wasi:http/proxy component: {e:#}")))?;
        let ticker = engine.weak();
        std::thread::spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
        Ok(Host {
            pre,
            env,
            slots: Arc::new(Semaphore::new(MAX_INSTANCES as usize)),
        })
    }

    /// Answers one request with a fresh instance. Never fails: a failure of the component or
    /// the host is a 500, logged.
    async fn handle(
        &self,
        peer: SocketAddr,
        request: Request<Incoming>,
    ) -> Response<HyperOutgoingBody> {
        match self.run_instance(peer, request).await {
            Ok(response) => response,
            Err(error) => {
                log_error(&format!("{error:#}"));
                failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the edge component failed\n",
                )
            }
        }
    }

    async fn run_instance(
        &self,
        peer: SocketAddr,
        request: Request<Incoming>,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let request = with_client_ip(request, peer);
        // The semaphore is never closed, so this only waits.
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .context("waiting for an instance slot")?;
        let mut store = Store::new(self.pre.engine(), Instance::new(&self.env));
        store.epoch_deadline_async_yield_and_update(1);
        let (sender, receiver) = oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        // The instance runs in its own task: it goes on streaming the body after the head was
        // handed back, and keeps its pool slot until it is done.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            let outcome = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await;
            drop(slot);
            outcome
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow::anyhow!(
                "the component answered with error {code:?}"
            )),
            // The component returned or trapped without answering: the task says which.
            Err(_) => Err(match task.await {
                Ok(Ok(())) => anyhow::anyhow!("the component did not answer"),
                Ok(Err(error)) => anyhow::Error::from(error).context("the component trapped"),
                Err(error) => anyhow::Error::from(error).context("the instance task failed"),
            }),
        }
    }
}

/// One request's store data: WASI (environment, clocks, randomness, stdio) and WASI-HTTP.
struct Instance {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl Instance {
    fn new(env: &[(&'static str, String)]) -> Self {
        let wasi = WasiCtx::builder()
            .envs(env)
            .inherit_stdout()
            .inherit_stderr()
            .build();
        Instance {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for Instance {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Instance {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            // The default hooks: outgoing requests go to the network as asked.
            hooks: Default::default(),
        }
    }
}

/// Accepts connections until Ctrl-C or SIGTERM, then lets in-flight requests finish (for at
/// most [`SHUTDOWN_GRACE`]).
async fn accept(listener: TcpListener, host: Arc<Host>) {
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
        let service = service_fn(move |request| {
            let host = Arc::clone(&host);
            async move { Ok::<_, Infallible>(host.handle(peer, request).await) }
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
async fn shutdown_signal() {
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

/// The request as the component gets it: no client-sent `x-usher-*` header, and the client's
/// address from the connection.
fn with_client_ip<B>(mut request: Request<B>, peer: SocketAddr) -> Request<B> {
    let headers = request.headers_mut();
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

/// One line on stderr. A closed stderr must not stop the server.
fn say(line: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_sent_host_headers_are_replaced_by_the_peer_address() {
        let request = Request::builder()
            .uri("/healthz")
            .header("x-usher-client-ip", "203.0.113.66")
            .header("X-Usher-Country", "ZZ")
            .header("x-usher-asn", "1")
            .header("x-other", "kept")
            .body(())
            .unwrap();
        let peer: SocketAddr = "[::ffff:198.51.100.7]:50000".parse().unwrap();
        let request = with_client_ip(request, peer);
        let headers = request.headers();
        assert_eq!(headers["x-usher-client-ip"], "198.51.100.7");
        assert!(headers.get("x-usher-country").is_none());
        assert!(headers.get("x-usher-asn").is_none());
        assert_eq!(headers["x-other"], "kept");
    }

    #[test]
    fn the_variable_names_are_the_components() {
        let component = include_str!("../../../edge/wasi-http/src/config.rs");
        for (_, name) in CONFIG_FILES.iter().chain([&HEALTH_FILE]) {
            assert!(component.contains(&format!("\"{name}\"")), "{name}");
        }
    }
}
