//! Push inputs (RTMP, SRT), each received by a listener of its own, apart from the encoder.
//!
//! For each push input of a channel (its primary, its backup) the origin runs one FFmpeg
//! that listens for the publisher and remuxes what it sends, without decoding it, to MPEG-TS
//! on its standard output (`-c copy -f mpegts`). The origin reads that, and relays it to the
//! channel's encoder when the input is on the air ([`Ingest::relay`]; the encoder reads it
//! over TCP, [`crate::encode::Feed::Relay`]). One listener serves one publisher; when the
//! publisher leaves, a new listener takes its place.
//!
//! Why apart from the encoder (the key decision):
//!
//! * an input's health is known whichever input is on the air. While the channel encodes its
//!   backup or the slate, the primary's listener still waits for its publisher, and "a
//!   publisher is connected and sending" is the primary's health ([`Ingest::healthy_for`]):
//!   the encoder switches back once that has held for the channel's switch-back time, with no
//!   trial restart onto an input that is not there and nothing disturbed on the air;
//! * a publisher is checked before its media is used. RTMP: FFmpeg's listener takes any
//!   publish name and only warns when it is not the URL's; so it is given no name at all,
//!   warns about every publisher's ("Unexpected stream NAME, expecting "), and the ingest
//!   accepts a publisher only when every name it sent is the stream key, and drops it
//!   (`wrong_stream_key`) otherwise, before a byte of its media is relayed. SRT: the
//!   passphrase is the stream key; a caller with another fails the handshake in libsrt,
//!   which says so on standard error, and is counted as the same refusal. The key never
//!   reaches FFmpeg for RTMP; the SRT passphrase does (libsrt needs it), and is cut from
//!   every line logged ([`Source::redact`]);
//! * a relay starts where a decoder can: at the stream's next video keyframe, after its PAT
//!   and PMT ([`ts`]), whether it is a switch back onto a publisher sending all along or a
//!   new publisher's first packets;
//! * an encoder restart (a stall, an input switch) does not drop the publisher, and the
//!   end of a publisher ends the relay: the encoder's FFmpeg sees the end of its input, and
//!   the next publisher (perhaps another codec, size or sample rate) is probed afresh by a
//!   new run of the encoder. The ladder stays what it is: every rung is scaled and padded to
//!   its size, the audio resampled to 48 kHz, whatever comes in.
//!
//! Health, precisely: a publisher has been accepted, and the remuxed stream has moved at
//! least every [`QUIET`]; `healthy_for` is how long that has held. A publisher that sends
//! nothing for the channel's input-loss time is dropped, so that it (or another) can
//! connect again. A publisher whose stream the encoder could not encode for the input-loss
//! time is marked unusable ([`Ingest::mark_unusable`]) until it reconnects, so the channel
//! does not flap between it and the slate.

use std::collections::VecDeque;
use std::fmt;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::source::Source;

pub mod ts;

/// A publisher whose stream has not moved for this long is not sending; when it moves
/// again, its healthy time starts again.
pub const QUIET: Duration = Duration::from_secs(2);

/// Chunks a relay holds for a slow encoder before the ingest stops reading (and TCP slows
/// the publisher, as a direct connection would).
const RELAY_CHUNKS: usize = 256;

/// A channel's logger: a line about the channel (see [`crate::encoder`]).
pub type Note = Arc<dyn Fn(&str) + Send + Sync>;

/// Which of a channel's inputs an ingest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The primary.
    Primary,
    /// The backup.
    Backup,
}

impl Role {
    /// As `/healthz` and the log name it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }
}

/// Why a publisher was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its stream key is not the channel's: an RTMP publish name that is not the key, or an
    /// SRT caller with another passphrase.
    WrongStreamKey,
}

impl Refusal {
    /// The reason code, as `/healthz` and the log give it.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::WrongStreamKey => "wrong_stream_key",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::WrongStreamKey => write!(
                f,
                "{}: the publisher's stream key (RTMP publish name, SRT passphrase) is not the channel's",
                self.code()
            ),
        }
    }
}

