//! The encoder of a channel: FFmpeg as a supervised child process, its outputs packaged into
//! the channel as they arrive.
//!
//! Each run of FFmpeg gets fresh TCP listeners on 127.0.0.1 (one per rung, one for the audio),
//! given to it as its outputs, and a zero on the frame grid of the wall clock, from which its
//! keyframes are forced onto the epoch grid and its fragments are packaged. The supervisor:
//!
//! * restarts FFmpeg when it exits or stalls (no fragment for [`Supervision::stall`]), with a
//!   new zero: numbering continues from the wall clock, and what was missed is listed as gaps;
//! * switches to the backup input, or to slate and silence, when the input in use produces
//!   nothing for [`Supervision::input_loss`], and tries the primary again after
//!   [`Supervision::switch_back`] (a push input cannot be watched while FFmpeg is not
//!   listening for it, so the try is a restart on the primary that falls back again if nothing
//!   comes);
//! * stops FFmpeg cleanly (`q` on its standard input, then a kill after three seconds).
//!
//! FFmpeg's own complaints (its warnings and errors) are kept, the last few of them, and
//! logged with the channel's name; a source FFmpeg cannot read fails only this channel.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::channel::Channel;
use crate::clock::now_ms;
use crate::cmaf::{Init, Splitter};
use crate::encode::{Encoding, Outputs};
use crate::metrics::ChannelMetrics;
use crate::package::{Packager, Published};
use crate::source::Source;
use crate::timeline::Timeline;

/// The supervisor's timings.
#[derive(Clone, Copy, Debug)]
pub struct Supervision {
    /// No fragment from a running encoder for this long: it is stalled, and restarted.
    pub stall: Duration,
    /// No fragment from a new encoder's input for this long: the input is lost, and the next
    /// one (backup, then slate) is used.
    pub input_loss: Duration,
    /// How long on the backup or slate before the primary is tried again.
    pub switch_back: Duration,
}

impl Supervision {
    /// Timings for a timeline: a stall or loss is declared after two segments (a player with
    /// three segments of buffer has not yet run dry); the primary is retried after 30 s.
    pub fn for_timeline(timeline: Timeline) -> Self {
        let segment = Duration::from_millis(timeline.segment_ms());
        Supervision {
            stall: segment * 2,
            input_loss: segment * 2 + Duration::from_secs(3),
            switch_back: Duration::from_secs(30),
        }
    }
}

/// Which input a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Primary,
    Backup,
    Slate,
}

impl Input {
    fn code(self) -> u64 {
        match self {
            Input::Primary => 0,
            Input::Backup => 1,
            Input::Slate => 2,
        }
    }
}

/// One channel's encoder, supervised.
#[derive(Debug)]
pub struct Encoder {
    /// The FFmpeg program.
    pub ffmpeg: String,
    /// How the channel is encoded.
    pub encoding: Encoding,
    /// The primary input.
    pub primary: Source,
    /// The backup input, if any.
    pub backup: Option<Source>,
    /// Timings.
    pub supervision: Supervision,
    /// Where it publishes.
    pub channel: Channel,
    /// What it measures.
    pub metrics: Arc<ChannelMetrics>,
    /// FFmpeg's last complaints.
    pub log: Arc<Mutex<VecDeque<String>>>,
}

/// How one run of the encoder ended.
#[derive(Debug)]
enum Ended {
    /// Asked to stop.
    Stopped,
    /// FFmpeg exited on its own.
    Exited(String),
    /// No fragment for too long.
    Stalled,
    /// The input never produced anything.
    NoInput,
    /// Time to try the primary again.
    SwitchBack,
}

