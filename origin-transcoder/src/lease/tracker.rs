//! What a node makes of its claims on one channel's lease: a pure state machine, fed each
//! claim's outcome and the time.
//!
//! | state \ claim       | `Held`   | `HeldBy(h)`    | error                          |
//! |---------------------|----------|----------------|--------------------------------|
//! | `Unknown`           | `Active` | `Standby(h)`   | `Unknown`                      |
//! | `Active`            | `Active` | `Standby(h)`   | `ActiveUnconfirmed { since: now }` |
//! | `ActiveUnconfirmed` | `Active` | `Standby(h)`   | unchanged (keeps its `since`)  |
//! | `Standby`           | `Active` | `Standby(h)`   | unchanged                      |
//!
//! Only a claim the store answered moves a node into or out of holding a lease; an error (the
//! store unreachable, or answering nonsense) never does. A node that held the lease keeps
//! running (`ActiveUnconfirmed`), and a node that did not never starts (`Standby`, `Unknown`),
//! for as long as the store is away. See [`crate::lease`] for why running on is safe.

use core::fmt;

use super::{Claim, LeaseError};

/// Where a node stands on one channel's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// This node holds the lease, as the store confirmed at the last heartbeat: run the channel.
    Active,
    /// This node held the lease, and the store has been unreachable since `since_ms`: keep
    /// running the channel (epoch-locked segments make a second active node harmless; a stopped
    /// channel is a black screen).
    ActiveUnconfirmed {
        /// When the first claim since the last confirmation failed (the caller's clock).
        since_ms: u64,
    },
    /// Another node holds the lease: do not run the channel.
    Standby {
        /// The holder's node id, as stored (the last one seen, if the store is now away).
        holder: String,
    },
    /// The store has never answered a claim: do not start the channel.
    Unknown,
}

impl LeaseState {
    /// Whether the node should be running the channel.
    pub fn runs(&self) -> bool {
        matches!(
            self,
            LeaseState::Active | LeaseState::ActiveUnconfirmed { .. }
        )
    }

    /// The state's name, for metrics labels and health output.
    pub fn label(&self) -> &'static str {
        match self {
            LeaseState::Active => "active",
            LeaseState::ActiveUnconfirmed { .. } => "active_unconfirmed",
            LeaseState::Standby { .. } => "standby",
            LeaseState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for LeaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseState::Active => write!(f, "active"),
            LeaseState::ActiveUnconfirmed { since_ms } => {
                write!(f, "active, unconfirmed since {since_ms} ms")
            }
            LeaseState::Standby { holder } => write!(f, "standby (held by {holder})"),
            LeaseState::Unknown => write!(f, "unknown (lease store never answered)"),
        }
    }
}

/// One channel's lease as this node sees it, from the outcomes of its claims.
#[derive(Clone, Debug)]
pub struct LeaseTracker {
    state: LeaseState,
    store_up: bool,
    confirmed_ms: Option<u64>,
    last_error: Option<LeaseError>,
}

impl Default for LeaseTracker {
    fn default() -> LeaseTracker {
        LeaseTracker::new()
    }
}

impl LeaseTracker {
    /// A tracker that has seen no claim: `Unknown`, store not (yet) up.
    pub fn new() -> LeaseTracker {
        LeaseTracker {
            state: LeaseState::Unknown,
            store_up: false,
            confirmed_ms: None,
            last_error: None,
        }
    }

    /// Takes in one claim's outcome at `now_ms`, and returns the state it leads to.
    pub fn observe(&mut self, now_ms: u64, claim: Result<Claim, LeaseError>) -> &LeaseState {
        match claim {
            Ok(Claim::Held { .. }) => {
                self.store_up = true;
                self.confirmed_ms = Some(now_ms);
                self.last_error = None;
                self.state = LeaseState::Active;
            }
            Ok(Claim::HeldBy(holder)) => {
                self.store_up = true;
                self.last_error = None;
                self.state = LeaseState::Standby { holder };
            }
            Err(e) => {
                self.store_up = false;
                self.last_error = Some(e);
                if self.state == LeaseState::Active {
                    self.state = LeaseState::ActiveUnconfirmed { since_ms: now_ms };
                }
                // ActiveUnconfirmed keeps its `since`; Standby and Unknown stay as they are:
                // a standby never takes over on an error.
            }
        }
        &self.state
    }

