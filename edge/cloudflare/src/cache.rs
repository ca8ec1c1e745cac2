//! The playlist cache: origin playlists kept in the Workers Cache API, honouring the origin's
//! cache headers, with a stale copy served when the origin fails.
//!
//! Every viewer of an event reloads the same media playlists every target duration; the cache
//! key ([`Upstream::cache_key`](usher_edge_core::Upstream)) has no per-viewer parts, so one
//! origin fetch per location per freshness lifetime serves them all, and `finish` rewrites the
//! shared copy for each viewer.
//!
//! How long a copy is used follows RFC 9111 for a shared cache: `no-store` and `private` are
//! never kept; the freshness lifetime is `s-maxage`, else `max-age`, else `Expires` minus
//! `Date`, less the `Age` the origin's own caches added (§4.2); without any of them a copy is
//! never fresh (no heuristic freshness: a live playlist changes every segment).
//!
//! Key decision: stale-if-error (RFC 5861 §4) on a cache that has no notion of it. The Cache
//! API drops an entry when its `Cache-Control: max-age` runs out and cannot say whether what it
//! returns is still fresh. So a copy is stored with a `max-age` covering its freshness *plus*
//! `Upstream::stale_if_error_secs`, and two internal headers record when it stops being fresh
//! ([`FRESH_UNTIL`]) and when it stops being usable at all ([`USABLE_UNTIL`]). A fresh copy is
//! served without asking the origin; a stale one only when the origin answers 5xx, times out
//! or cannot be reached, and the core is told (`Fetched::Response { stale: true }`), so the
//! viewer gets reason `stale_on_origin_error`. The origin can forbid stale copies with
//! `no-cache`, `must-revalidate` or `proxy-revalidate`, and `s-maxage` implies the latter for
//! shared caches (RFC 9111 §5.2.2.10).
//!
//! Non-goals: revalidation with `If-None-Match` (live playlists change faster than a
//! conditional request saves), request collapsing, and caching anything but a 200 within
//! `playlist.max_bytes`. The Cache API is per Cloudflare location and works only on a zone's
//! own hostnames (not on `workers.dev`); elsewhere every playlist request reaches the origin.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use usher_edge_core::Fetched;

/// The internal header recording when a stored copy stops being fresh, Unix milliseconds.
pub(crate) const FRESH_UNTIL: HeaderName = HeaderName::from_static("x-usher-fresh-until");
/// The internal header recording when a stored copy stops being usable even on origin errors,
/// Unix milliseconds.
pub(crate) const USABLE_UNTIL: HeaderName = HeaderName::from_static("x-usher-usable-until");

/// What the origin's headers allow a shared cache to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Storable {
    /// `no-store` or `private`: not kept.
    No,
    /// Kept, fresh for `fresh_secs` from now; `stale_ok` unless the origin forbids serving it
    /// stale.
    Yes {
        /// Remaining freshness lifetime, seconds.
        fresh_secs: u64,
        /// How long it has been stale already, seconds: an `Age` past its lifetime. The
        /// stale-if-error window counts from when it went stale, not from when it arrived.
        stale_secs: u64,
        /// Whether a stale copy may be served when the origin fails.
        stale_ok: bool,
    },
}

/// Reads the origin's `Cache-Control`, `Expires`, `Date` and `Age` (RFC 9111 §4.2, §5).
pub(crate) fn storable(headers: &HeaderMap) -> Storable {
    let directives = directives(headers);
    let has = |name: &str| directives.iter().any(|(n, _)| n == name);
    let seconds = |name: &str| {
        directives
            .iter()
            .find(|(n, _)| n == name)
            // A malformed value makes the response stale, never fresher (§4.2.1).
            .map(|(_, v)| v.as_deref().and_then(delta_seconds).unwrap_or(0))
    };
    if has("no-store") || has("private") {
        return Storable::No;
    }
    let lifetime = if has("no-cache") {
        0
    } else if let Some(secs) = seconds("s-maxage").or_else(|| seconds("max-age")) {
        secs
    } else {
        expires_lifetime(headers).unwrap_or(0)
    };
    let age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(delta_seconds)
        .unwrap_or(0);
    Storable::Yes {
        fresh_secs: lifetime.saturating_sub(age),
        stale_secs: age.saturating_sub(lifetime),
        stale_ok: ![
            "no-cache",
            "must-revalidate",
            "proxy-revalidate",
            "s-maxage",
        ]
        .iter()
        .any(|d| has(d)),
    }
}

