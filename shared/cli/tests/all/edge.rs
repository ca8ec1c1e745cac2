//! `usher edge serve`, end to end: the real WASI-HTTP component in the real host, over real
//! HTTP, in front of a real (tiny) origin on 127.0.0.1: the viewer flow, the host's asset and
//! lease stores, its HTTP cache, the health snapshot reload, trusted geolocation headers, the
//! per-request fuel budget, an external lease store, and the compile cache.
//!
//! The component is built by this test (`cargo build -p usher-edge-wasi-http --release
//! --target wasm32-wasip2`, a no-op when `make test` built it already), or taken from
//! `USHER_EDGE_WASM` when that names a file. Everything listens on 127.0.0.1 only, and every
//! process and thread started here is stopped before the test returns, pass or fail.
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use usher_shared::health::{self, HealthKeys};
use usher_shared::token::Keyring;
use usher_shared::token::jwt::{self, Claims};

use crate::tempdir;

pub(crate) const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../edge/core/tests/conformance"
);
const TICKET_KID: &str = "tickets-2026";
const SEGMENT: &str = "seg-883606687.m4s";

#[test]
fn the_edge_component_serves_viewers_end_to_end() {
    let wasm = component();
    let segment: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let origin = Origin::start(origin_files(&segment));
    let silent = SilentOrigin::start();
    let config = config_dir(origin.addr, silent.addr);
    let broken = config_dir(origin.addr, silent.addr);
    let (assets, player_library) = assets_dir();
    let settings = broken.path().join("settings.json");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        text.replace("\"ttl_secs\": 600", "\"ttl_secs\": 5"),
    )
    .unwrap();
    // Both compile the component at once: the machine's cores are shared either way.
    let misconfigured = Edge::spawn(&wasm, broken.path(), &[]);
    let assets_arg = assets.path().to_str().unwrap();
    let edge = Edge::spawn(&wasm, config.path(), &["--assets", assets_arg]).ready();
    let misconfigured = misconfigured.ready();

    // A configuration the core refuses: every answer is 503, the error is in the log only.
    for path in ["/healthz", "/events/final-2026/master.m3u8"] {
        let refused = misconfigured.get(path, &[]);
        assert_eq!(refused.status, 503);
        assert_eq!(refused.header("x-usher-reason"), Some("config_error"));
        assert!(!refused.text().contains("ttl_secs"), "{}", refused.text());
    }
    let (stderr, _) = misconfigured.stop();
    assert!(
        stderr[0].contains("warning: config settings: session.ttl_secs"),
        "{stderr:#?}"
    );
    let logged: Vec<Value> = stderr
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(logged.len(), 2, "{stderr:#?}");
    assert_eq!(logged[1]["route"], "multivariant");
    assert_eq!(logged[1]["status"], 503);
    assert!(
        logged[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("config settings: session.ttl_secs")
    );

    // Health.
    let health = edge.get("/healthz", &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.body, b"ok\n");

    // No ticket: refused, with the reason.
    let refused = edge.get("/events/final-2026/master.m3u8", &[]);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("x-usher-reason"), Some("no_ticket"));

    // A ticket: the origin's multivariant playlist, rewritten for one CDN, every URI with a
    // session token, and the steering tag.
    let final_ticket = ticket("final-2026");
    let master = edge.get(
        &format!("/events/final-2026/master.m3u8?ticket={final_ticket}&device=tv"),
        &[],
    );
    assert_eq!(master.status, 200, "{}", master.text());
    assert_eq!(master.header("x-usher-reason"), Some("ok"));
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let playlist = master.text();
    let pathway = steering_pathway(&playlist);
    let cdn = cdn_base(&pathway);
    let uris = uris(&playlist);
    assert_eq!(uris.len(), 4, "{playlist}"); // The audio rendition and three variants.
    for uri in &uris {
        assert!(
            uri.starts_with(&format!("{cdn}events/final-2026/")),
            "{uri}"
        );
        assert!(uri.contains("?__token__="), "{uri}");
    }
    assert!(playlist.contains(&format!("PATHWAY-ID=\"{pathway}\"")));
    assert!(
        !playlist.contains(&final_ticket),
        "the ticket never reaches a URI"
    );

    // A segment at the edge with the session token from the playlist: the origin's bytes,
    // fetched without the viewer's parameters.
    let token = uris
        .iter()
        .find(|u| u.contains("/720p/index.m3u8"))
        .and_then(|u| u.split_once("?__token__="))
        .map(|(_, t)| t.to_owned())
        .unwrap();
    // That is a playlist token, which opens playlists only; segments need the session token
    // the media playlist writes into its URIs.
    let token = session_token(&edge, &token);
    let segment_path = format!("/events/final-2026/720p/{SEGMENT}");
    let proxied = edge.get(
        &format!("{segment_path}?__token__={token}&CMCD=br%3D3000%2Cot%3Dv"),
        &[],
    );
    assert_eq!(proxied.status, 200);
    assert_eq!(proxied.header("x-usher-reason"), Some("ok"));
    assert_eq!(proxied.header("content-type"), Some("video/iso.segment"));
    assert!(proxied.body == segment, "the segment's bytes, unchanged");
    assert!(
        origin
            .requests()
            .contains(&format!("/live/final-2026/720p/{SEGMENT}")),
        "{:?}",
        origin.requests()
    );

    // The media playlist, rewritten with a renewed token.
    let media = edge.get(
        &format!("/events/final-2026/720p/index.m3u8?__token__={token}"),
        &[],
    );
    assert_eq!(media.status, 200);
    assert!(
        media
            .text()
            .contains(&format!("{cdn}events/final-2026/720p/{SEGMENT}?__token__="))
    );

    // A forged session token.
    let forged = forge(&token);
    let refused = edge.get(&format!("{segment_path}?__token__={forged}"), &[]);
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.header("x-usher-reason"),
        Some("session_bad_signature")
    );

    // The player library, from the host's asset store, with the core's headers.
    let library = edge.get(usher_edge_core::page::HLS_JS_ASSET_PATH, &[]);
    assert_eq!(library.status, 200, "{}", library.text());
    assert!(
        library.body == player_library,
        "the asset's bytes, unchanged"
    );
    assert_eq!(library.header("x-usher-reason"), Some("ok"));
    assert_eq!(
        library.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        library.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let unknown = edge.get("/assets/hls.js/0.0.1/hls.min.js", &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("x-usher-reason"), Some("not_found"));

    // A client cannot claim another address: the host overwrites the header.
    let spoofed = edge.get("/healthz", &[("x-usher-client-ip", "not-an-ip")]);
    assert_eq!(spoofed.status, 200);

    // An origin that accepts and never answers: 504 after the component's first-byte timeout.
    let started = Instant::now();
    let slow = edge.get(
        &format!(
            "/events/semi-2026/master.m3u8?ticket={}",
            ticket("semi-2026")
        ),
        &[],
    );
    assert_eq!(slow.status, 504, "{}", slow.text());
    assert_eq!(slow.header("x-usher-reason"), Some("origin_timeout"));
    assert!(started.elapsed() >= Duration::from_secs(9));

    // One ticket, one screen: the host's lease store holds the first screen's lease, so a
    // second device is refused, and the first device (a page reload) gets its screen back.
    let second = edge.get(
        &format!("/events/final-2026/master.m3u8?ticket={final_ticket}&device=phone"),
        &[],
    );
    assert_eq!(second.status, 429, "{}", second.text());
    assert_eq!(second.header("x-usher-reason"), Some("too_many_streams"));
    let reload = edge.get(
        &format!("/events/final-2026/master.m3u8?ticket={final_ticket}&device=tv"),
        &[],
    );
    assert_eq!(reload.status, 200, "{}", reload.text());

    // The origin goes away: a playlist no cache holds is 502.
    origin.stop();
    let down = edge.get(
        &format!("/events/final-2026/1080p/index.m3u8?__token__={token}"),
        &[],
    );
    assert_eq!(down.status, 502);
    assert_eq!(down.header("x-usher-reason"), Some("origin_error"));

    // Stopping: SIGTERM, a clean exit.
    let (stderr, stdout) = edge.stop();

    // The access log: one JSON line per request, with the facts and never a credential.
    let access: Vec<Value> = stderr
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("reason").is_some())
        .collect();
    let reasons: Vec<&str> = access
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "ok",
            "no_ticket",
            "ok",
            "ok", // the media playlist, for the session token segments need
            "ok",
            "ok",
            "session_bad_signature",
            "ok",
            "not_found",
            "ok",
            "origin_timeout",
            "too_many_streams",
            "ok",
            "origin_error",
        ],
        "{stderr:#?}"
    );
    let multivariant = &access[2];
    assert_eq!(multivariant["route"], "multivariant");
    assert_eq!(multivariant["event"], "final-2026");
    assert_eq!(multivariant["pathway"], pathway.as_str());
    assert_eq!(multivariant["status"], 200);
    assert_eq!(multivariant["lease"], "taken");
    assert_eq!(access[11]["lease"], "full");
    assert_eq!(access[12]["lease"], "replaced");
    for line in &stderr {
        assert!(!line.contains(&final_ticket), "a ticket in the log: {line}");
        assert!(
            !line.contains("hmac="),
            "a session token in the log: {line}"
        );
        assert!(!line.contains("6b3a55e0"), "a key in the log: {line}");
    }
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("usher edge serve: stopped"))
    );

    // QoE events on stdout: the CMCD data of the segment request.
    let events: Vec<Value> = stdout
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{stdout:#?}");
    assert_eq!(events[0]["source"], "request");
    assert_eq!(events[0]["cmcd"], json!({"br": 3000, "ot": "v"}));
    silent.stop();
}

