//! Fragmented MP4 (ISO/IEC 14496-12, the ISO base media file format) as the origin reads it from
//! its encoders and writes it as CMAF (ISO/IEC 23000-19) segments and parts.
//!
//! An encoder writes one fragmented MP4 stream per rung: an initialisation section (`ftyp`,
//! `moov`) and then fragments (`moof` + `mdat`). This module splits such a stream into its
//! top-level boxes as bytes arrive ([`Splitter`]), reads what the packager needs from the
//! initialisation section (each track's timescale, dimensions and RFC 6381 codec string, for
//! the multivariant playlist's `CODECS`) and from each fragment (its decode time, duration,
//! sample count and whether it starts with a sync sample, so parts can be marked
//! `INDEPENDENT=YES` and segments cut only at IDR frames), and rewrites a fragment's sequence
//! number and decode time in place, so that every zone's segments carry the epoch-locked
//! timestamps of [`crate::timeline`].
//!
//! What it does not do: parse sample data, or handle anything an encoder does not write for
//! live CMAF (sample tables in `moov` beyond their presence, edit lists, encryption boxes).
//! Unknown boxes are skipped, as §4.2 of the standard asks of readers.

use core::fmt;

/// Why bytes could not be read as fragmented MP4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmafError {
    /// A box claims more bytes than its parent holds.
    Truncated {
        /// The box type.
        kind: String,
    },
    /// A box is shorter than its own header or fields.
    Malformed {
        /// The box type.
        kind: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A box the format requires is absent.
    Missing {
        /// The box type that was looked for.
        kind: &'static str,
    },
}

impl fmt::Display for CmafError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmafError::Truncated { kind } => write!(f, "`{kind}` box runs past its parent"),
            CmafError::Malformed { kind, why } => write!(f, "`{kind}` box: {why}"),
            CmafError::Missing { kind } => write!(f, "no `{kind}` box"),
        }
    }
}

impl std::error::Error for CmafError {}

/// One box: its four-character type and where its body lies in the bytes it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxRef {
    /// The box type, e.g. `*b"moof"`.
    pub kind: [u8; 4],
    /// Where the box starts.
    pub start: usize,
    /// Where its body (after the header) starts.
    pub body: usize,
    /// Where it ends.
    pub end: usize,
}

impl BoxRef {
    fn name(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

/// The boxes in `data[from..to]`, in order (§4.2: a 32-bit size, the type, a 64-bit size when
/// the first is 1, and a size of 0 meaning "to the end").
pub fn children(data: &[u8], from: usize, to: usize) -> Result<Vec<BoxRef>, CmafError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let (size32, kind) = header(data, at).ok_or_else(|| CmafError::Truncated {
            kind: "(header)".into(),
        })?;
        let (size, body) = match size32 {
            0 => (to - at, at + 8),
            1 => {
                let large = data
                    .get(at + 8..at + 16)
                    .ok_or_else(|| CmafError::Truncated {
                        kind: String::from_utf8_lossy(&kind).into_owned(),
                    })?;
                let size = u64::from_be_bytes(large.try_into().unwrap_or([0; 8]));
                (usize::try_from(size).unwrap_or(usize::MAX), at + 16)
            }
            n => (n as usize, at + 8),
        };
        let end = at
            .checked_add(size)
            .filter(|end| *end <= to && size >= body - at);
        let Some(end) = end else {
            return Err(CmafError::Truncated {
                kind: String::from_utf8_lossy(&kind).into_owned(),
            });
        };
        out.push(BoxRef {
            kind,
            start: at,
            body,
            end,
        });
        at = end;
    }
    Ok(out)
}

fn find(data: &[u8], within: BoxRef, kind: &'static [u8; 4]) -> Result<BoxRef, CmafError> {
    children(data, within.body, within.end)?
        .into_iter()
        .find(|b| &b.kind == kind)
        .ok_or(CmafError::Missing {
            kind: std::str::from_utf8(kind).unwrap_or("?"),
        })
}

