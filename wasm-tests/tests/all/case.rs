//! The conformance cases: the edge's behaviour as data, in `edge/core/tests/conformance/`.
//!
//! Each case is a request plus its inputs (time, client, the origin's answer, the lease store,
//! the health snapshot) and the expected outcome (status, reason code, key headers, upstream
//! request, body). Tickets, session tokens and the health snapshot's signature are made when
//! the case runs, from the claims and snapshot the case declares, with the keys in `config/`
//! (or a `secret_hex` the case gives, to forge one).
//!
//! A case is written for a fixed `now`. Through a real runtime the clock is the machine's, so
//! [`Case::load_at`] moves the whole case in time first: every Unix time in it (seconds or
//! milliseconds, as numbers or inside strings such as a session's `data`) is shifted by the
//! same amount, so the relations the case tests (expired a minute ago, renewed before
//! half-life) hold at the real time. It can also give the ticket a subject of its own, so that
//! cases sharing one runtime (and its lease store) never see each other's leases.
#![cfg(test)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use usher_edge_core::admission::PassKeys;
use usher_edge_core::config::{ConfigParts, EdgeConfig};
use usher_shared::health::{HealthKeys, seal};
use usher_shared::token::edgeauth::{EdgeAuth, MintRequest, Scope};
use usher_shared::token::jwt::{self, Claims};
use usher_shared::token::{Algorithm, Keyring};

/// `edge/core/tests/conformance/`: the cases, their configuration, origin bodies and the
/// expected bodies.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../edge/core/tests/conformance")
}

/// One configuration document of the conformance configuration.
pub fn document(name: &str) -> Vec<u8> {
    std::fs::read(root().join("config").join(name)).unwrap()
}

/// The conformance configuration, parsed; `events` replaces `events.json` when given (the
/// runtimes' origin is a local server, not `origin-eu.example`).
pub fn config(events: Option<&[u8]>) -> EdgeConfig {
    let file_events = document("events.json");
    let (pathways, settings, keys, session, content, health) = (
        document("pathways.json"),
        document("settings.json"),
        document("ticket-keys.json"),
        document("session-key.txt"),
        document("content-keys.json"),
        document("health-keys.json"),
    );
    EdgeConfig::from_parts(&ConfigParts {
        events: Some(events.unwrap_or(&file_events)),
        pathways: Some(&pathways),
        settings: Some(&settings),
        ticket_keys: Some(&keys),
        session_key: Some(&session),
        content_keys: Some(&content),
        health_keys: Some(&health),
    })
    .unwrap()
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub now: u64,
    pub request: RequestSpec,
    #[serde(default)]
    pub client: ClientSpec,
    pub entropy: String,
    pub ticket: Option<TicketSpec>,
    pub session: Option<SessionSpec>,
    pub origin: Option<OriginSpec>,
    /// What the lease store holds under the key the edge asks for (default: nothing).
    pub lease_store: Option<LeaseStoreSpec>,
    /// The health snapshot the edge's store holds (default: none).
    pub health: Option<HealthSpec>,
    /// The waiting room's cookies the request carries (`{queue}`, `{admission}`).
    pub passes: Option<PassesSpec>,
    pub expect: Expect,
}

/// The waiting room's signed cookies a case's request carries, minted when the case runs with
/// the edge's own code (`usher_edge_core::admission::PassKeys`) from the session key in
/// `config/` (or a `secret_hex`, to forge one), for the subject the case's ticket has when it
/// runs (a runtime gives each case's ticket a subject of its own). Their times move with the
/// case.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PassesSpec {
    /// The value of `{queue}`: a signed queue position (`position_ms`, `issued_ms`).
    pub queue: Option<PassSpec>,
    /// The value of `{admission}`: a signed admission (`issued_ms`, `expires_ms`).
    pub admission: Option<PassSpec>,
}

