//! The waiting room through `decide`: queue positions, admission by the controller's frontier,
//! the multivariant playlist's check, and every refused cookie, as an adapter would see them.
#![cfg(test)]

use crate::fixture::{config_with, ticket_for};

use http::{HeaderMap, Request};
use usher_edge_core::admission::{ADMISSION_COOKIE, QUEUE_COOKIE};
use usher_edge_core::config::EdgeConfig;
use usher_edge_core::{Action, Client, Decision, EdgeInput, decide};
use usher_shared::health::{AdmissionPlan, AdmissionState, HealthSnapshot, PREQUEUE_SPAN_MS};

const NOW: u64 = 1_767_225_600_000;
const DOORS: u64 = NOW + 600_000;

/// The conformance configuration with a waiting room on `final-2026` (doors at `DOORS`).
fn config() -> EdgeConfig {
    config_with(|events| {
        for event in events["events"].as_array_mut().unwrap() {
            if event["id"] == "final-2026" {
                event["admission"] = serde_json::json!({"doors_open_ms": DOORS});
            }
        }
    })
}

fn ticket(sub: &str, event: &str) -> String {
    ticket_for(sub, event, 1)
}

/// A fresh snapshot whose plan for `final-2026` has `frontier`.
fn snapshot(frontier: u64, state: AdmissionState, generated_at: u64) -> HealthSnapshot {
    let json = serde_json::json!({
        "format_version": 2,
        "seq": 1,
        "generated_at_ms": generated_at,
        "expires_at_ms": generated_at + 30_000,
        "cdns": [
            {"id": "cdn-a", "static_weight_bp": 5000, "score_permille": 900, "weight_bp": 5000,
             "state": "healthy", "reason": "healthy"},
            {"id": "cdn-b", "static_weight_bp": 3000, "score_permille": 900, "weight_bp": 3000,
             "state": "healthy", "reason": "healthy"},
            {"id": "cdn-c", "static_weight_bp": 2000, "score_permille": 900, "weight_bp": 2000,
             "state": "healthy", "reason": "healthy"}
        ],
        "slots": "0000011122".repeat(10)
    });
    HealthSnapshot::from_json(json.to_string().as_bytes())
        .unwrap()
        .with_admission(vec![AdmissionPlan {
            event: "final-2026".into(),
            state,
            doors_open_ms: DOORS,
            frontier_ms: frontier,
            rate_per_min: 600,
            advance_ms_per_s: 1_000,
            waiting: 42,
            active: 10,
            cap: Some(1_000),
        }])
        .unwrap()
}

struct Viewer<'c> {
    config: &'c EdgeConfig,
    ticket: String,
    cookies: Vec<(String, String)>,
}

/// One answer, with what an adapter would do with it.
struct Answer {
    status: u16,
    reason: String,
    headers: HeaderMap,
    body: serde_json::Value,
    events: Vec<String>,
    decision: Decision,
}

