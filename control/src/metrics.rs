//! What operators see per CDN: plain statistics over a sliding window of recent samples.
//!
//! The health model keeps time-decayed averages tuned for *deciding* (log-averages, shrinkage,
//! a gate with its own half-life). Operators and SLAs speak in percentiles and ratios over a
//! fixed window ("TTFB p95 over the last 30 s"), so the dashboard and the report use these
//! instead. Both are fed the same samples.
//!
//! What it does not do: decide anything. Nothing here reaches the snapshot.
//!
//! Key design decision: exact percentiles over a bounded window rather than a sketch. A window
//! holds at most a few thousand samples per CDN at probe and beacon rates (the bound is
//! [`MAX_SAMPLES`]; past it the oldest go first), so sorting a copy once per tick is cheap and
//! the figures are exact, which a post-event SLA dispute needs.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use usher_shared::health::SignalKind;

/// The most samples of one kind a window keeps.
pub const MAX_SAMPLES: usize = 20_000;

#[derive(Clone, Copy, Debug)]
struct Sample {
    at_ms: u64,
    value: f64,
    count: u64,
}

/// One CDN's recent samples.
#[derive(Clone, Debug, Default)]
pub struct Window {
    ttfb: VecDeque<Sample>,
    throughput: VecDeque<Sample>,
    requests: VecDeque<Sample>,
    errors: VecDeque<Sample>,
    hits: VecDeque<Sample>,
    misses: VecDeque<Sample>,
    stalls: VecDeque<Sample>,
}

/// One CDN's figures over the window, as the dashboard and timeline show them. Absent when
/// the window has no sample of that kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// TTFB median, ms.
    pub ttfb_p50_ms: Option<f64>,
    /// TTFB 95th percentile, ms.
    pub ttfb_p95_ms: Option<f64>,
    /// Median delivered throughput, bit/s.
    pub throughput_bps: Option<f64>,
    /// Errors over requests.
    pub error_rate: Option<f64>,
    /// Requests counted in the window.
    pub requests: u64,
    /// Cache hits over hits and misses.
    pub cache_hit_ratio: Option<f64>,
    /// Stalls players reported in the window.
    pub stalls: u64,
}

fn push(queue: &mut VecDeque<Sample>, sample: Sample) {
    if queue.len() >= MAX_SAMPLES {
        queue.pop_front();
    }
    queue.push_back(sample);
}

fn prune(queue: &mut VecDeque<Sample>, since_ms: u64) {
    queue.retain(|s| s.at_ms >= since_ms);
}

fn total(queue: &VecDeque<Sample>) -> u64 {
    queue.iter().map(|s| s.count).sum()
}

/// The `q` quantile (0..=1) by the nearest-rank method: the smallest value with at least
/// `q × n` values at or below it. `None` for no values.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q * values.len() as f64).ceil().max(1.0) as usize;
    values.get(rank.min(values.len()) - 1).copied()
}

impl Window {
    /// Adds one observation's content at `at_ms`.
    pub fn add(&mut self, at_ms: u64, kind: &SignalKind) {
        let one = |value| Sample {
            at_ms,
            value,
            count: 1,
        };
        match *kind {
            SignalKind::Ttfb { millis, samples } if samples > 0 => {
                push(&mut self.ttfb, one(millis))
            }
            SignalKind::Throughput {
                bits_per_second,
                samples,
            } if samples > 0 => push(&mut self.throughput, one(bits_per_second)),
            SignalKind::Requests { requests, errors } => {
                let count = |count| Sample {
                    at_ms,
                    value: 0.0,
                    count,
                };
                push(&mut self.requests, count(requests));
                push(&mut self.errors, count(errors));
            }
            SignalKind::Cache { hits, misses } => {
                let count = |count| Sample {
                    at_ms,
                    value: 0.0,
                    count,
                };
                push(&mut self.hits, count(hits));
                push(&mut self.misses, count(misses));
            }
            _ => {}
        }
    }

    /// Records a stall a player reported.
    pub fn stall(&mut self, at_ms: u64) {
        push(
            &mut self.stalls,
            Sample {
                at_ms,
                value: 0.0,
                count: 1,
            },
        );
    }

    /// Drops samples older than `now_ms - window_ms`, then computes the figures.
    pub fn figures(&mut self, now_ms: u64, window_ms: u64) -> Figures {
        let since = now_ms.saturating_sub(window_ms);
        for q in [
            &mut self.ttfb,
            &mut self.throughput,
            &mut self.requests,
            &mut self.errors,
            &mut self.hits,
            &mut self.misses,
            &mut self.stalls,
        ] {
            prune(q, since);
        }
        let mut ttfb: Vec<f64> = self.ttfb.iter().map(|s| s.value).collect();
        let mut throughput: Vec<f64> = self.throughput.iter().map(|s| s.value).collect();
        let requests = total(&self.requests);
        let errors = total(&self.errors);
        let hits = total(&self.hits);
        let misses = total(&self.misses);
        Figures {
            ttfb_p50_ms: quantile(&mut ttfb, 0.5),
            ttfb_p95_ms: quantile(&mut ttfb, 0.95),
            throughput_bps: quantile(&mut throughput, 0.5),
            error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
            requests,
            cache_hit_ratio: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
            stalls: total(&self.stalls),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn nearest_rank_quantiles_of_one_to_a_hundred() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50.0));
        assert_eq!(quantile(&mut v, 0.95), Some(95.0));
        assert_eq!(quantile(&mut v, 1.0), Some(100.0));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn figures_cover_only_the_window() {
        let mut w = Window::default();
        w.add(
            1_000,
            &SignalKind::Ttfb {
                millis: 900.0,
                samples: 1,
            },
        );
        for (i, ms) in [40.0, 50.0, 60.0].into_iter().enumerate() {
            w.add(
                20_000 + i as u64,
                &SignalKind::Ttfb {
                    millis: ms,
                    samples: 1,
                },
            );
        }
        w.add(
            20_000,
            &SignalKind::Requests {
                requests: 10,
                errors: 1,
            },
        );
        w.add(20_000, &SignalKind::Cache { hits: 3, misses: 1 });
        w.stall(20_500);
        let f = w.figures(40_000, 30_000);
        assert_eq!(f.ttfb_p50_ms, Some(50.0));
        assert_eq!(f.ttfb_p95_ms, Some(60.0));
        assert_eq!(f.error_rate, Some(0.1));
        assert_eq!(f.requests, 10);
        assert_eq!(f.cache_hit_ratio, Some(0.75));
        assert_eq!(f.stalls, 1);
        assert_eq!(f.throughput_bps, None);
        let later = w.figures(60_000, 30_000);
        assert_eq!(later, Figures::default());
    }
}
