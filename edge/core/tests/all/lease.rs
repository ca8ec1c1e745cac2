//! One ticket, one screen, over time: many screens of one ticket through `decide`, `leased` and
//! `finish`, against a store that keeps what it is given for its TTL, as an adapter would run
//! them.
#![cfg(test)]

use crate::fixture::{config, root, ticket_for};

use std::collections::HashMap;

use bytes::Bytes;
use http::{Request, StatusCode};
use proptest::prelude::*;
use usher_edge_core::config::EdgeConfig;
use usher_edge_core::{Action, Client, EdgeInput, Fetched, Stored, decide, finish, leased};

const START_MS: u64 = 1_767_225_600_000;

fn ticket(max_streams: u32) -> String {
    ticket_for("viewer-1", "final-2026", max_streams)
}

/// A key-value store with per-key expiry, like the platforms' lease stores.
#[derive(Default)]
struct Store {
    items: HashMap<String, (Bytes, u64)>,
    reads: usize,
    writes: usize,
}

/// What one request came to.
struct Outcome {
    status: StatusCode,
    reason: String,
    /// The session token the answer's URIs carry.
    token: Option<String>,
}

struct Edge {
    config: EdgeConfig,
    store: Store,
    origin_master: Bytes,
    origin_media: Bytes,
    next_entropy: u8,
}

impl Edge {
    fn new() -> Self {
        let read =
            |name: &str| Bytes::from(std::fs::read(root().join("origin").join(name)).unwrap());
        Edge {
            config: config(),
            store: Store::default(),
            origin_master: read("master.m3u8"),
            origin_media: read("720p.m3u8"),
            next_entropy: 0,
        }
    }

