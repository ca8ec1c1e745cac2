//! The packager on a real encoder: FFmpeg forcing keyframes on the epoch grid, cut into parts
//! and segments, checked with ffprobe.
#![cfg(test)]

use std::path::PathBuf;
use std::process::Command;

use usher_origin::cmaf::{Init, Splitter};
use usher_origin::package::{Packager, Published};
use usher_origin::timeline::Timeline;

#[test]
fn an_encoder_started_mid_segment_yields_whole_epoch_aligned_segments_of_equal_parts() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("package-ffmpeg");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // 2 s segments of five 400 ms parts (10 frames at 25 fps); the encoder starts 0.7 s into
    // a segment, its zero moved onto the 25 fps frame grid (0.72 s).
    let line = Timeline::new(2000, 400).unwrap();
    let origin_ms = Timeline::frame_aligned(1_767_225_600_700, 25, 1);
    let status = Command::new("ffmpeg")
        .current_dir(&dir)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=25",
            "-t",
            "7",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "1000", "-sc_threshold", "0"])
        .args(["-force_key_frames", &line.force_key_frames(origin_ms)])
        .args(["-f", "mp4", "-frag_duration", "400000"])
        .args([
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "out.mp4",
        ])
        .status()
        .expect("ffmpeg (make test installs it)");
    assert!(status.success());
    let bytes = std::fs::read(dir.join("out.mp4")).unwrap();
    let boxes = Splitter::new().push(&bytes).unwrap();
    let init_bytes = boxes[..2].concat();
    let init = Init::parse(&init_bytes).unwrap();
    let track = init.tracks[0].id;
    let scale = u64::from(init.tracks[0].timescale);
    let mut packager = Packager::new(line, &init, track, origin_ms).unwrap();
    let mut published = Vec::new();
    // moof, mdat, moof, mdat, ... and FFmpeg's closing mfra.
    let fragments: Vec<Vec<u8>> = boxes[2..]
        .iter()
        .filter(|b| &b[4..8] != b"mfra")
        .cloned()
        .collect();
    for pair in fragments.chunks(2) {
        published.extend(packager.push(&init, pair.concat()).unwrap());
    }
    let segments: Vec<_> = published
        .iter()
        .filter_map(|p| match p {
            Published::Segment(s) => Some(s),
            Published::Part(_) => None,
        })
        .collect();
    let first = line.first_whole_segment(origin_ms);
    assert_eq!(segments.first().map(|s| s.msn), Some(first));
    assert!(segments.len() >= 2, "{} whole segments", segments.len());
    for (i, segment) in segments.iter().enumerate() {
        assert_eq!(segment.msn, first + i as u64);
        assert_eq!(segment.parts, 5, "segment {}", segment.msn);
        assert_eq!(segment.duration, 2 * scale, "segment {}", segment.msn);
        // Each segment, after the init section, starts at its epoch instant on a keyframe.
        let path = dir.join(format!("{}.mp4", segment.msn));
        std::fs::write(&path, [init_bytes.clone(), segment.bytes.clone()].concat()).unwrap();
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "packet=dts_time,flags"])
            .args(["-of", "csv=p=0", "-read_intervals", "%+#1"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&probe.stdout);
        let mut fields = text.lines().next().unwrap().split(',');
        let dts: f64 = fields.next().unwrap().parse().unwrap();
        let want = line.segment_start_ms(segment.msn) as f64 / 1000.0;
        assert!(
            (dts - want).abs() < 0.001,
            "segment {} starts at {dts}, not {want}",
            segment.msn
        );
        assert!(
            fields.next().unwrap().starts_with('K'),
            "segment {} starts without a keyframe",
            segment.msn
        );
    }
}
