//! Content keys for HLS segment encryption (`METHOD=AES-128`, RFC 8216 §4.3.2.4 and §5.2):
//! derived from a master secret, never stored, never sent between the origin and the edge.
//!
//! The origin encrypts each segment with the key of the *key period* the segment falls in; the
//! edge serves that key, to viewers holding a valid session token, at
//! `/events/{event}/keys/{kid}/{period}.key`. Both compute the key from the same three things:
//! the master secret named by `kid` (from the `content-keys` secret, a JSON object of key ids
//! to hex, like the ticket keyring), the key id itself, and the period number:
//!
//! ```text
//! key = HMAC-SHA256(master[kid], "usher hls aes-128 v1" 0x00 kid 0x00 period_be64)[0..16]
//! ```
//!
//! HMAC-SHA256 is used as a pseudo-random function, as HKDF's expand step uses it (RFC 5869
//! §2.3, one output block, truncated); the label and the zero separators keep this use apart
//! from any other use of the same secret and make `(kid, period)` unambiguous.
//!
//! Key decision: derivation, not a key store. Periods are counted on the epoch-locked segment
//! grid, so every origin in every zone and every edge at every CDN arrives at the same key for
//! the same segment with no shared state and no request between them; rotating the key every
//! period bounds what one leaked key opens, and rotating the master (a new `kid`) bounds the
//! rest. What this module does not do: the cipher (the origin's AES-128-CBC) or serving (the
//! edge core's key route). Secrets never appear in `Debug` output or errors.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::token::decode_hex;

/// Length of an AES-128 key, in bytes.
pub const KEY_LEN: usize = 16;

/// The shortest master secret accepted, in bytes: as long as the keys derived from it.
pub const MIN_MASTER_LEN: usize = 16;

/// The derivation's label: names this use of the master secret and its version.
const LABEL: &[u8] = b"usher hls aes-128 v1";

/// The directory, below an event's directory, that key URIs live in.
pub const KEYS_DIR: &str = "keys";

/// Why a content key configuration cannot be used. Never holds secret material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentKeyError {
    /// The document is not a JSON object of strings.
    NotJson,
    /// The document holds no key.
    Empty,
    /// A key id is not 1 to 64 of `A-Z a-z 0-9 - _ .`.
    BadKeyId(String),
    /// The secret of this key id is not hex.
    NotHex(String),
    /// The secret of this key id is shorter than [`MIN_MASTER_LEN`] bytes.
    TooShort(String),
}

impl fmt::Display for ContentKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentKeyError::NotJson => {
                f.write_str("is not a JSON object of key ids to hex secrets")
            }
            ContentKeyError::Empty => f.write_str("holds no key"),
            ContentKeyError::BadKeyId(kid) => {
                write!(f, "key id {kid:?} must be 1 to 64 of A-Z a-z 0-9 - _ .")
            }
            ContentKeyError::NotHex(kid) => write!(f, "the secret of key id {kid} is not hex"),
            ContentKeyError::TooShort(kid) => write!(
                f,
                "the secret of key id {kid} is shorter than {MIN_MASTER_LEN} bytes"
            ),
        }
    }
}

impl core::error::Error for ContentKeyError {}

/// Whether `kid` is a usable key id: it appears in key URIs, so it keeps to a path-safe
/// alphabet with no dot segment.
#[must_use]
pub fn is_key_id(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid != "."
        && kid != ".."
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// One master secret, already keyed. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey {
    mac: Hmac<Sha256>,
}

impl MasterKey {
    /// Keys `secret`, which must be at least [`MIN_MASTER_LEN`] bytes long. `kid` only names
    /// the key in the error.
    pub fn new(kid: &str, secret: &[u8]) -> Result<Self, ContentKeyError> {
        if secret.len() < MIN_MASTER_LEN {
            return Err(ContentKeyError::TooShort(String::from(kid)));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|_| ContentKeyError::TooShort(String::from(kid)))?;
        Ok(MasterKey { mac })
    }

    /// Keys a secret given as hex digits (surrounding whitespace ignored).
    pub fn from_hex(kid: &str, hex: &str) -> Result<Self, ContentKeyError> {
        let secret = decode_hex(hex.trim().as_bytes())
            .ok_or_else(|| ContentKeyError::NotHex(String::from(kid)))?;
        Self::new(kid, &secret)
    }

