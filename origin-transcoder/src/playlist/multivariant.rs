//! The multivariant playlist of a channel (RFC 8216bis §4.4.6): one `EXT-X-STREAM-INF` per
//! rung of the ladder, all sharing one audio rendition.

use core::fmt::{self, Write as _};

use super::naming::{Naming, safe_path};
use super::value::quotable;
use crate::ladder::{Audio, Ladder};

/// Why a multivariant playlist cannot be written: a field of the audio rendition cannot be
/// written where it goes. (A [`Ladder`] is checked when it is made.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultivariantError {
    /// The audio group id is not a path-safe name (it is also the audio rendition's directory).
    GroupId,
    /// The audio rendition's name or language is empty or cannot be quoted (§4.2).
    Text(&'static str),
    /// The audio codec string is empty or holds more than letters, digits and dots.
    Codec,
    /// The audio bitrate or channel count is zero.
    Audio,
}

impl fmt::Display for MultivariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultivariantError::GroupId => write!(
                f,
                "the audio group id must be a plain name (A-Z a-z 0-9 . _ ~ -)"
            ),
            MultivariantError::Text(what) => {
                write!(
                    f,
                    "the audio {what} is empty or holds a quote or control character"
                )
            }
            MultivariantError::Codec => write!(f, "the audio codec must be like mp4a.40.2"),
            MultivariantError::Audio => {
                write!(f, "the audio bitrate and channel count must be above zero")
            }
        }
    }
}

impl std::error::Error for MultivariantError {}

/// The multivariant playlist of a channel whose renditions are laid out by `naming`: each in a
/// directory named after its rung (or the audio's group id), beside the multivariant playlist.
///
/// No `EXT-X-VERSION` is written: no tag or attribute used here needs more than version 1
/// (§8), and a playlist without it is version 1 (§4.4.1.2). `EXT-X-INDEPENDENT-SEGMENTS`
/// (§4.4.2.1) holds because every rung's encoder is made to put an IDR frame at every segment
/// boundary of the timeline, and every AAC frame is independent.
pub fn multivariant(
    ladder: &Ladder,
    audio: &Audio,
    naming: &Naming,
) -> Result<String, MultivariantError> {
    if !safe_path(&audio.group_id) || audio.group_id.contains('/') {
        return Err(MultivariantError::GroupId);
    }
    if audio.name.is_empty() || !quotable(&audio.name) {
        return Err(MultivariantError::Text("name"));
    }
    if audio
        .language
        .as_deref()
        .is_some_and(|l| l.is_empty() || !quotable(l))
    {
        return Err(MultivariantError::Text("language"));
    }
    if audio.codec.is_empty()
        || !audio
            .codec
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
    {
        return Err(MultivariantError::Codec);
    }
    if audio.bitrate_bps == 0 || audio.channels == 0 {
        return Err(MultivariantError::Audio);
    }

    let mut out = String::with_capacity(200 + 200 * ladder.rungs().len());
    // Writing to a String cannot fail.
    let _ = write_playlist(&mut out, ladder, audio, naming);
    Ok(out)
}

