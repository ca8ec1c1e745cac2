//! The heartbeat: a task that claims a node's channels every third of the lease's time to
//! live and publishes where the node stands on each.
//!
//! The node reads the published [`Leases`] to act (run a channel whose state
//! [`runs`](LeaseState::runs), stop one that does not) and to report (`/healthz`, `/metrics`:
//! whether the store is up, each channel's state, failed rounds). A third of the time to live
//! lets two consecutive claims fail, or be late, before a healthy holder's lease can expire.
//!
//! Within a round, once the store has been found unreachable the remaining channels are not
//! tried again: they get the same error, so an outage costs one set of timeouts per round, not
//! one per channel.
//!
//! After the store has been away, a node claims only the leases it runs until one time to
//! live after the store answers again (`HoldOff`). An outage longer than the time to live
//! leaves every lease expired (a restarted Redis without persistence, or a replica promoted
//! after Sentinel's own down-after time, commonly 30 s): without the hold-off, the first node
//! to reach the store takes each free lease, and if that is a standby, the node that kept the
//! channel on the air through the outage stops it, and players wait for the standby's cold
//! start. With it, the running node renews at its next heartbeat, well within the time to
//! live, and standbys find it holding the lease.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::now_ms;

use super::{LeaseError, LeaseState, LeaseStore, LeaseTracker, Name, check_ttl};

/// Where a node stands on its leases, as of its last heartbeat round. Its times (`updated_ms`,
/// an `ActiveUnconfirmed` state's `since_ms`) are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leases {
    /// This node's id.
    pub node: Name,
    /// The store kind, `embedded` or `redis`.
    pub store: &'static str,
    /// Whether every claim (or, with no channels, a ping) of the last round was answered.
    /// `false` until the first round is done.
    pub store_up: bool,
    /// The Redis primary in use (`host:port`), when connected to one.
    pub primary: Option<String>,
    /// Each channel's state.
    pub channels: BTreeMap<Name, LeaseState>,
    /// Why the last round failed, if it did.
    pub last_error: Option<LeaseError>,
    /// Rounds done.
    pub rounds: u64,
    /// Rounds in which the store could not be used.
    pub failed_rounds: u64,
    /// When the last round ended, Unix milliseconds (0 before the first).
    pub updated_ms: u64,
}

impl Leases {
    /// A channel's state: `Unknown` for a channel this node does not claim.
    pub fn state(&self, channel: &Name) -> &LeaseState {
        self.channels.get(channel).unwrap_or(&LeaseState::Unknown)
    }

    /// Whether the node should be running `channel`.
    pub fn runs(&self, channel: &Name) -> bool {
        self.state(channel).runs()
    }
}

/// A running heartbeat. Dropping it stops the task at once without releasing anything, as a
/// crash would (the leases expire); [`Heartbeat::stop`] releases them for a prompt handover.
#[derive(Debug)]
pub struct Heartbeat {
    leases: watch::Receiver<Leases>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<usize>>,
}

