//! `usher origin`: runs an origin node (see the `usher-origin` crate): channels from the
//! command line (one) or a TOML file (many), served over HTTP/1.1 and HTTP/2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;
use usher_origin::encode::PRESETS;
use usher_origin::encryption::Encryption;
use usher_origin::ladder::{DEFAULT_LADDER, FrameRate, Ladder};
use usher_origin::lease::RedisConfig;
use usher_origin::node::{ChannelSpec, NodeConfig, PIXELS_PER_CORE};
use usher_origin::playlist::Window;
use usher_origin::source::Source;
use usher_origin::timeline::Timeline;

use usher_shared::content_key::ContentKeys;

use crate::UsageError;

/// Run an origin: live ingest to an ABR ladder of CMAF LL-HLS segments.
#[derive(Args, Debug)]
pub(crate) struct OriginArgs {
    /// The channel's name (its URL path: /NAME/master.m3u8). With --config, omit it.
    #[arg(long)]
    channel: Option<String>,
    /// The input: test, file:PATH, rtmp://HOST:PORT/APP/KEY or srt://HOST:PORT.
    #[arg(long)]
    source: Option<String>,
    /// A backup input, used when the primary is lost.
    #[arg(long)]
    backup: Option<String>,
    /// How long the primary must have been healthy (an RTMP or SRT publisher connected and
    /// sending) before the channel switches back to it from the backup or slate, seconds.
    #[arg(long, default_value_t = 30)]
    switch_back_seconds: u64,
    /// Where the HTTP server listens.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Where segments, init sections and replay playlists are written.
    #[arg(long, default_value = "usher-origin-data")]
    data: PathBuf,
    /// Segment duration, whole seconds.
    #[arg(long, default_value_t = 2)]
    segment_seconds: u64,
    /// LL-HLS part duration, seconds (a divisor of the segment duration).
    #[arg(long, default_value_t = 0.5)]
    part_seconds: f64,
    /// The ladder: presets (1080p, 720p, 480p, 360p, 240p) or WxH, each optionally @kbps.
    #[arg(long, default_value = DEFAULT_LADDER)]
    ladder: String,
    /// Frames per second of every rung.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// The x264 preset. ultrafast keeps the default ladder live on two cores.
    #[arg(long, default_value = "ultrafast")]
    preset: String,
    /// Keep this many seconds in the playlist (a DVR window); default: a live window of six
    /// segments.
    #[arg(long)]
    dvr_seconds: Option<u64>,
    /// End the channel (EXT-X-ENDLIST, replay stays available) after this many seconds.
    #[arg(long)]
    duration_seconds: Option<u64>,
    /// Redis for channel leases shared by a zone's nodes: `redis://[:PASSWORD@]HOST:PORT`, or
    /// several, comma-separated, to follow a failover. Default: in-process (one node).
    #[arg(long)]
    redis: Option<String>,
    /// This node's id among the nodes sharing the leases.
    #[arg(long)]
    node: Option<String>,
    /// This node's zone: nodes of one zone share leases; each zone encodes every channel.
    #[arg(long, default_value = "default")]
    zone: String,
    /// Lease time to live, milliseconds: a standby takes over this long after the holder
    /// stops heartbeating.
    #[arg(long, default_value_t = 3000)]
    lease_ttl_ms: u64,
    /// Capacity, in millions of weighted pixels per second (default: 80 per core).
    #[arg(long)]
    capacity_mpx: Option<f64>,
    /// The FFmpeg program.
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: String,
    /// Encrypt segments (HLS AES-128) under this key id of --content-keys; the edge serves
    /// the keys to viewers with a valid session.
    #[arg(long, value_name = "KID")]
    key_id: Option<String>,
    /// The content keys: the same JSON document (`{"KID": "HEX", ...}`) as the edge's
    /// content-keys secret. Needed with --key-id.
    #[arg(long, value_name = "FILE")]
    content_keys: Option<PathBuf>,
    /// A new content key every this many seconds (a whole number of segments).
    #[arg(long, default_value_t = 600)]
    key_rotation_seconds: u64,
    /// A TOML file of channels (and node settings); see origin-transcoder/README.md.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The `--config` file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    redis: Option<String>,
    node: Option<String>,
    zone: Option<String>,
    capacity_mpx: Option<f64>,
    content_keys: Option<PathBuf>,
    #[serde(default)]
    channel: Vec<FileChannel>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileChannel {
    name: String,
    source: String,
    backup: Option<String>,
    switch_back_seconds: Option<u64>,
    segment_seconds: Option<u64>,
    part_seconds: Option<f64>,
    ladder: Option<String>,
    fps: Option<u32>,
    preset: Option<String>,
    dvr_seconds: Option<u64>,
    duration_seconds: Option<u64>,
    key_id: Option<String>,
    key_rotation_seconds: Option<u64>,
}

struct ChannelArgs<'a> {
    name: &'a str,
    source: &'a str,
    backup: Option<&'a str>,
    switch_back_seconds: u64,
    segment_seconds: u64,
    part_seconds: f64,
    ladder: &'a str,
    fps: u32,
    preset: &'a str,
    dvr_seconds: Option<u64>,
    duration_seconds: Option<u64>,
    key_id: Option<&'a str>,
    key_rotation_seconds: u64,
    content_keys: Option<&'a ContentKeys>,
}