/// The `Cache-Control` directives, names lowercased, values unquoted.
fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|d| {
            let (name, value) = match d.split_once('=') {
                Some((n, v)) => (n, Some(v.trim().trim_matches('"').to_owned())),
                None => (d, None),
            };
            let name = name.trim().to_ascii_lowercase();
            (!name.is_empty()).then_some((name, value))
        })
        .collect()
}

/// A delta-seconds value (RFC 9111 §1.2.2); too large a number is as good as forever.
fn delta_seconds(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse().unwrap_or(u64::MAX))
}

/// `Expires` minus `Date`, when both are valid HTTP-dates; an invalid `Expires` means already
/// expired (§5.3).
fn expires_lifetime(headers: &HeaderMap) -> Option<u64> {
    let date = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(httpdate::parse_http_date)
    };
    let expires = date(header::EXPIRES)?;
    let Ok(expires) = expires else {
        return Some(0);
    };
    let now = date(header::DATE)?.ok()?;
    Some(expires.duration_since(now).map_or(0, |d| d.as_secs()))
}

/// When a stored copy stops being fresh and stops being usable, Unix milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifetime {
    /// Until then, the copy is served without asking the origin.
    pub(crate) fresh_until_ms: u64,
    /// Until then, the copy is served when the origin fails.
    pub(crate) usable_until_ms: u64,
}

/// Where the copy in a cache lookup stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Fresh: serve it.
    Fresh,
    /// Stale but within the stale-if-error window: ask the origin, fall back to it.
    Stale,
    /// Past every window (the Cache API had not dropped it yet): as good as absent.
    Expired,
}

impl Lifetime {
    /// The lifetime of a copy of an origin answer received at `now_ms`, or `None` when there is
    /// nothing worth storing: not a 200, over `max_bytes`, refused by the origin's headers, or
    /// neither fresh nor usable for a single second.
    pub(crate) fn of(
        status: StatusCode,
        body_len: usize,
        max_bytes: usize,
        headers: &HeaderMap,
        stale_if_error_secs: u64,
        now_ms: u64,
    ) -> Option<Self> {
        if status != StatusCode::OK || body_len > max_bytes {
            return None;
        }
        let Storable::Yes {
            fresh_secs,
            stale_secs,
            stale_ok,
        } = storable(headers)
        else {
            return None;
        };
        let stale_window = if stale_ok {
            stale_if_error_secs.saturating_sub(stale_secs)
        } else {
            0
        };
        let keep_secs = fresh_secs.saturating_add(stale_window);
        (keep_secs > 0).then(|| Lifetime {
            fresh_until_ms: now_ms.saturating_add(fresh_secs.saturating_mul(1000)),
            usable_until_ms: now_ms.saturating_add(keep_secs.saturating_mul(1000)),
        })
    }

    /// The headers a stored copy carries: the two internal ones, and the `Cache-Control` after
    /// which the Cache API drops it (whole seconds, rounded up, from `now_ms`).
    pub(crate) fn headers(&self, now_ms: u64) -> [(HeaderName, HeaderValue); 3] {
        let keep_secs = self.usable_until_ms.saturating_sub(now_ms).div_ceil(1000);
        let cache_control = HeaderValue::try_from(format!("max-age={keep_secs}"))
            // Digits and letters always make a valid value; the fallback would store nothing.
            .unwrap_or(HeaderValue::from_static("no-store"));
        [
            (header::CACHE_CONTROL, cache_control),
            (FRESH_UNTIL, HeaderValue::from(self.fresh_until_ms)),
            (USABLE_UNTIL, HeaderValue::from(self.usable_until_ms)),
        ]
    }

    /// The lifetime recorded on a copy the Cache API returned; `None` if the copy lacks the
    /// internal headers (not one this adapter stored).
    pub(crate) fn recorded(headers: &HeaderMap) -> Option<Self> {
        let millis = |name: &HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(Lifetime {
            fresh_until_ms: millis(&FRESH_UNTIL)?,
            usable_until_ms: millis(&USABLE_UNTIL)?,
        })
    }

    /// Where a copy with this lifetime stands at `now_ms`.
    pub(crate) fn state(&self, now_ms: u64) -> State {
        if now_ms < self.fresh_until_ms {
            State::Fresh
        } else if now_ms < self.usable_until_ms {
            State::Stale
        } else {
            State::Expired
        }
    }
}