#[test]
fn the_host_cache_serves_repeats_coalesces_misses_and_stands_in_for_a_failed_origin() {
    let wasm = component();
    let segment: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let media = fixture("720p.m3u8");
    let files = HashMap::from([
        (
            "/live/final-2026/master.m3u8".to_owned(),
            File::new(PLAYLIST, fixture("master.m3u8")).cache_control("max-age=1"),
        ),
        (
            "/live/final-2026/720p/index.m3u8".to_owned(),
            File::new(PLAYLIST, media.clone()).cache_control("max-age=1"),
        ),
        (
            "/live/final-2026/480p/index.m3u8".to_owned(),
            File::new(PLAYLIST, media.clone()).cache_control("no-store"),
        ),
        (
            "/live/final-2026/1080p/index.m3u8".to_owned(),
            File::new(PLAYLIST, media)
                .cache_control("max-age=30")
                .delayed(Duration::from_millis(1500)),
        ),
        (
            format!("/live/final-2026/720p/{SEGMENT}"),
            File::new("video/iso.segment", segment.clone()).cache_control("max-age=60"),
        ),
    ]);
    let origin = Origin::start(files);
    let silent = SilentOrigin::start();
    let config = config_dir(origin.addr, silent.addr);
    // A short stale-if-error window, so "beyond it" comes within the test.
    let settings = config.path().join("settings.json");
    let text = std::fs::read_to_string(&settings).unwrap();
    let text = text.replace("\"stale_if_error_secs\": 30", "\"stale_if_error_secs\": 4");
    assert!(text.contains("\"stale_if_error_secs\": 4"));
    std::fs::write(&settings, text).unwrap();
    let edge = Edge::spawn(&wasm, config.path(), &[]).ready();
    let live = |rendition: &str| format!("/live/final-2026/{rendition}/index.m3u8");

    let master = edge.get(
        &format!(
            "/events/final-2026/master.m3u8?ticket={}",
            ticket("final-2026")
        ),
        &[],
    );
    assert_eq!(master.status, 200, "{}", master.text());
    let token = uris(&master.text())
        .iter()
        .find_map(|u| u.split_once("?__token__=").map(|(_, t)| t.to_owned()))
        .unwrap();
    let playlist =
        |rendition: &str| format!("/events/final-2026/{rendition}/index.m3u8?__token__={token}");

    // A repeat within max-age is answered from the cache; after it, from the origin again.
    let first = edge.get(&playlist("720p"), &[]);
    let again = edge.get(&playlist("720p"), &[]);
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(
        again.text(),
        first.text(),
        "the same rewrite of the same copy"
    );
    assert_eq!(origin.count(&live("720p")), 1);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(edge.get(&playlist("720p"), &[]).status, 200);
    assert_eq!(origin.count(&live("720p")), 2, "max-age=1 has run out");

    // no-store: every request reaches the origin.
    for _ in 0..2 {
        assert_eq!(edge.get(&playlist("480p"), &[]).status, 200);
    }
    assert_eq!(origin.count(&live("480p")), 2);

    // Segments are cached too, and the viewer sees where an answer came from. They need the
    // session token the media playlist wrote (the multivariant's opens playlists only).
    let token = first_token(&first.text());
    let segment_path = format!("/events/final-2026/720p/{SEGMENT}?__token__={token}");
    let miss = edge.get(&segment_path, &[]);
    let hit = edge.get(&segment_path, &[]);
    assert_eq!(
        (miss.header("x-cache"), hit.header("x-cache")),
        (Some("MISS"), Some("HIT"))
    );
    assert!(hit.body == segment, "the cached segment's bytes, unchanged");
    assert!(hit.header("age").is_some());
    assert_eq!(origin.count(&format!("/live/final-2026/720p/{SEGMENT}")), 1);

    // Coalescing: concurrent misses for one playlist make one origin fetch (which takes the
    // origin 1.5 s, so every viewer arrives while it is under way).
    let addr = edge.addr;
    let viewers: Vec<_> = (0..12)
        .map(|_| {
            let path = playlist("1080p");
            std::thread::spawn(move || get(addr, &path, &[]).status)
        })
        .collect();
    for viewer in viewers {
        assert_eq!(viewer.join().unwrap(), 200);
    }
    assert_eq!(origin.count(&live("1080p")), 1, "{:?}", origin.requests());
    // A burst of viewers on the stored copy: all served at once, none from the origin. (Answers
    // this fast once raced the component's write of its empty request body.)
    let burst: Vec<_> = (0..40)
        .map(|_| {
            let path = playlist("1080p");
            std::thread::spawn(move || get(addr, &path, &[]).status)
        })
        .collect();
    let statuses: Vec<u16> = burst.into_iter().map(|v| v.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(origin.count(&live("1080p")), 1);

    // The origin fails. A fresh copy is still served as usual; an expired one stands in for
    // the origin within the stale-if-error window, and says so; beyond it, 502.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(edge.get(&playlist("720p"), &[]).status, 200);
    let fetched = Instant::now();
    assert_eq!(origin.count(&live("720p")), 3);
    origin.stop();
    let cached_segment = edge.get(&segment_path, &[]);
    assert_eq!(cached_segment.status, 200);
    assert_eq!(cached_segment.header("x-cache"), Some("HIT"));
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(fetched.elapsed()));
    let stale = edge.get(&playlist("720p"), &[]);
    assert_eq!(stale.status, 200, "{}", stale.text());
    assert_eq!(
        stale.header("x-usher-reason"),
        Some("stale_on_origin_error")
    );
    assert!(stale.text().starts_with("#EXTM3U"));
    assert!(
        fetched.elapsed() < Duration::from_secs(5),
        "the test ran too slowly to tell"
    );
    std::thread::sleep(Duration::from_millis(6500).saturating_sub(fetched.elapsed()));
    let beyond = edge.get(&playlist("720p"), &[]);
    assert_eq!(beyond.status, 502, "{}", beyond.text());
    assert_eq!(beyond.header("x-usher-reason"), Some("origin_error"));

    let (stderr, _) = edge.stop();
    let stale_line = stderr
        .iter()
        .find(|l| l.contains("\"stale_on_origin_error\""))
        .unwrap_or_else(|| panic!("{stderr:#?}"));
    assert!(stale_line.contains("stale copy"), "{stale_line}");
    silent.stop();
}

