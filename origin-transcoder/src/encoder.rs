//! The encoder of a channel: FFmpeg as a supervised child process, its outputs packaged into
//! the channel as they arrive.
//!
//! Each run of FFmpeg gets fresh TCP listeners on 127.0.0.1 (one per rung, one for the audio),
//! given to it as its outputs, and a zero on the frame grid of the wall clock, from which its
//! keyframes are forced onto the epoch grid and its fragments are packaged. A push input
//! (RTMP, SRT) is received by its own listener ([`crate::ingest`]) for as long as the encoder
//! runs, and relayed to the run of FFmpeg that encodes it. The supervisor:
//!
//! * restarts FFmpeg when it exits or stalls (no fragment for [`Supervision::stall`]), with a
//!   new zero: numbering continues from the wall clock, and what was missed is listed as gaps;
//! * switches to the backup input, or to slate and silence, when the input in use produces
//!   nothing for [`Supervision::input_loss`] (a push backup only if a publisher is sending to
//!   it), and back to a better input once it has been healthy for
//!   [`Supervision::switch_back`]. A push input's health is watched by its ingest while
//!   another input is on the air, so the switch back disturbs nothing; an input FFmpeg opens
//!   itself (a file) cannot be watched without encoding it, so it is tried again after
//!   `switch_back` on the backup or slate, and left again if nothing comes;
//! * stops FFmpeg cleanly (`q` on its standard input, then a kill after three seconds).
//!
//! FFmpeg's own complaints (its warnings and errors) are kept, the last few of them, and
//! logged with the channel's name, a push input's secret cut; a source FFmpeg cannot read
//! fails only this channel.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use crate::channel::Channel;
use crate::clock::now_ms;
use crate::cmaf::{Init, Splitter};
use crate::encode::{Encoding, Feed, Outputs};
use crate::ingest::{Ingest, Ingests, Note};
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
    /// How long a better input (the primary, or a push backup while on slate) must have been
    /// healthy before it is switched back to; for an input FFmpeg opens itself, how long on
    /// the backup or slate before it is tried again.
    pub switch_back: Duration,
}

/// How much longer than [`Supervision::input_loss`] a run on a push input waits for its
/// relay to begin while the publisher is sending: a relay that joins a stream mid-way starts
/// at its next keyframe (see [`crate::ingest`]), and a publisher's keyframe interval may be
/// this long.
const KEYFRAME_WAIT: Duration = Duration::from_secs(10);

/// The default [`Supervision::switch_back`]: long enough that a publisher that comes and goes
/// does not flap the channel between its inputs.
pub const SWITCH_BACK: Duration = Duration::from_secs(30);

