//! The FFmpeg command line that encodes a channel: one decode, then a scale and an H.264
//! encoder per rung of the ladder, and one AAC encoder, each writing fragmented MP4 to its own
//! output (a TCP connection back to the origin, which packages it).
//!
//! Pure: [`Encoding::args`] builds the argument list, so what the origin asks of FFmpeg is
//! tested without running it (and run for real in the integration tests).
//!
//! Why one FFmpeg with several outputs rather than one per rung: the source is decoded (or
//! generated) once and every rung is scaled from the same frames, so every rung has the same
//! frames at the same instants and its forced keyframes on the same ones; and a 2-core machine
//! pays for one decode, not four.
//!
//! Every video output is forced to an IDR frame at each segment boundary of the epoch grid
//! ([`Timeline::force_key_frames`]), its GOP is one segment, scene-cut keyframes are off, and
//! it fragments at each keyframe and each part duration, so one fragment is one LL-HLS part.
//! The audio output fragments every two AAC frames (about 43 ms), which the packager groups
//! into parts (see [`crate::package`]).

use crate::ladder::{Audio, FrameRate, Ladder, Rung};
use crate::source::Source;
use crate::timeline::Timeline;

/// How a channel is encoded: what stays the same across encoder restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// The ladder.
    pub ladder: Ladder,
    /// The audio rendition.
    pub audio: Audio,
    /// The channel's timeline.
    pub timeline: Timeline,
    /// The frame rate every rung is encoded at.
    pub frame_rate: FrameRate,
    /// The x264 preset (`ultrafast` ... `veryslow`). `ultrafast` keeps the default four-rung
    /// ladder live on two cores (see docs/benchmarks.md); `veryfast` is the usual choice for a
    /// live ladder on a real server.
    pub preset: String,
}

/// The x264 presets FFmpeg accepts.
pub const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// What one run of the encoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed<'a> {
    /// A source FFmpeg opens itself: the test source, a file, the slate.
    Source(&'a Source),
    /// A push input's media (RTMP, SRT) as the origin's ingest relays it: MPEG-TS, read from
    /// this TCP URL (see [`crate::ingest`]).
    Relay(&'a str),
}

impl Feed<'_> {
    fn input_args(self, width: u32, height: u32, fps: &str) -> Vec<String> {
        match self {
            Feed::Source(source) => source.input_args(width, height, fps),
            // The relay begins with the stream's tables and a keyframe, so a short probe
            // finds every stream's parameters; FFmpeg's default, 5 s of MPEG-TS, would
            // delay the first fragment by as much.
            Feed::Relay(url) => ["-analyzeduration", "500000", "-f", "mpegts", "-i", url]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }

    fn overlay(self, clock_origin_ms: u64) -> Option<String> {
        match self {
            Feed::Source(source) => source.overlay(clock_origin_ms),
            Feed::Relay(_) => None,
        }
    }

    fn audio_input(self) -> usize {
        match self {
            Feed::Source(source) => source.audio_input(),
            Feed::Relay(_) => 0,
        }
    }
}

/// Where the encoder's outputs go: one URL per rung, in ladder order, and one for the audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// One per rung.
    pub video: Vec<String>,
    /// The audio.
    pub audio: String,
}

impl Encoding {
    /// The frame rate as FFmpeg takes it (`30`, `30000/1001`).
    pub fn fps(&self) -> String {
        if self.frame_rate.den == 1 {
            self.frame_rate.num.to_string()
        } else {
            format!("{}/{}", self.frame_rate.num, self.frame_rate.den)
        }
    }

    /// Frames in one segment, rounded to the nearest: the GOP length.
    fn gop(&self) -> u64 {
        let num = u64::from(self.frame_rate.num);
        let den = u64::from(self.frame_rate.den.max(1)) * 1000;
        (self.timeline.segment_ms() * num + den / 2) / den
    }

