//! Signal ingestion: observations in, time-decayed averages out.
//!
//! Observations arrive at irregular times (probe results every few seconds, CMCD beacons whenever
//! players send them, CDN log batches once a minute), sometimes out of order and sometimes in
//! bursts with the same timestamp. Each signal keeps a *decayed sum and a decayed weight*:
//!
//! ```text
//! S(t) = Σ nᵢ·xᵢ·2^(−(t−tᵢ)/h)      W(t) = Σ nᵢ·2^(−(t−tᵢ)/h)      mean = S/W
//! ```
//!
//! with `h` the half-life and `nᵢ` the sample count. This is the irregular-interval EWMA
//! `m += (1 − e^(−Δt/τ))(x − m)` (with `τ = h/ln 2`) generalised to weighted samples, and it fixes
//! that formula's two problems: two samples with the same timestamp both count (Δt = 0 would give
//! the second one zero weight), and late samples are folded in with their own age, so the result
//! does not depend on arrival order. `W` doubles as the effective sample count that the shrinkage
//! and the gate's minimum-evidence rule use.
//!
//! The staleness rule lives here too: a signal whose newest sample is older than `stale_after_ms`
//! reads as absent, and the next sample after such a gap starts from zero instead of being
//! averaged with data that no longer describes the CDN.
//!
//! What this module does not do: decide anything. It turns observations into numbers; [`score`]
//! and the `gate` module interpret them.
//!
//! [`score`]: super::score

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

/// One measurement of one CDN, optionally for one client group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// The CDN's configured id.
    pub cdn: String,
    /// The client group (e.g. `"country:DE"`, `"asn:3320"`), if known. Every observation counts
    /// toward the CDN's global figures; it also counts toward the group's own figures when the
    /// group is configured.
    #[serde(default)]
    pub group: Option<String>,
    /// When it was measured, in unix milliseconds.
    pub at_ms: u64,
    /// What was measured.
    pub kind: SignalKind,
}

/// What an [`Observation`] measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalKind {
    /// Delivered throughput, e.g. CMCD `mtp` (CTA-5004 measured throughput, which players send in
    /// kbit/s: multiply by 1000) or a probe's segment download rate.
    Throughput {
        /// Mean throughput of the samples, in bit/s.
        bits_per_second: f64,
        /// How many samples the mean covers.
        samples: u32,
    },
    /// Time to first byte of segment requests (probes, or player reports).
    Ttfb {
        /// Mean TTFB of the samples, in milliseconds.
        millis: f64,
        /// How many samples the mean covers.
        samples: u32,
    },
    /// Edge cache outcomes, e.g. counted from the `Cache-Status` response header (RFC 9211) or
    /// CDN logs.
    Cache {
        /// Requests served from the CDN's cache.
        hits: u64,
        /// Requests that went to origin.
        misses: u64,
    },
    /// Request outcomes: 5xx, timeouts and connection failures count as errors.
    Requests {
        /// Requests made.
        requests: u64,
        /// Of which failed.
        errors: u64,
    },
}

/// Why an observation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObserveError {
    /// The CDN id is not in the configuration.
    UnknownCdn {
        /// The id as received.
        cdn: String,
    },
    /// A value is negative, not finite, or inconsistent (more errors than requests).
    InvalidValue {
        /// The offending field.
        field: &'static str,
    },
    /// The observation is older than the newest one of its signal by more than `stale_after_ms`:
    /// it would be stale on arrival.
    TooOld {
        /// The observation's timestamp.
        at_ms: u64,
        /// The newest timestamp of that signal.
        newest_ms: u64,
    },
}

impl fmt::Display for ObserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObserveError::UnknownCdn { cdn } => write!(f, "unknown cdn {cdn:?}"),
            ObserveError::InvalidValue { field } => write!(f, "invalid value in {field}"),
            ObserveError::TooOld { at_ms, newest_ms } => write!(
                f,
                "observation at {at_ms} ms is stale next to the newest at {newest_ms} ms"
            ),
        }
    }
}

impl core::error::Error for ObserveError {}

