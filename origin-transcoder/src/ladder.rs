//! The ABR ladder: the video renditions (rungs) a channel is encoded to, and its audio.
//!
//! A ladder is written on the command line as a comma-separated list (`--ladder`), each entry
//! a preset name (`1080p`, `720p`, `480p`, `360p`, `240p`) or a size (`1280x720`), optionally
//! with an average bitrate (`@3000k`, `@6M`): `1080p,720p,480p,360p` is the default ladder, and
//! `1280x720@2500k,640x360` a two-rung one. Every rung is H.264 High profile at the lowest
//! level that fits its size, frame rate and peak bitrate, so that its codec string
//! (`avc1.64001f`) tells players the truth. Peak bitrate is the average plus 10%, the VBV
//! ceiling the encoder is given, which keeps a live stream's measured peak within 10% of what
//! the multivariant playlist announces (Apple's HLS authoring specification asks for that).

use core::fmt;

use crate::playlist::safe_path;

/// A frame rate, as a ratio (30000/1001 for 29.97).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRate {
    /// Frames per `den` seconds.
    pub num: u32,
    /// Seconds, at least 1.
    pub den: u32,
}

impl FrameRate {
    /// The frame rate of the default ladder: 30 fps, which keeps the default four-rung ladder
    /// live on two cores.
    pub const DEFAULT: FrameRate = FrameRate { num: 30, den: 1 };
}

impl fmt::Display for FrameRate {
    /// Three decimals, rounded half up, as `FRAME-RATE` is usually written: `30.000`, `29.970`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let den = u64::from(self.den.max(1));
        let millis = (u64::from(self.num) * 2000 + den) / (2 * den);
        write!(f, "{}.{:03}", millis / 1000, millis % 1000)
    }
}

/// One video rendition of the ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rung {
    /// Its name: `{height}p`, also its directory.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub frame_rate: FrameRate,
    /// Peak bitrate, bit/s (the encoder's VBV maximum).
    pub peak_bps: u64,
    /// Average bitrate, bit/s (the encoder's target).
    pub average_bps: u64,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec: String,
}

/// The audio rendition: one AAC track shared by every rung (`EXT-X-MEDIA`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// Its rendition group (`GROUP-ID`), also its directory.
    pub group_id: String,
    /// Its name as players show it (`NAME`).
    pub name: String,
    /// Its language, a BCP 47 tag (`LANGUAGE`), if known.
    pub language: Option<String>,
    /// RFC 6381 codec string: `mp4a.40.2` for AAC-LC.
    pub codec: String,
    /// Its bitrate, bit/s (AAC at a constant bitrate: average and peak).
    pub bitrate_bps: u64,
    /// Its channel count (`CHANNELS`).
    pub channels: u32,
}

impl Default for Audio {
    /// AAC-LC stereo at 128 kbit/s, group `audio`, no language.
    fn default() -> Self {
        Audio {
            group_id: "audio".to_owned(),
            name: "Main".to_owned(),
            language: None,
            codec: "mp4a.40.2".to_owned(),
            bitrate_bps: 128_000,
            channels: 2,
        }
    }
}

/// Why a ladder cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LadderError {
    /// The list has no rung.
    Empty,
    /// An entry is neither a preset nor `WIDTHxHEIGHT`, or its bitrate is not `<digits>k` or
    /// `<digits>M`.
    Syntax(String),
    /// A width or height is zero, odd (4:2:0 chroma needs even sizes) or over 8192.
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A bitrate is zero, or a peak is below its average.
    Bitrate(String),
    /// The frame rate is zero or has a zero denominator.
    FrameRate,
    /// No H.264 level holds the rung (size, frame rate or peak bitrate beyond level 5.2).
    NoLevel(String),
    /// Two rungs have the same name (the same height).
    Duplicate(String),
}

impl fmt::Display for LadderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LadderError::Empty => write!(f, "the ladder has no rung"),
            LadderError::Syntax(entry) => write!(
                f,
                "ladder entry {entry:?} is not a preset (1080p, 720p, 480p, 360p, 240p) or WIDTHxHEIGHT, optionally @<kbit/s>k or @<Mbit/s>M"
            ),
            LadderError::Size { width, height } => write!(
                f,
                "{width}x{height} is not a size to encode: both must be even, from 2 to 8192"
            ),
            LadderError::Bitrate(name) => write!(
                f,
                "rung {name}: a bitrate must be above zero, and the peak at least the average"
            ),
            LadderError::FrameRate => write!(f, "the frame rate must be above zero"),
            LadderError::NoLevel(name) => write!(
                f,
                "rung {name} is too large for H.264 level 5.2 (size, frame rate or bitrate)"
            ),
            LadderError::Duplicate(name) => write!(f, "two rungs are named {name}"),
        }
    }
}

