//! Playlist fetches through Fastly's Core Cache, with request collapsing and stale-if-error, as
//! the policy in [`crate::cache`] lays out.
//!
//! | lookup of the current entry | what happens | `cache` |
//! |---|---|---|
//! | a fresh copy | served | `hit` |
//! | a held failure or held stale copy | served as it was held | `held` |
//! | nothing, this request must fetch | origin; a storable answer becomes the current entry, a 2xx also the last good copy | `miss` |
//! | … and the origin fails | the last good copy if still within `stale_if_error_secs`, held for a second | `stale` |
//! | … and there is no such copy | the failure, held for a second | `miss` |
//! | the cache cannot be used | origin, uncached | `bypass` |
//!
//! Another request already fetching the same playlist makes this one wait for its result (at
//! most [`COLLAPSE_WAIT`], then it bypasses the cache).

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use fastly::cache::core::{self as core_cache, CacheKey, Found, Transaction};
use http::StatusCode;
use usher_edge_core::{Fetched, Upstream};

use crate::cache::{self, COLLAPSE_WAIT, ERROR_HOLD, Entry, Freshness, Slot};
use crate::convert;
use crate::origin::{self, OriginError};

/// A playlist fetch's result, for `finish` and the access line.
#[derive(Debug)]
pub(crate) struct Fetch {
    /// What the core is told.
    pub(crate) fetched: Fetched,
    /// What went wrong on the way, for the log: the origin's failure, a cache that could not be
    /// used or written.
    pub(crate) error: Option<String>,
    /// How the cache answered.
    pub(crate) cache: &'static str,
}

/// Fetches the playlist `upstream` names, reading at most `cap` bytes of it. `now_secs` dates
/// the origin's answer for `Expires`.
pub(crate) fn fetch(upstream: &Upstream, cap: usize, now_secs: u64) -> Fetch {
    let key = CacheKey::from(cache::key(Slot::Current, &upstream.cache_key));
    let transaction = match Transaction::lookup(key).timeout(COLLAPSE_WAIT).execute() {
        Ok(transaction) => transaction,
        Err(error) => return bypass(upstream, cap, format!("playlist cache lookup: {error}")),
    };
    if let Some(found) = transaction.found() {
        // The current entry's stale window is zero, so a found entry is fresh.
        return match read(&found, cap) {
            Some((Entry::Response { status, stale }, body)) => {
                let fetched = Fetched::Response {
                    status,
                    body,
                    stale,
                };
                if stale || cache::is_failure(status) {
                    held(fetched)
                } else {
                    Fetch {
                        fetched,
                        error: None,
                        cache: "hit",
                    }
                }
            }
            Some((Entry::Timeout, _)) => held(Fetched::Timeout),
            Some((Entry::Unreachable, _)) => held(Fetched::Unreachable),
            None => bypass(upstream, cap, "playlist cache entry unreadable".to_owned()),
        };
    }
    if !transaction.must_insert_or_update() {
        // Neither a copy nor the duty to make one: the platform does not cache this key.
        return bypass(upstream, cap, "playlist cache declined the key".to_owned());
    }
    let mut notes = Vec::new();
    let (failure, fetched) = match origin::fetch(upstream, cap) {
        Ok(answer) if !cache::is_failure(answer.status) => {
            // Fewer bytes than the cap means the whole body; a truncated one is never stored.
            let complete = answer.body.len() < cap;
            match Freshness::of(&answer.headers, now_secs).filter(|_| complete) {
                Some(freshness) => {
                    let entry = Entry::Response {
                        status: answer.status,
                        stale: false,
                    };
                    notes.extend(insert(
                        transaction,
                        freshness.lifetime,
                        // Older than its lifetime is stale all the same.
                        freshness.age.min(freshness.lifetime),
                        entry,
                        &answer.body,
                    ));
                    if answer.status.is_success() {
                        let window = Duration::from_secs(upstream.stale_if_error_secs);
                        notes.extend(keep_last_good(
                            upstream,
                            freshness,
                            window,
                            entry,
                            &answer.body,
                        ));
                    }
                }
                None => notes.extend(cancel(&transaction)),
            }
            let error =
                (!answer.status.is_success()).then(|| format!("origin answered {}", answer.status));
            return finished(
                Fetched::Response {
                    status: answer.status,
                    body: answer.body,
                    stale: false,
                },
                error,
                notes,
                "miss",
            );
        }
        Ok(answer) => (
            format!("origin answered {}", answer.status),
            Fetched::Response {
                status: answer.status,
                body: answer.body,
                stale: false,
            },
        ),
        Err(error) => (error.detail.clone(), failed(&error)),
    };
    let window = Duration::from_secs(upstream.stale_if_error_secs);
    match last_good(upstream, cap, window) {
        Some((status, body, stale)) => {
            let entry = Entry::Response { status, stale };
            notes.extend(insert(
                transaction,
                ERROR_HOLD,
                Duration::ZERO,
                entry,
                &body,
            ));
            let fetched = Fetched::Response {
                status,
                body,
                stale,
            };
            finished(fetched, Some(failure), notes, "stale")
        }
        None => {
            let (entry, body) = match &fetched {
                Fetched::Response { status, body, .. } => (
                    Entry::Response {
                        status: *status,
                        stale: false,
                    },
                    body.clone(),
                ),
                Fetched::Timeout => (Entry::Timeout, Bytes::new()),
                Fetched::Unreachable => (Entry::Unreachable, Bytes::new()),
            };
            notes.extend(insert(
                transaction,
                ERROR_HOLD,
                Duration::ZERO,
                entry,
                &body,
            ));
            finished(fetched, Some(failure), notes, "miss")
        }
    }
}

