//! The error-rate gate: a hard cut that takes a CDN out, with hysteresis on the way back in.
//!
//! Scores steer; the gate protects. A CDN whose error rate is over `down_error_rate` for `k_down`
//! consecutive evaluations is *down* and gets no traffic, whatever its score. Two thresholds and
//! consecutive counts (the pattern of Cloudflare load balancer monitors' `consecutive_down` and
//! `consecutive_up`, and of HAProxy's `fall`/`rise`) keep one noisy evaluation from flapping it.
//!
//! The way back is a half-open circuit breaker: a down CDN moves to *probation* after `k_up`
//! consecutive good evaluations (controller probes keep measuring it) or, per the staleness rule,
//! as soon as its bad data is stale: old bad data must not keep a CDN out forever. Probation means
//! the exploration floor of traffic; `k_up` good evaluations there reopen it fully, and one bad
//! one closes it again.
//!
//! A bad verdict needs `min_requests` of decayed evidence, a good one does not: gating on three
//! requests would let noise take a CDN out, while leaving probation on thin good evidence only
//! risks the exploration floor.
//!
//! What this module does not do: read signals or allocate traffic. It maps a verdict per
//! evaluation to a state.

use super::config::GateConfig;
use super::signal::Reading;

/// One evaluation's reading of the gate's error rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Above the down threshold, with enough evidence.
    Bad,
    /// Above the down threshold, but too few requests to act on.
    Sparse,
    /// Between the thresholds.
    Neutral,
    /// At or below the up threshold.
    Good,
    /// No fresh request data.
    Stale,
}

impl Verdict {
    /// Classifies a fresh (or absent) error-rate reading.
    pub fn of(reading: Option<Reading>, cfg: &GateConfig) -> Self {
        match reading {
            None => Verdict::Stale,
            Some(r) if r.mean > cfg.down_error_rate => {
                if r.weight >= cfg.min_requests {
                    Verdict::Bad
                } else {
                    Verdict::Sparse
                }
            }
            Some(r) if r.mean <= cfg.up_error_rate => Verdict::Good,
            Some(_) => Verdict::Neutral,
        }
    }
}

/// Where the gate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// Open: the CDN competes for traffic.
    Up,
    /// Closed: no traffic.
    Down,
    /// Half-open: the exploration floor of traffic until `k_up` good evaluations.
    Probation,
}

/// The gate of one CDN (globally or in one group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gate {
    /// Current position.
    pub position: Position,
    /// Consecutive evaluations pointing away from the current position.
    streak: u8,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            position: Position::Up,
            streak: 0,
        }
    }
}

impl Gate {
    /// Applies one evaluation's verdict.
    pub fn step(&mut self, verdict: Verdict, cfg: &GateConfig) {
        let (position, streak) = match (self.position, verdict) {
            (Position::Up, Verdict::Bad) => self.count(cfg.k_down, Position::Down),
            (Position::Up, Verdict::Good | Verdict::Neutral) => (Position::Up, 0),
            (Position::Up, Verdict::Sparse | Verdict::Stale) => (Position::Up, self.streak),

            (Position::Down, Verdict::Good) => self.count(cfg.k_up, Position::Probation),
            // The staleness rule: the data that closed the gate no longer counts.
            (Position::Down, Verdict::Stale) => (Position::Probation, 0),
            (Position::Down, Verdict::Bad | Verdict::Sparse | Verdict::Neutral) => {
                (Position::Down, 0)
            }

            // Probation exists to test the CDN: one bad evaluation is enough.
            (Position::Probation, Verdict::Bad) => (Position::Down, 0),
            (Position::Probation, Verdict::Good) => self.count(cfg.k_up, Position::Up),
            (Position::Probation, Verdict::Neutral | Verdict::Sparse) => (Position::Probation, 0),
            (Position::Probation, Verdict::Stale) => (Position::Probation, self.streak),
        };
        self.position = position;
        self.streak = streak;
    }

    /// One more evaluation toward `to`; switches once `k` in a row are reached.
    fn count(&self, k: u8, to: Position) -> (Position, u8) {
        let streak = self.streak.saturating_add(1);
        if streak >= k {
            (to, 0)
        } else {
            (self.position, streak)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(mean: f64, weight: f64) -> Option<Reading> {
        Some(Reading { mean, weight })
    }

    fn run(gate: &mut Gate, verdicts: &[Verdict]) -> Position {
        let cfg = GateConfig::default();
        for v in verdicts {
            gate.step(*v, &cfg);
        }
        gate.position
    }

    #[test]
    fn verdicts_follow_the_two_thresholds() {
        let cfg = GateConfig::default();
        assert_eq!(Verdict::of(reading(0.06, 100.0), &cfg), Verdict::Bad);
        assert_eq!(Verdict::of(reading(0.06, 5.0), &cfg), Verdict::Sparse);
        assert_eq!(Verdict::of(reading(0.03, 100.0), &cfg), Verdict::Neutral);
        assert_eq!(Verdict::of(reading(0.02, 1.0), &cfg), Verdict::Good);
        assert_eq!(Verdict::of(None, &cfg), Verdict::Stale);
    }

    #[test]
    fn k_down_consecutive_bad_evaluations_close_the_gate() {
        let mut g = Gate::default();
        assert_eq!(run(&mut g, &[Verdict::Bad]), Position::Up);
        assert_eq!(run(&mut g, &[Verdict::Bad]), Position::Down);
    }

    #[test]
    fn an_interrupted_bad_streak_does_not_close_the_gate() {
        let mut g = Gate::default();
        let bumpy = [
            Verdict::Bad,
            Verdict::Neutral,
            Verdict::Bad,
            Verdict::Good,
            Verdict::Bad,
        ];
        assert_eq!(run(&mut g, &bumpy), Position::Up);
    }

    #[test]
    fn stale_bad_data_moves_a_closed_gate_to_probation() {
        let mut g = Gate {
            position: Position::Down,
            streak: 0,
        };
        assert_eq!(run(&mut g, &[Verdict::Stale]), Position::Probation);
    }

    #[test]
    fn k_up_good_evaluations_lead_back_through_probation() {
        let mut g = Gate {
            position: Position::Down,
            streak: 0,
        };
        assert_eq!(run(&mut g, &[Verdict::Good, Verdict::Good]), Position::Down);
        assert_eq!(run(&mut g, &[Verdict::Good]), Position::Probation);
        assert_eq!(
            run(&mut g, &[Verdict::Good, Verdict::Good]),
            Position::Probation
        );
        assert_eq!(run(&mut g, &[Verdict::Good]), Position::Up);
    }

    #[test]
    fn one_bad_evaluation_on_probation_closes_the_gate() {
        let mut g = Gate {
            position: Position::Probation,
            streak: 2,
        };
        assert_eq!(run(&mut g, &[Verdict::Bad]), Position::Down);
    }

    #[test]
    fn sparse_bad_data_never_closes_the_gate() {
        let mut g = Gate::default();
        assert_eq!(run(&mut g, &[Verdict::Sparse; 10]), Position::Up);
    }
}
