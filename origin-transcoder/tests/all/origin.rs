//! Whole origin nodes, in process, on real FFmpeg: what they publish (read back with
//! ffprobe), how they serve it, how they survive a killed encoder, and two zones' nodes used
//! as one by a client that loses one of them.
//!
//! The live tests here (and in `standby`, `ingest`, `encryption`) run beside each other, a
//! few at a time ([`live`]): each encodes in real time (`-re`), so it mostly waits, and uses
//! 10-40 % of one core (one or two small rungs, sometimes a publisher). Each test's nodes run
//! FFmpeg under a path of the test's own ([`ffmpeg_for`]), so that the encoders a test counts
//! or kills are its own ([`ffmpeg_children`]). Small ladders: what is tested is timing and
//! structure, which do not depend on size.
#![cfg(test)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use usher_origin::ladder::{FrameRate, Ladder};
use usher_origin::node::{ChannelSpec, NodeConfig, NodeError, run};
use usher_origin::source::Source;
use usher_origin::timeline::Timeline;

/// Live tests running at once, whatever the test harness's thread count: with cargo's
/// default (one thread per core) this never binds; with many threads it keeps a 2-core
/// machine from falling behind real time.
static LIVE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(3);

/// Held by a live test while it runs.
pub(crate) async fn live() -> tokio::sync::SemaphorePermit<'static> {
    LIVE.acquire().await.unwrap()
}

/// The FFmpeg program for the nodes of `test`: a link to the `ffmpeg` on PATH, at a path that
/// names the test. A child started through it carries the path as its first argument.
pub(crate) fn ffmpeg_for(test: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ffmpeg")
        .join(test);
    let link = dir.join("ffmpeg");
    if !link.exists() {
        let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join("ffmpeg"))
            .find(|p| p.is_file())
            .expect("ffmpeg on PATH (make test installs it)");
        std::fs::create_dir_all(&dir).unwrap();
        // Two nodes of one test may both make it: either link will do.
        let _ = std::os::unix::fs::symlink(real, &link);
    }
    link.display().to_string()
}

/// A node running in this process.
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), NodeError>>>,
}

impl Origin {
    async fn start(test: &str, zone: &str, ladder: &str) -> Origin {
        Origin::start_with(test, zone, vec![spec("final", Source::Test, ladder)]).await
    }

    pub(crate) async fn start_with(test: &str, zone: &str, channels: Vec<ChannelSpec>) -> Origin {
        let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("origin")
            .join(test)
            .join(zone);
        Origin::launch(NodeConfig {
            node: format!("node-{zone}"),
            zone: zone.to_owned(),
            listen: "127.0.0.1:0".parse().unwrap(),
            data,
            redis: None,
            lease_ttl: Duration::from_millis(3000),
            ffmpeg: ffmpeg_for(test),
            capacity: 1e12,
            channels,
        })
        .await
    }

    /// Runs a node of `config` (its data directory emptied first) on a port of its own.
    pub(crate) async fn launch(config: NodeConfig) -> Origin {
        let _ = std::fs::remove_dir_all(&config.data);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, listener, async move {
            let _ = stopped.await;
        }));
        Origin {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) async fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        get(self.addr, path).await
    }

    /// Waits until `rendition`'s playlist lists `count` complete segments.
    pub(crate) async fn wait_segments(&self, rendition: &str, count: usize) -> Vec<u64> {
        self.wait_channel_segments("final", rendition, count).await
    }

    async fn wait_channel_segments(
        &self,
        channel: &str,
        rendition: &str,
        count: usize,
    ) -> Vec<u64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self
                .get(&format!("/{channel}/{rendition}/index.m3u8"))
                .await;
            let segments = segments(&reply.text());
            if segments.len() >= count {
                return segments;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {count} segments within 60 s: {} {}",
                reply.status,
                reply.text()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A channel of the test source's defaults on `ladder`.
pub(crate) fn spec(name: &str, source: Source, ladder: &str) -> ChannelSpec {
    let mut spec = ChannelSpec::new(name, source);
    spec.encoding.ladder = Ladder::parse(ladder, FrameRate::DEFAULT).unwrap();
    spec
}

/// [`spec`] on 1 s segments of two parts, for tests of behaviour that does not depend on the
/// segment duration: their waits for segments, input loss (two segments and 3 s) and
/// restarts take half as long as on `usher origin`'s 2 s.
pub(crate) fn short_spec(name: &str, source: Source, ladder: &str) -> ChannelSpec {
    let mut spec = spec(name, source, ladder);
    spec.encoding.timeline = Timeline::new(1000, 500).unwrap();
    spec
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request, `Connection: close`, read to the end.
async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path).await
}