/// `2^(−Δt/h)`: the weight left after `dt_ms` with half-life `half_life_ms`.
///
/// `libm` rather than `f64::exp2` (not in `core`) keeps results bit-identical on every target.
pub(crate) fn decay(dt_ms: u64, half_life_ms: u64) -> f64 {
    // u64 → f64 rounds above 2^53 ms (285 000 years): irrelevant for ages.
    libm::exp2(-(dt_ms as f64) / (half_life_ms.max(1) as f64))
}

/// What a fresh signal reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Reading {
    /// The decayed mean (a rate for counted signals).
    pub mean: f64,
    /// The decayed weight: the effective sample count.
    pub weight: f64,
}

/// A time-decayed weighted mean of one signal.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DecayedMean {
    /// Decayed Σ n·x as of `ref_ms`.
    sum: f64,
    /// Decayed Σ n as of `ref_ms`.
    weight: f64,
    /// The time the sums are expressed at (the newest sample's time).
    ref_ms: u64,
    /// The newest sample's time; `None` until the first sample.
    last_seen_ms: Option<u64>,
}

impl DecayedMean {
    /// Checks that a sample at `at_ms` is not stale on arrival.
    pub fn admit(&self, at_ms: u64, stale_after_ms: u64) -> Result<(), ObserveError> {
        match self.last_seen_ms {
            Some(newest_ms) if at_ms.saturating_add(stale_after_ms) < newest_ms => {
                Err(ObserveError::TooOld { at_ms, newest_ms })
            }
            _ => Ok(()),
        }
    }

    /// Adds `weight` samples whose values add up to `sum`, measured at `at_ms`. Call
    /// [`admit`](Self::admit) first: a sample it refuses is ignored here.
    pub fn add(&mut self, at_ms: u64, sum: f64, weight: f64, half_life_ms: u64, stale_ms: u64) {
        if self.admit(at_ms, stale_ms).is_err() {
            return;
        }
        match self.last_seen_ms {
            // After a gap longer than the staleness horizon the old sums describe a CDN that
            // may no longer exist in that state: start over rather than blend.
            Some(last) if at_ms > last.saturating_add(stale_ms) => *self = Self::default(),
            _ => {}
        }
        if self.last_seen_ms.is_none() {
            self.ref_ms = at_ms;
        }
        if at_ms >= self.ref_ms {
            let f = decay(at_ms - self.ref_ms, half_life_ms);
            self.sum = self.sum * f + sum;
            self.weight = self.weight * f + weight;
            self.ref_ms = at_ms;
        } else {
            // A late sample enters with the weight it would have by now.
            let f = decay(self.ref_ms - at_ms, half_life_ms);
            self.sum += sum * f;
            self.weight += weight * f;
        }
        self.last_seen_ms = Some(self.last_seen_ms.map_or(at_ms, |last| last.max(at_ms)));
    }

    /// The mean at `now_ms`, or `None` if there is no sample or the newest is stale.
    pub fn read(&self, now_ms: u64, half_life_ms: u64, stale_ms: u64) -> Option<Reading> {
        let last = self.last_seen_ms?;
        if now_ms.saturating_sub(last) > stale_ms {
            return None;
        }
        let f = decay(now_ms.saturating_sub(self.ref_ms), half_life_ms);
        let weight = self.weight * f;
        // The ratio does not depend on the decay, but the weight does: compute the mean from the
        // undecayed sums so that a tiny weight does not lose precision.
        if weight <= 0.0 || self.weight <= 0.0 {
            return None;
        }
        Some(Reading {
            mean: self.sum / self.weight,
            weight,
        })
    }

    /// Whether the signal ever had a sample.
    pub fn seen(&self) -> bool {
        self.last_seen_ms.is_some()
    }
}

/// Half-lives and horizon the signals are read with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Horizon {
    /// Half-life of the score's averages.
    pub half_life_ms: u64,
    /// Half-life of the gate's error average.
    pub gate_half_life_ms: u64,
    /// Staleness horizon.
    pub stale_after_ms: u64,
}

