//! The request flow: [`decide`] what to do with a request, and [`finish`] a fetched playlist.
//!
//! ```text
//!  request ─► route ─► credential check ─► ┬─ Respond (page, refusal, health, steering)
//!                                          ├─ Proxy   (segment: adapter streams from origin)
//!                                          ├─ Lease   (playlist of a ticket: adapter reads the
//!                                          │           lease record, then calls leased) ─► Fetch
//!                                          └─ Fetch   (playlist: adapter fetches through its
//!                                                      cache, then calls finish) ─► Respond
//! ```
//!
//! I/O steps (the origin fetch, the cache, the lease store) are the adapter's; every branch is
//! here.

use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, CONTENT_TYPE, ETAG,
    HeaderValue, IF_NONE_MATCH, RETRY_AFTER, SET_COOKIE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use usher_shared::health::{self, HealthSnapshot};
use usher_shared::playlist::{BaseUrl, HttpUrl, Playlist, Rewrite};
use usher_shared::token::edgeauth::{MintRequest, Presented, Scope};
use usher_shared::token::jwt::{self, Policy};

use crate::admission::{self, PassKeys, Standing};
use crate::cmcd::{BeaconLimits, Cmcd, CmcdEvent, Source, parse_beacon};
use crate::config::{EdgeConfig, Event, Pathway};
use crate::credential;
use crate::lease::{self, LeaseCheck, LeaseId, StoreWrite};
use crate::page;
use crate::reason::{Layer, REASON_HEADER, Reason};
use crate::route::{self, Route};
use crate::steering;

/// The query parameters of LL-HLS delivery directives (rfc8216bis §6.2.5): forwarded to the
/// origin and kept in the cache key, so blocking playlist reloads keep working.
const DELIVERY_DIRECTIVES: [&str; 3] = ["_HLS_msn", "_HLS_part", "_HLS_skip"];

/// Slots of the static fallback assignment, as in the health snapshot's slot table.
const STATIC_SLOTS: u16 = 1000;

/// The client, as the platform sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Client<'a> {
    /// The client's address.
    pub ip: Option<&'a str>,
    /// ISO 3166-1 alpha-2 country code from the platform's geolocation.
    pub country: Option<&'a str>,
    /// Autonomous system number from the platform's geolocation.
    pub asn: Option<u32>,
}

/// Everything the core needs besides the request. The adapter fills it per request.
#[derive(Clone, Copy, Debug)]
pub struct EdgeInput<'a> {
    /// The time, Unix milliseconds, read from the platform's clock by the adapter.
    pub now_ms: u64,
    /// The client.
    pub client: Client<'a>,
    /// The configuration.
    pub config: &'a EdgeConfig,
    /// The latest health snapshot, if one could be read.
    pub health: Option<&'a HealthSnapshot>,
    /// Sixteen random bytes from the platform, for new session ids.
    pub entropy: [u8; 16],
}

impl EdgeInput<'_> {
    fn now_secs(&self) -> u64 {
        self.now_ms / 1000
    }
}

/// Where the adapter fetches from, and how it may cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The origin's id (the adapter's backend name).
    pub origin: String,
    /// The absolute URL to fetch, per-viewer parameters removed.
    pub url: String,
    /// The cache key: the same for every viewer of the same resource.
    pub cache_key: String,
    /// GET or HEAD, as the viewer asked.
    pub method: Method,
    /// How long a cached copy may be used after it went stale when the origin fails, seconds.
    pub stale_if_error_secs: u64,
    /// Headers the adapter adds to the origin's response before passing it on (the reason
    /// code, CORS). Built once: this is on every segment request.
    pub response_headers: &'static HeaderMap,
}

/// What to do with a fetched playlist: made by [`decide`], consumed by [`finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewritePlan {
    kind: PlaylistKind,
    /// The event, for the log line.
    event: String,
    /// The origin URL of the playlist (the base for its relative URIs).
    playlist_url: String,
    /// The event's directory on the origin.
    from_base: String,
    /// The event's directory on the viewer's CDN.
    to_base: String,
    /// The session token every URI gets.
    token: String,
    /// The pathway the URIs point at.
    pathway: String,
    max_bytes: usize,
    param: String,
    /// What the lease check before the fetch did, for the log line.
    lease: Option<&'static str>,
}

impl RewritePlan {
    /// The most playlist bytes [`finish`] accepts: an adapter reads at most one byte more
    /// (enough to know the playlist is too large) and never the rest.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Records what the lease check before the fetch did, so `finish` logs it.
    pub(crate) fn note_lease(&mut self, outcome: &'static str) {
        self.lease = Some(outcome);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlaylistKind {
    Multivariant,
    Media,
}

/// What the adapter must do.
#[derive(Debug)]
pub enum Action {
    /// Send this response.
    Respond(Response<Bytes>),
    /// Stream the resource from the origin to the viewer (a segment, part, key): the core never
    /// holds its body. The adapter adds the reason header to the origin's response.
    Proxy(Upstream),
    /// Fetch the playlist (through the cache), then call [`finish`] with the result.
    Fetch(Upstream, RewritePlan),
    /// Read the request body, at most this many bytes (answer 413 beyond), then call
    /// [`beacon`] with it.
    ReadBody(usize),
    /// Serve a static asset from the platform's asset store with these headers (and the
    /// reason header); 404 with reason `not_found` if the store lacks it.
    Asset(AssetResponse),
    /// Read the record at [`LeaseCheck::key`] from the platform's lease store, then call
    /// [`leased`](crate::leased) with what was found, and carry on with what it decides.
    Lease(LeaseCheck),
}

/// A static asset to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetResponse {
    /// The asset's name in the store: its path below `/assets/`.
    pub name: String,
    /// Its content type.
    pub content_type: &'static str,
    /// Its cache lifetime: versioned assets never change, so a year, immutable.
    pub cache_control: &'static str,
}

/// The facts of one request that a log line needs. Never a token or a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFields {
    /// The route's name.
    pub route: &'static str,
    /// The event, when the path names one.
    pub event: Option<String>,
    /// The pathway chosen or served, when there is one.
    pub pathway: Option<String>,
    /// Why CMCD data on the request was ignored, if it was malformed. A viewer's telemetry
    /// never stops its playback, so this is logged, not refused.
    pub cmcd_error: Option<String>,
    /// What happened to the session's stream lease (`taken`, `renewed`, `held`, `replaced`,
    /// `reset`, `full`, `store_unavailable`), when the request touched one.
    pub lease: Option<&'static str>,
}