/// The top-level boxes of a stream, split as its bytes arrive: what an encoder's pipe gives is
/// never aligned to boxes.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    /// A splitter with nothing pending.
    pub fn new() -> Self {
        Splitter::default()
    }

    /// Takes `bytes`, and returns every top-level box now complete, whole (header included).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CmafError> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some((size32, kind)) = header(&self.pending, 0) {
            let kind = String::from_utf8_lossy(&kind).into_owned();
            let size = match size32 {
                // "To the end of the file" cannot be split from a stream.
                0 => {
                    return Err(CmafError::Malformed {
                        kind,
                        why: "a size of 0 (to the end) in a live stream",
                    });
                }
                1 => match self.pending.get(8..16) {
                    Some(large) => {
                        usize::try_from(u64::from_be_bytes(large.try_into().unwrap_or([0; 8])))
                            .unwrap_or(usize::MAX)
                    }
                    None => break,
                },
                n => n as usize,
            };
            if size < 8 {
                return Err(CmafError::Malformed {
                    kind,
                    why: "a size smaller than its header",
                });
            }
            if self.pending.len() < size {
                break;
            }
            let rest = self.pending.split_off(size);
            out.push(std::mem::replace(&mut self.pending, rest));
        }
        Ok(out)
    }

    /// Bytes received that do not make a whole box yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// A box header's 32-bit size and type, at `at`.
fn header(data: &[u8], at: usize) -> Option<(u32, [u8; 4])> {
    Some((
        be_u32(data, at)?,
        data.get(at + 4..at + 8)?.try_into().ok()?,
    ))
}

fn be_u16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

fn malformed(b: BoxRef, why: &'static str) -> CmafError {
    CmafError::Malformed {
        kind: b.name(),
        why,
    }
}

/// What a track carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Media {
    /// Video, with its coded size in pixels.
    Video {
        /// Width.
        width: u16,
        /// Height.
        height: u16,
    },
    /// Audio, with its channel count and sample rate.
    Audio {
        /// Channels.
        channels: u16,
        /// Samples per second.
        sample_rate: u32,
    },
    /// Anything else (timed text, data).
    Other,
}

/// One track of an initialisation section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// The track id fragments refer to.
    pub id: u32,
    /// Ticks per second of its media timestamps (`mdhd`).
    pub timescale: u32,
    /// What it carries.
    pub media: Media,
    /// Its RFC 6381 codec string (`avc1.64001f`, `mp4a.40.2`), for `CODECS`.
    pub codec: String,
    /// The sample duration fragments default to (`trex`), in the track's timescale.
    pub default_duration: u32,
    /// The sample flags fragments default to (`trex`).
    pub default_flags: u32,
}

/// What the packager needs from an initialisation section (`ftyp` and `moov`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Init {
    /// Its tracks, in `moov` order.
    pub tracks: Vec<Track>,
}

impl Init {
    /// Reads the `moov` box in `data` (which may hold `ftyp` and other boxes too).
    pub fn parse(data: &[u8]) -> Result<Init, CmafError> {
        let top = children(data, 0, data.len())?;
        let moov = top
            .iter()
            .copied()
            .find(|b| &b.kind == b"moov")
            .ok_or(CmafError::Missing { kind: "moov" })?;
        let boxes = children(data, moov.body, moov.end)?;
        let mut defaults = Vec::new();
        if let Some(mvex) = boxes.iter().find(|b| &b.kind == b"mvex") {
            for trex in children(data, mvex.body, mvex.end)?
                .into_iter()
                .filter(|b| &b.kind == b"trex")
            {
                // Full box header, then track_ID, description index, duration, size, flags.
                let field = |i: usize| be_u32(data, trex.body + 4 + 4 * i);
                match (field(0), field(2), field(4)) {
                    (Some(id), Some(duration), Some(flags)) => defaults.push((id, duration, flags)),
                    _ => return Err(malformed(trex, "shorter than its fields")),
                }
            }
        }
        let mut tracks = Vec::new();
        for trak in boxes.iter().filter(|b| &b.kind == b"trak") {
            let mut track = parse_trak(data, *trak)?;
            if let Some((_, duration, flags)) = defaults.iter().find(|(id, ..)| *id == track.id) {
                track.default_duration = *duration;
                track.default_flags = *flags;
            }
            tracks.push(track);
        }
        Ok(Init { tracks })
    }

    /// The track with this id.
    pub fn track(&self, id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }
}

