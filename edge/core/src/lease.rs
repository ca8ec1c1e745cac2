//! One ticket, one screen: a ticket's `max_streams` enforced with short leases in the
//! platform's key-value store.
//!
//! Every playback session of a ticket holds a lease: an entry in the ticket's *lease record*,
//! one small JSON document per ticket and event in the store. The multivariant playlist request
//! takes a lease (or is refused with 429 `too_many_streams` when the ticket's screens are all
//! taken); media playlist reloads renew it; a screen that stops reloading lets its lease lapse
//! `leases.ttl_secs` later, which is how a lease is released: players have no reliable "I am
//! leaving" signal (a closed lid or a lost network sends nothing), so expiry is the release.
//!
//! Sans-IO like the rest of the core: [`decide`](crate::decide) answers
//! [`Action::Lease`] with a [`LeaseCheck`] naming the record's key; the
//! adapter reads it and calls [`leased`] with what it found; the decision that comes back
//! carries the record to write back ([`StoreWrite`]) and the action that was waiting (the
//! playlist fetch). The store is never read on segment requests, and a media playlist reload
//! reads it only once the lease is half-way to expiry, and then only in a short window at the
//! start of each half-life (the lease's start rides in the signed playlist token; see
//! `decision::media`), so the store sees a few operations per screen per lease lifetime, not
//! one per request.
//!
//! Key decisions:
//! - *Fail open.* A store that cannot be read admits the viewer and logs it: a KV outage at
//!   kickoff must not turn into a blackout for paying viewers. Sharing is a revenue leak;
//!   refusing everybody is an incident.
//! - *A device hint replaces, it does not add.* Reloading the player page starts a new session
//!   on the same screen. The page sends a random per-browser id (`device`); a new session with
//!   the device of an existing lease takes that lease over instead of needing a free one. A
//!   copied hint therefore moves a stream, it never adds one: the displaced session's next
//!   reload finds no room and gets 429.
//! - *Expiry lives in the record*, not only in the store's TTL: entries carry their own expiry,
//!   so an eventually consistent store's stale copy still ages out correctly.
//!
//! What this module does not do: talk to a store, or lock. Two screens starting in the same
//! instant can both win a last free slot (read, then write, with no compare-and-swap on most
//! edge stores); the next renewal of either sees the other and the record settles to at most
//! `max_streams` entries plus that short race. Each platform's consistency window is in
//! `docs/edge.md`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decision::{Action, Decision, EdgeInput, LogFields, refuse};
use crate::reason::Reason;

/// The query parameter of the multivariant playlist request that carries the device hint.
pub const DEVICE_PARAM: &str = "device";

/// Entries a record holds at most, whatever a ticket's `max_streams` says: keeps records small
/// (a ticket for a thousand screens is a mistake, not a household).
pub const MAX_ENTRIES: u32 = 32;

/// The record format's version, written into every record.
const RECORD_VERSION: u32 = 1;

/// What the adapter must read before the request can go on: made by `decide`, consumed by
/// [`leased`].
#[derive(Debug)]
pub struct LeaseCheck {
    key: String,
    session: String,
    device: Option<String>,
    max_streams: u32,
    pending: Box<Decision>,
}

impl LeaseCheck {
    /// Wraps `pending` (what to do once the lease is held) in a lease check.
    pub(crate) fn new(
        lease: &LeaseId,
        session: &str,
        device: Option<String>,
        max_streams: u32,
        pending: Decision,
    ) -> Self {
        LeaseCheck {
            key: lease.store_key(),
            session: session.to_owned(),
            device,
            max_streams: max_streams.clamp(1, MAX_ENTRIES),
            pending: Box::new(pending),
        }
    }

    /// The key of the lease record in the platform's lease store.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decision waiting behind the check.
    pub(crate) fn pending_mut(&mut self) -> &mut Decision {
        &mut self.pending
    }
}

/// What the adapter found under [`LeaseCheck::key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// The record's bytes.
    Found(Bytes),
    /// No record: no screen holds a lease for this ticket.
    Missing,
    /// The store failed or did not answer in time.
    Unavailable,
}

/// A record to write to the lease store, with its lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreWrite {
    /// The record's key.
    pub key: String,
    /// The record.
    pub value: Bytes,
    /// How long the store should keep it, in seconds: until its last lease expires. Stores with
    /// a larger minimum TTL may keep it longer; entries carry their own expiry.
    pub ttl_secs: u64,
}

/// Which ticket a lease record belongs to, as carried in session tokens: a hash, so neither
/// store keys nor tokens carry a viewer's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseId {
    event: String,
    hash: String,
}

