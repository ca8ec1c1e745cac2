//! The key-value store `usher edge serve` gives the component for its stream leases, in memory,
//! behind a tiny HTTP API (the `wasi:http/proxy` world has no key-value interface, so the
//! component reaches its store over `wasi:http/outgoing-handler`).
//!
//! The API, below the store's base URL (the component's `USHER_STORE_URL`); any service that
//! speaks it can stand in, so the component also runs under `wasmtime serve` or Spin:
//!
//! | request | answer |
//! |---|---|
//! | `GET {base}{key}` | 200 with the value as the body; 404 when absent or expired |
//! | `PUT {base}{key}` with `x-usher-ttl: SECONDS` and the value as the body | 204; 400 without a valid TTL; 413 over the value limit; 507 when full |
//! | anything else | 405 |
//!
//! The key is the rest of the path, each segment percent-encoded (RFC 3986 §2.1), `/` kept as
//! a separator.
//!
//! Bounded: at most [`MAX_ENTRIES`] entries and [`MAX_BYTES`] bytes of keys and values; a value
//! is at most [`MAX_VALUE_BYTES`], a key at most [`MAX_KEY_BYTES`], a TTL at most
//! [`MAX_TTL_SECS`]. Expired entries are never served and are purged at most once a second,
//! when a write comes. A write that finds the store full after the purge is refused (507): a
//! lease write that fails is logged by the component and never fatal, so refusing is safer
//! than evicting a live lease.
//!
//! Not done: persistence (a restart forgets every lease, which then lapse as if expired) and
//! compare-and-swap (the lease design does not need it).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

/// The request header carrying a value's time to live, in seconds.
pub(crate) const TTL_HEADER: &str = "x-usher-ttl";

/// Entries held at most.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// Bytes of keys and values held at most.
pub(crate) const MAX_BYTES: usize = 64 << 20;
/// The largest value.
pub(crate) const MAX_VALUE_BYTES: usize = 64 << 10;
/// The longest key.
pub(crate) const MAX_KEY_BYTES: usize = 512;
/// The longest time to live: a week.
pub(crate) const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// How often expired entries are purged at most.
const PURGE_INTERVAL: Duration = Duration::from_secs(1);

/// The store.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    limits: StoreLimits,
}

/// The store's bounds; [`StoreLimits::default`] is the documented one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreLimits {
    pub(crate) entries: usize,
    pub(crate) bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            entries: MAX_ENTRIES,
            bytes: MAX_BYTES,
        }
    }
}

#[derive(Debug)]
struct Inner {
    entries: HashMap<String, Value>,
    bytes: usize,
    purged: Instant,
}

#[derive(Debug)]
struct Value {
    bytes: Bytes,
    expires: Instant,
}

/// An answer of the store's API.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Answer {
    fn status(status: StatusCode) -> Self {
        Answer {
            status,
            body: Bytes::new(),
        }
    }

    /// The content type of the body, if there is one.
    pub(crate) fn content_type(&self) -> Option<HeaderValue> {
        (!self.body.is_empty()).then(|| HeaderValue::from_static("application/octet-stream"))
    }
}