fn parse_trak(data: &[u8], trak: BoxRef) -> Result<Track, CmafError> {
    let tkhd = find(data, trak, b"tkhd")?;
    // tkhd: version 1 has 64-bit times; the track id follows creation and modification time.
    let version = *data
        .get(tkhd.body)
        .ok_or_else(|| malformed(tkhd, "empty"))?;
    let id_at = tkhd.body + 4 + if version == 1 { 16 } else { 8 };
    let id = be_u32(data, id_at).ok_or_else(|| malformed(tkhd, "no track id"))?;
    let mdia = find(data, trak, b"mdia")?;
    let mdhd = find(data, mdia, b"mdhd")?;
    let version = *data
        .get(mdhd.body)
        .ok_or_else(|| malformed(mdhd, "empty"))?;
    let scale_at = mdhd.body + 4 + if version == 1 { 16 } else { 8 };
    let timescale = be_u32(data, scale_at).ok_or_else(|| malformed(mdhd, "no timescale"))?;
    let minf = find(data, mdia, b"minf")?;
    let stbl = find(data, minf, b"stbl")?;
    let stsd = find(data, stbl, b"stsd")?;
    // stsd: full box header, entry count, then the sample entries.
    let entry = children(data, stsd.body + 8, stsd.end)?
        .into_iter()
        .next()
        .ok_or(CmafError::Missing {
            kind: "sample entry",
        })?;
    let (media, codec) = sample_entry(data, entry)?;
    Ok(Track {
        id,
        timescale,
        media,
        codec,
        default_duration: 0,
        default_flags: 0,
    })
}

/// The media description and codec string of a sample entry (ISO/IEC 14496-15 for `avc1`,
/// 14496-14 for `mp4a`).
fn sample_entry(data: &[u8], entry: BoxRef) -> Result<(Media, String), CmafError> {
    match &entry.kind {
        b"avc1" | b"avc3" => {
            // VisualSampleEntry: 8 bytes of SampleEntry, 16 reserved, width, height, ..., 78 in all.
            let width = be_u16(data, entry.body + 24).ok_or_else(|| malformed(entry, "short"))?;
            let height = be_u16(data, entry.body + 26).ok_or_else(|| malformed(entry, "short"))?;
            let avcc = children(data, entry.body + 78, entry.end)?
                .into_iter()
                .find(|b| &b.kind == b"avcC")
                .ok_or(CmafError::Missing { kind: "avcC" })?;
            // AVCDecoderConfigurationRecord: version, profile, compatibility, level.
            let Some(&[_, profile, compatibility, level]) = data.get(avcc.body..avcc.body + 4)
            else {
                return Err(malformed(avcc, "short"));
            };
            let codec = format!(
                "{}.{profile:02x}{compatibility:02x}{level:02x}",
                entry.name()
            );
            Ok((Media::Video { width, height }, codec))
        }
        b"mp4a" => {
            // AudioSampleEntry: 8 bytes of SampleEntry, 8 reserved, channels, sample size, 4
            // more, then the rate as 16.16 fixed point: 28 bytes in all.
            let channels =
                be_u16(data, entry.body + 16).ok_or_else(|| malformed(entry, "short"))?;
            let rate = be_u32(data, entry.body + 24).ok_or_else(|| malformed(entry, "short"))?;
            let esds = children(data, entry.body + 28, entry.end)?
                .into_iter()
                .find(|b| &b.kind == b"esds")
                .ok_or(CmafError::Missing { kind: "esds" })?;
            let (object_type, audio_type, configured) = esds_types(data, esds)?;
            Ok((
                Media::Audio {
                    // The sample entry's count is a template (2) for AAC; the decoder
                    // configuration says the real one, unless it defers to the stream (0).
                    channels: if configured == 0 {
                        channels
                    } else {
                        u16::from(configured)
                    },
                    sample_rate: rate >> 16,
                },
                format!("mp4a.{object_type:02x}.{audio_type}"),
            ))
        }
        other => Ok((Media::Other, String::from_utf8_lossy(other).into_owned())),
    }
}

