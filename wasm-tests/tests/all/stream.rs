//! A few seconds of a real HLS stream, made by FFmpeg once per test run: H.264 and AAC in CMAF
//! (fragmented MP4) segments, a media playlist and FFmpeg's own multivariant playlist, laid out
//! as the origin serves them (`live/final-2026/...`). Segment numbers start where the cases'
//! epoch-locked numbers are (`seg-883606687.m4s`).
#![cfg(test)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The directory the origin serves at `/`, made on first use.
pub fn dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(make).clone()
}

fn make() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stream");
    let event = root.join("live/final-2026");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&event).unwrap();
    let run = Command::new("ffmpeg")
        .current_dir(&event)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "6", "-map", "0:v", "-map", "1:a"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
        ])
        .args([
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_playlist_type",
            "vod",
        ])
        .args([
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            "init.mp4",
        ])
        .args([
            "-start_number",
            "883606686",
            "-var_stream_map",
            "v:0,a:0,name:720p",
        ])
        .args([
            "-master_pl_name",
            "master.m3u8",
            "-hls_segment_filename",
            "%v/seg-%d.m4s",
        ])
        .arg("%v/index.m3u8")
        .status()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): make test installs it (apt)"));
    assert!(run.success(), "ffmpeg failed: {run}");
    root
}
