//! The media playlist of one rendition (a video rung or the audio), with Low-Latency HLS:
//! draft-pantos-hls-rfc8216bis-16 (RFC 8216bis below).
//!
//! [`Rendition::media_playlist`] writes what [`RenditionState`] says has been published, through
//! the rendition's [`Window`]; everything it writes is derived from its arguments, so two
//! origins that have published the same segments write the same bytes.

use core::fmt::{self, Write as _};
use core::time::Duration;

use super::naming::Naming;
use super::value::{Seconds, date_time, micros, quotable, round_seconds};
use crate::timeline::{Position, Timeline};

/// The protocol version the media playlists declare (RFC 8216bis §4.4.1.2, §8). `EXT-X-MAP`
/// in a playlist that is not I-frames-only needs 6, and decimal `EXTINF` durations need 3.
/// The Low-Latency tags written here (`EXT-X-PART`, `EXT-X-PART-INF`, `EXT-X-SERVER-CONTROL`,
/// `EXT-X-PRELOAD-HINT`, `EXT-X-RENDITION-REPORT`) carry no version requirement of their own;
/// only delta updates (`EXT-X-SKIP`, 9) would raise it, and they are not offered. So 6, the
/// lowest version that allows every tag written, which any LL-HLS client supports.
pub const MEDIA_VERSION: u32 = 6;

/// How much of the published media a playlist lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The newest `segments` complete segments, and more when fewer would last less than
    /// three target durations: RFC 8216bis §6.2.2 forbids removing a segment if the playlist
    /// would then last less than that. A live window is a few segments; a DVR window is the
    /// same thing, longer. No `EXT-X-PLAYLIST-TYPE` is written, since segments are removed.
    Sliding {
        /// How many complete segments to keep, at least 1.
        segments: usize,
    },
    /// Every segment given, and `EXT-X-PLAYLIST-TYPE:EVENT` (§4.4.3.5): a DVR window that
    /// keeps the whole event, so segments are only ever added.
    Event,
}

/// A partial segment (§4.4.4.9): one part of a media segment, published before the segment
/// is complete. Its index in its segment's list is its part index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its exact duration.
    pub duration: Duration,
    /// Whether it starts with an IDR frame (or is audio), so a client can start decoding at it:
    /// `INDEPENDENT=YES`.
    pub independent: bool,
}

impl Part {
    /// A part of `ticks` in a track of `timescale` ticks per second, as the packager measures
    /// it ([`crate::package::Part::duration`]).
    pub fn from_ticks(ticks: u64, timescale: u32, independent: bool) -> Self {
        Part {
            duration: duration_from_ticks(ticks, timescale),
            independent,
        }
    }
}

/// `ticks` of a track of `timescale` ticks per second, to the nearest nanosecond (a timescale
/// of zero is taken as one).
pub fn duration_from_ticks(ticks: u64, timescale: u32) -> Duration {
    let timescale = u128::from(timescale.max(1));
    let nanos = (u128::from(ticks) * 1_000_000_000 + timescale / 2) / timescale;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A complete media segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its media sequence number.
    pub msn: u64,
    /// Its exact duration (`EXTINF`).
    pub duration: Duration,
    /// Whether it starts with an IDR frame, so it decodes without its predecessor. When every
    /// listed segment does, the playlist says `EXT-X-INDEPENDENT-SEGMENTS` (§4.4.2.1).
    pub independent: bool,
    /// Whether its timestamps or encoding do not continue the previous segment's, as when the
    /// origin switches to slate or to a backup input: `EXT-X-DISCONTINUITY` (§4.4.4.3).
    pub discontinuity: bool,
    /// Whether it is missing, as when neither input nor slate produced it in time: `EXT-X-GAP`
    /// (§4.4.4.7) on the segment and `GAP=YES` on its parts, so that clients skip it.
    pub gap: bool,
    /// Its parts, when the publisher still has them. Only those of the segments near the end
    /// of the playlist are listed.
    pub parts: Vec<Part>,
}

/// The segment being published: the parts of it published so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSegment {
    /// Its media sequence number: one after the last complete segment.
    pub msn: u64,
    /// As [`Segment::discontinuity`].
    pub discontinuity: bool,
    /// As [`Segment::gap`].
    pub gap: bool,
    /// Its parts so far, fewer than the timeline's parts per segment (with all of them, it is
    /// complete).
    pub parts: Vec<Part>,
}

/// Where another rendition of the channel has got to: an `EXT-X-RENDITION-REPORT`
/// (§4.4.5.4), which lets a client switching renditions ask for the right part at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenditionReport {
    /// Its media playlist, relative to this one (see [`Naming::from_sibling`]).
    pub uri: String,
    /// Its last published part (`LAST-MSN`, `LAST-PART`).
    pub last: Position,
}

/// What a rendition has published: the input of [`Rendition::media_playlist`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenditionState<'a> {
    /// Complete segments, in media sequence order with no number missing. Those before the
    /// window are dropped.
    pub segments: &'a [Segment],
    /// The segment in progress, if any.
    pub open: Option<&'a OpenSegment>,
    /// The discontinuity sequence number of the first of `segments` (§4.4.3.3): how many
    /// `EXT-X-DISCONTINUITY` tags came before it, its own not counted. Discontinuities of the
    /// segments the window drops are added to it.
    pub discontinuity_sequence: u64,
    /// Whether the channel has ended: `EXT-X-ENDLIST` (§4.4.3.4), after which nothing is
    /// added, so nothing is announced ahead (no parts, preload hint or reports) and no request
    /// is held.
    pub ended: bool,
    /// The other renditions to report.
    pub reports: &'a [RenditionReport],
}

