//! Blocking playlist reload (RFC 8216bis §6.2.5.2) as a decision: given a request's delivery
//! directives (`_HLS_msn`, `_HLS_part`) and what is published, answer now, hold the request
//! until a part is published, or refuse it.
//!
//! The decision is pure; the HTTP server holds requests. It calls [`decide`] when a request
//! arrives, keeps a [`Reload::Wait`] request (with the deadline it was given) until
//! [`Awaited::reached`] says the playlist it waits for exists, then answers it; a request
//! still waiting at its deadline is answered [`TIMEOUT_STATUS`]. Decisions are monotone in
//! what is published: once a request would be answered now, it always would be, so re-running
//! [`decide`] after each publication gives the same answers as [`Awaited::reached`].

use core::time::Duration;

use super::media::{Rendition, RenditionState};
use super::value::micros;
use crate::timeline::Position;

/// The status of a held request that is still waiting at its deadline: 503, which
/// §6.2.5.2 prescribes when the server cannot answer within three target durations, and which
/// a client treats as a reason to retry rather than as a broken stream.
pub const TIMEOUT_STATUS: u16 = 503;

/// The reason code of a held request answered [`TIMEOUT_STATUS`].
pub const TIMEOUT_CODE: &str = "hls_reload_timeout";

/// What a blocking reload waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// A complete media segment with this number (`_HLS_msn` alone).
    Segment(u64),
    /// This part, or any later one (`_HLS_msn` with `_HLS_part`).
    Part(Position),
}

impl Awaited {
    /// Whether the playlist now contains what is awaited.
    pub fn reached(self, state: &ReloadState) -> bool {
        match self {
            Awaited::Segment(msn) => state.last_segment.is_some_and(|last| last >= msn),
            Awaited::Part(at) => state.last >= at,
        }
    }
}

/// Why a request is answered now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Now {
    /// It has no delivery directive: an ordinary reload.
    NoDirective,
    /// What it asks for is already state.
    Published,
    /// The channel has ended: nothing more will be published, so nothing is worth waiting for.
    Ended,
}

/// Why a request is refused with 400 (§6.2.5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `_HLS_part` without `_HLS_msn`, which §6.2.5.2 does not allow.
    PartWithoutMsn,
    /// `_HLS_msn` is not a decimal-integer (§4.2).
    MsnNotANumber,
    /// `_HLS_part` is not a decimal-integer.
    PartNotANumber,
    /// `_HLS_msn` is more than two segments beyond the last complete one: the server SHOULD
    /// answer 400 rather than hold it.
    MsnTooFarAhead,
    /// `_HLS_part` is further beyond the last part than the Advance Part Limit (three part
    /// targets' worth of parts, at least three): the server SHOULD answer 400.
    PartTooFarAhead,
}

/// The decision for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// Answer with the current playlist.
    Now(Now),
    /// Hold the request until `awaited` is published, then answer with the playlist that has
    /// it; at `deadline_ms` (Unix milliseconds), answer [`TIMEOUT_STATUS`] instead.
    Wait {
        /// What it waits for.
        awaited: Awaited,
        /// When to stop waiting: three target durations after the request arrived.
        deadline_ms: u64,
    },
    /// Answer 400.
    Refuse(Refusal),
}

impl Reload {
    /// The status to answer with: 200 or 400; `None` while waiting.
    pub fn status(&self) -> Option<u16> {
        match self {
            Reload::Now(_) => Some(200),
            Reload::Wait { .. } => None,
            Reload::Refuse(_) => Some(400),
        }
    }

    /// A stable reason code for logs and the `x-usher-reason` header.
    pub fn code(&self) -> &'static str {
        match self {
            Reload::Now(Now::NoDirective) => "ok",
            Reload::Now(Now::Published) => "hls_reload_published",
            Reload::Now(Now::Ended) => "hls_reload_ended",
            Reload::Wait { .. } => "hls_reload_waiting",
            Reload::Refuse(Refusal::PartWithoutMsn) => "hls_part_without_msn",
            Reload::Refuse(Refusal::MsnNotANumber) => "hls_msn_not_a_number",
            Reload::Refuse(Refusal::PartNotANumber) => "hls_part_not_a_number",
            Reload::Refuse(Refusal::MsnTooFarAhead) => "hls_msn_too_far_ahead",
            Reload::Refuse(Refusal::PartTooFarAhead) => "hls_part_too_far_ahead",
        }
    }
}

