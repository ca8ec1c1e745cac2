//! Phased admission: the arithmetic that moves each event's waiting-room frontier.
//!
//! Edges give every ticket holder a queue position (a virtual arrival time, Unix ms; see
//! [`usher_shared::health::admission`]) and report it as an `arrival` line; the controller
//! admits by publishing a frontier per event: a viewer is admitted iff its position is below
//! it. A [`Room`] holds one event's known arrivals as a histogram (position → count) and, every
//! tick, [`Room::step`] moves the frontier past as many of them, lowest first, as the rules
//! allow:
//!
//! * **Budget.** Credit accrues at the admission rate while admission is open (in units of one
//!   viewer per 60 000, so `rate_per_min × ms` is exact integer arithmetic) and is spent one
//!   position's arrivals at a time. What is left after a tick carries over up to one tick's
//!   worth (`max(rate × tick_ms, one viewer)`), so a quiet stretch cannot be cashed in as a
//!   burst, and a pause carries nothing over. The arrivals sharing one position are admitted together; a group larger than the
//!   bank is admitted once the bank is full, the credit going negative, so the bound on
//!   admissions is `rate × open time + one tick's worth` (plus one group less one viewer).
//! * **Cap.** Admissions stop while `active + group > cap`, where `active` is the event's CMCD
//!   viewers plus those admitted within `grace_ms` who have not yet been seen playing (the
//!   frontier's own admissions in the window, less the sessions first seen in it: an admission
//!   and a player's first CMCD cannot be matched one to one, so they are matched in number).
//! * **Pause and doors.** Before the doors open or while paused, nothing moves and no credit
//!   accrues.
//! * **Automatic rate.** [`automatic_rate`]: the CDNs' spare capacity over the per-viewer
//!   bitrate, filled over `fill_ms`.
//! * **Idle queue.** Only positions the controller knows of are admitted, so a lagging line can
//!   never admit a viewer by accident. When the known queue is empty, the frontier follows real
//!   time `line_delay_ms` behind (the longest an arrival line is expected to take to arrive), so
//!   a viewer arriving at an idle room gets an honest wait estimate; this starts only
//!   `line_delay_ms` after the doors open, because pre-queue positions are shuffled and do not
//!   follow the clock.
//!
//! What it does not do: read lines, keep time or publish. The controller passes arrivals, the
//! audience and `now_ms` in and publishes the [`AdmissionPlan`] that comes back.
//!
//! Key design decision: the frontier is the only thing edges need, and it only ever moves past
//! arrivals the controller has counted, so every admission is budgeted (or, for a line that
//! arrives after its position was passed, counted against the cap as soon as it arrives).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};
use usher_shared::health::{AdmissionPlan, AdmissionState, PREQUEUE_SPAN_MS};

/// Credit units per viewer: a rate in viewers per minute times milliseconds is credit.
pub const VIEWER: i128 = 60_000;

/// The window of the measured admission rate, ms.
pub const MEASURE_WINDOW_MS: u64 = 60_000;

/// An event's `[event.admission]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// When the doors open, Unix ms (the same value as the edges' `events.json`).
    pub doors_open_ms: u64,
    /// A fixed admission rate, viewers per minute.
    #[serde(default)]
    pub rate_per_min: Option<u32>,
    /// `"automatic"`: the rate follows the CDNs' spare capacity ([`automatic_rate`]).
    #[serde(default)]
    pub rate: Option<String>,
    /// The most viewers active at once, if any.
    #[serde(default)]
    pub cap: Option<u64>,
    /// Automatic rate: the per-viewer bitrate when CMCD reports none yet, bit/s (default
    /// 5 000 000).
    #[serde(default = "default_viewer_bitrate_bps")]
    pub viewer_bitrate_bps: u64,
    /// Automatic rate: how long admission takes to fill the spare capacity, ms (default 60 000).
    #[serde(default = "default_fill_ms")]
    pub fill_ms: u64,
    /// How long an admitted viewer not yet seen playing counts against the cap, ms (default
    /// 60 000).
    #[serde(default = "default_grace_ms")]
    pub grace_ms: u64,
    /// The longest an arrival line takes to reach the controller, ms (default 5000).
    #[serde(default = "default_line_delay_ms")]
    pub line_delay_ms: u64,
}

