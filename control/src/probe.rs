//! Synthetic probes: what to fetch through each CDN, and what a probe's response says.
//!
//! A probe does what a viewer's player does at the live edge, through one CDN: it fetches an
//! event's media playlist, picks the newest complete segment (RFC 8216 §6.3.3: a live client
//! plays from the end), and fetches that. The runtime sends the requests and measures them;
//! this module picks the segment, reads the cache status a CDN reports, and turns a probe into
//! [`Observation`]s for the health model.
//!
//! What it does not do: send requests or measure time. The runtime hands in a [`Response`]
//! with the status, the headers and the timings it measured.
//!
//! Key design decision: the segment, not the playlist, is what is scored. A playlist is small
//! and often uncached (the edge answers it per viewer), so its TTFB says little about the CDN's
//! delivery; the segment is what stalls a player. The playlist fetch still counts as a request,
//! so a CDN that cannot even serve playlists is gated.

use http::HeaderMap;
use serde::Serialize;
use usher_shared::health::{Observation, SignalKind};
use usher_shared::playlist::{Playlist, PlaylistKind};

/// Which stage of a probe a response belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The media playlist.
    Playlist,
    /// The newest segment the playlist lists.
    Segment,
}

/// What the runtime measured for one request of a probe.
#[derive(Clone, Debug)]
pub enum Response {
    /// An HTTP response arrived (whatever its status).
    Answered {
        /// The status code.
        status: u16,
        /// The response headers.
        headers: HeaderMap,
        /// Milliseconds from sending the request (connect included) to the response head.
        ttfb_ms: f64,
        /// Milliseconds from sending the request to the last body byte.
        total_ms: f64,
        /// Body bytes received.
        bytes: u64,
    },
    /// No response: the connection was refused or broke, TLS failed, or the time ran out.
    Failed {
        /// A short code for the failure (`connect`, `timeout`, `tls`, `protocol`, `body`).
        code: &'static str,
    },
}

/// The cache outcome a CDN reported for a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    /// Served from the CDN's cache.
    Hit,
    /// Fetched from upstream (a miss, a pass, an expired or revalidated entry).
    Miss,
}

/// One probe request, summarised for the timeline and the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeRecord {
    /// The CDN probed.
    pub cdn: String,
    /// The event probed.
    pub event: String,
    /// When the request was sent (Unix ms).
    pub at_ms: u64,
    /// Playlist or segment.
    pub stage: Stage,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The failure code when no response arrived, or `http_{status}` for an error status.
    pub error: Option<String>,
    /// Time to the response head, in ms.
    pub ttfb_ms: Option<f64>,
    /// Download throughput of the body in bit/s (segments only: a playlist is too small to
    /// measure a rate).
    pub throughput_bps: Option<f64>,
    /// The cache outcome the CDN reported, if it said.
    pub cache: Option<CacheOutcome>,
    /// The `Age` header (RFC 9111 §5.1), seconds.
    pub age_secs: Option<u64>,
}

/// Why a playlist gave no segment to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// The body is not an HLS playlist.
    NotAPlaylist,
    /// It is a multivariant playlist: the probe needs a media playlist.
    Multivariant,
    /// The playlist lists no complete segment yet.
    Empty,
    /// The segment URI cannot be resolved against the playlist's URL.
    BadUri,
}

impl SegmentError {
    /// A stable code, for the probe record's `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SegmentError::NotAPlaylist => "not_a_playlist",
            SegmentError::Multivariant => "multivariant_playlist",
            SegmentError::Empty => "no_segment",
            SegmentError::BadUri => "bad_segment_uri",
        }
    }
}

impl std::fmt::Display for SegmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SegmentError {}

/// The absolute URL of the newest complete segment of a media playlist fetched from
/// `playlist_url`.
///
/// LL-HLS partial segments (`EXT-X-PART`) are not probed: the last full segment is what every
/// player, low-latency or not, fetches or has fetched, so it is the object the CDN should have
/// cached. Relative URIs resolve per RFC 3986 §5.2 against the playlist URL, whose query (the
/// session token) is not inherited: the edge writes absolute URIs with their own token.
pub fn newest_segment(playlist_url: &str, body: &[u8]) -> Result<String, SegmentError> {
    let playlist = Playlist::parse(body).map_err(|_| SegmentError::NotAPlaylist)?;
    if playlist.kind() == PlaylistKind::Multivariant {
        return Err(SegmentError::Multivariant);
    }
    let last = playlist.segments().last().ok_or(SegmentError::Empty)?;
    resolve(playlist_url, last.uri).ok_or(SegmentError::BadUri)
}

