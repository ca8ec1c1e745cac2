//! The playlist cache's policy: how long an origin playlist stays fresh, what a cache entry
//! records besides its body, and when a stale copy stands in for the origin.
//!
//! Playlists go through Fastly's Core Cache API (`playlist` does the I/O) as two entries per
//! resource, both keyed by the core's `Upstream::cache_key`:
//!
//! - the **current** entry, fresh for as long as the origin's headers say ([`Freshness`]) and
//!   never served past that. Concurrent misses collapse onto one origin request (the Core
//!   Cache's request collapsing), so a kickoff crowd asks the origin once per playlist update
//!   per POP, not once per viewer;
//! - the **last good** copy, a 2xx playlist kept for `freshness + stale_if_error_secs`, read
//!   only when the origin fails: a 5xx, a timeout or an unreachable origin (RFC 5861 §4). The
//!   copy is then served with `stale: true` (reason `stale_on_origin_error`) and put into the
//!   current entry for [`ERROR_HOLD`], so the viewers waiting on the failed request and those
//!   arriving in the next second get it at once instead of each waiting out the origin. A
//!   failure with no usable copy is held the same way, for the same reason.
//!
//! Key decision: two entries, not one entry with `stale-while-revalidate`. The Core Cache's only
//! stale window is stale-while-revalidate, which hands the stale copy to every concurrent viewer
//! while one revalidates, origin healthy or not: for a live playlist that is a needlessly old
//! playlist, and it would be reported as an origin failure that did not happen. Keeping the
//! window for errors in a second entry serves stale copies only when the origin failed, which
//! is what `stale_if_error_secs` promises.
//!
//! Freshness follows RFC 9111 §4.2.1 with Fastly's precedence: `Surrogate-Control: max-age`,
//! then `Cache-Control: s-maxage`, `max-age`, then `Expires` − `Date`; `no-store` and `private`
//! are never stored (§5.2.2.5, §5.2.2.7); `no-cache` means fresh for no time (§5.2.2.4). There is
//! no heuristic freshness (§4.2.2): a live playlist without explicit freshness is fetched every
//! time, rather than guessed at.

use std::time::Duration;

use http::StatusCode;
use http::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, HeaderMap, HeaderName};

/// How long a failure, or the stale copy that stood in for the origin, is held in the current
/// entry: long enough that a crowd does not queue behind one failing origin request after
/// another, short enough that recovery is seen within a second.
pub(crate) const ERROR_HOLD: Duration = Duration::from_secs(1);

/// How long a request waits on another request's origin fetch of the same playlist before it
/// fetches the playlist itself. Longer than an LL-HLS blocking reload is held (about three part
/// durations), shorter than a viewer's patience.
pub(crate) const COLLAPSE_WAIT: Duration = Duration::from_secs(15);

/// Fastly's CDN-only caching header: it takes precedence over `Cache-Control` in Fastly's cache.
const SURROGATE_CONTROL: &str = "surrogate-control";

/// The two entries a playlist has in the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The copy served while fresh, or a held failure.
    Current,
    /// The last 2xx copy, for when the origin fails.
    LastGood,
}

/// The Core Cache key of a playlist's `slot`. Versioned, so that a change of what an entry holds
/// never reads an older format.
pub(crate) fn key(slot: Slot, cache_key: &str) -> Vec<u8> {
    let prefix: &[u8] = match slot {
        Slot::Current => b"usher/playlist/v1 ",
        Slot::LastGood => b"usher/playlist-last-good/v1 ",
    };
    [prefix, cache_key.as_bytes()].concat()
}

/// How long a response stays fresh, and how old it already is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// The freshness lifetime (RFC 9111 §4.2.1).
    pub(crate) lifetime: Duration,
    /// Its age when it arrived (`Age`, RFC 9111 §5.1).
    pub(crate) age: Duration,
}