impl std::error::Error for LadderError {}

/// The presets: name, size and average bitrate in kbit/s. The bitrates are those of common
/// 30 fps H.264 ladders (Apple's authoring specification lists 4.5 to 7.8 Mbit/s at 1080p,
/// 3 to 4.5 at 720p, 1.1 to 2 at 540p and 0.73 at 432p), taken at their low end for a live
/// `superfast` encode.
const PRESETS: &[(&str, u32, u32, u64)] = &[
    ("1080p", 1920, 1080, 5000),
    ("720p", 1280, 720, 3000),
    ("480p", 854, 480, 1500),
    ("360p", 640, 360, 800),
    ("240p", 426, 240, 400),
];

/// The default ladder's list.
pub const DEFAULT_LADDER: &str = "1080p,720p,480p,360p";

/// A checked ladder: at least one rung, names unique, sizes encodable, each rung with a level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ladder {
    rungs: Vec<Rung>,
}

impl Default for Ladder {
    /// 1080p, 720p, 480p and 360p at 30 fps.
    fn default() -> Self {
        let rungs = PRESETS
            .iter()
            .take(4)
            .map(|&(name, width, height, kbps)| {
                rung(
                    name.to_owned(),
                    width,
                    height,
                    kbps * 1000,
                    FrameRate::DEFAULT,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default();
        Ladder { rungs }
    }
}

impl Ladder {
    /// A ladder from a `--ladder` list (see the module documentation), every rung at
    /// `frame_rate`. Rungs keep the list's order, which is the multivariant playlist's.
    pub fn parse(list: &str, frame_rate: FrameRate) -> Result<Self, LadderError> {
        if frame_rate.num == 0 || frame_rate.den == 0 {
            return Err(LadderError::FrameRate);
        }
        let mut rungs = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let syntax = || LadderError::Syntax(entry.to_owned());
            let (size, bitrate) = match entry.split_once('@') {
                Some((size, bitrate)) => (size, Some(bitrate)),
                None => (entry, None),
            };
            let (width, height, preset_kbps) = match PRESETS.iter().find(|(name, ..)| *name == size)
            {
                Some(&(_, width, height, kbps)) => (width, height, Some(kbps)),
                None => {
                    let (w, h) = size.split_once('x').ok_or_else(syntax)?;
                    (
                        number(w).ok_or_else(syntax)?,
                        number(h).ok_or_else(syntax)?,
                        None,
                    )
                }
            };
            let average_bps = match bitrate {
                Some(bitrate) => bits_per_second(bitrate).ok_or_else(syntax)?,
                None => match preset_kbps {
                    Some(kbps) => kbps * 1000,
                    // A size without a bitrate: 0.1 bit per pixel per frame, about the
                    // density of the presets, to the nearest 100 kbit/s.
                    None => {
                        let bps = u64::from(width) * u64::from(height) * u64::from(frame_rate.num)
                            / (10 * u64::from(frame_rate.den));
                        ((bps + 50_000) / 100_000).max(1) * 100_000
                    }
                },
            };
            rungs.push(rung(
                format!("{height}p"),
                width,
                height,
                average_bps,
                frame_rate,
            )?);
        }
        Ladder::new(rungs)
    }

    /// A ladder of these rungs, checked: at least one, names unique and path-safe, sizes even
    /// and within 8192, bitrates above zero with peaks at least averages, codecs plain.
    pub fn new(rungs: Vec<Rung>) -> Result<Self, LadderError> {
        if rungs.is_empty() {
            return Err(LadderError::Empty);
        }
        for (i, rung) in rungs.iter().enumerate() {
            check_size(rung.width, rung.height)?;
            if rung.average_bps == 0 || rung.peak_bps < rung.average_bps {
                return Err(LadderError::Bitrate(rung.name.clone()));
            }
            if rung.frame_rate.num == 0 || rung.frame_rate.den == 0 {
                return Err(LadderError::FrameRate);
            }
            if !safe_path(&rung.name) || rung.name.contains('/') || !plain(&rung.codec) {
                return Err(LadderError::Syntax(rung.name.clone()));
            }
            if rungs.iter().take(i).any(|r| r.name == rung.name) {
                return Err(LadderError::Duplicate(rung.name.clone()));
            }
        }
        Ok(Ladder { rungs })
    }

    /// The rungs, in order.
    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }
}

/// A rung of H.264 High profile at the lowest level that holds it.
fn rung(
    name: String,
    width: u32,
    height: u32,
    average_bps: u64,
    frame_rate: FrameRate,
) -> Result<Rung, LadderError> {
    check_size(width, height)?;
    if average_bps == 0 {
        return Err(LadderError::Bitrate(name));
    }
    let peak_bps = average_bps + average_bps / 10;
    let level = h264_level(width, height, frame_rate, peak_bps)
        .ok_or_else(|| LadderError::NoLevel(name.clone()))?;
    Ok(Rung {
        name,
        width,
        height,
        frame_rate,
        peak_bps,
        average_bps,
        // RFC 6381 §3.3: avc1.PPCCLL, profile_idc 0x64 (High), no constraint flags, level_idc.
        codec: format!("avc1.6400{level:02x}"),
    })
}

fn check_size(width: u32, height: u32) -> Result<(), LadderError> {
    let fits = |v: u32| (2..=8192).contains(&v) && v.is_multiple_of(2);
    if fits(width) && fits(height) {
        Ok(())
    } else {
        Err(LadderError::Size { width, height })
    }
}

/// H.264 levels from 3.0 up (ITU-T H.264 Table A-1): `level_idc`, MaxFS (macroblocks per
/// frame), MaxMBPS (macroblocks per second), MaxBR (in 1000 bit/s for Baseline and Main; High
/// profile allows 1.25 times as much, Table A-2).
const LEVELS: &[(u32, u64, u64, u64)] = &[
    (30, 1_620, 40_500, 10_000),
    (31, 3_600, 108_000, 14_000),
    (32, 5_120, 216_000, 20_000),
    (40, 8_192, 245_760, 20_000),
    (41, 8_192, 245_760, 50_000),
    (42, 8_704, 522_240, 50_000),
    (50, 22_080, 589_824, 135_000),
    (51, 36_864, 983_040, 240_000),
    (52, 36_864, 2_073_600, 240_000),
];

/// The lowest H.264 High profile level (`level_idc`) for frames of `width`×`height` at
/// `frame_rate` and `peak_bps`: frame size, macroblock rate and bitrate within its limits, and
/// each side within `sqrt(8 * MaxFS)` macroblocks (A.3.1 item f).
fn h264_level(width: u32, height: u32, frame_rate: FrameRate, peak_bps: u64) -> Option<u32> {
    let w = u64::from(width.div_ceil(16));
    let h = u64::from(height.div_ceil(16));
    let frame = w * h;
    LEVELS
        .iter()
        .find(|&&(_, max_fs, max_mbps, max_br)| {
            frame <= max_fs
                && w * w <= 8 * max_fs
                && h * h <= 8 * max_fs
                && frame * u64::from(frame_rate.num) <= max_mbps * u64::from(frame_rate.den)
                && peak_bps <= max_br * 1250
        })
        .map(|&(level, ..)| level)
}

/// A positive decimal number of at most 9 digits.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `3000k` → 3 000 000, `6M` → 6 000 000.
fn bits_per_second(text: &str) -> Option<u64> {
    let (digits, unit) = match text.strip_suffix('k') {
        Some(digits) => (digits, 1_000),
        None => (text.strip_suffix('M')?, 1_000_000),
    };
    let value = u64::from(number(digits)?) * unit;
    (value > 0).then_some(value)
}

/// Letters, digits and dots: a codec string that needs no escaping anywhere.
fn plain(codec: &str) -> bool {
    !codec.is_empty()
        && codec
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(num: u32, den: u32) -> FrameRate {
        FrameRate { num, den }
    }

    fn summary(ladder: &Ladder) -> Vec<(&str, u32, u32, u64, u64, &str)> {
        ladder
            .rungs()
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.width,
                    r.height,
                    r.average_bps,
                    r.peak_bps,
                    r.codec.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn the_default_ladder_is_four_rungs_at_the_levels_their_sizes_need() {
        let ladder = Ladder::default();
        assert_eq!(
            summary(&ladder),
            [
                ("1080p", 1920, 1080, 5_000_000, 5_500_000, "avc1.640028"),
                ("720p", 1280, 720, 3_000_000, 3_300_000, "avc1.64001f"),
                // 854x480 at 30 fps is 48 600 macroblocks a second, over level 3.0's 40 500.
                ("480p", 854, 480, 1_500_000, 1_650_000, "avc1.64001f"),
                ("360p", 640, 360, 800_000, 880_000, "avc1.64001e"),
            ]
        );
        assert_eq!(
            Ladder::parse(DEFAULT_LADDER, FrameRate::DEFAULT).unwrap(),
            ladder
        );
    }

    #[test]
    fn a_list_mixes_presets_sizes_and_bitrates() {
        let ladder = Ladder::parse(" 720p@2M, 1280x720@2500k ,426x240 ,", rate(25, 1));
        // Two rungs of one height share a name: refused.
        assert_eq!(ladder, Err(LadderError::Duplicate("720p".to_owned())));
        let ladder = Ladder::parse("1080p@6M,960x540@2000k,240p", rate(25, 1)).unwrap();
        assert_eq!(
            summary(&ladder),
            [
                ("1080p", 1920, 1080, 6_000_000, 6_600_000, "avc1.640028"),
                ("540p", 960, 540, 2_000_000, 2_200_000, "avc1.64001f"),
                ("240p", 426, 240, 400_000, 440_000, "avc1.64001e"),
            ]
        );
        assert!(ladder.rungs().iter().all(|r| r.frame_rate == rate(25, 1)));
    }

    #[test]
    fn levels_follow_frame_rate_size_and_bitrate() {
        let level = |list: &str, fps| {
            Ladder::parse(list, rate(fps, 1)).unwrap().rungs()[0]
                .codec
                .clone()
        };
        // 1080p60: 489 600 macroblocks a second, level 4.2.
        assert_eq!(level("1080p", 60), "avc1.64002a");
        // 2160p30: 32 400 macroblocks a frame, level 5.1.
        assert_eq!(level("3840x2160@16M", 30), "avc1.640033");
        // 720p at 30 Mbit/s needs level 4.1's bitrate.
        assert_eq!(level("720p@30M", 30), "avc1.640029");
        // High profile may take 1.25 times Table A-1's MaxBR: a 16.5 Mbit/s peak fits level
        // 3.1 (14 000 x 1250 bit/s), where Main would need 3.2.
        assert_eq!(level("720p@15M", 30), "avc1.64001f");
        assert_eq!(
            Ladder::parse("7680x4320", rate(30, 1)),
            Err(LadderError::NoLevel("4320p".to_owned()))
        );
    }

    #[test]
    fn frame_rates_are_written_with_three_decimals() {
        assert_eq!(rate(30, 1).to_string(), "30.000");
        assert_eq!(rate(30_000, 1001).to_string(), "29.970");
        assert_eq!(rate(60_000, 1001).to_string(), "59.940");
        assert_eq!(rate(24_000, 1001).to_string(), "23.976");
        assert_eq!(rate(25, 2).to_string(), "12.500");
        // Rounded, not cut: 20/3 is 6.6667.
        assert_eq!(rate(20, 3).to_string(), "6.667");
    }

    #[test]
    fn malformed_lists_are_refused_with_the_reason() {
        let parse = |list: &str| Ladder::parse(list, FrameRate::DEFAULT);
        assert_eq!(parse(""), Err(LadderError::Empty));
        assert_eq!(parse(" , "), Err(LadderError::Empty));
        for bad in [
            "720",
            "hd",
            "1280x",
            "x720",
            "1280*720",
            "720p@",
            "720p@3000",
            "720p@3.5M",
            "720p@0k",
            "720p@-1k",
            "1280x720@3000k@30",
        ] {
            assert_eq!(
                parse(bad),
                Err(LadderError::Syntax(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse("1281x720"),
            Err(LadderError::Size {
                width: 1281,
                height: 720
            })
        );
        assert_eq!(
            parse("0x0"),
            Err(LadderError::Size {
                width: 0,
                height: 0
            })
        );
        assert_eq!(
            Ladder::parse("720p", rate(0, 1)),
            Err(LadderError::FrameRate)
        );
        assert!(
            parse("hd")
                .unwrap_err()
                .to_string()
                .contains("not a preset")
        );
    }

    #[test]
    fn hand_made_rungs_are_checked_too() {
        let good = Ladder::default().rungs()[1].clone();
        let with = |change: fn(&mut Rung)| {
            let mut rung = good.clone();
            change(&mut rung);
            Ladder::new(vec![rung])
        };
        assert!(with(|_| ()).is_ok());
        assert_eq!(Ladder::new(Vec::new()), Err(LadderError::Empty));
        assert_eq!(
            with(|r| r.peak_bps = r.average_bps - 1),
            Err(LadderError::Bitrate("720p".to_owned()))
        );
        assert_eq!(
            with(|r| r.name = "../x".to_owned()),
            Err(LadderError::Syntax("../x".to_owned()))
        );
        assert_eq!(
            with(|r| r.codec = "avc1.64001f\"".to_owned()),
            Err(LadderError::Syntax("720p".to_owned()))
        );
        assert_eq!(
            Ladder::new(vec![good.clone(), good]),
            Err(LadderError::Duplicate("720p".to_owned()))
        );
    }
}