impl LeaseId {
    /// The lease of a ticket for `event`, identified by `identity` (its `sub`, else its `jti`,
    /// else the ticket itself).
    pub(crate) fn of_ticket(event: &str, identity: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"usher-lease\0");
        hasher.update(event.as_bytes());
        hasher.update(b"\0");
        hasher.update(identity.as_bytes());
        let digest = hasher.finalize();
        let hash = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        LeaseId {
            event: event.to_owned(),
            hash,
        }
    }

    /// The lease named `hash` (from a session token) for `event`; `None` unless `hash` has the
    /// shape this module writes.
    pub(crate) fn from_token(event: &str, hash: &str) -> Option<Self> {
        let valid = hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| LeaseId {
            event: event.to_owned(),
            hash: hash.to_owned(),
        })
    }

    /// The hash, as carried in the session token.
    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    fn store_key(&self) -> String {
        format!("leases/{}/{}", self.event, self.hash)
    }
}

/// The lease record, as stored.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Record {
    v: u32,
    leases: Vec<Entry>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
struct Entry {
    /// The session id.
    s: String,
    /// The device hint, if the session came with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    /// Expiry, Unix milliseconds.
    exp: u64,
}

/// Goes on with the waiting request if the ticket has a screen for this session, or refuses
/// it with 429 `too_many_streams`. The returned decision carries the record to write back in
/// [`Decision::store`] when it changed.
pub fn leased(check: LeaseCheck, stored: Stored, input: &EdgeInput<'_>) -> Decision {
    let LeaseCheck {
        key,
        session,
        device,
        max_streams,
        pending,
    } = check;
    let now = input.now_ms;
    let ttl_ms = input.config.settings.leases.ttl_secs.saturating_mul(1000);
    let mut log_note = None;
    let mut record = match stored {
        Stored::Found(bytes) => match serde_json::from_slice::<Record>(&bytes) {
            Ok(record) if record.v == RECORD_VERSION => record,
            // A record this edge cannot read must not lock a ticket out for good: start over,
            // and say so.
            Ok(_) | Err(_) => {
                log_note = Some("reset");
                Record::default()
            }
        },
        Stored::Missing => Record::default(),
        Stored::Unavailable => return proceed(*pending, "store_unavailable"),
    };
    record.v = RECORD_VERSION;
    record.leases.retain(|e| e.exp > now);
    let fresh = Entry {
        s: session.clone(),
        d: device.clone(),
        exp: now.saturating_add(ttl_ms),
    };
    let outcome = if let Some(entry) = record.leases.iter_mut().find(|e| e.s == session) {
        // Renewal. Writing only past half-life keeps store writes to about two per lease
        // lifetime per screen, well within per-key write limits (Cloudflare KV: 1/s per key).
        if entry.exp.saturating_sub(now) < ttl_ms / 2 {
            entry.exp = fresh.exp;
            "renewed"
        } else {
            "held"
        }
    } else if let Some(entry) = device
        .as_ref()
        .and_then(|d| record.leases.iter_mut().find(|e| e.d.as_ref() == Some(d)))
    {
        *entry = fresh;
        "replaced"
    } else if record.leases.len() < max_streams as usize {
        record.leases.push(fresh);
        "taken"
    } else {
        let log = LogFields {
            lease: Some("full"),
            ..pending.log
        };
        return refuse(Reason::TooManyStreams, log);
    };
    let mut decision = proceed(*pending, log_note.unwrap_or(outcome));
    if outcome != "held" || log_note.is_some() {
        let last = record.leases.iter().map(|e| e.exp).max().unwrap_or(now);
        decision.store = serde_json::to_vec(&record).ok().map(|value| StoreWrite {
            key,
            value: Bytes::from(value),
            ttl_secs: last.saturating_sub(now).div_ceil(1000).max(1),
        });
    }
    decision
}

/// The waiting decision, with the lease's outcome noted for its log line (and for `finish`'s,
/// when it is a playlist fetch).
fn proceed(mut decision: Decision, outcome: &'static str) -> Decision {
    decision.log.lease = Some(outcome);
    if let Action::Fetch(_, plan) = &mut decision.action {
        plan.note_lease(outcome);
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_are_hashes_scoped_to_the_event() {
        let a = LeaseId::of_ticket("final", "viewer-1");
        let b = LeaseId::of_ticket("semi", "viewer-1");
        assert_eq!(a.hash().len(), 32);
        assert_ne!(a.hash(), b.hash());
        assert!(!a.store_key().contains("viewer-1"));
        assert_eq!(LeaseId::from_token("final", a.hash()), Some(a));
    }

    #[test]
    fn token_lease_ids_of_the_wrong_shape_are_ignored() {
        assert_eq!(LeaseId::from_token("final", "abc"), None);
        assert_eq!(LeaseId::from_token("final", &"g".repeat(32)), None);
        assert_eq!(LeaseId::from_token("final", &"/".repeat(32)), None);
    }
}