#[test]
fn a_new_health_snapshot_steers_new_viewers_and_geolocation_comes_from_trusted_headers() {
    let wasm = component();
    let origin = Origin::start(origin_files(b"segment"));
    let silent = SilentOrigin::start();
    let config = config_dir(origin.addr, silent.addr);
    let health = config.path().join("health.json");
    // Everybody on cdn-a, except viewers in country XX, who go to cdn-c.
    write_atomically(&health, &snapshot('0', Some(("country:XX", '2'))));
    let edge = Edge::spawn(
        &wasm,
        config.path(),
        &["--geo-country-header", "x-lb-country"],
    )
    .ready();
    let screens = std::sync::atomic::AtomicU32::new(0);
    let pathway = |headers: &[(&str, &str)]| {
        // A viewer of their own each time: one ticket per screen.
        let n = screens.fetch_add(1, Ordering::SeqCst);
        let ticket = ticket_for("final-2026", &format!("viewer-{n}"), 1);
        let master = edge.get(
            &format!("/events/final-2026/master.m3u8?ticket={ticket}"),
            headers,
        );
        assert_eq!(master.status, 200, "{}", master.text());
        steering_pathway(&master.text())
    };
    assert_eq!(pathway(&[]), "cdn-a");
    assert_eq!(pathway(&[("x-lb-country", "XX")]), "cdn-c");
    // A client's own claim is not the load balancer's.
    assert_eq!(pathway(&[("x-usher-country", "XX")]), "cdn-a");

    // The controller publishes a new snapshot: everybody to cdn-b, from the next poll on.
    write_atomically(&health, &snapshot('1', None));
    let deadline = Instant::now() + Duration::from_secs(10);
    while pathway(&[]) != "cdn-b" {
        assert!(Instant::now() < deadline, "the new snapshot was not used");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(pathway(&[("x-lb-country", "XX")]), "cdn-b");
    let stderr = edge.stderr();
    assert!(
        stderr.iter().any(|l| l.contains("health.json changed")),
        "{stderr:#?}"
    );
    assert!(
        !stderr.iter().any(|l| l.contains("health_error")),
        "{stderr:#?}"
    );

    // Whoever can write the file but lacks the controller's key cannot steer: a bare snapshot
    // (everybody to cdn-c) is refused, the static weights apply, and every access line says why.
    let unsigned = snapshot('2', None);
    let bare = unsigned.split_once('\n').unwrap().1;
    write_atomically(&health, bare);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = |stderr: &[String]| {
        stderr
            .iter()
            .any(|l| l.contains(r#""health_error":"unsigned: "#))
    };
    while !refused(&edge.stderr()) {
        assert!(
            Instant::now() < deadline,
            "the bare snapshot was not refused"
        );
        pathway(&[]);
        std::thread::sleep(Duration::from_millis(200));
    }
    let pathways: Vec<String> = (0..12).map(|_| pathway(&[])).collect();
    // Under the static weights (50/30/20) twelve viewers do not all land on the one pathway
    // the bare snapshot names (a chance of 0.2^12).
    assert!(pathways.iter().any(|p| p != "cdn-c"), "{pathways:?}");

    let (stderr, _) = edge.stop();
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("health.json ignored (unsigned: ")),
        "{stderr:#?}"
    );
    silent.stop();
}

#[test]
fn fuel_is_counted_per_request_identically_for_identical_requests_and_a_spent_budget_is_a_500() {
    let wasm = component();
    let segment: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let origin = Origin::start(origin_files(&segment));
    let silent = SilentOrigin::start();
    let config = config_dir(origin.addr, silent.addr);
    let budget: u64 = 1_000_000_000;
    let edge = Edge::spawn(
        &wasm,
        config.path(),
        &["--fuel-per-request", &budget.to_string()],
    )
    .ready();
    assert!(
        edge.stderr()[0].contains(&format!("fuel per request: {budget}")),
        "{:#?}",
        edge.stderr()
    );
    let ticket = ticket("final-2026");
    let mut spent: Vec<(String, String, u64)> = Vec::new();
    // One request at a time, each one's fuel line awaited before the next goes: the lines then
    // come in request order.
    let mut measure = |path: &str| -> (Reply, u64) {
        let reply = edge.get(path, &[]);
        let line = edge.fuel_line(spent.len() + 1);
        let without_query = path.split('?').next().unwrap();
        assert_eq!((line.0.as_str(), line.1.as_str()), ("GET", without_query));
        spent.push(line.clone());
        (reply, line.2)
    };
    let page = "/events/final-2026/";
    let pages: Vec<(u16, u64)> = (0..3)
        .map(|_| measure(page))
        .map(|(reply, used)| (reply.status, used))
        .collect();
    let (healthz, health) = measure("/healthz");
    let (master, multivariant) = measure(&format!(
        "/events/final-2026/master.m3u8?ticket={ticket}&device=tv"
    ));
    assert_eq!(master.status, 200, "{}", master.text());
    let token = uris(&master.text())
        .iter()
        .find_map(|u| u.split_once("?__token__=").map(|(_, t)| t.to_owned()))
        .unwrap();
    let (media_playlist, media) = measure(&format!(
        "/events/final-2026/720p/index.m3u8?__token__={token}"
    ));
    let token = first_token(&media_playlist.text());
    let segment_path = format!("/events/final-2026/720p/{SEGMENT}?__token__={token}");
    let (proxied, segment_first) = measure(&segment_path);
    let (again, segment_again) = measure(&segment_path);
    let (nowhere, unknown) = measure("/nowhere");
    eprintln!(
        "fuel per request: page {:?}, health {health}, multivariant {multivariant}, media \
         {media}, segment {segment_first} {segment_again}, not found {unknown}",
        pages.iter().map(|p| p.1).collect::<Vec<_>>(),
    );
    assert_eq!(
        [
            pages[0].0,
            healthz.status,
            media_playlist.status,
            proxied.status,
            again.status,
            nowhere.status
        ],
        [200, 200, 200, 200, 200, 404]
    );
    assert!(proxied.body == segment, "the segment's bytes, unchanged");
    // Determinism: the same request costs the same fuel, to the unit. (Not so for a streamed
    // body such as a segment's: how the network cuts it into chunks sets how many times the
    // component's copy loop runs.)
    assert!(pages.iter().all(|p| p.1 == pages[0].1), "{pages:?}");
    for (_, path, used) in &spent {
        assert!(*used > 0 && *used < budget, "{path}: {used}");
        assert!(!path.contains('?'), "a query in a fuel line: {path}");
    }
    // Plausible: a playlist rewrite with signed URIs costs more than answering the health
    // check.
    assert!(multivariant > health, "{multivariant} {health}");
    assert!(media > health, "{media} {health}");
    let (stderr, _) = edge.stop();
    for line in &stderr {
        assert!(!line.contains(&ticket), "a ticket in the log: {line}");
        assert!(!line.contains(&token), "a session token in the log: {line}");
    }
    assert!(!stderr.iter().any(|l| l.contains("cpu_budget_exceeded")));

    // A budget between what the health check and the player page cost: the page runs out of
    // fuel and is answered 500, and the server goes on serving.
    assert!(pages[0].1 > health + 4, "{pages:?} {health}");
    let tight = health + (pages[0].1 - health) / 4;
    let edge = Edge::spawn(
        &wasm,
        config.path(),
        &["--fuel-per-request", &tight.to_string()],
    )
    .ready();
    let healthy = edge.get("/healthz", &[]);
    assert_eq!(healthy.status, 200);
    assert_eq!(
        edge.fuel_line(1),
        ("GET".to_owned(), "/healthz".to_owned(), health),
        "the same fuel in another process"
    );
    let stopped = edge.get(&format!("{page}?ticket={ticket}"), &[]);
    assert_eq!(stopped.status, 500, "{}", stopped.text());
    assert_eq!(
        stopped.header("x-usher-reason"),
        Some("cpu_budget_exceeded")
    );
    assert!(stopped.text().contains("CPU budget"), "{}", stopped.text());
    assert_eq!(
        edge.fuel_line(2),
        ("GET".to_owned(), page.to_owned(), tight)
    );
    let again = edge.get("/healthz", &[]);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(edge.fuel_line(3).2, health);
    let (stderr, _) = edge.stop();
    let refusal = stderr
        .iter()
        .find(|l| l.contains("\"host_error\""))
        .unwrap_or_else(|| panic!("{stderr:#?}"));
    assert!(
        refusal.contains(&format!("cpu_budget_exceeded: GET {page} ")),
        "{refusal}"
    );
    for line in &stderr {
        assert!(!line.contains(&ticket), "a ticket in the log: {line}");
    }
    silent.stop();
}

#[test]
fn the_compiled_component_is_kept_and_the_next_start_loads_it_from_the_compile_cache() {
    let wasm = component();
    let origin = Origin::start(origin_files(b"segment"));
    let silent = SilentOrigin::start();
    let config = config_dir(origin.addr, silent.addr);
    // A cache of this test's own (wasmtime's default place, below XDG_CACHE_HOME), so that the
    // first start compiles whatever other tests have cached.
    let home = tempdir::Dir::new();
    let envs = [("XDG_CACHE_HOME", home.path())];
    let (first, _) = Edge::spawn_with(&wasm, config.path(), &[], &envs)
        .ready()
        .stop();
    let cache = std::fs::canonicalize(home.path().join("wasmtime")).unwrap();
    assert!(
        first[0].contains(&format!("compiled, kept in {}", cache.display())),
        "{first:#?}"
    );
    let edge = Edge::spawn_with(&wasm, config.path(), &[], &envs).ready();
    assert!(
        edge.stderr()[0].contains(&format!(
            "loaded from the compile cache {}",
            cache.display()
        )),
        "{:#?}",
        edge.stderr()
    );
    let ticket = ticket("final-2026");
    let master = edge.get(
        &format!("/events/final-2026/master.m3u8?ticket={ticket}"),
        &[],
    );
    assert_eq!(master.status, 200, "{}", master.text());
    edge.stop();
    origin.stop();
    silent.stop();
}

#[test]
fn an_external_lease_store_is_shared_state_read_and_written_past_the_cache_and_failing_open() {
    let wasm = component();
    let origin = Origin::start(origin_files(b"segment"));
    let silent = SilentOrigin::start();
    let config = config_dir(origin.addr, silent.addr);
    let store = LeaseStore::start();
    let base = format!("http://{}/kv/", store.addr);
    let edge = Edge::spawn(&wasm, config.path(), &["--lease-store", &base]).ready();
    assert!(
        edge.stderr()[0].contains(&format!("lease store: {base}")),
        "{:#?}",
        edge.stderr()
    );
    let ticket = ticket("final-2026");
    let master = |device: &str| {
        edge.get(
            &format!("/events/final-2026/master.m3u8?ticket={ticket}&device={device}"),
            &[],
        )
    };

    // The first screen takes the ticket's lease: read, then written to the store, with a TTL.
    let first = master("tv");
    assert_eq!(first.status, 200, "{}", first.text());
    let seen = store.requests();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let key = seen[0].target.clone();
    assert!(key.starts_with("/kv/leases/final-2026/"), "{key}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!((seen[1].method.as_str(), &seen[1].target), ("PUT", &key));
    let ttl: u64 = seen[1].ttl.as_deref().unwrap().parse().unwrap();
    assert!((1..=30).contains(&ttl), "{ttl}");
    let record: Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(record["leases"].as_array().unwrap().len(), 1, "{record}");
    assert_eq!(record["leases"][0]["d"], "tv");

    // A second device finds the record in the store: the ticket's one screen is taken.
    let second = master("phone");
    assert_eq!(second.status, 429, "{}", second.text());
    assert_eq!(second.header("x-usher-reason"), Some("too_many_streams"));

    // Another edge sharing the store took the screen over. Its record is read, not a copy of
    // the earlier one (the store's answers say max-age=3600, which a cache would honour): the
    // tv has lost its screen.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let elsewhere = json!({"v": 1, "leases": [
        {"s": "a-session-on-another-edge", "d": "another-device", "exp": now + 600_000}
    ]});
    store.seed(&key, elsewhere.to_string().as_bytes());
    let displaced = master("tv");
    assert_eq!(displaced.status, 429, "{}", displaced.text());

    // The store fails: the viewer plays (fail open), and nothing stood in for the store.
    store.fail(true);
    let open = master("phone");
    assert_eq!(open.status, 200, "{}", open.text());
    assert!(open.text().starts_with("#EXTM3U"));

    let methods: Vec<String> = store.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        ["GET", "PUT", "GET", "GET", "GET"],
        "every read reached the store"
    );
    let (stderr, _) = edge.stop();
    let leases: Vec<Value> = stderr
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["route"] == "multivariant")
        .map(|l| l["lease"].clone())
        .collect();
    assert_eq!(
        leases,
        ["taken", "full", "full", "store_unavailable"],
        "{stderr:#?}"
    );
    for line in &stderr {
        assert!(!line.contains(&ticket), "a ticket in the log: {line}");
    }
    silent.stop();
}