    /// The whole FFmpeg argument list (without the program name) for encoding `feed` with
    /// the encoder's zero at the Unix instant `origin_ms`, which must be on the frame grid
    /// ([`Timeline::frame_aligned`]), writing to `outputs`.
    pub fn args(&self, feed: Feed<'_>, origin_ms: u64, outputs: &Outputs) -> Vec<String> {
        let mut args: Vec<String> = [
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "level+warning",
            // key=value progress lines on stdout, each second: the supervisor's measure of
            // encode speed and frames, and its stall detector.
            "-progress",
            "pipe:1",
            "-stats_period",
            "1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let top = self
            .ladder
            .rungs()
            .iter()
            .max_by_key(|r| u64::from(r.width) * u64::from(r.height));
        let (width, height) = top.map_or((1280, 720), |r| (r.width, r.height));
        let fps = self.fps();
        args.extend(feed.input_args(width, height, &fps));

        // One decode, a constant frame rate from zero (so the forced keyframes land on the
        // grid whatever the input's timestamps), the overlay, then one branch per rung.
        let rungs = self.ladder.rungs();
        let mut graph = format!("[0:v:0]fps={fps},setpts=N/({fps})/TB");
        if let Some(overlay) = feed.overlay(origin_ms) {
            graph.push(',');
            graph.push_str(&overlay);
            graph.push_str(":font=Mono");
        }
        graph.push_str(&format!(",split={}", rungs.len()));
        for i in 0..rungs.len() {
            graph.push_str(&format!("[s{i}]"));
        }
        for (i, rung) in rungs.iter().enumerate() {
            graph.push_str(&format!(
                ";[s{i}]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p[v{i}]",
                w = rung.width,
                h = rung.height
            ));
        }
        // Audio: resampled to 48 kHz stereo, gaps filled and drift corrected against its own
        // timestamps, from zero.
        graph.push_str(&format!(
            ";[{}:a:0]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo[a]",
            feed.audio_input()
        ));
        args.push("-filter_complex".to_owned());
        args.push(graph);

        let keyframes = self.timeline.force_key_frames(origin_ms);
        let part_us = (self.timeline.part_ms() * 1000).to_string();
        for (i, rung) in rungs.iter().enumerate() {
            args.push("-map".to_owned());
            args.push(format!("[v{i}]"));
            args.extend(self.video_args(rung, &keyframes));
            args.extend(fragmented(&part_us, true));
            args.push(outputs.video.get(i).cloned().unwrap_or_default());
        }
        args.push("-map".to_owned());
        args.push("[a]".to_owned());
        args.extend(
            [
                "-c:a",
                "aac",
                "-b:a",
                &self.audio.bitrate_bps.to_string(),
                "-ac",
                &self.audio.channels.to_string(),
                "-ar",
                "48000",
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        );
        args.extend(fragmented("40000", false));
        args.push(outputs.audio.clone());
        args
    }

    /// One rung's H.264 settings.
    fn video_args(&self, rung: &Rung, keyframes: &str) -> Vec<String> {
        let gop = self.gop().max(1).to_string();
        // The codec string's last byte is level_idc: 31 is level 3.1.
        let level = u32::from_str_radix(
            rung.codec
                .get(rung.codec.len().saturating_sub(2)..)
                .unwrap_or("28"),
            16,
        )
        .unwrap_or(40);
        let level = format!("{}.{}", level / 10, level % 10);
        [
            "-c:v",
            "libx264",
            "-preset",
            &self.preset,
            // No B-frames, no lookahead: a part can leave as soon as its last frame is encoded.
            "-tune",
            "zerolatency",
            "-profile:v",
            "high",
            "-level:v",
            &level,
            "-b:v",
            &rung.average_bps.to_string(),
            "-maxrate",
            &rung.peak_bps.to_string(),
            // A one-second VBV buffer at the peak rate: the peak the playlist announces holds
            // over any second of the stream.
            "-bufsize",
            &rung.peak_bps.to_string(),
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-force_key_frames",
            keyframes,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}

/// Fragmented MP4 (CMAF) output options: an initialisation section with no samples, then a
/// fragment every `frag_us` microseconds (and, for video, at every keyframe), each with its
/// base offset at its own `moof`, and no closing index.
fn fragmented(frag_us: &str, video: bool) -> Vec<String> {
    let flags = if video {
        "+frag_keyframe+empty_moov+default_base_moof+skip_trailer+cmaf"
    } else {
        "+empty_moov+default_base_moof+skip_trailer+cmaf"
    };
    ["-f", "mp4", "-frag_duration", frag_us, "-movflags", flags]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding() -> Encoding {
        Encoding {
            ladder: Ladder::parse("720p,360p", FrameRate::DEFAULT).unwrap(),
            audio: Audio::default(),
            timeline: Timeline::new(2000, 500).unwrap(),
            frame_rate: FrameRate::DEFAULT,
            preset: "ultrafast".to_owned(),
        }
    }

    fn outputs() -> Outputs {
        Outputs {
            video: vec!["tcp://127.0.0.1:1/".into(), "tcp://127.0.0.1:2/".into()],
            audio: "tcp://127.0.0.1:3/".into(),
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn every_rung_gets_its_own_output_with_one_segment_gops_forced_onto_the_grid() {
        let args = encoding().args(Feed::Source(&Source::Test), 1_767_225_600_700, &outputs());
        assert_eq!(after(&args, "-g"), vec!["60", "60"]);
        assert_eq!(after(&args, "-sc_threshold"), vec!["0", "0"]);
        let forced = Timeline::new(2000, 500)
            .unwrap()
            .force_key_frames(1_767_225_600_700);
        assert_eq!(after(&args, "-force_key_frames"), vec![forced.as_str(); 2]);
        assert_eq!(
            after(&args, "-frag_duration"),
            vec!["500000", "500000", "40000"]
        );
        assert_eq!(after(&args, "-b:v"), vec!["3000000", "800000"]);
        assert_eq!(after(&args, "-level:v"), vec!["3.1", "3.0"]);
        // Outputs last, in ladder order, audio after the rungs.
        let outputs: Vec<&str> = args
            .iter()
            .filter(|a| a.starts_with("tcp://"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            outputs,
            vec![
                "tcp://127.0.0.1:1/",
                "tcp://127.0.0.1:2/",
                "tcp://127.0.0.1:3/"
            ]
        );
    }

    #[test]
    fn the_filter_graph_decodes_once_and_scales_each_rung_from_it() {
        let args = encoding().args(Feed::Source(&Source::Test), 0, &outputs());
        let graph = after(&args, "-filter_complex")[0];
        assert_eq!(graph.matches("split=2").count(), 1);
        assert!(graph.contains("[s0]scale=1280:720"));
        assert!(graph.contains("[s1]scale=640:360"));
        assert!(
            graph.contains("drawtext="),
            "the test source's clock: {graph}"
        );
        assert!(graph.contains("[1:a:0]aresample=48000"));
        let file = encoding().args(Feed::Source(&Source::File("/m.mp4".into())), 0, &outputs());
        let graph = after(&file, "-filter_complex")[0];
        assert!(!graph.contains("drawtext="));
        assert!(graph.contains("[0:a:0]aresample"));
        assert_eq!(after(&file, "-stream_loop"), vec!["-1"]);
    }

    #[test]
    fn a_push_input_is_read_from_the_ingests_relay_as_mpeg_ts() {
        let args = encoding().args(Feed::Relay("tcp://127.0.0.1:9/"), 0, &outputs());
        assert_eq!(
            args.windows(6).find(|w| w[4] == "-i").map(|w| w.join(" ")),
            Some("-analyzeduration 500000 -f mpegts -i tcp://127.0.0.1:9/".to_owned())
        );
        assert_eq!(args.iter().filter(|a| *a == "-i").count(), 1);
        let graph = after(&args, "-filter_complex")[0];
        assert!(graph.contains("[0:a:0]aresample") && !graph.contains("drawtext="));
    }

    #[test]
    fn a_non_integer_frame_rate_is_passed_as_a_ratio_and_rounds_the_gop() {
        let mut e = encoding();
        e.frame_rate = FrameRate {
            num: 30000,
            den: 1001,
        };
        assert_eq!(e.fps(), "30000/1001");
        assert_eq!(e.gop(), 60);
    }
}