/// Every signal of one CDN (globally or within one group).
///
/// Throughput and TTFB are averaged as logarithms, so their mean is a decayed *geometric* mean.
/// Both are ratio-scale and heavy-tailed: one 3-second TTFB outlier should not outweigh a
/// hundred 50 ms responses, and a throughput collapse from 6 Mbit/s to 6 kbit/s should show
/// within a few samples rather than after the old megabits have decayed away. Error and cache
/// ratios are averaged as counts (decayed errors over decayed requests).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SignalSet {
    /// ln(throughput in bit/s).
    pub throughput: DecayedMean,
    /// ln(TTFB in milliseconds).
    pub ttfb: DecayedMean,
    /// Cache hit ratio (hits over hits + misses).
    pub cache: DecayedMean,
    /// Error rate with the score's half-life.
    pub errors: DecayedMean,
    /// Error rate with the gate's shorter half-life.
    pub gate_errors: DecayedMean,
}

/// `ln(max(x, 1))`: throughput and TTFB are averaged in log space (see [`SignalSet`]); values
/// below 1 bit/s or 1 ms are 1, which keeps the logarithm finite and changes no score.
fn log_of(x: f64) -> f64 {
    libm::log(x.max(1.0))
}

/// A [`SignalKind`] checked and converted to (sum, weight) pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Sample {
    /// Throughput: sum of ln(bit/s), count.
    Throughput(f64, f64),
    /// TTFB: sum of ln(ms), count.
    Ttfb(f64, f64),
    /// Cache: hits, hits + misses.
    Cache(f64, f64),
    /// Requests: errors, requests.
    Requests(f64, f64),
}

impl Sample {
    /// Validates a kind; `Ok(None)` means it carries no samples (nothing to record).
    pub fn from_kind(kind: SignalKind) -> Result<Option<Self>, ObserveError> {
        // u64 → f64 rounds above 2^53 requests: far beyond any batch.
        let sample = match kind {
            SignalKind::Throughput {
                bits_per_second: x,
                samples,
            } => {
                if !(x.is_finite() && x >= 0.0) {
                    return Err(ObserveError::InvalidValue {
                        field: "bits_per_second",
                    });
                }
                let n = f64::from(samples);
                Sample::Throughput(log_of(x) * n, n)
            }
            SignalKind::Ttfb { millis: x, samples } => {
                if !(x.is_finite() && x >= 0.0) {
                    return Err(ObserveError::InvalidValue { field: "millis" });
                }
                let n = f64::from(samples);
                Sample::Ttfb(log_of(x) * n, n)
            }
            SignalKind::Cache { hits, misses } => {
                let total = hits.checked_add(misses);
                let total = total.ok_or(ObserveError::InvalidValue { field: "misses" })?;
                Sample::Cache(hits as f64, total as f64)
            }
            SignalKind::Requests { requests, errors } => {
                if errors > requests {
                    return Err(ObserveError::InvalidValue { field: "errors" });
                }
                Sample::Requests(errors as f64, requests as f64)
            }
        };
        let weight = match sample {
            Sample::Throughput(_, w)
            | Sample::Ttfb(_, w)
            | Sample::Cache(_, w)
            | Sample::Requests(_, w) => w,
        };
        Ok((weight > 0.0).then_some(sample))
    }
}

impl SignalSet {
    /// Checks that a sample at `at_ms` would not be stale on arrival for its signal.
    pub fn admit(&self, sample: Sample, at_ms: u64, h: Horizon) -> Result<(), ObserveError> {
        match sample {
            Sample::Throughput(..) => self.throughput.admit(at_ms, h.stale_after_ms),
            Sample::Ttfb(..) => self.ttfb.admit(at_ms, h.stale_after_ms),
            Sample::Cache(..) => self.cache.admit(at_ms, h.stale_after_ms),
            Sample::Requests(..) => self.errors.admit(at_ms, h.stale_after_ms),
        }
    }

    /// Records a sample taken at `at_ms`.
    pub fn add(&mut self, sample: Sample, at_ms: u64, h: Horizon) {
        let (hl, stale) = (h.half_life_ms, h.stale_after_ms);
        match sample {
            Sample::Throughput(s, w) => self.throughput.add(at_ms, s, w, hl, stale),
            Sample::Ttfb(s, w) => self.ttfb.add(at_ms, s, w, hl, stale),
            Sample::Cache(s, w) => self.cache.add(at_ms, s, w, hl, stale),
            Sample::Requests(s, w) => {
                self.errors.add(at_ms, s, w, hl, stale);
                self.gate_errors
                    .add(at_ms, s, w, h.gate_half_life_ms, stale);
            }
        }
    }

