//! Allocation: from per-CDN preferences to integer traffic weights in basis points.
//!
//! Every usable CDN gets a lower bound (the exploration floor, so backups stay warm and keep
//! producing measurements) and an upper bound (its max share or capacity cap). Within those
//! bounds the weights follow the preferences: `xᵢ = clamp(λ·wᵢ, loᵢ, hiᵢ)` with the one `λ` that
//! makes them add up to the whole. This is water-filling: what a capped CDN cannot take flows to
//! the others in proportion to their preferences, and a CDN raised to its floor is paid for by
//! all the others proportionally. `λ` is found by bisection, which is exact enough in 200 steps
//! and, unlike an iterative "fix the violators" loop, cannot oscillate when floors and caps bind
//! at the same time.
//!
//! The result is rounded to integer basis points by largest remainder, without leaving the
//! bounds, so the weights add up to exactly 10000 and the edge never does float maths.
//!
//! What this module does not do: decide who is usable or how much a CDN is preferred; the model
//! passes that in as [`Role`]s.

use alloc::vec;
use alloc::vec::Vec;

use super::config::BASIS_POINTS;

/// How one CDN takes part in an allocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Role {
    /// Competes for traffic with this (non-negative) preference.
    Compete(f64),
    /// Gets exactly the floor (or its cap, if lower).
    Probation,
    /// Gets nothing.
    Out,
}

/// What bound, if any, shaped a CDN's weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The preference alone.
    Free,
    /// Held down to the cap.
    Capped,
    /// Raised to the floor.
    Floor,
    /// Pushed over its cap because the caps of the usable CDNs cannot hold everyone.
    OverCapacity,
}

/// Weights in basis points (adding up to exactly 10000) and what shaped each.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Allocation {
    /// Per CDN, in basis points.
    pub bp: Vec<u16>,
    /// Per CDN.
    pub limits: Vec<Limit>,
}

const WHOLE: f64 = BASIS_POINTS as f64;

/// Allocates the whole among `roles` with per-CDN `caps_bp` and a common `floor_bp`.
///
/// The caller makes sure at least one CDN competes; if none does, every CDN competes equally
/// rather than the whole being lost.
pub(crate) fn allocate(roles: &[Role], caps_bp: &[u16], floor_bp: u16) -> Allocation {
    let n = roles.len();
    let mut roles = roles.to_vec();
    if !roles.iter().any(|r| matches!(r, Role::Compete(_))) {
        roles = vec![Role::Compete(1.0); n];
    }
    let cap = |i: usize| {
        caps_bp
            .get(i)
            .copied()
            .unwrap_or(BASIS_POINTS)
            .min(BASIS_POINTS)
    };

    let mut lo = vec![0u16; n];
    let mut hi = vec![0u16; n];
    let mut w = vec![0f64; n];
    for (i, role) in roles.iter().enumerate() {
        let (l, h, pref) = match *role {
            Role::Compete(p) => (floor_bp.min(cap(i)), cap(i), sanitize(p)),
            Role::Probation => (floor_bp.min(cap(i)), floor_bp.min(cap(i)), 0.0),
            Role::Out => (0, 0, 0.0),
        };
        set(&mut lo, i, l);
        set(&mut hi, i, h);
        set(&mut w, i, pref);
    }

    let mut limits = vec![Limit::Free; n];
    if sum_bp(&hi) < u32::from(BASIS_POINTS) {
        // The competitors' caps cannot hold the audience. A CDN on probation is unproven but has
        // capacity, and a cap is a hard limit: let probation CDNs take up to their caps first.
        for (i, role) in roles.iter().enumerate() {
            if matches!(role, Role::Probation) {
                set(&mut hi, i, cap(i));
            }
        }
    }
    if sum_bp(&hi) < u32::from(BASIS_POINTS) {
        // Still too little. Sending viewers to a gated CDN is worse than overloading a healthy
        // one, so every competitor fills its cap and the rest is spread in proportion to the
        // caps.
        for (i, role) in roles.iter().enumerate() {
            match role {
                Role::Compete(_) => {
                    let c = cap(i);
                    set(&mut lo, i, c);
                    set(&mut hi, i, BASIS_POINTS);
                    set(&mut w, i, f64::from(c));
                    set(&mut limits, i, Limit::OverCapacity);
                }
                // Full to their caps before any competitor goes beyond its own.
                Role::Probation => set(&mut lo, i, cap(i)),
                Role::Out => {}
            }
        }
    }
    if sum_bp(&hi) < u32::from(BASIS_POINTS) {
        // Only reachable if nobody competes, which the role fix-up above rules out; stay total.
        hi = vec![BASIS_POINTS; n];
    }

    let lo_f: Vec<f64> = lo.iter().map(|&x| f64::from(x)).collect();
    let hi_f: Vec<f64> = hi.iter().map(|&x| f64::from(x)).collect();
    let mut x = water_fill(&w, &lo_f, &hi_f);
    if x.iter().sum::<f64>() < WHOLE - 1e-6 {
        // Preferences of zero (backup CDNs) cannot absorb anything by scaling: when the
        // preferred CDNs are all at their caps, the rest is shared equally by those with room.
        let room: Vec<f64> = x
            .iter()
            .zip(&hi_f)
            .map(|(xi, hi)| if xi < hi { 1.0 } else { 0.0 })
            .collect();
        x = water_fill(&room, &x, &hi_f);
    }

    let bp = round_bounded(&x, &lo, &hi);

    // Explain the binding bounds, comparing with the unconstrained proportional share.
    let pool = WHOLE
        - roles
            .iter()
            .zip(&lo_f)
            .filter(|(r, _)| matches!(r, Role::Probation))
            .map(|(_, l)| l)
            .sum::<f64>();
    let total_w: f64 = w.iter().sum();
    for i in 0..n {
        let (Some(Role::Compete(_)), Some(limit)) = (roles.get(i), limits.get_mut(i)) else {
            continue;
        };
        if *limit == Limit::OverCapacity {
            continue;
        }
        let (b, l, h) = (get(&bp, i), get(&lo, i), get(&hi, i));
        let free = if total_w > 0.0 {
            get(&w, i) / total_w * pool
        } else {
            0.0
        };
        if b >= h && h < BASIS_POINTS && free > f64::from(h) {
            *limit = Limit::Capped;
        } else if b <= l && free < f64::from(l) {
            *limit = Limit::Floor;
        }
    }
    Allocation { bp, limits }
}

