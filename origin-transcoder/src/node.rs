//! An origin node: its channels, who holds which (leases), what fits on its CPUs, and its
//! health and metrics; the `usher origin` command runs one.
//!
//! A node is configured with channels. It claims each channel's lease (in Redis, shared by
//! the nodes of one zone, or in process when it runs alone) and encodes the channels it holds;
//! a standby node of the same zone takes a channel over when its holder stops heartbeating.
//! Nodes in different zones use different lease names (`--zone`), so each zone encodes every
//! channel: epoch-locked numbering makes the zones' segments interchangeable, and a CDN or a
//! load balancer can use either zone's at any moment.
//!
//! Capacity is counted in encoded pixels per second (every rung's width × height × frame
//! rate, weighted by the x264 preset's cost): a channel that does not fit is refused with the
//! figures, and the channels that fit run on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::channel::Channel;
use crate::clock::now_ms;
use crate::encode::Encoding;
use crate::encoder::{Encoder, SWITCH_BACK, Supervision};
use crate::encryption::Encryption;
use crate::ingest::{Ingest, Ingests};
use crate::ladder::{Audio, FrameRate, Ladder};
use crate::lease::{self, Heartbeat, LeaseState, LeaseStore, Leases, Name, RedisConfig};
use crate::metrics::{ChannelFacts, ChannelMetrics, exposition};
use crate::playlist::Window;
use crate::server::{Served, Site, serve};
use crate::source::Source;
use crate::timeline::Timeline;

/// Encoded pixels per second one core keeps live with x264's `ultrafast` preset, measured on
/// this project's 2-core CI machines: the default 4-rung ladder at 30 fps (109.5 Mpx/s) ran at
/// 1.8× real time on 2 cores, about 98 Mpx/s per core; 80 leaves headroom for packaging,
/// serving and the decode.
pub const PIXELS_PER_CORE: f64 = 80e6;

/// The relative CPU cost of x264's presets against `ultrafast`, from x264's own preset
/// documentation and the same machine's measurement (`superfast` ran at 1.2× where
/// `ultrafast` ran at 1.8×).
fn preset_cost(preset: &str) -> f64 {
    match preset {
        "ultrafast" => 1.0,
        "superfast" => 1.5,
        "veryfast" => 2.0,
        "faster" => 3.0,
        "fast" => 4.0,
        "medium" => 5.0,
        "slow" => 8.0,
        "slower" => 16.0,
        _ => 40.0,
    }
}

/// One channel's configuration.
#[derive(Clone, Debug)]
pub struct ChannelSpec {
    /// Its name (a plain name: it is a URL path segment and a lease name).
    pub name: String,
    /// Its primary input.
    pub primary: Source,
    /// Its backup input.
    pub backup: Option<Source>,
    /// How it is encoded.
    pub encoding: Encoding,
    /// Its live window.
    pub window: Window,
    /// When set, the channel ends (`EXT-X-ENDLIST`) this long after it starts on this node.
    pub duration: Option<Duration>,
    /// How long the primary must have been healthy before the channel switches back to it
    /// from the backup or slate ([`Supervision::switch_back`]).
    pub switch_back: Duration,
    /// How its segments are encrypted, if they are.
    pub encryption: Option<Encryption>,
}

impl ChannelSpec {
    /// Encoded pixels per second, weighted by the preset's cost: what it takes of the node.
    pub fn cost(&self) -> f64 {
        let fr = self.encoding.frame_rate;
        let fps = f64::from(fr.num) / f64::from(fr.den.max(1));
        let pixels: f64 = self
            .encoding
            .ladder
            .rungs()
            .iter()
            .map(|r| f64::from(r.width) * f64::from(r.height) * fps)
            .sum();
        pixels * preset_cost(&self.encoding.preset)
    }

    /// A spec with the defaults of `usher origin`: 2 s segments of 0.5 s parts, the default
    /// ladder at 30 fps, `ultrafast`, a live window of 6 segments.
    pub fn new(name: &str, primary: Source) -> Self {
        ChannelSpec {
            name: name.to_owned(),
            primary,
            backup: None,
            encoding: Encoding {
                ladder: Ladder::default(),
                audio: Audio::default(),
                timeline: Timeline::default(),
                frame_rate: FrameRate::DEFAULT,
                preset: "ultrafast".to_owned(),
            },
            window: Window::Sliding { segments: 6 },
            duration: None,
            switch_back: SWITCH_BACK,
            encryption: None,
        }
    }
}

