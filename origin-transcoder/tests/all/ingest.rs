//! Push inputs fed by real publishers: a second FFmpeg (`-re`, a lavfi test pattern and a
//! tone) pushes H.264/AAC as FLV over RTMP, or MPEG-TS over SRT, to a whole origin node in
//! process; ffprobe reads what the node publishes. A wrong stream key is refused while the
//! channel stays on the air on slate; a publisher replaced by one sending another codec, size
//! and sample rate leaves the ladder as it is; the primary is watched while the backup is on
//! the air, and switched back to once it has been healthy for the channel's switch-back time.
//!
//! Live tests (see [`crate::origin`]), on one small rung.
//! Every publisher is killed when dropped, pass or fail.
#![cfg(test)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::process::Child;
use tokio::time::Instant;
use usher_origin::node::{ChannelSpec, NodeConfig};
use usher_origin::source::Source;

use crate::origin::{Origin, ffmpeg_children, ffmpeg_for, live, segments, short_spec, spec};

/// The publishers' key (RTMP) and passphrase (SRT): they must never be shown.
const KEY: &str = "k3y-of-the-final-42";
const PASSPHRASE: &str = "passphrase-of-the-final";

/// The channels' switch-back time: short, so a test sees the switch.
const SWITCH_BACK: Duration = Duration::from_secs(3);

fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ingest")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A node of one channel, `live`, at 240p on 1 s segments ([`short_spec`]), switching back
/// after [`SWITCH_BACK`], once it has started the channel (and its primary's listener).
async fn node(test: &str, primary: Source, backup: Option<Source>) -> Origin {
    let mut channel = short_spec("live", primary, "426x240");
    channel.backup = backup;
    launch(test, channel).await
}

/// A node of `channel`, switching back after [`SWITCH_BACK`], once it has started the channel
/// (and its primary's listener).
async fn launch(test: &str, mut channel: ChannelSpec) -> Origin {
    channel.switch_back = SWITCH_BACK;
    let origin = Origin::launch(NodeConfig {
        node: "node-a".to_owned(),
        zone: "a".to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        data: scratch(test).join("data"),
        redis: None,
        lease_ttl: Duration::from_millis(3000),
        ffmpeg: ffmpeg_for(test),
        capacity: 1e12,
        channels: vec![channel],
    })
    .await;
    until(Duration::from_secs(10), "the channel started", || async {
        health(&origin)
            .await
            .contains("{\"input\":\"primary\"")
            .then_some(())
    })
    .await;
    origin
}

/// A TCP port free on 127.0.0.1 (for the RTMP listener).
fn tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port free on 127.0.0.1 (for the SRT listener).
fn udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a publisher sends.
#[derive(Clone, Copy)]
struct Media {
    codec: &'static str,
    size: &'static str,
    fps: u32,
    sample_rate: u32,
    channels: u32,
}

const H264_360P: Media = Media {
    codec: "libx264",
    size: "640x360",
    fps: 30,
    sample_rate: 48_000,
    channels: 2,
};

/// A publisher: FFmpeg pushing a live test pattern and tone, killed when dropped.
struct Publisher {
    child: Child,
}