impl LogFields {
    /// These facts (what `decide` knew) brought up to date with `then`, the facts of a later
    /// step (`finish`, `beacon`, which know only part of the request): what `then` knows wins,
    /// the rest comes from `self`. An empty `route` in `then` means it does not know it.
    #[must_use]
    pub fn merged(self, then: LogFields) -> LogFields {
        LogFields {
            route: if then.route.is_empty() {
                self.route
            } else {
                then.route
            },
            event: then.event.or(self.event),
            pathway: then.pathway.or(self.pathway),
            cmcd_error: then.cmcd_error.or(self.cmcd_error),
            lease: then.lease.or(self.lease),
        }
    }
}

/// The core's answer to a request.
#[derive(Debug)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Why (for `Proxy` and `Fetch`, the provisional reason).
    pub reason: Reason,
    /// What to log.
    pub log: LogFields,
    /// QoE events for the steering controller, one JSON object per line: CMCD data carried by
    /// this request, or reported to the beacon endpoint. The adapter ships them to its
    /// platform's log stream, where the controller reads them.
    pub events: Vec<String>,
    /// A lease record to write to the platform's lease store before (or while) carrying out
    /// `action`. A failed write is logged, never fatal.
    pub store: Option<StoreWrite>,
}

/// A decision that can only be a response (those of [`refuse`], [`finish`], [`beacon`]), taken
/// apart for the adapter to send: [`Decision::into_answer`].
#[derive(Debug)]
pub struct Answer {
    /// The response to send.
    pub response: Response<Bytes>,
    /// Why.
    pub reason: Reason,
    /// What to log.
    pub log: LogFields,
    /// QoE events to ship.
    pub events: Vec<String>,
}

impl Decision {
    /// The response of a decision that can only be one ([`refuse`], [`finish`], [`beacon`]).
    /// Any other action (only [`decide`] and [`leased`](crate::leased) make them) would be an
    /// adapter's mistake; it is answered with the `config_error` refusal, never a panic.
    pub fn into_answer(self) -> Answer {
        let Decision {
            action,
            reason,
            log,
            events,
            ..
        } = self;
        match action {
            Action::Respond(response) => Answer {
                response,
                reason,
                log,
                events,
            },
            _ => Answer {
                response: refusal(Reason::ConfigError),
                reason: Reason::ConfigError,
                log,
                events,
            },
        }
    }

    /// An action taken for reason `ok`, with nothing to add to the log yet.
    fn act(action: Action) -> Self {
        Decision {
            action,
            reason: Reason::Ok,
            log: LogFields::default(),
            events: Vec::new(),
            store: None,
        }
    }
}

/// Why an origin gave no usable answer, as the adapter saw it. The core, not the adapter, says
/// what the viewer is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginFailure {
    /// It did not answer in time.
    Timeout,
    /// It could not be reached, or broke the exchange.
    Unreachable,
    /// The platform has no way to reach it (on Fastly: no backend named after the origin's id).
    Unconfigured,
}

impl OriginFailure {
    /// The reason the viewer is told: 504 `origin_timeout`, 502 `origin_error`, or 503
    /// `config_error` for an origin the deployment forgot.
    pub fn reason(self) -> Reason {
        match self {
            OriginFailure::Timeout => Reason::OriginTimeout,
            OriginFailure::Unreachable => Reason::OriginError,
            OriginFailure::Unconfigured => Reason::ConfigError,
        }
    }
    /// What a playlist fetch that failed this way hands to [`finish`]: a timeout is a timeout,
    /// anything else an origin that could not be reached (and either may still be covered by a
    /// stale copy, which the adapter's cache decides before it gets here).
    pub fn fetched(self) -> Fetched {
        match self {
            OriginFailure::Timeout => Fetched::Timeout,
            OriginFailure::Unreachable | OriginFailure::Unconfigured => Fetched::Unreachable,
        }
    }
}

/// The result of the adapter's playlist fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The origin (or the cache) answered.
    Response {
        /// The origin's status.
        status: StatusCode,
        /// The body.
        body: Bytes,
        /// True when this is a cached copy used after it went stale because the origin failed.
        stale: bool,
    },
    /// The origin did not answer in time and no usable cached copy exists.
    Timeout,
    /// The origin could not be reached and no usable cached copy exists.
    Unreachable,
}

/// Decides what to do with `request` (whose body, if any, the core does not need).
pub fn decide(request: &Request<()>, input: &EdgeInput<'_>) -> Decision {
    let path = request.uri().path();
    let route = match route::route(path) {
        Ok(route) => route,
        Err(reason) => return refuse(reason, LogFields::default()),
    };
    let mut log = LogFields {
        route: route.name(),
        event: route.event().map(str::to_owned),
        pathway: None,
        cmcd_error: None,
        lease: None,
    };
    if request.method() == Method::OPTIONS {
        return Decision { log, ..preflight() };
    }
    let allowed = match route {
        Route::Beacon { .. } => request.method() == Method::POST,
        _ => request.method() == Method::GET || request.method() == Method::HEAD,
    };
    if !allowed {
        return refuse(Reason::MethodNotAllowed, log);
    }
    let event = match route.event() {
        Some(id) => match input.config.event(id) {
            Some(event) => Some(event),
            None => return refuse(Reason::UnknownEvent, log),
        },
        None => None,
    };
    let query = request.uri().query();
    // CMCD rides on any request (CTA-5004 request mode); the beacon endpoint has its own.
    let mut events = Vec::new();
    if let Some(event) = event.filter(|_| !matches!(route, Route::Beacon { .. })) {
        match Cmcd::from_request(query, request.headers()) {
            Ok(Some(cmcd)) => {
                let object = Some(path);
                let served = pathway_of_host(request, input.config).map(|p| p.id.as_str());
                let line = cmcd_event(input, &event.id, served, object, Source::Request, &cmcd);
                events.extend(line);
            }
            Ok(None) => {}
            Err(error) => log.cmcd_error = Some(error.to_string()),
        }
    }
    let outcome = match (route, event) {
        (Route::PlayerPage { .. }, Some(event)) => Ok(player_page(request, event, input)),
        (Route::Asset { name }, _) => asset(name),
        (Route::Health, _) => Ok(respond(
            text(StatusCode::OK, Reason::Ok, "ok\n"),
            Reason::Ok,
        )),
        (Route::Version, _) => Ok(version(input.config)),
        (Route::Multivariant { .. }, Some(event)) => {
            multivariant(request, query, event, input, &mut log)
        }
        (Route::MediaPlaylist { rest, .. }, Some(event)) => {
            media(request, query, event, rest, input, &mut log)
        }
        (Route::Resource { rest, .. }, Some(event)) => resource(request, query, event, rest, input),
        (Route::Key { kid, period, .. }, Some(event)) => {
            content_key(request, query, event, kid, period, input)
        }
        (Route::Steering { .. }, Some(event)) => steer(request, query, event, input, &mut log),
        (Route::WaitingPage { .. }, Some(event)) => waiting_page(request, event),
        (Route::Queue { .. }, Some(event)) => queue(request, query, event, input),
        (Route::Beacon { .. }, Some(_)) => Ok(Decision::act(Action::ReadBody(
            BeaconLimits::default().max_bytes,
        ))),
        // Event routes always have their event by now (an unknown one was refused above).
        (_, None) => Err(Reason::NotFound),
    };
    match outcome {
        Ok(mut decision) => {
            // The request waiting behind a lease check logs as this request.
            if let Action::Lease(check) = &mut decision.action {
                check.pending_mut().log = log.clone();
            }
            // The route's own events (the waiting room's) follow the request's CMCD.
            let mut events = events;
            events.append(&mut decision.events);
            Decision {
                log,
                events,
                ..decision
            }
        }
        Err(reason) => Decision {
            events,
            ..refuse(reason, log)
        },
    }
}

