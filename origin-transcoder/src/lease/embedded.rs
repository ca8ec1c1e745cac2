//! The in-process lease store: what a single node uses when there is no Redis.
//!
//! [`Embedded`] is a map from channel to holder and expiry, driven by the caller's clock
//! (`now_ms`), with the same claim and release rules as the Redis script, so it is pure and
//! its behaviour is unit-tested. [`Shared`] puts it behind a lock with a monotonic clock for
//! the node's [`LeaseStore`](super::LeaseStore); it never fails, so a lone node is always
//! `Active` on its channels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::{Claim, Name};

/// Leases held in memory, with expiry measured on the caller's clock.
#[derive(Clone, Debug, Default)]
pub struct Embedded {
    leases: HashMap<Name, (Name, u64)>,
}

impl Embedded {
    /// Renews `channel`'s lease until `now_ms + ttl_ms` if `node` holds it, takes it if nobody
    /// holds it (or its holder's lease expired by `now_ms`), else names the holder.
    pub fn claim(&mut self, now_ms: u64, channel: &Name, node: &Name, ttl_ms: u64) -> Claim {
        let until = now_ms.saturating_add(ttl_ms);
        match self.leases.get_mut(channel) {
            Some((holder, expires)) if *expires > now_ms && holder != node => {
                Claim::HeldBy(holder.as_str().to_owned())
            }
            Some(lease) => {
                *lease = (node.clone(), until);
                Claim::Held { ttl_ms }
            }
            None => {
                self.leases.insert(channel.clone(), (node.clone(), until));
                Claim::Held { ttl_ms }
            }
        }
    }

    /// Gives up `channel`'s lease if `node` holds it (and it has not expired). Whether it did.
    pub fn release(&mut self, now_ms: u64, channel: &Name, node: &Name) -> bool {
        match self.leases.get(channel) {
            Some((holder, expires)) if holder == node => {
                let held = *expires > now_ms;
                self.leases.remove(channel);
                held
            }
            _ => false,
        }
    }

    /// Who holds `channel`'s lease at `now_ms`, if anyone.
    pub fn holder(&self, now_ms: u64, channel: &Name) -> Option<&Name> {
        self.leases
            .get(channel)
            .filter(|(_, expires)| *expires > now_ms)
            .map(|(holder, _)| holder)
    }
}

/// An [`Embedded`] store shared by the clones of a [`LeaseStore`](super::LeaseStore), on a
/// monotonic clock that starts with it.
#[derive(Clone, Debug)]
pub struct Shared {
    inner: Arc<Mutex<Embedded>>,
    start: Instant,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            inner: Arc::default(),
            start: Instant::now(),
        }
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Embedded, u64) -> T) -> T {
        let now = self.now_ms();
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still a consistent store.
        let mut store = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut store, now)
    }

    /// [`Embedded::claim`] now.
    pub fn claim(&self, channel: &Name, node: &Name, ttl_ms: u64) -> Claim {
        self.with(|store, now| store.claim(now, channel, node, ttl_ms))
    }

    /// [`Embedded::release`] now.
    pub fn release(&self, channel: &Name, node: &Name) -> bool {
        self.with(|store, now| store.release(now, channel, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    #[test]
    fn the_first_claim_takes_the_lease_and_a_second_node_sees_the_holder() {
        let mut s = Embedded::default();
        assert_eq!(
            s.claim(0, &n("news"), &n("a"), 600),
            Claim::Held { ttl_ms: 600 }
        );
        assert_eq!(
            s.claim(1, &n("news"), &n("b"), 600),
            Claim::HeldBy("a".into())
        );
        // Another channel is another lease.
        assert_eq!(
            s.claim(1, &n("sport"), &n("b"), 600),
            Claim::Held { ttl_ms: 600 }
        );
        assert_eq!(s.holder(1, &n("news")), Some(&n("a")));
    }

    #[test]
    fn renewing_extends_the_lease_from_now() {
        let mut s = Embedded::default();
        s.claim(0, &n("news"), &n("a"), 600);
        assert_eq!(
            s.claim(500, &n("news"), &n("a"), 600),
            Claim::Held { ttl_ms: 600 }
        );
        // Past the first expiry (600) but within the renewed one (1100).
        assert_eq!(
            s.claim(1099, &n("news"), &n("b"), 600),
            Claim::HeldBy("a".into())
        );
        assert_eq!(
            s.claim(1100, &n("news"), &n("b"), 600),
            Claim::Held { ttl_ms: 600 }
        );
    }

    #[test]
    fn a_lease_not_renewed_within_its_ttl_goes_to_the_next_claimant() {
        let mut s = Embedded::default();
        s.claim(0, &n("news"), &n("a"), 600);
        assert_eq!(
            s.claim(599, &n("news"), &n("b"), 600),
            Claim::HeldBy("a".into())
        );
        assert_eq!(s.holder(600, &n("news")), None);
        assert_eq!(
            s.claim(600, &n("news"), &n("b"), 600),
            Claim::Held { ttl_ms: 600 }
        );
        // The old holder comes back: it is now the standby.
        assert_eq!(
            s.claim(601, &n("news"), &n("a"), 600),
            Claim::HeldBy("b".into())
        );
    }

    #[test]
    fn only_the_holder_releases_and_then_anyone_may_claim() {
        let mut s = Embedded::default();
        s.claim(0, &n("news"), &n("a"), 600);
        assert!(!s.release(1, &n("news"), &n("b")));
        assert_eq!(s.holder(1, &n("news")), Some(&n("a")));
        assert!(s.release(1, &n("news"), &n("a")));
        assert!(!s.release(1, &n("news"), &n("a")));
        assert_eq!(
            s.claim(2, &n("news"), &n("b"), 600),
            Claim::Held { ttl_ms: 600 }
        );
        // An expired lease is not released: it was no longer held.
        assert!(!s.release(700, &n("news"), &n("b")));
    }

    #[test]
    fn clones_of_a_shared_store_see_the_same_leases() {
        let s = Shared::default();
        let t = s.clone();
        assert_eq!(
            s.claim(&n("news"), &n("a"), 60_000),
            Claim::Held { ttl_ms: 60_000 }
        );
        assert_eq!(
            t.claim(&n("news"), &n("b"), 60_000),
            Claim::HeldBy("a".into())
        );
        assert!(t.release(&n("news"), &n("a")));
        assert_eq!(
            t.claim(&n("news"), &n("b"), 60_000),
            Claim::Held { ttl_ms: 60_000 }
        );
    }
}