/// The object type indication, the audio object type and the channel configuration of an
/// `esds` box (ISO/IEC 14496-1 §7.2.6: ES_Descriptor, DecoderConfigDescriptor,
/// DecoderSpecificInfo).
fn esds_types(data: &[u8], esds: BoxRef) -> Result<(u8, u8, u8), CmafError> {
    let body = data
        .get(esds.body + 4..esds.end)
        .ok_or_else(|| malformed(esds, "short"))?;
    let bad = || malformed(esds, "descriptors do not parse");
    // A descriptor: tag, a length of up to four 7-bit bytes, then its payload.
    let descriptor = |at: usize| -> Option<(u8, usize, usize)> {
        let tag = *body.get(at)?;
        let mut len = 0usize;
        let mut i = at + 1;
        for _ in 0..4 {
            let byte = *body.get(i)?;
            len = (len << 7) | usize::from(byte & 0x7f);
            i += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        Some((tag, i, len))
    };
    let (tag, at, _) = descriptor(0).ok_or_else(bad)?;
    if tag != 0x03 {
        return Err(bad());
    }
    let flags = *body.get(at + 2).ok_or_else(bad)?;
    let mut at = at + 3;
    if flags & 0x80 != 0 {
        at += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(*body.get(at).ok_or_else(bad)?); // URL
    }
    if flags & 0x20 != 0 {
        at += 2; // OCR_ES_Id
    }
    let (tag, config, _) = descriptor(at).ok_or_else(bad)?;
    if tag != 0x04 {
        return Err(bad());
    }
    let object_type = *body.get(config).ok_or_else(bad)?;
    let (tag, info, _) = descriptor(config + 13).ok_or_else(bad)?;
    if tag != 0x05 {
        return Err(bad());
    }
    // AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): five bits of object type, four of
    // sampling frequency index (then 24 bits of frequency when the index is 15), four of
    // channel configuration.
    let asc = body.get(info..).ok_or_else(bad)?;
    let bits = asc
        .iter()
        .take(6)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        << (8 * (6 - asc.len().min(6)));
    let field = |from: u32, width: u32| ((bits >> (48 - from - width)) & ((1 << width) - 1)) as u8;
    let audio_type = field(0, 5);
    let channels = if field(5, 4) == 15 {
        field(33, 4)
    } else {
        field(9, 4)
    };
    Ok((object_type, audio_type, channels))
}

/// One track's run of samples in a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The track.
    pub track_id: u32,
    /// The decode time of its first sample (`tfdt`), in the track's timescale.
    pub decode_time: u64,
    /// The sum of its samples' durations, in the track's timescale.
    pub duration: u64,
    /// How many samples.
    pub samples: u32,
    /// Whether the first sample is a sync sample (an IDR frame, for video): a part or segment
    /// may start here.
    pub starts_with_sync: bool,
}

/// What the packager needs from one fragment (`moof`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Its sequence number (`mfhd`).
    pub sequence: u32,
    /// One run per track fragment.
    pub runs: Vec<Run>,
}

/// Sample flags with `sample_is_non_sync_sample` set (§8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;

impl Fragment {
    /// Reads the `moof` box at the start of `data`, with the track defaults of `init`.
    pub fn parse(data: &[u8], init: &Init) -> Result<Fragment, CmafError> {
        let moof = moof(data)?;
        let mfhd = find(data, moof, b"mfhd")?;
        let sequence = be_u32(data, mfhd.body + 4).ok_or_else(|| malformed(mfhd, "short"))?;
        let mut runs = Vec::new();
        for traf in children(data, moof.body, moof.end)?
            .into_iter()
            .filter(|b| &b.kind == b"traf")
        {
            runs.push(parse_traf(data, traf, init)?);
        }
        Ok(Fragment { sequence, runs })
    }
}

fn moof(data: &[u8]) -> Result<BoxRef, CmafError> {
    children(data, 0, data.len())?
        .into_iter()
        .find(|b| &b.kind == b"moof")
        .ok_or(CmafError::Missing { kind: "moof" })
}

