//! The slot table: stable per-session buckets, and how the controller moves them.
//!
//! The audience is cut into `slots` buckets (1000 by default). A viewer's bucket is a stable hash
//! of its session id ([`session_slot`]); the table says which CDN serves each bucket. The edge
//! needs nothing else: one hash and one lookup per request, no float maths, no state.
//!
//! The key design decision is that the *controller moves buckets, not probabilities*. Weighted
//! random choice per request would reshuffle viewers at every weight change; with a table, a
//! viewer changes CDN only when its own bucket moves, and the controller decides exactly which
//! buckets move and when:
//!
//! * **Failover**: every bucket of a gated CDN (and the excess of a collapsed one) moves in the
//!   same step, ignoring dwell and the migration budget. An outage is not a rebalancing problem.
//! * **Bounded migration**: otherwise at most `max_migration_bp` of the table moves per step.
//! * **Minimum dwell**: a bucket that moved cannot move again within `min_dwell_ms`, so no viewer
//!   is bounced between CDNs; buckets that never moved are moved first, spreading switches.
//!
//! What this module does not do: choose the target counts (see the `allocation` module).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

/// Domain-separation prefix of [`session_slot`]'s hash; the `v1` changes if the mapping ever does.
const SLOT_DOMAIN: &[u8] = b"usher/session-slot/v1\0";

/// The viewer's slot: `u64::from_be_bytes(SHA-256("usher/session-slot/v1\0" ‖ session_id)[0..8])
/// % slots`.
///
/// SHA-256 rather than a faster non-cryptographic hash because its output bits are uniform for
/// any input shape (FNV-1a's low bits, for one, depend only on the inputs' low bits, which skews
/// `% 1000` for sequential ids), it is defined by a standard so the controller, the simulator and
/// third-party tools can reproduce it in any language, and `sha2` is already a dependency. The
/// prefix keeps the value unrelated to any other SHA-256 of a session id. This mapping is part of
/// the snapshot format: changing it remaps every viewer, so it never changes within a format
/// version. Returns 0 when `slots` is 0.
pub fn session_slot(session_id: &[u8], slots: u16) -> u16 {
    if slots == 0 {
        return 0;
    }
    let digest = Sha256::new()
        .chain_update(SLOT_DOMAIN)
        .chain_update(session_id)
        .finalize();
    let head = digest
        .iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    // The remainder is below `slots`, so it fits in u16. Modulo bias is below 2^-48.
    (head % u64::from(slots)) as u16
}

/// The static layout's CDN for `slot`: the slot's midpoint `(2·slot + 1)·5000 / slots` (in basis
/// points, integer division) falls into the CDN whose cumulative static weight range holds it.
///
/// The controller's table starts as this layout, and the edge uses it when its snapshot has
/// expired, so a cold start and a stale snapshot put viewers in the same place.
pub fn static_slot_cdn(static_weights_bp: &[u16], slot: u16, slots: u16) -> Option<usize> {
    if slots == 0 {
        return None;
    }
    let point = (2 * u32::from(slot) + 1) * 5000 / u32::from(slots);
    let mut cumulative = 0u32;
    for (i, &w) in static_weights_bp.iter().enumerate() {
        cumulative += u32::from(w);
        if point < cumulative {
            return Some(i);
        }
    }
    // Weights adding up to less than the whole: the last CDN with weight takes the rest.
    static_weights_bp.iter().rposition(|&w| w > 0)
}

/// The alphabet of the snapshot's slot string: one character per slot, the CDN's index.
pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The character for CDN index `i` (indexes are below 62, see `MAX_CDNS`).
pub(crate) fn encode(table: &[u8]) -> String {
    table
        .iter()
        .map(|&i| char::from(ALPHABET.get(usize::from(i)).copied().unwrap_or(b'?')))
        .collect()
}

/// The CDN index a slot-string character stands for.
pub(crate) fn decode_char(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'z' => Some(c - b'a' + 10),
        b'A'..=b'Z' => Some(c - b'A' + 36),
        _ => None,
    }
}

/// A slot table with each slot's last move time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Table {
    /// CDN index per slot.
    pub cdn_of: Vec<u8>,
    /// When each slot last moved; `None` if never.
    pub moved_at: Vec<Option<u64>>,
}

/// One slot move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Move {
    /// The slot.
    pub slot: u16,
    /// CDN index it left.
    pub from: u8,
    /// CDN index it joined.
    pub to: u8,
    /// Whether it was a failover move (outside the budget and dwell).
    pub failover: bool,
}

/// What one rebalancing step did, and why slots are still off target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The moves, in order.
    pub moves: Vec<Move>,
    /// Per CDN: off target because the slots that would move are within their dwell.
    pub dwell_held: Vec<bool>,
    /// Per CDN: off target because the migration budget ran out.
    pub bounded: Vec<bool>,
}

