//! `usher dev`: a whole live event on one machine, from one command.
//!
//! It starts and supervises the real components, wired as they are in production
//! ([`topology`] draws it): two origin nodes in two zones encoding the same channel hot
//! (`usher origin`), an origin shield failing over between them and three CDNs, each an nginx
//! cache (`proxy_cache`) behind the edge component (`usher edge serve`, the production
//! WASI-HTTP artifact) and a fault injector ([`fault`]); an entry edge that serves the player
//! page and the multivariant playlists; and the steering controller with its dashboard
//! (`usher control run`), which probes the CDNs through their injectors, follows the edges' QoE
//! lines and publishes the signed health snapshot every edge reads. It prints a watch URL with a
//! freshly minted ticket, the dashboard's URL and how to inject faults, and stops everything on
//! Ctrl-C.
//!
//! `usher dev fault CDN …` changes a CDN's faults while the event runs, and `usher dev ticket`
//! mints more tickets (or bad ones, for trying the refusals): both find the running event
//! through `DIR/dev.json`, which the event writes once it is on the air.
//!
//! What it is not: a deployment. Every part listens on 127.0.0.1; the keys are random per run
//! and kept in the data directory; nothing is persisted across runs (the data directory is
//! recreated). The decision that shapes it: one process per component, started from the same
//! binaries and artifacts as production, so what works here is what ships; only the fault
//! injectors and the shared lease store (both test equipment) live in this process.

mod api;
mod fault;
mod supervise;
mod topology;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use usher_shared::token::Keyring;
use usher_shared::token::jwt::{self, Claims};

use crate::edge::store::{Store, StoreLimits};
use crate::{UsageError, now_ms, print_line, say};
use fault::{Change, Injector};
use supervise::{Running, Spec, Supervisor};
use topology::{CDNS, KEY_ID};

/// The local live event.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DevArgs {
    #[command(subcommand)]
    command: Option<DevCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum DevCommand {
    /// Change one CDN's faults while the event runs: outage, restore, clear, latency MS,
    /// errors PERCENT, bandwidth KBIT_PER_SEC.
    Fault(FaultArgs),
    /// Mint a ticket for the running event and print its watch URL.
    Ticket(TicketArgs),
}

/// `usher dev`: start the event.
#[derive(Args, Debug)]
struct RunArgs {
    /// The edge component (`cargo build -p usher-edge-wasi-http --release --target
    /// wasm32-wasip2`).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "target/wasm32-wasip2/release/usher-edge-wasi-http.wasm"
    )]
    wasm: PathBuf,
    /// The edge's static assets: the player library (`make edge-assets`).
    #[arg(long, value_name = "DIR", default_value = "target/edge-assets")]
    assets: PathBuf,
    /// The data directory: keys, configuration, logs, segments. Recreated on every run.
    #[arg(long, value_name = "DIR", default_value = "usher-dev")]
    data: PathBuf,
    /// The first public port: the edge (watch page) on 127.0.0.1:PORT; cdn-a, cdn-b and cdn-c
    /// on PORT+1 of 127.0.0.1, 127.0.0.2 and 127.0.0.3 (CDNs must differ in host name for
    /// Content Steering); the dashboard on PORT+4, the dev API on PORT+5. 0 picks free ports.
    #[arg(long, default_value_t = 8400)]
    port: u16,
    /// The event's id (and the origin's channel name).
    #[arg(long, default_value = "final")]
    event: String,
    /// The event's title, on the player page.
    #[arg(long, default_value = "The Final (local live event)")]
    title: String,
    /// The origin's input: test (FFmpeg's test pattern and tone, with a clock), file:PATH,
    /// rtmp://HOST:PORT/APP/KEY or srt://HOST:PORT. Zone b takes a push input on the next
    /// port: publish to both.
    #[arg(long, default_value = "test")]
    source: String,
    /// The ABR ladder (see `usher origin --ladder`); two origins encode it on this machine.
    #[arg(long, default_value = "640x360,426x240")]
    ladder: String,
    /// How long a session token (and so a copied segment URL) stays valid, seconds.
    #[arg(long, default_value_t = 120)]
    session_ttl_secs: u64,
    /// The nginx program.
    #[arg(long, value_name = "PROGRAM", default_value = "nginx")]
    nginx: PathBuf,
    /// Run the event with a waiting room whose doors open this many seconds after the start:
    /// viewers who come earlier are shuffled into the pre-queue, then admitted at
    /// `--admission-rate`. Without it every ticket plays at once.
    #[arg(long, value_name = "SECS")]
    doors_open_in: Option<u64>,
    /// The waiting room's admission rate, viewers per minute (with `--doors-open-in`).
    #[arg(long, value_name = "PER_MIN", default_value_t = 30)]
    admission_rate: u32,
    /// The waiting room's active cap: at most this many viewers admitted and playing at once
    /// (with `--doors-open-in`; none by default).
    #[arg(long, value_name = "VIEWERS")]
    admission_cap: Option<u64>,
}

