//! The fragmented MP4 reader and rewriter on what FFmpeg really writes, checked against
//! FFmpeg's own HLS muxer and ffprobe.
#![cfg(test)]

use std::path::{Path, PathBuf};
use std::process::Command;

use usher_origin::cmaf::{Fragment, Init, Media, Splitter, rewrite};
use usher_origin::timeline::Timeline;

fn dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ffmpeg(cwd: &Path, args: &[&str]) {
    let status = Command::new("ffmpeg")
        .current_dir(cwd)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "4",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac"])
        .args(args)
        .status()
        .expect("ffmpeg (make test installs it)");
    assert!(status.success());
}

/// Four seconds of H.264 and AAC as one fragmented MP4 stream, as an encoder pipes it, split
/// into its top-level boxes.
fn fragmented(dir: &Path) -> Vec<Vec<u8>> {
    ffmpeg(
        dir,
        &[
            "-f",
            "mp4",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "out.mp4",
        ],
    );
    let bytes = std::fs::read(dir.join("out.mp4")).unwrap();
    let mut splitter = Splitter::new();
    let boxes: Vec<Vec<u8>> = bytes
        .chunks(4093)
        .flat_map(|chunk| splitter.push(chunk).unwrap())
        .collect();
    assert_eq!(splitter.pending(), 0);
    boxes
}

#[test]
fn codec_strings_match_what_ffmpegs_own_hls_muxer_advertises() {
    let dir = dir("cmaf-codecs");
    let boxes = fragmented(&dir);
    let init = Init::parse(&boxes[..2].concat()).unwrap();
    ffmpeg(
        &dir,
        &[
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
            "-master_pl_name",
            "master.m3u8",
            "-var_stream_map",
            "v:0,a:0",
            "hls_%v.m3u8",
        ],
    );
    let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    let theirs = master
        .split("CODECS=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let ours: Vec<&str> = init.tracks.iter().map(|t| t.codec.as_str()).collect();
    assert_eq!(ours.join(","), theirs);
    assert_eq!(
        init.tracks[0].media,
        Media::Video {
            width: 640,
            height: 360
        }
    );
    assert_eq!(
        init.tracks[1].media,
        Media::Audio {
            channels: 1,
            sample_rate: 48_000
        }
    );
}

#[test]
fn every_fragment_starts_on_a_keyframe_and_decode_times_run_on_without_gaps() {
    let dir = dir("cmaf-fragments");
    let boxes = fragmented(&dir);
    let init = Init::parse(&boxes[..2].concat()).unwrap();
    let video = &init.tracks[0];
    let fragments: Vec<Fragment> = boxes
        .iter()
        .filter(|b| &b[4..8] == b"moof")
        .map(|b| Fragment::parse(b, &init).unwrap())
        .collect();
    assert!(fragments.len() >= 4, "{} fragments", fragments.len());
    let mut next = 0;
    let mut total = 0;
    for fragment in &fragments {
        let run = fragment
            .runs
            .iter()
            .find(|r| r.track_id == video.id)
            .unwrap();
        assert!(
            run.starts_with_sync,
            "fragment {} starts mid-GOP",
            fragment.sequence
        );
        assert_eq!(run.decode_time, next);
        next = run.decode_time + run.duration;
        total += run.samples;
    }
    // 4 s at 25 frames per second. FFmpeg gives the last frame a duration of its own
    // choosing, so the total is 4 s and at most one more frame.
    assert_eq!(total, 100);
    let (four, frame) = (
        4 * u64::from(video.timescale),
        u64::from(video.timescale) / 25,
    );
    assert!(
        (four..=four + frame).contains(&next),
        "{next} ticks for 4 s at {}",
        video.timescale
    );
}

#[test]
fn fragments_moved_onto_the_epoch_grid_play_from_the_epoch_time_in_ffprobe() {
    let dir = dir("cmaf-rewrite");
    let boxes = fragmented(&dir);
    let init = Init::parse(&boxes[..2].concat()).unwrap();
    let line = Timeline::new(2000, 500).unwrap();
    let start_ms = line.segment_start_ms(line.first_whole_segment(1_767_225_600_123));
    let mut out = boxes[..2].concat();
    let mut sequence = 1000;
    for pair in boxes[2..].chunks(2) {
        let mut moof = pair[0].clone();
        if &moof[4..8] != b"moof" {
            continue;
        }
        let fragment = Fragment::parse(&moof, &init).unwrap();
        rewrite(&mut moof, sequence, |track| {
            let scale = init.track(track).unwrap().timescale;
            let run = fragment.runs.iter().find(|r| r.track_id == track).unwrap();
            Timeline::media_time(start_ms, scale) + run.decode_time
        })
        .unwrap();
        assert_eq!(Fragment::parse(&moof, &init).unwrap().sequence, sequence);
        sequence += 1;
        out.extend_from_slice(&moof);
        out.extend_from_slice(pair.get(1).unwrap());
    }
    std::fs::write(dir.join("epoch.mp4"), &out).unwrap();
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=dts_time",
        ])
        .args(["-of", "csv=p=0", "-read_intervals", "%+#1"])
        .arg(dir.join("epoch.mp4"))
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let first: f64 = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (first - start_ms as f64 / 1000.0).abs() < 0.001,
        "first dts {first}, epoch start {start_ms} ms"
    );
}