/// A health snapshot (docs/health-model.md §8) over the conformance pathways, fresh for ten
/// minutes: every slot of the global table on the pathway of index `global`, and optionally
/// one group's table on another; signed with the conformance health key, as the controller
/// publishes it.
fn snapshot(global: char, group: Option<(&str, char)>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let weights = |on: char| -> Vec<u32> {
        (0..3)
            .map(|i| {
                if char::from(b'0' + i) == on {
                    10_000
                } else {
                    0
                }
            })
            .collect()
    };
    let figures = |on: char| -> Vec<Value> {
        weights(on)
            .into_iter()
            .map(|w| json!({"score_permille": 500, "weight_bp": w, "state": "healthy", "reason": "healthy"}))
            .collect()
    };
    let cdns: Vec<Value> = [("cdn-a", 5000), ("cdn-b", 3000), ("cdn-c", 2000)]
        .into_iter()
        .zip(figures(global))
        .map(|((id, static_bp), mut f)| {
            f["id"] = json!(id);
            f["static_weight_bp"] = json!(static_bp);
            f
        })
        .collect();
    let mut doc = json!({
        "format_version": 1,
        "seq": now / 1000,
        "generated_at_ms": now,
        "expires_at_ms": now + 600_000,
        "cdns": cdns,
        "slots": global.to_string().repeat(1000),
    });
    if let Some((key, on)) = group {
        doc["groups"] = json!({ key: {"cdns": figures(on), "slots": on.to_string().repeat(1000)} });
    }
    let keys = std::fs::read(format!("{CONFORMANCE}/config/health-keys.json")).unwrap();
    let keys = HealthKeys::from_json(&keys).unwrap();
    let kid = keys.kids().next().unwrap().to_owned();
    String::from_utf8(health::seal(&keys, &kid, doc.to_string().as_bytes()).unwrap()).unwrap()
}