const fn default_viewer_bitrate_bps() -> u64 {
    5_000_000
}
const fn default_fill_ms() -> u64 {
    60_000
}
const fn default_grace_ms() -> u64 {
    60_000
}
const fn default_line_delay_ms() -> u64 {
    5000
}

/// How the admission rate is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// Viewers per minute.
    Fixed(u32),
    /// From the CDNs' spare capacity.
    Automatic,
}

impl AdmissionConfig {
    /// A configuration with a fixed rate and the defaults.
    pub fn fixed(doors_open_ms: u64, rate_per_min: u32, cap: Option<u64>) -> Self {
        AdmissionConfig {
            doors_open_ms,
            rate_per_min: Some(rate_per_min),
            rate: None,
            cap,
            viewer_bitrate_bps: default_viewer_bitrate_bps(),
            fill_ms: default_fill_ms(),
            grace_ms: default_grace_ms(),
            line_delay_ms: default_line_delay_ms(),
        }
    }

    /// The configured rate; `Err` names the problem.
    pub fn rate(&self) -> Result<Rate, String> {
        match (self.rate_per_min, self.rate.as_deref()) {
            (Some(0), None) => Err("rate_per_min: above 0 (pause admission instead)".into()),
            (Some(n), None) => Ok(Rate::Fixed(n)),
            (None, Some("automatic")) => Ok(Rate::Automatic),
            (None, Some(other)) => Err(format!("rate: \"automatic\" or absent, got {other:?}")),
            (None, None) => Err("one of rate_per_min = N or rate = \"automatic\"".into()),
            (Some(_), Some(_)) => Err("rate_per_min and rate: one or the other".into()),
        }
    }

    /// Checks the table.
    pub fn check(&self) -> Result<(), String> {
        self.rate()?;
        if self.cap == Some(0) {
            return Err("cap: above 0".into());
        }
        if self.viewer_bitrate_bps == 0 || self.fill_ms == 0 {
            return Err("viewer_bitrate_bps and fill_ms: above 0".into());
        }
        if self.doors_open_ms < PREQUEUE_SPAN_MS {
            return Err("doors_open_ms: a Unix time in ms".into());
        }
        Ok(())
    }
}

/// What the controller knows about the CDNs, for the automatic rate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headroom {
    /// Per CDN that is not gated and has a configured capacity: (capacity, delivered now), bit/s.
    pub cdns: Vec<(u64, u64)>,
    /// The mean bitrate viewers draw, from CMCD, if known, bit/s.
    pub viewer_bitrate_bps: Option<u64>,
    /// Viewers admitted but not yet seen playing, over every event: demand the CDNs do not carry
    /// yet but will.
    pub pending: u64,
}

/// The automatic rate, viewers per minute: `spare / bitrate − pending` viewers, admitted over
/// `fill_ms`, where `spare = Σ max(0, capacity − delivered)` over the CDNs that are not gated
/// and `bitrate` is the viewers' mean (CMCD `br`) or the configured fallback. `shares` events
/// with an automatic rate split it evenly. So admission slows as every CDN nears its commit,
/// and stops when none has room.
pub fn automatic_rate(config: &AdmissionConfig, headroom: &Headroom, shares: u32) -> u32 {
    let spare: u128 = headroom
        .cdns
        .iter()
        .map(|(capacity, delivered)| u128::from(capacity.saturating_sub(*delivered)))
        .sum();
    let bitrate = headroom
        .viewer_bitrate_bps
        .filter(|b| *b > 0)
        .unwrap_or(config.viewer_bitrate_bps)
        .max(1);
    let viewers = (spare / u128::from(bitrate)).saturating_sub(u128::from(headroom.pending));
    let per_min = viewers * 60_000 / u128::from(config.fill_ms.max(1)) / u128::from(shares.max(1));
    u32::try_from(per_min).unwrap_or(u32::MAX)
}

