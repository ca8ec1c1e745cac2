//! What an origin measures of its channels, and its Prometheus text exposition (`/metrics`).
//!
//! Per channel: the encoder's speed (1.0 is real time; below it the channel falls behind)
//! and frames, restarts, input switches and the input in use, the lease state. Per rendition:
//! segments published, the age of the newest, and the publish latency (from the instant a
//! segment ends on the epoch grid to the moment it is available), as a summary over the last
//! thousand segments.

use core::fmt::Write as _;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many publish latencies each rendition keeps for its quantiles.
const SAMPLES: usize = 1000;

/// One channel's counters and gauges.
#[derive(Debug, Default)]
pub struct ChannelMetrics {
    /// Encoder speed × 1000 (1000 is real time).
    pub speed_milli: AtomicU64,
    /// Frames the current encoder has produced.
    pub frames: AtomicU64,
    /// Encoder restarts (a crash, a stall, an input switch).
    pub restarts: AtomicU64,
    /// Switches between inputs (primary, backup, slate).
    pub input_switches: AtomicU64,
    /// The input in use: 0 primary, 1 backup, 2 slate, 3 none (stopped or standby).
    pub input: AtomicU64,
    renditions: Mutex<Vec<RenditionMetrics>>,
}

/// One rendition's publication record.
#[derive(Debug, Default, Clone)]
pub struct RenditionMetrics {
    /// Its name.
    pub name: String,
    /// Segments published.
    pub segments: u64,
    /// When the newest was published, Unix ms.
    pub last_ms: Option<u64>,
    /// The newest publish latencies, ms.
    pub latencies: VecDeque<u64>,
}

impl ChannelMetrics {
    /// Metrics for a channel whose renditions are `names`.
    pub fn new(names: &[String]) -> Self {
        let m = ChannelMetrics {
            input: AtomicU64::new(3),
            ..ChannelMetrics::default()
        };
        if let Ok(mut r) = m.renditions.lock() {
            *r = names
                .iter()
                .map(|n| RenditionMetrics {
                    name: n.clone(),
                    ..RenditionMetrics::default()
                })
                .collect();
        }
        m
    }

    /// Records that rendition `index` published a segment at `now_ms` that ended on the grid
    /// at `end_ms`.
    pub fn segment(&self, index: usize, end_ms: u64, now_ms: u64) {
        let mut renditions = self.renditions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = renditions.get_mut(index) {
            r.segments += 1;
            r.last_ms = Some(now_ms);
            if r.latencies.len() == SAMPLES {
                r.latencies.pop_front();
            }
            r.latencies.push_back(now_ms.saturating_sub(end_ms));
        }
    }

