//! `usher control run` against local CDNs whose latency, errors and throughput change while it
//! runs: real HTTP probes, the real binary, its files, its API and its operator commands.
//!
//! Each stand-in CDN serves a live media playlist whose newest segment advances with the clock
//! (two-second segments, as the origin numbers them) and segments of a fixed size, through a
//! behaviour the test changes at run time: a delay before the response head, a share of 503s, a
//! bandwidth cap, or a full outage (connections closed unanswered).
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use usher_shared::health::HealthSnapshot;
use usher_shared::health::signature::{self, HealthKeys};

use crate::tempdir;

/// What a stand-in CDN does to each request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Behaviour {
    /// Delay before the response head.
    pub(crate) delay_ms: u64,
    /// Share of requests answered 503, in thousandths (spread evenly, not random: every
    /// `1000 / error_permille`-th request fails).
    pub(crate) error_permille: u64,
    /// Bandwidth cap on bodies, bytes per second.
    pub(crate) bytes_per_sec: Option<u64>,
    /// Connections are closed without an answer.
    pub(crate) outage: bool,
}

/// A local CDN stand-in.
pub(crate) struct Cdn {
    pub(crate) addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    pub(crate) requests: Arc<AtomicU64>,
}

const SEGMENT_BYTES: usize = 100_000;

