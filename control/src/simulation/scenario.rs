//! The scenario file: what `usher control simulate FILE.toml` reads, checked field by field.
//!
//! The format is a contract (issue 6, "Pre-event simulation"): `duration_seconds`, `viewers`,
//! `segment_seconds`, `bitrate_mbps`, one `[[cdn]]` table per CDN with `id`, `capacity_gbps` and a
//! `baseline` of `ttfb_ms`, `throughput_mbps`, `error_rate` and `cache_hit`, and `[[event]]`
//! tables that `set` some of those signals (or `outage = true`) on one CDN from second `at` on.
//! Optional keys, all with defaults: `seed`, `noise`, `static_weight_bp` per CDN, and a
//! `[controller]` table (evaluation interval, steering TTL, publication delay, warm-up, demand
//! headroom, and a `health` table overriding the health model's defaults). `docs/simulation.md`
//! lists them.
//!
//! What this module does not do: read files or run anything. It turns TOML text into a validated
//! [`Scenario`], including the [`HealthModel`] the run starts from, so a scenario that parses
//! always runs.
//!
//! Key design decision: unknown keys are refused (`deny_unknown_fields`) and every number is
//! range-checked with an error naming its dotted path (`cdn[1].baseline.error_rate`), because a
//! misspelt threshold that is silently ignored validates nothing.

use core::fmt;

use serde::Deserialize;
use usher_shared::health::{CdnConfig, ConfigError, HealthConfig, HealthModel};

/// Most virtual viewers: each one is hashed to its slot once, so the run's set-up time grows
/// with this (about a second per million in a release build).
pub const MAX_VIEWERS: i64 = 10_000_000;

/// Longest scenario: a day, in seconds.
pub const MAX_DURATION_SECONDS: i64 = 86_400;

/// Seed used when the scenario gives none, so two runs of one file agree.
pub const DEFAULT_SEED: u64 = 6;

/// Default relative jitter of every synthetic measurement (±20 %).
pub const DEFAULT_NOISE: f64 = 0.2;

/// Why a scenario was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioError {
    /// Not TOML, or not the scenario's shape: an unknown or missing key, a wrong type. The
    /// message is the TOML parser's, with the line, the column and the offending key.
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A value out of range, or an event naming an undeclared CDN.
    Invalid {
        /// The dotted path of the field, e.g. `event[0].at` (indexes count from 0).
        field: String,
        /// What is wrong with it.
        rule: String,
    },
    /// The health model refused the configuration built from the scenario (an invalid CDN id,
    /// static weights not adding up to 10000, an out-of-range `controller.health` knob).
    Health(ConfigError),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Syntax { message } => f.write_str(message.trim_end()),
            ScenarioError::Invalid { field, rule } => write!(f, "{field}: {rule}"),
            ScenarioError::Health(e) => write!(f, "controller configuration refused: {e}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

fn invalid(field: impl Into<String>, rule: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.into(),
        rule: rule.into(),
    }
}

/// One CDN's signal values: its baseline, or the baseline overridden by events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signals {
    /// Time to first byte of a segment request, in milliseconds.
    pub ttfb_ms: f64,
    /// Throughput a viewer measures (CMCD `mtp`), in Mbit/s.
    pub throughput_mbps: f64,
    /// Share of requests that fail, 0 to 1.
    pub error_rate: f64,
    /// Share of requests served from the CDN's cache, 0 to 1.
    pub cache_hit: f64,
    /// Every request fails with a connection error.
    pub outage: bool,
}

impl Signals {
    /// Whether these values are worse than `baseline` in any signal: higher TTFB or error rate,
    /// lower throughput or cache hit ratio, or an outage. This is the simulation's definition of
    /// a *degraded* CDN; an event that puts every signal back to the baseline ends it.
    pub fn worse_than(&self, baseline: &Signals) -> bool {
        self.outage
            || self.ttfb_ms > baseline.ttfb_ms
            || self.error_rate > baseline.error_rate
            || self.throughput_mbps < baseline.throughput_mbps
            || self.cache_hit < baseline.cache_hit
    }

