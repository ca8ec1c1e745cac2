//! The waiting rooms over the event: what phased admission did, from the figures each tick
//! recorded (`Tick::admission`, the same the dashboard's waiting-room table showed).
//!
//! One [`AdmissionSummary`] per waiting room found in the event's ticks, the reported event's
//! own first: rooms of other events the controller ran at the same time are kept, because they
//! share the CDNs' spare capacity (the automatic rate) and the decision log, so a neighbour's
//! surge can explain this event's waits. A timeline without admission data gives none, and the
//! report then has no waiting-room section and no `admission.csv`.
//!
//! Times follow the rest of the report: a tick stands for the time until the next one, or one
//! interval before a gap ([`super::tick_durations`]), so the state times add up to the record.
//!
//! What it does not do: re-run the admission arithmetic ([`crate::admission`]). Every figure
//! is read from what the controller published at the time, so the report shows what operators
//! saw; the wait is the controller's estimate for the newest arrival, not a measured wait.

use serde::Serialize;
use usher_shared::health::AdmissionState;

use crate::admission::MEASURE_WINDOW_MS;
use crate::operator::{Action, AuditEntry};
use crate::timeline::{AdmissionTick, Tick};

/// Time a waiting room spent in each state, ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AdmissionTimes {
    /// Before the doors (nothing moves; early arrivals wait in the pre-queue).
    pub before_doors_ms: u64,
    /// Admitting at the rate in force.
    pub open_ms: u64,
    /// Paused by an operator.
    pub paused_ms: u64,
    /// Full: at the cap, or no CDN with spare capacity (automatic rate).
    pub full_ms: u64,
}

impl AdmissionTimes {
    fn add(&mut self, state: AdmissionState, ms: u64) {
        let slot = match state {
            AdmissionState::BeforeDoors => &mut self.before_doors_ms,
            AdmissionState::Open => &mut self.open_ms,
            AdmissionState::Paused => &mut self.paused_ms,
            AdmissionState::Full => &mut self.full_ms,
        };
        *slot += ms;
    }

    /// Time from the doors on: open, paused or full.
    pub fn after_doors_ms(&self) -> u64 {
        self.open_ms + self.paused_ms + self.full_ms
    }
}

/// A change of the operator's rate, in the first tick that shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RateChange {
    /// The tick, Unix ms.
    pub at_ms: u64,
    /// The operator's rate from then on, viewers per minute; `None`: back to the configured
    /// rate.
    pub operator_rate_per_min: Option<u32>,
    /// The configured rate at the time (`None`: automatic).
    pub configured_rate_per_min: Option<u32>,
    /// Who asked: the latest applied `admission rate` command to that rate from the tick
    /// before on (`None` when the audit log does not have it).
    pub who: Option<String>,
    /// Why, from the same command.
    pub why: Option<String>,
}

/// One waiting room over the event.
#[derive(Clone, Debug, Serialize)]
pub struct AdmissionSummary {
    /// The event.
    pub event: String,
    /// Ticks that carry it.
    pub ticks: usize,
    /// The doors: the first tick whose state is not `before_doors`, Unix ms (`None`: they
    /// never opened in the record).
    pub doors_open_ms: Option<u64>,
    /// The doors were already open at the room's first tick, so they opened at or before
    /// `doors_open_ms`.
    pub open_at_first_tick: bool,
    /// Viewers waiting in the last tick before the doors (the pre-queue); `None` when the
    /// record starts with the doors open or they never opened in it.
    pub pre_queue: Option<u64>,
    /// The first tick from the doors on with nobody waiting, Unix ms.
    pub queue_emptied_ms: Option<u64>,
    /// Viewers admitted during the record: the first tick's count plus what the counter grew
    /// by (from zero again after a restart, which resets it).
    pub admitted: u64,
    /// The longest queue (known arrivals waiting).
    pub peak_waiting: u64,
    /// When it was first that long, Unix ms (`None`: nobody ever waited).
    pub peak_waiting_at_ms: Option<u64>,
    /// The highest measured admission rate (what the edges minted over the minute before a
    /// tick), viewers per minute.
    pub peak_measured_rate_per_min: u64,
    /// When it was first reached, Unix ms (`None`: nobody was admitted).
    pub peak_measured_at_ms: Option<u64>,
    /// The rate in force in that tick, viewers per minute.
    pub rate_at_peak_per_min: Option<u32>,
    /// The longest estimated wait of a newest arrival, ms.
    pub longest_wait_ms: Option<u64>,
    /// When, Unix ms.
    pub longest_wait_at_ms: Option<u64>,
    /// Viewers waiting in that tick.
    pub waiting_at_longest_wait: Option<u64>,
    /// The rate in force in that tick, viewers per minute.
    pub rate_at_longest_wait_per_min: Option<u32>,
    /// Time in each state.
    pub time: AdmissionTimes,
    /// The cap in the room's last tick, if any.
    pub cap: Option<u64>,
    /// Most viewers counted against the cap.
    pub peak_active: u64,
    /// The first tick at the cap, Unix ms (`None`: never reached). At the cap: the active
    /// count at or above it, or `full` at a rate above zero (the next viewers would pass it).
    pub cap_reached_at_ms: Option<u64>,
    /// Time at the cap.
    pub at_cap_ms: u64,
    /// Of that, time with viewers waiting: the cap held them back.
    pub held_at_cap_ms: u64,
    /// Time `full` with viewers waiting and not at the cap: the automatic rate was zero, no
    /// CDN having spare capacity.
    pub held_without_capacity_ms: u64,
    /// The configured rate in the room's last tick, viewers per minute (`None`: automatic).
    pub configured_rate_per_min: Option<u32>,
    /// Every change of the operator's rate, oldest first.
    pub rate_changes: Vec<RateChange>,
    /// Open ticks at least a minute after the doors (the measured rate covers a minute, so
    /// earlier ones understate it).
    pub settled_open_ticks: u64,
    /// Of those, ticks with nobody waiting.
    pub settled_empty_ticks: u64,
    /// Σ measured rate ÷ Σ rate in force over those ticks (`None`: none, or no rate).
    pub measured_share: Option<f64>,
}