fn multivariant(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    input: &EdgeInput<'_>,
    log: &mut LogFields,
) -> Result<Decision, Reason> {
    let (ticket, raw_ticket) = verified_ticket(request, query, event, input)?;
    // An event that admits in phases plays only with an admission of this viewer's.
    if event.admission.is_some() {
        let keys = PassKeys::new(&input.config.session);
        let viewer = keys.viewer(&event.id, identity(&ticket, &raw_ticket));
        let cookie = credential::cookie(request.headers(), admission::ADMISSION_COOKIE)
            .ok_or(Reason::Queued)?;
        keys.check_admission(cookie, &event.id, viewer, input.now_ms)
            .map_err(Reason::Admission)?;
    }
    // The ticketing system may pin a session id; otherwise every playback session gets a fresh
    // one, which is also what the viewer's CDN slot is derived from.
    let session_id = match &ticket.claims.sid {
        Some(sid) if is_token_safe(sid) => sid.clone(),
        _ => hex(&input.entropy),
    };
    let pathway = select_pathway(input, &session_id).ok_or(Reason::ConfigError)?;
    log.pathway = Some(pathway.id.clone());
    // One lease record per viewer and event: the subject if the ticketing system names one
    // (so re-issued tickets of one viewer share it), else the ticket's id, else the ticket.
    let claims = &ticket.claims;
    let lease_id = LeaseId::of_ticket(&event.id, identity(&ticket, &raw_ticket));
    let data = SessionData {
        base: Some(pathway.id.clone()),
        lease: Some(SessionLease {
            hash: lease_id.hash().to_owned(),
            max_streams: claims.max_streams.clamp(1, lease::MAX_ENTRIES),
            renewed_secs: input.now_secs(),
        }),
    };
    // The URIs of the multivariant playlist carry a playlist token (see `mint_playlist_token`):
    // players reload media playlists from these URIs for as long as they play.
    let token = mint_playlist_token(input, event, &session_id, &data, claims.exp)?;
    let upstream = playlist_upstream(upstream(request, event, "master.m3u8", None, input)?);
    let plan = plan(
        PlaylistKind::Multivariant,
        event,
        pathway,
        &upstream,
        token,
        input,
    );
    let device = query
        .and_then(|q| credential::query_param(q, lease::DEVICE_PARAM))
        .filter(|d| d.len() <= 64 && is_token_safe(d))
        .map(|d| d.into_owned());
    let pending = Decision::act(Action::Fetch(upstream, plan));
    let max_streams = data.lease.as_ref().map_or(1, |l| l.max_streams);
    let check = LeaseCheck::new(&lease_id, &session_id, device, max_streams, pending);
    Ok(Decision::act(Action::Lease(check)))
}

/// The request's ticket (query, bearer or cookie), verified for `event`, and its raw text.
fn verified_ticket(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    input: &EdgeInput<'_>,
) -> Result<(jwt::Ticket, String), Reason> {
    let settings = &input.config.settings.ticket;
    let raw = credential::ticket(
        query,
        request.headers(),
        &settings.query_param,
        &settings.cookie,
    )
    .ok_or(Reason::NoTicket)?;
    let policy = Policy {
        audience: Some(&settings.audience),
        issuer: Some(&settings.issuer),
        leeway_secs: settings.leeway_secs,
        event: Some(&event.id),
    };
    let ticket = jwt::verify(
        &raw,
        &input.config.ticket_keys,
        &policy,
        request.uri().path(),
        input.now_secs(),
    )
    .map_err(|r| Reason::Token(Layer::Ticket, r))?;
    Ok((ticket, raw.into_owned()))
}

/// Who a ticket is for: its subject if the ticketing system names one (so re-issued tickets of
/// one viewer are the same viewer), else the ticket's id, else the ticket itself. Leases and
/// the waiting room's cookies are bound to it.
fn identity<'t>(ticket: &'t jwt::Ticket, raw: &'t str) -> &'t str {
    let claims = &ticket.claims;
    claims
        .sub
        .as_deref()
        .or(claims.jti.as_deref())
        .unwrap_or(raw)
}

/// The waiting room page of an event that admits in phases: cached like the player page.
fn waiting_page(request: &Request<()>, event: &Event) -> Result<Decision, Reason> {
    if event.admission.is_none() {
        return Err(Reason::NotFound);
    }
    Ok(cached_page(request, &page::waiting_page(event)))
}

