//! A channel's published media, as the server reads it: per rendition, the initialisation
//! section, the segments and parts in memory for the live window, their descriptions for the
//! whole event (so DVR and replay playlists can be written), and a version that moves on
//! every publication, which blocked playlist requests wait on.
//!
//! Not here: where the media comes from ([`crate::encoder`]) and how it is served
//! ([`crate::server`]). Every file is also written under the data directory, so the event
//! stays available after the live window (and after the process) has moved on.
//!
//! Key decision: a restart, a lost input or a switch to slate never renumbers anything. The
//! timeline is the wall clock's, so a segment that was not produced in time is listed as a
//! gap (`EXT-X-GAP`, RFC 8216bis §4.4.4.7) at its own number, and the playlist keeps
//! advancing whatever the encoder does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::encryption::Encryption;
use crate::ladder::{Audio, Ladder};
use crate::package::Published;
use crate::playlist::{
    self, MediaError, OpenSegment, Part, Rendition, RenditionReport, RenditionState, Segment,
    Window,
};
use crate::timeline::{Position, Timeline};

/// How much longer than the part duration an audio part may be: two AAC frames at 48 kHz
/// (42.7 ms, the encoder's audio fragment), rounded up.
const AUDIO_PART_SLACK: Duration = Duration::from_millis(50);

/// How many complete segments of parts and bytes are kept in memory behind the live edge: the
/// live window and a few more for clients that are behind. Older files are read from disk.
const MEMORY_SEGMENTS: usize = 12;

/// One rendition's published media.
#[derive(Debug)]
pub struct Track {
    /// Its name: the rung's, or the audio group's. Also its directory.
    pub name: String,
    /// Its playlist settings.
    pub rendition: Rendition,
    /// Its initialisation section, once the encoder has written one.
    pub init: Option<Bytes>,
    /// Every complete segment of the event (parts kept only for the recent ones).
    pub segments: Vec<Segment>,
    /// The segment in progress.
    pub open: Option<OpenSegment>,
    /// The open segment's last part, held back until the segment itself is published (the
    /// packager publishes the two together). Listed alone, it would give an open segment with
    /// every part, which the playlist writer refuses, to any request answered in between: a
    /// blocking reload for that very part is woken exactly then.
    closing: Option<(u64, Part)>,
    /// Recent files by name: segments and parts within [`MEMORY_SEGMENTS`].
    files: BTreeMap<String, Bytes>,
    /// When (Unix ms) its last segment was completed.
    pub last_segment_ms: Option<u64>,
}

/// The state of one channel.
#[derive(Debug)]
pub struct State {
    /// Its renditions: the rungs in ladder order, then the audio.
    pub tracks: Vec<Track>,
    /// Whether it has ended (`EXT-X-ENDLIST`).
    pub ended: bool,
    /// Its multivariant playlist.
    pub multivariant: String,
    /// Its window.
    pub window: Window,
}

/// A channel: its state behind a lock, and a version that every publication moves on.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its name: the first path segment of every URL of it.
    pub name: String,
    /// Its timeline.
    pub timeline: Timeline,
    state: Arc<Mutex<State>>,
    version: Arc<watch::Sender<u64>>,
    data: PathBuf,
    encryption: Option<Arc<Encryption>>,
}