/// A copy from the cache: always a 200 (nothing else is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Copy {
    /// The playlist.
    pub(crate) body: Bytes,
    /// Its recorded lifetime.
    pub(crate) lifetime: Lifetime,
}

/// What the origin did.
#[derive(Debug)]
pub(crate) enum Answer {
    /// It answered: status and (capped) body.
    Response(StatusCode, Bytes),
    /// It did not answer in time.
    Timeout,
    /// It could not be reached.
    Unreachable,
}

/// Where the playlist the core gets came from, for the access line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A fresh copy; the origin was not asked.
    Hit,
    /// The origin (with or without a stale copy in hand).
    Origin,
    /// A stale copy, because the origin failed.
    Stale,
}

impl Source {
    /// The access line's word for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Hit => "hit",
            Source::Origin => "miss",
            Source::Stale => "stale",
        }
    }
}

/// What the core gets from a cache lookup alone: a fresh copy, or `None` (ask the origin).
pub(crate) fn before_origin(copy: Option<&Copy>, now_ms: u64) -> Option<Fetched> {
    copy.filter(|c| c.lifetime.state(now_ms) == State::Fresh)
        .map(|c| Fetched::Response {
            status: StatusCode::OK,
            body: c.body.clone(),
            stale: false,
        })
}

/// What the core gets once the origin was asked: its answer, or the stale copy in hand when the
/// origin failed (5xx, timeout, unreachable; RFC 5861 §4) and the copy is still usable.
pub(crate) fn after_origin(copy: Option<Copy>, answer: Answer, now_ms: u64) -> (Fetched, Source) {
    let failed = match &answer {
        Answer::Response(status, _) => status.is_server_error(),
        Answer::Timeout | Answer::Unreachable => true,
    };
    if failed && let Some(copy) = copy.filter(|c| c.lifetime.state(now_ms) != State::Expired) {
        let fetched = Fetched::Response {
            status: StatusCode::OK,
            body: copy.body,
            stale: true,
        };
        return (fetched, Source::Stale);
    }
    let fetched = match answer {
        Answer::Response(status, body) => Fetched::Response {
            status,
            body,
            stale: false,
        },
        Answer::Timeout => Fetched::Timeout,
        Answer::Unreachable => Fetched::Unreachable,
    };
    (fetched, Source::Origin)
}

#[cfg(target_arch = "wasm32")]
mod api {
    //! The Cache API calls.

    use bytes::Bytes;
    use http::HeaderMap;
    use http::header::CONTENT_TYPE;
    use worker::Cache;

    use super::{Copy, Lifetime};
    use crate::convert;
    use crate::origin::read_up_to;

    /// The copy stored under `key`, if there is one this adapter stored; at most `cap` bytes of
    /// it. A cache that fails is a cache that missed.
    pub(crate) async fn lookup(key: &str, cap: usize) -> Option<Copy> {
        let mut response = Cache::default().get(key, false).await.ok()??;
        let lifetime = Lifetime::recorded(&convert::map(response.headers()))?;
        let body = read_up_to(response.stream().ok()?, cap).await.ok()?;
        Some(Copy { body, lifetime })
    }