impl Heartbeat {
    /// Starts claiming `channels` for `node` every `ttl_ms / 3` on the current Tokio runtime,
    /// the first round at once. Fails if the time to live is out of range.
    pub fn start(
        store: LeaseStore,
        node: Name,
        channels: impl IntoIterator<Item = Name>,
        ttl_ms: u64,
    ) -> Result<Heartbeat, LeaseError> {
        let ttl_ms = check_ttl(ttl_ms)?;
        let trackers: BTreeMap<Name, LeaseTracker> = channels
            .into_iter()
            .map(|c| (c, LeaseTracker::new()))
            .collect();
        let initial = Leases {
            node: node.clone(),
            store: store.kind(),
            store_up: false,
            primary: None,
            channels: trackers
                .iter()
                .map(|(c, t)| (c.clone(), t.state().clone()))
                .collect(),
            last_error: None,
            rounds: 0,
            failed_rounds: 0,
            updated_ms: 0,
        };
        let (tx, rx) = watch::channel(initial);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(store, node, trackers, ttl_ms, tx, stop_rx));
        Ok(Heartbeat {
            leases: rx,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The latest snapshot.
    pub fn leases(&self) -> Leases {
        self.leases.borrow().clone()
    }

    /// A receiver that sees every new snapshot (`changed().await`).
    pub fn watch(&self) -> watch::Receiver<Leases> {
        self.leases.clone()
    }

    /// Stops after the current round and releases every lease this node holds, so standbys
    /// take over at their next heartbeat. Returns how many were released (a store that is
    /// away releases none: those leases expire instead).
    pub async fn stop(mut self) -> usize {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or(0),
            None => 0,
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn run(
    store: LeaseStore,
    node: Name,
    mut trackers: BTreeMap<Name, LeaseTracker>,
    ttl_ms: u64,
    tx: watch::Sender<Leases>,
    mut stop: oneshot::Receiver<()>,
) -> usize {
    let period = Duration::from_millis(ttl_ms / 3);
    let (mut rounds, mut failed_rounds) = (0u64, 0u64);
    let mut hold_off = HoldOff::default();
    loop {
        let started = Instant::now();
        let mut failure: Option<LeaseError> = None;
        let mut claimed = false;
        for (channel, tracker) in &mut trackers {
            if hold_off.holds(started) && !tracker.state().runs() {
                continue;
            }
            claimed = true;
            let claim = match &failure {
                // A protocol error is about one key; anything else is about the store.
                Some(e) if !matches!(e, LeaseError::Protocol(_)) => Err(e.clone()),
                _ => store.claim(channel, &node, ttl_ms).await,
            };
            if let Err(e) = &claim {
                failure = Some(e.clone());
            }
            tracker.observe(now_ms(), claim);
        }
        if !claimed {
            // No channel, or none claimed this round: the health still says whether the
            // store answers, and the hold-off ends only once it does.
            failure = store.ping().await.err();
        }
        hold_off.after_round(
            failure.is_none(),
            Instant::now(),
            Duration::from_millis(ttl_ms),
        );
        rounds += 1;
        failed_rounds += u64::from(failure.is_some());
        let primary = match &store {
            LeaseStore::Redis(redis) => redis.primary().await,
            LeaseStore::Embedded(_) => None,
        };
        tx.send_replace(Leases {
            node: node.clone(),
            store: store.kind(),
            store_up: failure.is_none(),
            primary,
            channels: trackers
                .iter()
                .map(|(c, t)| (c.clone(), t.state().clone()))
                .collect(),
            last_error: failure,
            rounds,
            failed_rounds,
            updated_ms: now_ms(),
        });
        tokio::select! {
            _ = tokio::time::sleep_until(started + period) => {}
            _ = &mut stop => break,
        }
    }
    let mut released = 0;
    for (channel, tracker) in &trackers {
        if tracker.state().runs() && store.release(channel, &node).await == Ok(true) {
            released += 1;
        }
    }
    released
}

/// Whether a node holds off claiming the leases it does not run: from a failed round until
/// one time to live after the store next answers (see the module's documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum HoldOff {
    /// The store has answered every round so far: claim everything.
    #[default]
    No,
    /// The last round failed: claim only what runs.
    StoreAway,
    /// The store answered again: claim only what runs until then.
    Until(Instant),
}

impl HoldOff {
    fn holds(&self, now: Instant) -> bool {
        match self {
            HoldOff::No => false,
            HoldOff::StoreAway => true,
            HoldOff::Until(until) => now < *until,
        }
    }

    fn after_round(&mut self, answered: bool, now: Instant, ttl: Duration) {
        *self = match (*self, answered) {
            (_, false) => HoldOff::StoreAway,
            (HoldOff::StoreAway, true) => HoldOff::Until(now + ttl),
            (HoldOff::Until(until), true) if now >= until => HoldOff::No,
            (kept, true) => kept,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    async fn settled(h: &Heartbeat, rounds: u64) -> Leases {
        let mut rx = h.watch();
        loop {
            if rx.borrow().rounds >= rounds {
                return rx.borrow().clone();
            }
            rx.changed().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_lone_node_on_the_embedded_store_runs_its_channels() {
        let h =
            Heartbeat::start(LeaseStore::embedded(), n("a"), [n("news"), n("sport")], 300).unwrap();
        let leases = settled(&h, 1).await;
        assert!(leases.store_up);
        assert_eq!(leases.store, "embedded");
        assert!(leases.runs(&n("news")) && leases.runs(&n("sport")));
        assert!(!leases.runs(&n("weather")));
        assert_eq!(h.stop().await, 2);
    }

    #[tokio::test]
    async fn a_second_node_stands_by_and_takes_over_when_the_first_stops() {
        let store = LeaseStore::embedded();
        let a = Heartbeat::start(store.clone(), n("a"), [n("news")], 300).unwrap();
        settled(&a, 1).await;
        let b = Heartbeat::start(store.clone(), n("b"), [n("news")], 300).unwrap();
        let leases = settled(&b, 1).await;
        assert_eq!(
            leases.state(&n("news")),
            &LeaseState::Standby { holder: "a".into() }
        );
        // A stops cleanly: its lease is released, and B takes it at its next round (100 ms),
        // long before the 300 ms lease would have expired.
        assert_eq!(a.stop().await, 1);
        let released = Instant::now();
        let mut rx = b.watch();
        while !rx.borrow_and_update().runs(&n("news")) {
            rx.changed().await.unwrap();
        }
        assert!(released.elapsed() < Duration::from_millis(250));
    }

    #[test]
    fn after_the_store_was_away_standbys_hold_off_for_one_time_to_live() {
        let (t0, ttl) = (Instant::now(), Duration::from_millis(1500));
        let mut h = HoldOff::default();
        h.after_round(true, t0, ttl);
        assert!(
            !h.holds(t0),
            "a store that always answered holds nothing off"
        );
        h.after_round(false, t0, ttl);
        assert!(
            h.holds(t0 + Duration::from_secs(3600)),
            "held off while away"
        );
        let back = t0 + Duration::from_secs(10);
        h.after_round(true, back, ttl);
        assert!(h.holds(back + ttl - Duration::from_millis(1)));
        assert!(!h.holds(back + ttl));
        h.after_round(true, back + ttl, ttl);
        assert_eq!(h, HoldOff::No);
    }

    #[tokio::test]
    async fn a_time_to_live_out_of_range_is_refused() {
        let e = Heartbeat::start(LeaseStore::embedded(), n("a"), [n("x")], 100).unwrap_err();
        assert!(matches!(e, LeaseError::Config(_)));
    }
}
