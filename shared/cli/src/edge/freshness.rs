//! The arithmetic of a shared HTTP cache: which responses may be stored, how long a stored one
//! stays fresh, how old it is, and whether it may stand in for an origin that failed.
//!
//! Everything here is a pure function of header fields and times (Unix milliseconds), so it is
//! tested without a clock or a socket; [`super::cache`] does the storing and the I/O.
//!
//! The rules are RFC 9111's for a *shared* cache (§3 storing, §4.2 freshness, §5.2 directives)
//! and RFC 5861's `stale-if-error`. Where the RFCs leave the cache a choice, this one takes the
//! conservative side and says so: no heuristic freshness (a response without explicit freshness
//! is stale at once, and is stored only so it can stand in on origin errors), and responses
//! with `no-cache`, `Set-Cookie` or `Vary: *` are not stored at all.

use std::time::UNIX_EPOCH;

use hyper::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, HeaderMap, SET_COOKIE, VARY};
use hyper::{Method, StatusCode};

/// The `Cache-Control` directives this cache acts on (RFC 9111 §5.2, RFC 5861 §4), from a
/// request or a response. Unknown directives are ignored (§5.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheControl {
    /// `no-store`: never store.
    pub(crate) no_store: bool,
    /// `no-cache`: in a response, never use without revalidation (this cache does not store
    /// it); in a request, do not answer from the cache.
    pub(crate) no_cache: bool,
    /// `private`: for one user only, never in a shared cache.
    pub(crate) private: bool,
    /// `public`: storable even where it otherwise would not be.
    pub(crate) public: bool,
    /// `must-revalidate`, `proxy-revalidate`, or `s-maxage` (which implies `proxy-revalidate`,
    /// §5.2.2.10): never served stale.
    pub(crate) revalidate: bool,
    /// `max-age`, seconds.
    pub(crate) max_age: Option<u64>,
    /// `s-maxage`, seconds: for shared caches, overrides `max-age`.
    pub(crate) s_maxage: Option<u64>,
    /// `stale-if-error`, seconds (RFC 5861 §4).
    pub(crate) stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field line. Directive names are case-insensitive; the first
    /// occurrence of a directive wins (§4.2.1). A delta-seconds value that does not parse is
    /// taken as 0, the stale side (§1.2.2), except for `stale-if-error`, which then allows
    /// nothing.
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut cc = CacheControl::default();
        let directives = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(split_list);
        for directive in directives {
            let (name, value) = match directive.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = || Some(value.and_then(delta_seconds).unwrap_or(0));
            match name.to_ascii_lowercase().as_str() {
                "no-store" => cc.no_store = true,
                // The qualified form (`no-cache="set-cookie"`) is treated as the plain one.
                "no-cache" => cc.no_cache = true,
                "private" => cc.private = true,
                "public" => cc.public = true,
                "must-revalidate" | "proxy-revalidate" => cc.revalidate = true,
                "max-age" if cc.max_age.is_none() => cc.max_age = seconds(),
                "s-maxage" if cc.s_maxage.is_none() => {
                    cc.s_maxage = seconds();
                    cc.revalidate = true;
                }
                "stale-if-error" if cc.stale_if_error.is_none() => {
                    cc.stale_if_error = value.and_then(delta_seconds);
                }
                _ => {}
            }
        }
        cc
    }
}

/// The elements of a comma-separated list (RFC 9110 §5.6.1), commas inside quoted strings
/// kept.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    value
        .split(move |c| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ',' && !quoted
        })
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

/// `delta-seconds` (RFC 9111 §1.2.2): digits only; too large a number is the largest one.
fn delta_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse().unwrap_or(u64::MAX))
}

