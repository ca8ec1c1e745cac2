//! The waiting room end to end: a kickoff surge of simulated viewers through `usher edge serve`
//! (the production WASI-HTTP component), with `usher control run` reading the edge's arrival
//! and CMCD lines and publishing the frontier the edge admits by. Checks the three promises of
//! phased admission: the admitted rate, the active cap, and the shuffled pre-queue.
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::control::{Cdn, Controller, conformance_cdns, edge_signing_keys, unix_ms};
use crate::edge::{Edge, Origin, SilentOrigin, component, config_dir, origin_files, ticket_for};
use crate::tempdir;

/// Viewers per minute the room admits.
const RATE_PER_MIN: u64 = 240;
/// Viewers admitted and playing at once, at most.
const CAP: u64 = 30;
/// Viewers who arrive before the doors open.
const EARLY: usize = 24;
/// Viewers who arrive in one burst just after.
const BURST: usize = 24;

/// One HTTP/1.0 GET (so the body is never chunked) with a `Host` of our choosing: status, headers
/// (lower-case names), body.
fn request(
    addr: SocketAddr,
    host: &str,
    path: &str,
    cookie: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\n{cookie}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// A simulated viewer: a ticket, a browser's cookie jar, and when things happened to it.
struct Viewer {
    name: String,
    ticket: String,
    jar: HashMap<String, String>,
    arrived_ms: u64,
    admitted_ms: Option<u64>,
    media: Option<(String, String)>,
}

impl Viewer {
    fn new(name: String) -> Self {
        Viewer {
            ticket: ticket_for("final-2026", &name, 1),
            name,
            jar: HashMap::new(),
            arrived_ms: 0,
            admitted_ms: None,
            media: None,
        }
    }

    fn cookie(&self) -> String {
        let mut all = vec![format!("usher_ticket={}", self.ticket)];
        all.extend(self.jar.iter().map(|(n, v)| format!("{n}={v}")));
        all.join("; ")
    }

    fn get(&mut self, edge: SocketAddr, host: &str, path: &str) -> (u16, Value, String) {
        let (status, headers, body) = request(edge, host, path, &self.cookie());
        for (name, value) in &headers {
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (n, v) = pair.split_once('=').unwrap();
                if value.contains("Max-Age=0") {
                    self.jar.remove(n);
                } else {
                    self.jar.insert(n.to_owned(), v.to_owned());
                }
            }
        }
        let reason = headers
            .iter()
            .find(|(n, _)| n == "x-usher-reason")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        // A playlist's body is what the caller wants; for the rest, the reason.
        let text = if body.starts_with("#EXTM3U") {
            body
        } else {
            reason
        };
        (status, json, text)
    }

    /// The place its signed queue cookie holds (`q1~event~position~...`).
    fn place(&self) -> u64 {
        let cookie = &self.jar["usher_queue"];
        cookie.split('~').nth(2).unwrap().parse().unwrap()
    }

    /// The waiting page's poll. Returns whether the viewer is admitted now.
    fn poll(&mut self, edge: SocketAddr) -> bool {
        let (status, json, reason) = self.get(edge, &edge.to_string(), "/events/final-2026/queue");
        assert_eq!(
            status, 200,
            "{}: queue answered {status} {reason}",
            self.name
        );
        json["state"] == "admitted"
    }

    /// What the player does once admitted: the multivariant playlist, then media playlist
    /// reloads through the CDN it was given, with CMCD naming its session (the controller
    /// counts it as playing).
    fn play(&mut self, edge: SocketAddr) {
        if self.media.is_none() {
            let (status, _, body) =
                self.get(edge, &edge.to_string(), "/events/final-2026/master.m3u8");
            assert_eq!(
                status, 200,
                "{}: an admitted viewer's playlist: {body}",
                self.name
            );
            let uri = body
                .lines()
                .find(|l| l.starts_with("https://") && l.contains("/720p/index.m3u8"))
                .unwrap_or_else(|| panic!("no media playlist in {body}"));
            let rest = uri.strip_prefix("https://").unwrap();
            let (host, path) = rest.split_once('/').unwrap();
            self.media = Some((host.to_owned(), format!("/{path}")));
        }
        let (host, path) = self.media.clone().unwrap();
        let cmcd = format!("&CMCD=br%3D3000%2Cmtp%3D20000%2Csid%3D%22{}%22", self.name);
        let (status, _, body) = self.get(edge, &host, &format!("{path}{cmcd}"));
        assert_eq!(status, 200, "{}: media playlist: {body}", self.name);
    }
}