    /// One request at `now_ms`, executed as an adapter would.
    fn request(&mut self, uri: &str, now_ms: u64) -> Outcome {
        self.next_entropy = self.next_entropy.wrapping_add(1);
        let input = EdgeInput {
            now_ms,
            client: Client::default(),
            config: &self.config,
            health: None,
            entropy: [self.next_entropy; 16],
        };
        let request = Request::builder().uri(uri).body(()).unwrap();
        let mut decision = decide(&request, &input);
        if let Action::Lease(check) = decision.action {
            self.store.reads += 1;
            let stored = match self.store.items.get(check.key()) {
                Some((value, expires)) if *expires > now_ms => Stored::Found(value.clone()),
                _ => Stored::Missing,
            };
            decision = leased(check, stored, &input);
        }
        if let Some(write) = decision.store.take() {
            self.store.writes += 1;
            let expires = now_ms + write.ttl_secs * 1000;
            self.store.items.insert(write.key, (write.value, expires));
        }
        let response = match decision.action {
            Action::Respond(response) => response,
            Action::Fetch(_, plan) => {
                let body = if uri.contains("master.m3u8") {
                    self.origin_master.clone()
                } else {
                    self.origin_media.clone()
                };
                let fetched = Fetched::Response {
                    status: StatusCode::OK,
                    body,
                    stale: false,
                };
                match finish(&plan, fetched, &input).action {
                    Action::Respond(response) => response,
                    other => panic!("finish did not respond: {other:?}"),
                }
            }
            other => panic!("unexpected action {other:?}"),
        };
        let reason = response.headers()["x-usher-reason"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = String::from_utf8_lossy(response.body()).into_owned();
        let token = body.split("__token__=").nth(1).map(|rest| {
            rest.split(['"', '\n', '&'])
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        Outcome {
            status: response.status(),
            reason,
            token,
        }
    }

    fn start(&mut self, ticket: &str, device: Option<&str>, now_ms: u64) -> Outcome {
        let device = device.map_or(String::new(), |d| format!("&device={d}"));
        self.request(
            &format!("/events/final-2026/master.m3u8?ticket={ticket}{device}"),
            now_ms,
        )
    }

    fn reload(&mut self, token: &str, now_ms: u64) -> Outcome {
        let token = token.replace('%', "%25").replace('&', "%26");
        self.request(
            &format!("/events/final-2026/720p/index.m3u8?__token__={token}"),
            now_ms,
        )
    }
}

#[test]
fn a_ticket_plays_on_as_many_screens_as_it_allows_and_no_more() {
    let mut edge = Edge::new();
    let ticket = ticket(2);
    let first = edge.start(&ticket, Some("phone"), START_MS);
    let second = edge.start(&ticket, Some("tv"), START_MS + 1_000);
    let third = edge.start(&ticket, Some("laptop"), START_MS + 2_000);
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(third.status, 429);
    assert_eq!(third.reason, "too_many_streams");
}

#[test]
fn a_stopped_screen_frees_its_lease_when_it_lapses() {
    let mut edge = Edge::new();
    let ticket = ticket(1);
    assert_eq!(edge.start(&ticket, Some("phone"), START_MS).status, 200);
    let ttl_ms = edge.config.settings.leases.ttl_secs * 1000;
    assert_eq!(
        edge.start(&ticket, Some("tv"), START_MS + ttl_ms - 1)
            .status,
        429
    );
    assert_eq!(
        edge.start(&ticket, Some("tv"), START_MS + ttl_ms).status,
        200
    );
}

#[test]
fn reloading_the_page_on_the_same_device_takes_the_lease_over_and_ends_the_old_session() {
    let mut edge = Edge::new();
    let ticket = ticket(1);
    let old = edge.start(&ticket, Some("tv"), START_MS);
    let new = edge.start(&ticket, Some("tv"), START_MS + 3_000);
    assert_eq!(new.status, 200);
    // The old session's next renewal finds its screen taken.
    let half_life = edge.config.settings.leases.ttl_secs * 500;
    let stale = edge.reload(&old.token.unwrap(), START_MS + half_life + 1_000);
    assert_eq!(
        (stale.status.as_u16(), stale.reason.as_str()),
        (429, "too_many_streams")
    );
    let fresh = edge.reload(&new.token.unwrap(), START_MS + half_life + 4_000);
    assert_eq!(fresh.status, 200);
}

#[test]
fn a_watching_screen_touches_the_store_about_twice_per_lease_lifetime() {
    let mut edge = Edge::new();
    let ticket = ticket(1);
    let ttl_ms = edge.config.settings.leases.ttl_secs * 1000;
    let mut token = edge.start(&ticket, None, START_MS).token.unwrap();
    let (reads, writes) = (edge.store.reads, edge.store.writes);
    // Ten lease lifetimes of media playlist reloads every 2 s.
    let mut now = START_MS;
    while now < START_MS + 10 * ttl_ms {
        now += 2_000;
        let outcome = edge.reload(&token, now);
        assert_eq!(outcome.status, 200, "reload at +{} ms", now - START_MS);
        token = outcome.token.unwrap();
    }
    let reloads = (10 * ttl_ms / 2_000) as usize;
    let (reads, writes) = (edge.store.reads - reads, edge.store.writes - writes);
    assert!(
        reads <= 21 && writes <= 21,
        "{reads} reads, {writes} writes in {reloads} reloads"
    );
    assert!(reads >= 10, "the lease must be renewed: {reads} reads");
}

#[test]
fn reloads_from_the_multivariant_uri_check_the_lease_a_few_times_per_half_life_and_keep_it() {
    // Players reload with the multivariant playlist's URI, whose token carries the lease time
    // of the start: the edge must not read the store on every reload past the first half-life.
    let mut edge = Edge::new();
    let ttl_ms = edge.config.settings.leases.ttl_secs * 1000;
    let master = edge.start(&ticket(1), None, START_MS).token.unwrap();
    let (reads, writes) = (edge.store.reads, edge.store.writes);
    let mut now = START_MS;
    while now < START_MS + 10 * ttl_ms {
        now += 2_000;
        let outcome = edge.reload(&master, now);
        assert_eq!(outcome.status, 200, "reload at +{} ms", now - START_MS);
    }
    let (reads, writes) = (edge.store.reads - reads, edge.store.writes - writes);
    let half_lives = 20;
    assert!(
        reads <= 3 * half_lives && writes <= half_lives + 1,
        "{reads} reads, {writes} writes in {half_lives} half-lives of reloads every 2 s"
    );
    assert!(
        writes >= half_lives / 2,
        "the lease must be renewed: {writes} writes"
    );
    // The lease is still this screen's: another one of the same ticket finds no room.
    let other = edge.start(&ticket(1), None, now + 1_000);
    assert_eq!(
        (other.status.as_u16(), other.reason.as_str()),
        (429, "too_many_streams")
    );
}

/// The status and reason of a segment request carrying `token`.
fn segment(edge: &Edge, token: &str, now_ms: u64) -> (u16, String) {
    let input = EdgeInput {
        now_ms,
        client: Client::default(),
        config: &edge.config,
        health: None,
        entropy: [0; 16],
    };
    let token = token.replace('%', "%25").replace('&', "%26");
    let uri = format!("/events/final-2026/720p/segment_100.m4s?__token__={token}");
    let request = Request::builder().uri(uri).body(()).unwrap();
    let decision = decide(&request, &input);
    match decision.action {
        Action::Proxy(_) => (200, "proxied".to_owned()),
        Action::Respond(response) => (
            response.status().as_u16(),
            response.headers()["x-usher-reason"]
                .to_str()
                .unwrap()
                .to_owned(),
        ),
        other => panic!("unexpected action {other:?}"),
    }
}

#[test]
fn a_player_reloading_from_the_multivariant_uri_plays_on_past_the_session_ttl() {
    // Players reload a live media playlist from the URI the multivariant playlist gave them,
    // never from one inside the media playlist (RFC 8216 §6.3.4): that URI's token must last
    // as long as the ticket, while segment URIs keep the short sliding token.
    let mut edge = Edge::new();
    let session_ttl_ms = edge.config.settings.session.ttl_secs * 1000;
    let master = edge.start(&ticket(1), None, START_MS).token.unwrap();
    let mut now = START_MS;
    let mut last = None;
    while now < START_MS + 3 * session_ttl_ms {
        now += 2_000;
        let outcome = edge.reload(&master, now);
        assert_eq!(
            (outcome.status.as_u16(), outcome.reason.as_str()),
            (200, "ok"),
            "reload at +{} s",
            (now - START_MS) / 1000
        );
        last = outcome.token;
    }
    // The playlist token opens playlists only: not a segment.
    assert_eq!(segment(&edge, &master, now).0, 403);
    // A segment URI from the last reload works, and dies with its own short token.
    let fresh = last.unwrap();
    assert_eq!(segment(&edge, &fresh, now).0, 200);
    assert_eq!(
        segment(&edge, &fresh, now + session_ttl_ms + 1_000),
        (410, "session_expired".to_owned())
    );
    // After the ticket expires (1_767_240_000), the playlist token does too.
    let after_ticket = 1_767_240_000 * 1000 + 1_000;
    assert_eq!(edge.reload(&master, after_ticket).status, 410);
}

#[derive(Clone, Debug)]
enum Step {
    /// A new screen starts playing (with a device hint from a small set, or none).
    Start(Option<u8>),
    /// Screen `n` (modulo the screens started) reloads its media playlist.
    Reload(u8),
    /// Time passes.
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        proptest::option::of(0u8..3).prop_map(Step::Start),
        any::<u8>().prop_map(Step::Reload),
        (0u16..40_000).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However screens come and go, no more than `max_streams` of them hold a live lease, and
    /// a screen that was admitted and renews in time keeps playing unless its own device
    /// started over.
    #[test]
    fn live_leases_never_exceed_max_streams(
        max_streams in 1u32..4,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut edge = Edge::new();
        let ticket = ticket(max_streams);
        let mut now = START_MS;
        let mut screens: Vec<(Option<String>, Option<String>)> = Vec::new();
        for step in steps {
            match step {
                Step::Start(device) => {
                    let device = device.map(|d| format!("dev{d}"));
                    let outcome = edge.start(&ticket, device.as_deref(), now);
                    prop_assert!(outcome.status == 200 || outcome.reason == "too_many_streams");
                    screens.push((device, outcome.token));
                }
                Step::Reload(n) if !screens.is_empty() => {
                    let i = n as usize % screens.len();
                    if let Some(token) = screens[i].1.clone() {
                        let outcome = edge.reload(&token, now);
                        screens[i].1 = outcome.token;
                    }
                }
                Step::Reload(_) => {}
                Step::Wait(ms) => now += u64::from(ms),
            }
            // What the store holds: never more live leases than the ticket allows.
            for (value, expires) in edge.store.items.values() {
                if *expires <= now {
                    continue;
                }
                let record: serde_json::Value = serde_json::from_slice(value).unwrap();
                let live = record["leases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["exp"].as_u64().unwrap() > now)
                    .count();
                prop_assert!(live as u32 <= max_streams, "{live} live leases: {record}");
            }
        }
    }
}