impl<'c> Viewer<'c> {
    fn new(config: &'c EdgeConfig, sub: &str) -> Self {
        Viewer {
            config,
            ticket: ticket(sub, "final-2026"),
            cookies: Vec::new(),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn get(&mut self, path: &str, now: u64, health: Option<&HealthSnapshot>) -> Answer {
        let mut cookie = format!("usher_ticket={}", self.ticket);
        for (name, value) in &self.cookies {
            cookie.push_str(&format!("; {name}={value}"));
        }
        let request = Request::builder()
            .uri(format!("/events/final-2026/{path}"))
            .header("cookie", cookie)
            .body(())
            .unwrap();
        let input = EdgeInput {
            now_ms: now,
            client: Client {
                ip: Some("198.51.100.7"),
                country: None,
                asn: None,
            },
            config: self.config,
            health,
            entropy: [7; 16],
        };
        let decision = decide(&request, &input);
        let (status, headers, body) = match &decision.action {
            Action::Respond(response) => (
                response.status().as_u16(),
                response.headers().clone(),
                serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null),
            ),
            // A lease check before the playlist fetch: the request was let through.
            _ => (0, HeaderMap::new(), serde_json::Value::Null),
        };
        // Keep what the answer sets, as a browser would (Max-Age=0 deletes).
        for set in headers.get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Answer {
            status,
            reason: decision.reason.code().to_owned(),
            headers,
            body,
            events: decision.events.clone(),
            decision,
        }
    }
}

#[test]
fn a_ticket_holder_without_an_admission_is_sent_to_the_waiting_room() {
    let config = config();
    let mut viewer = Viewer::new(&config, "viewer-1");
    let answer = viewer.get("master.m3u8", DOORS + 1_000, None);
    assert_eq!((answer.status, answer.reason.as_str()), (429, "queued"));
    // A bad ticket is still a ticket problem, not a queue.
    viewer.ticket = ticket("viewer-1", "semi-2026");
    let answer = viewer.get("master.m3u8", DOORS + 1_000, None);
    assert_eq!(answer.reason, "ticket_wrong_event");
}

#[test]
fn the_first_ask_issues_a_signed_place_and_tells_the_controller_once() {
    let config = config();
    let mut viewer = Viewer::new(&config, "viewer-1");
    let at = DOORS + 5_000;
    let plan = snapshot(DOORS, AdmissionState::Open, at);
    let first = viewer.get("queue", at, Some(&plan));
    assert_eq!((first.status, first.reason.as_str()), (200, "queued"));
    assert_eq!(first.headers["cache-control"], "no-store");
    assert_eq!(first.body["state"], "waiting");
    assert_eq!(first.body["admission"], "open");
    assert_eq!(first.body["prequeue"], false);
    // 5 s of positions at 1000 ms per second, and one more millisecond.
    assert_eq!(first.body["wait_s"], 6);
    assert_eq!(first.body["waiting"], 42);
    assert_eq!(first.headers["retry-after"], "2");
    let set = first.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("usher_queue=q1~final-2026~"), "{set}");
    assert!(set.contains("Path=/events/final-2026/; Max-Age=86400; SameSite=Lax; HttpOnly"));
    assert_eq!(first.events.len(), 1);
    let arrival: serde_json::Value = serde_json::from_str(&first.events[0]).unwrap();
    assert_eq!(arrival["kind"], "arrival");
    assert_eq!(arrival["event"], "final-2026");
    assert_eq!(arrival["position"], at);
    // Asking again keeps the place and says nothing new to the controller.
    let again = viewer.get("queue", at + 3_000, Some(&plan));
    assert!(again.events.is_empty());
    assert!(again.headers.get("set-cookie").is_none());
    assert_eq!(again.body["wait_s"], 6);
}

#[test]
fn once_the_frontier_passes_the_place_the_viewer_is_admitted_and_plays() {
    let config = config();
    let mut viewer = Viewer::new(&config, "viewer-1");
    let at = DOORS + 5_000;
    viewer.get(
        "queue",
        at,
        Some(&snapshot(DOORS, AdmissionState::Open, at)),
    );
    let later = at + 10_000;
    // The frontier at the place itself does not admit it; one past it does.
    let at_place = viewer.get(
        "queue",
        later,
        Some(&snapshot(at, AdmissionState::Open, later)),
    );
    assert_eq!(at_place.body["state"], "waiting");
    let admitted = viewer.get(
        "queue",
        later,
        Some(&snapshot(at + 1, AdmissionState::Open, later)),
    );
    assert_eq!((admitted.status, admitted.reason.as_str()), (200, "ok"));
    assert_eq!(admitted.body["state"], "admitted");
    let line: serde_json::Value = serde_json::from_str(&admitted.events[0]).unwrap();
    assert_eq!(
        (line["kind"].as_str(), line["position"].as_u64()),
        (Some("admitted"), Some(at))
    );
    assert!(
        viewer
            .cookie(ADMISSION_COOKIE)
            .unwrap()
            .starts_with("a1~final-2026~")
    );
    // The playlist request now goes on to its lease check and fetch, even with no snapshot:
    // an admission stands on its own.
    let master = viewer.get("master.m3u8", later + 1_000, None);
    assert!(
        matches!(master.decision.action, Action::Lease(_)),
        "{}",
        master.reason
    );
    // The waiting page of an admitted viewer sends it straight back.
    let again = viewer.get("queue", later + 2_000, None);
    assert_eq!(again.body["state"], "admitted");
}