/// Non-finite or negative preferences count as zero.
fn sanitize(p: f64) -> f64 {
    if p.is_finite() && p > 0.0 { p } else { 0.0 }
}

fn set<T>(v: &mut [T], i: usize, value: T) {
    if let Some(slot) = v.get_mut(i) {
        *slot = value;
    }
}

fn get<T: Copy + Default>(v: &[T], i: usize) -> T {
    v.get(i).copied().unwrap_or_default()
}

fn sum_bp(v: &[u16]) -> u32 {
    v.iter().map(|&x| u32::from(x)).sum()
}

/// `clamp(λ·wᵢ, loᵢ, hiᵢ)` with `λ` chosen by bisection so the total is as close to the whole
/// as the bounds allow (from below when the preferences cannot reach it).
fn water_fill(w: &[f64], lo: &[f64], hi: &[f64]) -> Vec<f64> {
    let fill = |lambda: f64| -> Vec<f64> {
        w.iter()
            .zip(lo.iter().zip(hi))
            .map(|(wi, (l, h))| (lambda * wi).clamp(*l, l.max(*h)))
            .collect()
    };
    let total = |lambda: f64| fill(lambda).iter().sum::<f64>();
    // Beyond this λ every positive preference is at its upper bound.
    let top = w
        .iter()
        .zip(hi)
        .filter(|(wi, _)| **wi > 0.0)
        .map(|(wi, h)| h / wi)
        .fold(0.0f64, f64::max);
    if total(top) <= WHOLE {
        return fill(top);
    }
    let (mut low, mut high) = (0.0f64, top);
    for _ in 0..200 {
        let mid = low + (high - low) / 2.0;
        if total(mid) < WHOLE {
            low = mid;
        } else {
            high = mid;
        }
    }
    fill(high)
}

/// Rounds `x` (adding up to about the whole) to integers in `[lo, hi]` adding up to exactly the
/// whole: floors first, then the largest remainders get the missing units (ties: lowest index),
/// or the smallest remainders give up the excess. Needs `Σlo ≤ whole ≤ Σhi`.
fn round_bounded(x: &[f64], lo: &[u16], hi: &[u16]) -> Vec<u16> {
    let n = x.len();
    let mut out: Vec<u16> = (0..n)
        .map(|i| {
            let (l, h) = (get(lo, i), get(hi, i).max(get(lo, i)));
            let floor = libm::floor(get(x, i) + 1e-9).clamp(0.0, WHOLE) as u16;
            floor.clamp(l, h)
        })
        .collect();
    let remainder = |out: &[u16], i: usize| get(x, i) - f64::from(get(out, i));
    // Each pass moves one unit; the bounds guarantee the loop ends well before the cap.
    for _ in 0..=usize::from(BASIS_POINTS) {
        let total = sum_bp(&out);
        if total == u32::from(BASIS_POINTS) {
            break;
        }
        let pick = if total < u32::from(BASIS_POINTS) {
            (0..n)
                .filter(|&i| get(&out, i) < get(hi, i))
                .fold(None, |best: Option<usize>, i| match best {
                    Some(b) if remainder(&out, b) >= remainder(&out, i) => Some(b),
                    _ => Some(i),
                })
        } else {
            (0..n)
                .filter(|&i| get(&out, i) > get(lo, i))
                .fold(None, |best: Option<usize>, i| match best {
                    Some(b) if remainder(&out, b) <= remainder(&out, i) => Some(b),
                    _ => Some(i),
                })
        };
        let Some(i) = pick else { break };
        if let Some(v) = out.get_mut(i) {
            *v = if total < u32::from(BASIS_POINTS) {
                *v + 1
            } else {
                *v - 1
            };
        }
    }
    out
}