/// Why a media playlist cannot be written: the description of what is published, or of the
/// rendition, contradicts itself. Each is a bug in the caller, reported rather than written as
/// a playlist a client would reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaError {
    /// Nothing is published yet: no segment and no part.
    NothingPublished,
    /// A segment's number does not follow the previous one's (or the open segment's the last
    /// complete one's).
    NotConsecutive {
        /// The number expected.
        expected: u64,
        /// The number found.
        found: u64,
    },
    /// A part lasts longer than the part target, which §4.4.4.9 forbids.
    PartTooLong(Position),
    /// A segment has more parts than the timeline makes per segment, or the open segment has
    /// all of them and so should be complete.
    TooManyParts(u64),
    /// The channel has ended with parts of an unfinished segment: it must be completed (or
    /// dropped) first.
    OpenAtEnd,
    /// The part target is zero.
    PartTarget,
    /// `PART-HOLD-BACK` is less than three part targets (§4.4.3.8 makes twice a MUST and
    /// three times a SHOULD; this origin holds to three).
    PartHoldBack,
    /// A sliding window of no segments.
    EmptyWindow,
    /// A segment starts after the year 9999, which `EXT-X-PROGRAM-DATE-TIME` cannot write.
    DateOutOfRange(u64),
    /// A rendition report's URI is empty or cannot be quoted.
    ReportUri,
    /// The key schedule's key id cannot be written in a URI, or its period is zero segments.
    KeySchedule,
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::NothingPublished => write!(f, "nothing is published yet"),
            MediaError::NotConsecutive { expected, found } => {
                write!(f, "segment {found} where segment {expected} should be")
            }
            MediaError::PartTooLong(at) => write!(
                f,
                "part {} of segment {} is longer than the part target",
                at.part, at.msn
            ),
            MediaError::TooManyParts(msn) => write!(
                f,
                "segment {msn} has more parts than a segment of the timeline"
            ),
            MediaError::OpenAtEnd => write!(
                f,
                "the channel ended with an unfinished segment; complete it first"
            ),
            MediaError::PartTarget => write!(f, "the part target is zero"),
            MediaError::PartHoldBack => {
                write!(f, "PART-HOLD-BACK must be at least three part targets")
            }
            MediaError::EmptyWindow => write!(f, "a sliding window must keep a segment"),
            MediaError::DateOutOfRange(msn) => {
                write!(f, "segment {msn} starts after the year 9999")
            }
            MediaError::ReportUri => write!(f, "a rendition report's URI is empty or unquotable"),
            MediaError::KeySchedule => write!(
                f,
                "the key id must be 1 to 64 of A-Z a-z 0-9 - _ . and the key period at least one segment"
            ),
        }
    }
}

impl std::error::Error for MediaError {}

/// How a rendition's segments are encrypted, as its playlist states it: `METHOD=AES-128`
/// (RFC 8216bis §4.4.4.4, §5.2), under a key that changes every `period_segments` segments of
/// the epoch grid. The key URI is `../keys/{kid}/{period}.key`, relative to the rendition's
/// directory: the channel's `keys/` directory, which the edge answers itself (the origin serves
/// no keys; `usher_shared::content_key` derives them). No `IV` attribute is written, so each
/// segment's IV is its media sequence number (§5.2): unique per segment under a key, and the
/// same in every zone. Initialisation sections stay in the clear: every `EXT-X-MAP` comes
/// before the first `EXT-X-KEY` or right after a `METHOD=NONE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchedule {
    /// The master secret's key id.
    pub kid: String,
    /// Segments per key period, at least 1.
    pub period_segments: u64,
}

impl KeySchedule {
    /// The key period segment `msn` falls in.
    pub fn period(&self, msn: u64) -> u64 {
        msn / self.period_segments.max(1)
    }

    /// The key URI for segment `msn`, relative to the rendition's directory.
    pub fn uri(&self, msn: u64) -> String {
        format!(
            "../{}",
            usher_shared::content_key::key_path(&self.kid, self.period(msn))
        )
    }
}

/// What the tags written so far have put in force, as the segments' heads are written.
#[derive(Default)]
struct Head {
    /// Whether `EXT-X-MAP` has been written.
    map_written: bool,
    /// The key period whose `EXT-X-KEY` is in force, if any.
    key_period: Option<u64>,
}

/// One rendition's settings: what stays the same from one playlist to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    /// The channel's timeline.
    pub timeline: Timeline,
    /// How its files are named.
    pub naming: Naming,
    /// How much of it the playlist lists.
    pub window: Window,
    /// `PART-TARGET` (§4.4.3.7): no part may last longer. [`Rendition::new`] sets the
    /// timeline's part duration, which video parts cut on the epoch grid meet exactly. Audio
    /// parts cut on AAC frame boundaries (1024 samples) can run up to one frame past the grid,
    /// so an audio rendition raises it by a frame.
    pub part_target: Duration,
    /// `PART-HOLD-BACK` (§4.4.3.8): how far from the live end a client starts. [`Rendition::new`]
    /// sets three part targets; it should be three times the largest part target of the
    /// channel's renditions, so raise it with any rendition's part target.
    pub part_hold_back: Duration,
    /// How segments are encrypted; `None` for the clear.
    pub keys: Option<KeySchedule>,
}

impl Rendition {
    /// A rendition with the timeline's part duration as its part target and three of them as
    /// its part hold-back.
    pub fn new(timeline: Timeline, naming: Naming, window: Window) -> Self {
        let part_target = Duration::from_millis(timeline.part_ms());
        Rendition {
            timeline,
            naming,
            window,
            part_target,
            part_hold_back: part_target * 3,
            keys: None,
        }
    }

    /// `EXT-X-TARGETDURATION` in seconds (§4.4.3.1): the timeline's segment duration rounded
    /// up, so that it never changes while segments keep to the grid (§6.2.1 forbids changing
    /// it), and more if a segment's `EXTINF`, rounded to the nearest second as the RFC rounds
    /// it, is longer.
    pub fn target_duration(&self, state: &RenditionState<'_>) -> u64 {
        let nominal = self.timeline.segment_ms().div_ceil(1000);
        let longest = state
            .segments
            .iter()
            .map(|s| round_seconds(micros(s.duration)))
            .max()
            .unwrap_or(0);
        u64::try_from(longest).map_or(u64::MAX, |l| l.max(nominal))
    }

    /// The last part published: of the open segment if it has one, else the last part of the
    /// last complete segment (its parts' count, or the timeline's when its parts are not
    /// given). `None` when nothing is state.
    pub fn last_position(&self, state: &RenditionState<'_>) -> Option<Position> {
        if let Some(open) = state.open
            && let Some(last) = open.parts.len().checked_sub(1)
        {
            return Some(Position {
                msn: open.msn,
                part: u32::try_from(last).unwrap_or(u32::MAX),
            });
        }
        state.segments.last().map(|s| Position {
            msn: s.msn,
            part: s
                .parts
                .len()
                .checked_sub(1)
                .map_or(self.timeline.parts_per_segment().saturating_sub(1), |p| {
                    u32::try_from(p).unwrap_or(u32::MAX)
                }),
        })
    }