fn write_playlist(
    out: &mut String,
    ladder: &Ladder,
    audio: &Audio,
    naming: &Naming,
) -> fmt::Result {
    writeln!(out, "#EXTM3U")?;
    writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS")?;
    // §4.4.6.1: the one audio rendition, the default and automatically selected member of its
    // group. CHANNELS is a quoted-string whose first parameter is the channel count.
    write!(
        out,
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\"",
        audio.group_id, audio.name
    )?;
    if let Some(language) = &audio.language {
        write!(out, ",LANGUAGE=\"{language}\"")?;
    }
    writeln!(
        out,
        ",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}\"",
        audio.channels,
        naming.from_channel(&audio.group_id)
    )?;
    for rung in ladder.rungs() {
        // §4.4.6.2: BANDWIDTH is the peak bitrate of the whole variant, so of video and audio
        // together, as AVERAGE-BANDWIDTH is their average; CODECS names every format in it.
        writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{},{}\",RESOLUTION={}x{},FRAME-RATE={},AUDIO=\"{}\"",
            rung.peak_bps.saturating_add(audio.bitrate_bps),
            rung.average_bps.saturating_add(audio.bitrate_bps),
            rung.codec,
            audio.codec,
            rung.width,
            rung.height,
            rung.frame_rate,
            audio.group_id,
        )?;
        writeln!(out, "{}", naming.from_channel(&rung.name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::playlist::golden;
    use usher_shared::playlist::{Playlist, PlaylistKind};

    use super::*;
    use crate::ladder::FrameRate;

    fn english() -> Audio {
        Audio {
            name: "English".to_owned(),
            language: Some("en".to_owned()),
            ..Audio::default()
        }
    }

    #[test]
    fn the_default_ladder_announces_each_rung_with_audio_counted_in_its_bandwidth() {
        let text = multivariant(&Ladder::default(), &english(), &Naming::default()).unwrap();
        golden::check(
            "the_default_ladder_announces_each_rung_with_audio_counted_in_its_bandwidth",
            &text,
        );
    }

    #[test]
    fn a_multivariant_playlist_reads_back_with_both_parsers() {
        let ladder = Ladder::parse(
            "1280x720@2500k,640x360",
            FrameRate {
                num: 30_000,
                den: 1001,
            },
        )
        .unwrap();
        let text = multivariant(&ladder, &Audio::default(), &Naming::default()).unwrap();
        let playlist = Playlist::parse(text.as_bytes()).unwrap();
        assert_eq!(playlist.kind(), PlaylistKind::Multivariant);
        assert_eq!(playlist.variant_count(), 2);
        let uris: Vec<_> = playlist.uris().map(|u| (u.uri, u.tag)).collect();
        assert_eq!(
            uris,
            [
                ("audio/index.m3u8", Some("EXT-X-MEDIA")),
                ("720p/index.m3u8", None),
                ("360p/index.m3u8", None),
            ]
        );
        let typed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MasterPlaylist(master)) => master,
            other => panic!("m3u8-rs reads no multivariant playlist: {other:?}"),
        };
        assert!(typed.independent_segments);
        let [audio] = typed.alternatives.as_slice() else {
            panic!("one audio rendition: {:?}", typed.alternatives);
        };
        assert_eq!(audio.media_type, m3u8_rs::AlternativeMediaType::Audio);
        assert_eq!(
            (audio.group_id.as_str(), audio.name.as_str()),
            ("audio", "Main")
        );
        assert!(audio.default && audio.autoselect && audio.language.is_none());
        for (variant, rung) in typed.variants.iter().zip(ladder.rungs()) {
            assert_eq!(variant.bandwidth, rung.peak_bps + 128_000);
            assert_eq!(variant.average_bandwidth, Some(rung.average_bps + 128_000));
            assert_eq!(
                variant.codecs.as_deref(),
                Some(format!("{},mp4a.40.2", rung.codec).as_str())
            );
            let resolution = variant.resolution.unwrap();
            assert_eq!(
                (resolution.width, resolution.height),
                (u64::from(rung.width), u64::from(rung.height))
            );
            assert_eq!(variant.frame_rate, Some(29.97));
            assert_eq!(variant.audio.as_deref(), Some("audio"));
        }
        assert_eq!(typed.variants[0].bandwidth, 2_750_000 + 128_000);
        // 640x360 without a bitrate: 0.1 bit per pixel per frame at 29.97 fps, 0.7 Mbit/s.
        assert_eq!(typed.variants[1].average_bandwidth, Some(700_000 + 128_000));
    }

    #[test]
    fn audio_fields_that_cannot_be_written_are_refused() {
        let ladder = Ladder::default();
        let naming = Naming::default();
        let with = |change: fn(&mut Audio)| {
            let mut audio = english();
            change(&mut audio);
            multivariant(&ladder, &audio, &naming)
        };
        assert_eq!(
            with(|a| a.group_id = "a/b".to_owned()),
            Err(MultivariantError::GroupId)
        );
        assert_eq!(
            with(|a| a.group_id = "a b".to_owned()),
            Err(MultivariantError::GroupId)
        );
        assert_eq!(
            with(|a| a.name = "say \"hi\"".to_owned()),
            Err(MultivariantError::Text("name"))
        );
        assert_eq!(
            with(|a| a.language = Some(String::new())),
            Err(MultivariantError::Text("language"))
        );
        assert_eq!(
            with(|a| a.codec = "mp4a.40.2,avc1".to_owned()),
            Err(MultivariantError::Codec)
        );
        assert_eq!(with(|a| a.channels = 0), Err(MultivariantError::Audio));
        assert!(with(|a| a.name = "Français (commentaire)".to_owned()).is_ok());
    }
}
