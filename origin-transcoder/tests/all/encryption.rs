//! An encrypted channel on real FFmpeg: its playlists name a key per period, its segments and
//! parts are AES-128-CBC as RFC 8216 §5.2 says (checked by decrypting them with the openssl
//! command line, an implementation other than the origin's), and the key that opens them is
//! the one derived from the master secret, as the edge derives it when it serves the key.
#![cfg(test)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use usher_origin::encryption::Encryption;
use usher_origin::source::Source;
use usher_origin::timeline::Timeline;
use usher_shared::content_key::{ContentKeys, MasterKey};

use crate::origin::{Origin, live, spec};

/// The conformance configuration's `final-k1` (edge/core/tests/conformance/config).
const CONTENT_KEYS: &[u8] =
    br#"{"final-k1": "5ec2e7c0de5ec2e7c0de5ec2e7c0de5ec2e7c0de5ec2e7c0de5ec2e7c0de5ec2"}"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `cipher` decrypted by `openssl enc -d -aes-128-cbc`, or openssl's complaint.
fn openssl_decrypt(dir: &Path, cipher: &[u8], key: &[u8], iv: u64) -> Result<Vec<u8>, String> {
    let input = dir.join("cipher.bin");
    let output = dir.join("plain.bin");
    std::fs::write(&input, cipher).unwrap();
    let out = Command::new("openssl")
        .args(["enc", "-d", "-aes-128-cbc", "-K", &hex(key)])
        .args(["-iv", &format!("{:032x}", u128::from(iv))])
        .arg("-in")
        .arg(&input)
        .arg("-out")
        .arg(&output)
        .output()
        .expect("openssl (Debian's openssl package)");
    if out.status.success() {
        Ok(std::fs::read(&output).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The number of video packets ffprobe reads from `init` + `media`, or its complaint.
fn packets(dir: &Path, init: &[u8], media: &[u8]) -> Result<usize, String> {
    let path = dir.join("probe.mp4");
    std::fs::write(&path, [init, media].concat()).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=pts", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe");
    let count = String::from_utf8_lossy(&out.stdout).lines().count();
    if out.status.success() && count > 0 {
        Ok(count)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// For each segment (by number) listed in `playlist`, the key URI in force.
fn keys_in_force(playlist: &str) -> Vec<(u64, Option<String>)> {
    let mut key = None;
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-KEY:") {
            key = attrs
                .split("URI=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned);
        } else if !line.starts_with('#')
            && let Some(msn) = line.strip_suffix(".m4s").and_then(|n| n.parse().ok())
        {
            out.push((msn, key.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_channel_is_useless_without_its_key_and_plays_with_the_derived_one() {
    let _live = live().await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("encryption");
    std::fs::create_dir_all(&dir).unwrap();
    let keys = ContentKeys::from_json(CONTENT_KEYS).unwrap();
    let master: MasterKey = keys.get("final-k1").unwrap().clone();
    let mut channel = spec("final", Source::Test, "360p");
    // 1 s segments and a new key every two of them, so a few seconds cross a rotation.
    channel.encoding.timeline = Timeline::new(1000, 500).unwrap();
    channel.encryption = Some(
        Encryption::new(
            "final-k1",
            master.clone(),
            Duration::from_secs(2),
            &channel.encoding.timeline,
        )
        .unwrap(),
    );
    let mut origin = Origin::start_with("encryption", "a", vec![channel]).await;
    origin.wait_segments("360p", 4).await;
    let playlist = origin.get("/final/360p/index.m3u8").await.text();

    // Every segment is under the key of its period, named below the channel's keys/.
    let listed = keys_in_force(&playlist);
    assert!(listed.len() >= 4, "{playlist}");
    for (msn, key) in &listed {
        let want = format!("../keys/final-k1/{}.key", msn / 2);
        assert_eq!(key.as_deref(), Some(want.as_str()), "{msn}: {playlist}");
    }
    // The init section is declared before any key, and is served in the clear.
    let map = playlist.find("#EXT-X-MAP").unwrap();
    assert!(map < playlist.find("#EXT-X-KEY").unwrap(), "{playlist}");
    let init = origin.get("/final/360p/init.mp4").await.body;
    assert_eq!(&init[4..8], b"ftyp");
    // The origin serves no keys: the edge makes them.
    assert_eq!(origin.get("/final/keys/final-k1/1.key").await.status, 404);

    let (msn, _) = *listed.last().unwrap();
    let segment = origin.get(&format!("/final/360p/{msn}.m4s")).await.body;
    assert_eq!(segment.len() % 16, 0, "whole AES blocks");
    let plain_error = packets(&dir, &init, &segment);
    assert!(
        plain_error.is_err(),
        "an encrypted segment must not play: {plain_error:?}"
    );

    let key = master.derive("final-k1", msn / 2);
    let plain = openssl_decrypt(&dir, &segment, &key, msn).expect("decrypts with the derived key");
    let count = packets(&dir, &init, &plain).expect("the decrypted segment plays");
    assert_eq!(count, 30, "1 s at 30 fps");
    // The neighbouring period's key does not open it.
    let wrong = master.derive("final-k1", msn / 2 + 1);
    let opened = openssl_decrypt(&dir, &segment, &wrong, msn)
        .ok()
        .and_then(|p| packets(&dir, &init, &p).ok());
    assert_eq!(
        opened, None,
        "another period's key must not open segment {msn}"
    );

    // A part is its own message, under its segment's key and IV.
    let part = origin.get(&format!("/final/360p/{msn}.0.m4s")).await;
    assert_eq!(part.status, 200, "part 0 of {msn}");
    let part_plain =
        openssl_decrypt(&dir, &part.body, &key, msn).expect("the part decrypts on its own");
    assert!(
        part_plain.len() > 8 && plain.starts_with(&part_plain[..part_plain.len().min(4096)]),
        "the first part is the start of its segment"
    );
    origin.shut().await;
}