/// What a line of the listening FFmpeg's standard error says about a publisher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said<'a> {
    /// An RTMP publisher's publish name (its stream key, or not): FFmpeg's "Unexpected stream
    /// NAME, expecting " for a listener given no name. The line holds the name: it is never
    /// logged.
    PublishName(&'a str),
    /// libsrt refused a caller's handshake on its passphrase.
    WrongPassphrase,
    /// libsrt's other lines about the same refused handshake.
    HandshakeDetail,
    /// Anything else.
    Other,
}

/// Reads one line of the listening FFmpeg's standard error.
pub fn read_line(line: &str) -> Said<'_> {
    const NAME: &str = "Unexpected stream ";
    if let Some(at) = line.find(NAME) {
        let rest = line.get(at + NAME.len()..).unwrap_or_default();
        // FFmpeg writes "Unexpected stream %s, expecting %s\n" with an empty second name.
        let name = rest
            .trim_end_matches(['\r', '\n'])
            .strip_suffix(", expecting ")
            .or_else(|| rest.trim_end().strip_suffix(", expecting"));
        // A line of another shape cannot be checked: an empty name is never the key.
        return Said::PublishName(name.unwrap_or_default());
    }
    // libsrt 1.5: "processConnectRequest: rsp(REJECT): 1010 - Incorrect passphrase", once per
    // refused caller, after "BADSECRET" lines about the same handshake.
    if line.contains("Incorrect passphrase") {
        return Said::WrongPassphrase;
    }
    if line.contains("BADSECRET") || line.contains("enforced encryption") {
        return Said::HandshakeDetail;
    }
    Said::Other
}