impl Freshness {
    /// The freshness of a response with `headers`, received at `now_secs` (Unix seconds); `None`
    /// when a shared cache must not store it.
    pub(crate) fn of(headers: &HeaderMap, now_secs: u64) -> Option<Freshness> {
        let surrogate = directives(headers, SURROGATE_CONTROL);
        let control = directives(headers, CACHE_CONTROL.as_str());
        let has =
            |list: &[(String, Option<String>)], name: &str| list.iter().any(|(n, _)| n == name);
        let seconds = |list: &[(String, Option<String>)], name: &str| {
            list.iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.as_deref())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if has(&surrogate, "no-store") {
            return None;
        }
        let lifetime = match seconds(&surrogate, "max-age") {
            Some(secs) => secs,
            None if has(&control, "no-store") || has(&control, "private") => return None,
            None if has(&control, "no-cache") => 0,
            None => seconds(&control, "s-maxage")
                .or_else(|| seconds(&control, "max-age"))
                .or_else(|| {
                    // An Expires that is not a valid date means "already expired" (§5.3).
                    let expires = header_text(headers, &EXPIRES)?;
                    let date = header_text(headers, &DATE)
                        .and_then(http_date)
                        .unwrap_or(now_secs);
                    Some(http_date(expires).map_or(0, |at| at.saturating_sub(date)))
                })
                .unwrap_or(0),
        };
        let age = header_text(headers, &AGE)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Some(Freshness {
            lifetime: Duration::from_secs(lifetime),
            age: Duration::from_secs(age),
        })
    }
}

/// Whether an origin status is a failure a stale copy may stand in for: the statuses RFC 5861 §4
/// names for `stale-if-error` (500, 502, 503, 504), and any other 5xx.
pub(crate) fn is_failure(status: StatusCode) -> bool {
    status.is_server_error()
}

/// What a cache entry records besides its body, in the entry's user metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The origin's answer: its status, and whether this is a stale copy standing in for it.
    Response {
        /// The origin's status.
        status: StatusCode,
        /// A stale copy held after the origin failed.
        stale: bool,
    },
    /// A held timeout (the body is empty).
    Timeout,
    /// A held unreachable origin (the body is empty).
    Unreachable,
}

impl Entry {
    /// The metadata bytes.
    pub(crate) fn encode(self) -> Vec<u8> {
        match self {
            Entry::Response { status, stale } => {
                let stale = if stale { " stale" } else { "" };
                format!("{}{stale}", status.as_u16()).into_bytes()
            }
            Entry::Timeout => b"timeout".to_vec(),
            Entry::Unreachable => b"unreachable".to_vec(),
        }
    }

    /// The entry the metadata describes; `None` for anything this version did not write, which
    /// the caller treats as a miss.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
        let text = std::str::from_utf8(bytes).ok()?;
        match text {
            "timeout" => return Some(Entry::Timeout),
            "unreachable" => return Some(Entry::Unreachable),
            _ => {}
        }
        let (status, stale) = match text.split_once(' ') {
            Some((status, "stale")) => (status, true),
            Some(_) => return None,
            None => (text, false),
        };
        let status = status.parse::<u16>().ok()?;
        Some(Entry::Response {
            status: StatusCode::from_u16(status).ok()?,
            stale,
        })
    }
}

