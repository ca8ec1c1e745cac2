//! MPEG-TS as the ingest's FFmpeg writes it, read packet by packet for one purpose: to start
//! a relay where a decoder can start. A relay that joins a publisher's stream mid-way (the
//! switch back to a primary that has been sending all along) starts with the stream's latest
//! PAT and PMT, then its next video random access point (a keyframe), so the encoder's FFmpeg
//! neither decodes a GOP's worth of frames without their reference (and says so, at every
//! frame) nor waits out a long GOP before it is counted as having input.
//!
//! ISO/IEC 13818-1: the packet header and adaptation field (§2.4.3.2, §2.4.3.4, whose
//! `random_access_indicator` FFmpeg's muxer sets on keyframes), the PAT (§2.4.4.3) and the
//! PMT (§2.4.4.8), each section read from the one packet that starts it (FFmpeg's tables for
//! a few streams fit in one). What it cannot read it passes over: a stream with no video PID
//! found starts at its next PAT.

/// An MPEG-TS packet's size.
pub const PACKET: usize = 188;

/// PMT stream types that are video (ISO/IEC 13818-1 Table 2-34): MPEG-1 and MPEG-2 video,
/// MPEG-4 part 2, H.264, HEVC, VVC.
const VIDEO_TYPES: &[u8] = &[0x01, 0x02, 0x10, 0x1b, 0x24, 0x33];

/// One packet's header, as far as the scan needs it.
struct Header<'a> {
    pid: u16,
    unit_start: bool,
    random_access: bool,
    payload: &'a [u8],
}

fn header(packet: &[u8]) -> Option<Header<'_>> {
    if packet.len() != PACKET || packet.first() != Some(&0x47) {
        return None;
    }
    let b1 = *packet.get(1)?;
    let pid = (u16::from(b1 & 0x1f) << 8) | u16::from(*packet.get(2)?);
    let control = (packet.get(3)? >> 4) & 0x3;
    let mut at = 4;
    let mut random_access = false;
    if control & 0x2 != 0 {
        let length = usize::from(*packet.get(4)?);
        if length > 0 {
            random_access = packet.get(5)? & 0x40 != 0;
        }
        at += 1 + length;
    }
    let payload = if control & 0x1 != 0 {
        packet.get(at..)?
    } else {
        &[]
    };
    Some(Header {
        pid,
        unit_start: b1 & 0x40 != 0,
        random_access,
        payload,
    })
}

/// The section a packet starts (after its pointer field), up to its declared end without the
/// CRC.
fn section(payload: &[u8]) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    let section = payload.get(1 + pointer..)?;
    let length = (usize::from(section.get(1)? & 0x0f) << 8) | usize::from(*section.get(2)?);
    section.get(..(3 + length).checked_sub(4)?)
}

/// The scan of one stream.
#[derive(Debug, Default)]
pub struct Scan {
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    pat: Option<Vec<u8>>,
    pmt: Option<Vec<u8>>,
}

impl Scan {
    /// Reads one packet; whether a relay may start at it (see [`Scan::tables`] for what goes
    /// before it): the start of a video access unit at a random access point, or, in a
    /// stream with no video PID known, a PAT.
    pub fn packet(&mut self, packet: &[u8]) -> bool {
        let Some(h) = header(packet) else {
            return false;
        };
        if h.pid == 0 && h.unit_start {
            // PAT: the first program's PMT PID.
            if let Some(s) = section(h.payload).filter(|s| s.first() == Some(&0x00)) {
                let pmt = s
                    .get(8..)
                    .unwrap_or_default()
                    .chunks_exact(4)
                    .find_map(|e| {
                        let program = u16::from_be_bytes([*e.first()?, *e.get(1)?]);
                        let pid = (u16::from(e.get(2)? & 0x1f) << 8) | u16::from(*e.get(3)?);
                        (program != 0).then_some(pid)
                    });
                if pmt.is_some() && pmt != self.pmt_pid {
                    self.pmt_pid = pmt;
                    self.video_pid = None;
                    self.pmt = None;
                }
                self.pat = Some(packet.to_vec());
            }
            return self.video_pid.is_none() && self.pmt_pid.is_some();
        }
        if Some(h.pid) == self.pmt_pid && h.unit_start {
            if let Some(s) = section(h.payload).filter(|s| s.first() == Some(&0x02)) {
                let info = (usize::from(s.get(10).copied().unwrap_or(0) & 0x0f) << 8)
                    | usize::from(s.get(11).copied().unwrap_or(0));
                let mut streams = s.get(12 + info..).unwrap_or_default();
                self.video_pid = None;
                while let (Some(&kind), Some(&p0), Some(&p1), Some(&l0), Some(&l1)) = (
                    streams.first(),
                    streams.get(1),
                    streams.get(2),
                    streams.get(3),
                    streams.get(4),
                ) {
                    if VIDEO_TYPES.contains(&kind) {
                        self.video_pid = Some((u16::from(p0 & 0x1f) << 8) | u16::from(p1));
                        break;
                    }
                    let skip = 5 + ((usize::from(l0 & 0x0f) << 8) | usize::from(l1));
                    streams = streams.get(skip..).unwrap_or_default();
                }
                self.pmt = Some(packet.to_vec());
            }
            return false;
        }
        Some(h.pid) == self.video_pid && h.unit_start && h.random_access
    }