/// Replaces a file the way the controller should: a new file renamed over the old one.
fn write_atomically(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// The component artifact: `USHER_EDGE_WASM`, or a release build for wasm32-wasip2 made here.
pub(crate) fn component() -> PathBuf {
    if let Some(path) = std::env::var_os("USHER_EDGE_WASM").map(PathBuf::from) {
        assert!(
            path.is_file(),
            "USHER_EDGE_WASM={} is no file",
            path.display()
        );
        return path;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--package",
            "usher-edge-wasi-http",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format",
            "json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building the edge component failed"
    );
    // Cargo names the artifact in its messages, wherever the target dir is.
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .expect("cargo named no .wasm artifact")
}

/// One file of a test origin: what it answers, with which extra headers, after how long.
#[derive(Clone)]
pub(crate) struct File {
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, &'static str)>,
    delay: Duration,
}

impl File {
    fn new(content_type: &'static str, body: Vec<u8>) -> Self {
        File {
            content_type,
            body,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    fn cache_control(mut self, value: &'static str) -> Self {
        self.headers.push(("Cache-Control", value));
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

const PLAYLIST: &str = "application/vnd.apple.mpegurl";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CONFORMANCE}/origin/{name}")).unwrap()
}

/// The origin's files: the conformance playlists and a segment, with no cache headers.
pub(crate) fn origin_files(segment: &[u8]) -> HashMap<String, File> {
    HashMap::from([
        (
            "/live/final-2026/master.m3u8".to_owned(),
            File::new(PLAYLIST, fixture("master.m3u8")),
        ),
        (
            "/live/final-2026/720p/index.m3u8".to_owned(),
            File::new(PLAYLIST, fixture("720p.m3u8")),
        ),
        (
            format!("/live/final-2026/720p/{SEGMENT}"),
            File::new("video/iso.segment", segment.to_vec()),
        ),
    ])
}

/// The player library to serve, and its bytes: `make edge-assets`'s directory when
/// `USHER_EDGE_ASSETS` names it (the real hls.js), else a directory made here with stand-in
/// bytes at the same asset name.
fn assets_dir() -> (tempdir::Dir, Vec<u8>) {
    let dir = tempdir::Dir::new();
    let name = usher_edge_core::page::HLS_JS_ASSET_PATH
        .strip_prefix("/assets/")
        .unwrap();
    let bytes = match std::env::var_os("USHER_EDGE_ASSETS") {
        Some(built) => std::fs::read(Path::new(&built).join(name))
            .expect("USHER_EDGE_ASSETS holds the player library the page asks for"),
        None => b"/* hls.js stand-in */ export default {};".to_vec(),
    };
    let path = dir.path().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    (dir, bytes)
}

/// The conformance configuration, with its origins on this machine: `final-2026` on the
/// working origin, `semi-2026` on the silent one.
pub(crate) fn config_dir(origin: SocketAddr, silent: SocketAddr) -> tempdir::Dir {
    let dir = tempdir::Dir::new();
    for file in [
        "pathways.json",
        "settings.json",
        "ticket-keys.json",
        "session-key.txt",
        "health-keys.json",
    ] {
        std::fs::copy(
            format!("{CONFORMANCE}/config/{file}"),
            dir.path().join(file),
        )
        .unwrap();
    }
    let events = json!({
        "origins": [
            {"id": "origin-local", "base_url": format!("http://{origin}/")},
            {"id": "origin-silent", "base_url": format!("http://{silent}/")}
        ],
        "events": [
            {"id": "final-2026", "title": "The Final", "origin": "origin-local",
             "origin_path": "live/final-2026/"},
            {"id": "semi-2026", "title": "Semi-final", "origin": "origin-silent",
             "origin_path": "live/semi-2026/"}
        ]
    });
    std::fs::write(dir.path().join("events.json"), events.to_string()).unwrap();
    dir
}

/// A ticket for `event`, signed with the conformance keyring, valid for an hour, for one
/// screen.
fn ticket(event: &str) -> String {
    ticket_for(event, "viewer-e2e", 1)
}

/// A ticket for `event` held by `sub`, for `screens` screens at once.
pub(crate) fn ticket_for(event: &str, sub: &str, screens: u32) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims: Claims = serde_json::from_value(json!({
        "iss": "tickets.example",
        "sub": sub,
        "aud": ["usher"],
        "jti": "t-e2e",
        "iat": now - 60,
        "exp": now + 3600,
        "ev": event,
        "scope": format!("/events/{event}/*"),
        "max_streams": screens
    }))
    .unwrap();
    let ring = std::fs::read(format!("{CONFORMANCE}/config/ticket-keys.json")).unwrap();
    jwt::mint(&claims, TICKET_KID, &Keyring::from_json(&ring).unwrap()).unwrap()
}

/// The same token with one hex digit of its MAC changed.
fn forge(token: &str) -> String {
    let (head, mac) = token.rsplit_once("hmac=").unwrap();
    let mut mac = mac.to_owned();
    let first = if mac.starts_with('0') { "1" } else { "0" };
    mac.replace_range(..1, first);
    format!("{head}hmac={mac}")
}

/// The pathway of the steering tag, which every URI must be on.
pub(crate) fn steering_pathway(playlist: &str) -> String {
    let tag = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-CONTENT-STEERING:"))
        .unwrap_or_else(|| panic!("no steering tag: {playlist}"));
    let (_, rest) = tag.split_once("PATHWAY-ID=\"").unwrap();
    rest.split('"').next().unwrap().to_owned()
}

/// The CDN base URL of a configured pathway.
fn cdn_base(pathway: &str) -> String {
    let doc: Value = serde_json::from_slice(
        &std::fs::read(format!("{CONFORMANCE}/config/pathways.json")).unwrap(),
    )
    .unwrap();
    doc["pathways"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == pathway)
        .and_then(|p| p["base_url"].as_str())
        .unwrap()
        .to_owned()
}

/// Every URI of a playlist: URI lines and `URI="…"` attributes (the steering server's is
/// relative, and not counted).
/// The session token of the first URI in a playlist.
fn first_token(playlist: &str) -> String {
    uris(playlist)
        .iter()
        .find_map(|u| u.split_once("?__token__=").map(|(_, t)| t.to_owned()))
        .expect("a URI with a token")
}

/// The session token segments need: from the 720p media playlist, fetched with the playlist
/// token of a multivariant playlist.
fn session_token(edge: &Edge, playlist_token: &str) -> String {
    let media = edge.get(
        &format!("/events/final-2026/720p/index.m3u8?__token__={playlist_token}"),
        &[],
    );
    assert_eq!(media.status, 200, "{}", media.text());
    first_token(&media.text())
}

fn uris(playlist: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in playlist.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            uris.push(line.to_owned());
        } else if !line.starts_with("#EXT-X-CONTENT-STEERING:")
            && let Some((_, rest)) = line.split_once("URI=\"")
        {
            uris.push(rest.split('"').next().unwrap().to_owned());
        }
    }
    uris
}