/// The waiting room's status for this viewer (JSON, never cached): the place in the queue,
/// issued on the first ask and kept in a signed cookie, and the admission once the controller's
/// frontier has passed it. See [`crate::admission`].
fn queue(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    input: &EdgeInput<'_>,
) -> Result<Decision, Reason> {
    let Some(room) = event.admission else {
        return Err(Reason::NotFound);
    };
    let (ticket, raw) = verified_ticket(request, query, event, input)?;
    let keys = PassKeys::new(&input.config.session);
    let viewer = keys.viewer(&event.id, identity(&ticket, &raw));
    let now = input.now_ms;
    let headers = request.headers();
    let secure = request.uri().scheme_str() == Some("https");
    let cookie_path = format!("/events/{}/", event.id);
    let admitted_already = credential::cookie(headers, admission::ADMISSION_COOKIE)
        .is_some_and(|c| keys.check_admission(c, &event.id, viewer, now).is_ok());
    if admitted_already {
        return Ok(queue_answer(
            serde_json::json!({"state": "admitted"}),
            Reason::Ok,
            Vec::new(),
            Vec::new(),
        ));
    }
    let mut cookies = Vec::new();
    let mut events = Vec::new();
    let position = match credential::cookie(headers, admission::QUEUE_COOKIE) {
        Some(value) => match keys.check_queue(value, &event.id, viewer, now) {
            Ok(pass) => pass.position,
            // Never admitted by accident: the cookie is cleared, the viewer asks again and
            // queues at the back.
            Err(error) => {
                let reason = Reason::Queue(error);
                let mut response = refusal(reason);
                let clear = set_cookie(admission::QUEUE_COOKIE, "", &cookie_path, 0, secure);
                response.headers_mut().append(SET_COOKIE, clear);
                return Ok(respond(response, reason));
            }
        },
        None => {
            let position = keys.position(viewer, now, room.doors_open_ms);
            let value = keys.issue_queue(&event.id, viewer, position, now);
            let max_age = admission::QUEUE_COOKIE_MAX_AGE_SECS;
            cookies.push(set_cookie(
                admission::QUEUE_COOKIE,
                &value,
                &cookie_path,
                max_age,
                secure,
            ));
            events.push(admission::arrival_line(now, &event.id, position));
            position
        }
    };
    let plan = input
        .health
        .filter(|h| !h.is_expired(now))
        .and_then(|h| h.admission(&event.id));
    Ok(match admission::standing(plan, position) {
        Standing::Admitted => {
            let ticket_end = u64::try_from(ticket.claims.exp)
                .unwrap_or(0)
                .saturating_mul(1000);
            let expires = now
                .saturating_add(admission::ADMISSION_LIFETIME_MS)
                .min(ticket_end);
            let value = keys.issue_admission(&event.id, viewer, now, expires);
            let max_age = expires.saturating_sub(now) / 1000;
            cookies.push(set_cookie(
                admission::ADMISSION_COOKIE,
                &value,
                &cookie_path,
                max_age,
                secure,
            ));
            events.push(admission::admitted_line(now, &event.id, position));
            queue_answer(
                serde_json::json!({"state": "admitted"}),
                Reason::Ok,
                cookies,
                events,
            )
        }
        Standing::Waiting { state, wait_ms } => {
            let wait_s = wait_ms.map(|ms| ms.div_ceil(1000));
            // Ask again in about a quarter of the wait, between 2 s and 30 s: often enough to
            // go in soon after the frontier passes, rarely enough that a crowd of a million
            // polling costs the edge little.
            let retry = wait_s.map_or(5, |s| (s / 4).clamp(2, 30));
            let body = serde_json::json!({
                "state": "waiting",
                "admission": admission::state_name(state),
                "doors_open_ms": room.doors_open_ms,
                "prequeue": position < room.doors_open_ms,
                "wait_s": wait_s,
                "waiting": plan.map(|p| p.waiting),
                "retry_after_s": retry,
            });
            let mut decision = queue_answer(body, Reason::Queued, cookies, events);
            if let Action::Respond(response) = &mut decision.action
                && let Ok(value) = HeaderValue::from_str(&retry.to_string())
            {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            decision
        }
    })
}

/// A `Set-Cookie` for the waiting room: scoped to the event, not readable by scripts.
fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax; HttpOnly{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The waiting room's JSON answer: 200 (the status poll worked), the viewer's standing in the
/// body and the reason header (`queued` while waiting).
fn queue_answer(
    body: serde_json::Value,
    reason: Reason,
    cookies: Vec<HeaderValue>,
    events: Vec<String>,
) -> Decision {
    let mut response = answer(
        StatusCode::OK,
        Some("application/json"),
        "no-store",
        reason,
        Bytes::from(body.to_string()),
    );
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    let mut decision = respond(response, reason);
    decision.events = events;
    decision
}

fn media(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    rest: &str,
    input: &EdgeInput<'_>,
    log: &mut LogFields,
) -> Result<Decision, Reason> {
    let session = check_session(request, query, input)?;
    let session_id = session.id.as_str();
    // The viewer stays on the pathway this request came through when the edge knows it (the
    // host names one of the pathways); otherwise on the one its session maps to.
    let pathway = pathway_of_host(request, input.config)
        .or_else(|| select_pathway(input, session_id))
        .ok_or(Reason::ConfigError)?;
    log.pathway = Some(pathway.id.clone());
    // The stream lease is renewed once it is half-way to expiry, counted from the lease time
    // in the token, so the reloads before never touch the store. Players reload the media
    // playlist from the multivariant playlist's URI, whose token (and lease time) never
    // changes, so past the first half-life the check happens in a window at the start of each
    // half-life only: a few reads per half-life instead of one per reload, and one write
    // (`leased` writes only an entry past its own half-life). A live playlist is reloaded about
    // once per target duration (RFC 8216 §6.3.4), so a playing screen renews in (nearly) every
    // window; a lease lapses only when two windows in a row see no reload.
    let now = input.now_secs();
    let half_life = input.config.settings.leases.ttl_secs / 2;
    let window = (half_life / 4).clamp(MIN_RENEWAL_WINDOW_SECS, MAX_RENEWAL_WINDOW_SECS);
    let mut data = session.data.clone();
    let renewal = data.lease.as_mut().and_then(|l| {
        let elapsed = now.saturating_sub(l.renewed_secs);
        let due =
            elapsed >= half_life && elapsed.saturating_sub(half_life) % half_life.max(1) < window;
        let id = LeaseId::from_token(&event.id, &l.hash)?;
        due.then(|| {
            l.renewed_secs = now;
            (id, l.max_streams)
        })
    });
    // Sliding expiry for what the media playlist lists: every reload writes segment, part and
    // key URIs with a fresh short-lived token, so a copied segment URL dies `ttl_secs` after
    // the playlist it came from was served.
    let token = mint_session(input, event, session_id, &data)?;
    let upstream = upstream(request, event, rest, query, input)?;
    let plan = plan(PlaylistKind::Media, event, pathway, &upstream, token, input);
    let fetch = Decision::act(Action::Fetch(upstream, plan));
    Ok(match renewal {
        Some((id, max_streams)) => Decision::act(Action::Lease(LeaseCheck::new(
            &id,
            session_id,
            None,
            max_streams,
            fetch,
        ))),
        None => fetch,
    })
}

/// How long, from the start of each lease half-life, media playlist reloads check the lease
/// (see [`media`]): a quarter of the half-life, within these bounds.
const MIN_RENEWAL_WINDOW_SECS: u64 = 4;
/// See [`MIN_RENEWAL_WINDOW_SECS`].
const MAX_RENEWAL_WINDOW_SECS: u64 = 12;

/// The player page: the same bytes for every viewer of an event, so the CDN and browsers cache
/// it; `If-None-Match` gets a 304.
fn player_page(request: &Request<()>, event: &Event, input: &EdgeInput<'_>) -> Decision {
    let page = page::player_page(
        event,
        &page::Assets::default(),
        &input.config.settings.ticket,
    );
    cached_page(request, &page)
}

/// A page served the same to every viewer: public, cached, 304 when `If-None-Match` matches.
fn cached_page(request: &Request<()>, page: &page::PlayerPage) -> Decision {
    let fresh = page::not_modified(if_none_match(request.headers()), page.etag());
    let (status, reason, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Reason::NotModified, Bytes::new())
    } else {
        (StatusCode::OK, Reason::Ok, page.body().clone())
    };
    let response = answer(
        status,
        Some(page::CONTENT_TYPE),
        page::CACHE_CONTROL,
        reason,
        body,
    );
    respond(with_etag(response, page.etag()), reason)
}

/// A versioned static asset (the player library). Its bytes live in the platform's asset store,
/// not in the edge module, so the adapter serves them with the headers decided here.
fn asset(name: &str) -> Result<Decision, Reason> {
    let known = page::HLS_JS_ASSET_PATH
        .strip_prefix(route::ASSETS_PREFIX)
        .is_some_and(|n| n == name);
    if !known {
        return Err(Reason::NotFound);
    }
    Ok(Decision::act(Action::Asset(AssetResponse {
        name: name.to_owned(),
        content_type: "text/javascript; charset=utf-8",
        cache_control: page::ASSET_CACHE_CONTROL,
    })))
}

fn steer(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    input: &EdgeInput<'_>,
    log: &mut LogFields,
) -> Result<Decision, Reason> {
    let session = check_session(request, query, input)?;
    let param = input.config.settings.session.query_param.as_str();
    // The base pathway from the token; a token minted before steering existed (or by another
    // minter) gets the session's own assignment.
    let base = match session
        .data
        .base
        .as_deref()
        .and_then(|b| input.config.pathway(b))
    {
        Some(base) => base,
        None => select_pathway(input, &session.id).ok_or(Reason::ConfigError)?,
    };
    let current = query
        .and_then(|q| credential::query_param(q, steering::PATHWAY_PARAM))
        .and_then(|id| input.config.pathway(&id).map(|p| p.id.as_str()));
    log.pathway = current.map(str::to_owned).or_else(|| Some(base.id.clone()));
    // The lease rides on unchanged: steering reloads are not playback.
    let data = SessionData {
        base: Some(base.id.clone()),
        lease: session.data.lease.clone(),
    };
    let token = mint_session(input, event, &session.id, &data)?;
    let groups = client_groups(&input.client);
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let mut manifest = steering::manifest(
        input.config,
        input.health,
        &steering::Request {
            base: &base.id,
            session_id: &session.id,
            groups: &groups,
            now_ms: input.now_ms,
            token: &token,
            token_param: param,
        },
    );
    // Without health data, stay where the player is: switching costs a cold cache and an ABR
    // reset, and nothing says another CDN is better.
    if let Some(current) = current.filter(|_| input.health.is_none()) {
        manifest.pathway_priority.retain(|p| p != current);
        manifest.pathway_priority.insert(0, current.to_owned());
    }
    let body = serde_json::to_vec(&manifest).map_err(|_| Reason::ConfigError)?;
    // Per session: it carries the session's token.
    let response = answer(
        StatusCode::OK,
        Some("application/json"),
        "private, no-store",
        Reason::Ok,
        Bytes::from(body),
    );
    Ok(respond(response, Reason::Ok))
}

fn resource(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    rest: &str,
    input: &EdgeInput<'_>,
) -> Result<Decision, Reason> {
    check_session(request, query, input)?;
    let upstream = upstream(request, event, rest, query, input)?;
    Ok(Decision::act(Action::Proxy(upstream)))
}

/// An AES-128 content key (RFC 8216 §4.3.2.4, §5.2), made here from the event's master
/// secret, for a viewer with a valid session token for the event: the key URI the origin wrote
/// is rewritten like every other URI, so it carries the token. The origin never serves keys, and
/// no cache may keep one (`private, no-store`): a key is only ever handed to a session, so a
/// segment copied out of a session is useless without one.
fn content_key(
    request: &Request<()>,
    query: Option<&str>,
    event: &Event,
    kid: &str,
    period: u64,
    input: &EdgeInput<'_>,
) -> Result<Decision, Reason> {
    check_session(request, query, input)?;
    if !event.key_ids.iter().any(|k| k == kid) {
        return Err(Reason::UnknownKey);
    }
    // `from_parts` checked that every key id an event names is held.
    let master = input
        .config
        .content_keys
        .as_ref()
        .and_then(|keys| keys.get(kid))
        .ok_or(Reason::UnknownKey)?;
    let key = master.derive(kid, period);
    Ok(respond(
        answer(
            StatusCode::OK,
            Some("application/octet-stream"),
            "private, no-store",
            Reason::Ok,
            Bytes::copy_from_slice(&key),
        ),
        Reason::Ok,
    ))
}

/// What a verified session token says about its session.
struct SessionState {
    /// The session id (`id`).
    id: String,
    /// What the token's `data` field says.
    data: SessionData,
}

/// The signed state a session token carries in EdgeAuth's `data` field: `BASE` or
/// `BASE:LEASE:MAX:RENEWED`. Pathway ids have no `:` (see `config`), and every part is safe in a
/// query value unescaped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SessionData {
    /// The pathway the session's multivariant playlist was written for, the base of Content
    /// Steering's clones.
    base: Option<String>,
    /// The session's stream lease, when its ticket has one.
    lease: Option<SessionLease>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SessionLease {
    /// The lease record's id ([`LeaseId`]'s hash).
    hash: String,
    /// The ticket's `max_streams`.
    max_streams: u32,
    /// When the lease was last taken or renewed, Unix seconds.
    renewed_secs: u64,
}

impl SessionData {
    fn parse(data: &str) -> Self {
        let mut parts = data.split(':');
        let base = parts.next().filter(|b| !b.is_empty()).map(str::to_owned);
        let lease = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(hash), Some(max), Some(renewed), None) => {
                match (max.parse::<u32>(), renewed.parse::<u64>()) {
                    (Ok(max_streams), Ok(renewed_secs)) => Some(SessionLease {
                        hash: hash.to_owned(),
                        max_streams,
                        renewed_secs,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        SessionData { base, lease }
    }

    fn format(&self) -> Option<String> {
        let base = self.base.as_deref().unwrap_or("");
        match &self.lease {
            Some(l) => Some(format!(
                "{base}:{}:{}:{}",
                l.hash, l.max_streams, l.renewed_secs
            )),
            None => self.base.clone(),
        }
    }
}

/// Verifies the session token in the query against the request path.
fn check_session(
    request: &Request<()>,
    query: Option<&str>,
    input: &EdgeInput<'_>,
) -> Result<SessionState, Reason> {
    let param = &input.config.settings.session.query_param;
    let token = query
        .and_then(|q| credential::query_param(q, param))
        .filter(|t| !t.is_empty())
        .ok_or(Reason::NoSession)?;
    let presented = Presented {
        path: request.uri().path(),
        ip: input.client.ip,
    };
    let claims = input
        .config
        .session
        .verify(&token, &presented, input.now_secs())
        .map_err(|r| Reason::Token(Layer::Session, r))?;
    Ok(SessionState {
        id: claims.session_id.unwrap_or_default().to_owned(),
        data: claims.data.map(SessionData::parse).unwrap_or_default(),
    })
}

/// Mints the session token for `session_id`, carrying `data` (the session's steering base
/// pathway and stream lease) in its signed `data` field.
fn mint_session(
    input: &EdgeInput<'_>,
    event: &Event,
    session_id: &str,
    data: &SessionData,
) -> Result<String, Reason> {
    let acl = format!("{}{}/*", route::EVENTS_PREFIX, event.id);
    let end = input.now_secs() + input.config.settings.session.ttl_secs;
    mint_token(input, session_id, data, &[&acl], end)
}

/// The longest a playlist token lives, seconds: a day, whatever the ticket says.
const PLAYLIST_TOKEN_MAX_SECS: u64 = 24 * 3600;

/// Mints the token the multivariant playlist's URIs carry. Players reload a live media playlist
/// from the URI the multivariant playlist gave them (hls.js and native players alike: RFC 8216
/// §6.3.4 never tells a client to follow URIs inside the media playlist for its own reloads),
/// so that token must live as long as the viewer may watch: until the ticket expires, at least
/// the session TTL and at most [`PLAYLIST_TOKEN_MAX_SECS`]. It opens playlists and the
/// steering manifest only (its ACL is `*.m3u8` and `steering.json` below the event): segments,
/// parts and keys need the short-lived session token each media playlist reload writes, so a
/// copied segment URL still dies `session.ttl_secs` after it was served.
fn mint_playlist_token(
    input: &EdgeInput<'_>,
    event: &Event,
    session_id: &str,
    data: &SessionData,
    ticket_exp: i64,
) -> Result<String, Reason> {
    let now = input.now_secs();
    let least = now + input.config.settings.session.ttl_secs;
    let most = least.max(now + PLAYLIST_TOKEN_MAX_SECS);
    let end = u64::try_from(ticket_exp).unwrap_or(0).clamp(least, most);
    let playlists = format!("{}{}/*.m3u8", route::EVENTS_PREFIX, event.id);
    let steering = format!("{}{}/steering.json", route::EVENTS_PREFIX, event.id);
    mint_token(input, session_id, data, &[&playlists, &steering], end)
}

/// Mints a session token for `session_id` with `data`, opening `acl` until `end`.
fn mint_token(
    input: &EdgeInput<'_>,
    session_id: &str,
    data: &SessionData,
    acl: &[&str],
    end: u64,
) -> Result<String, Reason> {
    let data = data.format();
    let now = input.now_secs();
    input
        .config
        .session
        .mint(&MintRequest {
            ip: None,
            start: Some(now),
            end,
            scope: Scope::Acl(acl),
            session_id: Some(session_id).filter(|s| !s.is_empty()),
            data: data.as_deref(),
        })
        .map_err(|_| Reason::ConfigError)
}

/// The origin request for `rest` below the event: per-viewer parameters (the session token,
/// CMCD) are removed, LL-HLS delivery directives are kept.
fn upstream(
    request: &Request<()>,
    event: &Event,
    rest: &str,
    query: Option<&str>,
    input: &EdgeInput<'_>,
) -> Result<Upstream, Reason> {
    let origin = input.config.origin_of(event).ok_or(Reason::ConfigError)?;
    let mut url = String::with_capacity(
        origin.base_url.len()
            + event.origin_path.len()
            + rest.len()
            + query.map_or(0, str::len)
            + 1,
    );
    url.push_str(&origin.base_url);
    url.push_str(&event.origin_path);
    url.push_str(rest);
    // Only LL-HLS delivery directives reach the origin and the cache key: the session token,
    // the ticket and CMCD are per viewer, and anything else a viewer adds would split the cache
    // into per-viewer copies. One pass, each kept parameter as written.
    let mut first = true;
    for pair in query.unwrap_or("").split('&') {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        if DELIVERY_DIRECTIVES.contains(&name) {
            url.push(if first { '?' } else { '&' });
            url.push_str(pair);
            first = false;
        }
    }
    Ok(Upstream {
        origin: origin.id.clone(),
        cache_key: url.clone(),
        url,
        method: if request.method() == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        },
        stale_if_error_secs: input.config.settings.playlist.stale_if_error_secs,
        response_headers: &PROXY_HEADERS,
    })
}

/// Playlists are always fetched with GET, whatever the viewer asked: `finish` needs the body
/// even when the viewer's HEAD response will carry none.
fn playlist_upstream(upstream: Upstream) -> Upstream {
    Upstream {
        method: Method::GET,
        ..upstream
    }
}

/// The reason for a proxied resource, from the status the origin answered with: the status is
/// passed on as it is, and the reason says whose it is.
pub fn proxied(status: StatusCode) -> Reason {
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        Reason::NotFound
    } else if status.is_client_error() || status.is_server_error() {
        Reason::OriginError
    } else {
        Reason::Ok
    }
}

fn plan(
    kind: PlaylistKind,
    event: &Event,
    pathway: &Pathway,
    upstream: &Upstream,
    token: String,
    input: &EdgeInput<'_>,
) -> RewritePlan {
    let origin_base = input
        .config
        .origin_of(event)
        .map(|o| o.base_url.as_str())
        .unwrap_or_default();
    RewritePlan {
        kind,
        event: event.id.clone(),
        playlist_url: upstream.url.clone(),
        from_base: format!("{origin_base}{}", event.origin_path),
        to_base: format!(
            "{}{}{}/",
            pathway.base_url,
            route::EVENTS_PREFIX.trim_start_matches('/'),
            event.id
        ),
        token,
        pathway: pathway.id.clone(),
        max_bytes: input.config.settings.playlist.max_bytes,
        param: input.config.settings.session.query_param.clone(),
        lease: None,
    }
}

/// The pathway a session is assigned to: the health snapshot's slot table when there is one
/// that knows the pathway, else the configured static weights over the same slots. `None` only
/// for a configuration without pathways, which `EdgeConfig::from_parts` refuses.
fn select_pathway<'c>(input: &EdgeInput<'c>, session_id: &str) -> Option<&'c Pathway> {
    let pathways = &input.config.pathways;
    let groups = client_groups(&input.client);
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let from_health = input
        .health
        .and_then(|h| h.assign(session_id.as_bytes(), &groups, input.now_ms))
        .and_then(|a| input.config.pathway(a.cdn));
    from_health.or_else(|| {
        let weights: Vec<u16> = pathways.iter().map(|p| p.static_weight_bp).collect();
        let slot = health::session_slot(session_id.as_bytes(), STATIC_SLOTS);
        let index = health::static_slot_cdn(&weights, slot, STATIC_SLOTS).unwrap_or(0);
        pathways.get(index).or_else(|| pathways.first())
    })
}