fn channel_spec(a: &ChannelArgs<'_>) -> anyhow::Result<ChannelSpec> {
    let what = |e: &dyn std::fmt::Display| UsageError::new(format!("channel {}: {e}", a.name));
    let primary: Source = a.source.parse().map_err(|e| what(&e))?;
    let backup = a
        .backup
        .map(str::parse::<Source>)
        .transpose()
        .map_err(|e| what(&e))?;
    if !PRESETS.contains(&a.preset) {
        return Err(what(&format!(
            "unknown preset {:?}; one of {}",
            a.preset,
            PRESETS.join(", ")
        ))
        .into());
    }
    if a.part_seconds.is_nan() || a.part_seconds <= 0.0 {
        return Err(what(&"--part-seconds must be above zero").into());
    }
    let part_ms = (a.part_seconds * 1000.0).round() as u64;
    let timeline = Timeline::new(a.segment_seconds * 1000, part_ms).map_err(|e| what(&e))?;
    let frame_rate = FrameRate { num: a.fps, den: 1 };
    let ladder = Ladder::parse(a.ladder, frame_rate).map_err(|e| what(&e))?;
    let mut spec = ChannelSpec::new(a.name, primary);
    spec.backup = backup;
    spec.encoding.timeline = timeline;
    spec.encoding.frame_rate = frame_rate;
    spec.encoding.ladder = ladder;
    spec.encoding.preset = a.preset.to_owned();
    if let Some(dvr) = a.dvr_seconds {
        let segments = usize::try_from(dvr / a.segment_seconds.max(1))
            .unwrap_or(usize::MAX)
            .max(1);
        spec.window = Window::Sliding { segments };
    }
    spec.duration = a.duration_seconds.map(Duration::from_secs);
    spec.switch_back = Duration::from_secs(a.switch_back_seconds);
    if let Some(kid) = a.key_id {
        let keys = a
            .content_keys
            .ok_or_else(|| what(&"a key id needs --content-keys FILE"))?;
        let master = keys
            .get(kid)
            .ok_or_else(|| what(&format!("--content-keys holds no key id {kid}")))?;
        let rotation = Duration::from_secs(a.key_rotation_seconds);
        spec.encryption =
            Some(Encryption::new(kid, master.clone(), rotation, &timeline).map_err(|e| what(&e))?);
    }
    Ok(spec)
}

/// Reads the content keys document; its errors never hold a secret.
fn content_keys(path: &std::path::Path) -> anyhow::Result<ContentKeys> {
    let bytes = std::fs::read(path)
        .map_err(|e| UsageError::new(format!("reading {}: {e}", path.display())))?;
    Ok(ContentKeys::from_json(&bytes)
        .map_err(|e| UsageError::new(format!("{}: {e}", path.display())))?)
}