fn parse_traf(data: &[u8], traf: BoxRef, init: &Init) -> Result<Run, CmafError> {
    let tfhd = find(data, traf, b"tfhd")?;
    let flags = be_u32(data, tfhd.body).ok_or_else(|| malformed(tfhd, "short"))? & 0x00ff_ffff;
    let track_id = be_u32(data, tfhd.body + 4).ok_or_else(|| malformed(tfhd, "short"))?;
    let track = init.track(track_id);
    // tfhd's optional fields, in order (§8.8.7.1).
    let mut at = tfhd.body + 8;
    if flags & 0x01 != 0 {
        at += 8; // base data offset
    }
    if flags & 0x02 != 0 {
        at += 4; // sample description index
    }
    let mut default_duration = track.map_or(0, |t| t.default_duration);
    if flags & 0x08 != 0 {
        default_duration = be_u32(data, at).ok_or_else(|| malformed(tfhd, "short"))?;
        at += 4;
    }
    if flags & 0x10 != 0 {
        at += 4; // default sample size
    }
    let mut default_flags = track.map_or(0, |t| t.default_flags);
    if flags & 0x20 != 0 {
        default_flags = be_u32(data, at).ok_or_else(|| malformed(tfhd, "short"))?;
    }
    let tfdt = find(data, traf, b"tfdt")?;
    let version = *data
        .get(tfdt.body)
        .ok_or_else(|| malformed(tfdt, "empty"))?;
    let decode_time = if version == 1 {
        be_u64(data, tfdt.body + 4)
    } else {
        be_u32(data, tfdt.body + 4).map(u64::from)
    }
    .ok_or_else(|| malformed(tfdt, "short"))?;
    let (mut duration, mut samples, mut starts_with_sync) = (0u64, 0u32, false);
    for (i, trun) in children(data, traf.body, traf.end)?
        .into_iter()
        .filter(|b| &b.kind == b"trun")
        .enumerate()
    {
        let flags = be_u32(data, trun.body).ok_or_else(|| malformed(trun, "short"))? & 0x00ff_ffff;
        let count = be_u32(data, trun.body + 4).ok_or_else(|| malformed(trun, "short"))?;
        let mut at = trun.body + 8;
        if flags & 0x001 != 0 {
            at += 4; // data offset
        }
        let first_flags = if flags & 0x004 != 0 {
            let value = be_u32(data, at).ok_or_else(|| malformed(trun, "short"))?;
            at += 4;
            Some(value)
        } else {
            None
        };
        let per_sample = [0x100, 0x200, 0x400, 0x800]
            .iter()
            .filter(|bit| flags & **bit != 0)
            .count()
            * 4;
        for s in 0..count {
            let mut field = at;
            let sample_duration = if flags & 0x100 != 0 {
                let value = be_u32(data, field).ok_or_else(|| malformed(trun, "short"))?;
                field += 4;
                value
            } else {
                default_duration
            };
            if flags & 0x200 != 0 {
                field += 4;
            }
            let sample_flags = if flags & 0x400 != 0 {
                be_u32(data, field).ok_or_else(|| malformed(trun, "short"))?
            } else if s == 0 {
                first_flags.unwrap_or(default_flags)
            } else {
                default_flags
            };
            if i == 0 && s == 0 {
                starts_with_sync = sample_flags & NON_SYNC == 0;
            }
            duration += u64::from(sample_duration);
            at += per_sample;
        }
        samples += count;
    }
    Ok(Run {
        track_id,
        decode_time,
        duration,
        samples,
        starts_with_sync,
    })
}

/// Rewrites, in place, the fragment at the start of `data`: its sequence number, and each
/// track's decode time to what `decode_time(track_id)` says. A version 0 `tfdt` (32 bits) that
/// cannot hold the new time is an error: epoch-based times need 64 bits, and encoders that
/// write version 1 (FFmpeg does) are what the origin uses.
pub fn rewrite(
    data: &mut [u8],
    sequence: u32,
    decode_time: impl Fn(u32) -> u64,
) -> Result<(), CmafError> {
    let moof = moof(data)?;
    let mfhd = find(data, moof, b"mfhd")?;
    let at = mfhd.body + 4;
    data.get_mut(at..at + 4)
        .ok_or_else(|| malformed(mfhd, "short"))?
        .copy_from_slice(&sequence.to_be_bytes());
    for traf in children(data, moof.body, moof.end)?
        .into_iter()
        .filter(|b| &b.kind == b"traf")
    {
        let tfhd = find(data, traf, b"tfhd")?;
        let track_id = be_u32(data, tfhd.body + 4).ok_or_else(|| malformed(tfhd, "short"))?;
        let tfdt = find(data, traf, b"tfdt")?;
        let time = decode_time(track_id);
        let version = *data
            .get(tfdt.body)
            .ok_or_else(|| malformed(tfdt, "empty"))?;
        let at = tfdt.body + 4;
        if version == 1 {
            data.get_mut(at..at + 8)
                .ok_or_else(|| malformed(tfdt, "short"))?
                .copy_from_slice(&time.to_be_bytes());
        } else {
            let small = u32::try_from(time)
                .map_err(|_| malformed(tfdt, "version 0 cannot hold an epoch-based time"))?;
            data.get_mut(at..at + 4)
                .ok_or_else(|| malformed(tfdt, "short"))?
                .copy_from_slice(&small.to_be_bytes());
        }
    }
    Ok(())
}

