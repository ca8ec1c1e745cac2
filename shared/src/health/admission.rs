//! Admission plans: the part of the snapshot that runs an event's waiting room.
//!
//! A viewer's queue position is a virtual arrival time in unix milliseconds: the edge's clock
//! at the viewer's first arrival once the doors are open, or, for a viewer who arrived before
//! the doors opened (the pre-queue), a keyed pseudo-random point in the [`PREQUEUE_SPAN_MS`]
//! before `doors_open_ms`, so the pre-queue is shuffled and then admitted ahead of everyone who
//! came later. The controller publishes per event a *frontier*: a viewer is admitted iff its
//! position is below `frontier_ms`. The controller moves the frontier at the admission rate,
//! never past the active cap, never while paused or before the doors open, never backwards.
//!
//! What this module does not do: issue or sign positions (the edge does, in a cookie of its
//! own), or move the frontier (the controller's arithmetic, in `usher-control`). It is the
//! shared vocabulary and the edge's wait estimate.
//!
//! The key design decision is that a single number per event decides admission: the edge keeps
//! no per-viewer state and needs no coordination between its instances, and every edge that
//! reads the same snapshot admits exactly the same viewers.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::config::MAX_ID_LEN;

/// How far before `doors_open_ms` the pre-queue's shuffled positions spread: a viewer who
/// arrives before the doors open gets a position in `doors_open_ms - PREQUEUE_SPAN_MS ..
/// doors_open_ms`, so the controller's initial frontier is the start of that span.
pub const PREQUEUE_SPAN_MS: u64 = 60_000;

/// At most this many events with an admission plan in one snapshot.
pub const MAX_ADMISSION_EVENTS: usize = 256;

/// Why an event's frontier is, or is not, moving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionState {
    /// The doors have not opened yet: nobody is admitted, early arrivals wait in the
    /// pre-queue.
    BeforeDoors,
    /// Admitting at `rate_per_min`.
    Open,
    /// An operator paused admission: the frontier stays where it is.
    Paused,
    /// The active cap is reached: the frontier moves again once viewers leave.
    Full,
}

impl AdmissionState {
    /// The snake-case code, as in the snapshot.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionState::BeforeDoors => "before_doors",
            AdmissionState::Open => "open",
            AdmissionState::Paused => "paused",
            AdmissionState::Full => "full",
        }
    }
}

impl fmt::Display for AdmissionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event's admission plan, as the controller publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionPlan {
    /// The event id, as in tickets' `ev` claim and in paths.
    pub event: String,
    /// Why the frontier is (not) moving.
    pub state: AdmissionState,
    /// When the doors open, unix ms.
    pub doors_open_ms: u64,
    /// A viewer is admitted iff its queue position is below this.
    pub frontier_ms: u64,
    /// The effective admission rate now, viewers per minute.
    pub rate_per_min: u32,
    /// How fast the controller expects the frontier to move, in milliseconds of position per
    /// second, for wait estimates; 0 when it is not moving.
    pub advance_ms_per_s: u32,
    /// Known arrivals at or above the frontier.
    pub waiting: u64,
    /// Viewers counted against the cap.
    pub active: u64,
    /// The active cap, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u64>,
}

impl AdmissionPlan {
    /// Whether a viewer at `position` is admitted.
    pub fn admits(&self, position: u64) -> bool {
        position < self.frontier_ms
    }

    /// Estimated wait for `position`, ms; `Some(0)` if admitted; `None` if the frontier is not
    /// moving (before the doors, paused, full), so no honest estimate exists.
    ///
    /// The estimate is the distance to the frontier at its expected speed, rounded up to a
    /// whole millisecond.
    pub fn wait_ms(&self, position: u64) -> Option<u64> {
        if self.admits(position) {
            return Some(0);
        }
        if self.advance_ms_per_s == 0 {
            return None;
        }
        // Positions are unix ms, so the product stays far below u128's range.
        let distance = u128::from(position - self.frontier_ms) + 1;
        let wait = (distance * 1000).div_ceil(u128::from(self.advance_ms_per_s));
        Some(u64::try_from(wait).unwrap_or(u64::MAX))
    }
}