/// A response, read whole.
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 GET on a fresh connection.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Decodes a chunked body (RFC 9112 §7.1), trailers ignored.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&raw[..end]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// A minimal HTTP/1.1 origin: serves fixed files, one request per connection, and remembers
/// the request targets it saw, in order.
/// A listener on 127.0.0.1 whose accept loop hands each connection to a handler, until it is
/// shut (or dropped): the skeleton of the test's origins and store.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn spawn(mut handle: impl FnMut(TcpStream) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    handle(stream);
                }
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the port: connections to it are refused from now on.
    fn shut(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        thread.join().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    server: Server,
}

impl Origin {
    pub(crate) fn start(files: HashMap<String, File>) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let seen = Arc::clone(&seen);
            Server::spawn(move |stream| serve_one(stream, &files, &seen))
        };
        Origin {
            addr: server.addr,
            seen,
            server,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests for `target` it answered.
    fn count(&self, target: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == target)
            .count()
    }

    /// Closes the port: connections to it are refused from now on.
    fn stop(mut self) {
        self.server.shut();
    }
}

fn serve_one(stream: TcpStream, files: &HashMap<String, File>, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The rest of the head; these requests have no body.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let target = request_line.split(' ').nth(1).unwrap_or("").to_owned();
    seen.lock().unwrap().push(target.clone());
    let mut stream = reader.into_inner();
    let head = |status: &str, file: Option<&File>| {
        let (content_type, len) =
            file.map_or(("text/plain", 0), |f| (f.content_type, f.body.len()));
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
             Connection: close\r\n"
        );
        for (name, value) in file.map(|f| f.headers.as_slice()).unwrap_or_default() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    };
    let _ = match files.get(&target) {
        Some(file) => {
            std::thread::sleep(file.delay);
            stream
                .write_all(head("200 OK", Some(file)).as_bytes())
                .and_then(|()| stream.write_all(&file.body))
        }
        None => stream.write_all(head("404 Not Found", None).as_bytes()),
    };
    let _ = stream.shutdown(Shutdown::Both);
}