/// The origin, without the cache.
fn bypass(upstream: &Upstream, cap: usize, why: String) -> Fetch {
    match origin::fetch(upstream, cap) {
        Ok(answer) => {
            let error =
                (!answer.status.is_success()).then(|| format!("origin answered {}", answer.status));
            finished(
                Fetched::Response {
                    status: answer.status,
                    body: answer.body,
                    stale: false,
                },
                error,
                vec![why],
                "bypass",
            )
        }
        Err(error) => finished(failed(&error), Some(error.detail), vec![why], "bypass"),
    }
}

fn held(fetched: Fetched) -> Fetch {
    Fetch {
        fetched,
        error: Some("origin failure held from a request in the last second".to_owned()),
        cache: "held",
    }
}

fn finished(
    fetched: Fetched,
    error: Option<String>,
    notes: Vec<String>,
    cache: &'static str,
) -> Fetch {
    let error = error.into_iter().chain(notes).collect::<Vec<_>>();
    Fetch {
        fetched,
        error: (!error.is_empty()).then(|| error.join("; ")),
        cache,
    }
}

fn failed(error: &OriginError) -> Fetched {
    error.failure.fetched()
}

/// An entry's metadata and at most `cap` bytes of its body; `None` if either is unreadable.
fn read(found: &Found, cap: usize) -> Option<(Entry, Bytes)> {
    let entry = Entry::decode(&found.user_metadata())?;
    let body = convert::read_up_to(found.to_stream().ok()?, cap).ok()?;
    Some((entry, Bytes::from(body)))
}

/// Fills the current entry this request was made responsible for.
fn insert(
    transaction: Transaction,
    lifetime: Duration,
    age: Duration,
    entry: Entry,
    body: &[u8],
) -> Option<String> {
    let writer = transaction
        .insert(lifetime)
        .initial_age(age)
        .known_length(u64::try_from(body.len()).unwrap_or(u64::MAX))
        .user_metadata(Bytes::from(entry.encode()))
        .execute();
    write_body(writer, body)
        .err()
        .map(|e| format!("playlist cache insert: {e}"))
}

/// Gives up the duty to fill the current entry (a response a shared cache must not store), so
/// a waiting request takes it over.
fn cancel(transaction: &Transaction) -> Option<String> {
    transaction
        .cancel_insert_or_update()
        .err()
        .map(|e| format!("playlist cache cancel: {e}"))
}

/// Keeps a 2xx copy for `freshness` plus the stale-if-error `window`.
fn keep_last_good(
    upstream: &Upstream,
    freshness: Freshness,
    window: Duration,
    entry: Entry,
    body: &[u8],
) -> Option<String> {
    let key = CacheKey::from(cache::key(Slot::LastGood, &upstream.cache_key));
    let lifetime = freshness.lifetime.saturating_add(window);
    let writer = core_cache::insert(key, lifetime)
        .initial_age(freshness.age.min(lifetime))
        .known_length(u64::try_from(body.len()).unwrap_or(u64::MAX))
        .user_metadata(Bytes::from(entry.encode()))
        .execute();
    write_body(writer, body)
        .err()
        .map(|e| format!("last good playlist insert: {e}"))
}

/// The last good copy, if one is still within the stale-if-error window: its status, body, and
/// whether it had gone stale (past its own freshness).
fn last_good(
    upstream: &Upstream,
    cap: usize,
    window: Duration,
) -> Option<(StatusCode, Bytes, bool)> {
    let key = CacheKey::from(cache::key(Slot::LastGood, &upstream.cache_key));
    let found = core_cache::lookup(key).execute().ok().flatten()?;
    match read(&found, cap)? {
        (Entry::Response { status, .. }, body) if status.is_success() => {
            let stale = found.age() >= found.max_age().saturating_sub(window);
            Some((status, body, stale))
        }
        _ => None,
    }
}

fn write_body(
    writer: Result<fastly::http::body::StreamingBody, core_cache::CacheError>,
    body: &[u8],
) -> Result<(), String> {
    let mut writer = writer.map_err(|e| e.to_string())?;
    writer.write_all(body).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}