    /// Whether any signal has a fresh sample at `now_ms`.
    pub fn fresh(&self, now_ms: u64, h: Horizon) -> bool {
        let (hl, stale) = (h.half_life_ms, h.stale_after_ms);
        [&self.throughput, &self.ttfb, &self.cache, &self.errors]
            .iter()
            .any(|s| s.read(now_ms, hl, stale).is_some())
    }

    /// Whether any signal ever had a sample.
    pub fn seen(&self) -> bool {
        [&self.throughput, &self.ttfb, &self.cache, &self.errors]
            .iter()
            .any(|s| s.seen())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 30_000;
    const STALE: u64 = 60_000;

    fn mean(m: &DecayedMean, now: u64) -> f64 {
        m.read(now, H, STALE).unwrap().mean
    }

    #[test]
    fn one_half_life_halves_the_old_weight() {
        let mut m = DecayedMean::default();
        m.add(0, 100.0, 1.0, H, STALE);
        m.add(H, 200.0, 1.0, H, STALE);
        // Old sample weighs 0.5, new weighs 1: (50 + 200) / 1.5.
        assert!((mean(&m, H) - 250.0 / 1.5).abs() < 1e-9);
        assert!((m.read(H, H, STALE).unwrap().weight - 1.5).abs() < 1e-12);
    }

    #[test]
    fn samples_with_equal_timestamps_all_count() {
        let mut m = DecayedMean::default();
        m.add(1000, 10.0, 1.0, H, STALE);
        m.add(1000, 30.0, 1.0, H, STALE);
        assert!((mean(&m, 1000) - 20.0).abs() < 1e-12);
    }

    #[test]
    fn arrival_order_does_not_change_the_mean() {
        let mut in_order = DecayedMean::default();
        in_order.add(0, 10.0, 1.0, H, STALE);
        in_order.add(10_000, 50.0, 2.0, H, STALE);
        let mut late = DecayedMean::default();
        late.add(10_000, 50.0, 2.0, H, STALE);
        late.add(0, 10.0, 1.0, H, STALE);
        assert!((mean(&in_order, 20_000) - mean(&late, 20_000)).abs() < 1e-9);
    }

    #[test]
    fn stale_signal_reads_as_absent() {
        let mut m = DecayedMean::default();
        m.add(0, 1.0, 1.0, H, STALE);
        assert!(m.read(STALE, H, STALE).is_some());
        assert!(m.read(STALE + 1, H, STALE).is_none());
        assert!(m.seen());
    }

    #[test]
    fn sample_after_a_stale_gap_starts_over() {
        let mut m = DecayedMean::default();
        m.add(0, 1000.0, 1000.0, H, STALE); // 100 % errors, lots of them
        m.add(STALE + 1, 0.0, 10.0, H, STALE); // 10 clean requests after the gap
        assert_eq!(mean(&m, STALE + 1), 0.0);
    }

    #[test]
    fn sample_stale_on_arrival_is_refused() {
        let mut m = DecayedMean::default();
        m.add(STALE + 10, 1.0, 1.0, H, STALE);
        assert_eq!(
            m.admit(5, STALE),
            Err(ObserveError::TooOld {
                at_ms: 5,
                newest_ms: STALE + 10
            })
        );
        m.add(5, 1000.0, 1.0, H, STALE);
        assert!((mean(&m, STALE + 10) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn inconsistent_counts_are_invalid() {
        let kind = SignalKind::Requests {
            requests: 1,
            errors: 2,
        };
        assert_eq!(
            Sample::from_kind(kind),
            Err(ObserveError::InvalidValue { field: "errors" })
        );
        let kind = SignalKind::Throughput {
            bits_per_second: f64::NAN,
            samples: 1,
        };
        assert!(Sample::from_kind(kind).is_err());
        let kind = SignalKind::Ttfb {
            millis: -1.0,
            samples: 1,
        };
        assert!(Sample::from_kind(kind).is_err());
    }

    #[test]
    fn zero_samples_carry_nothing() {
        let kind = SignalKind::Requests {
            requests: 0,
            errors: 0,
        };
        assert_eq!(Sample::from_kind(kind), Ok(None));
        let kind = SignalKind::Throughput {
            bits_per_second: 1e6,
            samples: 0,
        };
        assert_eq!(Sample::from_kind(kind), Ok(None));
    }
}