/// The media sequence numbers of a playlist's complete segments (gaps included).
pub(crate) fn segments(playlist: &str) -> Vec<u64> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && l.ends_with(".m4s"))
        .filter_map(|l| l.trim_end_matches(".m4s").parse().ok())
        .collect()
}

/// First packet's decode time (s), whether it is a keyframe, and the sum of packet durations
/// (s), of `init` + `segment`, as ffprobe reads them.
fn probe(dir: &Path, name: &str, init: &[u8], segment: &[u8]) -> (f64, bool, f64) {
    let path = dir.join(name);
    std::fs::write(&path, [init, segment].concat()).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=dts_time,duration_time,flags",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe (make test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut first = None;
    let mut end = 0.0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let dts: f64 = fields[0].parse().unwrap();
        // The first AAC packet's duration is not given (the encoder's priming edit).
        let duration = fields[1].parse::<f64>().unwrap_or(0.021_333);
        end = dts + duration;
        first.get_or_insert((dts, fields[2].starts_with('K')));
    }
    let (dts, key) = first.expect("packets");
    (dts, key, end - dts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_channel_publishes_whole_epoch_aligned_segments_with_keyframes_aligned_across_rungs()
{
    let _live = live().await;
    let mut origin = Origin::start("aligned", "a", "640x360,426x240").await;
    origin.wait_segments("240p", 3).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("origin/aligned/probe");
    std::fs::create_dir_all(&dir).unwrap();
    let master = origin.get("/final/master.m3u8").await.text();
    assert!(master.contains("RESOLUTION=640x360") && master.contains("RESOLUTION=426x240"));
    let listed = segments(&origin.get("/final/360p/index.m3u8").await.text());
    // The newest two segments every rendition has.
    let msns: Vec<u64> = listed.iter().rev().skip(1).take(2).copied().collect();
    for rendition in ["360p", "240p", "audio"] {
        let init = origin.get(&format!("/final/{rendition}/init.mp4")).await;
        assert_eq!(init.status, 200, "{rendition} init");
        for &msn in &msns {
            let segment = origin.get(&format!("/final/{rendition}/{msn}.m4s")).await;
            assert_eq!(segment.status, 200, "{rendition} {msn}");
            let (dts, key, duration) = probe(
                &dir,
                &format!("{rendition}-{msn}.mp4"),
                &init.body,
                &segment.body,
            );
            let grid = msn as f64 * 2.0;
            if rendition == "audio" {
                // AAC frames (21.3 ms) do not divide a segment: it starts less than one
                // fragment (two frames) after the grid, and lasts 2 s to within one.
                assert!((0.0..0.043).contains(&(dts - grid)), "audio {msn} at {dts}");
                assert!(
                    (duration - 2.0).abs() < 0.045,
                    "audio {msn} lasts {duration}"
                );
            } else {
                // Video starts on the grid instant, on a keyframe, on every rung.
                assert!(
                    (dts - grid).abs() < 0.0005,
                    "{rendition} {msn} starts at {dts}, grid {grid}"
                );
                assert!(key, "{rendition} {msn} starts without a keyframe");
                assert!(
                    (duration - 2.0).abs() < 0.0005,
                    "{rendition} {msn} lasts {duration}"
                );
            }
        }
    }
    origin.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_blocks_reloads_sets_cache_and_cors_headers_and_speaks_http2() {
    let _live = live().await;
    let mut origin = Origin::start("serving", "a", "426x240").await;
    origin.wait_segments("240p", 1).await;
    let playlist = origin.get("/final/240p/index.m3u8").await;
    assert_eq!(
        playlist.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(playlist.header("access-control-allow-origin"), Some("*"));
    // The preload hint names the next part: ask for it and be held until it exists.
    let text = playlist.text();
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let mut fields = hint.trim_end_matches(".m4s").split('.');
    let (msn, part): (u64, u32) = (
        fields.next().unwrap().parse().unwrap(),
        fields.next().unwrap().parse().unwrap(),
    );
    let asked = tokio::time::Instant::now();
    let blocked = origin
        .get(&format!(
            "/final/240p/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"
        ))
        .await;
    let held = asked.elapsed();
    assert_eq!(blocked.status, 200);
    assert!(
        blocked.text().contains(&format!("URI=\"{hint}\"")),
        "{}",
        blocked.text()
    );
    assert!(
        held < Duration::from_secs(2),
        "held {held:?} for one 0.5 s part"
    );
    assert_eq!(blocked.header("cache-control"), Some("public, max-age=60"));
    let far = origin
        .get(&format!("/final/240p/index.m3u8?_HLS_msn={}", msn + 50))
        .await;
    assert_eq!(far.status, 400);
    assert_eq!(far.header("x-usher-reason"), Some("hls_msn_too_far_ahead"));
    // The part, immutable.
    let part_reply = origin.get(&format!("/final/240p/{hint}")).await;
    assert_eq!(part_reply.status, 200);
    assert_eq!(part_reply.header("content-type"), Some("video/iso.segment"));
    assert_eq!(
        part_reply.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let missing = origin.get("/final/240p/1.m4s").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(missing.header("x-usher-reason"), Some("not_found"));
    let traversal = origin.get("/final/..%2f/index.m3u8").await;
    assert_eq!(traversal.status, 400);
    let preflight = request(origin.addr, "OPTIONS", "/final/master.m3u8").await;
    assert_eq!(preflight.status, 204);
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );
    let head = request(origin.addr, "HEAD", "/final/master.m3u8").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let health = origin.get("/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());
    let metrics = origin.get("/metrics").await.text();
    assert!(
        metrics.contains(
            "usher_origin_segments_published_total{channel=\"final\",rendition=\"240p\"}"
        )
    );
    assert!(metrics.contains("usher_origin_lease{channel=\"final\",state=\"active\"} 1"));
    // HTTP/2 with prior knowledge, as a CDN shield speaks it.
    let version = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--http2-prior-knowledge",
        ])
        .arg(format!("http://{}/final/master.m3u8", origin.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), "2");
    origin.shut().await;
}

/// The pids of this process's ffmpeg children started by the nodes of `test` (through
/// [`ffmpeg_for`]), not those of the tests running beside it.
pub(crate) fn ffmpeg_children(test: &str) -> Vec<String> {
    let program = ffmpeg_for(test);
    let out = Command::new("pgrep")
        .args(["-a", "-P", &std::process::id().to_string(), "-x", "ffmpeg"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let pid = words.next()?;
            (words.next()? == program).then(|| pid.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_encoder_is_restarted_and_the_playlist_advances_over_a_gap() {
    let _live = live().await;
    let mut origin = Origin::start("killed", "a", "426x240").await;
    let before = origin.wait_segments("240p", 2).await;
    let children = ffmpeg_children("killed");
    assert_eq!(children.len(), 1, "{children:?}");
    assert!(
        Command::new("kill")
            .args(["-KILL", &children[0]])
            .status()
            .unwrap()
            .success()
    );
    let last_before = *before.last().unwrap();
    // Wait for two segments published by the new encoder.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = origin.get("/final/240p/index.m3u8").await.text();
        let gaps = text.matches("#EXT-X-GAP").count();
        if gaps > 0
            && segments(&text)
                .last()
                .is_some_and(|l| *l >= last_before + 2 + gaps as u64)
        {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let listed = segments(&text);
    for pair in listed.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "numbers run on over the gap: {text}");
    }
    // The segment in progress at the kill, and those until the new encoder's first whole
    // one: at most two segments lost to a restart.
    let gaps = text.matches("#EXT-X-GAP").count();
    assert!((1..=2).contains(&gaps), "{gaps} gaps: {text}");
    let metrics = origin.get("/metrics").await.text();
    assert!(
        metrics.contains("usher_origin_encoder_restarts_total{channel=\"final\"} 1"),
        "{metrics}"
    );
    assert_ne!(ffmpeg_children("killed"), children, "a new encoder");
    origin.shut().await;
    assert!(
        ffmpeg_children("killed").is_empty(),
        "no encoder left behind"
    );
}

/// tfdt of the first fragment of a segment: its epoch decode time.
fn decode_time(segment: &[u8]) -> u64 {
    let at = segment.windows(4).position(|w| w == b"tfdt").unwrap();
    let version = segment[at + 4];
    if version == 1 {
        u64::from_be_bytes(segment[at + 8..at + 16].try_into().unwrap())
    } else {
        u64::from(u32::from_be_bytes(
            segment[at + 8..at + 12].try_into().unwrap(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_following_two_zones_loses_one_and_continues_with_no_missing_segment() {
    let _live = live().await;
    let channels = || vec![short_spec("final", Source::Test, "426x240")];
    let mut a = Origin::start_with("zones", "a", channels()).await;
    let b = Origin::start_with("zones", "b", channels()).await;
    a.wait_segments("240p", 2).await;
    b.wait_segments("240p", 2).await;
    // Both zones publish the same numbers, timing and initialisation section.
    let init_a = a.get("/final/240p/init.mp4").await.body;
    let init_b = b.get("/final/240p/init.mp4").await.body;
    assert_eq!(init_a, init_b, "the zones' init sections differ");

    // A client that follows zone a, and zone b when a fails, fetching every segment listed.
    let mut fetched: Vec<(u64, char)> = Vec::new();
    let mut on = 'a';
    let started = tokio::time::Instant::now();
    let mut stopped_a = false;
    while started.elapsed() < Duration::from_secs(8) {
        if !stopped_a && started.elapsed() > Duration::from_millis(3500) {
            a.shut().await;
            stopped_a = true;
        }
        let origin = if on == 'a' { a.addr } else { b.addr };
        let reply = tokio::time::timeout(Duration::from_secs(2), async {
            match TcpStream::connect(origin).await {
                Ok(_) => Some(get(origin, "/final/240p/index.m3u8").await),
                Err(_) => None,
            }
        })
        .await
        .ok()
        .flatten();
        let Some(reply) = reply.filter(|r| r.status == 200) else {
            on = 'b';
            continue;
        };
        for msn in segments(&reply.text()) {
            if fetched.last().is_some_and(|(last, _)| msn <= *last) {
                continue;
            }
            if fetched.is_empty() && msn + 1 < *segments(&reply.text()).last().unwrap() {
                continue; // start at the live edge
            }
            let segment = get(origin, &format!("/final/240p/{msn}.m4s")).await;
            if segment.status != 200 {
                on = 'b';
                break;
            }
            // The same segment from the other zone starts at the same epoch instant.
            if on == 'a' {
                let other = b.get(&format!("/final/240p/{msn}.m4s")).await;
                if other.status == 200 {
                    assert_eq!(
                        decode_time(&segment.body),
                        decode_time(&other.body),
                        "segment {msn}"
                    );
                }
            }
            fetched.push((msn, on));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        fetched.iter().any(|(_, z)| *z == 'a') && fetched.iter().any(|(_, z)| *z == 'b'),
        "{fetched:?}"
    );
    for pair in fetched.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].0 + 1,
            "a segment missing across the switch: {fetched:?}"
        );
    }
    assert!(fetched.len() >= 6, "{fetched:?}");
    let mut b = b;
    b.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_input_goes_to_slate_with_ffmpegs_reason_and_the_other_channel_runs_on() {
    let _live = live().await;
    let junk = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("origin-junk.mp4");
    std::fs::write(&junk, b"this is not a video file, whatever its name says").unwrap();
    let mut origin = Origin::start_with(
        "broken",
        "a",
        vec![
            short_spec("good", Source::Test, "426x240"),
            short_spec("bad", Source::File(junk), "426x240"),
        ],
    )
    .await;
    // The broken channel's playlists advance on slate; the good one is untouched.
    origin.wait_channel_segments("bad", "240p", 2).await;
    let good = origin.wait_channel_segments("good", "240p", 2).await;
    let health = origin.get("/healthz").await.text();
    let bad = health
        .split("{\"channel\":")
        .find(|c| c.starts_with("\"bad\""))
        .unwrap();
    assert!(bad.contains("\"input\":\"slate\""), "{health}");
    assert!(
        bad.contains("Invalid data found"),
        "FFmpeg's own reason: {health}"
    );
    let metrics = origin.get("/metrics").await.text();
    assert!(
        metrics.contains("usher_origin_input_switches_total{channel=\"bad\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("usher_origin_input{channel=\"good\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("usher_origin_encoder_restarts_total{channel=\"good\"} 0"),
        "{metrics}"
    );
    // The good channel moves on. Its window may already be full (a slow machine takes longer
    // to get the bad one onto slate), so wait for a newer segment, not for more of them.
    let newest = good.last().copied();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = segments(&origin.get("/good/240p/index.m3u8").await.text());
        if now.last().copied() > newest {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the good channel stopped at {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    origin.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_beyond_the_nodes_capacity_is_refused_with_the_figures_and_the_others_run() {
    let _live = live().await;
    let first = spec("first", Source::Test, "426x240");
    let second = spec("second", Source::Test, "426x240");
    // Room for one and a half of them.
    let capacity = first.cost() * 1.5;
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("origin/capacity");
    let mut origin = Origin::launch(NodeConfig {
        node: "node-a".to_owned(),
        zone: "a".to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        data,
        redis: None,
        lease_ttl: Duration::from_millis(3000),
        ffmpeg: ffmpeg_for("capacity"),
        capacity,
        channels: vec![first, second],
    })
    .await;
    origin.wait_channel_segments("first", "240p", 1).await;
    let health = origin.get("/healthz").await.text();
    let second = health
        .split("{\"channel\":")
        .find(|c| c.starts_with("\"second\""))
        .unwrap();
    assert!(
        second.contains("refused: over capacity: it needs"),
        "the refusal says what it needs and what is taken: {health}"
    );
    assert_eq!(
        origin.get("/second/240p/index.m3u8").await.status,
        404,
        "a refused channel publishes nothing"
    );
    assert_eq!(
        ffmpeg_children("capacity").len(),
        1,
        "one encoder: the first channel's"
    );
    origin.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_channel_closes_its_playlists_and_stays_on_disk_as_a_replay() {
    let _live = live().await;
    let mut channel = short_spec("final", Source::Test, "426x240");
    channel.duration = Some(Duration::from_secs(4));
    let mut origin = Origin::start_with("ended", "a", vec![channel]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let live = loop {
        let text = origin.get("/final/240p/index.m3u8").await.text();
        if text.contains("#EXT-X-ENDLIST") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ended: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The served playlist is closed and says nothing of a live edge.
    assert!(!live.contains("#EXT-X-PRELOAD-HINT"), "{live}");
    assert!(!live.contains("CAN-BLOCK-RELOAD"), "{live}");
    let listed = segments(&live);
    assert!(listed.len() >= 2, "{live}");
    assert_eq!(ffmpeg_children("ended").len(), 0, "the encoder is stopped");
    // The replay is on disk: the whole event as a closed EVENT playlist, every segment it
    // lists beside it.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("origin/ended/a/final");
    let replay = std::fs::read_to_string(dir.join("240p/index.m3u8")).unwrap();
    assert!(replay.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{replay}");
    assert!(replay.ends_with("#EXT-X-ENDLIST\n"), "{replay}");
    let whole = segments(&replay);
    assert!(listed.iter().all(|msn| whole.contains(msn)), "{replay}");
    assert!(dir.join("master.m3u8").exists());
    assert!(dir.join("240p/init.mp4").exists());
    for msn in &whole {
        assert!(dir.join(format!("240p/{msn}.m4s")).exists(), "{msn}");
    }
    origin.shut().await;
}