/// Resolves `reference` against the absolute http(s) URL `base` (RFC 3986 §5.2, for the forms
/// playlists use: absolute, scheme-relative, absolute-path and relative-path references).
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty() {
        return None;
    }
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return Some(reference.to_owned());
    }
    let scheme_end = base.find("://")?;
    let scheme = base.get(..scheme_end)?;
    let after = base.get(scheme_end + 3..)?;
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = after.get(..authority_end)?;
    if let Some(rest) = reference.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    if reference.starts_with('/') {
        return Some(format!("{scheme}://{authority}{reference}"));
    }
    let path_and_more = after.get(authority_end..)?;
    let path = path_and_more
        .split(['?', '#'])
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let directory = path.rfind('/').and_then(|i| path.get(..=i)).unwrap_or("/");
    Some(format!("{scheme}://{authority}{directory}{reference}"))
}

/// The cache outcome a response reports, from the headers CDNs use, in order of precedence:
///
/// 1. `Cache-Status` (RFC 9211 §2): the *first* member is the cache nearest the origin and the
///    last the one nearest the client, so the last member decides; `hit` is a hit, `fwd=…` a
///    miss of some kind.
/// 2. `X-Cache` (Fastly, CloudFront, nginx setups): the last comma-separated value; `HIT…`
///    (CloudFront's "Hit from cloudfront", Fastly's `HIT, HIT`) is a hit, `MISS`, `PASS`,
///    `EXPIRED`, `STALE`, `REFRESH`… a miss.
/// 3. `CF-Cache-Status` (Cloudflare): `HIT` is a hit, `MISS`, `EXPIRED`, `BYPASS`, `DYNAMIC`… a
///    miss.
pub fn cache_outcome(headers: &HeaderMap) -> Option<CacheOutcome> {
    if let Some(value) = header_text(headers, "cache-status") {
        let last = value.rsplit(',').next().unwrap_or("").trim();
        let mut params = last.split(';').skip(1).map(str::trim);
        if params.clone().any(|p| p.eq_ignore_ascii_case("hit")) {
            return Some(CacheOutcome::Hit);
        }
        if params.any(|p| p.to_ascii_lowercase().starts_with("fwd=")) {
            return Some(CacheOutcome::Miss);
        }
    }
    for name in ["x-cache", "cf-cache-status"] {
        if let Some(value) = header_text(headers, name) {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            if last.is_empty() {
                continue;
            }
            let hit = last.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("hit"));
            return Some(if hit {
                CacheOutcome::Hit
            } else {
                CacheOutcome::Miss
            });
        }
    }
    None
}