    /// The AES-128 key of `period` under key id `kid` (see the module docs).
    #[must_use]
    pub fn derive(&self, kid: &str, period: u64) -> [u8; KEY_LEN] {
        let mut mac = self.mac.clone();
        mac.update(LABEL);
        mac.update(&[0]);
        mac.update(kid.as_bytes());
        mac.update(&[0]);
        mac.update(&period.to_be_bytes());
        let full = mac.finalize().into_bytes();
        // SHA-256 gives 32 bytes; the key is the first 16.
        let mut key = [0u8; KEY_LEN];
        for (k, b) in key.iter_mut().zip(full.iter()) {
            *k = *b;
        }
        key
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// The master secrets by key id: the `content-keys` secret, `{"kid": "hex", ...}`. Several
/// are held at once so a master can be rotated: new events (or a restarted origin) use the new
/// id while replays encrypted under the old one stay playable until it is removed. `Debug`
/// lists the key ids only.
#[derive(Clone, Default)]
pub struct ContentKeys {
    keys: BTreeMap<String, MasterKey>,
}

impl ContentKeys {
    /// Parses the `content-keys` document.
    pub fn from_json(document: &[u8]) -> Result<Self, ContentKeyError> {
        let map: BTreeMap<String, String> =
            serde_json::from_slice(document).map_err(|_| ContentKeyError::NotJson)?;
        if map.is_empty() {
            return Err(ContentKeyError::Empty);
        }
        let mut keys = BTreeMap::new();
        for (kid, hex) in map {
            if !is_key_id(&kid) {
                return Err(ContentKeyError::BadKeyId(kid));
            }
            let key = MasterKey::from_hex(&kid, &hex)?;
            keys.insert(kid, key);
        }
        Ok(ContentKeys { keys })
    }

    /// The master secret named `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&MasterKey> {
        self.keys.get(kid)
    }

    /// The key ids held, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

impl fmt::Debug for ContentKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentKeys")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The path of a key below its event's directory: `keys/{kid}/{period}.key`.
#[must_use]
pub fn key_path(kid: &str, period: u64) -> String {
    format!("{KEYS_DIR}/{kid}/{period}.key")
}

/// Reads a key path below an event's directory back into its key id and period. `None` for
/// anything [`key_path`] does not write (a period with a sign, leading zeros or too many digits
/// included, so every key has exactly one path and one cache key).
#[must_use]
pub fn parse_key_path(rest: &str) -> Option<(&str, u64)> {
    let rest = rest.strip_prefix(KEYS_DIR)?.strip_prefix('/')?;
    let (kid, file) = rest.split_once('/')?;
    let digits = file.strip_suffix(".key")?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !is_key_id(kid) || !canonical {
        return None;
    }
    Some((kid, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "00112233445566778899aabbccddeeff";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn derivation_matches_hmac_sha256_over_the_documented_input() {
        // The documented construction, spelled out with the hmac crate directly.
        let master = decode_hex(MASTER.as_bytes()).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&master).unwrap();
        mac.update(b"usher hls aes-128 v1\0k1\0");
        mac.update(&7u64.to_be_bytes());
        let expected = mac.finalize().into_bytes();
        let key = MasterKey::from_hex("k1", MASTER).unwrap().derive("k1", 7);
        assert_eq!(key[..], expected[..16]);
    }

    #[test]
    fn a_known_key_stays_the_same_across_releases() {
        // A changed derivation would make every recorded replay unplayable: pin one value.
        let key = MasterKey::from_hex("k1", MASTER).unwrap().derive("k1", 0);
        assert_eq!(hex(&key), "ae2e3f18f02b30c59d51b252889067bf");
    }

    #[test]
    fn keys_differ_by_period_and_by_key_id() {
        let master = MasterKey::from_hex("k1", MASTER).unwrap();
        let a = master.derive("k1", 100);
        assert_ne!(a, master.derive("k1", 101));
        assert_ne!(a, master.derive("k2", 100));
        assert_eq!(a, master.derive("k1", 100));
    }

    #[test]
    fn a_keyring_document_is_parsed_and_checked() {
        let keys = ContentKeys::from_json(format!(r#"{{"k1":"{MASTER}"}}"#).as_bytes()).unwrap();
        assert_eq!(keys.kids().collect::<Vec<_>>(), ["k1"]);
        let bad = |doc: &str| ContentKeys::from_json(doc.as_bytes()).unwrap_err();
        assert_eq!(bad("[]"), ContentKeyError::NotJson);
        assert_eq!(bad("{}"), ContentKeyError::Empty);
        assert_eq!(
            bad(r#"{"k1":"00ff"}"#),
            ContentKeyError::TooShort("k1".into())
        );
        assert_eq!(bad(r#"{"k1":"xyz"}"#), ContentKeyError::NotHex("k1".into()));
        assert_eq!(
            bad(&format!(r#"{{"a/b":"{MASTER}"}}"#)),
            ContentKeyError::BadKeyId("a/b".into())
        );
    }

    #[test]
    fn debug_output_and_errors_never_show_a_secret() {
        let keys = ContentKeys::from_json(format!(r#"{{"k1":"{MASTER}"}}"#).as_bytes()).unwrap();
        let debug = format!("{keys:?} {:?}", keys.get("k1").unwrap());
        assert!(
            !debug.contains(MASTER) && !debug.contains("00112233"),
            "{debug}"
        );
        let error = ContentKeys::from_json(br#"{"k1":"0011223344"}"#).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("0011223344"));
    }

    #[test]
    fn key_paths_round_trip_and_only_canonical_ones_parse() {
        assert_eq!(key_path("k1", 42), "keys/k1/42.key");
        assert_eq!(parse_key_path("keys/k1/42.key"), Some(("k1", 42)));
        assert_eq!(parse_key_path("keys/k1/0.key"), Some(("k1", 0)));
        for bad in [
            "keys/k1/042.key",
            "keys/k1/+4.key",
            "keys/k1/.key",
            "keys/k1/4.bin",
            "keys/k1/99999999999999999999999.key",
            "keys/k1/x/4.key",
            "keys//4.key",
            "keys/../4.key",
            "key/k1/4.key",
            "720p/1.m4s",
        ] {
            assert_eq!(parse_key_path(bad), None, "{bad}");
        }
    }
}