/// Client groups from most to least specific, as the health model keys them.
fn client_groups(client: &Client<'_>) -> Vec<String> {
    let mut groups = Vec::new();
    if let Some(asn) = client.asn {
        groups.push(format!("asn:{asn}"));
    }
    if let Some(country) = client.country {
        groups.push(format!("country:{country}"));
    }
    groups
}

/// The pathway whose base URL's host is the request's `Host`, if any.
fn pathway_of_host<'c>(request: &Request<()>, config: &'c EdgeConfig) -> Option<&'c Pathway> {
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })?;
    config.pathways.iter().find(|p| {
        p.base_url
            .split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .is_some_and(|h| h.eq_ignore_ascii_case(&host))
    })
}

/// Turns the adapter's fetch result into the viewer's playlist.
pub fn finish(plan: &RewritePlan, fetched: Fetched, input: &EdgeInput<'_>) -> Decision {
    let log = LogFields {
        route: match plan.kind {
            PlaylistKind::Multivariant => "multivariant",
            PlaylistKind::Media => "media",
        },
        event: Some(plan.event.clone()),
        pathway: Some(plan.pathway.clone()),
        cmcd_error: None,
        lease: plan.lease,
    };
    let _ = input;
    let (status, body, stale) = match fetched {
        Fetched::Response {
            status,
            body,
            stale,
        } => (status, body, stale),
        Fetched::Timeout => return refuse(Reason::OriginTimeout, log),
        Fetched::Unreachable => return refuse(Reason::OriginError, log),
    };
    if status == StatusCode::NOT_FOUND {
        return refuse(Reason::NotFound, log);
    }
    if !status.is_success() {
        return refuse(Reason::OriginError, log);
    }
    if body.len() > plan.max_bytes {
        return refuse(Reason::PlaylistTooLarge, log);
    }
    let Ok(playlist) = Playlist::parse(&body) else {
        return refuse(Reason::NotAPlaylist, log);
    };
    let (Some(playlist_url), Some(from_base), Some(to_base)) = (
        HttpUrl::parse(&plan.playlist_url),
        BaseUrl::parse(&plan.from_base),
        BaseUrl::parse(&plan.to_base),
    ) else {
        return refuse(Reason::ConfigError, log);
    };
    let params = [(plan.param.as_str(), plan.token.as_str())];
    let rewritten = playlist.rewrite(&Rewrite {
        playlist_url,
        from_base: Some(from_base),
        to_base,
        params: &params,
    });
    let rewritten = match plan.kind {
        PlaylistKind::Multivariant => with_steering(&rewritten, plan),
        PlaylistKind::Media => rewritten,
    };
    let reason = if stale {
        Reason::StaleOnOriginError
    } else {
        Reason::Ok
    };
    // Per viewer: it carries the viewer's session token.
    let response = answer(
        StatusCode::OK,
        Some("application/vnd.apple.mpegurl"),
        "private, no-store",
        reason,
        Bytes::from(rewritten),
    );
    Decision {
        action: Action::Respond(response),
        reason,
        log,
        events: Vec::new(),
        store: None,
    }
}