/// One waiting room pass: what it says, whose it is, and who signs it.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PassSpec {
    /// A queue pass: the place in the queue, Unix ms.
    pub position_ms: Option<u64>,
    /// When an edge issued it, Unix ms.
    pub issued_ms: u64,
    /// An admission: when it stops admitting, Unix ms.
    pub expires_ms: Option<u64>,
    /// The event it is signed for (default: the ticket's `ev`).
    pub event: Option<String>,
    /// The viewer it is bound to (default: the ticket's subject, or its id, as the edge binds
    /// them): another viewer's pass names someone else.
    pub subject: Option<String>,
    /// Sign with this session key instead of the configured one (a forgery).
    pub secret_hex: Option<String>,
}

/// A health snapshot as it sits in the edge's store: signed by the controller, or not.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// The snapshot's JSON (docs/health-model.md §8); its times move with the case.
    pub snapshot: Value,
    /// Sign it with this key id of `config/health-keys.json` (or of `secret_hex`); without
    /// one the store holds the bare JSON.
    pub kid: Option<String>,
    /// Sign with this key instead of the configured one (a forgery).
    pub secret_hex: Option<String>,
    /// Fields of the snapshot replaced after it was signed: what someone with write access to
    /// the store, but without the key, made of it.
    pub tampered: Option<serde_json::Map<String, Value>>,
}

impl HealthSpec {
    /// The bytes in the store.
    pub fn envelope(&self) -> Vec<u8> {
        let json = self.snapshot.to_string();
        let Some(kid) = &self.kid else {
            return json.into_bytes();
        };
        let keys = match &self.secret_hex {
            Some(hex) => serde_json::json!({ kid: hex }).to_string().into_bytes(),
            None => document("health-keys.json"),
        };
        let keys = HealthKeys::from_json(&keys).unwrap();
        let sealed = seal(&keys, kid, json.as_bytes()).unwrap();
        match &self.tampered {
            None => sealed,
            Some(fields) => {
                let header_end = sealed.iter().position(|&b| b == b'\n').unwrap();
                let mut changed = self.snapshot.clone();
                for (name, value) in fields {
                    changed[name] = value.clone();
                }
                let mut envelope = sealed[..=header_end].to_vec();
                envelope.extend_from_slice(changed.to_string().as_bytes());
                envelope
            }
        }
    }
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct LeaseStoreSpec {
    /// `found`, `missing` or `unavailable`.
    pub state: String,
    /// The record, for `found` (any JSON; a string is stored as its bytes).
    pub record: Option<Value>,
}

impl LeaseStoreSpec {
    /// The stored bytes, for `found`.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match (self.state.as_str(), &self.record) {
            ("found", Some(Value::String(text))) => Some(text.clone().into_bytes()),
            ("found", Some(record)) => Some(record.to_string().into_bytes()),
            _ => None,
        }
    }
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "get")]
    pub method: String,
    pub uri: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub ip: Option<String>,
    pub country: Option<String>,
    pub asn: Option<u32>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TicketSpec {
    pub kid: String,
    pub claims: Claims,
    /// Sign with this key instead of the configured one (a forgery).
    pub secret_hex: Option<String>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    pub session_id: String,
    pub start: u64,
    pub end: u64,
    pub acl: Vec<String>,
    /// The steering base pathway, as the edge writes it into `data`.
    pub data: Option<String>,
    pub secret_hex: Option<String>,
}