/// Why a file of a channel could not be stored.
#[derive(Debug)]
pub enum StoreError {
    /// The rendition index is not one of the channel's.
    NoTrack(usize),
    /// Writing under the data directory failed.
    Io(std::io::Error),
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::NoTrack(i) => write!(f, "no rendition {i}"),
            StoreError::Io(error) => write!(f, "writing to the data directory: {error}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl Channel {
    /// A channel with nothing published, whose files go under `data/{name}/`.
    pub fn new(
        name: &str,
        timeline: Timeline,
        ladder: &Ladder,
        audio: &Audio,
        window: Window,
        data: &Path,
    ) -> Result<Self, playlist::MultivariantError> {
        let naming = playlist::Naming::default();
        let multivariant = playlist::multivariant(ladder, audio, &naming)?;
        let hold_back = (Duration::from_millis(timeline.part_ms()) + AUDIO_PART_SLACK) * 3;
        let mut tracks: Vec<Track> = ladder
            .rungs()
            .iter()
            .map(|r| Track::new(&r.name, timeline, window, Duration::ZERO, hold_back))
            .collect();
        tracks.push(Track::new(
            &audio.group_id,
            timeline,
            window,
            AUDIO_PART_SLACK,
            hold_back,
        ));
        let (version, _) = watch::channel(0);
        Ok(Channel {
            name: name.to_owned(),
            timeline,
            state: Arc::new(Mutex::new(State {
                tracks,
                ended: false,
                multivariant,
                window,
            })),
            version: Arc::new(version),
            data: data.join(name),
            encryption: None,
        })
    }

    /// The same channel with its media segments and parts encrypted (init sections stay in
    /// the clear), and its playlists saying so. Set before anything is published.
    #[must_use]
    pub fn with_encryption(mut self, encryption: Encryption) -> Self {
        {
            let mut state = self.lock();
            for t in &mut state.tracks {
                t.rendition.keys = Some(encryption.schedule());
            }
        }
        self.encryption = Some(Arc::new(encryption));
        self
    }

    /// The channel's directory under the data directory.
    pub fn dir(&self) -> &Path {
        &self.data
    }

    /// The state, locked. A poisoned lock (a panic while holding it, which nothing here does)
    /// is taken over as it is: the state is only ever appended to.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees the version move on at each publication.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Stores rendition `track`'s initialisation section.
    pub async fn publish_init(&self, track: usize, bytes: Bytes) -> Result<(), StoreError> {
        let name = {
            let mut state = self.lock();
            let t = state
                .tracks
                .get_mut(track)
                .ok_or(StoreError::NoTrack(track))?;
            t.init = Some(bytes.clone());
            t.name.clone()
        };
        self.write(&name, "init.mp4", &bytes).await?;
        self.bump();
        Ok(())
    }

    /// Stores what the packager published for rendition `track`, whose timescale is
    /// `timescale`, at Unix time `now_ms`.
    pub async fn publish(
        &self,
        track: usize,
        published: Published,
        timescale: u32,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        // Encrypted before the lock is taken: it is the one costly step here.
        let published = match &self.encryption {
            None => published,
            Some(e) => match published {
                Published::Part(mut part) => {
                    part.bytes = e.encrypt(part.position.msn, &part.bytes);
                    Published::Part(part)
                }
                Published::Segment(mut segment) => {
                    segment.bytes = e.encrypt(segment.msn, &segment.bytes);
                    Published::Segment(segment)
                }
            },
        };
        let write = {
            let mut state = self.lock();
            let t = state
                .tracks
                .get_mut(track)
                .ok_or(StoreError::NoTrack(track))?;
            match published {
                Published::Part(part) => {
                    let name = t.rendition.naming.part(part.position);
                    t.add_part(
                        part.position,
                        Part::from_ticks(part.duration, timescale, part.independent),
                    );
                    let parts = t.open.as_ref().map_or(0, |o| o.parts.len());
                    let per_segment = usize::try_from(t.rendition.timeline.parts_per_segment())
                        .unwrap_or(usize::MAX);
                    if parts >= per_segment {
                        t.closing = t
                            .open
                            .as_mut()
                            .and_then(|o| o.parts.pop().map(|p| (o.msn, p)));
                    }
                    t.files.insert(name, Bytes::from(part.bytes));
                    None
                }
                Published::Segment(segment) => {
                    let name = t.rendition.naming.segment(segment.msn);
                    let bytes = Bytes::from(segment.bytes);
                    t.complete(
                        segment.msn,
                        playlist::duration_from_ticks(segment.duration, timescale),
                    );
                    t.files.insert(name.clone(), bytes.clone());
                    t.last_segment_ms = Some(now_ms);
                    t.evict();
                    Some((t.name.clone(), name, bytes))
                }
            }
        };
        if let Some((dir, name, bytes)) = write {
            self.write(&dir, &name, &bytes).await?;
        }
        self.bump();
        Ok(())
    }

    /// Ends the channel: the segment in progress is dropped, every playlist gets
    /// `EXT-X-ENDLIST`, and each rendition's whole event is written to disk as an on-demand
    /// playlist. An unfinished segment exists only as parts, which a closed playlist does not
    /// list (RFC 8216bis §4.4.4.9: parts are for the live edge), so listing it would name a
    /// file that never exists; it lies past the end the channel was given anyway.
    pub async fn end(&self) -> Result<(), StoreError> {
        let playlists = {
            let mut state = self.lock();
            state.ended = true;
            for t in &mut state.tracks {
                t.open = None;
                t.closing = None;
            }
            let mut out = Vec::new();
            for i in 0..state.tracks.len() {
                if let Some(text) = replay_playlist(&state, i) {
                    let name = state
                        .tracks
                        .get(i)
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    out.push((name, text));
                }
            }
            out
        };
        for (dir, text) in playlists {
            self.write(&dir, "index.m3u8", text.as_bytes()).await?;
        }
        let multivariant = self.lock().multivariant.clone();
        self.write_root("master.m3u8", multivariant.as_bytes())
            .await?;
        self.bump();
        Ok(())
    }

    async fn write(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.data.join(dir).join(name);
        write_file(&path, bytes).await
    }

    async fn write_root(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        write_file(&self.data.join(name), bytes).await
    }

    /// Rendition `track`'s media playlist as it stands.
    pub fn media_playlist(&self, track: usize) -> Option<Result<String, MediaError>> {
        let state = self.lock();
        media_playlist(&state, track)
    }

    /// A file of rendition `track` held in memory (the init section, a recent segment or part).
    pub fn file(&self, track: usize, name: &str) -> Option<Bytes> {
        let state = self.lock();
        let t = state.tracks.get(track)?;
        if name == t.rendition.naming.init() {
            return t.init.clone();
        }
        t.files.get(name).cloned()
    }

    /// The index of the rendition named `name`.
    pub fn track_index(&self, name: &str) -> Option<usize> {
        self.lock().tracks.iter().position(|t| t.name == name)
    }
}

async fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(StoreError::Io)?;
    }
    // Written aside and renamed, so a reader of the data directory never sees half a file.
    let tmp = path.with_extension("partial");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(StoreError::Io)?;
    tokio::fs::rename(&tmp, path).await.map_err(StoreError::Io)
}