/// What a reload decision needs to know about the published playlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadState {
    /// The last part state.
    pub last: Position,
    /// The last complete segment, if any.
    pub last_segment: Option<u64>,
    /// Whether the playlist has `EXT-X-ENDLIST`.
    pub ended: bool,
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration: u64,
    /// `PART-TARGET`.
    pub part_target: Duration,
    /// How many parts make a segment.
    pub parts_per_segment: u32,
}

impl Rendition {
    /// The reload state of what is published, `None` when nothing is.
    pub fn reload_state(&self, state: &RenditionState<'_>) -> Option<ReloadState> {
        Some(ReloadState {
            last: self.last_position(state)?,
            last_segment: state.segments.last().map(|s| s.msn),
            ended: state.ended,
            target_duration: self.target_duration(state),
            part_target: self.part_target,
            parts_per_segment: self.timeline.parts_per_segment(),
        })
    }
}

/// Decides what to do with a playlist request whose `_HLS_msn` and `_HLS_part` query values
/// (raw, as they came; `None` when absent) are `msn` and `part`, arriving at `now_ms` (Unix
/// milliseconds). `_HLS_skip` is not looked at: delta updates are not offered, so clients
/// do not send it.
pub fn decide(msn: Option<&str>, part: Option<&str>, state: &ReloadState, now_ms: u64) -> Reload {
    let msn = match (msn, part) {
        (None, None) => return Reload::Now(Now::NoDirective),
        (None, Some(_)) => return Reload::Refuse(Refusal::PartWithoutMsn),
        (Some(msn), _) => match decimal_integer(msn) {
            Some(msn) => msn,
            None => return Reload::Refuse(Refusal::MsnNotANumber),
        },
    };
    let part = match part.map(decimal_integer) {
        None => None,
        Some(Some(part)) => Some(part),
        Some(None) => return Reload::Refuse(Refusal::PartNotANumber),
    };
    if state.ended {
        return Reload::Now(Now::Ended);
    }
    let per_segment = u64::from(state.parts_per_segment.max(1));
    let awaited = match part {
        None => Awaited::Segment(msn),
        // Part N of segment M "or later": a part index past the segment's last is first
        // reached by the next segment's first part.
        Some(part) => match u32::try_from(part) {
            Ok(part) if u64::from(part) < per_segment => Awaited::Part(Position { msn, part }),
            _ => Awaited::Part(Position {
                msn: msn.saturating_add(1),
                part: 0,
            }),
        },
    };
    if awaited.reached(state) {
        return Reload::Now(Now::Published);
    }
    // "The last Media Segment in the current Playlist plus two": before the first segment is
    // complete, the segment before the open one stands for it.
    let last_segment = state
        .last_segment
        .map_or(i128::from(state.last.msn) - 1, i128::from);
    if i128::from(msn) > last_segment + 2 {
        return Reload::Refuse(Refusal::MsnTooFarAhead);
    }
    if let Awaited::Part(at) = awaited {
        let index = |p: Position| u128::from(p.msn) * u128::from(per_segment) + u128::from(p.part);
        let ahead = index(at).saturating_sub(index(state.last));
        if ahead > advance_part_limit(state.part_target) {
            return Reload::Refuse(Refusal::PartTooFarAhead);
        }
    }
    let hold_ms = state.target_duration.saturating_mul(3_000);
    Reload::Wait {
        awaited,
        deadline_ms: now_ms.saturating_add(hold_ms),
    }
}

/// The Advance Part Limit (§6.2.5.2): three divided by the part target in seconds when that is
/// under a second, else three; in whole parts, rounded down.
fn advance_part_limit(part_target: Duration) -> u128 {
    let us = micros(part_target).max(1);
    if us < 1_000_000 { 3_000_000 / us } else { 3 }
}