/// What the origin answers. Natively, the answer is handed to the core as fetched; through a
/// runtime, the local origin server sends it over HTTP.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct OriginSpec {
    pub status: Option<u16>,
    pub body: Option<String>,
    /// A file in `origin/`, or `stream:PATH` for a file of the FFmpeg stream.
    pub body_file: Option<String>,
    /// Padded with playlist comment lines to at least this many bytes (an oversized playlist).
    pub pad_to_bytes: Option<usize>,
    /// The origin answers only after this long (a slow origin, within the edge's timeouts).
    pub delay_ms: Option<u64>,
    /// The platform's cache held a copy and served it, stale, because the origin failed.
    #[serde(default)]
    pub stale: bool,
    /// The origin never answers.
    #[serde(default)]
    pub timeout: bool,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default = "respond")]
    pub action: String,
    pub status: Option<u16>,
    pub reason: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub upstream: Option<UpstreamSpec>,
    pub body_file: Option<String>,
    #[serde(default)]
    pub body_contains: Vec<String>,
    /// The asset name, for `"action": "asset"`.
    pub asset: Option<String>,
    /// The lease outcome in the log line (`taken`, `renewed`, `held`, `full`, ...); `"none"`
    /// when the request must not touch the lease store.
    pub lease: Option<String>,
    /// The record written back: `"none"`, or `{"key": .., "record": .., "ttl_secs": ..}`.
    pub store: Option<Value>,
    /// Why the case's health snapshot is refused (the code that starts the access log's
    /// `health_error`: `unsigned`, `unknown_key`, `bad_signature`, ...); `"none"` when the
    /// edge must use it.
    pub health_error: Option<String>,
    /// The `Set-Cookie` headers, in order (cookie values carry MACs, so names, value prefixes
    /// and attributes); `[]` when none may be set.
    pub set_cookie: Option<Vec<SetCookieSpec>>,
    /// The lines for the steering controller the request gives, in order (CMCD, the waiting
    /// room's `arrival` and `admitted`), each as JSON; `[]` when none.
    pub events: Option<Vec<Value>>,
}

/// One expected `Set-Cookie`.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SetCookieSpec {
    pub name: String,
    /// The value exactly (`""` for a cookie being cleared).
    pub value: Option<String>,
    /// What the value starts with.
    pub value_prefix: Option<String>,
    /// Attributes it must carry (`Path=/events/gala-2026/`, `HttpOnly`, `Max-Age=0`), each
    /// exactly as one `;`-separated attribute; others may follow.
    #[serde(default)]
    pub attributes: Vec<String>,
}

impl SetCookieSpec {
    /// What is wrong with `header` as this cookie, if anything.
    pub fn mismatch(&self, header: &str) -> Option<String> {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next().and_then(|p| p.split_once('='))?;
        let attributes: Vec<&str> = parts.collect();
        let wrong = name != self.name
            || self.value.as_ref().is_some_and(|v| v != value)
            || self
                .value_prefix
                .as_ref()
                .is_some_and(|p| !value.starts_with(p.as_str()))
            || self
                .attributes
                .iter()
                .any(|a| !attributes.contains(&a.as_str()));
        wrong.then(|| format!("Set-Cookie {header:?} is not {self:?}"))
    }
}

fn respond() -> String {
    "respond".into()
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    pub origin: String,
    pub url: String,
    pub cache_key: Option<String>,
}