    /// The media playlist for what is published, byte for byte.
    pub fn media_playlist(&self, state: &RenditionState<'_>) -> Result<String, MediaError> {
        self.check(state)?;
        let target = self.target_duration(state);
        let target_us = u128::from(target) * 1_000_000;
        let open_parts: &[Part] = match state.open {
            Some(open) if !state.ended => &open.parts,
            _ => &[],
        };
        let open_us: u128 = open_parts.iter().map(|p| micros(p.duration)).sum();

        // The window: drop the oldest segments while more than the window's count remain and
        // what remains would still last three target durations (§6.2.2).
        let mut first = 0;
        if let Window::Sliding { segments: keep } = self.window {
            let mut total: u128 = open_us
                + state
                    .segments
                    .iter()
                    .map(|s| micros(s.duration))
                    .sum::<u128>();
            while let Some(oldest) = state.segments.get(first)
                && state.segments.len() - first > keep
                && total - micros(oldest.duration) >= 3 * target_us
            {
                total -= micros(oldest.duration);
                first += 1;
            }
        }
        let (dropped, listed) = state.segments.split_at(first);
        // Removing an EXT-X-DISCONTINUITY tag increments the sequence (§6.2.2).
        let discontinuity_sequence = state
            .discontinuity_sequence
            .saturating_add(dropped.iter().filter(|s| s.discontinuity).count() as u64);
        let media_sequence = match (listed.first(), state.open) {
            (Some(segment), _) => segment.msn,
            (None, Some(open)) => open.msn,
            (None, None) => return Err(MediaError::NothingPublished),
        };
        let live = !state.ended;

        let mut out = Lines(String::with_capacity(256 + 160 * listed.len()));
        out.line(format_args!("#EXTM3U"));
        out.line(format_args!("#EXT-X-VERSION:{MEDIA_VERSION}"));
        out.line(format_args!("#EXT-X-TARGETDURATION:{target}"));
        if live {
            // §4.4.3.8, §6.2.5.2: blocking reloads are offered; delta updates (CAN-SKIP-UNTIL)
            // are not. HOLD-BACK is left to its default of three target durations.
            out.line(format_args!(
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}",
                Seconds(micros(self.part_hold_back))
            ));
            // §4.4.3.7: required in a playlist with EXT-X-PART tags.
            out.line(format_args!(
                "#EXT-X-PART-INF:PART-TARGET={}",
                Seconds(micros(self.part_target))
            ));
        }
        out.line(format_args!("#EXT-X-MEDIA-SEQUENCE:{media_sequence}"));
        if discontinuity_sequence > 0 {
            // §4.4.3.3: absent means 0, so it is written only when it is not.
            out.line(format_args!(
                "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
            ));
        }
        if self.window == Window::Event {
            out.line(format_args!("#EXT-X-PLAYLIST-TYPE:EVENT"));
        }
        let open_independent = open_parts.first().is_none_or(|p| p.independent);
        if listed.iter().all(|s| s.independent) && open_independent {
            out.line(format_args!("#EXT-X-INDEPENDENT-SEGMENTS"));
        }

        // Parts are listed for the segments that end less than three target durations before
        // the end of the playlist (§4.4.4.9: parts further back SHOULD be removed; a client
        // starting PART-HOLD-BACK from the end finds every part it needs). A segment's parts
        // are listed all or none.
        let mut since_end: u128 = open_us;
        let mut with_parts = vec![false; listed.len()];
        for (flag, segment) in with_parts.iter_mut().zip(listed).rev() {
            *flag = live && since_end < 3 * target_us;
            since_end += micros(segment.duration);
        }

        let mut head = Head::default();
        for (segment, with_parts) in listed.iter().zip(with_parts) {
            self.segment_head(&mut out, segment.msn, segment.discontinuity, &mut head)?;
            if with_parts {
                self.parts(&mut out, segment.msn, &segment.parts, segment.gap);
            }
            if segment.gap {
                out.line(format_args!("#EXT-X-GAP"));
            }
            out.line(format_args!(
                "#EXTINF:{},",
                Seconds(micros(segment.duration))
            ));
            out.line(format_args!("{}", self.naming.segment(segment.msn)));
        }
        if let Some(open) = state.open
            && !open_parts.is_empty()
        {
            self.segment_head(&mut out, open.msn, open.discontinuity, &mut head)?;
            self.parts(&mut out, open.msn, open_parts, open.gap);
        }

        if live {
            // §4.4.5.3: the part that will be published next, so a client can ask for it now
            // and receive it as soon as it exists.
            let next = match (state.open, listed.last()) {
                (Some(open), _) => Position {
                    msn: open.msn,
                    part: u32::try_from(open.parts.len()).unwrap_or(u32::MAX),
                },
                (None, Some(last)) => Position {
                    msn: last.msn.saturating_add(1),
                    part: 0,
                },
                (None, None) => return Err(MediaError::NothingPublished),
            };
            // A hinted part that opens a segment of a new key period is fetched (and decrypted)
            // before any playlist lists its segment: state its key first, since a client applies
            // the keys in force at the end of the playlist to the hinted segment.
            if next.part == 0 {
                self.key(&mut out, next.msn, &mut head);
            }
            out.line(format_args!(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                self.naming.part(next)
            ));
            for report in state.reports {
                out.line(format_args!(
                    "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={},LAST-PART={}",
                    report.uri, report.last.msn, report.last.part
                ));
            }
        } else {
            out.line(format_args!("#EXT-X-ENDLIST"));
        }
        Ok(out.0)
    }

    /// The tags that open a segment: a discontinuity, the init segment (first, and again after
    /// every discontinuity, so that a client that resets its decoder there finds it without
    /// looking back; §4.4.4.5), and its program date-time (§4.4.4.6), on every segment, from
    /// the epoch-locked timeline, so that every zone writes the same one.
    fn segment_head(
        &self,
        out: &mut Lines,
        msn: u64,
        discontinuity: bool,
        head: &mut Head,
    ) -> Result<(), MediaError> {
        if discontinuity {
            out.line(format_args!("#EXT-X-DISCONTINUITY"));
        }
        if discontinuity || !head.map_written {
            // §4.4.4.4: a key applies to the EXT-X-MAP tags after it too; the init section is
            // in the clear, so no key may be in force where it is declared.
            if head.key_period.take().is_some() {
                out.line(format_args!("#EXT-X-KEY:METHOD=NONE"));
            }
            out.line(format_args!("#EXT-X-MAP:URI=\"{}\"", self.naming.init()));
            head.map_written = true;
        }
        self.key(out, msn, head);
        let start = date_time(self.timeline.segment_start_ms(msn))
            .ok_or(MediaError::DateOutOfRange(msn))?;
        out.line(format_args!("#EXT-X-PROGRAM-DATE-TIME:{start}"));
        Ok(())
    }

    /// The `EXT-X-KEY` tag for segment `msn`, when its key is not the one in force.
    fn key(&self, out: &mut Lines, msn: u64, head: &mut Head) {
        let Some(keys) = &self.keys else { return };
        let period = keys.period(msn);
        if head.key_period != Some(period) {
            out.line(format_args!(
                "#EXT-X-KEY:METHOD=AES-128,URI=\"{}\"",
                keys.uri(msn)
            ));
            head.key_period = Some(period);
        }
    }

    /// A segment's `EXT-X-PART` tags (§4.4.4.9).
    fn parts(&self, out: &mut Lines, msn: u64, parts: &[Part], gap: bool) {
        for (index, part) in (0u32..).zip(parts) {
            out.line(format_args!(
                "#EXT-X-PART:DURATION={},URI=\"{}\"{}{}",
                Seconds(micros(part.duration)),
                self.naming.part(Position { msn, part: index }),
                if part.independent {
                    ",INDEPENDENT=YES"
                } else {
                    ""
                },
                if gap { ",GAP=YES" } else { "" },
            ));
        }
    }

    /// Checks the settings and what is published against each other.
    fn check(&self, state: &RenditionState<'_>) -> Result<(), MediaError> {
        if let Some(keys) = &self.keys
            && (keys.period_segments == 0 || !usher_shared::content_key::is_key_id(&keys.kid))
        {
            return Err(MediaError::KeySchedule);
        }
        let part_target = micros(self.part_target);
        if part_target == 0 {
            return Err(MediaError::PartTarget);
        }
        if micros(self.part_hold_back) < 3 * part_target {
            return Err(MediaError::PartHoldBack);
        }
        if self.window == (Window::Sliding { segments: 0 }) {
            return Err(MediaError::EmptyWindow);
        }
        let per_segment = usize::try_from(self.timeline.parts_per_segment()).unwrap_or(usize::MAX);
        let parts_fit = |msn: u64, parts: &[Part]| {
            for (index, part) in (0u32..).zip(parts) {
                if micros(part.duration) > part_target {
                    return Err(MediaError::PartTooLong(Position { msn, part: index }));
                }
            }
            Ok(())
        };
        let mut expected = None;
        for segment in state.segments {
            if let Some(expected) = expected
                && segment.msn != expected
            {
                return Err(MediaError::NotConsecutive {
                    expected,
                    found: segment.msn,
                });
            }
            if segment.parts.len() > per_segment {
                return Err(MediaError::TooManyParts(segment.msn));
            }
            parts_fit(segment.msn, &segment.parts)?;
            expected = segment.msn.checked_add(1);
        }
        if let Some(open) = state.open {
            if let Some(expected) = expected
                && open.msn != expected
            {
                return Err(MediaError::NotConsecutive {
                    expected,
                    found: open.msn,
                });
            }
            if open.parts.len() >= per_segment {
                return Err(MediaError::TooManyParts(open.msn));
            }
            if state.ended && !open.parts.is_empty() {
                return Err(MediaError::OpenAtEnd);
            }
            parts_fit(open.msn, &open.parts)?;
        }
        if state
            .reports
            .iter()
            .any(|r| r.uri.is_empty() || !quotable(&r.uri))
        {
            return Err(MediaError::ReportUri);
        }
        if self.last_position(state).is_none() {
            return Err(MediaError::NothingPublished);
        }
        Ok(())
    }
}