impl Publisher {
    /// Starts pushing `media` to `url` as `format` (`flv`, `mpegts`); its messages go to
    /// `log`.
    fn spawn(url: &str, format: &str, media: Media, log: &PathBuf) -> Publisher {
        let mut args: Vec<String> = ["-hide_banner", "-nostats", "-loglevel", "warning"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
        push(&["-re", "-f", "lavfi", "-i"]);
        push(&[&format!("testsrc=size={}:rate={}", media.size, media.fps)]);
        push(&["-re", "-f", "lavfi", "-i"]);
        push(&[&format!(
            "sine=frequency=440:sample_rate={}",
            media.sample_rate
        )]);
        // A keyframe every second, as a live encoder sends.
        push(&[
            "-c:v",
            media.codec,
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ]);
        push(&["-g", &media.fps.to_string()]);
        push(&[
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ac",
            &media.channels.to_string(),
        ]);
        push(&["-f", format, url]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = tokio::process::Command::new("ffmpeg")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("ffmpeg (make test installs it)");
        Publisher { child }
    }

    /// Starts one that `origin` accepts on the channel's primary, trying again (as a
    /// broadcaster's encoder does) while the listener is not up: an RTMP publisher is refused
    /// a connection then, an SRT caller times out.
    async fn accepted(
        origin: &Origin,
        url: &str,
        format: &str,
        media: Media,
        log: &PathBuf,
    ) -> Publisher {
        let publishers = |channel: &str| -> u64 {
            field(primary(channel), "publishers")
                .and_then(|n| n.parse().ok())
                .unwrap()
        };
        let before = publishers(&health(origin).await);
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let mut publisher = Publisher::spawn(url, format, media, log);
            let tried = Instant::now() + Duration::from_secs(6);
            while Instant::now() < tried && publisher.child.try_wait().unwrap().is_none() {
                if publishers(&health(origin).await) > before {
                    return publisher;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            publisher.kill().await;
            assert!(
                Instant::now() < deadline,
                "no publisher accepted within 40 s: see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits up to `time` for it to end; its exit status, if it did.
    async fn ended_within(&mut self, time: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(time, self.child.wait())
            .await
            .ok()
            .map(Result::unwrap)
    }

    async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops it as a broadcaster does (Ctrl-C: FFmpeg closes its connection), then kills it
    /// if it has not ended within five seconds.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        if self.ended_within(Duration::from_secs(5)).await.is_none() {
            self.kill().await;
        }
    }
}

/// The JSON object of channel `live` in the node's `/healthz`.
async fn health(origin: &Origin) -> String {
    let body = origin.get("/healthz").await.text();
    assert!(!body.contains(KEY) && !body.contains(PASSPHRASE), "{body}");
    body.split("{\"channel\":")
        .find(|c| c.starts_with("\"live\""))
        .unwrap_or_else(|| panic!("no channel live: {body}"))
        .to_owned()
}

/// `"field":value` in a JSON object's text, as text (the first one: a channel's own fields
/// come before its ingest's, and the primary's ingest before the backup's).
fn field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":");
    let at = json.find(&key)? + key.len();
    let rest = json.get(at..)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest.get(..end)?.trim_matches('"'))
}

/// The primary's ingest object in a channel's health.
fn primary(json: &str) -> &str {
    let at = json
        .find("{\"input\":\"primary\"")
        .expect("a primary ingest");
    let rest = &json[at..];
    &rest[..=rest.find('}').unwrap()]
}

/// Polls `check` every 200 ms until it gives a value, for at most `time`.
async fn until<T, F: Future<Output = Option<T>>>(
    time: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + time;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {time:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The channel's 240p playlist's complete segments.
async fn listed(origin: &Origin) -> (Vec<u64>, String) {
    let text = origin.get("/live/240p/index.m3u8").await.text();
    (segments(&text), text)
}

/// Waits until the 240p playlist lists `count` complete segments.
async fn wait_listed(origin: &Origin, count: usize) -> Vec<u64> {
    until(Duration::from_secs(60), "segments listed", || async {
        let (numbers, _) = listed(origin).await;
        (numbers.len() >= count).then_some(numbers)
    })
    .await
}

/// Waits until the 240p playlist lists a segment numbered `after + count` or higher.
async fn advance(origin: &Origin, after: u64, count: u64) -> (Vec<u64>, String) {
    until(Duration::from_secs(40), "the playlist advances", || async {
        let (numbers, text) = listed(origin).await;
        numbers
            .last()
            .is_some_and(|&last| last >= after + count)
            .then_some((numbers, text))
    })
    .await
}

/// ffprobe's `codec_name,width,height,sample_rate,channels` for the stream of
/// `init` + `segment`.
fn probe(dir: &std::path::Path, name: &str, init: &[u8], segment: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, [init, segment].concat()).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_name,width,height,sample_rate,channels")
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe (make test installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What ffprobe reads of the newest listed segment (not a gap) of `rendition`.
async fn probe_newest(origin: &Origin, dir: &std::path::Path, rendition: &str) -> String {
    let text = origin
        .get(&format!("/live/{rendition}/index.m3u8"))
        .await
        .text();
    // The last complete segment that is not a gap.
    let mut gap = false;
    let mut newest = None;
    for line in text.lines() {
        if line == "#EXT-X-GAP" {
            gap = true;
        } else if !line.starts_with('#') && line.ends_with(".m4s") {
            if !gap {
                newest = Some(line.to_owned());
            }
            gap = false;
        }
    }
    let newest = newest.expect("a segment");
    let init = origin.get(&format!("/live/{rendition}/init.mp4")).await;
    let segment = origin.get(&format!("/live/{rendition}/{newest}")).await;
    assert_eq!(segment.status, 200, "{rendition}/{newest}");
    probe(
        dir,
        &format!("{rendition}-{newest}.mp4"),
        &init.body,
        &segment.body,
    )
}

/// Runs of `#EXT-X-GAP` segments in a playlist: (count, longest run).
fn gaps(playlist: &str) -> (usize, usize) {
    let (mut count, mut run, mut longest) = (0, 0, 0);
    let mut gap = false;
    for line in playlist.lines() {
        if line == "#EXT-X-GAP" {
            gap = true;
        } else if !line.starts_with('#') && line.ends_with(".m4s") {
            if gap {
                count += 1;
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
            gap = false;
        }
    }
    (count, longest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_publisher_with_the_stream_key_feeds_the_channel_and_ffprobe_reads_its_ladder() {
    let _live = live().await;
    let dir = scratch("rtmp");
    let url = format!("rtmp://127.0.0.1:{}/live/{KEY}", tcp_port());
    let mut origin = node("rtmp", url.parse().unwrap(), None).await;
    let publisher =
        Publisher::accepted(&origin, &url, "flv", H264_360P, &dir.join("publisher.log")).await;
    let first = wait_listed(&origin, 2).await;
    let channel = health(&origin).await;
    assert_eq!(field(&channel, "input"), Some("primary"), "{channel}");
    let ingest = primary(&channel);
    assert_eq!(field(ingest, "state"), Some("receiving"), "{channel}");
    assert_eq!(field(ingest, "publishers"), Some("1"), "{channel}");
    assert!(
        field(ingest, "source").is_some_and(|s| s.ends_with("/live/***")),
        "{channel}"
    );
    // The ladder, whatever came in: H.264 at the rung's size, AAC at 48 kHz stereo.
    assert_eq!(probe_newest(&origin, &dir, "240p").await, "h264,426,240");
    assert_eq!(probe_newest(&origin, &dir, "audio").await, "aac,48000,2");
    // And it goes on: live, on the publisher's media, with no gap.
    let (numbers, text) = advance(&origin, *first.last().unwrap(), 2).await;
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{text}");
    }
    assert_eq!(gaps(&text).0, 0, "{text}");
    publisher.kill().await;
    origin.shut().await;
    assert!(ffmpeg_children("rtmp").is_empty(), "no FFmpeg left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_rtmp_stream_key_is_refused_the_channel_runs_on_slate_and_the_right_key_is_accepted()
 {
    let _live = live().await;
    let dir = scratch("wrong-key");
    let port = tcp_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/{KEY}");
    let wrong = format!("rtmp://127.0.0.1:{port}/live/not-the-key");
    let mut origin = node("wrong-key", url.parse().unwrap(), None).await;
    let log = dir.join("publisher.log");

    // A publisher with another key is disconnected as soon as it names its stream, and the
    // channel says why (the reason, not the key).
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let mut publisher = Publisher::spawn(&wrong, "flv", H264_360P, &log);
        let status = publisher
            .ended_within(Duration::from_secs(10))
            .await
            .expect("the wrong key's publisher is disconnected");
        let channel = health(&origin).await;
        if field(primary(&channel), "refusals") != Some("0") {
            break status;
        }
        // Not refused: the listener was not up yet (connection refused); try again.
        assert!(Instant::now() < deadline, "never refused: {channel}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(!status.success(), "the publisher was cut off: {status}");
    let channel = health(&origin).await;
    let ingest = primary(&channel);
    assert_eq!(field(ingest, "last_refusal"), Some("wrong_stream_key"));
    assert_eq!(field(ingest, "publishers"), Some("0"), "{channel}");

    // With no accepted publisher, the channel is on slate after the input-loss time, and its
    // playlists advance.
    until(Duration::from_secs(20), "slate", || async {
        (field(&health(&origin).await, "input") == Some("slate")).then_some(())
    })
    .await;
    let on_slate = wait_listed(&origin, 2).await;
    advance(&origin, *on_slate.last().unwrap(), 1).await;

    // The right key is accepted; the channel switches back once it has been sending for
    // the switch-back time, not before.
    let publisher = Publisher::accepted(&origin, &url, "flv", H264_360P, &log).await;
    let healthy_ms: u64 = until(Duration::from_secs(20), "back on the primary", || async {
        let channel = health(&origin).await;
        (field(&channel, "input") == Some("primary")).then(|| {
            field(primary(&channel), "healthy_ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
    })
    .await;
    assert!(
        healthy_ms >= SWITCH_BACK.as_millis() as u64,
        "switched back after {healthy_ms} ms of a healthy primary"
    );
    let channel = health(&origin).await;
    assert_eq!(
        field(primary(&channel), "publishers"),
        Some("1"),
        "{channel}"
    );
    let (numbers, _) = listed(&origin).await;
    let (numbers, text) = advance(&origin, *numbers.last().unwrap(), 2).await;
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "numbers run on across the switches: {text}"
        );
    }
    let metrics = origin.get("/metrics").await.text();
    assert!(!metrics.contains(KEY));
    assert!(
        metrics.contains("usher_origin_input{channel=\"live\"} 0"),
        "{metrics}"
    );
    publisher.kill().await;
    origin.shut().await;
    assert!(
        ffmpeg_children("wrong-key").is_empty(),
        "no FFmpeg left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_refuses_a_wrong_passphrase_and_a_new_publisher_with_another_codec_size_and_rate_keeps_the_ladder()
 {
    let _live = live().await;
    let dir = scratch("srt");
    let port = udp_port();
    let source = format!("srt://127.0.0.1:{port}?passphrase={PASSPHRASE}");
    // On `usher origin`'s 2 s segments: what a codec change costs is counted in segments
    // below.
    let mut origin = launch("srt", spec("live", source.parse().unwrap(), "426x240")).await;
    let log = dir.join("publisher.log");

    // Another passphrase fails the SRT handshake; the channel counts the refusal.
    let wrong = format!("srt://127.0.0.1:{port}?mode=caller&passphrase=not-the-passphrase");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut publisher = Publisher::spawn(&wrong, "mpegts", H264_360P, &log);
        let status = publisher.ended_within(Duration::from_secs(10)).await;
        assert!(
            status.is_some_and(|s| !s.success()),
            "the wrong passphrase's publisher is refused: {status:?}"
        );
        let channel = health(&origin).await;
        if field(primary(&channel), "last_refusal") == Some("wrong_stream_key") {
            assert_eq!(field(primary(&channel), "publishers"), Some("0"));
            break;
        }
        assert!(Instant::now() < deadline, "never refused: {channel}");
    }

    // The right one feeds the channel.
    let url = format!("srt://127.0.0.1:{port}?mode=caller&passphrase={PASSPHRASE}");
    let first = Publisher::accepted(&origin, &url, "mpegts", H264_360P, &log).await;
    let before = wait_listed(&origin, 2).await;
    assert_eq!(probe_newest(&origin, &dir, "240p").await, "h264,426,240");
    assert_eq!(probe_newest(&origin, &dir, "audio").await, "aac,48000,2");
    let last_before = *before.last().unwrap();

    // It stops; another publishes HEVC at another size and frame rate, with mono audio at
    // 44.1 kHz. Its stream is probed afresh, and the ladder stays what it was.
    first.stop().await;
    let hevc = Media {
        codec: "libx265",
        size: "320x240",
        fps: 25,
        sample_rate: 44_100,
        channels: 1,
    };
    let changed = Instant::now();
    let second = Publisher::accepted(&origin, &url, "mpegts", hevc, &log).await;
    let (numbers, text) = advance(&origin, last_before, 4).await;
    let recovered = changed.elapsed();
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "numbers run on over the change: {text}"
        );
    }
    assert_eq!(probe_newest(&origin, &dir, "240p").await, "h264,426,240");
    assert_eq!(probe_newest(&origin, &dir, "audio").await, "aac,48000,2");
    // What the change cost: the segment in progress when the first publisher stopped, and
    // those until the second's first whole segment (its connection, the listener's and the
    // encoder's half-second probes, the encoder's start on the next segment boundary), listed
    // as gaps; never a refusal or a switch to slate.
    let (gap_count, longest) = gaps(&text);
    assert!(longest <= 3, "{gap_count} gaps, {longest} in a row: {text}");
    let channel = health(&origin).await;
    assert_eq!(field(&channel, "input"), Some("primary"), "{channel}");
    let metrics = origin.get("/metrics").await.text();
    assert!(
        metrics.contains("usher_origin_input_switches_total{channel=\"live\"} 0"),
        "{metrics}"
    );
    eprintln!(
        "codec change: {gap_count} gap segment(s), {longest} in a row; four segments on in {recovered:?}"
    );
    second.kill().await;
    origin.shut().await;
    assert!(ffmpeg_children("srt").is_empty(), "no FFmpeg left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_primary_is_watched_while_the_backup_is_on_the_air_and_switched_back_to_once_healthy()
 {
    let _live = live().await;
    let dir = scratch("backup");
    let url = format!("rtmp://127.0.0.1:{}/live/{KEY}", tcp_port());
    let mut origin = node("backup", url.parse().unwrap(), Some(Source::Test)).await;
    let log = dir.join("publisher.log");
    let publisher = Publisher::accepted(&origin, &url, "flv", H264_360P, &log).await;
    wait_listed(&origin, 2).await;
    assert_eq!(field(&health(&origin).await, "input"), Some("primary"));

    // The primary's publisher goes: after the input-loss time, the backup is on the air.
    publisher.kill().await;
    until(Duration::from_secs(30), "on the backup", || async {
        (field(&health(&origin).await, "input") == Some("backup")).then_some(())
    })
    .await;
    let metrics = origin.get("/metrics").await.text();
    let restarts = counter(&metrics, "usher_origin_encoder_restarts_total");

    // With no publisher, the backup stays on the air: no trial restart onto the primary,
    // however long it lasts (here, three switch-back times).
    tokio::time::sleep(SWITCH_BACK * 3).await;
    let channel = health(&origin).await;
    assert_eq!(field(&channel, "input"), Some("backup"), "{channel}");
    assert_eq!(
        field(primary(&channel), "state"),
        Some("listening"),
        "{channel}"
    );
    let metrics = origin.get("/metrics").await.text();
    assert_eq!(
        counter(&metrics, "usher_origin_encoder_restarts_total"),
        restarts,
        "the encoder was restarted while the primary was away: {metrics}"
    );

    // The publisher is back: its health is known while the backup stays on the air, and
    // the switch comes once it has been sending for the switch-back time.
    let publisher = Publisher::accepted(&origin, &url, "flv", H264_360P, &log).await;
    let mut seen_receiving_on_backup = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    let healthy_ms: u64 = loop {
        let channel = health(&origin).await;
        let ingest = primary(&channel);
        match field(&channel, "input") {
            Some("backup") => {
                seen_receiving_on_backup |= field(ingest, "state") == Some("receiving");
            }
            Some("primary") => {
                break field(ingest, "healthy_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            other => panic!("input {other:?}: {channel}"),
        }
        assert!(
            Instant::now() < deadline,
            "not back on the primary: {channel}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        seen_receiving_on_backup,
        "the primary was seen sending while the backup was on the air"
    );
    assert!(
        healthy_ms >= SWITCH_BACK.as_millis() as u64,
        "switched back after {healthy_ms} ms of a healthy primary"
    );
    let metrics = origin.get("/metrics").await.text();
    assert_eq!(
        counter(&metrics, "usher_origin_encoder_restarts_total"),
        restarts + 1,
        "one restart, the switch back: {metrics}"
    );
    assert_eq!(
        counter(&metrics, "usher_origin_input_switches_total"),
        2,
        "{metrics}"
    );
    let (numbers, _) = listed(&origin).await;
    advance(&origin, *numbers.last().unwrap(), 2).await;
    publisher.kill().await;
    origin.shut().await;
    assert!(
        ffmpeg_children("backup").is_empty(),
        "no FFmpeg left behind"
    );
}

/// The value of channel `live`'s counter `name`.
fn counter(metrics: &str, name: &str) -> u64 {
    let prefix = format!("{name}{{channel=\"live\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name}: {metrics}"))
}