impl Case {
    /// Every case in `cases/`, by file stem, in file name order.
    pub fn all() -> Vec<(String, Case)> {
        let mut paths: Vec<_> = std::fs::read_dir(root().join("cases"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, Case::load_at(&p, None, None))
            })
            .collect()
    }

    /// The case in `path`, moved so that its `now` is `now` (when given), its ticket's subject
    /// suffixed with `.{unique}` (when given) and every lease key and session `data` that
    /// names the ticket's lease following it.
    pub fn load_at(path: &Path, now: Option<u64>, unique: Option<&str>) -> Case {
        let text = std::fs::read(path).unwrap();
        let mut value: Value =
            serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let written_now = value["now"].as_u64().unwrap();
        if let Some(now) = now {
            shift(&mut value, written_now, now);
        }
        if let Some(unique) = unique {
            make_unique(&mut value, unique);
        }
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn ticket(&self) -> Option<String> {
        self.ticket.as_ref().map(mint_ticket)
    }

    pub fn session(&self) -> Option<String> {
        self.session.as_ref().map(mint_session)
    }

    /// Everything the case's request carries, minted now from the case as it is (moved in
    /// time, its ticket's subject made unique).
    pub fn tokens(&self) -> Tokens {
        let passes = self.passes.as_ref();
        Tokens {
            ticket: self.ticket(),
            session: self.session(),
            queue: passes
                .and_then(|p| p.queue.as_ref())
                .map(|q| self.mint_pass(q, Pass::Queue)),
            admission: passes
                .and_then(|p| p.admission.as_ref())
                .map(|a| self.mint_pass(a, Pass::Admission)),
        }
    }

    /// A waiting room cookie value, as an edge with the spec's key would issue it.
    fn mint_pass(&self, spec: &PassSpec, pass: Pass) -> String {
        let claims = self.ticket.as_ref().map(|t| &t.claims);
        let event = spec
            .event
            .clone()
            .or_else(|| claims.map(|c| c.ev.clone()))
            .expect("a pass names its event, or the case has a ticket");
        let subject = spec
            .subject
            .clone()
            .or_else(|| claims.and_then(|c| c.sub.clone().or_else(|| c.jti.clone())))
            .expect("a pass names its subject, or the case's ticket has one");
        let keys = PassKeys::new(&session_auth(spec.secret_hex.as_deref()));
        let viewer = keys.viewer(&event, &subject);
        match pass {
            Pass::Queue => {
                let position = spec.position_ms.expect("a queue pass has a position_ms");
                keys.issue_queue(&event, viewer, position, spec.issued_ms)
            }
            Pass::Admission => {
                let expires = spec.expires_ms.expect("an admission has an expires_ms");
                keys.issue_admission(&event, viewer, spec.issued_ms, expires)
            }
        }
    }

    /// The case's text with `{ticket}`, `{session}`, `{queue}`, `{admission}`, `{page_etag}`
    /// and `{waiting_etag}` filled in.
    pub fn fill(&self, text: &str, tokens: &Tokens, etags: &Etags) -> String {
        let mut out = text.to_owned();
        if let Some(t) = &tokens.ticket {
            out = out.replace("{ticket}", &query_escape(t));
        }
        if let Some(s) = &tokens.session {
            out = out.replace("{session}", &query_escape(s));
        }
        // Cookie values as the edge sets them: `~`, digits, letters and `.-_`, nothing to
        // escape.
        if let Some(q) = &tokens.queue {
            out = out.replace("{queue}", q);
        }
        if let Some(a) = &tokens.admission {
            out = out.replace("{admission}", a);
        }
        out.replace("{page_etag}", &etags.player)
            .replace("{waiting_etag}", &etags.waiting)
    }

    /// The origin's body for this case, if it has one: `origin/` files, or the FFmpeg stream's.
    pub fn origin_body(&self, stream: &Path) -> Option<Vec<u8>> {
        let origin = self.origin.as_ref()?;
        let mut body = match (&origin.body, &origin.body_file) {
            (Some(body), _) => body.clone().into_bytes(),
            (None, Some(file)) => match file.strip_prefix("stream:") {
                Some(path) => std::fs::read(stream.join(path)).unwrap(),
                None => std::fs::read(root().join("origin").join(file)).unwrap(),
            },
            (None, None) => Vec::new(),
        };
        if let Some(size) = origin.pad_to_bytes {
            while body.len() < size {
                body.extend_from_slice(b"# padding: comment lines are ignored by players\n");
            }
        }
        Some(body)
    }
}

/// The ETags of the conformance pages, which revalidation cases send back.
#[derive(Clone, Debug)]
pub struct Etags {
    /// The player page of `final-2026`.
    pub player: String,
    /// The waiting room page of `gala-2026`.
    pub waiting: String,
}

/// The tokens a case's request carries, minted once per run.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    pub ticket: Option<String>,
    pub session: Option<String>,
    /// The waiting room's queue cookie value.
    pub queue: Option<String>,
    /// The waiting room's admission cookie value.
    pub admission: Option<String>,
}

/// Which waiting room cookie to mint.
#[derive(Clone, Copy)]
enum Pass {
    Queue,
    Admission,
}

/// Unix times are within this many seconds of the case's `now`; nothing else in a case is a
/// ten-digit number that close.
const TIME_WINDOW_SECS: u64 = 10_000_000;