/// `usher dev fault`.
#[derive(Args, Debug)]
struct FaultArgs {
    /// The CDN: cdn-a, cdn-b or cdn-c.
    cdn: String,
    /// outage, restore (end an outage), clear (every fault), latency, errors or bandwidth.
    what: String,
    /// latency: milliseconds; errors: percent of requests; bandwidth: kbit/s (0 removes it).
    value: Option<String>,
    /// latency: reach the value gradually over this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    ramp: u64,
    /// The running event's data directory.
    #[arg(long, value_name = "DIR", default_value = "usher-dev")]
    data: PathBuf,
}

/// `usher dev ticket`.
#[derive(Args, Debug)]
struct TicketArgs {
    /// The running event's data directory.
    #[arg(long, value_name = "DIR", default_value = "usher-dev")]
    data: PathBuf,
    /// The event the ticket is for (default: the running one; another one is refused
    /// `wrong_event` by the edge).
    #[arg(long)]
    event: Option<String>,
    /// The viewer (the ticket's `sub`; screens are counted per viewer).
    #[arg(long, default_value = "viewer")]
    sub: String,
    /// How many screens the ticket may play on at once.
    #[arg(long, default_value_t = 1)]
    max_streams: u32,
    /// Seconds until the ticket expires; negative for one that expired that long ago.
    #[arg(long, default_value_t = 12 * 3600, allow_hyphen_values = true)]
    ttl_secs: i64,
    /// Print only the ticket, not the watch URL.
    #[arg(long)]
    raw: bool,
}

/// What a running event tells the other `usher dev` commands (and tests): `DIR/dev.json`.
#[derive(Serialize, Deserialize, Debug)]
struct DevFile {
    event: String,
    edge: String,
    watch: String,
    dashboard: String,
    api: String,
    cdns: std::collections::BTreeMap<String, String>,
    origins: std::collections::BTreeMap<String, Process>,
    session_ttl_secs: u64,
}

/// A child process, for whoever wants to break it on purpose.
#[derive(Serialize, Deserialize, Debug)]
struct Process {
    url: String,
    pid: u32,
}

/// Runs an `usher dev` command.
pub(crate) fn run(args: DevArgs) -> Result<ExitCode> {
    match args.command {
        Some(DevCommand::Fault(args)) => fault_command(&args),
        Some(DevCommand::Ticket(args)) => ticket_command(&args),
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(event(args.run))
        }
    }
}

/// Where everything of one run lives.
struct Layout {
    root: PathBuf,
}

impl Layout {
    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }
}

/// The file that marks a directory as `usher dev`'s, so a run never deletes anything else.
const MARKER: &str = ".usher-dev";