/// Now, Unix milliseconds.
pub(crate) fn unix_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Cdn {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let accept = {
            let (behaviour, stop, requests) = (
                Arc::clone(&behaviour),
                Arc::clone(&stop),
                Arc::clone(&requests),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let b = *behaviour.lock().unwrap();
                            let n = requests.fetch_add(1, Ordering::Relaxed) + 1;
                            std::thread::spawn(move || serve(stream, b, n));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Cdn {
            addr,
            behaviour,
            stop,
            accept: Some(accept),
            requests,
        }
    }

    pub(crate) fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Cdn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, b: Behaviour, n: u64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    if b.outage {
        return;
    }
    std::thread::sleep(Duration::from_millis(b.delay_ms));
    let mut stream = stream;
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    let fails = b.error_permille > 0 && n.is_multiple_of((1000 / b.error_permille).max(1));
    let (status, content_type, body) = if fails {
        ("503 Service Unavailable", "text/plain", b"busy\n".to_vec())
    } else if path.ends_with(".m3u8") {
        let newest = unix_secs() / 2 - 1;
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            newest - 4
        );
        for msn in newest - 4..=newest {
            text.push_str(&format!("#EXTINF:2.000,\n{msn}.m4s\n"));
        }
        ("200 OK", "application/vnd.apple.mpegurl", text.into_bytes())
    } else if path.ends_with(".m4s") {
        ("200 OK", "video/mp4", vec![0x5a; SEGMENT_BYTES])
    } else {
        ("404 Not Found", "text/plain", b"no\n".to_vec())
    };
    let cache = if n.is_multiple_of(4) { "MISS" } else { "HIT" };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-cache: {cache}\r\nage: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    match b.bytes_per_sec {
        None => {
            let _ = stream.write_all(&body);
        }
        Some(rate) => {
            // Ten chunks a second at the capped rate.
            let chunk = usize::try_from((rate / 10).max(1)).unwrap();
            for part in body.chunks(chunk) {
                if stream.write_all(part).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A running `usher control run`.
pub(crate) struct Controller {
    child: Child,
    pub(crate) addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

pub(crate) const HEALTH_KEYS: &str =
    r#"{"h1": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}"#;

impl Controller {
    pub(crate) fn start(config: &Path, data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["control", "run", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.strip_prefix("usher control: dashboard on http://") {
                        let _ = tx.send(rest.trim_end_matches('/').parse::<SocketAddr>().unwrap());
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no dashboard line: {:?}", lines.lock().unwrap()));
        Controller {
            child,
            addr,
            stderr: lines,
        }
    }

    pub(crate) fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Stops it with SIGTERM, as an operator's Ctrl-C would, and waits.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "exit {status}: {:?}", self.stderr());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the controller did not stop: {:?}", self.stderr());
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange: (status, body).
pub(crate) fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The configuration for three stand-in CDNs, tuned to react in seconds rather than tens of
/// seconds (short half-lives, one-second evaluations), publishing to `health.json`.
pub(crate) fn config(dir: &Path, cdns: &[&Cdn], extra: &str) -> PathBuf {
    std::fs::write(dir.join("health-keys.json"), HEALTH_KEYS).unwrap();
    let weights = [4000, 3000, 3000];
    let mut text = String::from(
        "interval_ms = 1000\nmetrics_window_ms = 5000\nviewer_window_ms = 10000\n\
         [signing]\nkey_id = \"h1\"\nkeys_file = \"health-keys.json\"\n\
         [probe]\ninterval_ms = 250\ntimeout_ms = 2000\n\
         [health]\nhalf_life_ms = 2000\nstale_after_ms = 8000\nsnapshot_ttl_ms = 20000\n\
         [health.gate]\nhalf_life_ms = 1000\nmin_requests = 4.0\n\
         [health.steering]\nmin_dwell_ms = 1000\nmax_migration_bp = 2000\n\
         [health.score]\nthroughput_target_bps = 4000000.0\n\
         [[event]]\nid = \"final\"\nprobe_playlists = [\"v1/playlist.m3u8\"]\n\
         [[publish]]\nkind = \"file\"\npath = \"health.json\"\n",
    );
    for (i, (cdn, weight)) in cdns.iter().zip(weights).enumerate() {
        let id = ["cdn-a", "cdn-b", "cdn-c"][i];
        text.push_str(&format!(
            "[[cdn]]\nid = \"{id}\"\nbase_url = \"{}\"\nstatic_weight_bp = {weight}\n",
            cdn.base_url()
        ));
    }
    text.push_str(extra);
    let path = dir.join("control.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The published snapshot, opened with the keys (`None` until there is one).
pub(crate) fn published(dir: &Path) -> Option<HealthSnapshot> {
    let keys = HealthKeys::from_json(HEALTH_KEYS.as_bytes()).unwrap();
    let bytes = std::fs::read(dir.join("health.json")).ok()?;
    Some(signature::open(&keys, &bytes).expect("the published snapshot opens"))
}

/// Slots per CDN index in the snapshot's global table.
pub(crate) fn slot_counts(snapshot: &HealthSnapshot) -> Vec<u32> {
    let mut counts = vec![0; snapshot.cdns().len()];
    for slot in 0..snapshot.slots() {
        counts[snapshot.slot_cdn(slot).unwrap()] += 1;
    }
    counts
}

/// Polls `check` on the snapshot published to `dir/health.json` until it holds.
pub(crate) fn wait_for(
    dir: &Path,
    what: &str,
    limit: Duration,
    check: impl Fn(&HealthSnapshot) -> bool,
) -> HealthSnapshot {
    wait_for_file(
        &dir.join("health.json"),
        HEALTH_KEYS.as_bytes(),
        what,
        limit,
        check,
    )
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs the `usher` binary: exit code, stdout, stderr.
pub(crate) fn usher(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn state_of(snapshot: &HealthSnapshot, cdn: usize) -> String {
    let json: Value = serde_json::from_slice(&snapshot.to_json()).unwrap();
    json["cdns"][cdn]["state"].as_str().unwrap().to_owned()
}

#[test]
fn the_controller_steers_away_from_failing_slow_and_drained_cdns_measured_by_real_probes() {
    let dir = tempdir::Dir::new();
    let data = dir.path().join("data");
    let cdns = [Cdn::start(), Cdn::start(), Cdn::start()];
    let config = config(dir.path(), &[&cdns[0], &cdns[1], &cdns[2]], "");
    let controller = Controller::start(&config, &data);

    // Healthy: every CDN is measured and keeps a share.
    let healthy = wait_for(
        dir.path(),
        "all three healthy",
        Duration::from_secs(20),
        |s| (0..3).all(|i| state_of(s, i) == "healthy"),
    );
    assert!(slot_counts(&healthy).iter().all(|c| *c > 0));
    for cdn in &cdns {
        assert!(
            cdn.requests.load(Ordering::Relaxed) > 4,
            "probes reached every CDN"
        );
    }

    // QoE from an edge: two viewers on cdn-a, one on cdn-b.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let qoe = format!(
        "{{\"at\":{now},\"event\":\"final\",\"pathway\":\"cdn-a\",\"source\":\"request\",\"cmcd\":{{\"sid\":\"v1\",\"mtp\":20000,\"br\":3000}}}}\n\
         {{\"at\":{now},\"event\":\"final\",\"pathway\":\"cdn-a\",\"source\":\"request\",\"cmcd\":{{\"sid\":\"v2\",\"mtp\":20000}}}}\n\
         {{\"at\":{now},\"event\":\"final\",\"pathway\":\"cdn-b\",\"source\":\"beacon\",\"cmcd\":{{\"sid\":\"v3\",\"bs\":true}}}}\n\
         {{\"at\":{now},\"event\":\"final\",\"pathway\":\"cdn-x\",\"cmcd\":{{}}}}\nnot json\n"
    );
    let (status, body) = http(controller.addr, "POST", "/v1/qoe", &qoe);
    assert_eq!(
        (status, body.trim()),
        (200, r#"{"accepted":3,"refused":2}"#)
    );

    // Errors on cdn-b: gated, and its slots failed over at once.
    cdns[1].set(Behaviour {
        error_permille: 600,
        ..Behaviour::default()
    });
    let gated = wait_for(
        dir.path(),
        "cdn-b gated and empty",
        Duration::from_secs(20),
        |s| state_of(s, 1) == "gated" && slot_counts(s)[1] == 0,
    );
    assert!(slot_counts(&gated)[0] > 0 && slot_counts(&gated)[2] > 0);

    // cdn-b recovers; cdn-c becomes slow and narrow: its share falls under its static 30 %.
    cdns[1].set(Behaviour::default());
    cdns[2].set(Behaviour {
        delay_ms: 700,
        bytes_per_sec: Some(150_000),
        ..Behaviour::default()
    });
    wait_for(
        dir.path(),
        "cdn-c below 15 %",
        Duration::from_secs(30),
        |s| {
            let json: Value = serde_json::from_slice(&s.to_json()).unwrap();
            json["cdns"][2]["weight_bp"].as_u64().unwrap() < 1500 && slot_counts(s)[2] < 150
        },
    );
    cdns[2].set(Behaviour::default());

    // The dashboard's data: ticks with per-CDN figures and the viewers the QoE lines made.
    let (status, state) = http(controller.addr, "GET", "/v1/state", "");
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&state).unwrap();
    let ticks = state["ticks"].as_array().unwrap();
    assert!(ticks.len() >= 3);
    let viewers_seen = ticks
        .iter()
        .any(|t| t["cdns"][0]["viewers"] == 2 && t["cdns"][1]["viewers"] == 1 && t["viewers"] == 3);
    assert!(viewers_seen, "viewers per CDN from QoE");
    let last = ticks.last().unwrap();
    assert!(last["cdns"][0]["figures"]["ttfb_p95_ms"].as_f64().unwrap() >= 0.0);
    assert!(last["cdns"][0]["probe_age_ms"].as_u64().unwrap() < 3000);
    assert_eq!(
        last["qoe_refused"],
        serde_json::json!([["malformed", 1], ["unknown_cdn", 1]])
    );
    assert!(last["publish"][0]["ok_at_ms"].as_u64().is_some());

    // An operator drains cdn-a: empty at the next evaluation, logged with who and why.
    let url = format!("http://{}/", controller.addr);
    let (code, out, err) = usher(&[
        "control",
        "drain",
        "cdn-a",
        "--controller",
        &url,
        "--who",
        "ana",
        "--why",
        "test drain",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("\"outcome\":\"applied\""), "{out}");
    wait_for(dir.path(), "cdn-a drained", Duration::from_secs(10), |s| {
        slot_counts(s)[0] == 0
    });
    // Pins adding up to more than the whole audience: refused, and logged as refused.
    let (code, out, _) = usher(&[
        "control",
        "pin",
        "cdn-b=6000",
        "cdn-c=6000",
        "--controller",
        &url,
        "--who",
        "bo",
        "--why",
        "too much",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refused"), "{out}");
    let audit = lines(&data.join("audit.jsonl"));
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["who"], "ana");
    assert_eq!(audit[0]["why"], "test drain");
    assert_eq!(audit[0]["action"], "drain cdn-a");
    assert!(audit[1]["outcome"].as_str().unwrap().starts_with("refused"));

    // The decision log explains what happened, with reason codes.
    let decisions = lines(&data.join("decisions.jsonl"));
    let has = |cdn: &str, reason: &str| {
        decisions
            .iter()
            .any(|d| d["cdn"] == cdn && d["reason"] == reason)
    };
    assert!(has("cdn-b", "gated_error_rate"), "{decisions:?}");
    assert!(has("cdn-a", "operator_drain"), "{decisions:?}");
    assert!(
        decisions
            .iter()
            .any(|d| d["kind"] == "moves" && d["reason"] == "failover"),
        "{decisions:?}"
    );

    // A restart resumes: the sequence goes on and the drain stands.
    let seq_before = published(dir.path()).unwrap().seq();
    controller.stop();
    let controller = Controller::start(&config, &data);
    let resumed = wait_for(
        dir.path(),
        "a newer snapshot",
        Duration::from_secs(10),
        |s| s.seq() > seq_before,
    );
    assert_eq!(slot_counts(&resumed)[0], 0, "cdn-a is still drained");
    assert!(
        controller
            .stderr()
            .iter()
            .any(|l| l.contains("resumed from snapshot")),
        "{:?}",
        controller.stderr()
    );
    let (code, out, err) = usher(&[
        "control",
        "clear",
        "cdn-a",
        "--controller",
        &url_of(&controller),
        "--who",
        "ana",
        "--why",
        "over",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    wait_for(dir.path(), "cdn-a back", Duration::from_secs(20), |s| {
        slot_counts(s)[0] > 0
    });
    controller.stop();
    let timeline = lines(&data.join("timeline.jsonl"));
    assert!(timeline.len() >= 10);
}

fn url_of(controller: &Controller) -> String {
    format!("http://{}/", controller.addr)
}

#[test]
fn a_bad_configuration_or_command_is_a_usage_error_naming_the_problem() {
    let dir = tempdir::Dir::new();
    let cdn = Cdn::start();
    let path = config(dir.path(), &[&cdn], "[sla]\nttfb_p59_ms = 1\n");
    let (code, _, err) = usher(&["control", "run", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ttfb_p59_ms"), "{err}");
    let (code, _, err) = usher(&["control", "pin", "cdn-a=20000", "--why", "x", "--who", "y"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("0 to 10000"), "{err}");
}

#[test]
fn the_controller_steers_the_local_edge_from_real_probes() {
    use crate::edge::{Edge, Origin, SilentOrigin, component, config_dir, origin_files};
    use crate::edge::{steering_pathway, ticket_for};

    let wasm = component();
    let origin = Origin::start(origin_files(b"segment"));
    let silent = SilentOrigin::start();
    // The edge's configuration, with the conformance pathways cdn-a, cdn-b and cdn-c
    // (50/30/20) and health keys; the controller publishes into it.
    let edge_config = config_dir(origin.addr, silent.addr);
    let health = edge_config.path().join("health.json");
    let dir = tempdir::Dir::new();
    let cdns = [Cdn::start(), Cdn::start(), Cdn::start()];
    let (keys, kid) = edge_signing_keys(edge_config.path(), dir.path());
    let mut text = format!(
        "interval_ms = 1000\n\
         [signing]\nkey_id = \"{kid}\"\nkeys_file = \"edge-health-keys.json\"\n\
         [probe]\ninterval_ms = 250\ntimeout_ms = 2000\n\
         [health]\nhalf_life_ms = 2000\nstale_after_ms = 8000\n\
         [health.gate]\nhalf_life_ms = 1000\nmin_requests = 4.0\n\
         [[event]]\nid = \"final-2026\"\nprobe_playlists = [\"v1/playlist.m3u8\"]\n\
         [[publish]]\nkind = \"file\"\npath = \"{}\"\n",
        health.display()
    );
    text.push_str(&conformance_cdns(&cdns));
    let config = dir.path().join("control.toml");
    std::fs::write(&config, text).unwrap();

    let edge = Edge::spawn(&wasm, edge_config.path(), &[]).ready();
    let controller = Controller::start(&config, &dir.path().join("data"));
    let viewers = std::sync::atomic::AtomicU32::new(0);
    let pathways = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let v = viewers.fetch_add(1, Ordering::SeqCst);
                let ticket = ticket_for("final-2026", &format!("viewer-{v}"), 1);
                let master = edge.get(
                    &format!("/events/final-2026/master.m3u8?ticket={ticket}"),
                    &[],
                );
                assert_eq!(master.status, 200, "{}", master.text());
                steering_pathway(&master.text())
            })
            .collect()
    };

    // cdn-a fails; the probes see it, the controller gates it and publishes, and from then on
    // the edge sends no new viewer there.
    let healthy = wait_for_file(
        &health,
        &keys,
        "a published snapshot",
        Duration::from_secs(30),
        |s| s.seq() > 2,
    );
    assert!(slot_counts(&healthy)[0] > 0);
    cdns[0].set(Behaviour {
        outage: true,
        ..Behaviour::default()
    });
    wait_for_file(
        &health,
        &keys,
        "cdn-a empty",
        Duration::from_secs(30),
        |s| slot_counts(s)[0] == 0,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = pathways(20);
        if seen.iter().all(|p| p != "cdn-a") {
            assert!(seen.iter().any(|p| p == "cdn-b") && seen.iter().any(|p| p == "cdn-c"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edge still steers to cdn-a: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (stderr, _) = edge.stop();
    assert!(
        !stderr.iter().any(|l| l.contains("health_error")),
        "the edge accepted every sealed snapshot: {stderr:#?}"
    );
    controller.stop();
    silent.stop();
}

/// The edge's health keys (in `edge_config`), copied beside a controller's configuration in
/// `dir` as `edge-health-keys.json`: their bytes and the key id to sign with.
pub(crate) fn edge_signing_keys(edge_config: &Path, dir: &Path) -> (Vec<u8>, String) {
    let copy = dir.join("edge-health-keys.json");
    std::fs::copy(edge_config.join("health-keys.json"), &copy).unwrap();
    let keys = std::fs::read(&copy).unwrap();
    let kid = HealthKeys::from_json(&keys)
        .unwrap()
        .kids()
        .next()
        .unwrap()
        .to_owned();
    (keys, kid)
}

/// `[[cdn]]` tables for three stand-in CDNs with the conformance pathways' ids and static
/// weights (cdn-a 50 %, cdn-b 30 %, cdn-c 20 %).
pub(crate) fn conformance_cdns(cdns: &[Cdn]) -> String {
    cdns.iter()
        .zip([("cdn-a", 5000), ("cdn-b", 3000), ("cdn-c", 2000)])
        .map(|(cdn, (id, weight))| {
            format!(
                "[[cdn]]\nid = \"{id}\"\nbase_url = \"{}\"\nstatic_weight_bp = {weight}\n",
                cdn.base_url()
            )
        })
        .collect()
}

/// Polls a sealed snapshot file until `check` holds, or fails with the last one seen.
fn wait_for_file(
    path: &Path,
    keys: &[u8],
    what: &str,
    limit: Duration,
    check: impl Fn(&HealthSnapshot) -> bool,
) -> HealthSnapshot {
    let keys = HealthKeys::from_json(keys).unwrap();
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(snapshot) = std::fs::read(path)
            .ok()
            .and_then(|b| signature::open(&keys, &b).ok())
        {
            if check(&snapshot) {
                return snapshot;
            }
            last = Some(snapshot);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{what}: not within {limit:?}; last snapshot: {}",
        last.map(|s| String::from_utf8_lossy(&s.to_json()).into_owned())
            .unwrap_or_default()
    );
}