    /// Stores a 200 playlist under `key` with its lifetime, as measured at `now_ms`, and the
    /// origin's content type.
    pub(crate) async fn store(
        key: String,
        body: Bytes,
        origin: HeaderMap,
        lifetime: Lifetime,
        now_ms: u64,
    ) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = origin.get(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        for (name, value) in lifetime.headers(now_ms) {
            headers.insert(name, value);
        }
        let response = convert::builder(200, &headers).fixed(body.to_vec());
        Cache::default()
            .put(key, response)
            .await
            .map_err(|error| format!("cache put: {error}"))
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use api::{lookup, store};

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600_000;

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn storable_of(list: &[(&str, &str)]) -> Storable {
        storable(&headers(list))
    }

    #[test]
    fn max_age_is_the_freshness_less_the_age_already_spent() {
        assert_eq!(
            storable_of(&[("cache-control", "public, max-age=6")]),
            Storable::Yes {
                fresh_secs: 6,
                stale_secs: 0,
                stale_ok: true
            }
        );
        assert_eq!(
            storable_of(&[("cache-control", "max-age=6"), ("age", "4")]),
            Storable::Yes {
                fresh_secs: 2,
                stale_secs: 0,
                stale_ok: true
            }
        );
        assert_eq!(
            storable_of(&[("cache-control", "max-age=6"), ("age", "60")]),
            Storable::Yes {
                fresh_secs: 0,
                stale_secs: 54,
                stale_ok: true
            }
        );
    }

    #[test]
    fn s_maxage_wins_for_a_shared_cache_and_forbids_stale_copies() {
        assert_eq!(
            storable_of(&[("cache-control", "max-age=60, s-maxage=2")]),
            Storable::Yes {
                fresh_secs: 2,
                stale_secs: 0,
                stale_ok: false
            }
        );
    }

    #[test]
    fn no_store_and_private_are_never_kept() {
        assert_eq!(
            storable_of(&[("cache-control", "max-age=60, no-store")]),
            Storable::No
        );
        assert_eq!(
            storable_of(&[("Cache-Control", "PRIVATE"), ("cache-control", "max-age=5")]),
            Storable::No
        );
    }

    #[test]
    fn revalidation_directives_make_copies_never_fresh_or_never_stale() {
        assert_eq!(
            storable_of(&[("cache-control", "no-cache, max-age=60")]),
            Storable::Yes {
                fresh_secs: 0,
                stale_secs: 0,
                stale_ok: false
            }
        );
        for directive in ["must-revalidate", "proxy-revalidate"] {
            assert_eq!(
                storable_of(&[("cache-control", &format!("max-age=3, {directive}"))]),
                Storable::Yes {
                    fresh_secs: 3,
                    stale_secs: 0,
                    stale_ok: false
                }
            );
        }
    }

    #[test]
    fn expires_counts_from_the_origins_date_and_a_bad_one_means_stale() {
        assert_eq!(
            storable_of(&[
                ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
                ("expires", "Thu, 01 Jan 2026 00:00:10 GMT"),
            ]),
            Storable::Yes {
                fresh_secs: 10,
                stale_secs: 0,
                stale_ok: true
            }
        );
        assert_eq!(
            storable_of(&[("date", "Thu, 01 Jan 2026 00:00:00 GMT"), ("expires", "0"),]),
            Storable::Yes {
                fresh_secs: 0,
                stale_secs: 0,
                stale_ok: true
            }
        );
        // max-age overrides Expires (RFC 9111 §5.3).
        assert_eq!(
            storable_of(&[
                ("cache-control", "max-age=1"),
                ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
                ("expires", "Thu, 01 Jan 2026 01:00:00 GMT"),
            ]),
            Storable::Yes {
                fresh_secs: 1,
                stale_secs: 0,
                stale_ok: true
            }
        );
    }

    #[test]
    fn without_freshness_information_a_copy_is_stale_from_the_start() {
        assert_eq!(
            storable_of(&[]),
            Storable::Yes {
                fresh_secs: 0,
                stale_secs: 0,
                stale_ok: true
            }
        );
        assert_eq!(
            storable_of(&[("cache-control", "max-age=soon")]),
            Storable::Yes {
                fresh_secs: 0,
                stale_secs: 0,
                stale_ok: true
            }
        );
    }

    #[test]
    fn a_copy_lives_for_its_freshness_plus_the_stale_window() {
        let lifetime = |list: &[(&str, &str)], stale| {
            Lifetime::of(StatusCode::OK, 100, 1000, &headers(list), stale, NOW)
        };
        let both = lifetime(&[("cache-control", "max-age=2")], 30).unwrap();
        assert_eq!(both.fresh_until_ms, NOW + 2_000);
        assert_eq!(both.usable_until_ms, NOW + 32_000);
        assert_eq!(both.state(NOW), State::Fresh);
        assert_eq!(both.state(NOW + 2_000), State::Stale);
        assert_eq!(both.state(NOW + 32_000), State::Expired);
        // Stale copies forbidden: kept for its freshness only.
        let fresh_only = lifetime(&[("cache-control", "max-age=2, must-revalidate")], 30);
        assert_eq!(fresh_only.unwrap().usable_until_ms, NOW + 2_000);
        // No freshness, but a stale window: kept for errors only.
        let errors_only = lifetime(&[], 30).unwrap();
        assert_eq!(errors_only.state(NOW), State::Stale);
        // Already stale on arrival (an `Age` past `max-age`): the window counts from then.
        let overdue = lifetime(&[("cache-control", "max-age=2"), ("age", "12")], 30).unwrap();
        assert_eq!(overdue.fresh_until_ms, NOW);
        assert_eq!(overdue.usable_until_ms, NOW + 20_000);
        assert_eq!(
            lifetime(&[("cache-control", "max-age=2"), ("age", "40")], 30),
            None
        );
        // Nothing to keep.
        assert_eq!(lifetime(&[], 0), None);
        assert_eq!(lifetime(&[("cache-control", "no-store")], 30), None);
    }

    #[test]
    fn only_whole_playlists_of_200_responses_are_kept() {
        let map = headers(&[("cache-control", "max-age=2")]);
        let of = |status, len| Lifetime::of(status, len, 1000, &map, 30, NOW);
        assert!(of(StatusCode::OK, 1000).is_some());
        assert!(of(StatusCode::OK, 1001).is_none());
        assert!(of(StatusCode::NOT_FOUND, 10).is_none());
        assert!(of(StatusCode::PARTIAL_CONTENT, 10).is_none());
        assert!(of(StatusCode::SERVICE_UNAVAILABLE, 10).is_none());
    }

    #[test]
    fn the_recorded_lifetime_round_trips_and_tells_the_cache_api_when_to_drop_it() {
        let lifetime = Lifetime {
            fresh_until_ms: NOW + 2_000,
            usable_until_ms: NOW + 31_500,
        };
        let mut map = HeaderMap::new();
        for (name, value) in lifetime.headers(NOW) {
            map.insert(name, value);
        }
        assert_eq!(map["cache-control"], "max-age=32");
        assert_eq!(Lifetime::recorded(&map), Some(lifetime));
        assert_eq!(
            Lifetime::recorded(&headers(&[("cache-control", "x")])),
            None
        );
    }

    fn copy(fresh_for: u64, usable_for: u64) -> Copy {
        Copy {
            body: Bytes::from_static(b"#EXTM3U\n"),
            lifetime: Lifetime {
                fresh_until_ms: NOW + fresh_for,
                usable_until_ms: NOW + usable_for,
            },
        }
    }

    fn is_stale_copy(fetched: &Fetched) -> bool {
        matches!(fetched, Fetched::Response { status, body, stale: true }
            if *status == StatusCode::OK && body.as_ref() == b"#EXTM3U\n")
    }

    #[test]
    fn a_fresh_copy_is_served_without_the_origin_and_a_stale_one_is_not() {
        let fresh = before_origin(Some(&copy(1_000, 30_000)), NOW);
        assert!(matches!(
            fresh,
            Some(Fetched::Response { stale: false, .. })
        ));
        assert!(before_origin(Some(&copy(0, 30_000)), NOW).is_none());
        assert!(before_origin(None, NOW).is_none());
    }

    #[test]
    fn a_failing_origin_gets_the_stale_copy_within_its_window() {
        for answer in [
            || Answer::Timeout,
            || Answer::Unreachable,
            || Answer::Response(StatusCode::BAD_GATEWAY, Bytes::from_static(b"<html>")),
        ] {
            let (fetched, source) = after_origin(Some(copy(0, 30_000)), answer(), NOW);
            assert!(is_stale_copy(&fetched), "{fetched:?}");
            assert_eq!(source, Source::Stale);
            // Past the window: the failure itself.
            let (fetched, source) = after_origin(Some(copy(0, 30_000)), answer(), NOW + 30_000);
            assert!(!is_stale_copy(&fetched), "{fetched:?}");
            assert_eq!(source, Source::Origin);
        }
        let (fetched, _) = after_origin(None, Answer::Timeout, NOW);
        assert!(matches!(fetched, Fetched::Timeout));
        let (fetched, _) = after_origin(None, Answer::Unreachable, NOW);
        assert!(matches!(fetched, Fetched::Unreachable));
    }

    #[test]
    fn an_origin_answer_that_is_not_a_server_error_wins_over_any_copy() {
        let new = Bytes::from_static(b"#EXTM3U\n#EXT-X-VERSION:9\n");
        let (fetched, source) = after_origin(
            Some(copy(0, 30_000)),
            Answer::Response(StatusCode::OK, new.clone()),
            NOW,
        );
        assert!(matches!(fetched, Fetched::Response { body, stale: false, .. } if body == new));
        assert_eq!(source, Source::Origin);
        // A 404 is the origin's word: the event's playlist is gone, not broken.
        let (fetched, _) = after_origin(
            Some(copy(0, 30_000)),
            Answer::Response(StatusCode::NOT_FOUND, Bytes::new()),
            NOW,
        );
        assert!(
            matches!(fetched, Fetched::Response { status, stale: false, .. } if status == StatusCode::NOT_FOUND)
        );
    }
}