impl Supervision {
    /// Timings for a timeline: a stall or loss is declared after two segments (a player with
    /// three segments of buffer has not yet run dry); the switch back is [`SWITCH_BACK`].
    pub fn for_timeline(timeline: Timeline) -> Self {
        let segment = Duration::from_millis(timeline.segment_ms());
        Supervision {
            stall: segment * 2,
            input_loss: segment * 2 + Duration::from_secs(3),
            switch_back: SWITCH_BACK,
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
    /// The push inputs' ingests (see [`Ingests::new`]): run by the encoder while it runs,
    /// read by `/healthz`.
    pub ingest: Ingests,
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
    /// A better input is ready.
    SwitchTo(Input),
}

impl Encoder {
    /// Runs until `stop` turns true, restarting and switching inputs as needed; then stops
    /// FFmpeg and returns. The channel is not ended here: stopping a node is not the end of
    /// its event (a standby may take it over).
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        // The push inputs' listeners run as long as the encoder, whichever input is on the
        // air: so their health is known, and a publisher can connect at any time.
        let mut ingests = tokio::task::JoinSet::new();
        for ingest in self.ingest.iter() {
            ingests.spawn(ingest.clone().run(
                self.ffmpeg.clone(),
                self.supervision.input_loss,
                stop.clone(),
                self.notes(),
            ));
        }
        let mut input = Input::Primary;
        let mut since_switch = tokio::time::Instant::now();
        // When the input in use last produced media: an input that keeps failing (FFmpeg
        // exits at once on a broken file or an undecodable stream) is lost once this is older
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
            let (ended, produced) = self.run_once(input, &source, &mut stop, since_switch).await;
            if produced {
                last_good = tokio::time::Instant::now();
            }
            let lost = last_good.elapsed() >= self.supervision.input_loss;
            let next = match &ended {
                Ended::Stopped => break,
                Ended::SwitchTo(better) => *better,
                Ended::NoInput => self.fallback(input),
                Ended::Exited(_) | Ended::Stalled if lost => self.fallback(input),
                Ended::Exited(_) | Ended::Stalled => input,
            };
            let why = match &ended {
                Ended::Exited(why) => format!("exited ({why})"),
                Ended::Stalled => "stalled".to_owned(),
                Ended::NoInput => "no input".to_owned(),
                Ended::SwitchTo(better) => format!("{better:?} is healthy"),
                Ended::Stopped => "stopped".to_owned(),
            };
            self.note(&format!(
                "encoder on {source} ended: {why}; next on {next:?}"
            ));
            if next != input && !matches!(ended, Ended::SwitchTo(_)) {
                // A publisher that has been sending all along, yet gave the encoder nothing
                // it could encode: its stream is unusable (an unsupported codec, say), and is
                // not switched back to until it reconnects, lest the channel flap.
                if let Some(ingest) = self.ingest_of(input)
                    && let Some(session) = ingest.session()
                    && ingest
                        .healthy_for()
                        .is_some_and(|h| h >= self.supervision.input_loss)
                {
                    ingest.mark_unusable(session);
                    self.note(&format!(
                        "{} input {source}: the encoder could not use publisher {session}'s stream; not used again until it reconnects",
                        ingest.role().label()
                    ));
                }
            }
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
        while ingests.join_next().await.is_some() {}
        self.metrics.input.store(3, Ordering::Relaxed);
        self.metrics.speed_milli.store(0, Ordering::Relaxed);
    }

    /// Waits for a push input's relay to begin (at a keyframe): its first bytes, or how the
    /// run ends without them: stopped, a better input ready, or no input for the input-loss
    /// time (for [`KEYFRAME_WAIT`] more while the publisher is sending).
    async fn relay_start(
        &self,
        input: Input,
        ingest: &Ingest,
        stream: &mut mpsc::Receiver<Bytes>,
        stop: &mut watch::Receiver<bool>,
        since: tokio::time::Instant,
    ) -> Result<Bytes, Ended> {
        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return Err(Ended::Stopped);
                    }
                }
                first = stream.recv() => {
                    return first.ok_or_else(|| {
                        Ended::Exited("the publisher left before its first keyframe".to_owned())
                    });
                }
                _ = tick.tick() => {
                    let limit = if ingest.healthy_for().is_some() {
                        self.supervision.input_loss + KEYFRAME_WAIT
                    } else {
                        self.supervision.input_loss
                    };
                    if started.elapsed() > limit {
                        return Err(Ended::NoInput);
                    }
                    if let Some(better) = self.better(input, since) {
                        return Err(Ended::SwitchTo(better));
                    }
                }
            }
        }
    }

    /// The ingest of `input`, if it is a push input.
    fn ingest_of(&self, input: Input) -> Option<&Ingest> {
        match input {
            Input::Primary => self.ingest.primary.as_ref(),
            Input::Backup => self.ingest.backup.as_ref(),
            Input::Slate => None,
        }
    }

    /// Where to go when `input` is lost: the backup from the primary, if there is one and
    /// (for a push backup) a publisher is sending to it; else the slate.
    fn fallback(&self, input: Input) -> Input {
        let backup_ready = self.backup.is_some()
            && self
                .ingest
                .backup
                .as_ref()
                .is_none_or(|i| i.healthy_for().is_some());
        match input {
            Input::Primary if backup_ready => Input::Backup,
            Input::Primary | Input::Backup | Input::Slate => Input::Slate,
        }
    }

    /// A better input than `input` (on the air since `since`) that is ready: one pushed has
    /// been healthy for `switch_back`; one FFmpeg opens itself is ready once `input` has been
    /// on the air that long (it is tried, and left again if nothing comes).
    fn better(&self, input: Input, since: tokio::time::Instant) -> Option<Input> {
        let wait = self.supervision.switch_back;
        let ready = |candidate: Input| match self.ingest_of(candidate) {
            Some(ingest) => ingest.healthy_for().is_some_and(|h| h >= wait),
            None => since.elapsed() >= wait,
        };
        match input {
            Input::Primary => None,
            Input::Backup => ready(Input::Primary).then_some(Input::Primary),
            Input::Slate => {
                if ready(Input::Primary) {
                    Some(Input::Primary)
                } else if self.backup.is_some() && ready(Input::Backup) {
                    Some(Input::Backup)
                } else {
                    None
                }
            }
        }
    }

    fn notes(&self) -> Note {
        let name = self.channel.name.clone();
        let log = Arc::clone(&self.log);
        Arc::new(move |line: &str| note(&name, &log, line))
    }

    fn note(&self, line: &str) {
        note(&self.channel.name, &self.log, line);
    }

    /// One run of FFmpeg on `input`, whose source is `source`, on the air since `since`.
    async fn run_once(
        &self,
        input: Input,
        source: &Source,
        stop: &mut watch::Receiver<bool>,
        since: tokio::time::Instant,
    ) -> (Ended, bool) {
        let ingest = self.ingest_of(input);
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
        // A push input is read from its ingest's relay, over a connection of its own, and
        // FFmpeg is started only once the relay has begun (at a keyframe): the encoder's zero
        // below is then the instant its input begins. Started earlier, it would stamp a
        // publisher that comes later with its own earlier zero, and every segment would be
        // published that much late.
        let relay = match ingest {
            Some(ingest) => {
                let listener = match TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(error) => {
                        return (
                            Ended::Exited(format!("cannot listen for FFmpeg: {error}")),
                            false,
                        );
                    }
                };
                let url = listener
                    .local_addr()
                    .map(|a| format!("tcp://{a}"))
                    .unwrap_or_default();
                let mut stream = ingest.relay();
                match self
                    .relay_start(input, ingest, &mut stream, stop, since)
                    .await
                {
                    Ok(first) => Some((listener, url, first, stream)),
                    Err(ended) => return (ended, false),
                }
            }
            None => None,
        };
        let feed = match &relay {
            Some((_, url, _, _)) => Feed::Relay(url),
            None => Feed::Source(source),
        };
        // The encoder's zero: a moment from now on the frame grid, so its first frame is on
        // the grid. A live input's frames are renumbered from zero at the encoder's frame rate
        // (`fps`, `setpts` in the filter graph), so this holds for every kind of source.
        let fr = self.encoding.frame_rate;
        let origin_ms = Timeline::frame_aligned(now_ms() + 100, fr.num, fr.den);
        let args = self.encoding.args(feed, origin_ms, &outputs);
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
        // The relay apart, so that it is closed first when the run ends: FFmpeg then sees
        // the end of its input and finishes, rather than waiting on it for `q`.
        let mut relaying = relay
            .map(|(listener, _, first, stream)| tokio::spawn(relay_to(listener, first, stream)));
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
            let source = source.clone();
            tasks.spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let line = source.redact(&line);
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
                Some(relayed) = async { Some(relaying.as_mut()?.await) } => {
                    relaying = None;
                    match relayed {
                        Ok(Ok(())) => {}
                        Ok(Err(why)) => break Ended::Exited(why),
                        Err(error) => break Ended::Exited(format!("relay: {error}")),
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
                    if let Some(better) = self.better(input, since) {
                        break Ended::SwitchTo(better);
                    }
                }
            }
        };
        if let Some(relaying) = relaying {
            relaying.abort();
        }
        stop_child(&mut child).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        (ended, last_fragment.load(Ordering::Relaxed) != 0)
    }
}

/// Writes one line to a channel's log (its last lines, which `/healthz` reads) and to
/// standard error.
fn note(channel: &str, log: &Mutex<VecDeque<String>>, line: &str) {
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() == 20 {
        log.pop_front();
    }
    log.push_back(line.to_owned());
    #[expect(
        clippy::print_stderr,
        reason = "the origin's log is its standard error"
    )]
    {
        eprintln!("usher origin: {channel}: {line}");
    }
}

/// Serves a push input's stream, `first` and then the rest, to the FFmpeg that connects to
/// `listener`, until the publisher leaves (an error: the run ends, and the next publisher is
/// probed afresh by the next) or FFmpeg closes its input.
async fn relay_to(
    listener: TcpListener,
    first: Bytes,
    mut stream: mpsc::Receiver<Bytes>,
) -> Result<(), String> {
    let (mut socket, _) = listener
        .accept()
        .await
        .map_err(|e| format!("relay: accept: {e}"))?;
    drop(listener);
    let mut next = Some(first);
    while let Some(bytes) = match next.take() {
        Some(first) => Some(first),
        None => stream.recv().await,
    } {
        if socket.write_all(&bytes).await.is_err() {
            return Ok(());
        }
    }
    Err("the publisher's stream ended".to_owned())
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