/// An HTTP-date (RFC 9110 §5.6.7, all three formats) as Unix milliseconds.
pub(crate) fn http_date_ms(value: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(value.trim()).ok()?;
    let since = time.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

fn header_date_ms(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(http_date_ms)
}

/// Status codes a cache may store without explicit freshness (RFC 9110 §15.1).
const HEURISTICALLY_CACHEABLE: [u16; 12] =
    [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// Whether a response to a GET may be stored by this shared cache (RFC 9111 §3), given the
/// request's and the response's directives.
pub(crate) fn storable(
    method: &Method,
    status: StatusCode,
    request: &CacheControl,
    response: &CacheControl,
    headers: &HeaderMap,
) -> bool {
    let explicit = response.max_age.is_some()
        || response.s_maxage.is_some()
        || headers.contains_key(EXPIRES)
        || response.public;
    let vary_any = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_list)
        .any(|name| name == "*");
    *method == Method::GET
        // Partial content needs range bookkeeping this cache does not do.
        && status != StatusCode::PARTIAL_CONTENT
        && (explicit || HEURISTICALLY_CACHEABLE.contains(&status.as_u16()))
        && !request.no_store
        && !response.no_store
        && !response.private
        && !response.no_cache
        // A cookie is meant for one client; keeping it for everyone is never the intent.
        && !headers.contains_key(SET_COOKIE)
        && !vary_any
}

/// How fresh a stored response is: its freshness lifetime (RFC 9111 §4.2.1) and what its age
/// (§4.2.3) is made of. All in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// How long the response stays fresh, counted from its generation at the origin.
    pub(crate) lifetime_ms: u64,
    /// Its age when it arrived: the larger of the apparent age (`Date` against the clock) and
    /// the origin's `Age` plus the time the exchange took.
    pub(crate) initial_age_ms: u64,
    /// When it arrived.
    pub(crate) response_time_ms: u64,
}

impl Freshness {
    /// The freshness of a response whose request went out at `request_time_ms` and whose head
    /// arrived at `response_time_ms`.
    pub(crate) fn of(
        headers: &HeaderMap,
        cc: &CacheControl,
        request_time_ms: u64,
        response_time_ms: u64,
    ) -> Self {
        // §4.2.1: a shared cache prefers s-maxage, then max-age, then Expires - Date. A missing
        // Date counts as the time the response arrived; an Expires that does not parse means
        // already expired. No heuristic: without explicit freshness, lifetime 0.
        let date_ms = header_date_ms(headers, DATE);
        let lifetime_ms = match (cc.s_maxage.or(cc.max_age), headers.get(EXPIRES)) {
            (Some(secs), _) => secs.saturating_mul(1000),
            (None, Some(expires)) => expires
                .to_str()
                .ok()
                .and_then(http_date_ms)
                .map_or(0, |expires| {
                    expires.saturating_sub(date_ms.unwrap_or(response_time_ms))
                }),
            (None, None) => 0,
        };
        // §4.2.3.
        let age_value_ms = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(delta_seconds)
            .unwrap_or(0)
            .saturating_mul(1000);
        let apparent_age_ms = date_ms.map_or(0, |date| response_time_ms.saturating_sub(date));
        let response_delay_ms = response_time_ms.saturating_sub(request_time_ms);
        let corrected_age_value_ms = age_value_ms.saturating_add(response_delay_ms);
        Freshness {
            lifetime_ms,
            initial_age_ms: apparent_age_ms.max(corrected_age_value_ms),
            response_time_ms,
        }
    }

    /// The response's current age at `now_ms` (§4.2.3): its age on arrival plus the time it has
    /// been here.
    pub(crate) fn age_ms(&self, now_ms: u64) -> u64 {
        self.initial_age_ms
            .saturating_add(now_ms.saturating_sub(self.response_time_ms))
    }

    /// Whether it is fresh at `now_ms`: its lifetime exceeds its age (§4.2).
    pub(crate) fn is_fresh(&self, now_ms: u64) -> bool {
        self.lifetime_ms > self.age_ms(now_ms)
    }

    /// How long it has been stale at `now_ms`; 0 while fresh.
    pub(crate) fn staleness_ms(&self, now_ms: u64) -> u64 {
        self.age_ms(now_ms).saturating_sub(self.lifetime_ms)
    }

    /// The `Age` field value to send with it at `now_ms` (§5.1), whole seconds.
    pub(crate) fn age_secs(&self, now_ms: u64) -> u64 {
        self.age_ms(now_ms) / 1000
    }
}

/// Whether a stored response may answer a request whose own directives are `request` at
/// `now_ms`: it is fresh, and the request neither refuses cached answers (`no-cache`) nor asks
/// for a younger one (`max-age`, §5.2.1.1).
pub(crate) fn usable(freshness: &Freshness, request: &CacheControl, now_ms: u64) -> bool {
    let young_enough = request
        .max_age
        .is_none_or(|max| freshness.age_ms(now_ms) <= max.saturating_mul(1000));
    !request.no_cache && young_enough && freshness.is_fresh(now_ms)
}

/// Whether a stored response may stand in for an origin that failed (RFC 5861 §4): the
/// requester's `stale-if-error` window, else the response's own, covers how long it has been
/// stale, and the response does not forbid being served stale (§4.2.4).
pub(crate) fn usable_on_error(
    freshness: &Freshness,
    stored: &CacheControl,
    request: &CacheControl,
    now_ms: u64,
) -> bool {
    let Some(window) = request.stale_if_error.or(stored.stale_if_error) else {
        return false;
    };
    !stored.revalidate && freshness.staleness_ms(now_ms) <= window.saturating_mul(1000)
}