/// One room's entry in one tick, with the time the tick stands for.
struct Entry<'a> {
    at_ms: u64,
    duration_ms: u64,
    room: &'a AdmissionTick,
}

/// Every waiting room in `ticks` (`durations` as [`super::tick_durations`] gives them),
/// `own_event`'s first, then the others in order of appearance.
pub(crate) fn summarise(
    ticks: &[Tick],
    durations: &[u64],
    own_event: &str,
    audit: &[AuditEntry],
) -> Vec<AdmissionSummary> {
    let mut events: Vec<&str> = Vec::new();
    for room in ticks.iter().flat_map(|t| &t.admission) {
        if !events.contains(&room.event.as_str()) {
            events.push(&room.event);
        }
    }
    // Stable: the event's own room first, the others keep their order.
    events.sort_by_key(|e| *e != own_event);
    events
        .into_iter()
        .map(|event| {
            let entries: Vec<Entry<'_>> = ticks
                .iter()
                .zip(durations)
                .filter_map(|(t, &duration_ms)| {
                    Some(Entry {
                        at_ms: t.at_ms,
                        duration_ms,
                        room: t.admission.iter().find(|a| a.event == event)?,
                    })
                })
                .collect();
            summary(event, &entries, audit)
        })
        .collect()
}

/// The first entry with the highest `value` (`None` when every value is 0 or absent).
fn peak<'a, T: Ord + Default + Copy>(
    entries: &'a [Entry<'a>],
    value: impl Fn(&AdmissionTick) -> Option<T>,
) -> Option<(T, &'a Entry<'a>)> {
    let mut best: Option<(T, &Entry<'_>)> = None;
    for e in entries {
        if let Some(v) = value(e.room)
            && v > best.map_or(T::default(), |(b, _)| b)
        {
            best = Some((v, e));
        }
    }
    best
}

fn summary(event: &str, entries: &[Entry<'_>], audit: &[AuditEntry]) -> AdmissionSummary {
    let doors = entries
        .iter()
        .position(|e| e.room.state != AdmissionState::BeforeDoors);
    let doors_open_ms = doors.and_then(|i| entries.get(i)).map(|e| e.at_ms);
    let pre_queue = doors
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| entries.get(i))
        .map(|e| e.room.waiting);
    let queue_emptied_ms = doors.and_then(|i| {
        entries
            .iter()
            .skip(i)
            .find(|e| e.room.waiting == 0)
            .map(|e| e.at_ms)
    });

    // The counter runs from the controller's start: count what it grew by, and a counter
    // that fell (a restart) from zero.
    let mut admitted = entries.first().map_or(0, |e| e.room.admitted);
    for pair in entries.windows(2) {
        let [a, b] = pair else { continue };
        let (then, now) = (a.room.admitted, b.room.admitted);
        admitted += if now >= then { now - then } else { now };
    }

    let mut time = AdmissionTimes::default();
    let (mut at_cap_ms, mut held_at_cap_ms, mut held_without_capacity_ms) = (0, 0, 0);
    let mut cap_reached_at_ms = None;
    for e in entries {
        let r = e.room;
        time.add(r.state, e.duration_ms);
        // `full` has two causes: the cap (the next viewers would take the active count past
        // it, so it may read just below), or an automatic rate of zero (no CDN has room).
        let full = r.state == AdmissionState::Full;
        let at_cap = r
            .cap
            .is_some_and(|cap| r.active >= cap || (full && r.rate_per_min > 0));
        if at_cap {
            at_cap_ms += e.duration_ms;
            cap_reached_at_ms = cap_reached_at_ms.or(Some(e.at_ms));
            if r.waiting > 0 {
                held_at_cap_ms += e.duration_ms;
            }
        } else if full && r.waiting > 0 {
            held_without_capacity_ms += e.duration_ms;
        }
    }

    let settled: Vec<&Entry<'_>> = entries
        .iter()
        .filter(|e| {
            e.room.state == AdmissionState::Open
                && doors_open_ms.is_some_and(|d| e.at_ms >= d.saturating_add(MEASURE_WINDOW_MS))
        })
        .collect();
    let measured: u64 = settled.iter().map(|e| e.room.measured_rate_per_min).sum();
    let in_force: u64 = settled.iter().map(|e| u64::from(e.room.rate_per_min)).sum();

    let peak_waiting = peak(entries, |r| Some(r.waiting));
    let peak_measured = peak(entries, |r| Some(r.measured_rate_per_min));
    let longest_wait = peak(entries, |r| r.newest_wait_ms);
    let last = entries.last().map(|e| e.room);
    AdmissionSummary {
        event: event.to_owned(),
        ticks: entries.len(),
        doors_open_ms,
        open_at_first_tick: doors == Some(0),
        pre_queue,
        queue_emptied_ms,
        admitted,
        peak_waiting: peak_waiting.map_or(0, |(v, _)| v),
        peak_waiting_at_ms: peak_waiting.map(|(_, e)| e.at_ms),
        peak_measured_rate_per_min: peak_measured.map_or(0, |(v, _)| v),
        peak_measured_at_ms: peak_measured.map(|(_, e)| e.at_ms),
        rate_at_peak_per_min: peak_measured.map(|(_, e)| e.room.rate_per_min),
        longest_wait_ms: longest_wait.map(|(v, _)| v),
        longest_wait_at_ms: longest_wait.map(|(_, e)| e.at_ms),
        waiting_at_longest_wait: longest_wait.map(|(_, e)| e.room.waiting),
        rate_at_longest_wait_per_min: longest_wait.map(|(_, e)| e.room.rate_per_min),
        time,
        cap: last.and_then(|r| r.cap),
        peak_active: entries.iter().map(|e| e.room.active).max().unwrap_or(0),
        cap_reached_at_ms,
        at_cap_ms,
        held_at_cap_ms,
        held_without_capacity_ms,
        configured_rate_per_min: last.and_then(|r| r.configured_rate_per_min),
        rate_changes: rate_changes(event, entries, audit),
        settled_open_ticks: settled.len() as u64,
        settled_empty_ticks: settled.iter().filter(|e| e.room.waiting == 0).count() as u64,
        measured_share: (in_force > 0).then(|| measured as f64 / in_force as f64),
    }
}

/// Every tick whose operator rate differs from the tick before (an override already in force
/// at the first tick counts as a change there), with who and why from the audit log.
fn rate_changes(event: &str, entries: &[Entry<'_>], audit: &[AuditEntry]) -> Vec<RateChange> {
    let mut changes = Vec::new();
    let mut before: Option<u32> = None;
    // The tick before: a command from then on made the change (any earlier one, at the first;
    // one at the tick's own millisecond may have come just after its evaluation).
    let mut since_ms: Option<u64> = None;
    for e in entries {
        let now = e.room.operator_rate_per_min;
        if now != before {
            // The command as the audit log spells it (`admission rate final 90`).
            let action = Action::AdmissionRate {
                event: event.to_owned(),
                rate_per_min: now,
            }
            .to_string();
            let command = audit.iter().rev().find(|a| {
                a.action == action
                    && a.outcome == "applied"
                    && a.at_ms <= e.at_ms
                    && since_ms.is_none_or(|s| a.at_ms >= s)
            });
            changes.push(RateChange {
                at_ms: e.at_ms,
                operator_rate_per_min: now,
                configured_rate_per_min: e.room.configured_rate_per_min,
                who: command.map(|a| a.who.clone()),
                why: command.map(|a| a.why.clone()),
            });
        }
        before = now;
        since_ms = Some(e.at_ms);
    }
    changes
}