/// Whether `given` is `key`, in time that does not depend on where they differ.
fn same_secret(given: &str, key: &str) -> bool {
    given.len() == key.len()
        && given
            .bytes()
            .zip(key.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The FFmpeg command line of a push input's listener: the source's listener input, its
/// first video and audio streams copied as they are into MPEG-TS on standard output, each
/// packet flushed at once.
pub fn listen_args(source: &Source) -> Vec<String> {
    // A half-second probe: FFmpeg's default reads 5 s of an MPEG-TS input (SRT) before it
    // writes anything, then writes those 5 s at once. Copying needs no more than the codecs.
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "level+warning",
        "-analyzeduration",
        "500000",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(source.input_args(0, 0, "0"));
    args.extend(
        [
            "-map",
            "0:v:0?",
            "-map",
            "0:a:0?",
            "-c",
            "copy",
            "-f",
            "mpegts",
            "-flush_packets",
            "1",
            "pipe:1",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    args
}

/// What an ingest knows of its input. Pure: fed with instants.
#[derive(Clone, Debug, Default)]
pub struct Health {
    listening: bool,
    /// Publishers accepted so far; while one is connected, its number.
    publishers: u64,
    connected: bool,
    /// When the connected publisher's stream began to move without a pause over [`QUIET`],
    /// and when it last moved.
    sending: Option<(Instant, Instant)>,
    refusals: u64,
    last_refusal: Option<Refusal>,
    /// The publisher whose stream the encoder could not encode.
    unusable: Option<u64>,
}

impl Health {
    /// A listener is waiting for a publisher.
    pub fn listening(&mut self) {
        self.listening = true;
    }

    /// A publisher was accepted; returns its number.
    pub fn accepted(&mut self) -> u64 {
        self.publishers += 1;
        self.connected = true;
        self.sending = None;
        self.publishers
    }

    /// The publisher's stream moved at `now`.
    pub fn received(&mut self, now: Instant) {
        self.sending = match self.sending {
            Some((since, last)) if now.saturating_duration_since(last) <= QUIET => {
                Some((since, now))
            }
            _ => Some((now, now)),
        };
    }

    /// A publisher was refused.
    pub fn refused(&mut self, why: Refusal) {
        self.refusals += 1;
        self.last_refusal = Some(why);
    }

    /// The listener has ended (its publisher gone, or refused): nothing is connected.
    pub fn ended(&mut self) {
        self.listening = false;
        self.connected = false;
        self.sending = None;
    }

    /// Marks publisher `session` unusable, if it is still the one connected.
    pub fn mark_unusable(&mut self, session: u64) {
        if self.connected && self.publishers == session {
            self.unusable = Some(session);
        }
    }

    /// The connected publisher's number, if one is.
    pub fn session(&self) -> Option<u64> {
        self.connected.then_some(self.publishers)
    }

    /// How long the connected publisher has been sending without a pause over [`QUIET`], if
    /// it is sending now and its stream is usable.
    pub fn healthy_for(&self, now: Instant) -> Option<Duration> {
        if !self.connected || self.unusable == Some(self.publishers) {
            return None;
        }
        self.sending
            .filter(|(_, last)| now.saturating_duration_since(*last) <= QUIET)
            .map(|(since, _)| now.saturating_duration_since(since))
    }

    /// When the connected publisher's stream last moved.
    fn last_received(&self) -> Option<Instant> {
        self.sending.map(|(_, last)| last)
    }

    /// The state as `/healthz` shows it.
    pub fn status(&self, now: Instant) -> Status {
        let healthy_for = self.healthy_for(now);
        let state = if self.connected {
            if self.unusable == Some(self.publishers) {
                "unusable"
            } else if healthy_for.is_some() {
                "receiving"
            } else {
                "quiet"
            }
        } else if self.listening {
            "listening"
        } else {
            "down"
        };
        Status {
            state,
            healthy_for,
            publishers: self.publishers,
            refusals: self.refusals,
            last_refusal: self.last_refusal,
        }
    }
}

/// An ingest's state as `/healthz` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `listening` (for a publisher), `receiving` (a publisher is sending), `quiet` (one is
    /// connected and has sent nothing for [`QUIET`]), `unusable` (it sends what the encoder
    /// cannot encode), `down` (between two listeners).
    pub state: &'static str,
    /// How long the publisher has been sending.
    pub healthy_for: Option<Duration>,
    /// Publishers accepted so far.
    pub publishers: u64,
    /// Publishers refused so far.
    pub refusals: u64,
    /// Why the last refused one was.
    pub last_refusal: Option<Refusal>,
}

/// The relay's end in the ingest: where the stream goes while the input is on the air.
struct Tap {
    tx: mpsc::Sender<Bytes>,
    /// Whether it has started (at a keyframe, after the tables: see [`ts`]).
    started: bool,
}

struct Inner {
    source: Source,
    role: Role,
    health: Mutex<Health>,
    tap: Mutex<Option<Tap>>,
}

/// One push input's ingest: its listener (run by [`Ingest::run`]), its health, and its
/// relay. Cloned handles share one ingest.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

impl fmt::Debug for Ingest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The source prints without its secret.
        f.debug_struct("Ingest")
            .field("role", &self.inner.role)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

/// How one listener ended.
enum End {
    Stopped,
    Refused(Refusal),
    /// The publisher left, or FFmpeg ended; FFmpeg's last words.
    Left(String),
    /// The publisher sent nothing for the idle time.
    Idle,
}

impl Ingest {
    /// The ingest of `source` as a channel's `role`, if it is a push input.
    pub fn new(source: &Source, role: Role) -> Option<Ingest> {
        source.is_push().then(|| Ingest {
            inner: Arc::new(Inner {
                source: source.clone(),
                role,
                health: Mutex::new(Health::default()),
                tap: Mutex::new(None),
            }),
        })
    }

    /// Which input it is.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// Its source.
    pub fn source(&self) -> &Source {
        &self.inner.source
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.inner.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a publisher has been sending, if one is now (see [`Health::healthy_for`]).
    pub fn healthy_for(&self) -> Option<Duration> {
        self.health().healthy_for(Instant::now())
    }

    /// The connected publisher's number, if one is.
    pub fn session(&self) -> Option<u64> {
        self.health().session()
    }

    /// Marks publisher `session` unusable: the encoder could not encode its stream. It is
    /// not healthy again until it reconnects.
    pub fn mark_unusable(&self, session: u64) {
        self.health().mark_unusable(session);
    }

    /// Its state, for `/healthz`.
    pub fn status(&self) -> Status {
        self.health().status(Instant::now())
    }

    /// The stream from its next video keyframe (after the stream's PAT and PMT, so a
    /// decoder can start there), until the publisher leaves; if none is connected, the next
    /// publisher's, until it leaves. A new relay replaces the previous one, which ends.
    pub fn relay(&self) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(RELAY_CHUNKS);
        *self.inner.tap.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Tap { tx, started: false });
        rx
    }

    fn end_relay(&self) {
        self.inner
            .tap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Listens for publishers until `stop` turns true: one listening FFmpeg (`ffmpeg`) after
    /// another, each serving one publisher. A publisher that sends nothing for `idle` is
    /// dropped. What happens is told to `note`.
    pub async fn run(
        self,
        ffmpeg: String,
        idle: Duration,
        mut stop: watch::Receiver<bool>,
        note: Note,
    ) {
        let role = self.inner.role.label();
        let args = listen_args(&self.inner.source);
        let source = self.inner.source.clone();
        while !*stop.borrow() {
            let spawned = Command::new(&ffmpeg)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(error) => {
                    note(&format!(
                        "{role} input {source}: cannot start {ffmpeg}: {error}"
                    ));
                    if pause(&mut stop, Duration::from_secs(5)).await {
                        break;
                    }
                    continue;
                }
            };
            self.health().listening();
            let started = Instant::now();
            let end = self.serve(&mut child, idle, &mut stop, &note).await;
            let _ = child.start_kill();
            let _ = child.wait().await;
            let was = self.health().session();
            self.health().ended();
            if was.is_some() {
                // The publisher's stream has ended, and so does the relay of it. A relay
                // asked for while no publisher was connected waits on for the next one.
                self.end_relay();
            }
            match end {
                End::Stopped => break,
                End::Refused(why) => {
                    self.health().refused(why);
                    note(&format!(
                        "{role} input {source}: publisher refused and disconnected: {why}"
                    ));
                }
                End::Left(said) => {
                    if let Some(n) = was {
                        note(&format!(
                            "{role} input {source}: publisher {n} left{}",
                            if said.is_empty() {
                                String::new()
                            } else {
                                format!(" ({said})")
                            }
                        ));
                    } else if !said.is_empty() {
                        note(&format!(
                            "{role} input {source}: the listener stopped: {said}"
                        ));
                    }
                }
                End::Idle => note(&format!(
                    "{role} input {source}: publisher {} sent nothing for {} s; dropped",
                    was.unwrap_or_default(),
                    idle.as_secs()
                )),
            }
            // A listener that ends at once (its port taken, a bad address) must not spin.
            let wait = if started.elapsed() < Duration::from_secs(1) {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(100)
            };
            if pause(&mut stop, wait).await {
                break;
            }
        }
        self.end_relay();
        self.health().ended();
    }

    /// Serves one listener's publisher.
    async fn serve(
        &self,
        child: &mut Child,
        idle: Duration,
        stop: &mut watch::Receiver<bool>,
        note: &Note,
    ) -> End {
        let role = self.inner.role.label();
        let source = &self.inner.source;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return End::Left("no pipes to FFmpeg".to_owned());
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut stderr_open = true;
        // RTMP: the publisher's names, as FFmpeg reports them. SRT's passphrase is checked
        // in the handshake.
        let names_checked = matches!(source, Source::Rtmp(_));
        let mut key_given = false;
        let mut accepted = false;
        // The stream, cut into whole packets and scanned for where a relay may start.
        let mut pending: Vec<u8> = Vec::new();
        let mut scan = ts::Scan::default();
        let mut said: VecDeque<String> = VecDeque::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            if *stop.borrow() {
                return End::Stopped;
            }
            // Standard error first: FFmpeg reports a publish name before it writes a byte
            // of that publisher's media, and a name must be checked before any is relayed.
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return End::Stopped;
                    }
                }
                line = lines.next_line(), if stderr_open => match line {
                    Ok(Some(line)) => match read_line(&line) {
                        Said::PublishName(name) => {
                            if !same_secret(name, source.secret().unwrap_or_default()) {
                                return End::Refused(Refusal::WrongStreamKey);
                            }
                            key_given = true;
                        }
                        Said::WrongPassphrase => {
                            self.health().refused(Refusal::WrongStreamKey);
                            note(&format!(
                                "{role} input {source}: publisher refused in the SRT handshake: {}",
                                Refusal::WrongStreamKey
                            ));
                        }
                        Said::HandshakeDetail => {}
                        Said::Other => {
                            let line = source.redact(&line);
                            note(&format!("{role} input: ffmpeg: {line}"));
                            if said.len() == 3 {
                                said.pop_front();
                            }
                            said.push_back(line);
                        }
                    },
                    Ok(None) | Err(_) => stderr_open = false,
                },
                read = stdout.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => {
                            return End::Left(said.into_iter().collect::<Vec<_>>().join(" | "));
                        }
                        Ok(n) => n,
                    };
                    if !accepted {
                        if names_checked && !key_given {
                            return End::Refused(Refusal::WrongStreamKey);
                        }
                        accepted = true;
                        let number = self.health().accepted();
                        note(&format!(
                            "{role} input {source}: publisher {number} accepted, receiving"
                        ));
                    }
                    self.health().received(Instant::now());
                    pending.extend_from_slice(buf.get(..n).unwrap_or_default());
                    let whole = pending.len() / ts::PACKET * ts::PACKET;
                    let rest = pending.split_off(whole);
                    let packets = std::mem::replace(&mut pending, rest);
                    let mut start = None;
                    for (i, packet) in packets.chunks_exact(ts::PACKET).enumerate() {
                        if scan.packet(packet) && start.is_none() {
                            start = Some((i * ts::PACKET, scan.tables()));
                        }
                    }
                    self.forward(packets, start, stop).await;
                }
                _ = tick.tick() => {
                    let last = self.health().last_received();
                    if accepted && last.is_some_and(|l| l.elapsed() >= idle) {
                        return End::Idle;
                    }
                }
            }
        }
    }

    /// Hands whole packets of the stream to the relay, if there is one: all of them once it
    /// has started, else from `start` (a packet a relay may start at, and the tables to send
    /// before it) if there is one. Waits while the relay is full.
    async fn forward(
        &self,
        packets: Vec<u8>,
        start: Option<(usize, Option<Vec<u8>>)>,
        stop: &watch::Receiver<bool>,
    ) {
        let (tx, bytes) = {
            let mut tap = self.inner.tap.lock().unwrap_or_else(|e| e.into_inner());
            let Some(t) = tap.as_mut() else {
                return;
            };
            let bytes = if t.started {
                Bytes::from(packets)
            } else {
                let Some((at, tables)) = start else {
                    return;
                };
                t.started = true;
                let mut bytes = tables.unwrap_or_default();
                bytes.extend_from_slice(packets.get(at..).unwrap_or_default());
                Bytes::from(bytes)
            };
            (t.tx.clone(), bytes)
        };
        // A clone, so that the caller's receiver still sees a stop that comes meanwhile.
        let mut stop = stop.clone();
        tokio::select! {
            sent = tx.send(bytes) => {
                if sent.is_err() {
                    // The encoder's end has gone: no relay until it asks again.
                    let mut tap = self.inner.tap.lock().unwrap_or_else(|e| e.into_inner());
                    if tap.as_ref().is_some_and(|t| t.tx.same_channel(&tx)) {
                        tap.take();
                    }
                }
            }
            _ = stop.changed() => {}
        }
    }
}

