//! What a channel is encoded from: the `--source` argument, and the FFmpeg input that reads it.
//!
//! Four kinds, as a broadcaster or a test sends them:
//!
//! * `test`: a generated source (a moving test pattern, a tone, and the wall clock burned in
//!   to the millisecond, from which glass-to-glass latency is read off a player's screen);
//! * `file:PATH`: a file, looped forever and read at its own pace (`-re`), as a live source;
//! * `rtmp://HOST:PORT/APP/KEY`: an RTMP push (what OBS and most hardware encoders send). The
//!   origin listens; a publisher whose stream key (its publish name) is not `KEY` is refused
//!   by the origin's ingest ([`crate::ingest`]): FFmpeg's RTMP listener would only warn;
//! * `srt://HOST:PORT[?passphrase=...]`: an SRT push, the origin in listener mode. The
//!   passphrase is the SRT stream key: a caller with another one fails the handshake (SRT's
//!   own encryption check), and one without a passphrase is not accepted when it is set.
//!
//! And one the origin uses on its own: slate, a still card and silence, encoded when no input
//! is healthy so that playlists keep advancing and a player shows "please stand by" rather
//! than a black screen.
//!
//! A push source's secret (the RTMP stream key, the SRT passphrase) is cut from everything
//! printed of it ([`Source`]'s `Display` and `Debug`, [`Source::redact`] for FFmpeg's lines).

use core::fmt;
use core::str::FromStr;
use std::path::PathBuf;

/// A channel's input.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// The generated test source.
    Test,
    /// A file, looped.
    File(PathBuf),
    /// An RTMP push to this listen URL (`rtmp://host:port/app/key`).
    Rtmp(String),
    /// An SRT push to this listen URL (`srt://host:port?...`).
    Srt(String),
    /// The origin's slate: a still card and silence.
    Slate,
}

impl fmt::Debug for Source {
    /// The URL of a push source holds its stream key or passphrase: both are cut.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Source {
    /// As `--source` takes it, with a push source's secret (RTMP stream key, SRT passphrase)
    /// replaced by `***`: a source is printed in logs and errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Test => write!(f, "test"),
            Source::File(path) => write!(f, "file:{}", path.display()),
            Source::Rtmp(url) => match url.rsplit_once('/') {
                Some((base, _key)) => write!(f, "{base}/***"),
                None => write!(f, "rtmp://***"),
            },
            Source::Srt(url) => match url.split_once('?') {
                Some((base, _)) => write!(f, "{base}?***"),
                None => write!(f, "{url}"),
            },
            Source::Slate => write!(f, "slate"),
        }
    }
}

/// Why a `--source` cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// Not one of the four forms.
    Unknown,
    /// `file:` with no path.
    EmptyPath,
    /// An RTMP URL without `host:port/app/key`.
    RtmpShape,
    /// An SRT URL without `host:port`.
    SrtShape,
    /// The URL holds a character FFmpeg would take as syntax (whitespace, a quote or a
    /// control character).
    Character,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Unknown => write!(
                f,
                "a source is test, file:PATH, rtmp://HOST:PORT/APP/KEY or srt://HOST:PORT"
            ),
            SourceError::EmptyPath => write!(f, "file: needs a path (file:match.mp4)"),
            SourceError::RtmpShape => write!(
                f,
                "an RTMP source is rtmp://HOST:PORT/APP/KEY, where the origin listens and KEY is the stream key"
            ),
            SourceError::SrtShape => write!(f, "an SRT source is srt://HOST:PORT[?passphrase=...]"),
            SourceError::Character => {
                write!(
                    f,
                    "a source URL may not hold spaces, quotes or control characters"
                )
            }
        }
    }
}

impl std::error::Error for SourceError {}