impl Table {
    /// The static layout for `static_weights_bp`.
    pub fn from_static(static_weights_bp: &[u16], slots: u16) -> Self {
        let cdn_of = (0..slots)
            .map(|s| static_slot_cdn(static_weights_bp, s, slots).unwrap_or(0) as u8)
            .collect();
        Self {
            cdn_of,
            moved_at: vec![None; usize::from(slots)],
        }
    }

    /// Slots per CDN index, for `n` CDNs.
    pub fn counts(&self, n: usize) -> Vec<u16> {
        let mut counts = vec![0u16; n];
        for &c in &self.cdn_of {
            if let Some(x) = counts.get_mut(usize::from(c)) {
                *x += 1;
            }
        }
        counts
    }

    /// Moves slots toward `target` (slot counts per CDN, adding up to the table size).
    ///
    /// Slots of CDNs flagged `urgent` beyond their target move first and unconditionally;
    /// then at most `budget` slots whose last move is at least `min_dwell_ms` old.
    pub fn rebalance(
        &mut self,
        target: &[u16],
        urgent: &[bool],
        now_ms: u64,
        min_dwell_ms: u64,
        budget: usize,
    ) -> Step {
        let n = target.len();
        let counts = self.counts(n);
        let at = |v: &[u16], i: usize| i64::from(v.get(i).copied().unwrap_or(0));
        let mut surplus: Vec<i64> = (0..n)
            .map(|i| (at(&counts, i) - at(target, i)).max(0))
            .collect();
        let mut deficit: Vec<i64> = (0..n)
            .map(|i| (at(target, i) - at(&counts, i)).max(0))
            .collect();
        let mut step = Step {
            moves: Vec::new(),
            dwell_held: vec![false; n],
            bounded: vec![false; n],
        };

        // Candidates per donor: never-moved slots first, then the longest-settled, so switches
        // spread over the audience instead of hitting the same viewers again.
        let mut order: Vec<usize> = (0..self.cdn_of.len()).collect();
        order.sort_by_key(|&s| (self.moved_at.get(s).copied().flatten(), s));
        let mut queues: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut orphans = Vec::new();
        for s in order {
            let c = usize::from(self.cdn_of.get(s).copied().unwrap_or(u8::MAX));
            match queues.get_mut(c) {
                Some(q) => q.push(s),
                // An index past the CDN list cannot be served: treat it as failed.
                None => orphans.push(s),
            }
        }

        // Failover: orphans, then each urgent CDN's surplus, regardless of dwell and budget.
        for s in orphans {
            self.move_slot(s, &mut deficit, true, now_ms, &mut step);
        }
        for c in 0..n {
            if !urgent.get(c).copied().unwrap_or(false) {
                continue;
            }
            let take = usize::try_from(surplus.get(c).copied().unwrap_or(0)).unwrap_or(0);
            let Some(queue) = queues.get_mut(c) else {
                continue;
            };
            let taken: Vec<usize> = queue.drain(..take.min(queue.len())).collect();
            for s in taken {
                self.move_slot(s, &mut deficit, true, now_ms, &mut step);
                if let Some(x) = surplus.get_mut(c) {
                    *x -= 1;
                }
            }
        }

        // Balancing: within the budget, only slots past their dwell.
        for q in &mut queues {
            q.retain(|&s| match self.moved_at.get(s).copied().flatten() {
                Some(t) => now_ms.saturating_sub(t) >= min_dwell_ms,
                None => true,
            });
            // Pop from the back in candidate order.
            q.reverse();
        }
        let mut left = budget;
        while left > 0 {
            let donor = (0..n)
                .filter(|&c| surplus.get(c).is_some_and(|&x| x > 0))
                .filter(|&c| queues.get(c).is_some_and(|q| !q.is_empty()))
                .max_by_key(|&c| (surplus.get(c).copied().unwrap_or(0), core::cmp::Reverse(c)));
            let Some(donor) = donor else { break };
            if deficit.iter().all(|&d| d <= 0) {
                break;
            }
            let Some(s) = queues.get_mut(donor).and_then(Vec::pop) else {
                break;
            };
            self.move_slot(s, &mut deficit, false, now_ms, &mut step);
            if let Some(x) = surplus.get_mut(donor) {
                *x -= 1;
            }
            left -= 1;
        }

        // Explain what is still off target.
        let off = |c: usize| {
            surplus.get(c).is_some_and(|&x| x > 0) || deficit.get(c).is_some_and(|&x| x > 0)
        };
        for c in 0..n {
            if !off(c) {
                continue;
            }
            let flag = if left == 0 {
                step.bounded.get_mut(c)
            } else {
                step.dwell_held.get_mut(c)
            };
            if let Some(flag) = flag {
                *flag = true;
            }
        }
        step
    }