impl Encoder {
    /// Runs until `stop` turns true, restarting and switching inputs as needed; then stops
    /// FFmpeg and returns. The channel is not ended here: stopping a node is not the end of
    /// its event (a standby may take it over).
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut input = Input::Primary;
        let mut since_switch = tokio::time::Instant::now();
        // When the input in use last produced media: an input that keeps failing (FFmpeg
        // exits at once on a broken file, a refused stream key) is lost once this is older
        // than `input_loss`, as one that produces nothing is.
        let mut last_good = tokio::time::Instant::now();
        let mut first = true;
        loop {
            if *stop.borrow() {
                break;
            }
            if !first {
                self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            self.metrics.input.store(input.code(), Ordering::Relaxed);
            let source = match input {
                Input::Primary => self.primary.clone(),
                Input::Backup => self.backup.clone().unwrap_or(Source::Slate),
                Input::Slate => Source::Slate,
            };
            let retry_primary = (input != Input::Primary).then(|| {
                self.supervision
                    .switch_back
                    .saturating_sub(since_switch.elapsed())
            });
            let (ended, produced) = self.run_once(&source, &mut stop, retry_primary).await;
            if produced {
                last_good = tokio::time::Instant::now();
            }
            let lost = last_good.elapsed() >= self.supervision.input_loss;
            let fallback = match input {
                Input::Primary if self.backup.is_some() => Input::Backup,
                Input::Primary | Input::Backup | Input::Slate => Input::Slate,
            };
            let next = match &ended {
                Ended::Stopped => break,
                Ended::SwitchBack => Input::Primary,
                Ended::NoInput => fallback,
                Ended::Exited(_) | Ended::Stalled if lost => fallback,
                Ended::Exited(_) | Ended::Stalled => input,
            };
            let why = match &ended {
                Ended::Exited(why) => format!("exited ({why})"),
                Ended::Stalled => "stalled".to_owned(),
                Ended::NoInput => "no input".to_owned(),
                Ended::SwitchBack => "trying the primary again".to_owned(),
                Ended::Stopped => "stopped".to_owned(),
            };
            self.note(&format!(
                "encoder on {source} ended: {why}; next on {next:?}"
            ));
            if next != input {
                self.metrics.input_switches.fetch_add(1, Ordering::Relaxed);
                since_switch = tokio::time::Instant::now();
                last_good = since_switch;
                input = next;
            } else {
                // A crash loop must not spin: wait a little before the same input again.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        self.metrics.input.store(3, Ordering::Relaxed);
        self.metrics.speed_milli.store(0, Ordering::Relaxed);
    }

    fn note(&self, line: &str) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == 20 {
            log.pop_front();
        }
        log.push_back(line.to_owned());
        #[expect(
            clippy::print_stderr,
            reason = "the origin's log is its standard error"
        )]
        {
            eprintln!("usher origin: {}: {line}", self.channel.name);
        }
    }

    /// One run of FFmpeg on `source`.
    async fn run_once(
        &self,
        source: &Source,
        stop: &mut watch::Receiver<bool>,
        retry_primary: Option<Duration>,
    ) -> (Ended, bool) {
        let rungs = self.encoding.ladder.rungs().len();
        let mut listeners = Vec::new();
        for _ in 0..=rungs {
            match TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => listeners.push(l),
                Err(error) => {
                    return (
                        Ended::Exited(format!("cannot listen for FFmpeg: {error}")),
                        false,
                    );
                }
            }
        }
        let urls: Vec<String> = listeners
            .iter()
            .map(|l| {
                l.local_addr()
                    .map(|a| format!("tcp://{a}"))
                    .unwrap_or_default()
            })
            .collect();
        let outputs = Outputs {
            video: urls
                .get(..rungs)
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            audio: urls.get(rungs).cloned().unwrap_or_default(),
        };
        // The encoder's zero: a moment from now on the frame grid, so its first frame is on
        // the grid. A live input's frames are renumbered from zero at the encoder's frame rate
        // (`fps`, `setpts` in the filter graph), so this holds for every kind of source.
        let fr = self.encoding.frame_rate;
        let origin_ms = Timeline::frame_aligned(now_ms() + 100, fr.num, fr.den);
        let args = self.encoding.args(source, origin_ms, &outputs);
        let mut child = match Command::new(&self.ffmpeg)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                return (
                    Ended::Exited(format!("cannot start {}: {error}", self.ffmpeg)),
                    false,
                );
            }
        };
        self.note(&format!(
            "encoding {source} ({} rungs, zero at {origin_ms})",
            rungs
        ));

        let last_fragment = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            let channel = self.channel.clone();
            let metrics = Arc::clone(&self.metrics);
            let last = Arc::clone(&last_fragment);
            let timeline = self.encoding.timeline;
            tasks.spawn(async move {
                package_output(listener, index, channel, metrics, last, timeline, origin_ms).await
            });
        }
        if let Some(stdout) = child.stdout.take() {
            let metrics = Arc::clone(&self.metrics);
            tasks.spawn(async move {
                read_progress(stdout, metrics).await;
                Ok(())
            });
        }
        let stderr = child.stderr.take();
        let complaints = Arc::new(Mutex::new(VecDeque::<String>::new()));
        if let Some(stderr) = stderr {
            let complaints = Arc::clone(&complaints);
            let name = self.channel.name.clone();
            tasks.spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    #[expect(
                        clippy::print_stderr,
                        reason = "the origin's log is its standard error"
                    )]
                    {
                        eprintln!("usher origin: {name}: ffmpeg: {line}");
                    }
                    let mut c = complaints.lock().unwrap_or_else(|e| e.into_inner());
                    if c.len() == 5 {
                        c.pop_front();
                    }
                    c.push_back(line);
                }
                Ok(())
            });
        }

        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let ended = loop {
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() {
                        break Ended::Stopped;
                    }
                }
                status = child.wait() => {
                    let said: Vec<String> = complaints.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
                    break Ended::Exited(format!(
                        "{}{}",
                        status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                        if said.is_empty() { String::new() } else { format!(": {}", said.join(" | ")) }
                    ));
                }
                Some(result) = tasks.join_next() => {
                    if let Ok(Err(error)) = result {
                        break Ended::Exited(error);
                    }
                }
                _ = tick.tick() => {
                    let last = last_fragment.load(Ordering::Relaxed);
                    let now = now_ms();
                    if last == 0 {
                        if started.elapsed() > self.supervision.input_loss {
                            break Ended::NoInput;
                        }
                    } else if now.saturating_sub(last) > u64::try_from(self.supervision.stall.as_millis()).unwrap_or(u64::MAX) {
                        break Ended::Stalled;
                    }
                    if retry_primary.is_some_and(|after| started.elapsed() >= after) {
                        break Ended::SwitchBack;
                    }
                }
            }
        };
        stop_child(&mut child).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        (ended, last_fragment.load(Ordering::Relaxed) != 0)
    }
}

