//! The synthetic probes: one task per CDN, event and playlist, each fetching the playlist and
//! its newest segment through the CDN every `probe.interval_ms`.
//!
//! What a probe measures and how it is scored is `usher_control::probe`'s; this module sends
//! the requests (on a new connection each, so a CDN's connect time counts as a viewer's would)
//! and hands the results to the hub.
//!
//! When the configuration names the edges' session key, each request carries a session token
//! minted as the edge mints them (EdgeAuth, `acl=/events/{event}/*`, session id
//! `usher-probe-{cdn}`, the CDN as the steering base), so the probe passes the same checks a
//! viewer's player does, and a playlist the edge rewrote lists segment URLs with their own
//! token.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use usher_control::config::ControlConfig;
use usher_control::probe::{self, Response, Stage};
use usher_shared::token::Algorithm;
use usher_shared::token::edgeauth::{self, EdgeAuth, MintRequest, Scope};

use super::client::{self, FetchError, Limits};
use super::run::Hub;
use crate::UsageError;
use crate::now_ms;

/// How long a probe's session token lives: long enough for one probe, short enough to be
/// useless if it leaks from a log.
const TOKEN_TTL_SECS: u64 = 60;

/// One probe: a CDN and a playlist URL.
struct Target {
    cdn: String,
    event: String,
    url: String,
}

/// All probe targets and how to send them.
pub(crate) struct Probes {
    targets: Vec<Target>,
    interval: Duration,
    limits: Limits,
    session: Option<(EdgeAuth, String)>,
}

impl Probes {
    /// The probes of a configuration; `base` resolves the session key file.
    pub(crate) fn new(config: &ControlConfig, base: &Path) -> Result<Self> {
        let mut targets = Vec::new();
        for cdn in &config.cdns {
            for event in &config.events {
                for playlist in &event.probe_playlists {
                    targets.push(Target {
                        cdn: cdn.id.clone(),
                        event: event.id.clone(),
                        url: format!("{}events/{}/{}", cdn.base_url, event.id, playlist),
                    });
                }
            }
        }
        let session = match &config.probe.session_key_file {
            None => None,
            Some(file) => {
                let path = base.join(file);
                let hex = std::fs::read_to_string(&path)
                    .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?;
                let algorithm = Algorithm::parse(&config.probe.session_algorithm)
                    .map_err(|e| UsageError::new(format!("probe.session_algorithm: {e}")))?;
                let auth = EdgeAuth::from_hex(hex.trim(), algorithm, edgeauth::Options::default())
                    .map_err(|e| UsageError::new(format!("{}: {e}", path.display())))?;
                Some((auth, config.probe.session_param.clone()))
            }
        };
        Ok(Probes {
            targets,
            interval: Duration::from_millis(config.probe.interval_ms),
            limits: Limits {
                timeout: Duration::from_millis(config.probe.timeout_ms),
                max_body_bytes: usize::try_from(config.probe.max_body_bytes).unwrap_or(usize::MAX),
            },
            session,
        })
    }

    /// Starts one task per target.
    pub(crate) fn spawn(self, hub: Arc<Hub>) {
        let shared = Arc::new(self);
        for index in 0..shared.targets.len() {
            let probes = Arc::clone(&shared);
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(probes.interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    if let Some(target) = probes.targets.get(index) {
                        probes.once(target, &hub).await;
                    }
                }
            });
        }
    }

    /// `url` with a fresh session token, when probes carry one and the URL has none yet.
    fn with_token(&self, url: &str, target: &Target) -> String {
        let Some((auth, param)) = &self.session else {
            return url.to_owned();
        };
        if url.contains(&format!("{param}=")) {
            return url.to_owned();
        }
        let now = now_ms() / 1000;
        let acl = format!("/events/{}/*", target.event);
        let session_id = format!("usher-probe-{}", target.cdn);
        let minted = auth.mint(&MintRequest {
            ip: None,
            start: Some(now),
            end: now + TOKEN_TTL_SECS,
            scope: Scope::Acl(&[&acl]),
            session_id: Some(&session_id),
            data: Some(&target.cdn),
        });
        match minted {
            Ok(token) => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}{param}={token}")
            }
            Err(_) => url.to_owned(),
        }
    }

    async fn fetch(&self, url: &str) -> (u64, Result<client::Fetched, FetchError>) {
        let at = now_ms();
        let request = match http::Request::get(url).body(Bytes::new()) {
            Ok(request) => request,
            Err(_) => return (at, Err(FetchError::BadUrl(url.to_owned()))),
        };
        (at, client::send(request, &self.limits).await)
    }

    /// One probe: the playlist, then its newest segment.
    async fn once(&self, target: &Target, hub: &Hub) {
        let url = self.with_token(&target.url, target);
        let (at, playlist) = self.fetch(&url).await;
        let response = as_response(&playlist);
        hub.probe(&target.cdn, &target.event, at, Stage::Playlist, &response);
        let Ok(fetched) = playlist else {
            return;
        };
        if !fetched.status.is_success() {
            return;
        }
        let segment = match probe::newest_segment(&url, &fetched.body) {
            Ok(segment) => segment,
            Err(error) => {
                hub.probe_error(&target.cdn, &target.event, at, error.as_str());
                return;
            }
        };
        let segment = self.with_token(&segment, target);
        let (at, result) = self.fetch(&segment).await;
        hub.probe(
            &target.cdn,
            &target.event,
            at,
            Stage::Segment,
            &as_response(&result),
        );
    }
}

fn as_response(result: &Result<client::Fetched, FetchError>) -> Response {
    match result {
        Ok(f) => Response::Answered {
            status: f.status.as_u16(),
            headers: f.headers.clone(),
            ttfb_ms: f.ttfb_ms,
            total_ms: f.total_ms,
            bytes: f.bytes,
        },
        Err(error) => Response::Failed {
            code: match error {
                FetchError::Timeout { .. } => "timeout",
                FetchError::Connect { .. } => "connect",
                FetchError::Tls { .. } => "tls",
                FetchError::BodyTooLarge { .. } => "body_too_large",
                FetchError::BadUrl(_) => "bad_url",
                FetchError::Protocol(_) => "protocol",
            },
        },
    }
}