    /// The latest PAT and PMT packets, to send before the packet a relay starts at (nothing
    /// until both have been seen).
    pub fn tables(&self) -> Option<Vec<u8>> {
        Some([self.pat.as_deref()?, self.pmt.as_deref()?].concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet of `pid` with `payload`, an adaptation field with the random access flag if
    /// `key`, padded with stuffing bytes.
    fn packet(pid: u16, start: bool, key: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (u8::from(start) << 6) | ((pid >> 8) as u8 & 0x1f),
            pid as u8,
        ];
        if key {
            p.push(0x30);
            p.extend([1, 0x40]);
        } else {
            p.push(0x10);
        }
        p.extend_from_slice(payload);
        p.resize(PACKET, 0xff);
        p
    }

    /// A PSI section (pointer field first) of `table` with `body` after the 5 bytes of
    /// table id extension, version and section numbers, and a dummy CRC.
    fn psi(table: u8, body: &[u8]) -> Vec<u8> {
        let length = 5 + body.len() + 4;
        let mut s = vec![0, table, 0xb0 | (length >> 8) as u8, length as u8];
        s.extend([0, 1, 0xc1, 0, 0]);
        s.extend_from_slice(body);
        s.extend([0xde, 0xad, 0xbe, 0xef]);
        s
    }

    /// FFmpeg's layout: PMT at 0x1000, audio (AAC, type 0x0f) at 0x101, video (H.264) at
    /// 0x100.
    fn tables() -> (Vec<u8>, Vec<u8>) {
        let pat = packet(0, true, false, &psi(0x00, &[0, 1, 0xf0, 0x00]));
        let pmt = packet(
            0x1000,
            true,
            false,
            &psi(
                0x02,
                &[
                    0xe1, 0x00, 0xf0, 0x00, // PCR PID, no program info
                    0x0f, 0xe1, 0x01, 0xf0, 0x02, 0x0a, 0x00, // AAC with a descriptor
                    0x1b, 0xe1, 0x00, 0xf0, 0x00, // H.264
                ],
            ),
        );
        (pat, pmt)
    }

    #[test]
    fn a_relay_starts_at_a_video_keyframe_after_the_tables() {
        let (pat, pmt) = tables();
        let mut scan = Scan::default();
        assert!(!scan.packet(&packet(0x100, true, true, &[0, 0, 1])));
        assert_eq!(scan.tables(), None);
        // A PAT with no PMT known yet: a stream with no video known starts at a PAT.
        assert!(scan.packet(&pat));
        assert!(!scan.packet(&pmt));
        assert_eq!(scan.tables(), Some([pat.clone(), pmt.clone()].concat()));
        // Now the video PID is known: neither a PAT, nor audio, nor a video packet that is not
        // a keyframe's first, starts a relay.
        assert!(!scan.packet(&pat));
        assert!(!scan.packet(&packet(0x101, true, true, &[0, 0, 1])));
        assert!(!scan.packet(&packet(0x100, true, false, &[0, 0, 1])));
        assert!(!scan.packet(&packet(0x100, false, true, &[0, 0, 1])));
        assert!(scan.packet(&packet(0x100, true, true, &[0, 0, 1])));
    }

    #[test]
    fn packets_that_are_not_mpeg_ts_start_nothing() {
        let mut scan = Scan::default();
        assert!(!scan.packet(&[0x47; 10]));
        assert!(!scan.packet(&[0u8; PACKET]));
        let (pat, _) = tables();
        let mut truncated = pat.clone();
        truncated[7] = 0xff; // a section longer than the packet
        assert!(!scan.packet(&truncated));
        assert_eq!(scan.tables(), None);
    }

    proptest::proptest! {
        #[test]
        fn any_packet_is_scanned_without_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), PACKET..=PACKET),
            pid in 0u16..0x2000,
            start: bool,
        ) {
            // As it comes, and as a packet of a table's PID with its sync byte, so that the
            // section readers see arbitrary sections.
            let mut scan = Scan::default();
            scan.packet(&bytes);
            let mut p = bytes.clone();
            p[0] = 0x47;
            p[1] = (u8::from(start) << 6) | ((pid >> 8) as u8 & 0x1f);
            p[2] = pid as u8;
            scan.packet(&p);
            let (pat, _) = tables();
            scan.packet(&pat);
            p[1] = (u8::from(start) << 6) | 0x10;
            p[2] = 0;
            scan.packet(&p);
        }
    }
}