/// The audience of one event at a tick, for the cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    /// Sessions of the event seen playing (CMCD) within the viewer window.
    pub players: u64,
    /// Of those, sessions first seen within the last `grace_ms`.
    pub new_players: u64,
}

/// One event's waiting room: known arrivals, the frontier and the operator's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    event: String,
    frontier_ms: u64,
    /// Known arrivals at or above the frontier: position → count.
    queue: BTreeMap<u64, u64>,
    /// Known arrivals below the frontier (admitted by it, or known after it passed them).
    admitted: u64,
    newest_position: Option<u64>,
    credit: i128,
    last_ms: Option<u64>,
    paused: bool,
    opened_at_ms: Option<u64>,
    rate_override: Option<u32>,
    /// The frontier's admissions within the grace window: (at, count).
    recent: VecDeque<(u64, u64)>,
    /// `admitted` lines from edges within the measure window: their `at`.
    minted: VecDeque<u64>,
}

/// What [`Room::step`] decided, besides the plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Viewers the frontier admitted in this step.
    pub admitted: u64,
    /// Admitted by the frontier within `grace_ms` and not yet seen playing.
    pub pending: u64,
}

impl Room {
    /// An empty room: the frontier at the start of the pre-queue span, so nobody is admitted.
    pub fn new(event: &str, config: &AdmissionConfig) -> Self {
        Room {
            event: event.to_owned(),
            frontier_ms: config.doors_open_ms.saturating_sub(PREQUEUE_SPAN_MS),
            queue: BTreeMap::new(),
            admitted: 0,
            newest_position: None,
            credit: 0,
            last_ms: None,
            paused: false,
            opened_at_ms: None,
            rate_override: None,
            recent: VecDeque::new(),
            minted: VecDeque::new(),
        }
    }

    /// The event.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The frontier.
    pub fn frontier_ms(&self) -> u64 {
        self.frontier_ms
    }

    /// Known arrivals below the frontier.
    pub fn admitted(&self) -> u64 {
        self.admitted
    }

    /// Known arrivals at or above the frontier.
    pub fn waiting(&self) -> u64 {
        self.queue.values().sum()
    }

    /// The highest position known.
    pub fn newest_position(&self) -> Option<u64> {
        self.newest_position
    }

    /// Whether an operator paused admission.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The operator's rate, replacing the configured one, if set.
    pub fn rate_override(&self) -> Option<u32> {
        self.rate_override
    }

    /// When an operator opened the doors early, if they did.
    pub fn opened_at_ms(&self) -> Option<u64> {
        self.opened_at_ms
    }

    /// Resumes a frontier published before a restart (it never moves backwards).
    pub fn resume_frontier(&mut self, frontier_ms: u64) {
        self.frontier_ms = self.frontier_ms.max(frontier_ms);
        let still_waiting = self.queue.split_off(&self.frontier_ms);
        self.admitted += self.queue.values().sum::<u64>();
        self.queue = still_waiting;
    }

    /// An `arrival` line: a position was issued.
    pub fn arrival(&mut self, position: u64) {
        self.newest_position = Some(self.newest_position.map_or(position, |n| n.max(position)));
        if position < self.frontier_ms {
            // Known only after the frontier passed it: the edge admitted it already. It counts
            // from now on (it is someone the CMCD will show), but no budget can be spent on it.
            self.admitted += 1;
        } else {
            *self.queue.entry(position).or_default() += 1;
        }
    }

    /// An `admitted` line: an edge minted an admission at `at_ms`.
    pub fn minted(&mut self, at_ms: u64) {
        self.minted.push_back(at_ms);
    }

    /// Admission rate measured from `admitted` lines over the last minute, viewers per minute.
    pub fn measured_rate(&mut self, now_ms: u64) -> u64 {
        let since = now_ms.saturating_sub(MEASURE_WINDOW_MS);
        self.minted.retain(|at| *at >= since && *at <= now_ms);
        self.minted.len() as u64 * 60_000 / MEASURE_WINDOW_MS
    }