/// A node's configuration.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id (a plain name), unique among the nodes sharing a lease store.
    pub node: String,
    /// Its zone: nodes of one zone share channel leases; nodes of different zones each encode.
    pub zone: String,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Where files are written.
    pub data: PathBuf,
    /// The lease store: Redis, or in-process when `None`.
    pub redis: Option<RedisConfig>,
    /// The lease time to live.
    pub lease_ttl: Duration,
    /// The FFmpeg program.
    pub ffmpeg: String,
    /// The node's capacity in weighted pixels per second.
    pub capacity: f64,
    /// Its channels.
    pub channels: Vec<ChannelSpec>,
}

/// Why a node cannot start.
#[derive(Debug)]
pub enum NodeError {
    /// A channel or node name is not a plain name.
    Name(String),
    /// The lease store configuration is wrong.
    Lease(lease::LeaseError),
    /// The listen address cannot be bound.
    Listen(std::io::Error),
    /// The data directory cannot be made.
    Data(std::io::Error),
    /// A channel's playlists cannot be written (its ladder or audio).
    Channel(String),
}

impl core::fmt::Display for NodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NodeError::Name(why) => write!(f, "{why}"),
            NodeError::Lease(e) => write!(f, "{e}"),
            NodeError::Listen(e) => write!(f, "cannot listen: {e}"),
            NodeError::Data(e) => write!(f, "cannot create the data directory: {e}"),
            NodeError::Channel(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for NodeError {}

/// A channel on this node.
struct Slot {
    spec: ChannelSpec,
    lease: Name,
    metrics: Arc<ChannelMetrics>,
    /// Why it was refused, if it was.
    refused: Option<String>,
    running: Option<Running>,
    /// Whether it has ended on this node (its replay stays served).
    ended: Option<Channel>,
}

struct Running {
    channel: Channel,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    started: tokio::time::Instant,
    log: Arc<Mutex<std::collections::VecDeque<String>>>,
    ingest: Ingests,
}

/// A running node: what the server reads.
pub struct Node {
    config: NodeConfig,
    slots: Mutex<BTreeMap<String, Slot>>,
    leases: Mutex<Option<watch::Receiver<Leases>>>,
}

impl Node {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn leases(&self) -> Option<Leases> {
        self.leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|w| w.borrow().clone())
    }
}

impl Site for Node {
    fn channel(&self, name: &str) -> Option<Served> {
        let slots = self.lock();
        let slot = slots.get(name)?;
        let live = slot
            .running
            .as_ref()
            .map(|r| r.channel.clone())
            .or_else(|| slot.ended.clone());
        Some(Served {
            live,
            dir: self.config.data.join(name),
        })
    }