/// The live media playlist of rendition `track`, with the other renditions' reports.
pub fn media_playlist(state: &State, track: usize) -> Option<Result<String, MediaError>> {
    let t = state.tracks.get(track)?;
    let reports: Vec<RenditionReport> = if state.ended {
        Vec::new()
    } else {
        state
            .tracks
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != track)
            .filter_map(|(_, other)| {
                let view = other.view(false);
                let last = other.rendition.last_position(&view.state())?;
                Some(RenditionReport {
                    uri: other.rendition.naming.from_sibling(&other.name),
                    last,
                })
            })
            .collect()
    };
    let view = t.view(state.ended);
    let mut rs = view.state();
    rs.reports = &reports;
    Some(t.rendition.media_playlist(&rs))
}

/// What a blocking reload of rendition `track` is decided on: the same segments and open
/// segment its media playlist is written from.
pub fn reload_state(state: &State, track: usize) -> Option<playlist::ReloadState> {
    let t = state.tracks.get(track)?;
    let view = t.view(state.ended);
    t.rendition.reload_state(&view.state())
}

/// Rendition `track`'s whole event as an ended `EVENT` playlist, for the replay.
fn replay_playlist(state: &State, track: usize) -> Option<String> {
    let t = state.tracks.get(track)?;
    let mut rendition = t.rendition.clone();
    rendition.window = Window::Event;
    let segments: Vec<Segment> = t
        .segments
        .iter()
        .map(|s| Segment {
            parts: Vec::new(),
            ..s.clone()
        })
        .collect();
    rendition
        .media_playlist(&RenditionState {
            segments: &segments,
            open: None,
            discontinuity_sequence: 0,
            ended: true,
            reports: &[],
        })
        .ok()
}