    /// Operator: pause (true) or resume (false) at `now_ms`. Credit accrues from the resumption
    /// on, not over the paused stretch.
    pub fn set_paused(&mut self, paused: bool, now_ms: u64) {
        if self.paused && !paused {
            self.last_ms = Some(self.last_ms.map_or(now_ms, |l| l.max(now_ms)));
        }
        self.paused = paused;
    }

    /// Operator: open now. Resumes a pause and, before the doors, opens them early (edges
    /// still shuffle arrivals into the pre-queue until their doors time, so an early opening
    /// admits a fair lottery of the pre-queue at the rate).
    pub fn open(&mut self, now_ms: u64, config: &AdmissionConfig) {
        self.set_paused(false, now_ms);
        if now_ms < config.doors_open_ms && self.opened_at_ms.is_none() {
            self.opened_at_ms = Some(now_ms);
        }
    }

    /// Operator: a rate replacing the configured one (`None`: back to the configuration).
    pub fn set_rate(&mut self, rate_per_min: Option<u32>) {
        self.rate_override = rate_per_min;
    }

    /// When admission starts: the doors, or an operator's early opening.
    fn doors_ms(&self, config: &AdmissionConfig) -> u64 {
        self.opened_at_ms
            .map_or(config.doors_open_ms, |o| o.min(config.doors_open_ms))
    }

    /// The rate in force: the operator's, else the configured fixed rate, else `automatic`.
    pub fn effective_rate(&self, config: &AdmissionConfig, automatic: u32) -> u32 {
        match (self.rate_override, config.rate()) {
            (Some(r), _) => r,
            (None, Ok(Rate::Fixed(r))) => r,
            (None, _) => automatic,
        }
    }

    /// One tick at `now_ms`: moves the frontier and returns the plan to publish. `rate_per_min`
    /// is [`Room::effective_rate`]; `tick_ms` the controller's interval (the bank's size).
    pub fn step(
        &mut self,
        now_ms: u64,
        config: &AdmissionConfig,
        rate_per_min: u32,
        tick_ms: u64,
        audience: Audience,
    ) -> (AdmissionPlan, Step) {
        let last = self.last_ms.replace(now_ms).unwrap_or(now_ms).min(now_ms);
        let since = now_ms.saturating_sub(config.grace_ms);
        while self.recent.front().is_some_and(|(at, _)| *at < since) {
            self.recent.pop_front();
        }
        let recent: u64 = self.recent.iter().map(|(_, n)| n).sum();
        let mut pending = recent.saturating_sub(audience.new_players);
        let mut active = audience.players.saturating_add(pending);
        let doors = self.doors_ms(config);
        let rate = i128::from(rate_per_min);
        let bank = (rate * i128::from(tick_ms)).max(VIEWER);
        let mut admitted_now = 0;
        let state = if now_ms < doors {
            self.credit = 0;
            AdmissionState::BeforeDoors
        } else if self.paused {
            self.credit = self.credit.min(0);
            AdmissionState::Paused
        } else {
            let open_ms = now_ms - last.max(doors);
            self.credit += rate * i128::from(open_ms);
            let mut full = rate == 0 || config.cap.is_some_and(|c| active >= c);
            while let Some((&position, &count)) = self.queue.first_key_value() {
                if config.cap.is_some_and(|c| active.saturating_add(count) > c) {
                    full = true;
                    break;
                }
                let cost = i128::from(count) * VIEWER;
                let affordable = self.credit >= cost || (self.credit >= bank && cost > bank);
                if !affordable || rate == 0 {
                    break;
                }
                self.credit -= cost;
                self.queue.pop_first();
                self.frontier_ms = self.frontier_ms.max(position.saturating_add(1));
                self.admitted += count;
                admitted_now += count;
                active = active.saturating_add(count);
                pending += count;
            }
            // No banking: what is left after this tick carries over up to one tick's worth.
            self.credit = self.credit.min(bank);
            let follow_from = doors.saturating_add(config.line_delay_ms);
            if self.queue.is_empty() && !full && self.credit > 0 && now_ms >= follow_from {
                self.frontier_ms = self
                    .frontier_ms
                    .max(now_ms.saturating_sub(config.line_delay_ms));
            }
            if full {
                AdmissionState::Full
            } else {
                AdmissionState::Open
            }
        };
        if admitted_now > 0 {
            self.recent.push_back((now_ms, admitted_now));
        }
        let waiting = self.waiting();
        let advance = match (state, self.queue.last_key_value()) {
            (AdmissionState::Open, None) => 1000,
            (AdmissionState::Open, Some((&newest, _))) if rate > 0 => {
                // The frontier crosses the queue's span in the time the rate takes to admit
                // everyone in it: exact for the newest arrival, an average for the others.
                let span = u128::from(newest.saturating_sub(self.frontier_ms)) + 1;
                let admit_ms = u128::from(waiting) * 60_000 / u128::from(rate_per_min);
                (span * 1000 / admit_ms.max(1)).clamp(1, u128::from(u32::MAX))
            }
            _ => 0,
        };
        let plan = AdmissionPlan {
            event: self.event.clone(),
            state,
            doors_open_ms: doors,
            frontier_ms: self.frontier_ms,
            rate_per_min: if matches!(state, AdmissionState::Open | AdmissionState::Full) {
                rate_per_min
            } else {
                0
            },
            advance_ms_per_s: u32::try_from(advance).unwrap_or(u32::MAX),
            waiting,
            active,
            cap: config.cap,
        };
        (
            plan,
            Step {
                admitted: admitted_now,
                pending,
            },
        )
    }
}

