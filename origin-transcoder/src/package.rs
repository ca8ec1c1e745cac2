//! Packaging: an encoder's fragments cut into the epoch-locked parts and segments of
//! [`crate::timeline`], with their timestamps moved onto the epoch.
//!
//! An encoder started at some instant writes fragments whose decode times count from its own
//! zero. The packager is told which Unix instant that zero is (`origin_ms`, from the
//! supervisor that started the encoder with [`Timeline::force_key_frames`] for the same
//! instant), adds it to every fragment's decode time (`tfdt`), numbers each fragment by its
//! place on the timeline (`mfhd`), and publishes each fragment as a partial segment and each
//! run of fragments between two segment boundaries as a segment. Fragments before the first
//! segment boundary are dropped: a segment begun before the encoder started is never published
//! (see [`Timeline::first_whole_segment`]).
//!
//! Key decision: everything published is a function of the fragment's media time, never of
//! arrival order or a counter, so two packagers in two zones fed the same source publish the
//! same names, numbers and timestamps (CMAF, ISO/IEC 23000-19 §7.3.2: a segment starts with a
//! sync sample; RFC 8216bis §4.4.4.9: parts of a segment in order, `INDEPENDENT=YES` on those
//! starting with one).
//!
//! Sans-IO: bytes in, publications out. Writing files and answering blocked playlist requests
//! are the server's.

use core::fmt;

use crate::cmaf::{self, CmafError, Fragment, Init};
use crate::timeline::{Position, Timeline};

/// A partial segment ready to publish: one fragment (`moof` + `mdat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Where it sits on the timeline.
    pub position: Position,
    /// Its duration, in the track's timescale.
    pub duration: u64,
    /// Whether it starts with a sync sample (`INDEPENDENT=YES`).
    pub independent: bool,
    /// Its bytes, timestamps rewritten.
    pub bytes: Vec<u8>,
}

/// A whole segment ready to publish: its parts' bytes, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its media sequence number.
    pub msn: u64,
    /// Its duration, in the track's timescale.
    pub duration: u64,
    /// How many parts it was published as.
    pub parts: u32,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// What the packager hands the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// A part of the segment in progress.
    Part(Part),
    /// A segment, complete.
    Segment(Segment),
}

/// Why a fragment could not be packaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageError {
    /// The bytes are not a fragment this packager can read.
    Cmaf(CmafError),
    /// A fragment has no run for the packaged track.
    NoTrack(u32),
    /// A segment boundary fell on a fragment that does not start with a sync sample: the
    /// encoder is not forcing keyframes on the epoch grid, and its segments would not be
    /// interchangeable with another zone's.
    NotOnKeyframe(Position),
    /// A fragment starts before the one before it ended (an encoder restart that reused its
    /// clock, or a clock step).
    Backwards {
        /// Where the last fragment ended, Unix milliseconds.
        expected_ms: u64,
        /// Where this one starts.
        got_ms: u64,
    },
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::Cmaf(error) => write!(f, "not a usable fragment: {error}"),
            PackageError::NoTrack(id) => write!(f, "fragment has no run for track {id}"),
            PackageError::NotOnKeyframe(at) => write!(
                f,
                "segment {} starts on a fragment without a keyframe: is the encoder forcing keyframes on the epoch grid?",
                at.msn
            ),
            PackageError::Backwards {
                expected_ms,
                got_ms,
            } => write!(
                f,
                "fragment starts at {got_ms} ms, before the previous one ended ({expected_ms} ms)"
            ),
        }
    }
}

impl std::error::Error for PackageError {}

impl From<CmafError> for PackageError {
    fn from(error: CmafError) -> Self {
        PackageError::Cmaf(error)
    }
}

/// The part being built: the fragments of it received so far.
#[derive(Debug)]
struct OpenPart {
    position: Position,
    duration: u64,
    independent: bool,
    bytes: Vec<u8>,
    /// How many fragments it holds (the next one's index in the `mfhd` numbering).
    chunks: u32,
    /// Where it ends on the grid, in the track's timescale from the epoch.
    boundary: u64,
    /// Whether it is the last part of its segment.
    last: bool,
}