/// Splits `slots` in proportion to `bp` (adding up to 10000) by largest remainder; ties go to
/// the lowest index so the split is deterministic.
pub(crate) fn apportion(bp: &[u16], slots: u16) -> Vec<u16> {
    let whole = u64::from(BASIS_POINTS);
    let exact: Vec<u64> = bp
        .iter()
        .map(|&b| u64::from(b) * u64::from(slots))
        .collect();
    let mut out: Vec<u16> = exact.iter().map(|&e| (e / whole) as u16).collect();
    let given: u32 = out.iter().map(|&x| u32::from(x)).sum();
    let missing = u32::from(slots).saturating_sub(given) as usize;
    let mut order: Vec<usize> = (0..bp.len()).filter(|&i| get(bp, i) > 0).collect();
    // Largest remainder first, then lowest index.
    order.sort_by(|&a, &b| {
        (get(&exact, b) % whole)
            .cmp(&(get(&exact, a) % whole))
            .then(a.cmp(&b))
    });
    for &i in order
        .iter()
        .cycle()
        .take(if order.is_empty() { 0 } else { missing })
    {
        if let Some(v) = out.get_mut(i) {
            *v += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(a: &Allocation) -> u32 {
        sum_bp(&a.bp)
    }

    #[test]
    fn equal_preferences_split_evenly() {
        let a = allocate(&[Role::Compete(1.0); 4], &[10_000; 4], 200);
        assert_eq!(a.bp, vec![2500; 4]);
        assert_eq!(a.limits, vec![Limit::Free; 4]);
    }

    #[test]
    fn thirds_round_to_an_exact_whole() {
        let a = allocate(&[Role::Compete(1.0); 3], &[10_000; 3], 0);
        assert_eq!(a.bp, vec![3334, 3333, 3333]);
    }

    #[test]
    fn excess_over_a_cap_flows_to_the_others() {
        let roles = [Role::Compete(8.0), Role::Compete(1.0), Role::Compete(1.0)];
        let a = allocate(&roles, &[5000, 10_000, 10_000], 200);
        assert_eq!(a.bp, vec![5000, 2500, 2500]);
        assert_eq!(a.limits[0], Limit::Capped);
    }

    #[test]
    fn unfavoured_cdn_is_raised_to_the_floor() {
        let roles = [Role::Compete(1.0), Role::Compete(1e-9)];
        let a = allocate(&roles, &[10_000; 2], 200);
        assert_eq!(a.bp, vec![9800, 200]);
        assert_eq!(a.limits, vec![Limit::Free, Limit::Floor]);
    }

    #[test]
    fn probation_gets_exactly_the_floor_and_out_gets_nothing() {
        let roles = [Role::Compete(1.0), Role::Probation, Role::Out];
        let a = allocate(&roles, &[10_000; 3], 200);
        assert_eq!(a.bp, vec![9800, 200, 0]);
    }

    #[test]
    fn zero_preference_backup_absorbs_what_capped_cdns_cannot_take() {
        let roles = [Role::Compete(1.0), Role::Compete(0.0)];
        let a = allocate(&roles, &[6000, 10_000], 200);
        assert_eq!(a.bp, vec![6000, 4000]);
    }

    #[test]
    fn caps_too_small_for_the_audience_are_exceeded_proportionally() {
        let roles = [Role::Compete(1.0), Role::Compete(5.0), Role::Out];
        let a = allocate(&roles, &[3000, 3000, 10_000], 200);
        assert_eq!(a.bp, vec![5000, 5000, 0]);
        assert_eq!(a.limits[..2], [Limit::OverCapacity, Limit::OverCapacity]);
    }

    #[test]
    fn probation_cdns_fill_up_to_their_caps_before_a_cap_is_exceeded() {
        let roles = [Role::Compete(1.0), Role::Probation];
        let a = allocate(&roles, &[6000, 10_000], 200);
        assert_eq!(a.bp, vec![6000, 4000]);
        assert_eq!(a.limits[0], Limit::Capped);
    }

    #[test]
    fn caps_are_exceeded_only_once_probation_cdns_are_full() {
        let roles = [Role::Compete(1.0), Role::Probation, Role::Out];
        let a = allocate(&roles, &[3000, 2000, 10_000], 0);
        assert_eq!(a.bp, vec![8000, 2000, 0]);
        assert_eq!(a.limits[0], Limit::OverCapacity);
    }

    #[test]
    fn nobody_competing_still_allocates_the_whole() {
        let a = allocate(&[Role::Out, Role::Out], &[10_000; 2], 200);
        assert_eq!(total(&a), 10_000);
    }

    #[test]
    fn apportion_is_exact_and_deterministic() {
        assert_eq!(apportion(&[3334, 3333, 3333], 1000), vec![334, 333, 333]);
        assert_eq!(apportion(&[200, 9800], 1000), vec![20, 980]);
        assert_eq!(apportion(&[0, 10_000], 1000), vec![0, 1000]);
        assert_eq!(apportion(&[5000, 5000], 101), vec![51, 50]);
    }
}