/// Boxes built by hand, for tests here and in [`crate::package`].
#[cfg(test)]
pub(crate) mod testing {
    /// A box of type `kind` around `body`.
    pub(crate) fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::testing::boxed;
    use super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_are_an_error_or_a_reading_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
            cut in 0usize..512,
        ) {
            let init = Init { tracks: Vec::new() };
            let _ = Init::parse(&bytes);
            let _ = Fragment::parse(&bytes, &init);
            let mut copy = bytes.clone();
            let _ = rewrite(&mut copy, 1, |_| 1 << 40);
            let mut splitter = Splitter::new();
            let (a, b) = bytes.split_at(cut.min(bytes.len()));
            let _ = splitter.push(a).and_then(|_| splitter.push(b));
        }

        #[test]
        fn boxes_nested_in_a_moof_are_found_inside_random_padding(
            pad in prop::collection::vec(any::<u8>(), 0..64),
            sequence in any::<u32>(),
        ) {
            // A `free` box of random bytes before the parts that matter must not confuse the
            // reader (§4.2: readers skip unknown boxes).
            let free = boxed(b"free", &pad);
            let tfhd = boxed(b"tfhd", &[0, 0, 0, 0, 0, 0, 0, 1]);
            let tfdt = boxed(b"tfdt", &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
            let traf = boxed(b"traf", &[free.clone(), tfhd, tfdt].concat());
            let mut mfhd_body = vec![0; 4];
            mfhd_body.extend_from_slice(&sequence.to_be_bytes());
            let moof = boxed(b"moof", &[free, boxed(b"mfhd", &mfhd_body), traf].concat());
            let fragment = Fragment::parse(&moof, &Init { tracks: Vec::new() }).unwrap();
            prop_assert_eq!(fragment.sequence, sequence);
            prop_assert_eq!(fragment.runs[0].decode_time, 9);
        }
    }

    #[test]
    fn boxes_split_from_a_stream_whatever_the_chunking() {
        let stream = [
            boxed(b"ftyp", b"cmfc"),
            boxed(b"moof", &[1; 40]),
            boxed(b"mdat", &[2; 999]),
        ]
        .concat();
        for chunk in [1, 7, 64, stream.len()] {
            let mut splitter = Splitter::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                got.extend(splitter.push(piece).unwrap());
            }
            assert_eq!(got.concat(), stream, "chunks of {chunk}");
            assert_eq!(got.len(), 3);
            assert_eq!(splitter.pending(), 0);
        }
    }

    #[test]
    fn a_box_claiming_more_than_its_parent_holds_is_truncated_not_a_panic() {
        let mut data = boxed(b"moov", &[0; 16]);
        data[3] = 200;
        assert_eq!(
            children(&data, 0, data.len()),
            Err(CmafError::Truncated {
                kind: "moov".into()
            })
        );
        let mut splitter = Splitter::new();
        assert!(
            splitter
                .push(&[0, 0, 0, 4, b'f', b'r', b'e', b'e'])
                .is_err()
        );
    }

    #[test]
    fn a_version_0_decode_time_that_cannot_hold_the_epoch_is_refused() {
        let tfhd = boxed(b"tfhd", &[0, 0, 0, 0, 0, 0, 0, 1]);
        let tfdt = boxed(b"tfdt", &[0, 0, 0, 0, 0, 0, 0, 0]);
        let traf = boxed(b"traf", &[tfhd, tfdt].concat());
        let mfhd = boxed(b"mfhd", &[0; 8]);
        let mut moof = boxed(b"moof", &[mfhd, traf].concat());
        assert!(rewrite(&mut moof, 7, |_| 1 << 40).is_err());
        rewrite(&mut moof, 7, |_| 90_000).unwrap();
        let init = Init { tracks: Vec::new() };
        let fragment = Fragment::parse(&moof, &init).unwrap();
        assert_eq!(fragment.sequence, 7);
        assert_eq!(fragment.runs[0].decode_time, 90_000);
    }
}