impl FromStr for Source {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "test" {
            return Ok(Source::Test);
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(SourceError::EmptyPath);
            }
            return Ok(Source::File(PathBuf::from(path)));
        }
        let plain = |url: &str| {
            url.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '\'' && c != '"')
        };
        if let Some(rest) = text.strip_prefix("rtmp://") {
            if !plain(text) {
                return Err(SourceError::Character);
            }
            // host:port / app / key, each part non-empty.
            let mut parts = rest.splitn(3, '/');
            let (Some(host), Some(app), Some(key)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(SourceError::RtmpShape);
            };
            if !host.contains(':') || app.is_empty() || key.is_empty() || key.contains('/') {
                return Err(SourceError::RtmpShape);
            }
            return Ok(Source::Rtmp(text.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("srt://") {
            if !plain(text) {
                return Err(SourceError::Character);
            }
            let host = rest.split('?').next().unwrap_or_default();
            if !host.contains(':') {
                return Err(SourceError::SrtShape);
            }
            return Ok(Source::Srt(text.to_owned()));
        }
        Err(SourceError::Unknown)
    }
}

impl Source {
    /// Whether this source is a push the origin waits for (a broadcaster may connect late, or
    /// drop and come back), rather than one it reads at will.
    pub fn is_push(&self) -> bool {
        matches!(self, Source::Rtmp(_) | Source::Srt(_))
    }

    /// The FFmpeg input options for this source: input 0 carries its video, and its audio is
    /// at `audio_input()`. `width`x`height` at `fps` is what generated sources are made at
    /// (the ladder's top rung). For a push source, the listener that the ingest runs
    /// ([`crate::ingest`]); the encoder reads what the ingest relays.
    pub fn input_args(&self, width: u32, height: u32, fps: &str) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Source::Test => {
                args.extend(owned(&["-re", "-f", "lavfi", "-i"]));
                args.push(format!("testsrc2=size={width}x{height}:rate={fps}"));
                args.extend(owned(&["-re", "-f", "lavfi", "-i"]));
                args.push("sine=frequency=440:beep_factor=4:sample_rate=48000".to_owned());
            }
            Source::Slate => {
                args.extend(owned(&["-re", "-f", "lavfi", "-i"]));
                args.push(format!("color=c=0x202a44:size={width}x{height}:rate={fps}"));
                args.extend(owned(&["-re", "-f", "lavfi", "-i"]));
                args.push("anullsrc=channel_layout=stereo:sample_rate=48000".to_owned());
            }
            Source::File(path) => {
                args.extend(owned(&["-stream_loop", "-1", "-re", "-i"]));
                args.push(path.display().to_string());
            }
            Source::Rtmp(url) => {
                // FFmpeg's own RTMP server takes one publisher, and only warns ("Unexpected
                // stream NAME, expecting KEY") when the publish name is not the URL's last
                // path segment. So it is given none: the key never reaches FFmpeg (nor its
                // command line, nor its error lines), every publisher's name is warned
                // about, and the ingest accepts the one whose name is the key.
                let base = url
                    .rsplit_once('/')
                    .map_or(url.as_str(), |(base, _key)| base);
                args.extend(owned(&["-listen", "1", "-i"]));
                args.push(format!("{base}/"));
            }
            Source::Srt(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                args.extend(owned(&["-i"]));
                args.push(format!("{url}{sep}mode=listener"));
            }
        }
        args
    }

    /// The secret a publisher must present: the RTMP stream key, or the SRT passphrase
    /// (`None` for other sources, and for an SRT source without a passphrase).
    pub fn secret(&self) -> Option<&str> {
        match self {
            Source::Rtmp(url) => url.rsplit_once('/').map(|(_, key)| key),
            Source::Srt(url) => url
                .split_once('?')
                .and_then(|(_, query)| {
                    query
                        .split('&')
                        .find_map(|pair| pair.strip_prefix("passphrase="))
                })
                .filter(|p| !p.is_empty()),
            Source::Test | Source::File(_) | Source::Slate => None,
        }
    }

    /// `text` with this source's secret replaced by `***`: FFmpeg names its input URL, key
    /// and passphrase included, in its error lines, and those lines are logged and shown in
    /// `/healthz`.
    pub fn redact(&self, text: &str) -> String {
        match self.secret() {
            Some(secret) => text.replace(secret, "***"),
            None => text.to_owned(),
        }
    }

    /// The input index holding this source's audio: the generated sources have it in a second
    /// input; the others carry it in the first.
    pub fn audio_input(&self) -> usize {
        match self {
            Source::Test | Source::Slate => 1,
            Source::File(_) | Source::Rtmp(_) | Source::Srt(_) => 0,
        }
    }

    /// The text burned into the picture, as a `drawtext` filter (without the font, which the
    /// caller adds), if the source has any: the test source's wall clock (UTC, to the
    /// millisecond, counted from the encoder's zero) and the slate's card.
    pub fn overlay(&self, clock_origin_ms: u64) -> Option<String> {
        match self {
            Source::Test => {
                // drawtext's `pts:hms:OFFSET` prints the frame's time plus OFFSET seconds as
                // HH:MM:SS.mmm: with the offset the encoder's zero as a time of day, that is
                // the UTC wall clock the frame stands for.
                let day_ms = clock_origin_ms % 86_400_000;
                Some(format!(
                    "drawtext=text='%{{pts\\:hms\\:{}.{:03}}} UTC':fontsize=h/12:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12:x=(w-tw)/2:y=h-th-h/10",
                    day_ms / 1000,
                    day_ms % 1000
                ))
            }
            Source::Slate => Some(
                "drawtext=text='Please stand by':fontsize=h/10:fontcolor=white:x=(w-tw)/2:y=(h-th)/2"
                    .to_owned(),
            ),
            Source::File(_) | Source::Rtmp(_) | Source::Srt(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_source_parses_and_prints_back_without_its_secret() {
        assert_eq!("test".parse::<Source>(), Ok(Source::Test));
        assert_eq!(
            "file:/media/match.mp4".parse::<Source>(),
            Ok(Source::File(PathBuf::from("/media/match.mp4")))
        );
        let rtmp: Source = "rtmp://0.0.0.0:1935/live/s3cret".parse().unwrap();
        assert_eq!(rtmp.to_string(), "rtmp://0.0.0.0:1935/live/***");
        assert!(!format!("{rtmp:?}").contains("s3cret"));
        let srt: Source = "srt://0.0.0.0:9000?passphrase=longsecretphrase"
            .parse()
            .unwrap();
        assert_eq!(srt.to_string(), "srt://0.0.0.0:9000?***");
        assert!(!format!("{srt:?}").contains("longsecret"));
    }

    #[test]
    fn a_push_sources_secret_is_redacted_from_ffmpegs_lines() {
        let rtmp: Source = "rtmp://0.0.0.0:1935/live/s3cret".parse().unwrap();
        assert_eq!(rtmp.secret(), Some("s3cret"));
        assert_eq!(
            rtmp.redact("[error] rtmp://0.0.0.0:1935/live/s3cret: Input/output error"),
            "[error] rtmp://0.0.0.0:1935/live/***: Input/output error"
        );
        let srt: Source = "srt://0.0.0.0:9000?latency=200&passphrase=longsecretphrase"
            .parse()
            .unwrap();
        assert_eq!(srt.secret(), Some("longsecretphrase"));
        let line = "[error] srt://0.0.0.0:9000?latency=200&passphrase=longsecretphrase&mode=listener: Input/output error";
        assert!(
            !srt.redact(line).contains("longsecret"),
            "{}",
            srt.redact(line)
        );
        let open: Source = "srt://0.0.0.0:9000".parse().unwrap();
        assert_eq!(open.secret(), None);
        assert_eq!(Source::Test.redact("anything"), "anything");
    }

    #[test]
    fn the_rtmp_listener_is_not_given_the_stream_key() {
        let rtmp: Source = "rtmp://127.0.0.1:1935/live/s3cret".parse().unwrap();
        let args = rtmp.input_args(1280, 720, "30");
        assert_eq!(args, ["-listen", "1", "-i", "rtmp://127.0.0.1:1935/live/"]);
        let srt: Source = "srt://127.0.0.1:9000?passphrase=longsecretphrase"
            .parse()
            .unwrap();
        assert_eq!(
            srt.input_args(1280, 720, "30").last().map(String::as_str),
            Some("srt://127.0.0.1:9000?passphrase=longsecretphrase&mode=listener")
        );
    }

    #[test]
    fn malformed_sources_are_refused_with_what_is_wrong() {
        assert_eq!("camera".parse::<Source>(), Err(SourceError::Unknown));
        assert_eq!("file:".parse::<Source>(), Err(SourceError::EmptyPath));
        assert_eq!(
            "rtmp://host/live/key".parse::<Source>(),
            Err(SourceError::RtmpShape)
        );
        assert_eq!(
            "rtmp://host:1935/live".parse::<Source>(),
            Err(SourceError::RtmpShape)
        );
        assert_eq!("srt://host".parse::<Source>(), Err(SourceError::SrtShape));
        assert_eq!(
            "rtmp://host:1935/live/a b".parse::<Source>(),
            Err(SourceError::Character)
        );
    }

    #[test]
    fn the_test_clock_counts_from_the_encoders_zero_as_a_utc_time_of_day() {
        // 2026-01-01T12:34:56.789Z.
        let overlay = Source::Test.overlay(1_767_270_896_789).unwrap();
        assert!(overlay.contains("pts\\:hms\\:45296.789"), "{overlay}");
    }
}