/// Starts the event, waits for Ctrl-C, stops it.
async fn event(args: RunArgs) -> Result<ExitCode> {
    let started = Instant::now();
    check_inputs(&args)?;
    let layout = prepare(&args.data)?;
    let exe = std::env::current_exe().context("finding the usher program")?;
    let nginx = find_program(&args.nginx)?;
    let root = running_as_root();
    let secrets = Secrets::generate()?;
    let (mut supervisor, mut exits) = Supervisor::new();

    let result = start(
        &args,
        &layout,
        &exe,
        &nginx,
        root,
        &secrets,
        &mut supervisor,
        started,
    )
    .await;
    let on_air = match result {
        Ok(on_air) => on_air,
        Err(error) => {
            say("usher dev: stopping what was started");
            supervisor.stop().await;
            return Err(error);
        }
    };
    let stop = crate::edge::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            exit = exits.recv() => {
                let Some(exit) = exit else { break };
                let how = match exit.status {
                    Ok(status) => status.to_string(),
                    Err(e) => e.to_string(),
                };
                say(&format!(
                    "usher dev: {} exited ({how}); the rest goes on (its log: {})",
                    exit.name,
                    layout.log(&exit.name).display()
                ));
            }
        }
    }
    say("usher dev: stopping everything");
    on_air.abort();
    supervisor.stop().await;
    let _ = std::fs::remove_file(layout.path("dev.json"));
    say("usher dev: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The in-process services, aborted on stop.
struct OnAir {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OnAir {
    fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Starts every part, in dependency order, and prints how to watch.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are the run's"
)]
async fn start(
    args: &RunArgs,
    layout: &Layout,
    exe: &Path,
    nginx: &Path,
    root: bool,
    secrets: &Secrets,
    supervisor: &mut Supervisor,
    started: Instant,
) -> Result<OnAir> {
    let public = |offset: u16| -> Result<SocketAddr> {
        let port = if args.port == 0 {
            0
        } else {
            args.port.checked_add(offset).context("--port too high")?
        };
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    };
    let mut tasks = Vec::new();

    // The in-process equipment first: its addresses go into every configuration.
    let injectors: Vec<Arc<Injector>> = CDNS
        .iter()
        .map(|(id, _)| Arc::new(Injector::new(id)))
        .collect();
    let listeners = bind_cdns(public(1)?).await?;
    let mut cdn_addresses = Vec::new();
    for (listener, injector) in listeners.into_iter().zip(&injectors) {
        cdn_addresses.push(listener.local_addr()?);
        tasks.push(tokio::spawn(fault::serve(listener, Arc::clone(injector))));
    }
    let api_listener = bind(public(5)?).await?;
    let api_address = api_listener.local_addr()?;
    tasks.push(tokio::spawn(api::serve(
        api_listener,
        Arc::new(api::Api {
            injectors: injectors.clone(),
            store: Store::new(StoreLimits::default()),
        }),
    )));
    let on_air = OnAir { tasks };

    step(
        started,
        &format!(
            "starting two origin nodes, zones a and b, encoding {} from {}",
            args.ladder, args.source
        ),
    );
    let mut origins = Vec::new();
    for zone in ["a", "b"] {
        let source = zone_source(&args.source, zone)?;
        let data = layout.path(&format!("origin-{zone}"));
        let spec = Spec {
            name: &format!("origin-{zone}"),
            program: exe,
            args: strings(&[
                "origin",
                "--channel",
                &args.event,
                "--source",
                &source,
                "--listen",
                "127.0.0.1:0",
                "--data",
                &data.display().to_string(),
                "--ladder",
                &args.ladder,
                "--zone",
                zone,
                "--node",
                &format!("{zone}1"),
            ]),
            log: layout.log(&format!("origin-{zone}")),
            stdout: None,
            ready: Some(ready_origin),
        };
        origins.push(supervisor.start(spec).await?);
    }
    let mut origin_urls = Vec::new();
    for origin in &mut origins {
        origin_urls.push(origin.ready(Duration::from_secs(30)).await?);
    }
    let origin_addresses = origin_urls
        .iter()
        .map(|url| address_of(url))
        .collect::<Result<Vec<_>>>()?;

    step(
        started,
        "starting the origin shield and three CDN caches (nginx proxy_cache)",
    );
    let shield = free_port()?;
    start_nginx(
        supervisor,
        layout,
        nginx,
        &topology::Nginx {
            name: "shield",
            dir: &layout.path("shield"),
            listen: shield,
            upstreams: &origin_addresses,
            cache: false,
            root,
        },
    )
    .await?;
    let mut caches = Vec::new();
    for (id, _) in CDNS {
        let listen = free_port()?;
        start_nginx(
            supervisor,
            layout,
            nginx,
            &topology::Nginx {
                name: id,
                dir: &layout.path(id),
                listen,
                upstreams: &[shield],
                cache: true,
                root,
            },
        )
        .await?;
        caches.push(listen);
    }

    step(
        started,
        "starting four edges (usher edge serve, the WASI-HTTP component): the entry edge and one per CDN",
    );
    let admission = args.doors_open_in.map(|secs| topology::Admission {
        doors_open_ms: now_ms().saturating_add(secs.saturating_mul(1000)),
        rate_per_min: args.admission_rate,
        cap: args.admission_cap,
    });
    let store_url = format!("http://{api_address}{}", api::STORE_PREFIX);
    let pathways = topology::pathways_json(&cdn_addresses);
    let settings = topology::settings_json(args.session_ttl_secs);
    let mut edges = Vec::new();
    let mut qoe_files = Vec::new();
    let mut sites: Vec<(String, SocketAddr, SocketAddr)> =
        vec![("edge".to_owned(), shield, public(0)?)];
    for ((id, _), cache) in CDNS.iter().zip(&caches) {
        sites.push((format!("edge-{id}"), *cache, free_port()?));
    }
    for (name, origin, listen) in &sites {
        let dir = layout.path(name);
        std::fs::create_dir_all(&dir)?;
        write(
            &dir.join("events.json"),
            &topology::events_json(
                &args.event,
                &args.title,
                *origin,
                admission.map(|a| a.doors_open_ms),
            ),
        )?;
        write(&dir.join("pathways.json"), &pathways)?;
        write(&dir.join("settings.json"), &settings)?;
        secrets.write_edge(&dir)?;
        link_health(&dir)?;
        let qoe = dir.join("qoe.jsonl");
        let mut edge_args = strings(&[
            "edge",
            "serve",
            "--wasm",
            &args.wasm.display().to_string(),
            "--config",
            &dir.display().to_string(),
            "--listen",
            &listen.to_string(),
            "--assets",
            &args.assets.display().to_string(),
            "--lease-store",
            &store_url,
        ]);
        if name != "edge" {
            // The CDN's cache is nginx: the edge at its point of presence passes through.
            edge_args.extend(strings(&["--cache-size", "0"]));
        }
        edges.push(
            supervisor
                .start(Spec {
                    name,
                    program: exe,
                    args: edge_args,
                    log: layout.log(name),
                    stdout: Some(qoe.clone()),
                    ready: Some(ready_edge),
                })
                .await?,
        );
        qoe_files.push(qoe);
    }
    let mut edge_addresses = Vec::new();
    for edge in &mut edges {
        edge_addresses.push(address_of(&edge.ready(Duration::from_secs(180)).await?)?);
    }
    let entry = *edge_addresses.first().context("no entry edge")?;
    for (injector, address) in injectors.iter().zip(edge_addresses.iter().skip(1)) {
        injector.set_upstream(*address);
    }

    step(
        started,
        "starting the steering controller and its dashboard",
    );
    let control_dir = layout.path("control");
    std::fs::create_dir_all(&control_dir)?;
    secrets.write_control(&control_dir)?;
    let probe = format!("{}/index.m3u8", lowest_rung(&args.ladder));
    let qoe_refs: Vec<&Path> = qoe_files.iter().map(PathBuf::as_path).collect();
    let health = layout.path("health.json");
    write(
        &control_dir.join("control.toml"),
        &topology::control_toml(&topology::Control {
            event: &args.event,
            probe_playlist: &probe,
            cdns: &cdn_addresses,
            qoe_files: &qoe_refs,
            publish: &health,
            admission,
        }),
    )?;
    let mut controller = supervisor
        .start(Spec {
            name: "controller",
            program: exe,
            args: strings(&[
                "control",
                "run",
                "--config",
                &control_dir.join("control.toml").display().to_string(),
                "--listen",
                &public(4)?.to_string(),
                "--data",
                &control_dir.join("data").display().to_string(),
            ]),
            log: layout.log("controller"),
            stdout: None,
            ready: Some(ready_controller),
        })
        .await?;
    let dashboard = controller.ready(Duration::from_secs(30)).await?;

    step(
        started,
        "waiting for the first segments and a playable stream through the edge",
    );
    for (origin, url) in origins.iter().zip(&origin_urls) {
        wait_for(origin, &format!("{url}/healthz"), Duration::from_secs(60)).await?;
    }
    let check = secrets.ticket(&args.event, "usher-dev-check", 1, 600)?;
    // With a waiting room nobody plays before being admitted: the stream is checked at the
    // shield, the edge by its waiting room page (asking `queue` would put a check in the queue).
    let probes = if admission.is_some() {
        vec![
            format!("http://{shield}/{}/master.m3u8", args.event),
            format!("http://{entry}/events/{}/waiting", args.event),
        ]
    } else {
        vec![format!(
            "http://{entry}/events/{}/master.m3u8?ticket={check}",
            args.event
        )]
    };
    for probe in &probes {
        wait_for_stream(probe, &layout.path("logs")).await?;
    }

    let ticket = secrets.ticket(&args.event, "viewer", 1, 12 * 3600)?;
    let watch = format!("http://{entry}/events/{}/", args.event);
    let running = DevFile {
        event: args.event.clone(),
        edge: format!("http://{entry}/"),
        watch: watch.clone(),
        dashboard: dashboard.clone(),
        api: format!("http://{api_address}/"),
        cdns: CDNS
            .iter()
            .zip(&cdn_addresses)
            .map(|((id, _), a)| ((*id).to_owned(), format!("http://{a}/")))
            .collect(),
        origins: ["a", "b"]
            .iter()
            .zip(origins.iter().zip(&origin_urls))
            .map(|(zone, (origin, url))| {
                (
                    (*zone).to_owned(),
                    Process {
                        url: url.clone(),
                        pid: origin.pid,
                    },
                )
            })
            .collect(),
        session_ttl_secs: args.session_ttl_secs,
    };
    write(
        &layout.path("dev.json"),
        &serde_json::to_string_pretty(&running)?,
    )?;
    let me = invoked_as();
    let data = if args.data == Path::new("usher-dev") {
        String::new()
    } else {
        format!(" --data {}", args.data.display())
    };
    say(&format!(
        "\nusher dev: on the air after {:.0} s.\n\n\
         \x20 Watch:      {watch}?ticket={ticket}\n\
         \x20 Dashboard:  {dashboard}\n\
         \x20 Tickets:    {me} dev ticket{data}   (another viewer; --ttl-secs -60 for an expired one)\n\
         \x20 Faults:     {me} dev fault cdn-b outage{data}          (then: restore, or clear)\n\
         \x20             {me} dev fault cdn-c latency 800 --ramp 30{data}\n\
         \x20             {me} dev fault cdn-a errors 20{data}\n\
         \x20             {me} dev fault cdn-a bandwidth 1500{data}\n\
         \x20 Origin:     kill -9 {} stops zone a's node; zone b carries on\n\
         {}\
         \x20 Logs:       {}/\n\n\
         Ctrl-C stops everything.",
        started.elapsed().as_secs_f64(),
        origins.first().map_or(0, |o| o.pid),
        admission.map_or_else(String::new, |a| {
            let opens_in = a.doors_open_ms.saturating_sub(now_ms()) / 1000;
            let cap = a
                .cap
                .map_or_else(String::new, |c| format!(", at most {c} at once"));
            format!(
                "\x20 Waiting:    the doors open in {opens_in} s, then {} viewers a minute{cap} \
                 (the dashboard shows the queue, and pauses or changes the rate)\n",
                a.rate_per_min
            )
        }),
        layout.path("logs").display(),
    ));
    Ok(on_air)
}

/// Waits until `url` answers 200, for at most 30 s: the first segments take a few seconds to
/// reach the playlists.
async fn wait_for_stream(url: &str, logs: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get(url).await {
            Ok((StatusCode::OK, _)) => return Ok(()),
            outcome if Instant::now() > deadline => {
                bail!(
                    "the edge does not serve the stream: {} (logs in {})",
                    match outcome {
                        Ok((status, body)) =>
                            format!("{status} {}", String::from_utf8_lossy(&body).trim()),
                        Err(e) => format!("{e:#}"),
                    },
                    logs.display()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Progress, with the time since the start.
fn step(started: Instant, what: &str) {
    say(&format!(
        "usher dev: [{:>5.1} s] {what}",
        started.elapsed().as_secs_f64()
    ));
}

/// Refuses, before anything starts, what cannot work.
fn check_inputs(args: &RunArgs) -> Result<()> {
    if !args.wasm.is_file() {
        return Err(UsageError::new(format!(
            "no edge component at {}: build it with `cargo build -p usher-edge-wasi-http --release --target wasm32-wasip2` (make run does)",
            args.wasm.display()
        ))
        .into());
    }
    if !args.assets.is_dir() {
        return Err(UsageError::new(format!(
            "no edge assets at {}: `make edge-assets` lays them out",
            args.assets.display()
        ))
        .into());
    }
    // The edge's own bounds (settings.json, session.ttl_secs).
    if !(30..=3600).contains(&args.session_ttl_secs) {
        return Err(UsageError::new("--session-ttl-secs must be between 30 and 3600").into());
    }
    Ok(())
}

/// Recreates the data directory, refusing one `usher dev` did not make.
fn prepare(dir: &Path) -> Result<Layout> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !ours && !empty {
            return Err(UsageError::new(format!(
                "{} exists and is not a usher dev data directory: choose another with --data",
                dir.display()
            ))
            .into());
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("dev.json"))
            && let Ok(running) = serde_json::from_str::<DevFile>(&text)
            && std::net::TcpStream::connect_timeout(
                &address_of(&running.api)?,
                Duration::from_millis(300),
            )
            .is_ok()
        {
            return Err(UsageError::new(format!(
                "an event is already running from {} (dashboard {}): stop it first, or use another --data and --port",
                dir.display(),
                running.dashboard
            ))
            .into());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "")?;
    let root = std::fs::canonicalize(dir)?;
    Ok(Layout { root })
}

/// The run's keys: random, per run.
struct Secrets {
    ticket: String,
    session: String,
    health: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    fn generate() -> Result<Self> {
        Ok(Secrets {
            ticket: random_hex(32)?,
            session: random_hex(32)?,
            health: random_hex(32)?,
        })
    }

    fn write_edge(&self, dir: &Path) -> Result<()> {
        write(
            &dir.join("ticket-keys.json"),
            &topology::keyring_json(&self.ticket),
        )?;
        write(&dir.join("session-key.txt"), &self.session)?;
        write(
            &dir.join("health-keys.json"),
            &topology::keyring_json(&self.health),
        )
    }

    fn write_control(&self, dir: &Path) -> Result<()> {
        write(&dir.join("session-key.txt"), &self.session)?;
        write(
            &dir.join("health-keys.json"),
            &topology::keyring_json(&self.health),
        )
    }

    fn ticket(&self, event: &str, sub: &str, max_streams: u32, ttl_secs: i64) -> Result<String> {
        let keyring = Keyring::from_json(topology::keyring_json(&self.ticket).as_bytes())
            .map_err(UsageError::from_config)?;
        mint_ticket(&keyring, event, sub, max_streams, ttl_secs)
    }
}

fn mint_ticket(
    keyring: &Keyring,
    event: &str,
    sub: &str,
    max_streams: u32,
    ttl_secs: i64,
) -> Result<String> {
    let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
    let claims = Claims {
        iss: Some(topology::ISSUER.to_owned()),
        sub: Some(sub.to_owned()),
        aud: vec![topology::AUDIENCE.to_owned()],
        jti: None,
        iat: Some(now.min(now + ttl_secs)),
        nbf: None,
        exp: now + ttl_secs,
        ev: event.to_owned(),
        scope: format!("/events/{event}/*"),
        sid: None,
        max_streams,
    };
    jwt::mint(&claims, KEY_ID, keyring).map_err(UsageError::from_config)
}

/// `n` random bytes from the kernel, in hex.
fn random_hex(n: usize) -> Result<String> {
    use std::io::Read as _;
    let mut bytes = vec![0_u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the run's keys")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Points the edge's `health.json` at the one the controller publishes.
fn link_health(dir: &Path) -> Result<()> {
    std::os::unix::fs::symlink("../health.json", dir.join("health.json"))
        .with_context(|| format!("linking {}/health.json", dir.display()))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The lowest rung's name (`{height}p`): the controller probes its playlist.
fn lowest_rung(ladder: &str) -> String {
    let height = ladder
        .split(',')
        .filter_map(|rung| {
            let size = rung.split('@').next()?.trim();
            match size.split_once('x') {
                Some((_, h)) => h.parse::<u32>().ok(),
                None => size.strip_suffix('p')?.parse::<u32>().ok(),
            }
        })
        .min()
        .unwrap_or(240);
    format!("{height}p")
}

/// Zone b takes a push input on the next port, so both zones can be published to.
fn zone_source(source: &str, zone: &str) -> Result<String> {
    let push = source.starts_with("rtmp://") || source.starts_with("srt://");
    if zone == "a" || !push {
        return Ok(source.to_owned());
    }
    let (scheme, rest) = source.split_once("://").context("a push URL")?;
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .with_context(|| format!("no port in {source}"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("no port in {source}"))?;
    Ok(format!(
        "{scheme}://{host}:{}{path}",
        port.checked_add(1).context("port too high")?
    ))
}

/// `usher origin: node a1 (zone a) on http://127.0.0.1:PORT/ serving …` → its URL.
fn ready_origin(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(" on http://")?;
    let address = rest.split('/').next()?;
    Some(format!("http://{address}"))
}

/// `usher edge serve: listening on http://ADDR (…)` → ADDR.
fn ready_edge(line: &str) -> Option<String> {
    let rest = line.strip_prefix("usher edge serve: listening on http://")?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// `usher control: dashboard on http://ADDR/` → the URL.
fn ready_controller(line: &str) -> Option<String> {
    let rest = line.strip_prefix("usher control: dashboard on ")?;
    Some(rest.trim().to_owned())
}

/// `http://127.0.0.1:8080/…` or `127.0.0.1:8080` → the socket address.
fn address_of(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .with_context(|| format!("not an address: {url}"))
}

async fn bind(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        UsageError::new(format!(
            "cannot listen on {address}: {e} (another usher dev? choose other ports with --port)"
        ))
        .into()
    })
}

/// The CDNs' listeners: one port on three loopback addresses (127.0.0.1, .2, .3), so the CDNs
/// differ in host name only. HLS Content Steering clones a pathway by replacing the host name
/// of its URIs (players keep the port), so CDNs told apart by port could not be cloned.
async fn bind_cdns(first: SocketAddr) -> Result<Vec<TcpListener>> {
    let hosts: Vec<[u8; 4]> = (1..=3_u8).map(|i| [127, 0, 0, i]).collect();
    let mut last = None;
    // With port 0 the kernel picks the first listener's port, which may be taken on the other
    // addresses: try a few.
    for _ in 0..20 {
        let mut listeners = Vec::new();
        let mut port = first.port();
        let mut failed = None;
        for host in &hosts {
            match TcpListener::bind(SocketAddr::from((*host, port))).await {
                Ok(listener) => {
                    port = listener.local_addr()?.port();
                    listeners.push(listener);
                }
                Err(e) => {
                    failed = Some(format!("{}:{port}: {e}", std::net::Ipv4Addr::from(*host)));
                    break;
                }
            }
        }
        match failed {
            None => return Ok(listeners),
            Some(e) if first.port() == 0 => last = Some(e),
            Some(e) => {
                return Err(UsageError::new(format!(
                    "cannot listen on {e} (another usher dev? choose other ports with --port)"
                ))
                .into());
            }
        }
    }
    bail!(
        "no port free on 127.0.0.1, 127.0.0.2 and 127.0.0.3: {}",
        last.unwrap_or_default()
    )
}

/// A port free now, for a program that cannot be told to pick one (nginx).
fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// Starts one nginx and waits until it accepts connections.
async fn start_nginx(
    supervisor: &mut Supervisor,
    layout: &Layout,
    nginx: &Path,
    site: &topology::Nginx<'_>,
) -> Result<()> {
    for sub in ["tmp", "cache"] {
        std::fs::create_dir_all(site.dir.join(sub))?;
    }
    let conf = site.dir.join("nginx.conf");
    write(&conf, &topology::nginx_conf(site))?;
    let name = format!("{} nginx", site.name);
    let log_name = format!("nginx-{}", site.name);
    let running = supervisor
        .start(Spec {
            name: &name,
            program: nginx,
            args: strings(&[
                "-p",
                &site.dir.display().to_string(),
                "-c",
                &conf.display().to_string(),
                "-e",
                &site.dir.join("error.log").display().to_string(),
            ]),
            log: layout.log(&log_name),
            stdout: None,
            ready: None,
        })
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(site.listen).await.is_err() {
        if Instant::now() > deadline {
            bail!(
                "{} does not accept connections on {}: see {}",
                running.name,
                site.listen,
                site.dir.join("error.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until `url` answers 200.
async fn wait_for(who: &Running, url: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match get(url).await {
            Ok((StatusCode::OK, _)) => return Ok(()),
            Ok((status, body)) => format!("{status} {}", String::from_utf8_lossy(&body).trim()),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("{} is not ready ({url}: {last})", who.name);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One plain HTTP/1.1 request.
async fn request(method: Method, url: &str, body: Option<String>) -> Result<(StatusCode, Bytes)> {
    let address = address_of(url)?;
    let path = url
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| rest.get(i..).unwrap_or("/")))
        .unwrap_or("/");
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", address.to_string());
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .context("no answer within 10 s")??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

async fn get(url: &str) -> Result<(StatusCode, Bytes)> {
    request(Method::GET, url, None).await
}

/// The program on PATH, or in /usr/sbin where Debian installs nginx (not on a user's PATH).
fn find_program(program: &Path) -> Result<PathBuf> {
    if program.components().count() > 1 {
        return Ok(program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]) {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(UsageError::new(format!(
        "{} not found: install Debian's nginx package (make run does)",
        program.display()
    ))
    .into())
}

/// Whether this process runs as root (then nginx's worker must be told to stay root, or it
/// cannot write the cache directory this process made).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// How the user ran this program, for the commands it prints.
fn invoked_as() -> String {
    std::env::args()
        .next()
        .unwrap_or_else(|| "usher".to_owned())
}

/// The running event's description.
fn running(data: &Path) -> Result<DevFile> {
    let path = data.join("dev.json");
    let text = std::fs::read_to_string(&path).map_err(|_| {
        UsageError::new(format!(
            "no running event: {} is missing (start one with `usher dev`, or pass its --data)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

fn fault_command(args: &FaultArgs) -> Result<ExitCode> {
    let change = parse_change(&args.what, args.value.as_deref(), args.ramp)?;
    let running = running(&args.data)?;
    if !running.cdns.contains_key(&args.cdn) {
        let known: Vec<&str> = running.cdns.keys().map(String::as_str).collect();
        return Err(UsageError::new(format!(
            "unknown CDN {:?}: the event has {}",
            args.cdn,
            known.join(", ")
        ))
        .into());
    }
    let url = format!("{}v1/faults/{}", running.api, args.cdn);
    let body = serde_json::to_string(&change)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, answer) = runtime
        .block_on(request(Method::POST, &url, Some(body)))
        .context("reaching the running event (is it still running?)")?;
    if status != StatusCode::OK {
        bail!(
            "the event refused the change: {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let state: serde_json::Value = serde_json::from_slice(&answer)?;
    for (cdn, value) in state.as_object().into_iter().flatten() {
        let now = value.get("now").and_then(|v| v.as_str()).unwrap_or("?");
        print_line(&format!("{cdn}: {now}"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `outage`, `latency 800`, `errors 20` … as a [`Change`].
fn parse_change(what: &str, value: Option<&str>, ramp_secs: u64) -> Result<Change> {
    let number = |unit: &str| -> Result<f64> {
        let text =
            value.ok_or_else(|| UsageError::new(format!("{what} needs a value ({unit})")))?;
        let trimmed = text.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
        trimmed
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                UsageError::new(format!("{what}: {text:?} is not a number of {unit}")).into()
            })
    };
    let no_value = |change: Change| -> Result<Change> {
        match value {
            Some(v) => Err(UsageError::new(format!("{what} takes no value (got {v:?})")).into()),
            None => Ok(change),
        }
    };
    if ramp_secs > 0 && what != "latency" {
        return Err(UsageError::new("--ramp applies to latency only").into());
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked finite and non-negative; values are clamped to their ranges"
    )]
    Ok(match what {
        "outage" => no_value(Change::Outage)?,
        "restore" => no_value(Change::Restore)?,
        "clear" => no_value(Change::Clear)?,
        "latency" => Change::Latency {
            ms: number("milliseconds")?.min(600_000.0) as u64,
            ramp_ms: ramp_secs.saturating_mul(1000),
        },
        "errors" => {
            let percent = number("percent")?;
            if percent > 100.0 {
                return Err(UsageError::new("errors: at most 100 (percent)").into());
            }
            Change::Errors {
                permille: (percent * 10.0).round() as u16,
            }
        }
        "bandwidth" => Change::Bandwidth {
            kbit_per_sec: number("kbit/s")?.min(1e9) as u64,
        },
        other => {
            return Err(UsageError::new(format!(
                "unknown fault {other:?}: outage, restore, clear, latency MS, errors PERCENT or bandwidth KBIT_PER_SEC"
            ))
            .into());
        }
    })
}

fn ticket_command(args: &TicketArgs) -> Result<ExitCode> {
    let running = running(&args.data)?;
    let keys_path = args.data.join("edge").join("ticket-keys.json");
    let keys =
        std::fs::read(&keys_path).with_context(|| format!("reading {}", keys_path.display()))?;
    let keyring = Keyring::from_json(&keys).map_err(UsageError::from_config)?;
    let event = args.event.as_deref().unwrap_or(&running.event);
    let ticket = mint_ticket(&keyring, event, &args.sub, args.max_streams, args.ttl_secs)?;
    if args.raw {
        print_line(&ticket)?;
    } else {
        print_line(&format!("{}?ticket={ticket}", running.watch))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_lines_give_the_addresses() {
        assert_eq!(
            ready_origin("usher origin: node a1 (zone a) on http://127.0.0.1:4242/ serving final"),
            Some("http://127.0.0.1:4242".to_owned())
        );
        assert_eq!(
            ready_edge(
                "usher edge serve: listening on http://127.0.0.1:9 (component ready in 1 s)"
            ),
            Some("127.0.0.1:9".to_owned())
        );
        assert_eq!(
            ready_controller("usher control: dashboard on http://127.0.0.1:8404/"),
            Some("http://127.0.0.1:8404/".to_owned())
        );
        assert_eq!(ready_edge("usher edge serve: stopped"), None);
    }

    #[test]
    fn fault_words_become_changes_and_mistakes_are_named() {
        assert_eq!(parse_change("outage", None, 0).unwrap(), Change::Outage);
        assert_eq!(
            parse_change("latency", Some("800ms"), 30).unwrap(),
            Change::Latency {
                ms: 800,
                ramp_ms: 30_000
            }
        );
        assert_eq!(
            parse_change("errors", Some("12.5%"), 0).unwrap(),
            Change::Errors { permille: 125 }
        );
        assert_eq!(
            parse_change("bandwidth", Some("1500"), 0).unwrap(),
            Change::Bandwidth { kbit_per_sec: 1500 }
        );
        for (what, value, ramp, message) in [
            ("outage", Some("5"), 0, "takes no value"),
            ("latency", None, 0, "needs a value"),
            ("latency", Some("fast"), 0, "is not a number"),
            ("errors", Some("150"), 0, "at most 100"),
            ("errors", Some("-3"), 0, "is not a number"),
            ("errors", Some("5"), 10, "--ramp applies to latency only"),
            ("fire", None, 0, "unknown fault"),
        ] {
            let error = parse_change(what, value, ramp).unwrap_err().to_string();
            assert!(error.contains(message), "{what}: {error}");
        }
    }

    #[test]
    fn zone_b_takes_a_push_input_on_the_next_port() {
        assert_eq!(zone_source("test", "b").unwrap(), "test");
        assert_eq!(zone_source("file:/x.mp4", "b").unwrap(), "file:/x.mp4");
        assert_eq!(
            zone_source("rtmp://127.0.0.1:1935/live/key", "a").unwrap(),
            "rtmp://127.0.0.1:1935/live/key"
        );
        assert_eq!(
            zone_source("rtmp://127.0.0.1:1935/live/key", "b").unwrap(),
            "rtmp://127.0.0.1:1936/live/key"
        );
        assert_eq!(
            zone_source("srt://0.0.0.0:9000?passphrase=x", "b").unwrap(),
            "srt://0.0.0.0:9001?passphrase=x"
        );
    }

    #[test]
    fn the_probe_follows_the_lowest_rung() {
        assert_eq!(lowest_rung("640x360,426x240"), "240p");
        assert_eq!(lowest_rung("1080p,720p@3000,480p"), "480p");
    }

    #[test]
    fn a_dev_ticket_verifies_as_the_edge_checks_it_for_its_event_only() {
        let secrets = Secrets::generate().unwrap();
        let keyring =
            Keyring::from_json(topology::keyring_json(&secrets.ticket).as_bytes()).unwrap();
        let policy = |event| jwt::Policy {
            audience: Some(topology::AUDIENCE),
            issuer: Some(topology::ISSUER),
            leeway_secs: 30,
            event: Some(event),
        };
        let now = now_ms() / 1000;
        let ticket = secrets.ticket("final", "v", 2, 60).unwrap();
        let verified = jwt::verify(
            &ticket,
            &keyring,
            &policy("final"),
            "/events/final/master.m3u8",
            now,
        )
        .unwrap();
        assert_eq!(verified.claims.sub.as_deref(), Some("v"));
        assert_eq!(verified.claims.max_streams, 2);
        assert!(
            jwt::verify(
                &ticket,
                &keyring,
                &policy("semi"),
                "/events/semi/master.m3u8",
                now
            )
            .is_err()
        );
        let expired = secrets.ticket("final", "v", 1, -120).unwrap();
        assert!(
            jwt::verify(
                &expired,
                &keyring,
                &policy("final"),
                "/events/final/master.m3u8",
                now
            )
            .is_err()
        );
        assert_eq!(format!("{secrets:?}"), "Secrets(..)");
    }
}