/// One request a [`LeaseStore`] answered.
#[derive(Clone, Debug)]
struct StoreRequest {
    method: String,
    target: String,
    ttl: Option<String>,
    body: Vec<u8>,
}

/// A lease store speaking the component's store API (edge/wasi-http/src/services.rs), one
/// request per connection, that remembers the requests it answered. Its 200 and 404 answers
/// say `Cache-Control: max-age=3600`, which tempts any cache in the way to keep them; while
/// failing, it answers everything 503.
struct LeaseStore {
    addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    seen: Arc<Mutex<Vec<StoreRequest>>>,
    failing: Arc<AtomicBool>,
    _server: Server,
}

impl LeaseStore {
    fn start() -> Self {
        let records = Arc::new(Mutex::new(HashMap::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let server = {
            let (records, seen) = (Arc::clone(&records), Arc::clone(&seen));
            let failing = Arc::clone(&failing);
            Server::spawn(move |stream| {
                store_one(stream, &records, &seen, failing.load(Ordering::SeqCst));
            })
        };
        LeaseStore {
            addr: server.addr,
            records,
            seen,
            failing,
            _server: server,
        }
    }

    fn requests(&self) -> Vec<StoreRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Puts a record under `target` (a request target: the base path and the key), as another
    /// writer would.
    fn seed(&self, target: &str, value: &[u8]) {
        self.records
            .lock()
            .unwrap()
            .insert(target.to_owned(), value.to_vec());
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

fn store_one(
    stream: TcpStream,
    records: &Mutex<HashMap<String, Vec<u8>>>,
    seen: &Mutex<Vec<StoreRequest>>,
    failing: bool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut fields = request_line.split(' ');
    let method = fields.next().unwrap_or("").to_owned();
    let target = fields.next().unwrap_or("").to_owned();
    let (mut length, mut chunked, mut ttl) = (0, false, None);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "x-usher-ttl" => ttl = Some(value.to_owned()),
                _ => {}
            }
        }
        line.clear();
    }
    let body = if chunked {
        read_chunked(&mut reader)
    } else {
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        body
    };
    seen.lock().unwrap().push(StoreRequest {
        method: method.clone(),
        target: target.clone(),
        ttl,
        body: body.clone(),
    });
    let (status, value) = if failing {
        ("503 Service Unavailable", None)
    } else if method == "GET" {
        match records.lock().unwrap().get(&target) {
            Some(value) => ("200 OK", Some(value.clone())),
            None => ("404 Not Found", None),
        }
    } else if method == "PUT" {
        records.lock().unwrap().insert(target, body);
        ("204 No Content", None)
    } else {
        ("405 Method Not Allowed", None)
    };
    let value = value.unwrap_or_default();
    let mut stream = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nCache-Control: max-age=3600\r\n\
         Connection: close\r\n\r\n",
        value.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&value));
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads a chunked request body (RFC 9112 §7.1), trailers skipped.
fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).is_err() {
            return body;
        }
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 {
            let mut trailer = String::new();
            while reader.read_line(&mut trailer).is_ok_and(|n| n > 2) {
                trailer.clear();
            }
            return body;
        }
        let mut chunk = vec![0; size + 2];
        if reader.read_exact(&mut chunk).is_err() {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// An origin that accepts connections and never answers.
pub(crate) struct SilentOrigin {
    pub(crate) addr: SocketAddr,
    server: Server,
}

impl SilentOrigin {
    pub(crate) fn start() -> Self {
        let mut held = Vec::new();
        let server = Server::spawn(move |stream| held.push(stream));
        SilentOrigin {
            addr: server.addr,
            server,
        }
    }

    pub(crate) fn stop(mut self) {
        self.server.shut();
    }
}

/// `usher edge serve` as a child process, killed on drop.
pub(crate) struct Edge {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// `usher edge serve` started, not yet listening.
pub(crate) struct Starting {
    edge: Edge,
    listening: mpsc::Receiver<String>,
}

impl Starting {
    /// Waits for the server's `listening on` line.
    pub(crate) fn ready(self) -> Edge {
        let Starting {
            mut edge,
            listening,
        } = self;
        // Compiling the component takes seconds in a debug build, more on a busy machine.
        match listening.recv_timeout(Duration::from_secs(300)) {
            Ok(addr) => edge.addr = addr.parse().unwrap(),
            Err(_) => panic!(
                "usher edge serve did not start: {:#?}",
                edge.stderr.lock().unwrap()
            ),
        }
        edge
    }
}

impl Edge {
    pub(crate) fn spawn(wasm: &Path, config: &Path, options: &[&str]) -> Starting {
        Edge::spawn_with(wasm, config, options, &[])
    }

    /// [`Edge::spawn`] with `envs` added to its environment.
    fn spawn_with(
        wasm: &Path,
        config: &Path,
        options: &[&str],
        envs: &[(&str, &Path)],
    ) -> Starting {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(["edge", "serve", "--listen", "127.0.0.1:0", "--wasm"])
            .arg(wasm)
            .arg("--config")
            .arg(config)
            .args(options)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start usher edge serve");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let err_reader = {
            let lines = Arc::clone(&stderr);
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    // Kept before it is announced: `ready` callers may look for it.
                    lines.lock().unwrap().push(line.clone());
                    if let Some((_, addr)) = line.split_once("listening on http://") {
                        let addr = addr.split(' ').next().unwrap_or("").to_owned();
                        let _ = tx.send(addr);
                    }
                }
            })
        };
        let out_reader = {
            let lines = Arc::clone(&stdout);
            let pipe = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        let edge = Edge {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            stderr,
            stdout,
            readers: vec![err_reader, out_reader],
        };
        Starting {
            edge,
            listening: rx,
        }
    }

    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        get(self.addr, path, headers)
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its stdout lines (QoE and waiting room lines, one JSON object each), as they come: a
    /// handle another thread can read while the test keeps the server (and stops it, on a
    /// panic too, when the `Edge` is dropped).
    pub(crate) fn stdout_handle(&self) -> Arc<Mutex<Vec<String>>> {
        Arc::clone(&self.stdout)
    }

    /// Its stderr lines so far.
    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The `n`th (from 1) `usher edge serve: fuel METHOD PATH USED` line, waited for: it comes
    /// once the request's instance has finished, which may be after the response arrived.
    fn fuel_line(&self, n: usize) -> (String, String, u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let lines: Vec<String> = self
                .stderr()
                .into_iter()
                .filter_map(|l| l.strip_prefix("usher edge serve: fuel ").map(str::to_owned))
                .collect();
            if let Some(line) = lines.get(n - 1) {
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields.len(), 3, "{line}");
                return (
                    fields[0].to_owned(),
                    fields[1].to_owned(),
                    fields[2].parse().unwrap(),
                );
            }
            assert!(
                Instant::now() < deadline,
                "no fuel line {n}: {:#?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM and returns its stderr and stdout lines.
    pub(crate) fn stop(mut self) -> (Vec<String>, Vec<String>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "usher edge serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let stderr = self.stderr.lock().unwrap().clone();
        let stdout = self.stdout.lock().unwrap().clone();
        (stderr, stdout)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        // Already gone after `stop`; otherwise (a failed assertion) it must not outlive us.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