/// Accepts a CMCD beacon (CTA-5004-A event mode: `application/cmcd`, one report per line)
/// POSTed to `/events/{event}/cmcd`, after the adapter read its body for [`Action::ReadBody`].
///
/// Beacons carry no credential: players send them without the page's help, and a forged report
/// can only add noise that the controller's per-group statistics absorb. Each report becomes one
/// QoE event; the answer is 204 with no body.
pub fn beacon(request: &Request<()>, body: &[u8], input: &EdgeInput<'_>) -> Decision {
    let log = LogFields {
        route: "beacon",
        event: None,
        pathway: None,
        cmcd_error: None,
        lease: None,
    };
    let Ok(Route::Beacon { event }) = route::route(request.uri().path()) else {
        return refuse(Reason::NotFound, log);
    };
    let log = LogFields {
        event: Some(event.to_owned()),
        ..log
    };
    if input.config.event(event).is_none() {
        return refuse(Reason::UnknownEvent, log);
    }
    let reports = match parse_beacon(body, BeaconLimits::default()) {
        Ok(reports) => reports,
        Err(error) => {
            let log = LogFields {
                cmcd_error: Some(error.to_string()),
                ..log
            };
            return refuse(Reason::BadRequest, log);
        }
    };
    // A beacon is attributed to the CDN it was posted through, as a request is.
    let served = pathway_of_host(request, input.config).map(|p| p.id.as_str());
    let events = reports
        .iter()
        .filter_map(|cmcd| cmcd_event(input, event, served, None, Source::Beacon, cmcd))
        .collect();
    let response = answer(
        StatusCode::NO_CONTENT,
        None,
        "no-store",
        Reason::Ok,
        Bytes::new(),
    );
    Decision {
        action: Action::Respond(response),
        reason: Reason::Ok,
        log,
        events,
        store: None,
    }
}