/// How many fragments one part may hold before the `mfhd` numbering of the next part would
/// collide with its own: a part of 400 ms at one AAC frame per fragment holds 19.
const CHUNKS_PER_PART: u64 = 64;

/// Packages one track of one encoder (one rung, or the audio).
#[derive(Debug)]
pub struct Packager {
    timeline: Timeline,
    track: u32,
    timescale: u32,
    /// The encoder's zero, Unix milliseconds.
    origin_ms: u64,
    /// The encoder's zero, in the track's timescale from the Unix epoch.
    offset: u64,
    building: Option<Segment>,
    part: Option<OpenPart>,
    /// Where the last fragment began and ended, in the track's timescale from the epoch.
    last: Option<(u64, u64)>,
}

impl Packager {
    /// A packager for track `track` of `init`, whose encoder's time zero is the Unix instant
    /// `origin_ms`.
    pub fn new(
        timeline: Timeline,
        init: &Init,
        track: u32,
        origin_ms: u64,
    ) -> Result<Self, PackageError> {
        let timescale = init
            .track(track)
            .ok_or(PackageError::NoTrack(track))?
            .timescale;
        Ok(Packager {
            timeline,
            track,
            timescale,
            origin_ms,
            offset: Timeline::media_time(origin_ms, timescale),
            building: None,
            part: None,
            last: None,
        })
    }

    /// The Unix milliseconds of a time in the track's timescale, to the nearest.
    fn ms(&self, ticks: u64) -> u64 {
        let scale = u128::from(self.timescale.max(1));
        u64::try_from((u128::from(ticks) * 1000 + scale / 2) / scale).unwrap_or(u64::MAX)
    }

    /// Takes one fragment (`moof` then `mdat`, as one buffer) and returns what it completes:
    /// the part it ends, followed by the segment that part ends, if any. Nothing before the
    /// first segment boundary is published.
    ///
    /// A part is one fragment or several (CMAF chunks, concatenated). Video encoders forced onto
    /// the grid write one fragment per part, each ending exactly on a part boundary. Audio
    /// frames do not divide a part (1024 samples at 48 kHz is 21.3 ms), so audio arrives in
    /// fragments of a frame or a few, and a part closes with the fragment that reaches its
    /// boundary: audio parts and segments start within one fragment after the grid. Either way
    /// a part is published as soon as its last fragment arrives, never one fragment later.
    pub fn push(&mut self, init: &Init, fragment: Vec<u8>) -> Result<Vec<Published>, PackageError> {
        let mut bytes = fragment;
        let parsed = Fragment::parse(&bytes, init)?;
        let run = parsed
            .runs
            .iter()
            .find(|r| r.track_id == self.track)
            .ok_or(PackageError::NoTrack(self.track))?;
        let start = run.decode_time + self.offset;
        let previous = self.last;
        if let Some((_, end)) = previous.filter(|(_, end)| start < *end) {
            return Err(PackageError::Backwards {
                expected_ms: self.ms(end),
                got_ms: self.ms(start),
            });
        }
        let end = start + run.duration;
        self.last = Some((start, end));
        let at = self.timeline.position_at(self.ms(start));
        let slack = u64::from(self.timescale / 1000);
        let mut out = Vec::new();
        // A fragment past the open part's end: the fragments between were lost (an encoder
        // that skipped), so the part is published short, as it stands.
        if self
            .part
            .as_ref()
            .is_some_and(|p| start + slack >= p.boundary)
        {
            self.close_part(&mut out);
        }

        if self.part.is_none() {
            let opens_segment = self.building.as_ref().is_none_or(|b| at.msn > b.msn);
            if opens_segment {
                // The segment's start: its first fragment begins there, or (audio, whose
                // frames do not divide a part) just after it, where the fragment before it,
                // begun before the boundary, ended.
                let boundary =
                    Timeline::media_time(self.timeline.segment_start_ms(at.msn), self.timescale);
                let on_boundary = start <= boundary + slack
                    || previous
                        .is_some_and(|(before, ended)| before < boundary && start <= ended + slack);
                if at.part != 0 || !on_boundary {
                    // Mid-segment with nothing open: the encoder started (or resumed after a
                    // loss) inside this segment, even within its first part, and a segment is
                    // never published in part.
                    return Ok(out);
                }
                if !run.starts_with_sync {
                    return Err(PackageError::NotOnKeyframe(at));
                }
                if let Some(done) = self.building.take() {
                    // A segment that lost its end (fragments missing before this boundary).
                    out.push(Published::Segment(done));
                }
                self.building = Some(Segment {
                    msn: at.msn,
                    duration: 0,
                    parts: 0,
                    bytes: Vec::new(),
                });
            }
            // Parts are numbered in order within their segment, whatever their length, so the
            // playlist's part list never skips an index.
            let index = self.building.as_ref().map_or(0, |b| b.parts);
            let next = self.timeline.next(at);
            self.part = Some(OpenPart {
                boundary: Timeline::media_time(self.timeline.part_start_ms(next), self.timescale),
                last: next.msn > at.msn,
                position: Position {
                    msn: at.msn,
                    part: index,
                },
                duration: 0,
                independent: run.starts_with_sync,
                bytes: Vec::new(),
                chunks: 0,
            });
        }
        let Some(part) = self.part.as_mut() else {
            return Ok(out);
        };

        // Numbered by place on the timeline, so every zone writes the same sequence numbers
        // (wrapping at 2^32, as the 32-bit `mfhd` field does).
        let parts = u64::from(self.timeline.parts_per_segment());
        let place = part.position.msn * parts + u64::from(part.position.part);
        let sequence = (place * CHUNKS_PER_PART + u64::from(part.chunks) % CHUNKS_PER_PART) as u32;
        // Every track in the fragment moves by the same instant, each in its own timescale.
        let origin_ms = self.origin_ms;
        cmaf::rewrite(&mut bytes, sequence, |track| {
            let scale = init.track(track).map_or(1000, |t| t.timescale);
            let own = parsed.runs.iter().find(|r| r.track_id == track);
            own.map_or(0, |r| r.decode_time) + Timeline::media_time(origin_ms, scale)
        })?;
        part.duration += run.duration;
        part.chunks += 1;
        part.bytes.extend_from_slice(&bytes);

        // Close the part once this fragment reaches its boundary on the grid (within a
        // millisecond, for encoders whose timescale does not divide it exactly).
        if end + slack >= part.boundary {
            self.close_part(&mut out);
        }
        Ok(out)
    }