    fn health(&self) -> (bool, String) {
        let leases = self.leases();
        let now = now_ms();
        let slots = self.lock();
        let mut healthy = true;
        let mut active = 0;
        let mut lines = Vec::new();
        for (name, slot) in slots.iter() {
            let lease = leases
                .as_ref()
                .map_or("unknown", |l| l.state(&slot.lease).label());
            let target_ms = slot.spec.encoding.timeline.segment_ms().div_ceil(1000) * 1000;
            let (status, age) = if let Some(refused) = &slot.refused {
                (format!("refused: {refused}"), None)
            } else if slot.ended.is_some() {
                ("ended".to_owned(), None)
            } else if let Some(running) = &slot.running {
                active += 1;
                let newest = running
                    .channel
                    .lock()
                    .tracks
                    .iter()
                    .map(|t| t.last_segment_ms)
                    .collect::<Option<Vec<u64>>>()
                    .and_then(|all| all.into_iter().min());
                let age = newest.map(|n| now.saturating_sub(n));
                // Fresh: the newest segment of every rendition is younger than two target
                // durations. A channel with a rendition that has no segment yet is not ready:
                // a load balancer must not send players to it.
                let fresh = age.is_some_and(|age| age <= 2 * target_ms);
                if !fresh {
                    healthy = false;
                }
                (if fresh { "live" } else { "stale" }.to_owned(), age)
            } else if let Some(LeaseState::Standby { holder }) =
                leases.as_ref().map(|l| l.state(&slot.lease))
            {
                (format!("standby: {holder} encodes it"), None)
            } else {
                ("not running".to_owned(), None)
            };
            // Why the encoder last ended (an exit with FFmpeg's complaint, a stall, a lost
            // input), so an operator sees why a channel is on slate without reading logs.
            let event = slot.running.as_ref().and_then(|r| {
                r.log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .rev()
                    .find(|line| line.contains(" ended: "))
                    .cloned()
            });
            // The push inputs' listeners: whether a publisher is sending, and why the last
            // one refused was.
            let ingest = slot.running.as_ref().map_or_else(String::new, |r| {
                r.ingest
                    .iter()
                    .map(ingest_json)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            lines.push(format!(
                "{{\"channel\":{},\"lease\":\"{lease}\",\"status\":{},\"newest_segment_age_ms\":{},\"input\":\"{}\",\"last_encoder_end\":{},\"ingest\":[{ingest}]}}",
                json_string(name),
                json_string(&status),
                age.map_or("null".to_owned(), |a| a.to_string()),
                match slot.metrics.input.load(Ordering::Relaxed) {
                    0 => "primary",
                    1 => "backup",
                    2 => "slate",
                    _ => "none",
                },
                event.as_deref().map_or("null".to_owned(), json_string)
            ));
        }
        if active == 0 {
            // A node encoding nothing has nothing live to serve: a load balancer should send
            // its traffic to the node that holds the channels. This is what makes a zone's
            // standby answer 503 (it would answer 404 for every playlist), and what makes it
            // answer 200 once it has taken the channels over and published a segment of each.
            healthy = false;
        }
        // The lease store plays no part: with Redis away, a node keeps the channels it holds
        // on the air (`active_unconfirmed`), and a load balancer that took it out of service
        // for that would black out the channels that Redis's outage was kept from stopping.
        // The body says the store is away, and `/metrics` has `usher_origin_lease_store_up`.
        let store_up = leases.as_ref().is_some_and(|l| l.store_up);
        let body = format!(
            "{{\"healthy\":{healthy},\"node\":{},\"zone\":{},\"lease_store\":\"{}\",\"lease_store_up\":{store_up},\"channels\":[{}]}}\n",
            json_string(&self.config.node),
            json_string(&self.config.zone),
            leases.as_ref().map_or("none", |l| l.store),
            lines.join(",")
        );
        (healthy, body)
    }

    fn metrics(&self) -> String {
        let leases = self.leases();
        let slots = self.lock();
        let facts: Vec<(ChannelFacts, Arc<ChannelMetrics>)> = slots
            .iter()
            .map(|(name, slot)| {
                (
                    ChannelFacts {
                        name: name.clone(),
                        lease: leases
                            .as_ref()
                            .map_or("unknown", |l| l.state(&slot.lease).label()),
                    },
                    Arc::clone(&slot.metrics),
                )
            })
            .collect();
        drop(slots);
        let borrowed: Vec<(ChannelFacts, &ChannelMetrics)> =
            facts.iter().map(|(f, m)| (f.clone(), m.as_ref())).collect();
        exposition(
            &borrowed,
            leases.as_ref().is_some_and(|l| l.store_up),
            now_ms(),
        )
    }
}

/// One push input's listener, as `/healthz` shows it.
fn ingest_json(ingest: &Ingest) -> String {
    let status = ingest.status();
    format!(
        "{{\"input\":\"{}\",\"source\":{},\"state\":\"{}\",\"healthy_ms\":{},\"publishers\":{},\"refusals\":{},\"last_refusal\":{}}}",
        ingest.role().label(),
        json_string(&ingest.source().to_string()),
        status.state,
        status
            .healthy_for
            .map_or("null".to_owned(), |d| d.as_millis().to_string()),
        status.publishers,
        status.refusals,
        status
            .last_refusal
            .map_or("null".to_owned(), |r| format!("\"{}\"", r.code()))
    )
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[expect(
    clippy::print_stderr,
    reason = "the origin's log is its standard error"
)]
fn log(line: &str) {
    eprintln!("usher origin: {line}");
}

/// Runs a node until `shutdown` resolves: binds, claims leases, encodes the channels it
/// holds, serves. On shutdown it releases its leases, so that a standby takes over at its
/// next heartbeat, and with a Redis store keeps encoding and serving until that standby can
/// be publishing (`handover`); then it stops the encoders and the server.
pub async fn run(
    config: NodeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let node_name =
        Name::new(&config.node).map_err(|e| NodeError::Name(format!("node id: {e}")))?;
    std::fs::create_dir_all(&config.data).map_err(NodeError::Data)?;
    let mut slots = BTreeMap::new();
    let mut used = 0.0;
    let mut lease_names = Vec::new();
    for spec in &config.channels {
        let lease_name = Name::new(&format!("{}.{}", config.zone, spec.name))
            .map_err(|e| NodeError::Name(format!("channel {:?}: {e}", spec.name)))?;
        if slots.contains_key(&spec.name) {
            return Err(NodeError::Name(format!(
                "channel {:?} is configured twice",
                spec.name
            )));
        }
        let cost = spec.cost();
        let refused = if used + cost > config.capacity {
            let why = format!(
                "over capacity: it needs {:.0} Mpx/s (preset {}), {:.0} of this node's {:.0} are taken",
                cost / 1e6,
                spec.encoding.preset,
                used / 1e6,
                config.capacity / 1e6
            );
            log(&format!("channel {} refused: {why}", spec.name));
            Some(why)
        } else {
            used += cost;
            lease_names.push(lease_name.clone());
            None
        };
        let mut names: Vec<String> = spec
            .encoding
            .ladder
            .rungs()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        names.push(spec.encoding.audio.group_id.clone());
        slots.insert(
            spec.name.clone(),
            Slot {
                spec: spec.clone(),
                lease: lease_name,
                metrics: Arc::new(ChannelMetrics::new(&names)),
                refused,
                running: None,
                ended: None,
            },
        );
    }
    let store = match &config.redis {
        Some(redis) => LeaseStore::redis(redis.clone()),
        None => LeaseStore::embedded(),
    };
    let ttl_ms = u64::try_from(config.lease_ttl.as_millis()).unwrap_or(u64::MAX);
    let heartbeat =
        Heartbeat::start(store, node_name, lease_names, ttl_ms).map_err(NodeError::Lease)?;
    let mut leases_rx = heartbeat.watch();
    let node = Arc::new(Node {
        config,
        slots: Mutex::new(slots),
        leases: Mutex::new(Some(heartbeat.watch())),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve(listener, Arc::clone(&node) as Arc<dyn Site>, stop_rx));

    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = leases_rx.changed() => {}
            _ = tick.tick() => {}
        }
        let leases = leases_rx.borrow().clone();
        reconcile(&node, &leases).await;
    }

    // Hand the leases over first, and stay on the air until a standby can be publishing:
    // stopping first would lose the segment in progress and every segment until the
    // standby's first, a hole of one or two segments for every player of the zone.
    let released = heartbeat.stop().await;
    let drain = handover(&node);
    if released > 0
        && node.config.redis.is_some()
        && let Some(drain) = drain
    {
        log(&format!(
            "released {released} lease(s); encoding on for {} ms while a standby takes over",
            drain.as_millis()
        ));
        tokio::time::sleep(drain).await;
    }
    let running: Vec<Running> = {
        let mut slots = node.lock();
        slots
            .values_mut()
            .filter_map(|s| s.running.take())
            .collect()
    };
    for r in running {
        let _ = r.stop.send(true);
        let _ = r.task.await;
    }
    log(&format!("stopped; released {released} lease(s)"));
    let _ = stop_tx.send(true);
    let _ = server.await;
    Ok(())
}

/// How long a node that has released its leases keeps its running channels on the air: until
/// a standby of the zone can have published its first segment of each. The standby claims a
/// released lease at its next heartbeat (a third of the time to live), starts FFmpeg
/// ([`ENCODER_START`]), and publishes from its first whole segment: the next boundary after
/// its encoder's zero, complete a segment later. Meanwhile both nodes publish the same
/// epoch-locked segments, so a player moving from one to the other misses none. `None` when
/// the node runs no channel.
fn handover(node: &Node) -> Option<Duration> {
    let longest = node
        .lock()
        .values()
        .filter(|s| s.running.is_some())
        .map(|s| s.spec.encoding.timeline.segment_ms())
        .max()?;
    Some(node.config.lease_ttl / 3 + ENCODER_START + Duration::from_millis(2 * longest))
}

/// How long FFmpeg takes to start and deliver its first frames on a busy node, with the
/// encoder's zero put on the next frame-grid instant: measured at well under a second on
/// the 2-core test machines, doubled.
const ENCODER_START: Duration = Duration::from_secs(2);

/// Starts the channels this node now holds, stops those it no longer holds, ends those whose
/// duration is over.
async fn reconcile(node: &Node, leases: &Leases) {
    let mut to_end = Vec::new();
    let mut to_stop = Vec::new();
    {
        let mut slots = node.lock();
        for (name, slot) in slots.iter_mut() {
            if slot.refused.is_some() || slot.ended.is_some() {
                continue;
            }
            let runs = leases.runs(&slot.lease);
            match (&slot.running, runs) {
                (None, true) => match start(&node.config, slot) {
                    Ok(running) => {
                        log(&format!(
                            "channel {name}: lease {}, encoding",
                            leases.state(&slot.lease).label()
                        ));
                        slot.running = Some(running);
                    }
                    Err(why) => {
                        log(&format!("channel {name} cannot start: {why}"));
                        slot.refused = Some(why);
                    }
                },
                (Some(_), false) => {
                    log(&format!(
                        "channel {name}: lease {}, stopping",
                        leases.state(&slot.lease).label()
                    ));
                    if let Some(r) = slot.running.take() {
                        to_stop.push(r);
                    }
                }
                (Some(running), true) => {
                    if slot
                        .spec
                        .duration
                        .is_some_and(|d| running.started.elapsed() >= d)
                        && let Some(r) = slot.running.take()
                    {
                        slot.ended = Some(r.channel.clone());
                        to_end.push((name.clone(), r));
                    }
                }
                (None, false) => {}
            }
        }
    }
    for r in to_stop {
        let _ = r.stop.send(true);
        let _ = r.task.await;
    }
    for (name, r) in to_end {
        let _ = r.stop.send(true);
        let _ = r.task.await;
        match r.channel.end().await {
            Ok(()) => log(&format!("channel {name} ended; its replay stays available")),
            Err(e) => log(&format!(
                "channel {name} ended, but its replay was not written: {e}"
            )),
        }
    }
}

fn start(config: &NodeConfig, slot: &Slot) -> Result<Running, String> {
    let spec = &slot.spec;
    let channel = Channel::new(
        &spec.name,
        spec.encoding.timeline,
        &spec.encoding.ladder,
        &spec.encoding.audio,
        spec.window,
        &config.data,
    )
    .map_err(|e| e.to_string())?;
    let channel = match &spec.encryption {
        Some(encryption) => channel.with_encryption(encryption.clone()),
        None => channel,
    };
    let log = Arc::new(Mutex::new(std::collections::VecDeque::new()));
    let ingest = Ingests::new(&spec.primary, spec.backup.as_ref());
    let encoder = Encoder {
        ffmpeg: config.ffmpeg.clone(),
        encoding: spec.encoding.clone(),
        primary: spec.primary.clone(),
        backup: spec.backup.clone(),
        ingest: ingest.clone(),
        supervision: Supervision {
            switch_back: spec.switch_back,
            ..Supervision::for_timeline(spec.encoding.timeline)
        },
        channel: channel.clone(),
        metrics: Arc::clone(&slot.metrics),
        log: Arc::clone(&log),
    };
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move { encoder.run(stop_rx).await });
    Ok(Running {
        channel,
        stop,
        task,
        started: tokio::time::Instant::now(),
        log,
        ingest,
    })
}