pub(crate) fn run(args: OriginArgs) -> anyhow::Result<ExitCode> {
    let file: Option<FileConfig> = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError::new(format!("reading {}: {e}", path.display())))?;
            Some(
                toml::from_str(&text)
                    .map_err(|e| UsageError::new(format!("{}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let keys = args
        .content_keys
        .as_deref()
        .or_else(|| file.as_ref().and_then(|f| f.content_keys.as_deref()))
        .map(content_keys)
        .transpose()?;
    let mut channels = Vec::new();
    if let Some(file) = &file {
        for c in &file.channel {
            channels.push(channel_spec(&ChannelArgs {
                name: &c.name,
                source: &c.source,
                backup: c.backup.as_deref(),
                switch_back_seconds: c.switch_back_seconds.unwrap_or(args.switch_back_seconds),
                segment_seconds: c.segment_seconds.unwrap_or(args.segment_seconds),
                part_seconds: c.part_seconds.unwrap_or(args.part_seconds),
                ladder: c.ladder.as_deref().unwrap_or(&args.ladder),
                fps: c.fps.unwrap_or(args.fps),
                preset: c.preset.as_deref().unwrap_or(&args.preset),
                dvr_seconds: c.dvr_seconds.or(args.dvr_seconds),
                duration_seconds: c.duration_seconds.or(args.duration_seconds),
                key_id: c.key_id.as_deref(),
                key_rotation_seconds: c.key_rotation_seconds.unwrap_or(args.key_rotation_seconds),
                content_keys: keys.as_ref(),
            })?);
        }
    }
    if let Some(name) = &args.channel {
        let source = args.source.as_deref().ok_or_else(|| {
            UsageError::new("--channel needs --source (test, file:PATH, rtmp://..., srt://...)")
        })?;
        channels.push(channel_spec(&ChannelArgs {
            name,
            source,
            backup: args.backup.as_deref(),
            switch_back_seconds: args.switch_back_seconds,
            segment_seconds: args.segment_seconds,
            part_seconds: args.part_seconds,
            ladder: &args.ladder,
            fps: args.fps,
            preset: &args.preset,
            dvr_seconds: args.dvr_seconds,
            duration_seconds: args.duration_seconds,
            key_id: args.key_id.as_deref(),
            key_rotation_seconds: args.key_rotation_seconds,
            content_keys: keys.as_ref(),
        })?);
    }
    if channels.is_empty() {
        return Err(UsageError::new(
            "no channel: give --channel NAME --source SOURCE, or --config FILE",
        )
        .into());
    }
    let redis = args
        .redis
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.redis.clone()))
        .map(|r| r.parse::<RedisConfig>())
        .transpose()
        .map_err(UsageError::from_config)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let capacity_mpx = args
        .capacity_mpx
        .or_else(|| file.as_ref().and_then(|f| f.capacity_mpx))
        .unwrap_or(cores as f64 * PIXELS_PER_CORE / 1e6);
    let node = args
        .node
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.node.clone()))
        .unwrap_or_else(|| format!("node-{}", std::process::id()));
    let listen = file.as_ref().and_then(|f| f.listen).unwrap_or(args.listen);
    let config = NodeConfig {
        node,
        zone: file
            .as_ref()
            .and_then(|f| f.zone.clone())
            .unwrap_or_else(|| args.zone.clone()),
        listen,
        data: file
            .as_ref()
            .and_then(|f| f.data.clone())
            .unwrap_or_else(|| args.data.clone()),
        redis,
        lease_ttl: Duration::from_millis(args.lease_ttl_ms),
        ffmpeg: args.ffmpeg.clone(),
        capacity: capacity_mpx * 1e6,
        channels,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| UsageError::new(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener.local_addr().context("listener address")?;
        let names: Vec<String> = config.channels.iter().map(|c| c.name.clone()).collect();
        crate::print_line(&format!(
            "usher origin: node {} (zone {}) on http://{addr}/ serving {}",
            config.node,
            config.zone,
            names
                .iter()
                .map(|n| format!("/{n}/master.m3u8"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        usher_origin::node::run(config, listener, shutdown_signal())
            .await
            .map_err(UsageError::from_config)?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