impl Store {
    pub(crate) fn new(limits: StoreLimits) -> Self {
        Store {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                bytes: 0,
                purged: Instant::now(),
            }),
            limits,
        }
    }

    /// Answers one API request for `key` (already percent-decoded) at `now`. `ttl` is the
    /// `x-usher-ttl` header's value, `body` the request body (at most one byte over
    /// [`MAX_VALUE_BYTES`] need be read).
    pub(crate) fn answer(
        &self,
        method: &Method,
        key: &str,
        ttl: Option<&str>,
        body: Bytes,
        now: Instant,
    ) -> Answer {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Answer::status(StatusCode::BAD_REQUEST);
        }
        if *method == Method::GET {
            return match self.get(key, now) {
                Some(bytes) => Answer {
                    status: StatusCode::OK,
                    body: bytes,
                },
                None => Answer::status(StatusCode::NOT_FOUND),
            };
        }
        if *method != Method::PUT {
            return Answer::status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let ttl = ttl
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|t| (1..=MAX_TTL_SECS).contains(t));
        let Some(ttl) = ttl else {
            return Answer::status(StatusCode::BAD_REQUEST);
        };
        if body.len() > MAX_VALUE_BYTES {
            return Answer::status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        if self.put(key, body, now + Duration::from_secs(ttl), now) {
            Answer::status(StatusCode::NO_CONTENT)
        } else {
            Answer::status(StatusCode::INSUFFICIENT_STORAGE)
        }
    }

    fn get(&self, key: &str, now: Instant) -> Option<Bytes> {
        let inner = self.lock();
        inner
            .entries
            .get(key)
            .filter(|v| v.expires > now)
            .map(|v| v.bytes.clone())
    }

    /// Stores a value; false when there is no room for it.
    fn put(&self, key: &str, bytes: Bytes, expires: Instant, now: Instant) -> bool {
        let mut inner = self.lock();
        if now.duration_since(inner.purged) >= PURGE_INTERVAL {
            inner.purge(now);
        }
        let size = key.len() + bytes.len();
        let fits = |inner: &Inner| {
            let replaced = inner.entries.get(key).map(|v| key.len() + v.bytes.len());
            let entries = inner.entries.len() + usize::from(replaced.is_none());
            let bytes = inner.bytes - replaced.unwrap_or(0) + size;
            entries <= self.limits.entries && bytes <= self.limits.bytes
        };
        if !fits(&inner) {
            inner.purge(now);
            if !fits(&inner) {
                return false;
            }
        }
        // The replaced entry may have been purged just now: count what is really there.
        let old = inner
            .entries
            .insert(key.to_owned(), Value { bytes, expires })
            .map_or(0, |v| key.len() + v.bytes.len());
        inner.bytes = inner.bytes - old + size;
        true
    }

    /// Entries held, and their bytes.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change is one insert or remove with its byte count: a poisoned lock is still
        // consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        let mut freed = 0;
        self.entries.retain(|key, value| {
            let live = value.expires > now;
            if !live {
                freed += key.len() + value.bytes.len();
            }
            live
        });
        self.bytes -= freed;
        self.purged = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &Store, key: &str, ttl: &str, value: &'static [u8], now: Instant) -> StatusCode {
        store
            .answer(&Method::PUT, key, Some(ttl), Bytes::from_static(value), now)
            .status
    }

    fn get(store: &Store, key: &str, now: Instant) -> Answer {
        store.answer(&Method::GET, key, None, Bytes::new(), now)
    }

    #[test]
    fn a_value_is_there_until_its_ttl_runs_out() {
        let store = Store::new(StoreLimits::default());
        let t0 = Instant::now();
        assert_eq!(get(&store, "leases/e/a", t0).status, StatusCode::NOT_FOUND);
        assert_eq!(
            put(&store, "leases/e/a", "30", b"{}", t0),
            StatusCode::NO_CONTENT
        );
        let found = get(&store, "leases/e/a", t0 + Duration::from_secs(29));
        assert_eq!(
            (found.status, &found.body[..]),
            (StatusCode::OK, &b"{}"[..])
        );
        assert_eq!(
            get(&store, "leases/e/a", t0 + Duration::from_secs(30)).status,
            StatusCode::NOT_FOUND
        );
        // A write replaces the value and its expiry.
        assert_eq!(
            put(&store, "leases/e/a", "5", b"[1]", t0),
            StatusCode::NO_CONTENT
        );
        assert_eq!(&get(&store, "leases/e/a", t0).body[..], b"[1]");
        assert_eq!(store.usage(), (1, "leases/e/a".len() + 3));
    }

    #[test]
    fn a_write_needs_a_sane_ttl_and_a_small_value() {
        let store = Store::new(StoreLimits::default());
        let now = Instant::now();
        for ttl in ["", "0", "-5", "1.5", "604801", "99999999999999999999999"] {
            assert_eq!(
                put(&store, "k", ttl, b"v", now),
                StatusCode::BAD_REQUEST,
                "{ttl}"
            );
        }
        let missing = store.answer(&Method::PUT, "k", None, Bytes::new(), now);
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        let big = Bytes::from(vec![0; MAX_VALUE_BYTES + 1]);
        let refused = store.answer(&Method::PUT, "k", Some("10"), big, now);
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(get(&store, &long, now).status, StatusCode::BAD_REQUEST);
        assert_eq!(get(&store, "", now).status, StatusCode::BAD_REQUEST);
        let delete = store.answer(&Method::DELETE, "k", None, Bytes::new(), now);
        assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(store.usage(), (0, 0));
    }

    #[test]
    fn a_full_store_purges_expired_entries_then_refuses() {
        let store = Store::new(StoreLimits {
            entries: 2,
            bytes: 1 << 20,
        });
        let t0 = Instant::now();
        assert_eq!(put(&store, "a", "1", b"1", t0), StatusCode::NO_CONTENT);
        assert_eq!(put(&store, "b", "60", b"2", t0), StatusCode::NO_CONTENT);
        // Full while both live; replacing a key needs no new room.
        assert_eq!(
            put(&store, "c", "60", b"3", t0),
            StatusCode::INSUFFICIENT_STORAGE
        );
        assert_eq!(put(&store, "b", "60", b"22", t0), StatusCode::NO_CONTENT);
        // Once `a` expired, its room is reclaimed.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(put(&store, "c", "60", b"3", later), StatusCode::NO_CONTENT);
        assert_eq!(store.usage(), (2, 2 + 1 + 1 + 1));
        assert_eq!(&get(&store, "b", later).body[..], b"22");
    }

    #[test]
    fn bytes_are_bounded_too() {
        let store = Store::new(StoreLimits {
            entries: 100,
            bytes: 10,
        });
        let now = Instant::now();
        assert_eq!(
            put(&store, "ab", "60", b"12345678", now),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            put(&store, "c", "60", b"1", now),
            StatusCode::INSUFFICIENT_STORAGE
        );
        // Smaller in place: fits.
        assert_eq!(put(&store, "ab", "60", b"1", now), StatusCode::NO_CONTENT);
        assert_eq!(put(&store, "c", "60", b"1", now), StatusCode::NO_CONTENT);
        assert_eq!(store.usage(), (2, 5));
    }

    #[test]
    fn expired_entries_are_purged_by_later_writes() {
        let store = Store::new(StoreLimits::default());
        let t0 = Instant::now();
        for key in ["a", "b", "c"] {
            assert_eq!(put(&store, key, "1", b"v", t0), StatusCode::NO_CONTENT);
        }
        assert_eq!(store.usage().0, 3);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(put(&store, "d", "60", b"v", later), StatusCode::NO_CONTENT);
        assert_eq!(store.usage(), (1, 2));
    }
}