#[test]
fn a_kickoff_surge_is_admitted_at_the_rate_within_the_cap_with_the_early_crowd_shuffled() {
    let wasm = component();
    let origin = Origin::start(origin_files(b"segment"));
    let silent = SilentOrigin::start();
    let edge_config = config_dir(origin.addr, silent.addr);
    let doors = unix_ms() + 8_000;
    // The edge's catalog with a waiting room on final-2026.
    let events_path = edge_config.path().join("events.json");
    let mut events: Value = serde_json::from_slice(&std::fs::read(&events_path).unwrap()).unwrap();
    events["events"][0]["admission"] = serde_json::json!({ "doors_open_ms": doors });
    std::fs::write(&events_path, events.to_string()).unwrap();

    // The controller: the edge's lines in, the frontier out (into the edge's health.json).
    let dir = tempdir::Dir::new();
    let qoe = dir.path().join("edge.jsonl");
    std::fs::write(&qoe, "").unwrap();
    let (_, kid) = edge_signing_keys(edge_config.path(), dir.path());
    let cdns = [Cdn::start(), Cdn::start(), Cdn::start()];
    let mut text = format!(
        "interval_ms = 1000\nviewer_window_ms = 10000\n\
         [signing]\nkey_id = \"{kid}\"\nkeys_file = \"edge-health-keys.json\"\n\
         [probe]\ninterval_ms = 500\ntimeout_ms = 2000\n\
         [[event]]\nid = \"final-2026\"\nprobe_playlists = [\"v1/playlist.m3u8\"]\n\
         [event.admission]\ndoors_open_ms = {doors}\nrate_per_min = {RATE_PER_MIN}\ncap = {CAP}\n\
         [qoe]\nfiles = [{:?}]\n\
         [[publish]]\nkind = \"file\"\npath = {:?}\n",
        qoe.display().to_string(),
        edge_config.path().join("health.json").display().to_string(),
    );
    text.push_str(&conformance_cdns(&cdns));
    let config = dir.path().join("control.toml");
    std::fs::write(&config, text).unwrap();

    let edge = Edge::spawn(&wasm, edge_config.path(), &[]).ready();
    let controller = Controller::start(&config, &dir.path().join("data"));
    // The edge's stdout is its log stream; the controller follows it as a file.
    let pumping = Arc::new(AtomicBool::new(true));
    let pump = {
        let (stdout, pumping, qoe) = (edge.stdout_handle(), Arc::clone(&pumping), qoe.clone());
        std::thread::spawn(move || {
            let mut written = 0;
            while pumping.load(Ordering::Relaxed) {
                let lines = stdout.lock().unwrap().clone();
                if lines.len() > written {
                    let mut file = std::fs::OpenOptions::new().append(true).open(&qoe).unwrap();
                    for line in &lines[written..] {
                        writeln!(file, "{line}").unwrap();
                    }
                    written = lines.len();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let addr = edge.addr();

    // The early crowd, in arrival order, well before the doors.
    let mut viewers: Vec<Viewer> = (0..EARLY)
        .map(|i| Viewer::new(format!("early-{i:02}")))
        .collect();
    for viewer in &mut viewers {
        viewer.arrived_ms = unix_ms();
        assert!(
            !viewer.poll(addr),
            "{} admitted before the doors",
            viewer.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A player without an admission is sent to the waiting room.
    let (status, _, reason) =
        viewers[0].get(addr, &addr.to_string(), "/events/final-2026/master.m3u8");
    assert_eq!((status, reason.as_str()), (429, "queued"));
    while unix_ms() < doors + 500 {
        for viewer in &mut viewers {
            assert!(
                !viewer.poll(addr),
                "{} admitted before the doors",
                viewer.name
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // The burst: everyone else at once, just after the doors open.
    for i in 0..BURST {
        let mut viewer = Viewer::new(format!("burst-{i:02}"));
        viewer.arrived_ms = unix_ms();
        viewer.poll(addr);
        viewers.push(viewer);
    }

    // Every viewer polls like the waiting page; the admitted play.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut admitted_over_time: Vec<(u64, usize)> = Vec::new();
    loop {
        let now = unix_ms();
        for viewer in &mut viewers {
            if viewer.admitted_ms.is_some() {
                viewer.play(addr);
            } else if viewer.poll(addr) {
                viewer.admitted_ms = Some(unix_ms());
                viewer.play(addr);
            }
        }
        let admitted = viewers.iter().filter(|v| v.admitted_ms.is_some()).count();
        admitted_over_time.push((now, admitted));
        // Done once the cap is reached and has held for a few seconds.
        let full_since = admitted_over_time
            .iter()
            .find(|(_, n)| *n as u64 >= CAP)
            .map(|(t, _)| *t);
        if full_since.is_some_and(|t| now > t + 6_000) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    pumping.store(false, Ordering::Relaxed);
    pump.join().unwrap();
    controller.stop();
    let (_, stdout) = edge.stop();
    silent.stop();

    // What the edge told the controller.
    let lines: Vec<Value> = stdout
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of_kind =
        |kind: &str| -> Vec<&Value> { lines.iter().filter(|l| l["kind"] == kind).collect() };
    assert_eq!(
        of_kind("arrival").len(),
        EARLY + BURST,
        "one arrival per viewer"
    );
    let admitted: Vec<&Viewer> = viewers.iter().filter(|v| v.admitted_ms.is_some()).collect();
    assert_eq!(of_kind("admitted").len(), admitted.len());

    // 1. The cap: never more admitted than it allows while everyone admitted keeps playing.
    let total = admitted.len() as u64;
    assert!(total <= CAP, "{total} admitted, cap {CAP}");
    assert!(
        total >= CAP - 2,
        "the room filled up to its cap: {total} of {CAP}"
    );

    // 2. The rate: in every window of 5 s, at most the rate's share plus one controller tick's
    //    worth (the frontier moves once a second), and nobody before the doors.
    let times: Vec<u64> = admitted.iter().map(|v| v.admitted_ms.unwrap()).collect();
    assert!(
        times.iter().all(|&t| t >= doors),
        "admitted before the doors"
    );
    let per_window = RATE_PER_MIN * 5 / 60 + RATE_PER_MIN / 60 + 1;
    for &start in &times {
        let in_window = times
            .iter()
            .filter(|&&t| t >= start && t < start + 5_000)
            .count() as u64;
        assert!(
            in_window <= per_window,
            "{in_window} admitted in 5 s from {start}: rate {RATE_PER_MIN}/min"
        );
    }
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    let spread_s = (last - first) as f64 / 1000.0;
    let expected_s = (total as f64 - 1.0) * 60.0 / RATE_PER_MIN as f64;
    assert!(
        spread_s >= expected_s * 0.6,
        "{total} admissions in {spread_s:.1} s: faster than {RATE_PER_MIN}/min allows ({expected_s:.1} s)"
    );

    // 3. The pre-queue first, and shuffled: every early viewer goes in before anyone of the
    //    burst, and not in the order they arrived.
    let early: Vec<&Viewer> = viewers[..EARLY].iter().collect();
    assert!(
        early.iter().all(|v| v.admitted_ms.is_some()),
        "the whole pre-queue is admitted"
    );
    let last_early = early.iter().map(|v| v.admitted_ms.unwrap()).max().unwrap();
    let burst_admitted: Vec<u64> = viewers[EARLY..]
        .iter()
        .filter_map(|v| v.admitted_ms)
        .collect();
    assert!(
        burst_admitted.iter().all(|&t| t >= last_early),
        "a burst viewer went in before the pre-queue was through"
    );
    let places: Vec<u64> = early.iter().map(|v| v.place()).collect();
    assert!(
        places.iter().all(|&p| p < doors),
        "pre-queue places are before the doors"
    );
    let pairs = EARLY * (EARLY - 1) / 2;
    let in_order = (0..EARLY)
        .flat_map(|i| (i + 1..EARLY).map(move |j| (i, j)))
        .filter(|&(i, j)| places[i] < places[j])
        .count();
    let share = in_order as f64 / pairs as f64;
    assert!(
        (0.2..0.8).contains(&share),
        "the pre-queue kept its arrival order: {in_order} of {pairs} pairs in order"
    );
    // And admission followed the places: a lower place never went in after a higher one, but
    // for the viewers' own polling (a new frontier can arrive between two viewers' polls of
    // one round, so the later poller of the round goes in first).
    let round_ms = admitted_over_time
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap();
    for a in &early {
        for b in &early {
            if a.place() < b.place() {
                assert!(
                    a.admitted_ms.unwrap() <= b.admitted_ms.unwrap() + round_ms,
                    "{} went in more than a polling round ({round_ms} ms) before {}",
                    b.name,
                    a.name
                );
            }
        }
    }
    eprintln!(
        "surge: {} viewers ({EARLY} early, {BURST} in a burst), {total} admitted over {spread_s:.1} s \
         at {RATE_PER_MIN}/min (cap {CAP}); pre-queue order kept by {in_order} of {pairs} pairs",
        EARLY + BURST
    );
    // The edge's admitted lines carry the same places.
    let mut logged: Vec<u64> = of_kind("admitted")
        .iter()
        .map(|l| l["position"].as_u64().unwrap())
        .collect();
    let mut held: Vec<u64> = admitted.iter().map(|v| v.place()).collect();
    logged.sort_unstable();
    held.sort_unstable();
    assert_eq!(logged, held);

    // 4. The post-event report tells the same story from the controller's record.
    let out = dir.path().join("report");
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["control", "report", "--event", "final-2026", "--data"])
        .arg(dir.path().join("data"))
        .arg("--out")
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let room = &json["admission"][0];
    assert_eq!(room["event"], "final-2026", "{room}");
    // The controller ticks once a second: it sees the doors within a tick or two.
    let opened = room["doors_open_ms"].as_u64().unwrap();
    assert!(
        opened.abs_diff(doors) <= 2_500,
        "doors at {opened}, configured {doors}"
    );
    assert_eq!(room["pre_queue"], EARLY as u64, "{room}");
    // The last admissions may reach the controller after its last tick.
    let counted = room["admitted"].as_u64().unwrap();
    assert!(
        counted <= total && counted + 3 >= total,
        "{counted} counted, {total} admitted"
    );
    assert_eq!(room["cap"], CAP);
    assert!(room["peak_active"].as_u64().unwrap() <= CAP, "{room}");
    assert!(room["cap_reached_at_ms"].as_u64().is_some(), "{room}");
    let csv = std::fs::read_to_string(out.join("admission.csv")).unwrap();
    // A row per tick, the event in the third column.
    assert!(
        csv.lines().count() > 5
            && csv
                .lines()
                .skip(1)
                .all(|l| l.split(',').nth(2) == Some("final-2026")),
        "{csv}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(r#"<section id="admission">"#));
}