    /// Moves slot `s` to the CDN with the largest remaining deficit (ties: lowest index).
    fn move_slot(
        &mut self,
        s: usize,
        deficit: &mut [i64],
        failover: bool,
        now: u64,
        step: &mut Step,
    ) {
        let to = (0..deficit.len())
            .filter(|&c| deficit.get(c).is_some_and(|&d| d > 0))
            .max_by_key(|&c| (deficit.get(c).copied().unwrap_or(0), core::cmp::Reverse(c)));
        let (Some(to), Some(cdn), Some(moved)) =
            (to, self.cdn_of.get_mut(s), self.moved_at.get_mut(s))
        else {
            return;
        };
        if let Some(d) = deficit.get_mut(to) {
            *d -= 1;
        }
        // `to` indexes a CDN list of at most 62 and `s` a table of at most 10000 slots.
        step.moves.push(Move {
            slot: s as u16,
            from: *cdn,
            to: to as u8,
            failover,
        });
        *cdn = to as u8;
        *moved = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_slot_is_in_range_and_deterministic() {
        for id in [&b""[..], b"a", b"viewer-42", &[0xff; 300]] {
            let s = session_slot(id, 1000);
            assert!(s < 1000);
            assert_eq!(s, session_slot(id, 1000));
        }
        assert_eq!(session_slot(b"x", 0), 0);
    }

    #[test]
    fn static_layout_follows_the_static_weights() {
        let t = Table::from_static(&[6000, 0, 4000], 1000);
        assert_eq!(t.counts(3), vec![600, 0, 400]);
        assert_eq!(static_slot_cdn(&[6000, 0, 4000], 599, 1000), Some(0));
        assert_eq!(static_slot_cdn(&[6000, 0, 4000], 600, 1000), Some(2));
        assert_eq!(
            Table::from_static(&[3334, 3333, 3333], 100).counts(3),
            vec![33, 34, 33]
        );
    }

    #[test]
    fn slot_characters_round_trip() {
        let table: Vec<u8> = (0..62).collect();
        let s = encode(&table);
        assert_eq!(s.len(), 62);
        let back: Vec<u8> = s.bytes().map(|c| decode_char(c).unwrap()).collect();
        assert_eq!(back, table);
        assert_eq!(decode_char(b'-'), None);
    }

    #[test]
    fn urgent_cdn_is_emptied_in_one_step_regardless_of_budget_and_dwell() {
        let mut t = Table::from_static(&[5000, 5000], 1000);
        t.moved_at = vec![Some(1000); 1000];
        let step = t.rebalance(&[0, 1000], &[true, false], 1000, 60_000, 1);
        assert_eq!(t.counts(2), vec![0, 1000]);
        assert_eq!(step.moves.len(), 500);
        assert!(
            step.moves
                .iter()
                .all(|m| m.failover && m.from == 0 && m.to == 1)
        );
    }

    #[test]
    fn balancing_respects_the_budget() {
        let mut t = Table::from_static(&[5000, 5000], 1000);
        let step = t.rebalance(&[300, 700], &[false, false], 0, 60_000, 50);
        assert_eq!(step.moves.len(), 50);
        assert_eq!(t.counts(2), vec![450, 550]);
        assert_eq!(step.bounded, vec![true, true]);
    }

    #[test]
    fn slots_within_their_dwell_stay_put() {
        let mut t = Table::from_static(&[5000, 5000], 1000);
        t.rebalance(&[300, 700], &[false, false], 0, 60_000, 1000);
        assert_eq!(t.counts(2), vec![300, 700]);
        // Everything that moved to CDN 1 is within its dwell; only never-moved slots may go back.
        let step = t.rebalance(&[800, 200], &[false, false], 30_000, 60_000, 1000);
        assert_eq!(t.counts(2), vec![800, 200]);
        assert!(step.moves.iter().all(|m| m.from == 1));
        let never_moved_on_1 = 500;
        assert_eq!(step.moves.len(), never_moved_on_1);
        let back = t.rebalance(&[0, 1000], &[false, false], 31_000, 60_000, 1000);
        // Slots that moved 1 s ago are held; the rest (300 never-moved on CDN 0) go.
        assert_eq!(back.moves.len(), 300);
        assert_eq!(back.dwell_held, vec![true, true]);
    }

    #[test]
    fn never_moved_slots_move_before_recently_moved_ones() {
        let mut t = Table::from_static(&[10_000, 0], 100);
        t.moved_at[0] = Some(0);
        let step = t.rebalance(&[99, 1], &[false, false], 100_000, 60_000, 1);
        assert_eq!(step.moves[0].slot, 1);
    }
}
