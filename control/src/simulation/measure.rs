//! The reroute measure: how long viewers stayed on degraded CDNs after the first degradation.
//!
//! Definition (issue 6): from the first degrading event until no more than 1 % of viewers
//! remain on degraded CDNs. A CDN is degraded while its scripted signals are worse than its
//! baseline ([`Signals::worse_than`](super::scenario::Signals::worse_than)); congestion does not
//! make a CDN degraded (it is the controller's own doing, and `capacity_violations` counts it).
//! The measure is taken once per simulated second on where viewers actually are, after their
//! reload delay, not on the published table. It is the *first* second at or below 1 %: viewers
//! drifting back later (a recovering CDN's probation share) do not undo it. A degradation that
//! leaves the CDN usable (more latency, say) keeps at least the exploration floor (2 %) on it,
//! so it never reroutes in this sense; that is the floor's purpose, not a failure.
//!
//! What this module does not do: decide what is degraded. The run passes the count.

/// The measure, fed one second at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reroute {
    /// The second the first CDN became degraded.
    pub first_degraded_at: Option<u64>,
    /// The first second since then with at most 1 % of viewers on degraded CDNs.
    pub rerouted_at: Option<u64>,
}

impl Reroute {
    /// Records second `t`: `degraded_viewers` of `viewers` are on CDNs that are degraded now,
    /// and `any_degraded` says whether any CDN is.
    pub fn record(&mut self, t: u64, any_degraded: bool, degraded_viewers: u64, viewers: u64) {
        if self.first_degraded_at.is_none() {
            if !any_degraded {
                return;
            }
            self.first_degraded_at = Some(t);
        }
        // In integers: degraded / viewers ≤ 1 / 100.
        if self.rerouted_at.is_none() && u128::from(degraded_viewers) * 100 <= u128::from(viewers) {
            self.rerouted_at = Some(t);
        }
    }

    /// Seconds from the first degradation to the reroute; `None` if nothing degraded or viewers
    /// never got down to 1 %.
    pub fn seconds(&self) -> Option<u64> {
        Some(self.rerouted_at? - self.first_degraded_at?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use proptest::prelude::*;

    use super::*;

    /// Feeds `(any_degraded, degraded_viewers)` per second from 0, of 1000 viewers.
    fn run(history: &[(bool, u64)]) -> Reroute {
        let mut r = Reroute::default();
        for (t, &(any, n)) in (0u64..).zip(history) {
            r.record(t, any, n, 1000);
        }
        r
    }

    #[test]
    fn nothing_degraded_measures_nothing() {
        let r = run(&[(false, 0); 10]);
        assert_eq!(r.seconds(), None);
        assert_eq!(r.first_degraded_at, None);
    }

    #[test]
    fn counts_from_the_degradation_to_the_first_second_at_one_percent() {
        let r = run(&[
            (false, 0),
            (false, 0),
            (true, 330),
            (true, 330),
            (true, 120),
            (true, 11),
            (true, 10),
            (true, 0),
        ]);
        assert_eq!(r.first_degraded_at, Some(2));
        // 11 of 1000 is above 1 %, 10 is not.
        assert_eq!(r.rerouted_at, Some(6));
        assert_eq!(r.seconds(), Some(4));
    }

    #[test]
    fn never_down_to_one_percent_is_none() {
        // The exploration floor keeps 2 % on a slow but usable CDN.
        let r = run(&[(false, 0), (true, 500), (true, 20), (true, 20)]);
        assert_eq!(r.first_degraded_at, Some(1));
        assert_eq!(r.seconds(), None);
    }

    #[test]
    fn a_degraded_cdn_without_viewers_is_rerouted_at_once() {
        let r = run(&[(false, 0), (true, 0), (true, 0)]);
        assert_eq!(r.seconds(), Some(0));
    }

    #[test]
    fn viewers_returning_later_do_not_undo_the_reroute() {
        let r = run(&[(true, 400), (true, 5), (true, 30), (false, 30)]);
        assert_eq!(r.seconds(), Some(1));
    }

    proptest! {
        #[test]
        fn the_reroute_is_the_first_second_at_or_below_one_percent_after_the_start(
            history in proptest::collection::vec((any::<bool>(), 0u64..1000), 0..50)
        ) {
            let r = run(&history);
            let start = history.iter().position(|(any, _)| *any);
            prop_assert_eq!(r.first_degraded_at, start.map(|s| s as u64));
            if let Some(s) = start {
                let end = history.iter().skip(s).position(|(_, n)| *n <= 10);
                prop_assert_eq!(r.seconds(), end.map(|e| e as u64));
            } else {
                prop_assert_eq!(r.seconds(), None);
            }
        }
    }
}
