//! Epoch-locked numbering: where every segment and partial segment of a live channel starts,
//! derived from UTC time alone.
//!
//! The segment containing the instant `t` (Unix milliseconds) has media sequence number
//! `floor(t / D)` for a segment duration of `D` milliseconds, and starts at `n * D`. Partial
//! segments (LL-HLS, RFC 8216bis §4.4.4.9) divide each segment into `D / P` equal parts of `P`
//! milliseconds. Media timestamps (`tfdt`, ISO/IEC 14496-12 §8.8.12) are the same instants in
//! each track's timescale. Two transcoders fed the same source in two availability zones
//! therefore produce segments with the same numbers, boundaries and timestamps, and a player
//! (or a CDN) can take segment `n` from either.
//!
//! A transcoder that starts (or restarts) in the middle of segment `n` does not publish `n`: it
//! begins at the next boundary ([`Timeline::first_whole_segment`]), so a segment name is never
//! reused for different bytes and a CDN that cached the other zone's `n` still holds the right
//! one.

use core::fmt;

/// The shortest partial segment this origin makes. Apple's LL-HLS guidance puts part targets
/// at 0.2 to 1 s; much shorter parts cost a request each without lowering latency further.
pub const MIN_PART_MS: u64 = 100;

/// The longest segment this origin makes. RFC 8216 allows longer, but a live ladder with
/// longer segments has no low-latency use and a long GOP hurts every viewer's start time.
pub const MAX_SEGMENT_MS: u64 = 60_000;

/// Why a timeline cannot be made from the durations given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimelineError {
    /// The segment duration is zero or longer than [`MAX_SEGMENT_MS`].
    SegmentDuration(u64),
    /// The part duration is shorter than [`MIN_PART_MS`] or longer than the segment.
    PartDuration(u64),
    /// The part duration does not divide the segment duration, so parts would not line up
    /// with segment boundaries (RFC 8216bis §4.4.4.9 wants every part of a segment but the last
    /// to be of the part target duration; equal parts keep every zone's split identical).
    Uneven {
        /// The segment duration, milliseconds.
        segment_ms: u64,
        /// The part duration, milliseconds.
        part_ms: u64,
    },
}

impl fmt::Display for TimelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimelineError::SegmentDuration(ms) => write!(
                f,
                "segment duration {ms} ms is outside 1..={MAX_SEGMENT_MS} ms"
            ),
            TimelineError::PartDuration(ms) => write!(
                f,
                "part duration {ms} ms is shorter than {MIN_PART_MS} ms or longer than the segment"
            ),
            TimelineError::Uneven {
                segment_ms,
                part_ms,
            } => write!(
                f,
                "part duration {part_ms} ms does not divide the segment duration {segment_ms} ms"
            ),
        }
    }
}

impl std::error::Error for TimelineError {}

/// A position on the timeline: a segment and a part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The media sequence number of the segment (`EXT-X-MEDIA-SEQUENCE` numbering).
    pub msn: u64,
    /// The part within the segment, from 0.
    pub part: u32,
}

/// The segment and part durations of a channel, and everything that follows from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    segment_ms: u64,
    part_ms: u64,
}

impl Default for Timeline {
    /// 2 s segments of four 0.5 s parts: `usher origin`'s default, short enough for low
    /// latency, long enough for x264 to spend its bits well at a one-segment GOP.
    fn default() -> Self {
        Timeline {
            segment_ms: 2000,
            part_ms: 500,
        }
    }
}

impl Timeline {
    /// A timeline of segments of `segment_ms` milliseconds split into parts of `part_ms`.
    pub fn new(segment_ms: u64, part_ms: u64) -> Result<Self, TimelineError> {
        if segment_ms == 0 || segment_ms > MAX_SEGMENT_MS {
            return Err(TimelineError::SegmentDuration(segment_ms));
        }
        if part_ms < MIN_PART_MS || part_ms > segment_ms {
            return Err(TimelineError::PartDuration(part_ms));
        }
        if !segment_ms.is_multiple_of(part_ms) {
            return Err(TimelineError::Uneven {
                segment_ms,
                part_ms,
            });
        }
        Ok(Timeline {
            segment_ms,
            part_ms,
        })
    }

    /// The segment duration, milliseconds.
    pub fn segment_ms(&self) -> u64 {
        self.segment_ms
    }

    /// The part duration, milliseconds.
    pub fn part_ms(&self) -> u64 {
        self.part_ms
    }

    /// How many parts make a segment.
    pub fn parts_per_segment(&self) -> u32 {
        // At most MAX_SEGMENT_MS / MIN_PART_MS = 600: always fits.
        u32::try_from(self.segment_ms / self.part_ms).unwrap_or(u32::MAX)
    }

    /// The segment containing the instant `t_ms`: `floor(t / D)`.
    pub fn segment_at(&self, t_ms: u64) -> u64 {
        t_ms / self.segment_ms
    }