    /// These values with an event's changes applied.
    pub fn with(mut self, change: &SignalChange) -> Signals {
        if let Some(x) = change.ttfb_ms {
            self.ttfb_ms = x;
        }
        if let Some(x) = change.throughput_mbps {
            self.throughput_mbps = x;
        }
        if let Some(x) = change.error_rate {
            self.error_rate = x;
        }
        if let Some(x) = change.cache_hit {
            self.cache_hit = x;
        }
        if let Some(x) = change.outage {
            self.outage = x;
        }
        self
    }
}

/// The signals an event sets; the others keep their current values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalChange {
    /// New TTFB, in milliseconds.
    pub ttfb_ms: Option<f64>,
    /// New throughput, in Mbit/s.
    pub throughput_mbps: Option<f64>,
    /// New error rate.
    pub error_rate: Option<f64>,
    /// New cache hit ratio.
    pub cache_hit: Option<f64>,
    /// `true` takes the CDN down entirely; `false` ends an outage.
    pub outage: Option<bool>,
}

/// One CDN of a validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct CdnSpec {
    /// Its id, also its id in the health model.
    pub id: String,
    /// Deliverable capacity, in bit/s.
    pub capacity_bps: f64,
    /// Its signals before any event.
    pub baseline: Signals,
}

/// One event of a validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSpec {
    /// Second from which it applies.
    pub at: u64,
    /// Index of its CDN in [`Scenario::cdns`].
    pub cdn: usize,
    /// What it sets.
    pub change: SignalChange,
}

