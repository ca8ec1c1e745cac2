//! QoE events from the edges: the CMCD the players sent, as the edge logged it, turned into
//! observations for the health model and into viewer counts.
//!
//! Every edge writes one JSON line per request carrying CMCD and per beacon report
//! (`usher_edge_core::cmcd::CmcdEvent`: `at`, `event`, `pathway`, `country`, `asn`, `object`,
//! `source`, and `cmcd` with the CTA-5004 key names). The platform ships the lines to the
//! controller (`POST /v1/qoe`, or a file the runtime tails). This module reads one line at a
//! time.
//!
//! What players report, and what it means here (CTA-5004 §3.3; v2 keys from CTA-5004-A):
//!
//! | key | meaning | use |
//! |---|---|---|
//! | `mtp` | measured throughput, kbit/s | throughput signal of the CDN (×1000) |
//! | `ttfb` | v2: time to first byte of the object, ms | TTFB signal |
//! | `rc` | v2: the response's status code | a request, an error when 0 or ≥ 500 |
//! | `sid` | session id | concurrent viewers per CDN |
//! | `bs` | buffer starvation since the last request | stalls per CDN (dashboard) |
//! | `br` | encoded bitrate of the object, kbit/s | delivered bitrate (dashboard, report) |
//!
//! What it does not do: trust a line. A line that is not JSON, names no configured CDN, or
//! carries out-of-range values is refused with a [`QoeError`] and counted; it never panics and
//! never stops the rest of a batch.
//!
//! Key design decision: players' numbers are attributed to the CDN the *edge* says served the
//! request (`pathway`), never to the player's own `cdn` key, which a player can set to anything.

use std::collections::HashMap;

use serde::Deserialize;
use usher_shared::health::{Observation, SignalKind};

/// The largest throughput accepted from a player, kbit/s (100 Gbit/s): beyond it a report is a
/// bug or a lie, and the log-average would give it a long memory.
const MAX_MTP_KBPS: u64 = 100_000_000;

/// The largest TTFB accepted from a player, ms (one minute).
const MAX_TTFB_MS: u64 = 60_000;

/// Why a QoE line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QoeError {
    /// Not a JSON object of the expected shape (`at`, `event`, `cmcd` required).
    Malformed,
    /// The line names no pathway: the edge could not tell which CDN served it.
    NoPathway,
    /// The pathway is not a configured CDN.
    UnknownCdn,
    /// A value is out of range (throughput, TTFB, status code).
    OutOfRange(&'static str),
    /// An admission line (`kind: arrival | admitted`) that was refused.
    Admission(crate::admission::LineError),
}

impl QoeError {
    /// A stable code, for counters and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            QoeError::Malformed => "malformed",
            QoeError::NoPathway => "no_pathway",
            QoeError::UnknownCdn => "unknown_cdn",
            QoeError::OutOfRange(_) => "out_of_range",
            QoeError::Admission(e) => e.as_str(),
        }
    }
}

impl std::fmt::Display for QoeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QoeError::OutOfRange(field) => write!(f, "out_of_range: {field}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for QoeError {}

#[derive(Deserialize)]
struct Line {
    at: u64,
    event: String,
    #[serde(default)]
    pathway: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    asn: Option<u32>,
    cmcd: Cmcd,
}

#[derive(Deserialize, Default)]
struct Cmcd {
    #[serde(default)]
    mtp: Option<Levels>,
    #[serde(default)]
    br: Option<Levels>,
    #[serde(default)]
    ttfb: Option<u64>,
    #[serde(default)]
    rc: Option<u64>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    bs: bool,
}

/// CMCD's bitrate and throughput keys: one integer (v1) or a v2 list of `{value, ot}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Levels {
    Scalar(u64),
    List(Vec<Level>),
}

#[derive(Deserialize)]
struct Level {
    value: u64,
    #[serde(default)]
    ot: Option<String>,
}

impl Levels {
    /// The video value: v1's one value, or the v2 item tagged `v`, else the first untagged, else
    /// the first (CTA-5004-A: an untagged item is about the object requested).
    fn video(&self) -> Option<u64> {
        match self {
            Levels::Scalar(v) => Some(*v),
            Levels::List(items) => items
                .iter()
                .find(|l| l.ot.as_deref() == Some("v"))
                .or_else(|| items.iter().find(|l| l.ot.is_none()))
                .or_else(|| items.first())
                .map(|l| l.value),
        }
    }
}

/// What one QoE line said, after checking.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// When the edge saw it (Unix ms).
    pub at_ms: u64,
    /// The event.
    pub event: String,
    /// The CDN that served it (a configured id).
    pub cdn: String,
    /// The client group the observations count toward, if configured.
    pub group: Option<String>,
    /// The player's session id, if it sent one.
    pub session: Option<String>,
    /// The player reported a stall (`bs`).
    pub stalled: bool,
    /// The encoded bitrate it reported, bit/s.
    pub bitrate_bps: Option<u64>,
    /// The observations for the health model.
    pub observations: Vec<Observation>,
}