/// Asks FFmpeg to finish (`q`), then kills it if it has not within three seconds.
async fn stop_child(child: &mut Child) {
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"q").await;
        let _ = stdin.flush().await;
    }
    if tokio::time::timeout(Duration::from_secs(3), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Reads FFmpeg's `-progress` lines into the channel's metrics.
async fn read_progress(stdout: tokio::process::ChildStdout, metrics: Arc<ChannelMetrics>) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "frame" => {
                if let Ok(frames) = value.trim().parse::<u64>() {
                    metrics.frames.store(frames, Ordering::Relaxed);
                }
            }
            "speed" => {
                if let Ok(speed) = value.trim().trim_end_matches('x').parse::<f64>() {
                    metrics
                        .speed_milli
                        .store((speed * 1000.0).round() as u64, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

/// Accepts FFmpeg's connection for output `index` (a rung, or the audio after the rungs) and
/// packages what it writes into the channel.
async fn package_output(
    listener: TcpListener,
    index: usize,
    channel: Channel,
    metrics: Arc<ChannelMetrics>,
    last_fragment: Arc<AtomicU64>,
    timeline: Timeline,
    origin_ms: u64,
) -> Result<(), String> {
    let (mut stream, _) = listener
        .accept()
        .await
        .map_err(|e| format!("output {index}: accept: {e}"))?;
    drop(listener);
    let mut splitter = Splitter::new();
    let mut header: Vec<u8> = Vec::new();
    let mut init: Option<(Init, Packager)> = None;
    let mut pending_moof: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("output {index}: read: {e}"))?;
        if n == 0 {
            // FFmpeg closed the output: publish what is in progress only if it is whole.
            return Ok(());
        }
        let boxes = splitter
            .push(buf.get(..n).unwrap_or_default())
            .map_err(|e| format!("output {index}: {e}"))?;
        for b in boxes {
            let kind = b.get(4..8).unwrap_or_default();
            match (kind, &mut init) {
                (b"moof", Some(_)) => pending_moof = Some(b),
                (b"mdat", Some((parsed, packager))) => {
                    let Some(mut fragment) = pending_moof.take() else {
                        continue;
                    };
                    fragment.extend_from_slice(&b);
                    let published = packager
                        .push(parsed, fragment)
                        .map_err(|e| format!("output {index}: {e}"))?;
                    let timescale = packager.timescale();
                    last_fragment.store(now_ms(), Ordering::Relaxed);
                    for p in published {
                        let segment_end = match &p {
                            Published::Segment(s) => Some(timeline.segment_start_ms(s.msn + 1)),
                            Published::Part(_) => None,
                        };
                        channel
                            .publish(index, p, timescale, now_ms())
                            .await
                            .map_err(|e| format!("output {index}: {e}"))?;
                        if let Some(end) = segment_end {
                            metrics.segment(index, end, now_ms());
                        }
                    }
                }
                (b"moov", None) => {
                    header.extend_from_slice(&b);
                    let parsed =
                        Init::parse(&header).map_err(|e| format!("output {index}: {e}"))?;
                    let track = parsed
                        .tracks
                        .first()
                        .map(|t| t.id)
                        .ok_or_else(|| format!("output {index}: no track"))?;
                    let packager = Packager::new(timeline, &parsed, track, origin_ms)
                        .map_err(|e| format!("output {index}: {e}"))?;
                    channel
                        .publish_init(index, Bytes::from(std::mem::take(&mut header)))
                        .await
                        .map_err(|e| format!("output {index}: {e}"))?;
                    init = Some((parsed, packager));
                }
                (_, None) => header.extend_from_slice(&b),
                _ => {}
            }
        }
    }
}