    /// Where the node stands.
    pub fn state(&self) -> &LeaseState {
        &self.state
    }

    /// Whether the last claim was answered by the store.
    pub fn store_up(&self) -> bool {
        self.store_up
    }

    /// When the store last confirmed that this node holds the lease.
    pub fn confirmed_ms(&self) -> Option<u64> {
        self.confirmed_ms
    }

    /// Why the last claim failed, if it did.
    pub fn last_error(&self) -> Option<&LeaseError> {
        self.last_error.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Result<Claim, LeaseError> {
        Err(LeaseError::Unreachable("connection refused".into()))
    }

    fn held() -> Result<Claim, LeaseError> {
        Ok(Claim::Held { ttl_ms: 600 })
    }

    fn by(node: &str) -> Result<Claim, LeaseError> {
        Ok(Claim::HeldBy(node.into()))
    }

    #[test]
    fn a_new_tracker_does_not_run_the_channel() {
        let t = LeaseTracker::new();
        assert_eq!(t.state(), &LeaseState::Unknown);
        assert!(!t.state().runs());
        assert!(!t.store_up());
    }

    #[test]
    fn a_held_claim_makes_the_node_active_and_another_holder_makes_it_standby() {
        let mut t = LeaseTracker::new();
        assert_eq!(t.observe(1, held()), &LeaseState::Active);
        assert!(t.store_up());
        assert_eq!(t.confirmed_ms(), Some(1));
        assert_eq!(
            t.observe(2, by("b")),
            &LeaseState::Standby { holder: "b".into() }
        );
        assert!(!t.state().runs());
        assert_eq!(t.confirmed_ms(), Some(1));
        assert_eq!(t.observe(3, held()), &LeaseState::Active);
    }

    #[test]
    fn an_active_node_keeps_running_while_the_store_is_away() {
        let mut t = LeaseTracker::new();
        t.observe(10, held());
        assert_eq!(
            t.observe(20, down()),
            &LeaseState::ActiveUnconfirmed { since_ms: 20 }
        );
        assert!(!t.store_up());
        assert!(t.state().runs());
        assert!(t.last_error().is_some());
        // Still unconfirmed since the first failure, however long it lasts.
        assert_eq!(
            t.observe(10_000_000, Err(LeaseError::Protocol("junk".into()))),
            &LeaseState::ActiveUnconfirmed { since_ms: 20 }
        );
        assert_eq!(t.observe(10_000_010, held()), &LeaseState::Active);
        assert!(t.store_up());
        assert!(t.last_error().is_none());
    }

    #[test]
    fn a_node_that_lost_the_lease_during_an_outage_stands_by_when_the_store_returns() {
        let mut t = LeaseTracker::new();
        t.observe(0, held());
        t.observe(1, down());
        assert_eq!(
            t.observe(2, by("other")),
            &LeaseState::Standby {
                holder: "other".into()
            }
        );
    }

    #[test]
    fn a_standby_never_takes_over_while_the_store_is_away() {
        let mut t = LeaseTracker::new();
        t.observe(0, by("a"));
        for now in 1..100 {
            let state = t.observe(now, down());
            assert_eq!(state, &LeaseState::Standby { holder: "a".into() });
        }
        assert!(!t.store_up());
    }

    #[test]
    fn a_node_that_never_reached_the_store_does_not_start() {
        let mut t = LeaseTracker::new();
        for now in 0..10 {
            assert_eq!(t.observe(now, Err(LeaseError::Auth)), &LeaseState::Unknown);
        }
        assert_eq!(t.last_error(), Some(&LeaseError::Auth));
        assert!(!t.state().runs());
    }
}