/// One QoE event as a JSON line, attributed to `pathway`: the CDN whose host name the request
/// came in on, as the edge sees it (never the player's own `cdn` key, which it can set to
/// anything). `None` where the host is no pathway's (an entry host); the controller counts such
/// lines as `no_pathway`.
fn cmcd_event(
    input: &EdgeInput<'_>,
    event: &str,
    pathway: Option<&str>,
    object: Option<&str>,
    source: Source,
    cmcd: &Cmcd,
) -> Option<String> {
    serde_json::to_string(&CmcdEvent {
        at: input.now_ms,
        event,
        pathway,
        country: input.client.country,
        asn: input.client.asn,
        object,
        source,
        cmcd,
    })
    .ok()
}

/// Adds Content Steering to a rewritten multivariant playlist (rfc8216bis §4.4.6.6): the
/// `EXT-X-CONTENT-STEERING` tag after `#EXTM3U` (replacing any the origin wrote: the edge is the
/// steering server), and `PATHWAY-ID` on every variant (§4.4.6.2, §4.4.6.3). Every other line
/// is copied byte for byte, with its own line ending.
fn with_steering(playlist: &[u8], plan: &RewritePlan) -> Vec<u8> {
    let tag = steering::tag(&plan.param, &plan.token, &plan.pathway);
    let mut out = Vec::with_capacity(playlist.len() + tag.len() + 64);
    let mut first = true;
    for line in playlist.split_inclusive(|&b| b == b'\n') {
        let content_len =
            line.len() - usize::from(line.ends_with(b"\n")) - usize::from(line.ends_with(b"\r\n"));
        let (content, ending) = line.split_at(content_len);
        if content.starts_with(b"#EXT-X-CONTENT-STEERING:") {
            continue;
        }
        out.extend_from_slice(content);
        let is_variant = content.starts_with(b"#EXT-X-STREAM-INF:")
            || content.starts_with(b"#EXT-X-I-FRAME-STREAM-INF:");
        if is_variant && !content.windows(11).any(|w| w == b"PATHWAY-ID=") {
            out.extend_from_slice(b",PATHWAY-ID=\"");
            out.extend_from_slice(plan.pathway.as_bytes());
            out.push(b'"');
        }
        // A playlist whose only line has no ending still gets a line break before the tag.
        out.extend_from_slice(if ending.is_empty() && first {
            b"\n"
        } else {
            ending
        });
        if first {
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(if ending.is_empty() { b"" } else { ending });
            first = false;
        }
    }
    out
}