    /// The segment and part containing the instant `t_ms`.
    pub fn position_at(&self, t_ms: u64) -> Position {
        let msn = self.segment_at(t_ms);
        let into = t_ms - msn * self.segment_ms;
        Position {
            msn,
            part: u32::try_from(into / self.part_ms).unwrap_or(u32::MAX),
        }
    }

    /// When segment `msn` starts, Unix milliseconds (its `EXT-X-PROGRAM-DATE-TIME`).
    pub fn segment_start_ms(&self, msn: u64) -> u64 {
        msn.saturating_mul(self.segment_ms)
    }

    /// When a part starts, Unix milliseconds.
    pub fn part_start_ms(&self, at: Position) -> u64 {
        self.segment_start_ms(at.msn)
            .saturating_add(u64::from(at.part).saturating_mul(self.part_ms))
    }

    /// The part after `at` (the next segment's first part after a segment's last).
    pub fn next(&self, at: Position) -> Position {
        if at.part + 1 < self.parts_per_segment() {
            Position {
                msn: at.msn,
                part: at.part + 1,
            }
        } else {
            Position {
                msn: at.msn + 1,
                part: 0,
            }
        }
    }

    /// The first segment a transcoder starting at `t_ms` publishes whole: the one starting at
    /// `t_ms` if it is exactly on a boundary, else the next. A segment begun before the start
    /// (or before a restart) is never published, so its name is never reused.
    pub fn first_whole_segment(&self, t_ms: u64) -> u64 {
        t_ms.div_ceil(self.segment_ms)
    }