#[test]
fn an_admission_or_a_place_handed_to_another_viewer_admits_nobody() {
    let config = config();
    let mut owner = Viewer::new(&config, "viewer-1");
    let at = DOORS + 5_000;
    owner.get(
        "queue",
        at,
        Some(&snapshot(at + 1, AdmissionState::Open, at)),
    );
    let mut friend = Viewer::new(&config, "viewer-2");
    friend.cookies = owner.cookies.clone();
    let master = friend.get("master.m3u8", at + 1_000, None);
    assert_eq!(
        (master.status, master.reason.as_str()),
        (403, "admission_other_viewer")
    );
    // Its copied place is refused too, cleared, and the next ask queues it at the back.
    friend.cookies.retain(|(n, _)| n != ADMISSION_COOKIE);
    let plan = snapshot(at + 1, AdmissionState::Open, at + 1_000);
    let refused = friend.get("queue", at + 1_000, Some(&plan));
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (400, "queue_other_viewer")
    );
    assert!(friend.cookie(QUEUE_COOKIE).is_none(), "cleared");
    let requeued = friend.get("queue", at + 2_000, Some(&plan));
    assert_eq!(requeued.body["state"], "waiting");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&requeued.events[0]).unwrap()["position"],
        at + 2_000
    );
}

#[test]
fn forged_altered_or_skewed_cookies_are_refused_with_their_reason() {
    let config = config();
    let at = DOORS + 5_000;
    let plan = snapshot(DOORS + 1, AdmissionState::Open, at);
    let mut viewer = Viewer::new(&config, "viewer-1");
    viewer.get("queue", at, Some(&plan));
    let place = viewer.cookie(QUEUE_COOKIE).unwrap().to_owned();
    // Moved to the doors' opening: the signature no longer matches.
    let moved = place.replacen(&format!("~{at}~"), &format!("~{DOORS}~"), 1);
    for (value, reason) in [
        (moved, "queue_bad_signature"),
        ("q1~final-2026~1~2~3".to_owned(), "queue_malformed"),
        (format!("{place}0"), "queue_malformed"),
    ] {
        let mut v = Viewer::new(&config, "viewer-1");
        v.cookies = vec![(QUEUE_COOKIE.to_owned(), value)];
        let answer = v.get("queue", at, Some(&plan));
        assert_eq!((answer.status, answer.reason.as_str()), (400, reason));
        assert!(answer.events.is_empty());
    }
    // A place issued by an edge whose clock ran 10 minutes ahead.
    let mut ahead = Viewer::new(&config, "viewer-3");
    ahead.get("queue", at + 600_000, Some(&plan));
    let answer = ahead.get("queue", at, Some(&plan));
    assert_eq!(
        (answer.status, answer.reason.as_str()),
        (400, "queue_clock_skew")
    );
    // A forged admission at the playlist.
    let mut forger = Viewer::new(&config, "viewer-1");
    forger.cookies = vec![(
        ADMISSION_COOKIE.to_owned(),
        format!(
            "a1~final-2026~{at}~{}~{}~{}",
            at + 1_000_000,
            "0".repeat(32),
            "0".repeat(64)
        ),
    )];
    let master = forger.get("master.m3u8", at, None);
    assert_eq!(
        (master.status, master.reason.as_str()),
        (403, "admission_bad_signature")
    );
}