/// A refusal: the reason's status, its code in the header, its message as the body.
pub fn refuse(reason: Reason, log: LogFields) -> Decision {
    Decision {
        action: Action::Respond(refusal(reason)),
        reason,
        log,
        events: Vec::new(),
        store: None,
    }
}

/// The refusal response for `reason`: its status, its code in the header, its message as the
/// body. For adapters that must answer before (or without) a decision: a request `http` cannot
/// represent, a configuration that does not load.
pub fn refusal(reason: Reason) -> Response<Bytes> {
    let mut body = reason.message().to_owned();
    body.push('\n');
    text(reason.status(), reason, &body)
}

/// The answer to a request body over the limit of [`Action::ReadBody`]: the `bad_request`
/// refusal, with 413 (RFC 9110 §15.5.14).
pub fn body_too_large() -> Response<Bytes> {
    let mut response = refusal(Reason::BadRequest);
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response
}

/// A plain-text response carrying `reason`.
fn text(status: StatusCode, reason: Reason, body: &str) -> Response<Bytes> {
    answer(
        status,
        Some("text/plain; charset=utf-8"),
        "no-store",
        reason,
        Bytes::copy_from_slice(body.as_bytes()),
    )
}

/// A response the edge makes itself: its status, body, content type, cache lifetime and the
/// headers every edge answer carries. The one place such responses are put together.
fn answer(
    status: StatusCode,
    content_type: Option<&'static str>,
    cache_control: &'static str,
    reason: Reason,
    body: Bytes,
) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    edge_headers(headers, reason);
    response
}

/// The headers every edge answer carries: the reason code, and CORS (Fetch §3.2), because
/// players fetch playlists and segments from CDN hosts other than the page's, and the page
/// reads the reason of a refusal. No credentials ride in cookies on those requests (tokens are
/// in the URIs), so any origin may read them.
fn edge_headers(headers: &mut HeaderMap, reason: Reason) {
    headers.insert(REASON_HEADER, HeaderValue::from_static(reason.code()));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(REASON_HEADER),
    );
}

/// The headers of every proxied answer, built once.
static PROXY_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::new();
    edge_headers(&mut headers, Reason::Ok);
    headers
});

/// The answer to a CORS preflight (Fetch §3.2.2): players send one before a beacon POST with
/// `Content-Type: application/cmcd`, or before a request with CMCD headers.
fn preflight() -> Decision {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    edge_headers(headers, Reason::Ok);
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, OPTIONS"),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "content-type, cmcd-object, cmcd-request, cmcd-session, cmcd-status",
        ),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    respond(response, Reason::Ok)
}

/// A decision to send `response`.
fn respond(response: Response<Bytes>, reason: Reason) -> Decision {
    Decision {
        action: Action::Respond(response),
        reason,
        log: LogFields::default(),
        events: Vec::new(),
        store: None,
    }
}

fn version(config: &EdgeConfig) -> Decision {
    let body = serde_json::json!({
        "name": "usher-edge",
        "version": env!("CARGO_PKG_VERSION"),
        "events": config.events.len(),
        "pathways": config.pathways.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
    });
    Decision::act(Action::Respond(answer(
        StatusCode::OK,
        Some("application/json"),
        "no-store",
        Reason::Ok,
        Bytes::from(body.to_string()),
    )))
}

/// Session ids go into EdgeAuth's `id` field unescaped: keep them to characters that cannot
/// break the token or a query.
fn is_token_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Lower-case hex, as session ids and the waiting room's cookies carry bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `If-None-Match` of a request, for modules that serve cacheable bytes.
pub fn if_none_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok())
}

/// Adds a strong `ETag` to a response.
pub fn with_etag(mut response: Response<Bytes>, etag: &str) -> Response<Bytes> {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_answered_as_made_and_any_other_action_as_a_config_error() {
        let answer = refuse(Reason::NotFound, LogFields::default()).into_answer();
        assert_eq!(answer.reason, Reason::NotFound);
        assert_eq!(answer.response.status(), 404);
        let misused = Decision::act(Action::ReadBody(10)).into_answer();
        assert_eq!(misused.reason, Reason::ConfigError);
        assert_eq!(misused.response.status(), 503);
    }

    #[test]
    fn an_origin_failure_is_told_as_the_cores_reason() {
        assert_eq!(OriginFailure::Timeout.reason().code(), "origin_timeout");
        assert_eq!(OriginFailure::Timeout.reason().status(), 504);
        assert_eq!(OriginFailure::Unreachable.reason().code(), "origin_error");
        assert_eq!(OriginFailure::Unconfigured.reason().code(), "config_error");
        assert!(matches!(OriginFailure::Timeout.fetched(), Fetched::Timeout));
        assert!(matches!(
            OriginFailure::Unconfigured.fetched(),
            Fetched::Unreachable
        ));
    }

    #[test]
    fn later_log_facts_win_and_earlier_ones_fill_gaps() {
        let decided = LogFields {
            route: "multivariant",
            event: Some("final-2026".into()),
            pathway: Some("cdn-a".into()),
            cmcd_error: Some("bad CMCD".into()),
            lease: None,
        };
        let finished = LogFields {
            route: "multivariant",
            event: None,
            pathway: Some("cdn-b".into()),
            cmcd_error: None,
            lease: Some("taken"),
        };
        let log = decided.clone().merged(finished);
        assert_eq!(log.event.as_deref(), Some("final-2026"));
        assert_eq!(log.pathway.as_deref(), Some("cdn-b"));
        assert_eq!(log.cmcd_error.as_deref(), Some("bad CMCD"));
        assert_eq!(log.lease, Some("taken"));
        assert_eq!(decided.merged(LogFields::default()).route, "multivariant");
    }
}