    /// `t_ms` as a media timestamp in a track of `timescale` ticks per second, counted from
    /// the Unix epoch (the `tfdt` base media decode time). Rounded down; exact whenever
    /// `t_ms * timescale` is a multiple of 1000, which holds for every segment and part
    /// boundary at the usual timescales (90 000 for video, 48 000 or 44 100 for audio).
    pub fn media_time(t_ms: u64, timescale: u32) -> u64 {
        let ticks = u128::from(t_ms) * u128::from(timescale) / 1000;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The first instant at or after `t_ms` that lies on the frame grid of a `num / den`
    /// frames-per-second source counted from the Unix epoch: where an encoder's zero must be
    /// for its frames, and so its forced keyframes, to fall exactly on segment boundaries.
    /// (At 25 fps every 40 ms; at 30 fps every 100 ms, three frames; at 30000/1001 every
    /// 1001 ms.) A rate of zero is treated as 1 fps.
    pub fn frame_aligned(t_ms: u64, num: u32, den: u32) -> u64 {
        let (num, den) = (u64::from(num.max(1)), u64::from(den.max(1)));
        let step = 1000 * den / gcd(1000 * den, num);
        t_ms.div_ceil(step).saturating_mul(step)
    }

    /// The instants, relative to `origin_ms`, at which an encoder started at `origin_ms` must
    /// put an IDR frame: every segment boundary from the first whole segment on, as an FFmpeg
    /// `-force_key_frames` expression in seconds of its own clock (`expr:` syntax). Aligning
    /// IDR frames with the epoch grid is what makes every rung's segments (and every zone's)
    /// start on the same instant.
    ///
    /// The comparison has a millisecond of slack (`- 0.001`): FFmpeg computes `t` as the
    /// frame's timestamp times a floating-point time base (1/30 is not exact), which for some
    /// frames on a boundary comes out a hair below it; without the slack that keyframe lands
    /// one frame late, next to the encoder's own GOP keyframe, and a one-frame fragment makes
    /// the part longer than the part target. A millisecond is far below any frame interval,
    /// so no frame before the boundary is ever taken.
    pub fn force_key_frames(&self, origin_ms: u64) -> String {
        let first = self.segment_start_ms(self.first_whole_segment(origin_ms));
        let offset = first - origin_ms;
        format!(
            "expr:gte(t,{}+n_forced*{}-0.001)",
            seconds(offset),
            seconds(self.segment_ms)
        )
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Milliseconds as decimal seconds, exactly (`2000` → `2`, `1500` → `1.5`, `33` → `0.033`).
fn seconds(ms: u64) -> String {
    let whole = ms / 1000;
    let frac = ms % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn two_second() -> Timeline {
        Timeline::new(2000, 500).unwrap()
    }

    #[test]
    fn the_segment_of_an_instant_is_its_time_divided_by_the_duration() {
        let line = two_second();
        // 2026-01-01T00:00:00Z is 1_767_225_600_000 ms: segment 883_612_800, part 0.
        assert_eq!(line.segment_at(1_767_225_600_000), 883_612_800);
        assert_eq!(
            line.position_at(1_767_225_601_999),
            Position {
                msn: 883_612_800,
                part: 3
            }
        );
        assert_eq!(line.segment_start_ms(883_612_800), 1_767_225_600_000);
    }

    #[test]
    fn durations_that_do_not_line_up_are_refused_with_the_reason() {
        assert_eq!(
            Timeline::new(0, 100),
            Err(TimelineError::SegmentDuration(0))
        );
        assert_eq!(
            Timeline::new(120_000, 1000),
            Err(TimelineError::SegmentDuration(120_000))
        );
        assert_eq!(
            Timeline::new(2000, 50),
            Err(TimelineError::PartDuration(50))
        );
        assert_eq!(
            Timeline::new(2000, 4000),
            Err(TimelineError::PartDuration(4000))
        );
        assert_eq!(
            Timeline::new(2000, 300),
            Err(TimelineError::Uneven {
                segment_ms: 2000,
                part_ms: 300
            })
        );
        assert!(
            Timeline::new(2000, 300)
                .unwrap_err()
                .to_string()
                .contains("does not divide")
        );
    }

    #[test]
    fn a_transcoder_starting_mid_segment_publishes_from_the_next_boundary() {
        let line = two_second();
        assert_eq!(line.first_whole_segment(4000), 2);
        assert_eq!(line.first_whole_segment(4001), 3);
        assert_eq!(line.first_whole_segment(5999), 3);
    }

    #[test]
    fn parts_run_through_a_segment_and_into_the_next() {
        let line = two_second();
        let last = Position { msn: 7, part: 3 };
        assert_eq!(line.next(last), Position { msn: 8, part: 0 });
        assert_eq!(
            line.next(Position { msn: 7, part: 1 }),
            Position { msn: 7, part: 2 }
        );
        assert_eq!(line.part_start_ms(Position { msn: 7, part: 3 }), 15_500);
    }

    #[test]
    fn media_time_is_exact_at_boundaries_for_the_usual_timescales() {
        assert_eq!(
            Timeline::media_time(1_767_225_600_000, 90_000),
            159_050_304_000_000
        );
        assert_eq!(Timeline::media_time(1500, 48_000), 72_000);
        assert_eq!(Timeline::media_time(500, 44_100), 22_050);
    }

    #[test]
    fn the_default_timeline_is_two_second_segments_of_four_parts_and_valid() {
        assert_eq!(Timeline::new(2000, 500), Ok(Timeline::default()));
    }

    #[test]
    fn keyframes_are_forced_on_the_epoch_grid_from_the_first_whole_segment() {
        let line = two_second();
        // Started 0.5 s into a segment: the first IDR comes 1.5 s in, then every 2 s.
        assert_eq!(
            line.force_key_frames(4500),
            "expr:gte(t,1.5+n_forced*2-0.001)"
        );
        assert_eq!(
            line.force_key_frames(4000),
            "expr:gte(t,0+n_forced*2-0.001)"
        );
        assert_eq!(
            Timeline::new(1000, 200).unwrap().force_key_frames(10_033),
            "expr:gte(t,0.967+n_forced*1-0.001)"
        );
    }

    #[test]
    fn an_encoders_zero_is_moved_onto_its_frame_grid() {
        assert_eq!(
            Timeline::frame_aligned(1_767_225_600_700, 25, 1),
            1_767_225_600_720
        );
        assert_eq!(
            Timeline::frame_aligned(1_767_225_600_720, 25, 1),
            1_767_225_600_720
        );
        assert_eq!(
            Timeline::frame_aligned(1_767_225_600_701, 30, 1),
            1_767_225_600_800
        );
        assert_eq!(Timeline::frame_aligned(1001, 30_000, 1001), 1001);
        assert_eq!(Timeline::frame_aligned(1002, 30_000, 1001), 2002);
    }

    proptest! {
        #[test]
        fn two_zones_agree_on_every_instant_whatever_their_clocks_started(
            t in 0u64..4_000_000_000_000,
            segment in prop::sample::select(vec![1000u64, 2000, 4000, 6000]),
            part_div in prop::sample::select(vec![1u64, 2, 4, 5, 10]),
        ) {
            prop_assume!(segment / part_div >= MIN_PART_MS);
            let a = Timeline::new(segment, segment / part_div).unwrap();
            let b = Timeline::new(segment, segment / part_div).unwrap();
            let at = a.position_at(t);
            prop_assert_eq!(at, b.position_at(t));
            // The instant lies inside its part, and the part inside its segment.
            let start = a.part_start_ms(at);
            prop_assert!(start <= t && t < start + a.part_ms());
            prop_assert!(a.segment_start_ms(at.msn) <= start);
            prop_assert!(u64::from(at.part) < segment / (segment / part_div));
        }

        #[test]
        fn the_first_whole_segment_never_starts_before_the_transcoder(
            t in 0u64..4_000_000_000_000,
        ) {
            let line = two_second();
            let first = line.first_whole_segment(t);
            prop_assert!(line.segment_start_ms(first) >= t);
            prop_assert!(line.segment_start_ms(first) < t + line.segment_ms());
        }
    }
}