/// A decimal-integer (§4.2): one or more ASCII digits, at most 2^64 - 1; no sign, no spaces.
fn decimal_integer(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::playlist::{Naming, OpenSegment, Part, Segment, Window};
    use crate::timeline::Timeline;

    const NOW: u64 = 1_767_225_613_100;

    /// Two-second segments of four parts: the last part published is `last`.
    fn state(last: Position) -> ReloadState {
        ReloadState {
            last,
            last_segment: if last.part == 3 {
                Some(last.msn)
            } else {
                last.msn.checked_sub(1)
            },
            ended: false,
            target_duration: 2,
            part_target: Duration::from_millis(500),
            parts_per_segment: 4,
        }
    }

    fn at(msn: u64, part: u32) -> Position {
        Position { msn, part }
    }

    #[test]
    fn a_request_without_directives_is_answered_at_once() {
        let reload = decide(None, None, &state(at(100, 1)), NOW);
        assert_eq!(reload, Reload::Now(Now::NoDirective));
        assert_eq!((reload.status(), reload.code()), (Some(200), "ok"));
    }

    #[test]
    fn malformed_directives_are_refused_with_400() {
        let s = state(at(100, 1));
        assert_eq!(
            decide(None, Some("1"), &s, NOW),
            Reload::Refuse(Refusal::PartWithoutMsn)
        );
        for bad in [
            "",
            "abc",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "18446744073709551616",
        ] {
            assert_eq!(
                decide(Some(bad), None, &s, NOW),
                Reload::Refuse(Refusal::MsnNotANumber),
                "{bad:?}"
            );
            assert_eq!(
                decide(Some("100"), Some(bad), &s, NOW),
                Reload::Refuse(Refusal::PartNotANumber),
                "{bad:?}"
            );
        }
        let refused = decide(Some("x"), None, &s, NOW);
        assert_eq!(
            (refused.status(), refused.code()),
            (Some(400), "hls_msn_not_a_number")
        );
        // Leading zeros are still a decimal-integer.
        assert_eq!(
            decide(Some("0099"), None, &s, NOW),
            Reload::Now(Now::Published)
        );
    }

    #[test]
    fn what_is_published_is_answered_at_once() {
        let s = state(at(100, 1));
        // Segment 99 is complete; 100 is not.
        assert_eq!(
            decide(Some("99"), None, &s, NOW),
            Reload::Now(Now::Published)
        );
        assert_eq!(
            decide(Some("100"), Some("1"), &s, NOW),
            Reload::Now(Now::Published)
        );
        assert_eq!(
            decide(Some("100"), Some("0"), &s, NOW),
            Reload::Now(Now::Published)
        );
        assert_eq!(
            decide(Some("3"), Some("3"), &s, NOW),
            Reload::Now(Now::Published)
        );
    }

    #[test]
    fn the_next_part_or_segment_is_waited_for_until_three_target_durations() {
        let s = state(at(100, 1));
        let deadline_ms = NOW + 6000;
        assert_eq!(
            decide(Some("100"), Some("2"), &s, NOW),
            Reload::Wait {
                awaited: Awaited::Part(at(100, 2)),
                deadline_ms
            }
        );
        // _HLS_msn alone waits for the whole segment.
        let whole = decide(Some("100"), None, &s, NOW);
        assert_eq!(
            whole,
            Reload::Wait {
                awaited: Awaited::Segment(100),
                deadline_ms
            }
        );
        assert_eq!((whole.status(), whole.code()), (None, "hls_reload_waiting"));
        // A part index past the segment's last is reached by the next segment's first part.
        assert_eq!(
            decide(Some("100"), Some("4"), &s, NOW),
            Reload::Wait {
                awaited: Awaited::Part(at(101, 0)),
                deadline_ms
            }
        );
        let Reload::Wait { awaited, .. } = decide(Some("100"), Some("2"), &s, NOW) else {
            panic!("expected a wait");
        };
        assert!(!awaited.reached(&s));
        assert!(awaited.reached(&state(at(100, 2))));
        assert!(!Awaited::Segment(100).reached(&state(at(100, 2))));
        assert!(Awaited::Segment(100).reached(&state(at(100, 3))));
        assert_eq!((TIMEOUT_STATUS, TIMEOUT_CODE), (503, "hls_reload_timeout"));
    }

    #[test]
    fn requests_too_far_ahead_are_refused_rather_than_held() {
        let s = state(at(100, 1));
        // The last complete segment is 99: 101 is two beyond it, 102 three.
        assert!(matches!(
            decide(Some("101"), None, &s, NOW),
            Reload::Wait { .. }
        ));
        assert_eq!(
            decide(Some("102"), None, &s, NOW),
            Reload::Refuse(Refusal::MsnTooFarAhead)
        );
        // Parts of 0.5 s: the Advance Part Limit is 3 / 0.5 = 6 parts past (100, 1).
        assert!(matches!(
            decide(Some("101"), Some("3"), &s, NOW),
            Reload::Wait { .. }
        ));
        assert_eq!(
            decide(Some("102"), Some("0"), &s, NOW),
            Reload::Refuse(Refusal::MsnTooFarAhead)
        );
        let mut one_second = s;
        one_second.part_target = Duration::from_secs(1);
        one_second.parts_per_segment = 2;
        one_second.last = at(100, 0);
        // Parts of a second or more: three parts.
        assert!(matches!(
            decide(Some("101"), Some("1"), &one_second, NOW),
            Reload::Wait { .. }
        ));
        assert_eq!(
            decide(Some("101"), Some("2"), &one_second, NOW),
            Reload::Refuse(Refusal::PartTooFarAhead)
        );
        let mut small_parts = s;
        small_parts.part_target = Duration::from_millis(200);
        small_parts.parts_per_segment = 10;
        small_parts.last = at(100, 9);
        small_parts.last_segment = Some(100);
        // 3 / 0.2 = 15 parts.
        assert!(matches!(
            decide(Some("102"), Some("4"), &small_parts, NOW),
            Reload::Wait { .. }
        ));
        assert_eq!(
            decide(Some("102"), Some("5"), &small_parts, NOW),
            Reload::Refuse(Refusal::PartTooFarAhead)
        );
        assert_eq!(
            decide(Some("102"), Some("5"), &small_parts, NOW).code(),
            "hls_part_too_far_ahead"
        );
    }

    #[test]
    fn an_ended_channel_answers_at_once_whatever_is_asked() {
        let mut s = state(at(100, 3));
        s.ended = true;
        assert_eq!(
            decide(Some("101"), Some("0"), &s, NOW),
            Reload::Now(Now::Ended)
        );
        assert_eq!(decide(Some("5000"), None, &s, NOW), Reload::Now(Now::Ended));
        // A malformed request is still malformed.
        assert_eq!(
            decide(Some("x"), None, &s, NOW),
            Reload::Refuse(Refusal::MsnNotANumber)
        );
    }

    #[test]
    fn the_state_comes_from_what_the_rendition_published() {
        let timeline = Timeline::new(2000, 500).unwrap();
        let rendition = Rendition::new(timeline, Naming::default(), Window::Event);
        let part = Part {
            duration: Duration::from_millis(500),
            independent: true,
        };
        let segments = [Segment {
            msn: 100,
            duration: Duration::from_secs(2),
            independent: true,
            discontinuity: false,
            gap: false,
            parts: vec![part; 4],
        }];
        let open = OpenSegment {
            msn: 101,
            discontinuity: false,
            gap: false,
            parts: vec![part; 2],
        };
        let published = RenditionState {
            segments: &segments,
            open: Some(&open),
            discontinuity_sequence: 0,
            ended: false,
            reports: &[],
        };
        let s = rendition.reload_state(&published).unwrap();
        assert_eq!(
            s,
            ReloadState {
                last: at(101, 1),
                last_segment: Some(100),
                ended: false,
                target_duration: 2,
                part_target: Duration::from_millis(500),
                parts_per_segment: 4,
            }
        );
        let nothing = RenditionState {
            segments: &[],
            open: None,
            ..published
        };
        assert_eq!(rendition.reload_state(&nothing), None);
    }

    /// 0 for a refusal that more publishing can lift, 1 for a wait, 2 for an answer now.
    fn rank(reload: Reload) -> u8 {
        match reload {
            Reload::Refuse(_) => 0,
            Reload::Wait { .. } => 1,
            Reload::Now(_) => 2,
        }
    }

    proptest! {
        #[test]
        fn publishing_more_never_turns_an_answer_into_a_wait(
            base in 0u64..1_000_000,
            earlier in (0u64..6, 0u32..4),
            later_by in 0u64..24,
            ask in (0u64..10, prop::option::of(0u64..10)),
        ) {
            let first = at(base + earlier.0, earlier.1);
            // `later_by` parts on from `first`, on a grid of four parts.
            let index = (base + earlier.0) * 4 + u64::from(earlier.1) + later_by;
            let second = at(index / 4, u32::try_from(index % 4).unwrap());
            prop_assert!(second >= first);
            let msn = (base + ask.0).to_string();
            let part = ask.1.map(|p| p.to_string());
            let before = decide(Some(&msn), part.as_deref(), &state(first), NOW);
            let after = decide(Some(&msn), part.as_deref(), &state(second), NOW);
            prop_assert!(rank(before) <= rank(after), "{before:?} then {after:?}");
            // A wait is for something not yet published, and an answer for something that is.
            if let Reload::Wait { awaited, deadline_ms } = before {
                prop_assert!(!awaited.reached(&state(first)));
                prop_assert_eq!(deadline_ms, NOW + 6000);
                prop_assert_eq!(
                    awaited.reached(&state(second)),
                    after == Reload::Now(Now::Published)
                );
            }
        }
    }
}
