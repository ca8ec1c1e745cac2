//! The edge component in wasmtime: compiled once, a fresh instance per request.
//!
//! Key decision: the component is compiled once at start-up (seconds in a debug build, whose
//! Cranelift is unoptimised; far less in a release build) and pre-linked (`ProxyPre`), so the
//! per-request cost is an instantiation from the pooling allocator plus the component's own
//! work. Instances live for one request, so each gets the environment current when it starts
//! (a reloaded health snapshot reaches the next request) and nothing leaks between viewers.
//!
//! The compiled code is kept in wasmtime's own cache, where the `wasmtime` CLI keeps it (the
//! user's cache directory, `~/.cache/wasmtime` on Linux), keyed by a hash of the component's
//! bytes, the wasmtime version and every compilation setting (fuel counting on or off): a
//! start with a component compiled before loads it in a fraction of a second instead of
//! compiling it again, which in a debug build takes 10 to 20 CPU-seconds. Loading compiled
//! code trusts it (`Component::deserialize` is unsafe, and this crate forbids unsafe code), so
//! the loading is wasmtime's, from a directory trusted as the user's own, as the `wasmtime`
//! CLI trusts it. A cache that cannot be set up (no home directory, a read-only one) is said
//! in the start-up line, and the component is compiled at every start as before.
//!
//! With a CPU budget ([`Host::new`]'s `fuel`, `--fuel-per-request`), wasmtime counts *fuel*:
//! about one unit per WebAssembly instruction executed, the same count on every machine and
//! every run for the same work, unlike time. Each instance starts with the budget; one that
//! spends it traps, and the request is answered 500 `cpu_budget_exceeded` if no response head
//! was sent yet (a trap mid-body cuts the body short). When an instance has finished (its
//! response body included) one line goes to stderr, `usher edge serve: fuel METHOD PATH USED`,
//! the path without its query (queries carry viewer tokens). Without a budget nothing is
//! counted: the instrumentation slows every instruction down. Epoch interruption stays on
//! either way: fuel decides when an instance must stop, epochs when it yields its thread.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use tokio::sync::{Semaphore, oneshot};
use usher_edge_core::reason::REASON_HEADER;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    Trap,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::config::{Environment, Variable};
use super::outgoing::{Outgoing, Services};
use super::{failure, log_error, say};
use crate::UsageError;

/// Instances alive at once. Each holds a pooled linear memory; a request beyond this waits for
/// a slot instead of failing, so the pool can never run dry.
const MAX_INSTANCES: u32 = 256;

/// The largest linear memory an instance may grow to. The component needs a few MiB (a
/// playlist is at most `playlist.max_bytes`, 16 MiB at the very most).
const MAX_MEMORY_BYTES: usize = 128 << 20;

/// How often running instances yield their thread (wasmtime epochs), so one long computation
/// cannot hold a worker thread while other requests wait.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The `x-usher-reason` of a request whose instance ran out of fuel. The host's own, not the
/// core's: no platform the core runs on counts fuel (they cap CPU time their own way).
pub(crate) const CPU_BUDGET_EXCEEDED: &str = "cpu_budget_exceeded";

/// The compiled component and what every instance gets.
pub(crate) struct Host {
    /// How the component's code was had (compiled, or loaded from the compile cache), for the
    /// start-up line.
    pub(crate) compiled: String,
    pre: ProxyPre<Instance>,
    env: Arc<Environment>,
    services: Arc<Services>,
    slots: Arc<Semaphore>,
    /// Each instance's fuel, when there is a CPU budget.
    fuel: Option<u64>,
}