    /// A copy of the renditions' records.
    pub fn renditions(&self) -> Vec<RenditionMetrics> {
        self.renditions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The `q` quantile (0..=1) of `samples`, nearest rank; `None` when empty.
pub fn quantile(samples: &VecDeque<u64>, q: f64) -> Option<u64> {
    let mut sorted: Vec<u64> = samples.iter().copied().collect();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// What the exposition needs of one channel besides its metrics.
#[derive(Debug, Clone)]
pub struct ChannelFacts {
    /// Its name.
    pub name: String,
    /// Lease state: `active`, `active_unconfirmed`, `standby`, `unknown`.
    pub lease: &'static str,
}

/// The Prometheus text format (version 0.0.4) for these channels at `now_ms`.
pub fn exposition(
    channels: &[(ChannelFacts, &ChannelMetrics)],
    store_up: bool,
    now_ms: u64,
) -> String {
    let mut out = String::new();
    let mut lines: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let mut add = |name: &str, kind: &str, help: &str, samples: Vec<String>| {
        lines.push((name.to_owned(), kind.to_owned(), help.to_owned(), samples));
    };
    let per = |f: &dyn Fn(&ChannelFacts, &ChannelMetrics) -> String| -> Vec<String> {
        channels
            .iter()
            .map(|(facts, m)| format!("{{channel=\"{}\"}} {}", facts.name, f(facts, m)))
            .collect()
    };
    add(
        "usher_origin_encode_speed",
        "gauge",
        "Encoder speed against real time (1 is live; below 1 the channel falls behind).",
        per(&|_, m| {
            format!(
                "{:.3}",
                m.speed_milli.load(Ordering::Relaxed) as f64 / 1000.0
            )
        }),
    );
    add(
        "usher_origin_frames",
        "gauge",
        "Frames the channel's current encoder has produced.",
        per(&|_, m| m.frames.load(Ordering::Relaxed).to_string()),
    );
    add(
        "usher_origin_encoder_restarts_total",
        "counter",
        "Encoder restarts: crashes, stalls and input switches.",
        per(&|_, m| m.restarts.load(Ordering::Relaxed).to_string()),
    );
    add(
        "usher_origin_input_switches_total",
        "counter",
        "Switches between the primary input, the backup and slate.",
        per(&|_, m| m.input_switches.load(Ordering::Relaxed).to_string()),
    );
    add(
        "usher_origin_input",
        "gauge",
        "The input in use: 0 primary, 1 backup, 2 slate, 3 none.",
        per(&|_, m| m.input.load(Ordering::Relaxed).to_string()),
    );
    let leases = channels
        .iter()
        .map(|(facts, _)| format!("{{channel=\"{}\",state=\"{}\"}} 1", facts.name, facts.lease))
        .collect();
    add(
        "usher_origin_lease",
        "gauge",
        "The channel's lease state on this node.",
        leases,
    );
    add(
        "usher_origin_lease_store_up",
        "gauge",
        "Whether the lease store (Redis) answered the last heartbeat.",
        vec![format!(" {}", u8::from(store_up))],
    );
    let mut segments = Vec::new();
    let mut ages = Vec::new();
    let mut latency = Vec::new();
    for (facts, m) in channels {
        for r in m.renditions() {
            let labels = format!("channel=\"{}\",rendition=\"{}\"", facts.name, r.name);
            segments.push(format!("{{{labels}}} {}", r.segments));
            if let Some(last) = r.last_ms {
                ages.push(format!(
                    "{{{labels}}} {:.3}",
                    now_ms.saturating_sub(last) as f64 / 1000.0
                ));
            }
            for q in [0.5, 0.99] {
                if let Some(v) = quantile(&r.latencies, q) {
                    latency.push(format!(
                        "{{{labels},quantile=\"{q}\"}} {:.3}",
                        v as f64 / 1000.0
                    ));
                }
            }
            latency.push(format!("_count{{{labels}}} {}", r.latencies.len()));
        }
    }
    add(
        "usher_origin_segments_published_total",
        "counter",
        "Segments published.",
        segments,
    );
    add(
        "usher_origin_playlist_age_seconds",
        "gauge",
        "Seconds since the rendition's newest segment was published.",
        ages,
    );
    add(
        "usher_origin_segment_publish_latency_seconds",
        "summary",
        "From a segment's end on the epoch grid to its publication, over the last 1000 segments.",
        latency,
    );
    for (name, kind, help, samples) in lines {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for sample in samples {
            if let Some(rest) = sample.strip_prefix('_') {
                // A suffixed series of the family (`_count`).
                let _ = writeln!(out, "{name}_{rest}");
            } else {
                let _ = writeln!(out, "{name}{sample}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_over_the_kept_samples() {
        let samples: VecDeque<u64> = (1..=100).collect();
        assert_eq!(quantile(&samples, 0.5), Some(50));
        assert_eq!(quantile(&samples, 0.99), Some(99));
        assert_eq!(quantile(&VecDeque::new(), 0.5), None);
    }

    #[test]
    fn the_exposition_has_help_type_and_one_sample_per_channel_and_rendition() {
        let m = ChannelMetrics::new(&["720p".to_owned(), "audio".to_owned()]);
        m.speed_milli.store(1250, Ordering::Relaxed);
        m.segment(0, 10_000, 10_400);
        m.segment(0, 12_000, 12_300);
        let facts = ChannelFacts {
            name: "final".into(),
            lease: "active",
        };
        let text = exposition(&[(facts, &m)], true, 13_300);
        assert!(text.contains("# TYPE usher_origin_encode_speed gauge\nusher_origin_encode_speed{channel=\"final\"} 1.250\n"), "{text}");
        assert!(text.contains(
            "usher_origin_segments_published_total{channel=\"final\",rendition=\"720p\"} 2\n"
        ));
        assert!(text.contains(
            "usher_origin_playlist_age_seconds{channel=\"final\",rendition=\"720p\"} 1.000\n"
        ));
        assert!(text.contains("usher_origin_segment_publish_latency_seconds{channel=\"final\",rendition=\"720p\",quantile=\"0.5\"} 0.300\n"));
        assert!(text.contains("usher_origin_segment_publish_latency_seconds_count{channel=\"final\",rendition=\"720p\"} 2\n"));
        assert!(text.contains("usher_origin_lease{channel=\"final\",state=\"active\"} 1\n"));
        assert!(text.contains("usher_origin_lease_store_up 1\n"));
    }
}