/// Adds `to - from` to every Unix time in `value`: numbers in seconds or milliseconds near
/// `from`, and digit runs of the same kind inside strings.
fn shift(value: &mut Value, from: u64, to: u64) {
    let moved = |n: u64| -> Option<u64> {
        let near = |n: u64, at: u64, window: u64| n.abs_diff(at) <= window;
        if near(n, from, TIME_WINDOW_SECS) {
            Some(n + to - from)
        } else if near(n, from * 1000, TIME_WINDOW_SECS * 1000) {
            Some(n + (to - from) * 1000)
        } else {
            None
        }
    };
    match value {
        Value::Number(n) => {
            if let Some(new) = n.as_u64().and_then(moved) {
                *value = Value::from(new);
            } else if let Some(new) = n
                .as_i64()
                .and_then(|i| u64::try_from(i).ok())
                .and_then(moved)
            {
                *value = Value::from(new);
            }
        }
        Value::String(text) => {
            let mut out = String::with_capacity(text.len());
            let mut digits = String::new();
            let flush = |digits: &mut String, out: &mut String| {
                match digits
                    .parse::<u64>()
                    .ok()
                    .filter(|_| matches!(digits.len(), 10 | 13))
                {
                    Some(n) => match moved(n) {
                        Some(new) => out.push_str(&new.to_string()),
                        None => out.push_str(digits),
                    },
                    None => out.push_str(digits),
                }
                digits.clear();
            };
            for c in text.chars() {
                if c.is_ascii_digit() {
                    digits.push(c);
                } else {
                    flush(&mut digits, &mut out);
                    out.push(c);
                }
            }
            flush(&mut digits, &mut out);
            *text = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| shift(v, from, to)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// The hash in a ticket's lease key (`leases/{event}/{hash}`), as docs/edge.md documents it:
/// the first 16 bytes of SHA-256 over `usher-lease\0{event}\0{identity}`, in hex.
fn lease_hash(event: &str, identity: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"usher-lease\0");
    hasher.update(event.as_bytes());
    hasher.update(b"\0");
    hasher.update(identity.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Gives the case's lease an identity of its own: the ticket's subject (or id) gets a suffix,
/// and every mention of its lease (the store key, the hash in session `data`) follows. A case
/// with a session token but no ticket gets a fresh hash in its `data` instead.
fn make_unique(value: &mut Value, unique: &str) {
    if let Some(claims) = value.pointer_mut("/ticket/claims") {
        let event = claims["ev"].as_str().unwrap_or_default().to_owned();
        let field = if claims.get("sub").is_some() {
            "sub"
        } else {
            "jti"
        };
        let Some(identity) = claims.get(field).and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        let renamed = format!("{identity}.{unique}");
        claims[field] = Value::from(renamed.clone());
        let (old, new) = (lease_hash(&event, &identity), lease_hash(&event, &renamed));
        replace_in_strings(value, &old, &new);
    } else if let Some(data) = value.pointer("/session/data").and_then(Value::as_str) {
        // `BASE:LEASE:MAX:RENEWED` (docs/token-format.md §2.3).
        if let Some(old) = data
            .split(':')
            .nth(1)
            .filter(|h| h.len() == 32)
            .map(str::to_owned)
        {
            let new = lease_hash(unique, &old);
            replace_in_strings(value, &old, &new);
        }
    }
}

fn replace_in_strings(value: &mut Value, old: &str, new: &str) {
    match value {
        Value::String(text) if text.contains(old) => *text = text.replace(old, new),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_in_strings(v, old, new)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| replace_in_strings(v, old, new)),
        _ => {}
    }
}

fn mint_ticket(spec: &TicketSpec) -> String {
    let mut ring = Keyring::new();
    let secret = match &spec.secret_hex {
        Some(hex) => hex.clone(),
        None => {
            let keys: BTreeMap<String, String> =
                serde_json::from_slice(&document("ticket-keys.json")).unwrap();
            keys[&spec.kid].clone()
        }
    };
    ring.insert(&spec.kid, &hex::decode(secret.trim()).unwrap())
        .unwrap();
    jwt::mint(&spec.claims, &spec.kid, &ring).unwrap()
}

/// The edge's session signer: the configured session key, or `secret_hex` (a forgery).
fn session_auth(secret_hex: Option<&str>) -> EdgeAuth {
    let hex = match secret_hex {
        Some(hex) => hex.to_owned(),
        None => String::from_utf8(document("session-key.txt")).unwrap(),
    };
    EdgeAuth::from_hex(hex.trim(), Algorithm::Sha256, Default::default()).unwrap()
}

fn mint_session(spec: &SessionSpec) -> String {
    let auth = session_auth(spec.secret_hex.as_deref());
    let acl: Vec<&str> = spec.acl.iter().map(String::as_str).collect();
    auth.mint(&MintRequest {
        ip: None,
        start: Some(spec.start),
        end: spec.end,
        scope: Scope::Acl(&acl),
        session_id: Some(&spec.session_id),
        data: spec.data.as_deref(),
    })
    .unwrap()
}

/// Tokens go into URIs percent-encoded where a query needs it, as a player would send them.
pub fn query_escape(token: &str) -> String {
    token
        .bytes()
        .map(|b| match b {
            b'+' | b'&' | b'#' | b'%' | b' ' => format!("%{b:02X}"),
            _ => char::from(b).to_string(),
        })
        .collect()
}

#[test]
fn a_case_moved_in_time_keeps_its_relations_and_its_ticket_gets_its_own_lease() {
    let path = root().join("cases/media_playlist_renews_its_lease_past_half_life.json");
    let at = Case::load_at(&path, None, None);
    let moved = Case::load_at(&path, Some(at.now + 1000), Some("x"));
    assert_eq!(moved.now, at.now + 1000);
    let (a, b) = (
        at.session.as_ref().unwrap(),
        moved.session.as_ref().unwrap(),
    );
    assert_eq!((b.start, b.end), (a.start + 1000, a.end + 1000));
    let renewed = |data: &str| data.rsplit(':').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        renewed(b.data.as_deref().unwrap()),
        renewed(a.data.as_deref().unwrap()) + 1000
    );
    // The lease hash in `data` follows the ticket's new subject, when the case has a ticket.
    if let Some(ticket) = &moved.ticket {
        assert!(ticket.claims.sub.as_deref().unwrap().ends_with(".x"));
    }
}

#[test]
fn a_waiting_room_case_moved_in_time_moves_its_plan_and_binds_its_passes_to_the_subject_used() {
    use usher_edge_core::admission::PassError;
    let path = root().join("cases/queue_admits_a_place_the_frontier_has_passed.json");
    let at = Case::load_at(&path, None, None);
    let moved = Case::load_at(&path, Some(at.now + 1000), Some("x"));
    // The snapshot v3 opens with the conformance keys, its plan moved with the case; the doors
    // (a year before every case, as `events.json` has them) are too far to be a case's time.
    let config = config(None);
    let plan = |case: &Case| {
        let envelope = case.health.as_ref().unwrap().envelope();
        let snapshot = config.health(&envelope).unwrap().unwrap();
        snapshot.admission("gala-2026").unwrap().clone()
    };
    let (before, after) = (plan(&at), plan(&moved));
    assert_eq!(after.frontier_ms, before.frontier_ms + 1_000_000);
    assert_eq!(after.doors_open_ms, before.doors_open_ms);
    let doors = config.event("gala-2026").unwrap().admission.unwrap();
    assert_eq!(after.doors_open_ms, doors.doors_open_ms);
    // The queue pass is the moved case's, bound to the ticket's subject as the runtime sees it.
    let subject = moved.ticket.as_ref().unwrap().claims.sub.clone().unwrap();
    assert!(subject.ends_with(".x"), "{subject}");
    let keys = PassKeys::new(&session_auth(None));
    let cookie = moved.tokens().queue.unwrap();
    let now_ms = moved.now * 1000;
    let pass = keys
        .check_queue(
            &cookie,
            "gala-2026",
            keys.viewer("gala-2026", &subject),
            now_ms,
        )
        .unwrap();
    let written = at.passes.as_ref().unwrap().queue.as_ref().unwrap();
    assert_eq!(pass.position, written.position_ms.unwrap() + 1_000_000);
    let unmoved_subject = at.ticket.as_ref().unwrap().claims.sub.clone().unwrap();
    let unmoved = keys.viewer("gala-2026", &unmoved_subject);
    assert_eq!(
        keys.check_queue(&cookie, "gala-2026", unmoved, now_ms),
        Err(PassError::OtherViewer)
    );
}