/// The directives of a `Cache-Control`-style header (RFC 9111 §5.2), names lowercased, quoted
/// values unquoted. Every field line counts.
fn directives(headers: &HeaderMap, name: &str) -> Vec<(String, Option<String>)> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|directive| {
            let directive = directive.trim();
            if directive.is_empty() {
                return None;
            }
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n, Some(v.trim().trim_matches('"').to_owned())),
                None => (directive, None),
            };
            Some((name.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

fn header_text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), as Unix seconds. The
/// obsolete formats are not accepted: senders must not generate them, and an unreadable date
/// only makes a playlist expire early.
fn http_date(text: &str) -> Option<u64> {
    let text = text.trim();
    let (_weekday, rest) = text.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next().filter(|d| d.len() == 2)?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let mut unit = |max: u64| {
        clock
            .next()
            .filter(|c| c.len() == 2)
            .and_then(|c| c.parse::<u64>().ok())
            .filter(|&n| n <= max)
    };
    let (hour, minute, second) = (unit(23)?, unit(59)?, unit(60)?);
    if parts.next()? != "GMT" || parts.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::try_from(hour * 3600 + minute * 60 + second).ok()?;
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

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

    fn lifetime(list: &[(&str, &str)]) -> Option<u64> {
        Freshness::of(&headers(list), NOW).map(|f| f.lifetime.as_secs())
    }

    #[test]
    fn freshness_follows_fastlys_precedence_over_the_http_headers() {
        assert_eq!(lifetime(&[("cache-control", "max-age=2")]), Some(2));
        assert_eq!(
            lifetime(&[("cache-control", "max-age=2, s-maxage=1")]),
            Some(1)
        );
        assert_eq!(
            lifetime(&[
                ("cache-control", "max-age=2"),
                ("surrogate-control", "max-age=6")
            ]),
            Some(6)
        );
        // Surrogate-Control speaks for the CDN, so it outranks a Cache-Control meant for browsers.
        assert_eq!(
            lifetime(&[
                ("cache-control", "private, no-store"),
                ("surrogate-control", "max-age=3")
            ]),
            Some(3)
        );
        assert_eq!(lifetime(&[("Cache-Control", "MAX-AGE=\"4\"")]), Some(4));
        assert_eq!(
            lifetime(&[("cache-control", "public"), ("cache-control", "max-age=5")]),
            Some(5)
        );
    }

    #[test]
    fn no_store_and_private_are_never_stored_and_no_cache_is_never_fresh() {
        assert_eq!(lifetime(&[("cache-control", "no-store, max-age=60")]), None);
        assert_eq!(lifetime(&[("cache-control", "private, max-age=60")]), None);
        assert_eq!(lifetime(&[("surrogate-control", "no-store")]), None);
        assert_eq!(
            lifetime(&[("cache-control", "no-cache, max-age=60")]),
            Some(0)
        );
    }

    #[test]
    fn without_explicit_freshness_a_playlist_is_not_fresh_at_all() {
        assert_eq!(lifetime(&[]), Some(0));
        assert_eq!(
            lifetime(&[("last-modified", "Thu, 01 Jan 2026 00:00:00 GMT")]),
            Some(0)
        );
        assert_eq!(lifetime(&[("cache-control", "max-age=soon")]), Some(0));
    }

    #[test]
    fn expires_counts_from_the_origins_date_or_else_from_now() {
        let with_date = [
            ("date", "Wed, 31 Dec 2025 23:00:00 GMT"),
            ("expires", "Wed, 31 Dec 2025 23:00:04 GMT"),
        ];
        assert_eq!(lifetime(&with_date), Some(4));
        assert_eq!(
            lifetime(&[("expires", "Thu, 01 Jan 2026 00:00:09 GMT")]),
            Some(9)
        );
        assert_eq!(lifetime(&[("expires", "0")]), Some(0));
        assert_eq!(
            lifetime(&[("expires", "Wed, 31 Dec 2025 23:59:00 GMT")]),
            Some(0)
        );
        let both = [
            ("cache-control", "max-age=1"),
            ("expires", "Thu, 01 Jan 2026 01:00:00 GMT"),
        ];
        assert_eq!(lifetime(&both), Some(1));
    }

    #[test]
    fn the_age_header_is_the_copys_initial_age() {
        let fresh = Freshness::of(
            &headers(&[("cache-control", "max-age=6"), ("age", "2")]),
            NOW,
        );
        assert_eq!(fresh.unwrap().age, Duration::from_secs(2));
        let bad = Freshness::of(&headers(&[("age", "-1")]), NOW);
        assert_eq!(bad.unwrap().age, Duration::ZERO);
    }

    #[test]
    fn imf_fixdates_parse_and_other_dates_do_not() {
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("Thu, 01 Jan 2026 00:00:00 GMT"), Some(NOW));
        assert_eq!(
            http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "",
        ] {
            assert_eq!(http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn entries_round_trip_through_their_metadata() {
        for entry in [
            Entry::Response {
                status: StatusCode::OK,
                stale: false,
            },
            Entry::Response {
                status: StatusCode::NOT_FOUND,
                stale: false,
            },
            Entry::Response {
                status: StatusCode::OK,
                stale: true,
            },
            Entry::Timeout,
            Entry::Unreachable,
        ] {
            assert_eq!(Entry::decode(&entry.encode()), Some(entry));
        }
        assert_eq!(
            Entry::Response {
                status: StatusCode::OK,
                stale: true
            }
            .encode(),
            b"200 stale"
        );
        for unknown in [&b""[..], b"ok", b"200 fresh", b"99", b"\xff"] {
            assert_eq!(Entry::decode(unknown), None);
        }
    }

    #[test]
    fn the_two_slots_never_share_a_key() {
        let url = "http://127.0.0.1:18080/live/final-2026/master.m3u8";
        assert_ne!(key(Slot::Current, url), key(Slot::LastGood, url));
        assert!(key(Slot::Current, url).ends_with(url.as_bytes()));
    }

    #[test]
    fn only_server_errors_let_a_stale_copy_stand_in() {
        assert!(is_failure(StatusCode::BAD_GATEWAY));
        assert!(is_failure(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!is_failure(StatusCode::NOT_FOUND));
        assert!(!is_failure(StatusCode::OK));
    }
}