#[test]
fn without_a_fresh_plan_nobody_new_is_admitted() {
    let config = config();
    let at = DOORS + 5_000;
    let mut viewer = Viewer::new(&config, "viewer-1");
    let none = viewer.get("queue", at, None);
    assert_eq!(none.body["state"], "waiting");
    assert_eq!(none.body["admission"], "unknown");
    assert_eq!(none.body["wait_s"], serde_json::Value::Null);
    // A plan that would admit, in a snapshot that has expired.
    let old = snapshot(u64::MAX, AdmissionState::Open, at - 60_000);
    let stale = viewer.get("queue", at, Some(&old));
    assert_eq!(stale.body["state"], "waiting");
    // Paused: the place is kept, no estimate.
    let paused = viewer.get(
        "queue",
        at,
        Some(&snapshot(DOORS, AdmissionState::Paused, at)),
    );
    assert_eq!(paused.body["admission"], "paused");
}

#[test]
fn early_arrivals_get_a_shuffled_place_before_the_doors_that_asking_again_does_not_change() {
    let config = config();
    let mut places = Vec::new();
    for i in 0..50u64 {
        let plan = snapshot(
            DOORS - PREQUEUE_SPAN_MS,
            AdmissionState::BeforeDoors,
            NOW + i * 1_000,
        );
        let mut viewer = Viewer::new(&config, &format!("early-{i}"));
        let answer = viewer.get("queue", NOW + i * 1_000, Some(&plan));
        assert_eq!(answer.body["prequeue"], true);
        assert_eq!(answer.body["admission"], "before_doors");
        let line: serde_json::Value = serde_json::from_str(&answer.events[0]).unwrap();
        let place = line["position"].as_u64().unwrap();
        assert!((DOORS - PREQUEUE_SPAN_MS..DOORS).contains(&place));
        // Losing the cookie and asking again draws the same place.
        viewer.cookies.retain(|(n, _)| n != QUEUE_COOKIE);
        let again = viewer.get("queue", NOW + i * 1_000 + 500, Some(&plan));
        let line: serde_json::Value = serde_json::from_str(&again.events[0]).unwrap();
        assert_eq!(line["position"].as_u64(), Some(place));
        places.push(place);
    }
    let sorted = places.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        (10..40).contains(&sorted),
        "{sorted} of 49 neighbours in arrival order"
    );
}

#[test]
fn the_waiting_page_is_cached_like_the_player_page_and_only_where_there_is_a_room() {
    let config = config();
    let mut viewer = Viewer::new(&config, "viewer-1");
    let request = |path: &str, etag: Option<&str>| {
        let mut r = Request::builder().uri(path);
        if let Some(etag) = etag {
            r = r.header("if-none-match", etag);
        }
        r.body(()).unwrap()
    };
    let input = EdgeInput {
        now_ms: NOW,
        client: Client {
            ip: None,
            country: None,
            asn: None,
        },
        config: &config,
        health: None,
        entropy: [0; 16],
    };
    let page = decide(&request("/events/final-2026/waiting", None), &input);
    let Action::Respond(response) = &page.action else {
        panic!("a page");
    };
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let html = std::str::from_utf8(response.body()).unwrap();
    assert!(html.contains(r#"fetch("queue",{cache:"no-store"})"#));
    assert!(
        response.body().len() < 2816,
        "{} bytes",
        response.body().len()
    );
    let etag = response.headers()["etag"].to_str().unwrap();
    let revalidated = decide(&request("/events/final-2026/waiting", Some(etag)), &input);
    assert_eq!(revalidated.reason.code(), "not_modified");
    // semi-2026 has no waiting room.
    for path in ["/events/semi-2026/waiting", "/events/semi-2026/queue"] {
        assert_eq!(
            decide(&request(path, None), &input).reason.code(),
            "not_found"
        );
    }
    assert_eq!(viewer.get("waiting", NOW, None).status, 200);
}
