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