    /// Publishes the open part, and its segment when it is the segment's last.
    fn close_part(&mut self, out: &mut Vec<Published>) {
        let Some(done) = self.part.take() else {
            return;
        };
        if let Some(segment) = self.building.as_mut() {
            segment.duration += done.duration;
            segment.parts += 1;
            segment.bytes.extend_from_slice(&done.bytes);
        }
        out.push(Published::Part(Part {
            position: done.position,
            duration: done.duration,
            independent: done.independent,
            bytes: done.bytes,
        }));
        if done.last
            && let Some(segment) = self.building.take()
        {
            out.push(Published::Segment(segment));
        }
    }

    /// What is in progress, published as it stands: when the channel ends, its last part and
    /// segment are shorter than the others, and an ended playlist lists them whole.
    pub fn finish(&mut self) -> Vec<Published> {
        let mut out = Vec::new();
        self.close_part(&mut out);
        if let Some(segment) = self.building.take().filter(|s| s.parts > 0) {
            out.push(Published::Segment(segment));
        }
        out
    }

    /// The track's timescale, for turning durations into seconds.
    pub fn timescale(&self) -> u32 {
        self.timescale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmaf::testing::boxed;
    use crate::cmaf::{Media, Track};

    /// A fragment of track 1: `frames` samples of `duration` ticks from `decode_time`, the
    /// first a sync sample when `sync`, followed by a small `mdat`.
    fn fragment(decode_time: u64, frames: u32, duration: u32, sync: bool) -> Vec<u8> {
        // tfhd: default-sample-duration present, track 1.
        let mut tfhd = vec![0, 0, 0, 0x08, 0, 0, 0, 1];
        tfhd.extend_from_slice(&duration.to_be_bytes());
        let tfhd = boxed(b"tfhd", &tfhd);
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&decode_time.to_be_bytes());
        // trun with first-sample flags: non-sync bit per `sync`.
        let mut trun = vec![0, 0, 0, 0x04];
        trun.extend_from_slice(&frames.to_be_bytes());
        trun.extend_from_slice(&(if sync { 0u32 } else { 0x0001_0000 }).to_be_bytes());
        let traf = boxed(
            b"traf",
            &[tfhd, boxed(b"tfdt", &tfdt), boxed(b"trun", &trun)].concat(),
        );
        let moof = boxed(b"moof", &[boxed(b"mfhd", &[0; 8]), traf].concat());
        [moof, boxed(b"mdat", &[7; 16])].concat()
    }