/// A playlist being written, line by line, each ending with a line feed.
struct Lines(String);

impl Lines {
    fn line(&mut self, args: fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.0.write_fmt(args);
        self.0.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use crate::playlist::golden;
    use proptest::prelude::*;
    use usher_shared::playlist::{Playlist, PlaylistKind};

    use super::*;

    /// 2026-01-01T00:00:00Z on a 2 s timeline.
    const MSN: u64 = 883_612_800;

    fn timeline() -> Timeline {
        Timeline::new(2000, 500).unwrap()
    }

    fn rendition(window: Window) -> Rendition {
        Rendition::new(timeline(), Naming::default(), window)
    }

    fn part(ms: u64, independent: bool) -> Part {
        Part {
            duration: Duration::from_millis(ms),
            independent,
        }
    }

    /// Four parts of 0.5 s, the first starting on an IDR frame.
    fn parts(count: usize) -> Vec<Part> {
        (0..count).map(|i| part(500, i == 0)).collect()
    }

    /// A whole 2 s segment on the grid, with its parts.
    fn segment(msn: u64) -> Segment {
        Segment {
            msn,
            duration: Duration::from_secs(2),
            independent: true,
            discontinuity: false,
            gap: false,
            parts: parts(4),
        }
    }

    fn open(msn: u64, count: usize) -> OpenSegment {
        OpenSegment {
            msn,
            discontinuity: false,
            gap: false,
            parts: parts(count),
        }
    }

    /// A live state of `segments` and `open`, with no discontinuity before them and no
    /// rendition reports.
    fn live<'a>(segments: &'a [Segment], open: Option<&'a OpenSegment>) -> RenditionState<'a> {
        RenditionState {
            segments,
            open,
            discontinuity_sequence: 0,
            ended: false,
            reports: &[],
        }
    }

    fn reports() -> Vec<RenditionReport> {
        vec![
            RenditionReport {
                uri: Naming::default().from_sibling("1080p"),
                last: Position {
                    msn: MSN + 6,
                    part: 1,
                },
            },
            RenditionReport {
                uri: Naming::default().from_sibling("audio"),
                last: Position {
                    msn: MSN + 6,
                    part: 2,
                },
            },
        ]
    }

    /// Reads a written playlist back with the project's parser and with m3u8-rs, checks what
    /// both must agree on, and returns the text.
    fn read_back(text: &str, rendition: &Rendition) -> String {
        let playlist = Playlist::parse(text.as_bytes()).expect("the shared parser reads it");
        assert_eq!(playlist.kind(), PlaylistKind::Media);
        assert_eq!(playlist.to_bytes(), text.as_bytes());
        let typed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(media)) => media,
            other => panic!("m3u8-rs reads no media playlist: {other:?}"),
        };
        assert_eq!(playlist.media_sequence(), Some(typed.media_sequence));
        assert_eq!(playlist.target_duration(), Some(typed.target_duration));
        assert_eq!(playlist.has_endlist(), typed.end_list);
        assert_eq!(playlist.segment_count(), typed.segments.len());
        for (i, segment) in (0u64..).zip(&typed.segments) {
            let msn = typed.media_sequence + i;
            assert_eq!(segment.uri, rendition.naming.segment(msn));
            // Every segment carries its start on the epoch grid, which chrono reads back.
            let date = segment.program_date_time.expect("every segment has a date");
            assert_eq!(
                u64::try_from(date.timestamp_millis()).unwrap(),
                rendition.timeline.segment_start_ms(msn)
            );
        }
        text.to_owned()
    }

    fn write(rendition: &Rendition, state: &RenditionState<'_>) -> String {
        let text = rendition.media_playlist(state).unwrap();
        read_back(&text, rendition)
    }

    #[test]
    fn a_live_playlist_mid_segment_lists_recent_parts_hints_the_next_and_reports_the_others() {
        let segments: Vec<_> = (MSN..MSN + 6).map(segment).collect();
        let open = open(MSN + 6, 2);
        let reports = reports();
        let state = RenditionState {
            segments: &segments,
            open: Some(&open),
            discontinuity_sequence: 0,
            ended: false,
            reports: &reports,
        };
        let rendition = rendition(Window::Sliding { segments: 5 });
        // The window keeps five segments; parts are listed for the three that end less than
        // three target durations (6 s) before the end, and for the open one.
        golden::check(
            "a_live_playlist_mid_segment_lists_recent_parts_hints_the_next_and_reports_the_others",
            &write(&rendition, &state),
        );
        assert_eq!(
            rendition.last_position(&state),
            Some(Position {
                msn: MSN + 6,
                part: 1
            })
        );
    }

    #[test]
    fn at_a_segment_boundary_the_hint_is_the_next_segments_first_part() {
        let segments: Vec<_> = (MSN..MSN + 6).map(segment).collect();
        let state = live(&segments, None);
        let rendition = rendition(Window::Sliding { segments: 5 });
        // Three segments end less than 6 s before the end (0, 2 and 4 s): their parts are
        // listed; the one ending 6 s before is not.
        golden::check(
            "at_a_segment_boundary_the_hint_is_the_next_segments_first_part",
            &write(&rendition, &state),
        );
        // An open segment with no part yet says the same.
        let empty = open(MSN + 6, 0);
        let with_empty = RenditionState {
            open: Some(&empty),
            ..state
        };
        golden::check(
            "at_a_segment_boundary_the_hint_is_the_next_segments_first_part",
            &write(&rendition, &with_empty),
        );
        assert_eq!(
            rendition.last_position(&state),
            Some(Position {
                msn: MSN + 5,
                part: 3
            })
        );
    }

    #[test]
    fn an_ended_channel_closes_its_playlist_and_announces_nothing_ahead() {
        let segments: Vec<_> = (MSN..MSN + 3).map(segment).collect();
        let reports = reports();
        let state = RenditionState {
            segments: &segments,
            open: None,
            discontinuity_sequence: 0,
            ended: true,
            reports: &reports,
        };
        golden::check(
            "an_ended_channel_closes_its_playlist_and_announces_nothing_ahead",
            &write(&rendition(Window::Sliding { segments: 5 }), &state),
        );
    }

    #[test]
    fn a_dvr_window_keeping_everything_is_an_event_playlist() {
        let segments: Vec<_> = (MSN..MSN + 4).map(segment).collect();
        let open = open(MSN + 4, 1);
        let state = live(&segments, Some(&open));
        golden::check(
            "a_dvr_window_keeping_everything_is_an_event_playlist",
            &write(&rendition(Window::Event), &state),
        );
    }

    fn encrypted(window: Window) -> Rendition {
        Rendition {
            keys: Some(KeySchedule {
                kid: "final-k1".to_owned(),
                period_segments: 3,
            }),
            ..rendition(window)
        }
    }

    /// The `EXT-X-KEY` and `EXT-X-MAP` lines of `text`, in order.
    fn key_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("#EXT-X-KEY") || l.starts_with("#EXT-X-MAP"))
            .collect()
    }

    #[test]
    fn an_encrypted_rendition_states_each_key_period_once_and_keeps_the_init_section_clear() {
        // MSN is a multiple of 3: periods change before MSN+3 and MSN+6. Segment MSN+4 follows
        // a discontinuity, so the init section is declared again, with no key in force.
        let mut segments: Vec<_> = (MSN..MSN + 6).map(segment).collect();
        segments[4].discontinuity = true;
        let open = open(MSN + 6, 2);
        let state = live(&segments, Some(&open));
        let rendition = encrypted(Window::Sliding { segments: 5 });
        let text = write(&rendition, &state);
        golden::check(
            "an_encrypted_rendition_states_each_key_period_once_and_keeps_the_init_section_clear",
            &text,
        );
        let p = MSN / 3;
        let key = |period: u64| {
            format!("#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/final-k1/{period}.key\"")
        };
        assert_eq!(
            key_lines(&text),
            [
                "#EXT-X-MAP:URI=\"init.mp4\"",
                &key(p),
                &key(p + 1),
                "#EXT-X-KEY:METHOD=NONE",
                "#EXT-X-MAP:URI=\"init.mp4\"",
                &key(p + 1),
                &key(p + 2),
            ]
        );
        // m3u8-rs sees the same keys on the segments that open each period.
        let typed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(media)) => media,
            other => panic!("{other:?}"),
        };
        let first = typed.segments[0]
            .key
            .as_ref()
            .expect("a key on the first segment");
        assert_eq!(first.method, m3u8_rs::KeyMethod::AES128);
        assert_eq!(first.iv, None, "the IV is the media sequence number");
    }

    #[test]
    fn a_hint_into_a_new_key_period_is_preceded_by_its_key() {
        let segments: Vec<_> = (MSN..MSN + 6).map(segment).collect();
        let state = live(&segments, None);
        let text = write(&encrypted(Window::Sliding { segments: 5 }), &state);
        let tail: Vec<_> = text.lines().rev().take(2).collect();
        assert_eq!(
            tail,
            [
                format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}.0.m4s\"", MSN + 6),
                format!(
                    "#EXT-X-KEY:METHOD=AES-128,URI=\"../keys/final-k1/{}.key\"",
                    (MSN + 6) / 3
                ),
            ]
        );
        // Mid-period, the hint needs no key line of its own.
        let short: Vec<_> = (MSN..MSN + 5).map(segment).collect();
        let text = write(
            &encrypted(Window::Sliding { segments: 5 }),
            &RenditionState {
                segments: &short,
                ..state
            },
        );
        assert_eq!(text.matches("#EXT-X-KEY").count(), 2, "{text}");
    }

    #[test]
    fn a_key_schedule_that_cannot_be_written_is_refused() {
        let segments: Vec<_> = (MSN..MSN + 3).map(segment).collect();
        let state = live(&segments, None);
        for (kid, period_segments) in [("final-k1", 0), ("a/b", 3), ("", 3)] {
            let rendition = Rendition {
                keys: Some(KeySchedule {
                    kid: kid.to_owned(),
                    period_segments,
                }),
                ..rendition(Window::Sliding { segments: 5 })
            };
            assert_eq!(
                rendition.media_playlist(&state),
                Err(MediaError::KeySchedule),
                "{kid} {period_segments}"
            );
        }
    }

    #[test]
    fn a_discontinuity_repeats_the_map_and_sliding_past_one_counts_it() {
        // Segment 800 switched to a backup input, 802 to slate, and 803 is missing; the window
        // drops 799 and 800, and with 800 its discontinuity, so the sequence goes from 4 to 5.
        let mut segments: Vec<_> = (MSN - 1..MSN + 4).map(segment).collect();
        segments[1].discontinuity = true;
        segments[3].discontinuity = true;
        segments[4].gap = true;
        let state = RenditionState {
            segments: &segments,
            open: None,
            discontinuity_sequence: 4,
            ended: false,
            reports: &[],
        };
        let rendition = rendition(Window::Sliding { segments: 3 });
        let text = write(&rendition, &state);
        golden::check(
            "a_discontinuity_repeats_the_map_and_sliding_past_one_counts_it",
            &text,
        );
        let typed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(media)) => media,
            other => panic!("{other:?}"),
        };
        assert_eq!(typed.discontinuity_sequence, 5);
        let flags: Vec<_> = typed.segments.iter().map(|s| s.discontinuity).collect();
        assert_eq!(flags, [false, true, false]);
    }

    #[test]
    fn audio_parts_cut_on_aac_frames_fit_a_raised_part_target() {
        // 48 kHz AAC: 1024-sample frames of 21.333 ms. Parts cut at the last frame boundary
        // before each 0.5 s grid instant run from 23 to 24 frames.
        let frame = 1024;
        let mut rendition = rendition(Window::Sliding { segments: 4 });
        let audio_part =
            |frames: u64, independent| Part::from_ticks(frames * frame, 48_000, independent);
        let frames = [23u64, 24, 23, 24];
        let parts: Vec<_> = frames.iter().map(|&f| audio_part(f, true)).collect();
        let segments = vec![Segment {
            msn: MSN,
            duration: duration_from_ticks(94 * frame, 48_000),
            independent: true,
            discontinuity: false,
            gap: false,
            parts: parts.clone(),
        }];
        let state = live(&segments, None);
        // 24 frames are 0.512 s, longer than the timeline's 0.5 s part.
        assert_eq!(
            rendition.media_playlist(&state),
            Err(MediaError::PartTooLong(Position { msn: MSN, part: 1 }))
        );
        // One frame more of part target, and three of those of hold-back, as every rendition
        // of the channel then uses.
        rendition.part_target = Duration::from_millis(500) + duration_from_ticks(frame, 48_000);
        rendition.part_hold_back = rendition.part_target * 3;
        let text = write(&rendition, &state);
        assert!(
            text.contains("#EXT-X-PART-INF:PART-TARGET=0.521333\n"),
            "{text}"
        );
        assert!(text.contains("PART-HOLD-BACK=1.564\n"), "{text}");
        assert!(
            text.contains("#EXT-X-PART:DURATION=0.512,URI=\"883612800.1.m4s\",INDEPENDENT=YES\n")
        );
        assert!(text.contains("#EXT-X-PART:DURATION=0.490667,URI=\"883612800.0.m4s\""));
        // 94 frames: 2.005333 s, written to the microsecond.
        assert!(
            text.contains("#EXTINF:2.005333,\n883612800.m4s\n"),
            "{text}"
        );
    }

    #[test]
    fn a_segment_longer_than_the_grid_raises_the_target_duration() {
        let mut segments: Vec<_> = (MSN..MSN + 2).map(segment).collect();
        segments[0].duration = Duration::from_millis(2499);
        segments[0].parts.clear();
        let state = live(&segments, None);
        let rendition = rendition(Window::Event);
        // 2.499 rounds to 2: the target stays.
        assert_eq!(rendition.target_duration(&state), 2);
        segments[0].duration = Duration::from_millis(2500);
        let state = live(&segments, None);
        assert_eq!(rendition.target_duration(&state), 3);
        assert!(write(&rendition, &state).contains("#EXT-X-TARGETDURATION:3\n"));
        // A timeline of 1.5 s segments has a target of 2 (rounded up, not to the nearest).
        let short = Rendition::new(
            Timeline::new(1500, 500).unwrap(),
            Naming::default(),
            Window::Event,
        );
        let none = RenditionState {
            segments: &[],
            ..state
        };
        assert_eq!(short.target_duration(&none), 2);
    }

    #[test]
    fn independent_segments_are_claimed_only_when_every_listed_one_is() {
        let mut segments: Vec<_> = (MSN..MSN + 4).map(segment).collect();
        fn state(segments: &[Segment]) -> RenditionState<'_> {
            RenditionState {
                segments,
                open: None,
                discontinuity_sequence: 0,
                ended: false,
                reports: &[],
            }
        }
        let rendition = rendition(Window::Sliding { segments: 3 });
        let tag = "\n#EXT-X-INDEPENDENT-SEGMENTS\n";
        assert!(write(&rendition, &state(&segments)).contains(tag));
        // A segment that does not start on an IDR frame, out of the window: still claimed.
        segments[0].independent = false;
        assert!(write(&rendition, &state(&segments)).contains(tag));
        // In the window: not.
        segments[3].independent = false;
        assert!(!write(&rendition, &state(&segments)).contains(tag));
        // Nor when the open segment's first part is not independent.
        let segments: Vec<_> = (MSN..MSN + 4).map(segment).collect();
        let mut open = open(MSN + 4, 1);
        open.parts[0].independent = false;
        let with_open = RenditionState {
            open: Some(&open),
            ..state(&segments)
        };
        assert!(!write(&rendition, &with_open).contains(tag));
    }

    #[test]
    fn a_sliding_window_never_lasts_less_than_three_target_durations() {
        // Asked for one segment, the window keeps three: removing one more would leave less
        // than 6 s (§6.2.2).
        let segments: Vec<_> = (MSN..MSN + 6).map(segment).collect();
        let state = live(&segments, None);
        let text = write(&rendition(Window::Sliding { segments: 1 }), &state);
        let playlist = Playlist::parse(text.as_bytes()).unwrap();
        assert_eq!(playlist.media_sequence(), Some(MSN + 3));
        assert_eq!(playlist.segment_count(), 3);
    }

    #[test]
    fn inconsistent_descriptions_are_refused_with_the_reason() {
        let rendition = rendition(Window::Sliding { segments: 5 });
        let nothing = RenditionState {
            segments: &[],
            open: None,
            discontinuity_sequence: 0,
            ended: false,
            reports: &[],
        };
        assert_eq!(
            rendition.media_playlist(&nothing),
            Err(MediaError::NothingPublished)
        );
        let gap = [segment(MSN), segment(MSN + 2)];
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &gap,
                ..nothing
            }),
            Err(MediaError::NotConsecutive {
                expected: MSN + 1,
                found: MSN + 2
            })
        );
        let one = [segment(MSN)];
        let late = open(MSN + 2, 1);
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &one,
                open: Some(&late),
                ..nothing
            }),
            Err(MediaError::NotConsecutive {
                expected: MSN + 1,
                found: MSN + 2
            })
        );
        let full = open(MSN + 1, 4);
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &one,
                open: Some(&full),
                ..nothing
            }),
            Err(MediaError::TooManyParts(MSN + 1))
        );
        let unfinished = open(MSN + 1, 2);
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &one,
                open: Some(&unfinished),
                ended: true,
                ..nothing
            }),
            Err(MediaError::OpenAtEnd)
        );
        let mut long = open(MSN + 1, 1);
        long.parts[0].duration = Duration::from_micros(500_001);
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &one,
                open: Some(&long),
                ..nothing
            }),
            Err(MediaError::PartTooLong(Position {
                msn: MSN + 1,
                part: 0
            }))
        );
        let bad_report = [RenditionReport {
            uri: "a\"b".to_owned(),
            last: Position { msn: 0, part: 0 },
        }];
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &one,
                reports: &bad_report,
                ..nothing
            }),
            Err(MediaError::ReportUri)
        );
        let mut hasty = rendition.clone();
        hasty.part_hold_back = Duration::from_millis(1499);
        let with_one = RenditionState {
            segments: &one,
            ..nothing
        };
        assert_eq!(
            hasty.media_playlist(&with_one),
            Err(MediaError::PartHoldBack)
        );
        let mut empty_window = rendition.clone();
        empty_window.window = Window::Sliding { segments: 0 };
        assert_eq!(
            empty_window.media_playlist(&with_one),
            Err(MediaError::EmptyWindow)
        );
        let far = [segment(u64::MAX / 2000)];
        assert_eq!(
            rendition.media_playlist(&RenditionState {
                segments: &far,
                ..nothing
            }),
            Err(MediaError::DateOutOfRange(u64::MAX / 2000))
        );
        assert!(
            MediaError::PartTooLong(Position { msn: 7, part: 2 })
                .to_string()
                .contains("part 2 of segment 7")
        );
    }

    /// The value of attribute `name` in a tag line's attribute list (test-only: our own
    /// playlists quote no commas).
    fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let (_, list) = line.split_once(':')?;
        list.split(',').find_map(|item| {
            let (key, value) = item.split_once('=')?;
            (key == name).then_some(value)
        })
    }

    fn seconds_us(text: &str) -> u128 {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let frac = format!("{frac:0<6}");
        whole.parse::<u128>().unwrap() * 1_000_000 + frac.parse::<u128>().unwrap()
    }

    /// What the property test publishes: a timeline, segments (on the grid with their parts,
    /// or long and without), an open segment, flags and a window.
    #[derive(Debug, Clone)]
    struct Case {
        timeline: Timeline,
        first: u64,
        segments: Vec<(Vec<u64>, Option<u64>, bool, bool)>,
        open: Option<(Vec<u64>, bool)>,
        discontinuity_sequence: u64,
        ended: bool,
        window: Window,
        reports: Vec<(u64, u32)>,
    }

    fn cases() -> impl Strategy<Value = Case> {
        let timelines = prop::sample::select(vec![
            (2000u64, 500u64),
            (2000, 400),
            (1000, 200),
            (4000, 1000),
            (6000, 2000),
            (1500, 500),
        ]);
        timelines.prop_flat_map(|(segment_ms, part_ms)| {
            let timeline = Timeline::new(segment_ms, part_ms).unwrap();
            let per = usize::try_from(timeline.parts_per_segment()).unwrap();
            // Part durations from 85% of the part to all of it, microseconds.
            let part_us = (part_ms * 850)..=(part_ms * 1000);
            let on_grid = prop::collection::vec(part_us.clone(), per).prop_map(|p| (p, None));
            let long = (segment_ms * 1000..segment_ms * 2000).prop_map(|d| (Vec::new(), Some(d)));
            let one = (
                prop_oneof![4 => on_grid, 1 => long],
                any::<bool>(),
                prop::bool::weighted(0.1),
            );
            (
                Just(timeline),
                0u64..4_000_000_000,
                prop::collection::vec(one, 0..12),
                prop::option::of((prop::collection::vec(part_us, 0..per), any::<bool>())),
                0u64..1000,
                prop::bool::weighted(0.2),
                prop_oneof![
                    (1usize..10).prop_map(|segments| Window::Sliding { segments }),
                    Just(Window::Event)
                ],
                prop::collection::vec((0u64..4_000_000_000, 0u32..10), 0..3),
            )
                .prop_map(
                    |(
                        timeline,
                        first,
                        segments,
                        open,
                        discontinuity_sequence,
                        ended,
                        window,
                        reports,
                    )| {
                        let segments = segments
                            .into_iter()
                            .map(|((parts, long), discontinuity, gap)| {
                                (parts, long, discontinuity, gap)
                            })
                            .collect();
                        Case {
                            timeline,
                            first,
                            segments,
                            open: if ended { None } else { open },
                            discontinuity_sequence,
                            ended,
                            window,
                            reports,
                        }
                    },
                )
        })
    }

    proptest! {
        #[test]
        fn arbitrary_descriptions_are_written_or_refused_never_a_panic(
            // Half the time numbered in sequence (from before the year 9999 or from anywhere),
            // so that some are written; the rest arbitrary, so that most are refused.
            msns in prop_oneof![
                (prop_oneof![0u64..100_000_000_000, any::<u64>()], 0usize..6).prop_map(|(first, n)| (0..n as u64).map(|i| first.saturating_add(i)).collect()),
                prop::collection::vec(any::<u64>(), 0..6),
            ],
            durations in prop::collection::vec(prop_oneof![4 => 0u64..3_000_000_000, 1 => any::<u64>()], 6),
            part_counts in prop::collection::vec(0usize..5, 6),
            open in prop::option::of((any::<bool>(), any::<u64>(), 0usize..5)),
            discontinuity_sequence in any::<u64>(),
            ended in any::<bool>(),
            keep in 0usize..5,
            report in (any::<u64>(), any::<u32>()),
        ) {
            let parts = |count: usize, nanos: u64| -> Vec<Part> {
                (0..count)
                    .map(|_| Part {
                        duration: Duration::from_nanos(nanos),
                        independent: true,
                    })
                    .collect()
            };
            let segments: Vec<Segment> = msns
                .iter()
                .zip(&durations)
                .zip(&part_counts)
                .map(|((&msn, &nanos), &count)| Segment {
                    msn,
                    duration: Duration::from_nanos(nanos),
                    independent: nanos % 2 == 0,
                    discontinuity: nanos % 3 == 0,
                    gap: nanos % 5 == 0,
                    parts: parts(count, nanos / 7),
                })
                .collect();
            let open = open.map(|(follows, msn, count)| OpenSegment {
                msn: match msns.last() {
                    Some(last) if follows => last.saturating_add(1),
                    _ => msn % 100_000_000_000,
                },
                discontinuity: true,
                gap: false,
                parts: parts(count, msn % 600_000_000),
            });
            let reports = [RenditionReport {
                uri: "../a/index.m3u8".to_owned(),
                last: Position { msn: report.0, part: report.1 },
            }];
            let state = RenditionState {
                segments: &segments,
                open: open.as_ref(),
                discontinuity_sequence,
                ended,
                reports: &reports,
            };
            let rendition = rendition(Window::Sliding { segments: keep });
            if let Ok(text) = rendition.media_playlist(&state) {
                prop_assert!(Playlist::parse(text.as_bytes()).is_ok());
            }
            if let Some(reload) = rendition.reload_state(&state) {
                let _ = crate::playlist::decide(Some("18446744073709551615"), Some("4294967296"), &reload, u64::MAX);
            }
        }
    }

    proptest! {
        #[test]
        fn every_playlist_written_keeps_the_rfc_rules(case in cases()) {
            let to_parts = |us: &[u64]| -> Vec<Part> {
                us.iter()
                    .enumerate()
                    .map(|(i, &us)| Part { duration: Duration::from_micros(us), independent: i == 0 })
                    .collect()
            };
            let segments: Vec<Segment> = (case.first..)
                .zip(&case.segments)
                .map(|(msn, (parts, long, discontinuity, gap))| Segment {
                    msn,
                    duration: Duration::from_micros(long.unwrap_or_else(|| parts.iter().sum())),
                    independent: true,
                    discontinuity: *discontinuity,
                    gap: *gap,
                    parts: to_parts(parts),
                })
                .collect();
            let open = case.open.as_ref().map(|(parts, discontinuity)| OpenSegment {
                msn: case.first + segments.len() as u64,
                discontinuity: *discontinuity,
                gap: false,
                parts: to_parts(parts),
            });
            let reports: Vec<_> = case
                .reports
                .iter()
                .map(|&(msn, part)| RenditionReport {
                    uri: "../other/index.m3u8".to_owned(),
                    last: Position { msn, part },
                })
                .collect();
            let state = RenditionState {
                segments: &segments,
                open: open.as_ref(),
                discontinuity_sequence: case.discontinuity_sequence,
                ended: case.ended,
                reports: &reports,
            };
            let rendition = Rendition::new(case.timeline, Naming::default(), case.window);
            let open_parts = open.as_ref().map_or(0, |o| o.parts.len());
            if segments.is_empty() && open_parts == 0 {
                prop_assert_eq!(rendition.media_playlist(&state), Err(MediaError::NothingPublished));
                return Ok(());
            }
            let text = rendition.media_playlist(&state).unwrap();
            read_back(&text, &rendition);
            let lines: Vec<&str> = text.lines().collect();
            let tag = |name: &str| lines.iter().find(|l| l.starts_with(name)).copied();

            // The target duration is at least every EXTINF, rounded to the nearest second.
            let target: u128 = tag("#EXT-X-TARGETDURATION:").unwrap()[22..].parse().unwrap();
            let extinfs: Vec<u128> = lines
                .iter()
                .filter_map(|l| l.strip_prefix("#EXTINF:"))
                .map(|d| seconds_us(d.trim_end_matches(',')))
                .collect();
            for d in &extinfs {
                prop_assert!(target >= (d + 500_000) / 1_000_000);
            }

            // Media sequence numbers run on from EXT-X-MEDIA-SEQUENCE without a hole.
            let playlist = Playlist::parse(text.as_bytes()).unwrap();
            let first = playlist.media_sequence().unwrap();
            for (i, segment) in (0u64..).zip(playlist.segments()) {
                prop_assert_eq!(segment.uri, format!("{}.m4s", first + i));
            }
            let listed = playlist.segment_count();
            prop_assert!(listed <= segments.len());
            let dropped = segments.len() - listed;
            if let Some(open) = &open && open_parts > 0 && listed == 0 {
                prop_assert_eq!(first, open.msn);
            }

            // The window: dropped segments only while it keeps its count and 3 target durations.
            let open_us: u128 = open.as_ref().map_or(0, |o| o.parts.iter().map(|p| micros(p.duration)).sum());
            let kept_us: u128 = extinfs.iter().sum::<u128>() + if case.ended { 0 } else { open_us };
            match case.window {
                Window::Event => prop_assert_eq!(dropped, 0),
                Window::Sliding { segments: keep } => {
                    if dropped > 0 {
                        prop_assert!(listed >= keep);
                        prop_assert!(kept_us >= 3 * target * 1_000_000);
                    }
                }
            }

            // The discontinuity sequence counts every discontinuity the window dropped.
            let written_sequence = playlist.discontinuity_sequence().unwrap_or(0);
            let dropped_discontinuities = segments[..dropped].iter().filter(|s| s.discontinuity).count() as u64;
            prop_assert_eq!(written_sequence, case.discontinuity_sequence + dropped_discontinuities);

            if case.ended {
                prop_assert!(playlist.has_endlist());
                prop_assert_eq!(playlist.part_count(), 0);
                prop_assert!(tag("#EXT-X-PRELOAD-HINT").is_none());
                prop_assert!(tag("#EXT-X-SERVER-CONTROL").is_none());
            } else {
                // PART-HOLD-BACK is at least three part targets; every part fits the target.
                let control = tag("#EXT-X-SERVER-CONTROL:").unwrap();
                prop_assert_eq!(attribute(control, "CAN-BLOCK-RELOAD"), Some("YES"));
                let hold_back = seconds_us(attribute(control, "PART-HOLD-BACK").unwrap());
                let part_target = seconds_us(attribute(tag("#EXT-X-PART-INF:").unwrap(), "PART-TARGET").unwrap());
                prop_assert!(hold_back >= 3 * part_target);
                for line in lines.iter().filter(|l| l.starts_with("#EXT-X-PART:")) {
                    prop_assert!(seconds_us(attribute(line, "DURATION").unwrap()) <= part_target);
                }
                // The open segment's parts are all listed, and the hint names the part after.
                prop_assert!(playlist.part_count() >= open_parts);
                let last = rendition.last_position(&state).unwrap();
                let hint = format!(
                    "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                    rendition.naming.part(case.timeline.next(last))
                );
                prop_assert_eq!(tag("#EXT-X-PRELOAD-HINT"), Some(hint.as_str()));
                prop_assert_eq!(lines.iter().filter(|l| l.starts_with("#EXT-X-RENDITION-REPORT:")).count(), reports.len());
            }
        }
    }
}