/// Why an admission line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// Not a JSON object with `at`, `event`, `kind` and `position` of the right types, or with
    /// other fields.
    Malformed,
    /// A `kind` other than `arrival` or `admitted`.
    UnknownKind,
    /// The event has no waiting room in the configuration.
    UnknownEvent,
    /// A position outside the event's pre-queue span onwards, or after the line's own time.
    Position,
}

impl LineError {
    /// A stable code, counted with the QoE refusals.
    pub fn as_str(&self) -> &'static str {
        match self {
            LineError::Malformed => "admission_malformed",
            LineError::UnknownKind => "admission_unknown_kind",
            LineError::UnknownEvent => "admission_unknown_event",
            LineError::Position => "admission_position",
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for LineError {}

/// What an admission line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// A queue position was issued.
    Arrival,
    /// An admission was minted.
    Admitted,
}

/// One checked admission line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// When the edge wrote it (Unix ms).
    pub at_ms: u64,
    /// The event.
    pub event: String,
    /// Arrival or admission.
    pub kind: LineKind,
    /// The queue position.
    pub position: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    at: u64,
    event: String,
    kind: String,
    position: u64,
}

/// The slack allowed between a position and its line's time: edges' clocks differ a little.
const CLOCK_SLACK_MS: u64 = 60_000;

/// Reads an admission line (`{"at", "event", "kind": "arrival" | "admitted", "position"}`).
/// `doors_of` gives the doors time of an event with a waiting room.
pub fn read_line(line: &[u8], doors_of: impl Fn(&str) -> Option<u64>) -> Result<Line, LineError> {
    let raw: RawLine = serde_json::from_slice(line).map_err(|_| LineError::Malformed)?;
    let kind = match raw.kind.as_str() {
        "arrival" => LineKind::Arrival,
        "admitted" => LineKind::Admitted,
        _ => return Err(LineError::UnknownKind),
    };
    let doors = doors_of(&raw.event).ok_or(LineError::UnknownEvent)?;
    // Every position is at least the pre-queue's start, and no later than the time it was
    // issued (plus the clock slack between edges); anything else is a bug or a forgery.
    let lowest = doors.saturating_sub(PREQUEUE_SPAN_MS);
    let highest = raw.at.max(doors).saturating_add(CLOCK_SLACK_MS);
    if raw.position < lowest || raw.position > highest {
        return Err(LineError::Position);
    }
    Ok(Line {
        at_ms: raw.at,
        event: raw.event,
        kind,
        position: raw.position,
    })
}

/// Whether a JSON line carries a `kind` (an admission line) rather than CMCD. Cheap: the
/// controller reads every QoE line through it.
pub fn is_admission_line(line: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        kind: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(line).is_ok_and(|p| p.kind.is_some())
}

#[cfg(test)]
mod tests;