impl Host {
    /// Compiles the component at `wasm`. With `fuel`, every instance may execute that much fuel
    /// (see the module docs); without it, nothing is counted.
    pub(crate) fn new(
        wasm: &Path,
        env: Arc<Environment>,
        services: Arc<Services>,
        fuel: Option<u64>,
    ) -> anyhow::Result<Self> {
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
            .epoch_interruption(true)
            .consume_fuel(fuel.is_some());
        let cache = Cache::new(CacheConfig::new());
        config.cache(cache.as_ref().ok().cloned());
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("configuring wasmtime")?;
        let component = Component::from_file(&engine, wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("loading the component {}", wasm.display()))
            .map_err(|e| UsageError::new(format!("{e:#}")))?;
        let compiled = match cache {
            Ok(cache) if cache.cache_hits() > 0 => {
                format!(
                    "loaded from the compile cache {}",
                    cache.directory().display()
                )
            }
            Ok(cache) => format!("compiled, kept in {}", cache.directory().display()),
            Err(error) => format!("compiled; no compile cache: {error:#}"),
        };
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
            compiled,
            pre,
            env,
            services,
            slots: Arc::new(Semaphore::new(MAX_INSTANCES as usize)),
            fuel,
        })
    }

    /// Answers one request, already prepared for the component, with a fresh instance. Never
    /// fails: a failure of the component or the host is a 500, logged.
    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Response<HyperOutgoingBody> {
        match self.run_instance(request).await {
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
        request: Request<Incoming>,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        // Taken before the request goes to the component; never the query, which carries
        // viewer tokens.
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        // The semaphore is never closed, so this only waits.
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .context("waiting for an instance slot")?;
        let instance = Instance::new(&self.env.current(), Arc::clone(&self.services));
        let mut store = Store::new(self.pre.engine(), instance);
        store.epoch_deadline_async_yield_and_update(1);
        let budget = self.fuel;
        if let Some(fuel) = budget {
            store
                .set_fuel(fuel)
                .map_err(anyhow::Error::from)
                .context("setting the instance's fuel")?;
        }
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
            let outcome = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            }
            .await;
            drop(slot);
            if let Some(budget) = budget {
                // Out of fuel, a store has none left; `get_fuel` fails only without fuel on.
                let used = budget.saturating_sub(store.get_fuel().unwrap_or(0));
                if outcome.as_ref().err().is_some_and(out_of_fuel) {
                    log_error(&format!(
                        "{CPU_BUDGET_EXCEEDED}: {method} {path} used its whole budget of \
                         {budget} fuel and was stopped"
                    ));
                }
                say(&fuel_line(&method, &path, used));
            }
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
                // Logged by the task already.
                Ok(Err(error)) if out_of_fuel(&error) => return Ok(cpu_budget_exceeded()),
                Ok(Err(error)) => anyhow::Error::from(error).context("the component trapped"),
                Err(error) => anyhow::Error::from(error).context("the instance task failed"),
            }),
        }
    }
}

/// Whether an instance stopped because it ran out of fuel.
fn out_of_fuel(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel)
}

/// The stderr line that says what one request's instance spent, for harnesses to parse:
/// `usher edge serve: fuel METHOD PATH USED`.
fn fuel_line(method: &hyper::Method, path: &str, used: u64) -> String {
    format!("usher edge serve: fuel {method} {path} {used}")
}

/// The answer to a request whose instance ran out of fuel before it answered.
fn cpu_budget_exceeded() -> Response<HyperOutgoingBody> {
    let mut response = failure(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request ran out of its CPU budget\n",
    );
    response
        .headers_mut()
        .insert(REASON_HEADER, HeaderValue::from_static(CPU_BUDGET_EXCEEDED));
    response
}

/// One request's store data: WASI (environment, clocks, randomness, stdio), WASI-HTTP, and the
/// hooks that route its outgoing requests to the host's services.
struct Instance {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outgoing: Outgoing,
}

impl Instance {
    fn new(env: &[Variable], services: Arc<Services>) -> Self {
        let wasi = WasiCtx::builder()
            .envs(env)
            .inherit_stdout()
            .inherit_stderr()
            .build();
        Instance {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outgoing: Outgoing { services },
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
            hooks: &mut self.outgoing,
        }
    }
}