    fn init() -> Init {
        Init {
            tracks: vec![Track {
                id: 1,
                timescale: 1000,
                media: Media::Video {
                    width: 640,
                    height: 360,
                },
                codec: "avc1.42c01e".into(),
                default_duration: 40,
                default_flags: 0x0001_0000,
            }],
        }
    }

    #[test]
    fn fragments_before_the_first_boundary_are_dropped_and_later_ones_are_parts_then_segments() {
        let line = Timeline::new(2000, 500).unwrap();
        // The encoder's zero is 1.5 s into segment 5 (t = 11.5 s): its first fragment is the
        // last part of segment 5, never published; segment 6 starts at its 0.5 s.
        let mut packager = Packager::new(line, &init(), 1, 11_500).unwrap();
        let init = init();
        let mut published = Vec::new();
        for k in 0..10u64 {
            let sync = (k * 500 + 11_500) % 2000 == 0;
            published.extend(
                packager
                    .push(&init, fragment(k * 500, 12, 40, sync))
                    .unwrap(),
            );
        }
        published.extend(packager.finish());
        let parts: Vec<Position> = published
            .iter()
            .filter_map(|p| match p {
                Published::Part(part) => Some(part.position),
                Published::Segment(_) => None,
            })
            .collect();
        assert_eq!(parts.first(), Some(&Position { msn: 6, part: 0 }));
        assert_eq!(parts.len(), 9);
        let segments: Vec<(u64, u32, u64)> = published
            .iter()
            .filter_map(|p| match p {
                Published::Segment(s) => Some((s.msn, s.parts, s.duration)),
                Published::Part(_) => None,
            })
            .collect();
        assert_eq!(segments, vec![(6, 4, 1920), (7, 4, 1920), (8, 1, 480)]);
        // The first published part carries the epoch time and its place as sequence number.
        let Published::Part(first) = &published[0] else {
            panic!("a part first")
        };
        let parsed = Fragment::parse(&first.bytes, &init).unwrap();
        assert_eq!(parsed.runs[0].decode_time, 12_000);
        assert_eq!(parsed.sequence, 6 * 4 * 64);
        assert!(first.independent);
    }

    #[test]
    fn an_encoder_started_inside_a_segments_first_part_publishes_from_the_next_segment() {
        let line = Timeline::new(2000, 500).unwrap();
        let init = init();
        // Video: the encoder's zero is 0.4 s into segment 5 (t = 10.4 s), inside its first
        // part; its first fragment (to the part boundary at 10.5 s) is a keyframe, but segment
        // 5 begun before the encoder is never published, and nothing of it either.
        let mut packager = Packager::new(line, &init, 1, 10_400).unwrap();
        let mut published = Vec::new();
        let mut at = 10_400;
        for (length, sync) in [(100, true), (500, false), (500, false), (500, false)]
            .into_iter()
            .chain((0..4).map(|k| (500, k == 0)))
        {
            let decode_time = at - 10_400;
            published.extend(
                packager
                    .push(&init, fragment(decode_time, length / 20, 20, sync))
                    .unwrap(),
            );
            at += u64::from(length);
        }
        let positions: Vec<Position> = published
            .iter()
            .filter_map(|p| match p {
                Published::Part(part) => Some(part.position),
                Published::Segment(_) => None,
            })
            .collect();
        assert_eq!(positions.first(), Some(&Position { msn: 6, part: 0 }));
        assert_eq!(positions.len(), 4);
        let segments: Vec<(u64, u64)> = published
            .iter()
            .filter_map(|p| match p {
                Published::Segment(s) => Some((s.msn, s.duration)),
                Published::Part(_) => None,
            })
            .collect();
        assert_eq!(segments, vec![(6, 2000)]);

        // Audio-like (every fragment a sync sample, 120 ms fragments that do not divide a
        // part) started 100 ms into segment 5: nothing until the fragment just after the
        // boundary of segment 6, which follows one begun before it.
        let mut packager = Packager::new(line, &init, 1, 10_100).unwrap();
        let mut published = Vec::new();
        for k in 0..20u64 {
            published.extend(
                packager
                    .push(&init, fragment(k * 120, 3, 40, true))
                    .unwrap(),
            );
        }
        let Some(Published::Part(first)) = published.first() else {
            panic!("nothing published: {published:?}")
        };
        assert_eq!(first.position, Position { msn: 6, part: 0 });
        // 10.1 s + 16 × 120 ms = 12.02 s: the first fragment starting at or after 12 s.
        let parsed = Fragment::parse(&first.bytes, &init).unwrap();
        assert_eq!(parsed.runs[0].decode_time, 12_020);
    }