/// The estimated throughput a CDN announces in `CMSD-Dynamic` (CTA-5006 `etp`, kbit/s), from
/// the last entry (the intermediary nearest the client), in bit/s.
pub fn cmsd_estimated_throughput(headers: &HeaderMap) -> Option<f64> {
    let value = header_text(headers, "cmsd-dynamic")?;
    let last = value.rsplit(',').next()?;
    last.split(';').map(str::trim).find_map(|param| {
        let kbps = param.strip_prefix("etp=")?.parse::<f64>().ok()?;
        (kbps.is_finite() && kbps >= 0.0).then_some(kbps * 1000.0)
    })
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Summarises one probe request and turns it into observations for `cdn`.
///
/// Every request counts in the `requests` signal; a failure or a 5xx is an error (a 4xx is the
/// probe's own fault, a bad token or a segment already gone, not the CDN's, and is recorded but
/// not counted against it). A segment that answered 2xx gives TTFB, throughput (body bits over
/// the time after the head: what the CDN delivered, without its think time) and, when the CDN
/// says, a cache outcome. Groups do not apply: a probe runs from the controller, not from a
/// viewer's network.
pub fn observe(
    cdn: &str,
    event: &str,
    at_ms: u64,
    stage: Stage,
    response: &Response,
) -> (ProbeRecord, Vec<Observation>) {
    let observation = |kind| Observation {
        cdn: cdn.to_owned(),
        group: None,
        at_ms,
        kind,
    };
    let mut record = ProbeRecord {
        cdn: cdn.to_owned(),
        event: event.to_owned(),
        at_ms,
        stage,
        status: None,
        error: None,
        ttfb_ms: None,
        throughput_bps: None,
        cache: None,
        age_secs: None,
    };
    let mut observations = Vec::new();
    match response {
        Response::Failed { code } => {
            record.error = Some((*code).to_owned());
            observations.push(observation(SignalKind::Requests {
                requests: 1,
                errors: 1,
            }));
        }
        Response::Answered {
            status,
            headers,
            ttfb_ms,
            total_ms,
            bytes,
        } => {
            record.status = Some(*status);
            record.age_secs = header_text(headers, "age").and_then(|a| a.trim().parse().ok());
            record.cache = cache_outcome(headers);
            let server_error = *status >= 500;
            if *status >= 400 {
                record.error = Some(format!("http_{status}"));
            }
            if *status < 400 || server_error {
                observations.push(observation(SignalKind::Requests {
                    requests: 1,
                    errors: u64::from(server_error),
                }));
            }
            let ok = (200..300).contains(status);
            if ok && stage == Stage::Segment {
                if ttfb_ms.is_finite() && *ttfb_ms >= 0.0 {
                    record.ttfb_ms = Some(*ttfb_ms);
                    observations.push(observation(SignalKind::Ttfb {
                        millis: *ttfb_ms,
                        samples: 1,
                    }));
                }
                let transfer_ms = (total_ms - ttfb_ms).max(1.0);
                if *bytes > 0 && transfer_ms.is_finite() {
                    let bps = (*bytes as f64) * 8.0 * 1000.0 / transfer_ms;
                    record.throughput_bps = Some(bps);
                    observations.push(observation(SignalKind::Throughput {
                        bits_per_second: bps,
                        samples: 1,
                    }));
                }
                if let Some(outcome) = record.cache {
                    let hit = u64::from(outcome == CacheOutcome::Hit);
                    observations.push(observation(SignalKind::Cache {
                        hits: hit,
                        misses: 1 - hit,
                    }));
                }
            } else if ok {
                record.ttfb_ms = Some(*ttfb_ms).filter(|t| t.is_finite());
            }
        }
    }
    (record, observations)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const LIVE: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n\
        #EXTINF:2.0,\n100.m4s\n#EXTINF:2.0,\n101.m4s\n\
        #EXT-X-PART:DURATION=0.5,URI=\"102.0.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"102.1.m4s\"\n";

    #[test]
    fn the_newest_complete_segment_is_probed_not_a_part() {
        let url = newest_segment(
            "http://cdn-a.test/events/final/v1/playlist.m3u8?__token__=x",
            LIVE.as_bytes(),
        )
        .unwrap();
        assert_eq!(url, "http://cdn-a.test/events/final/v1/101.m4s");
    }

    #[test]
    fn absolute_segment_uris_written_by_the_edge_are_kept_with_their_token() {
        let body = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n\
            https://cdn-b.test/events/final/v1/7.m4s?__token__=abc\n";
        let url = newest_segment("https://cdn-a.test/x/p.m3u8", body.as_bytes()).unwrap();
        assert_eq!(
            url,
            "https://cdn-b.test/events/final/v1/7.m4s?__token__=abc"
        );
    }

    #[test]
    fn a_multivariant_or_empty_or_non_playlist_gives_a_specific_error() {
        let mv = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv1/playlist.m3u8\n";
        assert_eq!(
            newest_segment("http://a.test/m.m3u8", mv.as_bytes()),
            Err(SegmentError::Multivariant)
        );
        assert_eq!(
            newest_segment(
                "http://a.test/m.m3u8",
                b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
            ),
            Err(SegmentError::Empty)
        );
        assert_eq!(
            newest_segment("http://a.test/m.m3u8", b"<html>"),
            Err(SegmentError::NotAPlaylist)
        );
    }

    #[test]
    fn references_resolve_like_rfc_3986() {
        let base = "http://h.test:8080/a/b/c.m3u8?q=1";
        assert_eq!(
            resolve(base, "d.m4s").unwrap(),
            "http://h.test:8080/a/b/d.m4s"
        );
        assert_eq!(resolve(base, "/x.m4s").unwrap(), "http://h.test:8080/x.m4s");
        assert_eq!(resolve(base, "//o.test/y").unwrap(), "http://o.test/y");
        assert_eq!(resolve("http://h.test", "z").unwrap(), "http://h.test/z");
        assert_eq!(resolve("not a url", "z"), None);
    }

    #[test]
    fn cache_status_reads_the_cache_nearest_the_client() {
        let hit = headers(&[("cache-status", "origin-shield; fwd=uri-miss, edge; hit")]);
        assert_eq!(cache_outcome(&hit), Some(CacheOutcome::Hit));
        let miss = headers(&[("cache-status", "edge; hit, nearest; fwd=stale; stored")]);
        assert_eq!(cache_outcome(&miss), Some(CacheOutcome::Miss));
        assert_eq!(
            cache_outcome(&headers(&[("x-cache", "MISS, HIT")])),
            Some(CacheOutcome::Hit)
        );
        assert_eq!(
            cache_outcome(&headers(&[("x-cache", "Miss from cloudfront")])),
            Some(CacheOutcome::Miss)
        );
        assert_eq!(
            cache_outcome(&headers(&[("cf-cache-status", "EXPIRED")])),
            Some(CacheOutcome::Miss)
        );
        assert_eq!(cache_outcome(&HeaderMap::new()), None);
    }

    #[test]
    fn cmsd_dynamic_etp_of_the_nearest_intermediary_is_read_in_bits() {
        let h = headers(&[(
            "cmsd-dynamic",
            "\"shield\";etp=9000, \"edge\";etp=25000;rtt=30",
        )]);
        assert_eq!(cmsd_estimated_throughput(&h), Some(25_000_000.0));
        assert_eq!(cmsd_estimated_throughput(&HeaderMap::new()), None);
    }

    #[test]
    fn a_good_segment_gives_ttfb_throughput_cache_and_a_clean_request() {
        let response = Response::Answered {
            status: 200,
            headers: headers(&[("x-cache", "HIT"), ("age", "3")]),
            ttfb_ms: 40.0,
            total_ms: 140.0,
            bytes: 1_250_000,
        };
        let (record, obs) = observe("a", "final", 1000, Stage::Segment, &response);
        assert_eq!(record.cache, Some(CacheOutcome::Hit));
        assert_eq!(record.age_secs, Some(3));
        // 10 Mbit in 100 ms after the head: 100 Mbit/s.
        assert_eq!(record.throughput_bps, Some(100_000_000.0));
        let kinds: Vec<_> = obs.iter().map(|o| o.kind).collect();
        assert!(kinds.contains(&SignalKind::Requests {
            requests: 1,
            errors: 0
        }));
        assert!(kinds.contains(&SignalKind::Ttfb {
            millis: 40.0,
            samples: 1
        }));
        assert!(kinds.contains(&SignalKind::Cache { hits: 1, misses: 0 }));
    }

    #[test]
    fn a_5xx_or_a_failed_connection_is_an_error_but_a_4xx_is_the_probes_own() {
        let answered = |status| Response::Answered {
            status,
            headers: HeaderMap::new(),
            ttfb_ms: 5.0,
            total_ms: 6.0,
            bytes: 10,
        };
        let (_, obs) = observe("a", "e", 0, Stage::Segment, &answered(503));
        assert_eq!(
            obs,
            vec![Observation {
                cdn: "a".into(),
                group: None,
                at_ms: 0,
                kind: SignalKind::Requests {
                    requests: 1,
                    errors: 1
                }
            }]
        );
        let (record, obs) = observe("a", "e", 0, Stage::Segment, &answered(403));
        assert!(obs.is_empty());
        assert_eq!(record.error.as_deref(), Some("http_403"));
        let (record, obs) = observe(
            "a",
            "e",
            0,
            Stage::Playlist,
            &Response::Failed { code: "timeout" },
        );
        assert_eq!(record.error.as_deref(), Some("timeout"));
        assert_eq!(obs.len(), 1);
    }
}