/// Waits `time`, or until `stop` turns true (then returns true).
async fn pause(stop: &mut watch::Receiver<bool>, time: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(time) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// A channel's push inputs' ingests, by role.
#[derive(Clone, Debug, Default)]
pub struct Ingests {
    /// The primary's, if it is a push input.
    pub primary: Option<Ingest>,
    /// The backup's, if it is a push input.
    pub backup: Option<Ingest>,
}

impl Ingests {
    /// The ingests of a channel's inputs that are pushed.
    pub fn new(primary: &Source, backup: Option<&Source>) -> Self {
        Ingests {
            primary: Ingest::new(primary, Role::Primary),
            backup: backup.and_then(|b| Ingest::new(b, Role::Backup)),
        }
    }

    /// Both, primary first.
    pub fn iter(&self) -> impl Iterator<Item = &Ingest> {
        self.primary.iter().chain(self.backup.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpegs_rtmp_warning_gives_the_publish_name_and_libsrt_a_wrong_passphrase() {
        assert_eq!(
            read_line("[rtmp @ 0x55789128b280] [warning] Unexpected stream THEKEY, expecting "),
            Said::PublishName("THEKEY")
        );
        // A name holding the separator is still read whole.
        assert_eq!(
            read_line("[rtmp @ 0x1] [warning] Unexpected stream a, expecting b, expecting "),
            Said::PublishName("a, expecting b")
        );
        assert_eq!(
            read_line("[rtmp @ 0x1] [warning] Unexpected stream , expecting "),
            Said::PublishName("")
        );
        assert_eq!(
            read_line(
                "00:30:22.573429/SRT:RcvQ:w1!W:SRT.cn: processConnectRequest: rsp(REJECT): 1010 - Incorrect passphrase"
            ),
            Said::WrongPassphrase
        );
        assert_eq!(
            read_line(
                "00:30:22.572974/SRT:RcvQ:w1!W:SRT.cn: KMREQ/rcv: (snd) Rx process failure - BADSECRET"
            ),
            Said::HandshakeDetail
        );
        assert_eq!(
            read_line("[error] rtmp://127.0.0.1:1935/live/: Input/output error"),
            Said::Other
        );
    }

    #[test]
    fn a_stream_key_matches_only_itself() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("s3creT", "s3cret"));
        assert!(!same_secret("", "s3cret"));
    }

    #[test]
    fn a_publisher_is_healthy_for_as_long_as_it_has_sent_without_a_pause() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut h = Health::default();
        h.listening();
        assert_eq!(h.status(t0).state, "listening");
        assert_eq!(h.healthy_for(t0), None);
        let first = h.accepted();
        assert_eq!(h.session(), Some(first));
        for ms in (0..=5000).step_by(500) {
            h.received(at(ms));
        }
        assert_eq!(h.healthy_for(at(5000)), Some(Duration::from_secs(5)));
        assert_eq!(h.status(at(5000)).state, "receiving");
        // Silent for longer than QUIET: not sending; when it moves again, it starts again.
        assert_eq!(h.healthy_for(at(7500)), None);
        assert_eq!(h.status(at(7500)).state, "quiet");
        h.received(at(8000));
        assert_eq!(h.healthy_for(at(9000)), Some(Duration::from_secs(1)));
        // Its stream cannot be encoded: not healthy until another publisher connects.
        h.mark_unusable(first);
        assert_eq!(h.healthy_for(at(9000)), None);
        assert_eq!(h.status(at(9000)).state, "unusable");
        h.ended();
        h.listening();
        h.refused(Refusal::WrongStreamKey);
        let status = h.status(at(9500));
        assert_eq!(
            (status.state, status.refusals, status.last_refusal),
            ("listening", 1, Some(Refusal::WrongStreamKey))
        );
        let second = h.accepted();
        assert_ne!(second, first);
        h.received(at(10_000));
        h.mark_unusable(first); // too late: another publisher
        assert_eq!(h.healthy_for(at(10_500)), Some(Duration::from_millis(500)));
    }

    #[test]
    fn only_push_sources_have_an_ingest_and_its_listener_copies_into_mpeg_ts() {
        let rtmp: Source = "rtmp://127.0.0.1:1935/live/s3cret".parse().unwrap();
        let ingests = Ingests::new(&rtmp, Some(&Source::Test));
        assert!(ingests.primary.is_some() && ingests.backup.is_none());
        let args = listen_args(&rtmp).join(" ");
        assert!(
            args.contains(
                "-listen 1 -i rtmp://127.0.0.1:1935/live/ -map 0:v:0? -map 0:a:0? -c copy -f mpegts"
            ),
            "{args}"
        );
        assert!(!args.contains("s3cret"));
        assert!(!format!("{ingests:?}").contains("s3cret"));
    }
}
