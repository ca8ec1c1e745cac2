//! Scores: four normalised sub-scores combined by a weighted geometric mean.
//!
//! Sub-scores, each in (0, 1], higher is better:
//!
//! | signal      | sub-score                 | why this shape                                    |
//! |-------------|---------------------------|---------------------------------------------------|
//! | throughput  | `min(1, T / T_target)`    | above ~1.5× the top rendition more does not help  |
//! | TTFB        | `F0 / (F0 + F)`           | 0.5 at `F0`, smooth, never reaches 0              |
//! | error rate  | `exp(−E / E0)`            | every extra percent of errors costs the same share |
//! | cache hits  | `H`                       | misses are origin load and extra latency          |
//!
//! The score is `exp(Σ wᵢ·ln xᵢ / Σ wᵢ)`. The key design decision is the *geometric* mean: one
//! collapsed signal collapses the score (a CDN with perfect TTFB that delivers 5 % of the needed
//! throughput is not "mostly fine"), where an arithmetic mean would let the other three hide it.
//!
//! Sparse data is shrunk toward a fallback with the credibility blend `(n·x + n0·x̄)/(n + n0)`,
//! `n` the signal's decayed sample count: a CDN's global sub-scores shrink toward the neutral
//! prior, a group's toward its CDN's global sub-scores. That one rule gives both "a group with
//! three beacons looks like its CDN" and "a CDN whose data is ageing drifts back to neutral".
//!
//! What this module does not do: gates and staleness decisions (see the `gate` module).

use serde::{Deserialize, Serialize};

use super::config::ScoreConfig;
use super::signal::{Horizon, Reading, SignalSet};

/// The smallest sub-score: keeps `ln` finite so a zero collapses the score to nearly 0, not NaN.
const FLOOR: f64 = 1e-6;

/// The four sub-scores of a CDN, each in (0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubScores {
    /// `min(1, T / T_target)`.
    pub throughput: f64,
    /// `F0 / (F0 + F)`.
    pub ttfb: f64,
    /// `exp(−E / E0)`.
    pub error: f64,
    /// Cache hit ratio.
    pub cache: f64,
}

impl SubScores {
    /// Every sub-score at the neutral prior: what a CDN with no data scores.
    pub fn prior(cfg: &ScoreConfig) -> Self {
        let p = cfg.prior.clamp(FLOOR, 1.0);
        Self {
            throughput: p,
            ttfb: p,
            error: p,
            cache: p,
        }
    }

    /// The sub-scores of `set` at `now_ms`, each shrunk toward `fallback` by its evidence.
    pub(crate) fn measure(
        set: &SignalSet,
        fallback: &SubScores,
        now_ms: u64,
        h: Horizon,
        cfg: &ScoreConfig,
    ) -> Self {
        let read =
            |m: &super::signal::DecayedMean| m.read(now_ms, h.half_life_ms, h.stale_after_ms);
        let n0 = cfg.prior_samples;
        Self {
            // Throughput and TTFB are averaged as logarithms (see `SignalSet`).
            throughput: shrink(
                read(&set.throughput),
                |ln_t| throughput_score(libm::exp(ln_t), cfg),
                fallback.throughput,
                n0,
            ),
            ttfb: shrink(
                read(&set.ttfb),
                |ln_f| ttfb_score(libm::exp(ln_f), cfg),
                fallback.ttfb,
                n0,
            ),
            error: shrink(
                read(&set.errors),
                |e| error_score(e, cfg),
                fallback.error,
                n0,
            ),
            cache: shrink(read(&set.cache), |c| c, fallback.cache, n0),
        }
    }

    /// The weighted geometric mean, in [0, 1].
    pub fn combine(&self, cfg: &ScoreConfig) -> f64 {
        let parts = [
            (self.throughput, cfg.weight_throughput),
            (self.ttfb, cfg.weight_ttfb),
            (self.error, cfg.weight_error),
            (self.cache, cfg.weight_cache),
        ];
        let total: f64 = parts.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return cfg.prior;
        }
        let log_sum: f64 = parts
            .iter()
            .map(|(x, w)| w * libm::log(x.clamp(FLOOR, 1.0)))
            .sum();
        libm::exp(log_sum / total).clamp(0.0, 1.0)
    }
}

/// The credibility blend `(n·x + n0·fallback) / (n + n0)`; no reading means the fallback.
fn shrink(reading: Option<Reading>, f: impl Fn(f64) -> f64, fallback: f64, n0: f64) -> f64 {
    let Some(Reading { mean, weight }) = reading else {
        return fallback;
    };
    let x = f(mean).clamp(FLOOR, 1.0);
    if weight + n0 <= 0.0 {
        return fallback;
    }
    (weight * x + n0 * fallback) / (weight + n0)
}

