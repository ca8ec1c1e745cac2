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
