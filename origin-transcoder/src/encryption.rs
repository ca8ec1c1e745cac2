//! Segment encryption: HLS `METHOD=AES-128` (RFC 8216 §5.2), with keys that rotate on the epoch
//! grid and that the edge, not the origin, hands to viewers.
//!
//! Every media segment and every partial segment is one AES-128-CBC message with PKCS#7
//! padding, under the key of its segment's key period and with its segment's media sequence
//! number as the IV (big-endian, 16 bytes: what §5.2 says a client uses when `EXT-X-KEY` has no
//! `IV` attribute). Parts are encrypted on their own, not as slices of the segment's
//! ciphertext, because a client fetches and decrypts each part as a whole resource; it uses
//! the key and IV of the segment the part belongs to (hls.js does exactly this). Init sections
//! stay in the clear: they hold codec parameters, not media.
//!
//! Keys come from [`usher_shared::content_key`]: the master secret named by the key id, and the
//! period number. Two zones encrypting the same segment therefore write the same bytes, so
//! segments stay interchangeable between zones, and the edge derives the same key without ever
//! asking the origin.
//!
//! What this module does not do: serve keys, or protect a key once a viewer has it. It makes a
//! segment copied out of a session useless without a key, and the edge only gives a key to a
//! session token valid for the event.

use core::fmt;
use core::time::Duration;

use aes::Aes128;
use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use usher_shared::content_key::{self, MasterKey};

use crate::playlist::KeySchedule;
use crate::timeline::Timeline;

/// Why an encryption setting cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncryptionError {
    /// The key id is not 1 to 64 of `A-Z a-z 0-9 - _ .`.
    KeyId(String),
    /// The key rotation period is not a whole, non-zero number of segments.
    Rotation {
        /// The rotation period asked for, in milliseconds.
        rotation_ms: u128,
        /// The segment duration, in milliseconds.
        segment_ms: u64,
    },
}

impl fmt::Display for EncryptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptionError::KeyId(kid) => {
                write!(f, "key id {kid:?} must be 1 to 64 of A-Z a-z 0-9 - _ .")
            }
            EncryptionError::Rotation {
                rotation_ms,
                segment_ms,
            } => write!(
                f,
                "the key rotation period ({rotation_ms} ms) must be a whole, non-zero number of segments ({segment_ms} ms each)"
            ),
        }
    }
}

impl std::error::Error for EncryptionError {}

/// One channel's encryption: the master secret, its id, and the key period. `Debug` never
/// shows the secret.
#[derive(Clone, Debug)]
pub struct Encryption {
    kid: String,
    master: MasterKey,
    period_segments: u64,
}

impl Encryption {
    /// Encryption under master `master` named `kid`, with a new key every `rotation` on
    /// `timeline`'s grid.
    pub fn new(
        kid: &str,
        master: MasterKey,
        rotation: Duration,
        timeline: &Timeline,
    ) -> Result<Self, EncryptionError> {
        if !content_key::is_key_id(kid) {
            return Err(EncryptionError::KeyId(kid.to_owned()));
        }
        let segment_ms = timeline.segment_ms();
        let rotation_ms = rotation.as_millis();
        let whole = rotation.subsec_nanos().is_multiple_of(1_000_000)
            && rotation_ms > 0
            && rotation_ms.is_multiple_of(u128::from(segment_ms));
        let period_segments = u64::try_from(rotation_ms / u128::from(segment_ms.max(1)))
            .ok()
            .filter(|_| whole)
            .ok_or(EncryptionError::Rotation {
                rotation_ms,
                segment_ms,
            })?;
        Ok(Encryption {
            kid: kid.to_owned(),
            master,
            period_segments,
        })
    }

    /// How the playlists state it.
    pub fn schedule(&self) -> KeySchedule {
        KeySchedule {
            kid: self.kid.clone(),
            period_segments: self.period_segments,
        }
    }

    /// The key of segment `msn`.
    fn key(&self, msn: u64) -> [u8; content_key::KEY_LEN] {
        self.master.derive(&self.kid, msn / self.period_segments)
    }

    /// `plain` (segment `msn`, or one of its parts) encrypted as §5.2 says: AES-128-CBC, PKCS#7
    /// padding, the media sequence number as the IV.
    pub fn encrypt(&self, msn: u64, plain: &[u8]) -> Vec<u8> {
        let iv = u128::from(msn).to_be_bytes();
        cbc::Encryptor::<Aes128>::new(&self.key(msn).into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "00112233445566778899aabbccddeeff";

    fn encryption(rotation_s: u64) -> Result<Encryption, EncryptionError> {
        Encryption::new(
            "k1",
            MasterKey::from_hex("k1", MASTER).unwrap(),
            Duration::from_secs(rotation_s),
            &Timeline::default(),
        )
    }

    #[test]
    fn the_key_changes_every_rotation_period_on_the_grid() {
        let e = encryption(6).unwrap();
        assert_eq!(e.schedule().period_segments, 3);
        let master = MasterKey::from_hex("k1", MASTER).unwrap();
        assert_eq!(e.key(300), master.derive("k1", 100));
        assert_eq!(e.key(302), master.derive("k1", 100));
        assert_eq!(e.key(303), master.derive("k1", 101));
    }

    #[test]
    fn a_rotation_that_is_not_whole_segments_is_refused() {
        for bad in [0, 3, 5] {
            assert!(
                matches!(encryption(bad), Err(EncryptionError::Rotation { .. })),
                "{bad}"
            );
        }
        let bad_id = Encryption::new(
            "a b",
            MasterKey::from_hex("a b", MASTER).unwrap(),
            Duration::from_secs(2),
            &Timeline::default(),
        );
        assert!(matches!(bad_id, Err(EncryptionError::KeyId(_))));
    }

    #[test]
    fn ciphertext_is_whole_blocks_and_differs_by_segment() {
        let e = encryption(600).unwrap();
        let plain = vec![7u8; 100];
        let a = e.encrypt(10, &plain);
        assert_eq!(a.len(), 112, "PKCS#7 pads 100 bytes to 7 blocks");
        assert_ne!(a, e.encrypt(11, &plain), "the IV is the segment number");
        assert_eq!(
            e.encrypt(10, &[]).len(),
            16,
            "an empty message is one block of padding"
        );
    }

    #[test]
    fn debug_output_never_shows_the_master_secret() {
        let printed = format!("{:?}", encryption(600).unwrap());
        assert!(!printed.contains("00112233"), "{printed}");
    }
}