/// A validated scenario, ready to [`run`](super::run).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Seconds of event (viewers watching) to simulate.
    pub duration_seconds: u64,
    /// Concurrent viewers, all present from second 0.
    pub viewers: u64,
    /// Segment duration: viewers request one segment per this many seconds.
    pub segment_seconds: f64,
    /// Average delivered bitrate per viewer, in bit/s.
    pub bitrate_bps: f64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Relative jitter of synthetic measurements.
    pub noise: f64,
    /// Seconds between evaluations of the health model.
    pub evaluation_interval_seconds: u64,
    /// Seconds between a viewer's Content Steering reloads (the steering manifest's TTL).
    pub steering_ttl_seconds: u64,
    /// Seconds from an evaluation until edges see its snapshot.
    pub publish_delay_seconds: u64,
    /// Seconds the controller runs on probes alone before the viewers arrive.
    pub warmup_seconds: u64,
    /// Margin added to the demand estimate that turns capacities into share caps.
    pub demand_headroom: f64,
    /// The CDNs, in the model's order.
    pub cdns: Vec<CdnSpec>,
    /// The events, by `at` (file order among equal times, so a later one wins).
    pub events: Vec<EventSpec>,
    /// The health model the run starts from (validated configuration, static layout).
    pub model: HealthModel,
    /// A kickoff surge through the waiting room, if the file has `[surge]`.
    pub surge: Option<super::surge::SurgeSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    duration_seconds: i64,
    viewers: i64,
    segment_seconds: f64,
    bitrate_mbps: f64,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    noise: Option<f64>,
    #[serde(default)]
    controller: ControllerFile,
    cdn: Vec<CdnFile>,
    #[serde(default)]
    event: Vec<EventFile>,
    #[serde(default)]
    surge: Option<super::surge::SurgeSpec>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControllerFile {
    evaluation_interval_seconds: Option<i64>,
    steering_ttl_seconds: Option<i64>,
    publish_delay_seconds: Option<i64>,
    warmup_seconds: Option<i64>,
    demand_headroom: Option<f64>,
    health: Option<HealthConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CdnFile {
    id: String,
    capacity_gbps: f64,
    baseline: BaselineFile,
    #[serde(default)]
    static_weight_bp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    ttfb_ms: f64,
    throughput_mbps: f64,
    error_rate: f64,
    cache_hit: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    at: i64,
    cdn: String,
    set: SignalChange,
}

/// A whole number in `min..=max`.
fn whole(field: &str, value: i64, min: i64, max: i64) -> Result<u64, ScenarioError> {
    if (min..=max).contains(&value) {
        Ok(value.unsigned_abs())
    } else {
        Err(invalid(
            field,
            format!("must be a whole number from {min} to {max}, got {value}"),
        ))
    }
}

/// A finite number in `min..=max`, or `(min, max]` when `min_exclusive`.
fn real(
    field: &str,
    value: f64,
    min: f64,
    max: f64,
    min_exclusive: bool,
) -> Result<f64, ScenarioError> {
    let above = if min_exclusive {
        value > min
    } else {
        value >= min
    };
    if value.is_finite() && above && value <= max {
        Ok(value)
    } else {
        let low = if min_exclusive { "above" } else { "at least" };
        Err(invalid(
            field,
            format!("must be a number {low} {min} and at most {max}, got {value}"),
        ))
    }
}

fn ttfb(field: &str, x: f64) -> Result<f64, ScenarioError> {
    // A TTFB beyond ten minutes is a timeout, which is an error, not a latency.
    real(field, x, 0.0, 600_000.0, true)
}

fn throughput(field: &str, x: f64) -> Result<f64, ScenarioError> {
    real(field, x, 0.0, 1_000_000.0, false)
}

fn ratio(field: &str, x: f64) -> Result<f64, ScenarioError> {
    real(field, x, 0.0, 1.0, false)
}

impl Scenario {
    /// Parses and validates a scenario file's text.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Syntax {
            message: e.to_string(),
        })?;
        Scenario::validate(file)
    }

    fn validate(file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        if let Some(surge) = &file.surge {
            surge
                .check()
                .map_err(|(field, rule)| invalid(field, rule))?;
        }
        let duration_seconds = whole(
            "duration_seconds",
            file.duration_seconds,
            1,
            MAX_DURATION_SECONDS,
        )?;
        let viewers = whole("viewers", file.viewers, 1, MAX_VIEWERS)?;
        // Segments of 1 to 60 s: LL-HLS parts ride inside segments, and the viewers' request
        // rate is one segment per segment duration either way.
        let segment_seconds = real("segment_seconds", file.segment_seconds, 1.0, 60.0, false)?;
        let bitrate_mbps = real("bitrate_mbps", file.bitrate_mbps, 0.0, 1000.0, true)?;
        let seed = match file.seed {
            Some(seed) => whole("seed", seed, 0, i64::MAX)?,
            None => DEFAULT_SEED,
        };
        // Below 1, so a jitter factor `1 ± noise` stays positive.
        let noise = match file.noise {
            Some(x) => real("noise", x, 0.0, 0.9, false)?,
            None => DEFAULT_NOISE,
        };

        let c = file.controller;
        let opt = |field: &str, v: Option<i64>, default: u64, min: i64, max: i64| match v {
            Some(v) => whole(field, v, min, max),
            None => Ok(default),
        };
        let evaluation_interval_seconds = opt(
            "controller.evaluation_interval_seconds",
            c.evaluation_interval_seconds,
            5,
            1,
            300,
        )?;
        // The edge accepts a steering TTL of 5 to 300 s (edge config `steering.ttl_secs`); 1 s
        // is allowed here to model players that reload their playlist every segment.
        let steering_ttl_seconds = opt(
            "controller.steering_ttl_seconds",
            c.steering_ttl_seconds,
            10,
            1,
            300,
        )?;
        let publish_delay_seconds = opt(
            "controller.publish_delay_seconds",
            c.publish_delay_seconds,
            0,
            0,
            3600,
        )?;
        let warmup_seconds = opt("controller.warmup_seconds", c.warmup_seconds, 60, 0, 3600)?;
        let demand_headroom = match c.demand_headroom {
            Some(x) => real("controller.demand_headroom", x, 0.0, 1.0, false)?,
            None => 0.05,
        };

        let mut health = c.health.unwrap_or_default();
        if !health.cdns.is_empty() {
            return Err(invalid(
                "controller.health.cdns",
                "declare CDNs with [[cdn]] tables, not here",
            ));
        }
        if !health.groups.is_empty() {
            return Err(invalid(
                "controller.health.groups",
                "the simulation has no client groups: leave it out",
            ));
        }

        if file.cdn.is_empty() {
            return Err(invalid("cdn", "declare at least one [[cdn]]"));
        }
        let given = file
            .cdn
            .iter()
            .filter(|c| c.static_weight_bp.is_some())
            .count();
        if given != 0 && given != file.cdn.len() {
            let missing = file
                .cdn
                .iter()
                .position(|c| c.static_weight_bp.is_none())
                .unwrap_or(0);
            return Err(invalid(
                format!("cdn[{missing}].static_weight_bp"),
                "give a static weight for every cdn or for none (none: equal shares)",
            ));
        }
        let n = u16::try_from(file.cdn.len()).unwrap_or(u16::MAX).max(1);
        let mut cdns = Vec::with_capacity(file.cdn.len());
        for (i, cdn) in file.cdn.into_iter().enumerate() {
            let at = |key: &str| format!("cdn[{i}].{key}");
            let capacity_gbps = real(&at("capacity_gbps"), cdn.capacity_gbps, 0.0, 1e6, true)?;
            let b = cdn.baseline;
            let baseline = Signals {
                ttfb_ms: ttfb(&at("baseline.ttfb_ms"), b.ttfb_ms)?,
                throughput_mbps: throughput(&at("baseline.throughput_mbps"), b.throughput_mbps)?,
                error_rate: ratio(&at("baseline.error_rate"), b.error_rate)?,
                cache_hit: ratio(&at("baseline.cache_hit"), b.cache_hit)?,
                outage: false,
            };
            let static_weight_bp = match cdn.static_weight_bp {
                Some(w) => whole(&at("static_weight_bp"), w, 0, 10_000)?,
                // Equal shares; the first `10000 mod n` CDNs get one basis point more so the
                // weights add up to 10000 exactly.
                None => {
                    let extra = u16::try_from(i).is_ok_and(|i| i < 10_000 % n);
                    u64::from(10_000 / n + u16::from(extra))
                }
            };
            let capacity_bps = capacity_gbps * 1e9;
            health.cdns.push(CdnConfig {
                id: cdn.id.clone(),
                static_weight_bp: u16::try_from(static_weight_bp).unwrap_or(u16::MAX),
                max_share_bp: usher_shared::health::BASIS_POINTS,
                // At most 1e15 bit/s, well inside u64.
                capacity_bps: Some(capacity_bps as u64),
            });
            cdns.push(CdnSpec {
                id: cdn.id,
                capacity_bps,
                baseline,
            });
        }

        let mut events = Vec::with_capacity(file.event.len());
        for (i, event) in file.event.into_iter().enumerate() {
            let at = |key: &str| format!("event[{i}].{key}");
            let time = whole(&at("at"), event.at, 0, file.duration_seconds)?;
            let Some(cdn) = cdns.iter().position(|c| c.id == event.cdn) else {
                let declared: Vec<&str> = cdns.iter().map(|c| c.id.as_str()).collect();
                return Err(invalid(
                    at("cdn"),
                    format!(
                        "{:?} is not a declared cdn (declared: {})",
                        event.cdn,
                        declared.join(", ")
                    ),
                ));
            };
            let s = event.set;
            if s == SignalChange::default() {
                return Err(invalid(
                    at("set"),
                    "sets nothing: give ttfb_ms, throughput_mbps, error_rate, cache_hit or outage",
                ));
            }
            let check =
                |key: &str, v: Option<f64>, f: fn(&str, f64) -> Result<f64, ScenarioError>| {
                    v.map(|x| f(&at(&format!("set.{key}")), x)).transpose()
                };
            check("ttfb_ms", s.ttfb_ms, ttfb)?;
            check("throughput_mbps", s.throughput_mbps, throughput)?;
            check("error_rate", s.error_rate, ratio)?;
            check("cache_hit", s.cache_hit, ratio)?;
            events.push(EventSpec {
                at: time,
                cdn,
                change: s,
            });
        }
        // Stable: among events at the same second, the later one in the file wins.
        events.sort_by_key(|e| e.at);

        let model = HealthModel::new(health).map_err(ScenarioError::Health)?;
        Ok(Scenario {
            duration_seconds,
            viewers,
            segment_seconds,
            bitrate_bps: bitrate_mbps * 1e6,
            seed,
            noise,
            evaluation_interval_seconds,
            steering_ttl_seconds,
            publish_delay_seconds,
            warmup_seconds,
            demand_headroom,
            cdns,
            events,
            model,
            surge: file.surge,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const EXAMPLE: &str = r#"
duration_seconds = 600
viewers = 100000
segment_seconds = 2
bitrate_mbps = 5.0   # average delivered bitrate per viewer
[[cdn]]
id = "a"
capacity_gbps = 400.0
baseline = { ttfb_ms = 40.0, throughput_mbps = 30.0, error_rate = 0.001, cache_hit = 0.98 }
[[event]]            # from `at` on, these signals of this CDN change
at = 120
cdn = "a"
set = { error_rate = 0.2 }   # any baseline key; outage = true takes it down entirely
"#;

    fn error(text: &str) -> String {
        Scenario::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn the_issue_example_parses_with_defaults() {
        let s = Scenario::from_toml(EXAMPLE).unwrap();
        assert_eq!(s.duration_seconds, 600);
        assert_eq!(s.viewers, 100_000);
        assert_eq!(s.segment_seconds, 2.0);
        assert_eq!(s.bitrate_bps, 5e6);
        assert_eq!(s.seed, DEFAULT_SEED);
        assert_eq!(s.cdns[0].capacity_bps, 400e9);
        assert_eq!(s.events[0].at, 120);
        assert_eq!(s.events[0].change.error_rate, Some(0.2));
        assert_eq!(s.model.config().cdns[0].static_weight_bp, 10_000);
        assert_eq!(s.model.config().cdns[0].capacity_bps, Some(400_000_000_000));
    }

    #[test]
    fn equal_static_weights_add_up_to_10000() {
        let text = EXAMPLE.replace(
            "[[event]]",
            "[[cdn]]\nid = \"b\"\ncapacity_gbps = 1\nbaseline = { ttfb_ms = 1, throughput_mbps = 1, \
             error_rate = 0, cache_hit = 1 }\n[[cdn]]\nid = \"c\"\ncapacity_gbps = 1\nbaseline = \
             { ttfb_ms = 1, throughput_mbps = 1, error_rate = 0, cache_hit = 1 }\n[[event]]",
        );
        let s = Scenario::from_toml(&text).unwrap();
        let weights: Vec<u16> = s
            .model
            .config()
            .cdns
            .iter()
            .map(|c| c.static_weight_bp)
            .collect();
        assert_eq!(weights, vec![3334, 3333, 3333]);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let e = error(&EXAMPLE.replace("viewers = 100000", "viewers = 100000\nviewer = 1"));
        assert!(e.contains("unknown field `viewer`"), "{e}");
        let e = error(&EXAMPLE.replace("error_rate = 0.2", "errors = 0.2"));
        assert!(e.contains("unknown field `errors`"), "{e}");
    }

    #[test]
    fn a_missing_key_is_named() {
        let e = error(&EXAMPLE.replace("bitrate_mbps = 5.0", ""));
        assert!(e.contains("missing field `bitrate_mbps`"), "{e}");
    }

    #[test]
    fn an_undeclared_cdn_is_named_with_the_declared_ones() {
        let e = error(&EXAMPLE.replace("cdn = \"a\"", "cdn = \"z\""));
        assert_eq!(e, "event[0].cdn: \"z\" is not a declared cdn (declared: a)");
    }

    #[test]
    fn an_event_beyond_the_duration_is_refused() {
        let e = error(&EXAMPLE.replace("at = 120", "at = 601"));
        assert_eq!(
            e,
            "event[0].at: must be a whole number from 0 to 600, got 601"
        );
        assert!(Scenario::from_toml(&EXAMPLE.replace("at = 120", "at = 600")).is_ok());
    }

    #[test]
    fn negative_and_out_of_range_numbers_name_their_field() {
        for (from, to, field) in [
            ("viewers = 100000", "viewers = -5", "viewers:"),
            (
                "duration_seconds = 600",
                "duration_seconds = 0",
                "duration_seconds:",
            ),
            ("bitrate_mbps = 5.0", "bitrate_mbps = -1.0", "bitrate_mbps:"),
            (
                "capacity_gbps = 400.0",
                "capacity_gbps = -400.0",
                "cdn[0].capacity_gbps:",
            ),
            (
                "ttfb_ms = 40.0",
                "ttfb_ms = -40.0",
                "cdn[0].baseline.ttfb_ms:",
            ),
            (
                "cache_hit = 0.98",
                "cache_hit = 1.5",
                "cdn[0].baseline.cache_hit:",
            ),
            (
                "error_rate = 0.2",
                "error_rate = -0.2",
                "event[0].set.error_rate:",
            ),
            ("error_rate = 0.2", "ttfb_ms = nan", "event[0].set.ttfb_ms:"),
            ("at = 120", "at = -1", "event[0].at:"),
        ] {
            let e = error(&EXAMPLE.replace(from, to));
            assert!(e.starts_with(field), "{to}: {e}");
        }
    }

    #[test]
    fn an_event_that_sets_nothing_is_refused() {
        let e = error(&EXAMPLE.replace("{ error_rate = 0.2 }", "{}"));
        assert!(e.starts_with("event[0].set: sets nothing"), "{e}");
    }

    #[test]
    fn static_weights_are_all_or_none_and_checked_by_the_model() {
        let two = EXAMPLE.replace(
            "[[event]]",
            "[[cdn]]\nid = \"b\"\ncapacity_gbps = 1\nbaseline = { ttfb_ms = 1, throughput_mbps = 1, \
             error_rate = 0, cache_hit = 1 }\n[[event]]",
        );
        let one = two.replacen(
            "capacity_gbps = 400.0",
            "capacity_gbps = 400.0\nstatic_weight_bp = 10000",
            1,
        );
        assert!(error(&one).starts_with("cdn[1].static_weight_bp: give a static weight"));
        let both = one.replacen(
            "capacity_gbps = 1\n",
            "capacity_gbps = 1\nstatic_weight_bp = 10\n",
            1,
        );
        assert_eq!(
            error(&both),
            "controller configuration refused: static weights add up to 10010 basis points, not 10000"
        );
    }

    #[test]
    fn controller_knobs_and_health_overrides_apply() {
        let text = format!(
            "{EXAMPLE}\n[controller]\nevaluation_interval_seconds = 2\nsteering_ttl_seconds = 6\n\
             [controller.health.gate]\nk_down = 3\n"
        );
        let s = Scenario::from_toml(&text).unwrap();
        assert_eq!(s.evaluation_interval_seconds, 2);
        assert_eq!(s.steering_ttl_seconds, 6);
        assert_eq!(s.model.config().gate.k_down, 3);
        let bad = text.replace("k_down = 3", "k_down = 0");
        assert!(error(&bad).starts_with("controller configuration refused: gate.k_down"));
        let cdns = format!(
            "{EXAMPLE}\n[controller.health]\ncdns = [{{ id = \"x\", static_weight_bp = 10000 }}]\n"
        );
        assert!(error(&cdns).starts_with("controller.health.cdns:"));
    }

    #[test]
    fn not_toml_is_a_syntax_error_with_its_line() {
        let e = Scenario::from_toml("duration_seconds = \n").unwrap_err();
        assert!(matches!(e, ScenarioError::Syntax { .. }));
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