/// `min(1, T / T_target)`: an ABR player needs headroom over the bitrate it plays, so
/// throughput above the target (1.5× the top rendition by default) earns nothing more.
pub fn throughput_score(bits_per_second: f64, cfg: &ScoreConfig) -> f64 {
    (bits_per_second / cfg.throughput_target_bps).clamp(FLOOR, 1.0)
}

/// `F0 / (F0 + F)`: 1 at zero, 0.5 at the reference, and halving roughly as TTFB doubles far
/// above it.
pub fn ttfb_score(millis: f64, cfg: &ScoreConfig) -> f64 {
    (cfg.ttfb_ref_ms / (cfg.ttfb_ref_ms + millis.max(0.0))).clamp(FLOOR, 1.0)
}

/// `exp(−E / E0)`: 1 % errors costs the same fraction of score whether the base is 0 % or 3 %.
pub fn error_score(error_rate: f64, cfg: &ScoreConfig) -> f64 {
    libm::exp(-error_rate.clamp(0.0, 1.0) / cfg.error_ref).clamp(FLOOR, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::signal::Sample;

    const H: Horizon = Horizon {
        half_life_ms: 30_000,
        gate_half_life_ms: 10_000,
        stale_after_ms: 60_000,
    };

    #[test]
    fn reference_points_match_the_formulas() {
        let cfg = ScoreConfig::default();
        assert_eq!(throughput_score(4_500_000.0, &cfg), 0.5);
        assert_eq!(throughput_score(90_000_000.0, &cfg), 1.0);
        assert_eq!(ttfb_score(200.0, &cfg), 0.5);
        assert!((error_score(0.02, &cfg) - libm::exp(-1.0)).abs() < 1e-15);
    }

    #[test]
    fn geometric_mean_of_equal_parts_is_that_part() {
        let cfg = ScoreConfig::default();
        let s = SubScores {
            throughput: 0.8,
            ttfb: 0.8,
            error: 0.8,
            cache: 0.8,
        };
        assert!((s.combine(&cfg) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn one_collapsed_signal_collapses_the_score() {
        let cfg = ScoreConfig::default();
        let good = SubScores {
            throughput: 1.0,
            ttfb: 0.9,
            error: 0.95,
            cache: 0.95,
        };
        let collapsed = SubScores {
            throughput: 0.001,
            ..good
        };
        assert!(good.combine(&cfg) > 0.9);
        // An arithmetic mean would still give ~0.6.
        assert!(collapsed.combine(&cfg) < 0.1);
    }

    #[test]
    fn no_data_scores_the_prior() {
        let cfg = ScoreConfig::default();
        let prior = SubScores::prior(&cfg);
        let s = SubScores::measure(&SignalSet::default(), &prior, 0, H, &cfg);
        assert_eq!(s, prior);
        assert!((s.combine(&cfg) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn sparse_data_is_shrunk_toward_the_fallback() {
        let cfg = ScoreConfig::default();
        let prior = SubScores::prior(&cfg);
        let mut few = SignalSet::default();
        few.add(Sample::Requests(0.0, 5.0), 0, H); // 5 clean requests = n0
        let mut many = SignalSet::default();
        many.add(Sample::Requests(0.0, 20_000.0), 0, H);
        let few = SubScores::measure(&few, &prior, 0, H, &cfg).error;
        let many = SubScores::measure(&many, &prior, 0, H, &cfg).error;
        assert!(
            (few - 0.75).abs() < 1e-12,
            "halfway between 1 and the 0.5 prior: {few}"
        );
        assert!(many > 0.999);
    }

    #[test]
    fn throughput_collapse_shows_within_a_few_samples() {
        // Averaged in log space, 30 s of 6 Mbit/s history cannot mask a collapse to 6 kbit/s:
        // two samples later the geometric mean is already far below the target.
        let cfg = ScoreConfig::default();
        let prior = SubScores::prior(&cfg);
        let mut set = SignalSet::default();
        let sample = |bps: f64| {
            Sample::from_kind(crate::health::SignalKind::Throughput {
                bits_per_second: bps,
                samples: 10,
            })
        };
        for k in 0..6 {
            set.add(sample(6e6).unwrap().unwrap(), k * 5000, H);
        }
        for k in 6..8 {
            set.add(sample(6e3).unwrap().unwrap(), k * 5000, H);
        }
        let s = SubScores::measure(&set, &prior, 35_000, H, &cfg);
        assert!(s.throughput < 0.1, "{}", s.throughput);
    }

    #[test]
    fn stale_signals_fall_back_entirely() {
        let cfg = ScoreConfig::default();
        let prior = SubScores::prior(&cfg);
        let mut set = SignalSet::default();
        set.add(Sample::Throughput(libm::log(9e9) * 1000.0, 1000.0), 0, H);
        let fresh = SubScores::measure(&set, &prior, 60_000, H, &cfg);
        let stale = SubScores::measure(&set, &prior, 60_001, H, &cfg);
        assert!(fresh.throughput > 0.9);
        assert_eq!(stale.throughput, prior.throughput);
    }
}