/// Why an admission list was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmissionError {
    /// An event id is empty, too long, has characters outside `A-Z a-z 0-9 - _ .`, or is
    /// listed twice.
    InvalidEvent {
        /// The offending id.
        event: String,
    },
    /// A cap of zero: nobody could ever be admitted (no cap is written as none).
    ZeroCap {
        /// The event.
        event: String,
    },
    /// More plans than [`MAX_ADMISSION_EVENTS`].
    TooMany {
        /// How many were listed.
        count: usize,
    },
}

impl fmt::Display for AdmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmissionError::InvalidEvent { event } => write!(
                f,
                "invalid or repeated admission event id {event:?}: must be unique, 1 to \
                 {MAX_ID_LEN} of A-Z a-z 0-9 - _ ."
            ),
            AdmissionError::ZeroCap { event } => {
                write!(f, "admission cap of event {event:?} is 0")
            }
            AdmissionError::TooMany { count } => write!(
                f,
                "{count} admission plans, at most {MAX_ADMISSION_EVENTS} allowed"
            ),
        }
    }
}

impl core::error::Error for AdmissionError {}

/// The edge's event id rule.
fn valid_event(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks a list of plans: what decoding and the controller's constructor both enforce.
pub(crate) fn check(plans: &[AdmissionPlan]) -> Result<(), AdmissionError> {
    if plans.len() > MAX_ADMISSION_EVENTS {
        return Err(AdmissionError::TooMany { count: plans.len() });
    }
    for (i, p) in plans.iter().enumerate() {
        if !valid_event(&p.event) || plans.iter().take(i).any(|o| o.event == p.event) {
            return Err(AdmissionError::InvalidEvent {
                event: p.event.clone(),
            });
        }
        if p.cap == Some(0) {
            return Err(AdmissionError::ZeroCap {
                event: p.event.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn plan(frontier_ms: u64, advance_ms_per_s: u32) -> AdmissionPlan {
        AdmissionPlan {
            event: "final-2026".into(),
            state: AdmissionState::Open,
            doors_open_ms: 1_000_000,
            frontier_ms,
            rate_per_min: 600,
            advance_ms_per_s,
            waiting: 10,
            active: 5,
            cap: Some(100),
        }
    }

    #[test]
    fn a_position_below_the_frontier_is_admitted_and_waits_nothing() {
        let p = plan(1_000_000, 500);
        assert!(p.admits(999_999));
        assert!(!p.admits(1_000_000));
        assert_eq!(p.wait_ms(999_999), Some(0));
    }

    #[test]
    fn wait_is_the_distance_to_the_frontier_at_its_speed() {
        // 500 ms of position per second: the position 1999 ms past the frontier needs 2000 ms
        // of position, so 4 s.
        let p = plan(1_000_000, 500);
        assert_eq!(p.wait_ms(1_001_999), Some(4000));
        assert_eq!(p.wait_ms(1_000_000), Some(2));
    }

    #[test]
    fn a_frontier_that_does_not_move_gives_no_estimate() {
        let p = plan(1_000_000, 0);
        assert_eq!(p.wait_ms(1_000_001), None);
        assert_eq!(p.wait_ms(1), Some(0));
    }

    #[test]
    fn the_largest_position_does_not_overflow() {
        assert_eq!(plan(0, 1).wait_ms(u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn repeated_or_odd_event_ids_and_zero_caps_are_refused() {
        let ok = plan(1, 1);
        assert_eq!(check(core::slice::from_ref(&ok)), Ok(()));
        assert!(matches!(
            check(&[ok.clone(), ok.clone()]),
            Err(AdmissionError::InvalidEvent { .. })
        ));
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            let mut p = ok.clone();
            p.event = bad.into();
            assert!(matches!(
                check(&[p]),
                Err(AdmissionError::InvalidEvent { .. })
            ));
        }
        let mut p = ok.clone();
        p.cap = Some(0);
        assert_eq!(
            check(&[p]).unwrap_err().to_string(),
            "admission cap of event \"final-2026\" is 0"
        );
        let many = vec![ok; MAX_ADMISSION_EVENTS + 1];
        assert_eq!(
            check(&many),
            Err(AdmissionError::TooMany {
                count: MAX_ADMISSION_EVENTS + 1
            })
        );
    }

    #[test]
    fn states_are_snake_case_codes() {
        assert_eq!(
            serde_json::to_string(&AdmissionState::BeforeDoors).unwrap(),
            "\"before_doors\""
        );
        assert_eq!(AdmissionState::Full.to_string(), "full");
    }
}