    #[test]
    fn fragments_shorter_than_a_part_are_grouped_into_parts_that_close_at_the_grid() {
        // Audio-like: every sample a sync sample, fragments of 120 ms that do not divide the
        // 500 ms parts. A part closes with the fragment that reaches its grid boundary, so each
        // part and segment starts less than one fragment after the grid, and part indices run
        // 0, 1, 2, ... within each segment.
        let line = Timeline::new(2000, 500).unwrap();
        let init = init();
        let mut packager = Packager::new(line, &init, 1, 0).unwrap();
        let mut published = Vec::new();
        for k in 0..60u64 {
            published.extend(
                packager
                    .push(&init, fragment(k * 120, 3, 40, true))
                    .unwrap(),
            );
        }
        let mut expected_part = 0;
        let mut segments = Vec::new();
        let mut at_ms = 0;
        for item in &published {
            match item {
                Published::Part(part) => {
                    assert_eq!(part.position.part, expected_part, "at {at_ms} ms");
                    assert!(part.independent);
                    let grid = line.part_start_ms(Position {
                        msn: part.position.msn,
                        part: part.position.part,
                    });
                    assert!(
                        at_ms >= grid && at_ms < grid + 120,
                        "part {:?} starts at {at_ms} ms, grid {grid}",
                        part.position
                    );
                    expected_part += 1;
                    at_ms += part.duration;
                }
                Published::Segment(segment) => {
                    segments.push((segment.msn, segment.parts));
                    expected_part = 0;
                }
            }
        }
        assert_eq!(segments, vec![(0, 4), (1, 4), (2, 4)]);
    }

    #[test]
    fn a_segment_boundary_without_a_keyframe_is_refused_with_the_reason() {
        let line = Timeline::new(2000, 500).unwrap();
        let mut packager = Packager::new(line, &init(), 1, 0).unwrap();
        let init = init();
        let error = packager
            .push(&init, fragment(0, 12, 40, false))
            .unwrap_err();
        assert_eq!(
            error,
            PackageError::NotOnKeyframe(Position { msn: 0, part: 0 })
        );
        assert!(error.to_string().contains("keyframes on the epoch grid"));
    }

    #[test]
    fn a_fragment_that_goes_back_in_time_is_refused() {
        let line = Timeline::new(2000, 500).unwrap();
        let mut packager = Packager::new(line, &init(), 1, 0).unwrap();
        let init = init();
        packager.push(&init, fragment(0, 12, 40, true)).unwrap();
        assert!(matches!(
            packager.push(&init, fragment(100, 12, 40, false)),
            Err(PackageError::Backwards { .. })
        ));
    }

    #[test]
    fn two_packagers_fed_the_same_fragments_publish_the_same_bytes() {
        let line = Timeline::new(2000, 500).unwrap();
        let init = init();
        let run = |origin| {
            let mut packager = Packager::new(line, &init, 1, origin).unwrap();
            (0..8u64)
                .flat_map(|k| {
                    packager
                        .push(&init, fragment(k * 500, 12, 40, k % 4 == 0))
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(40_000), run(40_000));
    }
}