/// An origin answer that counts as an error for `stale-if-error` (RFC 5861 §4).
pub(crate) fn is_error_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    /// 2026-01-01T00:00:00Z.
    const T0: u64 = 1_767_225_600_000;
    const T0_DATE: &str = "Thu, 01 Jan 2026 00:00:00 GMT";

    fn headers(fields: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn cc(value: &str) -> CacheControl {
        CacheControl::parse(&headers(&[("cache-control", value)]))
    }

    #[test]
    fn directives_are_parsed_case_insensitively_and_the_first_one_wins() {
        let parsed = CacheControl::parse(&headers(&[
            ("cache-control", "Public, MAX-AGE=2, stale-if-error=\"30\""),
            ("cache-control", "max-age=600, x-ext=\"a,b\", no-store"),
        ]));
        assert_eq!(parsed.max_age, Some(2));
        assert_eq!(parsed.stale_if_error, Some(30));
        assert!(parsed.public && parsed.no_store);
        assert!(!parsed.private && !parsed.no_cache && !parsed.revalidate);
    }

    #[test]
    fn an_unparseable_max_age_means_stale_and_s_maxage_forbids_serving_stale() {
        assert_eq!(cc("max-age=soon").max_age, Some(0));
        assert_eq!(cc("max-age=-1").max_age, Some(0));
        assert_eq!(cc("stale-if-error=x").stale_if_error, None);
        let shared = cc("max-age=60, s-maxage=5");
        assert_eq!(shared.s_maxage, Some(5));
        assert!(shared.revalidate);
        assert_eq!(
            cc("max-age=99999999999999999999999").max_age,
            Some(u64::MAX)
        );
    }

    #[test]
    fn s_maxage_beats_max_age_which_beats_expires() {
        let h = headers(&[
            ("date", T0_DATE),
            ("expires", "Thu, 01 Jan 2026 00:01:00 GMT"),
        ]);
        let lifetime = |value: &str| Freshness::of(&h, &cc(value), T0, T0).lifetime_ms;
        assert_eq!(lifetime("max-age=10, s-maxage=3"), 3_000);
        assert_eq!(lifetime("max-age=10"), 10_000);
        assert_eq!(lifetime(""), 60_000);
    }

    #[test]
    fn expires_counts_from_date_and_a_bad_one_is_already_expired() {
        // The origin's clock is an hour ahead: Expires - Date still gives 30 s.
        let h = headers(&[
            ("date", "Thu, 01 Jan 2026 01:00:00 GMT"),
            ("expires", "Thu, 01 Jan 2026 01:00:30 GMT"),
        ]);
        assert_eq!(Freshness::of(&h, &cc(""), T0, T0).lifetime_ms, 30_000);
        // Without Date, from the time it arrived; in the RFC 850 format too.
        let h = headers(&[("expires", "Thursday, 01-Jan-26 00:00:20 GMT")]);
        assert_eq!(Freshness::of(&h, &cc(""), T0, T0).lifetime_ms, 20_000);
        let h = headers(&[("date", T0_DATE), ("expires", "0")]);
        let f = Freshness::of(&h, &cc(""), T0, T0);
        assert_eq!(f.lifetime_ms, 0);
        assert!(!f.is_fresh(T0));
    }

    #[test]
    fn without_explicit_freshness_a_response_is_stale_at_once() {
        let f = Freshness::of(&headers(&[("date", T0_DATE)]), &cc(""), T0, T0);
        assert_eq!(f.lifetime_ms, 0);
        assert!(!f.is_fresh(T0));
    }

    #[test]
    fn age_adds_the_origins_age_the_exchange_and_the_time_stored() {
        // Sent at T0, head back 400 ms later, the origin says it is 5 s old.
        let h = headers(&[("date", T0_DATE), ("age", "5")]);
        let f = Freshness::of(&h, &cc("max-age=10"), T0, T0 + 400);
        assert_eq!(f.initial_age_ms, 5_400);
        assert_eq!(f.age_ms(T0 + 400), 5_400);
        assert_eq!(f.age_ms(T0 + 2_400), 7_400);
        assert_eq!(f.age_secs(T0 + 2_400), 7);
        assert!(f.is_fresh(T0 + 4_999));
        assert!(
            !f.is_fresh(T0 + 5_000),
            "10 s of life, 5.4 s used on arrival"
        );
        assert_eq!(f.staleness_ms(T0 + 6_000), 1_000);
        assert_eq!(f.staleness_ms(T0 + 1_000), 0);
    }

    #[test]
    fn a_date_in_the_past_makes_the_apparent_age() {
        // The origin's Date is 3 s before the response arrived, and no Age: apparent age 3 s.
        let h = headers(&[("date", T0_DATE)]);
        let f = Freshness::of(&h, &cc("max-age=10"), T0 + 2_900, T0 + 3_000);
        assert_eq!(f.initial_age_ms, 3_000);
        // A Date in the future (a fast origin clock) is no negative age.
        let f = Freshness::of(&h, &cc("max-age=10"), T0 - 5_000, T0 - 5_000);
        assert_eq!(f.initial_age_ms, 0);
        // An invalid Age is ignored.
        let h = headers(&[("age", "-3")]);
        assert_eq!(
            Freshness::of(&h, &cc(""), T0, T0).initial_age_ms,
            0,
            "no Date, no valid Age"
        );
    }

    #[test]
    fn a_request_can_refuse_cached_or_old_answers() {
        let f = Freshness::of(&headers(&[]), &cc("max-age=60"), T0, T0);
        assert!(usable(&f, &cc(""), T0 + 10_000));
        assert!(!usable(&f, &cc("no-cache"), T0 + 10_000));
        assert!(!usable(&f, &cc("max-age=5"), T0 + 10_000));
        assert!(usable(&f, &cc("max-age=10"), T0 + 10_000));
        assert!(!usable(&f, &cc(""), T0 + 60_000));
    }

    #[test]
    fn stale_if_error_allows_a_window_after_expiry_and_revalidation_forbids_it() {
        let stored = cc("max-age=2");
        let f = Freshness::of(&headers(&[]), &stored, T0, T0);
        let asked = cc("stale-if-error=30");
        assert!(usable_on_error(&f, &stored, &asked, T0 + 32_000));
        assert!(!usable_on_error(&f, &stored, &asked, T0 + 32_001));
        // Nobody allowed it.
        assert!(!usable_on_error(&f, &stored, &cc(""), T0 + 3_000));
        // The origin's own window when the request gives none; the request's when it does.
        let generous = cc("max-age=2, stale-if-error=100");
        assert!(usable_on_error(&f, &generous, &cc(""), T0 + 50_000));
        assert!(!usable_on_error(&f, &generous, &asked, T0 + 50_000));
        for strict in [
            "max-age=2, must-revalidate",
            "s-maxage=2",
            "proxy-revalidate",
        ] {
            assert!(
                !usable_on_error(&f, &cc(strict), &asked, T0 + 3_000),
                "{strict}"
            );
        }
    }

    #[test]
    fn only_shareable_final_answers_to_gets_are_stored() {
        let none = HeaderMap::new();
        let ok = |resp: &str| storable(&Method::GET, StatusCode::OK, &cc(""), &cc(resp), &none);
        assert!(ok("max-age=2"));
        assert!(
            ok(""),
            "200 is heuristically cacheable: kept for stale-if-error"
        );
        for refused in ["no-store", "private", "no-cache", "max-age=5, private"] {
            assert!(!ok(refused), "{refused}");
        }
        assert!(!storable(
            &Method::GET,
            StatusCode::OK,
            &cc("no-store"),
            &cc("max-age=5"),
            &none
        ));
        assert!(!storable(
            &Method::HEAD,
            StatusCode::OK,
            &cc(""),
            &cc("max-age=5"),
            &none
        ));
        let status = |code: u16, resp: &str| {
            storable(
                &Method::GET,
                StatusCode::from_u16(code).unwrap(),
                &cc(""),
                &cc(resp),
                &none,
            )
        };
        assert!(status(404, ""));
        assert!(!status(503, ""), "5xx only with explicit freshness");
        assert!(status(503, "max-age=1"));
        assert!(!status(206, "max-age=60"));
        let cookie = headers(&[("set-cookie", "a=b")]);
        assert!(!storable(
            &Method::GET,
            StatusCode::OK,
            &cc(""),
            &cc("max-age=5"),
            &cookie
        ));
        let vary = headers(&[("vary", "accept-encoding, *")]);
        assert!(!storable(
            &Method::GET,
            StatusCode::OK,
            &cc(""),
            &cc("max-age=5"),
            &vary
        ));
    }

    #[test]
    fn origin_errors_are_the_four_of_rfc_5861() {
        for code in [500, 502, 503, 504] {
            assert!(is_error_status(StatusCode::from_u16(code).unwrap()));
        }
        for code in [200, 404, 429, 501] {
            assert!(!is_error_status(StatusCode::from_u16(code).unwrap()));
        }
    }
}