/// Reads one QoE line. `cdns` are the configured CDN ids; `groups` the configured client groups
/// (`asn:N` is preferred over `country:CC` when both are configured: it is the more specific).
pub fn read(line: &[u8], cdns: &[String], groups: &[String]) -> Result<Report, QoeError> {
    let line: Line = serde_json::from_slice(line).map_err(|_| QoeError::Malformed)?;
    let cdn = line.pathway.ok_or(QoeError::NoPathway)?;
    if !cdns.contains(&cdn) {
        return Err(QoeError::UnknownCdn);
    }
    let asn = line.asn.map(|a| format!("asn:{a}"));
    let country = line.country.map(|c| format!("country:{c}"));
    let group = [asn, country]
        .into_iter()
        .flatten()
        .find(|g| groups.iter().any(|c| c == g));
    let observation = |kind| Observation {
        cdn: cdn.clone(),
        group: group.clone(),
        at_ms: line.at,
        kind,
    };
    let mut observations = Vec::new();
    if let Some(kbps) = line.cmcd.mtp.as_ref().and_then(Levels::video) {
        if kbps > MAX_MTP_KBPS {
            return Err(QoeError::OutOfRange("mtp"));
        }
        observations.push(observation(SignalKind::Throughput {
            bits_per_second: kbps as f64 * 1000.0,
            samples: 1,
        }));
    }
    if let Some(ms) = line.cmcd.ttfb {
        if ms > MAX_TTFB_MS {
            return Err(QoeError::OutOfRange("ttfb"));
        }
        observations.push(observation(SignalKind::Ttfb {
            millis: ms as f64,
            samples: 1,
        }));
    }
    if let Some(rc) = line.cmcd.rc {
        if rc > 999 {
            return Err(QoeError::OutOfRange("rc"));
        }
        // CTA-5004-A: `rc` 0 means no response (a network error or a timeout).
        observations.push(observation(SignalKind::Requests {
            requests: 1,
            errors: u64::from(rc == 0 || rc >= 500),
        }));
    }
    Ok(Report {
        at_ms: line.at,
        event: line.event,
        cdn: cdn.clone(),
        group,
        session: line.cmcd.sid,
        stalled: line.cmcd.bs,
        bitrate_bps: line
            .cmcd
            .br
            .as_ref()
            .and_then(Levels::video)
            .map(|k| k.saturating_mul(1000)),
        observations,
    })
}

/// Concurrent viewers per CDN: sessions seen on that CDN within the last `window_ms`.
///
/// A player at the live edge sends CMCD with every segment request (every few seconds), so a
/// session silent for the window has left or has no CMCD. A session counts on the CDN of its
/// latest report, so a switch moves it at once. Memory is one entry per active session; entries
/// are pruned on every count.
#[derive(Clone, Debug, Default)]
pub struct Viewers {
    last_seen: HashMap<String, Seen>,
}

#[derive(Clone, Copy, Debug)]
struct Seen {
    cdn: usize,
    first_ms: u64,
    at_ms: u64,
    bitrate_bps: Option<u64>,
}

/// Viewers per CDN index, and the bitrate they draw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    /// Sessions per CDN index.
    pub per_cdn: Vec<u64>,
    /// The sum of each session's latest reported bitrate, bit/s: the demand the CDNs carry.
    pub demand_bps: u64,
    /// The same per CDN index.
    pub demand_per_cdn_bps: Vec<u64>,
    /// Sessions with a bitrate (the demand's sample).
    pub with_bitrate: u64,
}

impl Viewers {
    /// Records that `session` was served by CDN index `cdn` at `at_ms`, with the bitrate it
    /// reported, if any (a report without one keeps the previous figure).
    pub fn seen(&mut self, session: &str, cdn: usize, at_ms: u64, bitrate_bps: Option<u64>) {
        match self.last_seen.get_mut(session) {
            Some(entry) if entry.at_ms > at_ms => {}
            Some(entry) => {
                entry.first_ms = entry.first_ms.min(at_ms);
                entry.cdn = cdn;
                entry.at_ms = at_ms;
                entry.bitrate_bps = bitrate_bps.or(entry.bitrate_bps);
            }
            None => {
                self.last_seen.insert(
                    session.to_owned(),
                    Seen {
                        cdn,
                        first_ms: at_ms,
                        at_ms,
                        bitrate_bps,
                    },
                );
            }
        }
    }

    /// Forgets sessions not seen since `now_ms - window_ms` and counts the rest per CDN index.
    pub fn count(&mut self, now_ms: u64, window_ms: u64, cdns: usize) -> Audience {
        let since = now_ms.saturating_sub(window_ms);
        self.last_seen.retain(|_, seen| seen.at_ms >= since);
        let mut audience = Audience {
            per_cdn: vec![0; cdns],
            demand_bps: 0,
            demand_per_cdn_bps: vec![0; cdns],
            with_bitrate: 0,
        };
        for seen in self.last_seen.values() {
            if let Some(c) = audience.per_cdn.get_mut(seen.cdn) {
                *c += 1;
            }
            let bps = seen.bitrate_bps.unwrap_or(0);
            audience.with_bitrate += u64::from(seen.bitrate_bps.is_some());
            audience.demand_bps = audience.demand_bps.saturating_add(bps);
            if let Some(d) = audience.demand_per_cdn_bps.get_mut(seen.cdn) {
                *d = d.saturating_add(bps);
            }
        }
        audience
    }

