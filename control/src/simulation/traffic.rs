//! One CDN's second of traffic: its scripted signals under its load, and the observations the
//! controller's sources would report about it.
//!
//! Two sources are modelled, both feeding [`HealthModel::observe`] as the live controller does:
//!
//! * **probes**: the controller fetches the newest segment through every CDN once per segment
//!   duration (one request: TTFB, throughput, outcome, cache status from `Cache-Status`, RFC
//!   9211), also while no viewer is on the CDN;
//! * **viewer traffic**: the CDN's viewers request one segment each per segment duration; their
//!   outcomes, cache statuses and TTFBs come from the CDN's real-time logs and their measured
//!   throughput from CMCD `mtp` (CTA-5004). One aggregated observation per signal per second.
//!
//! Every observation's mean is jittered by an independent factor `1 ± noise` (uniform), error and
//! cache-miss rates too before outcomes are drawn, so even the aggregate of thousands of viewers
//! wobbles by up to ±`noise` from second to second: more than real aggregates do, on purpose,
//! since noise is what the hysteresis and gates must ride out.
//!
//! **Congestion.** A CDN's load is its viewers × the bitrate. At utilisation `u = load /
//! capacity` above 1 it cannot deliver everything: each viewer's throughput is divided by `u`,
//! TTFB multiplied by `u` (queueing), and the undeliverable share `1 − 1/u` of requests fails on
//! top of the scripted errors, `error = 1 − (1 − e)/u`. That feeds back through the gate and the
//! score, which is what makes capacity matter. Below capacity nothing changes.
//!
//! What this module does not do: decide where viewers are, or judge a CDN (that is the health
//! model's job, fed with what this module emits).
//!
//! [`HealthModel::observe`]: usher_shared::health::HealthModel::observe

use usher_shared::health::{Observation, SignalKind};

use super::noise::Rng;
use super::scenario::Signals;

/// What a CDN delivers this second: its signals after congestion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Delivered {
    pub ttfb_ms: f64,
    pub throughput_bps: f64,
    pub error_rate: f64,
    pub cache_hit: f64,
    pub outage: bool,
}

/// The signals a CDN delivers at utilisation `utilization` (load over capacity).
pub(crate) fn delivered(signals: &Signals, utilization: f64) -> Delivered {
    let scripted = Delivered {
        ttfb_ms: signals.ttfb_ms,
        throughput_bps: signals.throughput_mbps * 1e6,
        error_rate: signals.error_rate,
        cache_hit: signals.cache_hit,
        outage: signals.outage,
    };
    if !(utilization.is_finite() && utilization > 1.0) {
        return scripted;
    }
    let u = utilization;
    Delivered {
        ttfb_ms: scripted.ttfb_ms * u,
        throughput_bps: scripted.throughput_bps / u,
        error_rate: (1.0 - (1.0 - scripted.error_rate) / u).clamp(0.0, 1.0),
        ..scripted
    }
}

fn samples(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Appends the observations of `requests` segment requests to `cdn` at `at_ms`.
///
/// An outage fails every request (connection errors) and measures a throughput of 0; failed
/// requests give no TTFB, throughput or cache status, as a connection error has none.
pub(crate) fn observe(
    cdn: &str,
    at_ms: u64,
    requests: u64,
    d: &Delivered,
    noise: f64,
    rng: &mut Rng,
    out: &mut Vec<Observation>,
) {
    if requests == 0 {
        return;
    }
    let mut push = |kind| {
        out.push(Observation {
            cdn: cdn.to_owned(),
            group: None,
            at_ms,
            kind,
        });
    };
    if d.outage {
        push(SignalKind::Requests {
            requests,
            errors: requests,
        });
        push(SignalKind::Throughput {
            bits_per_second: 0.0,
            samples: samples(requests),
        });
        return;
    }
    let error_rate = (d.error_rate * rng.jitter(noise)).clamp(0.0, 1.0);
    let errors = rng.binomial(requests, error_rate);
    push(SignalKind::Requests { requests, errors });
    let ok = requests - errors;
    if ok == 0 {
        return;
    }
    push(SignalKind::Ttfb {
        millis: d.ttfb_ms * rng.jitter(noise),
        samples: samples(ok),
    });
    push(SignalKind::Throughput {
        bits_per_second: d.throughput_bps * rng.jitter(noise),
        samples: samples(ok),
    });
    let miss_rate = ((1.0 - d.cache_hit) * rng.jitter(noise)).clamp(0.0, 1.0);
    let misses = rng.binomial(ok, miss_rate);
    push(SignalKind::Cache {
        hits: ok - misses,
        misses,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn healthy() -> Signals {
        Signals {
            ttfb_ms: 40.0,
            throughput_mbps: 30.0,
            error_rate: 0.01,
            cache_hit: 0.98,
            outage: false,
        }
    }

    #[test]
    fn below_capacity_the_signals_are_delivered_as_scripted() {
        let d = delivered(&healthy(), 0.7);
        assert_eq!(d.ttfb_ms, 40.0);
        assert_eq!(d.throughput_bps, 30e6);
        assert_eq!(d.error_rate, 0.01);
    }

    #[test]
    fn over_capacity_throughput_drops_and_errors_rise_in_proportion() {
        let d = delivered(&healthy(), 1.25);
        assert_eq!(d.ttfb_ms, 50.0);
        assert!((d.throughput_bps - 24e6).abs() < 1e-6);
        // 1 − 0.99 / 1.25: the fifth of the demand that cannot be served fails.
        assert!((d.error_rate - 0.208).abs() < 1e-12);
    }

    #[test]
    fn an_outage_fails_every_request_and_measures_no_throughput() {
        let mut s = healthy();
        s.outage = true;
        let mut out = Vec::new();
        observe(
            "a",
            5,
            100,
            &delivered(&s, 0.5),
            0.2,
            &mut Rng::new(1, 0),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].kind,
            SignalKind::Requests {
                requests: 100,
                errors: 100
            }
        );
        assert!(
            matches!(out[1].kind, SignalKind::Throughput { bits_per_second, .. } if bits_per_second == 0.0)
        );
    }

    #[test]
    fn healthy_traffic_reports_every_signal_within_the_noise() {
        let mut out = Vec::new();
        observe(
            "a",
            5,
            10_000,
            &delivered(&healthy(), 0.5),
            0.2,
            &mut Rng::new(1, 0),
            &mut out,
        );
        assert_eq!(out.len(), 4);
        for obs in &out {
            match obs.kind {
                SignalKind::Requests { requests, errors } => {
                    assert_eq!(requests, 10_000);
                    assert!((40..=200).contains(&errors), "{errors}");
                }
                SignalKind::Ttfb { millis, .. } => assert!((32.0..=48.0).contains(&millis)),
                SignalKind::Throughput {
                    bits_per_second, ..
                } => assert!((24e6..=36e6).contains(&bits_per_second)),
                SignalKind::Cache { hits, misses } => {
                    assert!(hits > 9000 && misses > 50, "{hits} {misses}");
                }
            }
        }
    }
}