/// The part of a track a playlist is written from.
struct View<'a> {
    segments: &'a [Segment],
    open: Option<&'a OpenSegment>,
    discontinuity_sequence: u64,
    ended: bool,
}

impl View<'_> {
    fn state(&self) -> RenditionState<'_> {
        RenditionState {
            segments: self.segments,
            open: self.open,
            discontinuity_sequence: self.discontinuity_sequence,
            ended: self.ended,
            reports: &[],
        }
    }
}

impl Track {
    fn new(
        name: &str,
        timeline: Timeline,
        window: Window,
        slack: Duration,
        hold_back: Duration,
    ) -> Self {
        let mut rendition = Rendition::new(timeline, playlist::Naming::default(), window);
        rendition.part_target += slack;
        rendition.part_hold_back = hold_back;
        Track {
            name: name.to_owned(),
            rendition,
            init: None,
            segments: Vec::new(),
            open: None,
            closing: None,
            files: BTreeMap::new(),
            last_segment_ms: None,
        }
    }

    /// The segments a live playlist is written from: those its window can list (the writer
    /// trims further), and the discontinuity count before them.
    fn view(&self, ended: bool) -> View<'_> {
        let keep = match self.rendition.window {
            Window::Sliding { segments } => segments + 4,
            Window::Event => usize::MAX,
        };
        let from = self.segments.len().saturating_sub(keep);
        let (before, listed) = self.segments.split_at(from);
        View {
            segments: listed,
            open: if ended { None } else { self.open.as_ref() },
            discontinuity_sequence: before.iter().filter(|s| s.discontinuity).count() as u64,
            ended,
        }
    }

    /// The number the next segment must have, if any segment exists.
    fn next_msn(&self) -> Option<u64> {
        self.open
            .as_ref()
            .map(|o| o.msn)
            .or_else(|| self.segments.last().map(|s| s.msn + 1))
    }

    /// Closes the open segment as a gap, and lists a gap for each number up to (not
    /// including) `msn`: media that was never produced (an encoder restart, a lost input).
    fn gaps_until(&mut self, msn: u64) {
        let Some(mut next) = self.next_msn() else {
            return;
        };
        let full = Duration::from_millis(self.rendition.timeline.segment_ms());
        self.closing = None;
        if let Some(open) = self.open.take() {
            self.segments.push(Segment {
                msn: open.msn,
                duration: full,
                independent: true,
                discontinuity: open.discontinuity,
                gap: true,
                parts: Vec::new(),
            });
            next = open.msn + 1;
        }
        // A long outage is listed whole, but bounded: past a day the channel is not live.
        let limit = next.saturating_add(43_200);
        while next < msn.min(limit) {
            self.segments.push(Segment {
                msn: next,
                duration: full,
                independent: true,
                discontinuity: false,
                gap: true,
                parts: Vec::new(),
            });
            next += 1;
        }
    }

    fn add_part(&mut self, at: Position, part: Part) {
        if self.next_msn().is_some_and(|next| at.msn > next)
            || self.open.as_ref().is_some_and(|o| at.msn > o.msn)
        {
            self.gaps_until(at.msn);
        }
        match &mut self.open {
            Some(open) if open.msn == at.msn => open.parts.push(part),
            _ => {
                self.open = Some(OpenSegment {
                    msn: at.msn,
                    discontinuity: false,
                    gap: false,
                    parts: vec![part],
                });
            }
        }
    }

    fn complete(&mut self, msn: u64, duration: Duration) {
        let open = self.open.take().filter(|o| o.msn == msn);
        let mut parts = open.as_ref().map(|o| o.parts.clone()).unwrap_or_default();
        if let Some((of, part)) = self.closing.take()
            && of == msn
        {
            parts.push(part);
        }
        self.segments.push(Segment {
            msn,
            duration,
            independent: true,
            discontinuity: open.is_some_and(|o| o.discontinuity),
            gap: false,
            parts,
        });
    }

    /// Drops parts and bytes older than [`MEMORY_SEGMENTS`]; their segments stay on disk.
    fn evict(&mut self) {
        let Some(oldest_kept) = self
            .segments
            .len()
            .checked_sub(MEMORY_SEGMENTS)
            .and_then(|i| self.segments.get(i))
            .map(|s| s.msn)
        else {
            return;
        };
        let cut = self.segments.len().saturating_sub(MEMORY_SEGMENTS);
        for s in self.segments.iter_mut().take(cut) {
            s.parts = Vec::new();
        }
        self.files.retain(|name, _| {
            let msn = name.split('.').next().and_then(|n| n.parse::<u64>().ok());
            msn.is_none_or(|m| m >= oldest_kept)
        });
    }
}