    /// Sessions first seen at or after `since_ms` (among those still counted): players who
    /// started recently, matched against recent admissions for the waiting room's cap.
    pub fn new_since(&self, since_ms: u64) -> u64 {
        self.last_seen
            .values()
            .filter(|s| s.first_ms >= since_ms)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn cdns() -> Vec<String> {
        vec!["cdn-a".into(), "cdn-b".into()]
    }

    #[test]
    fn an_edge_line_with_mtp_ttfb_and_rc_becomes_three_observations() {
        let line = br#"{"at":1000,"event":"final","pathway":"cdn-b","country":"DE","asn":3320,"object":"/events/final/v/1.m4s","source":"request","cmcd":{"mtp":48100,"ttfb":35,"rc":200,"sid":"s1","br":3200}}"#;
        let report = read(line, &cdns(), &["asn:3320".into()]).unwrap();
        assert_eq!(report.cdn, "cdn-b");
        assert_eq!(report.group.as_deref(), Some("asn:3320"));
        assert_eq!(report.session.as_deref(), Some("s1"));
        assert_eq!(report.bitrate_bps, Some(3_200_000));
        let kinds: Vec<_> = report.observations.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            vec![
                SignalKind::Throughput {
                    bits_per_second: 48_100_000.0,
                    samples: 1
                },
                SignalKind::Ttfb {
                    millis: 35.0,
                    samples: 1
                },
                SignalKind::Requests {
                    requests: 1,
                    errors: 0
                },
            ]
        );
    }

    #[test]
    fn v2_lists_use_the_video_value_and_rc_zero_is_an_error() {
        let line = br#"{"at":1,"event":"e","pathway":"cdn-a","source":"beacon","cmcd":{"mtp":[{"value":6000,"ot":"a"},{"value":15000,"ot":"v"}],"rc":0,"bs":true}}"#;
        let report = read(line, &cdns(), &[]).unwrap();
        assert!(report.stalled);
        assert_eq!(report.group, None);
        assert_eq!(
            report.observations[0].kind,
            SignalKind::Throughput {
                bits_per_second: 15_000_000.0,
                samples: 1
            }
        );
        assert_eq!(
            report.observations[1].kind,
            SignalKind::Requests {
                requests: 1,
                errors: 1
            }
        );
    }

    #[test]
    fn bad_lines_are_refused_with_a_specific_code() {
        let c = cdns();
        assert_eq!(read(b"not json", &c, &[]), Err(QoeError::Malformed));
        assert_eq!(
            read(br#"{"at":1,"event":"e","cmcd":{}}"#, &c, &[]),
            Err(QoeError::NoPathway)
        );
        assert_eq!(
            read(br#"{"at":1,"event":"e","pathway":"x","cmcd":{}}"#, &c, &[]),
            Err(QoeError::UnknownCdn)
        );
        assert_eq!(
            read(
                br#"{"at":1,"event":"e","pathway":"cdn-a","cmcd":{"ttfb":999999}}"#,
                &c,
                &[]
            ),
            Err(QoeError::OutOfRange("ttfb"))
        );
        assert_eq!(
            read(
                br#"{"at":1,"event":"e","pathway":"cdn-a","cmcd":{"mtp":-5}}"#,
                &c,
                &[]
            ),
            Err(QoeError::Malformed)
        );
    }

    #[test]
    fn a_session_counts_once_on_its_latest_cdn_until_it_falls_out_of_the_window() {
        let mut v = Viewers::default();
        v.seen("s1", 0, 1_000, Some(3_000_000));
        v.seen("s2", 0, 2_000, Some(1_000_000));
        v.seen("s1", 1, 3_000, None);
        // An older report arriving late does not move it back.
        v.seen("s1", 0, 2_500, Some(9));
        let now = v.count(4_000, 30_000, 2);
        assert_eq!(now.per_cdn, vec![1, 1]);
        assert_eq!(now.demand_bps, 4_000_000);
        // s1 was first seen at 1000 (its late, older report does not change that), s2 at 2000.
        assert_eq!((v.new_since(2_000), v.new_since(1_000)), (1, 2));
        assert_eq!(v.count(32_500, 30_000, 2).per_cdn, vec![0, 1]);
        assert_eq!(
            v.count(40_000, 30_000, 2),
            Audience {
                per_cdn: vec![0, 0],
                demand_bps: 0,
                demand_per_cdn_bps: vec![0, 0],
                with_bitrate: 0,
            }
        );
    }
}