/// A one-rung channel and hand-made publications, for the channel's and the server's tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::ladder::FrameRate;
    use crate::package;

    /// The segment the fixtures publish.
    pub(crate) const MSN: u64 = 897_650_000;
    /// The fixtures' video timescale.
    pub(crate) const TIMESCALE: u32 = 90_000;

    /// A channel `final` of one 426x240 rung (and the audio), 2 s segments of 0.5 s parts,
    /// writing under `dir`.
    pub(crate) fn channel(dir: &Path) -> Channel {
        let timeline = Timeline::new(2000, 500).unwrap();
        let ladder = Ladder::parse("426x240", FrameRate::DEFAULT).unwrap();
        let window = Window::Sliding { segments: 6 };
        Channel::new("final", timeline, &ladder, &Audio::default(), window, dir).unwrap()
    }

    /// Publishes part `part` of segment [`MSN`] on the rung.
    pub(crate) async fn publish_part(channel: &Channel, part: u32) {
        let published = Published::Part(package::Part {
            position: Position { msn: MSN, part },
            duration: u64::from(TIMESCALE) / 2,
            independent: part == 0,
            bytes: vec![0; 8],
        });
        channel.publish(0, published, TIMESCALE, 0).await.unwrap();
    }

    /// Publishes segment [`MSN`], whole, on the rung.
    pub(crate) async fn publish_segment(channel: &Channel) {
        let segment = Published::Segment(package::Segment {
            msn: MSN,
            duration: 2 * u64::from(TIMESCALE),
            parts: 4,
            bytes: vec![0; 32],
        });
        channel.publish(0, segment, TIMESCALE, 0).await.unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{MSN, channel, publish_part, publish_segment};

    fn listed_parts(playlist: &str) -> Vec<&str> {
        playlist
            .lines()
            .filter(|l| l.starts_with("#EXT-X-PART:"))
            .collect()
    }

    #[tokio::test]
    async fn a_playlist_read_between_a_segments_last_part_and_the_segment_is_written() {
        let dir = std::env::temp_dir().join(format!("usher-channel-{}", std::process::id()));
        let channel = channel(&dir);
        for part in 0..4 {
            publish_part(&channel, part).await;
            let playlist = channel.media_playlist(0).unwrap();
            assert!(playlist.is_ok(), "after part {part}: {playlist:?}");
        }
        // The last part's bytes are there at once; it is listed with its segment.
        let last = format!("{MSN}.3.m4s");
        assert!(channel.file(0, &last).is_some());
        let before = channel.media_playlist(0).unwrap().unwrap();
        assert_eq!(listed_parts(&before).len(), 3, "{before}");
        publish_segment(&channel).await;
        let after = channel.media_playlist(0).unwrap().unwrap();
        let parts = listed_parts(&after);
        assert_eq!(parts.len(), 4, "{after}");
        assert!(parts[3].contains(&format!("URI=\"{last}\"")), "{after}");
        assert!(after.contains(&format!("\n{MSN}.m4s\n")), "{after}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
