//! Secret keys: parsed once, keyed once, never printed.
//!
//! A key is turned into a ready-keyed HMAC state when it is loaded, and every verification
//! clones that state. Keying HMAC costs two compression-function calls (RFC 2104 §2: the
//! inner and outer padded keys), so doing it once per key rather than once per request is what
//! lets a token check cost little more than the hash of the token itself.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::Sha256;

use super::ConfigError;

/// The HMAC hash function of an EdgeAuth key.
///
/// JWT tickets are always HMAC-SHA256 (`HS256`); EdgeAuth tokens may be configured for SHA-1 or
/// MD5 to interoperate with older Akamai properties, but SHA-256 is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// HMAC-SHA256, the default and the only choice for new deployments.
    #[default]
    Sha256,
    /// HMAC-SHA1, for compatibility with properties configured for it.
    Sha1,
    /// HMAC-MD5, for compatibility with properties configured for it.
    Md5,
}

impl Algorithm {
    /// The algorithm's name as EdgeAuth libraries spell it (`sha256`, `sha1`, `md5`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha1 => "sha1",
            Algorithm::Md5 => "md5",
        }
    }

    /// Parses `sha256`, `sha1` or `md5`, ignoring ASCII case as the reference library does.
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        if name.eq_ignore_ascii_case("sha256") {
            Ok(Algorithm::Sha256)
        } else if name.eq_ignore_ascii_case("sha1") {
            Ok(Algorithm::Sha1)
        } else if name.eq_ignore_ascii_case("md5") {
            Ok(Algorithm::Md5)
        } else {
            Err(ConfigError::UnknownAlgorithm)
        }
    }

    /// Length in bytes of this algorithm's MAC.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha1 => 20,
            Algorithm::Md5 => 16,
        }
    }
}

/// A keyed HMAC state for one algorithm.
#[derive(Clone)]
enum Keyed {
    Sha256(Hmac<Sha256>),
    Sha1(Hmac<Sha1>),
    Md5(Hmac<Md5>),
}

/// A secret HMAC key, already keyed for its algorithm.
///
/// `Debug` prints only the algorithm: key bytes never reach a log, an error or a panic message.
#[derive(Clone)]
pub struct SecretKey {
    keyed: Keyed,
}

impl SecretKey {
    /// Keys `secret` for `algorithm`.
    ///
    /// An empty secret is refused: HMAC accepts it, but it is never what an operator meant.
    pub fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::EmptyKey);
        }
        let keyed = match algorithm {
            Algorithm::Sha256 => Keyed::Sha256(
                Hmac::<Sha256>::new_from_slice(secret).map_err(|_| ConfigError::EmptyKey)?,
            ),
            Algorithm::Sha1 => Keyed::Sha1(
                Hmac::<Sha1>::new_from_slice(secret).map_err(|_| ConfigError::EmptyKey)?,
            ),
            Algorithm::Md5 => {
                Keyed::Md5(Hmac::<Md5>::new_from_slice(secret).map_err(|_| ConfigError::EmptyKey)?)
            }
        };
        Ok(SecretKey { keyed })
    }

    /// Keys a secret given as hex digits (either case), as EdgeAuth keys and keyring files are.
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Self, ConfigError> {
        let bytes = decode_hex(hex.as_bytes()).ok_or(ConfigError::KeyNotHex)?;
        Self::new(algorithm, &bytes)
    }

    /// The algorithm this key was keyed for.
    pub fn algorithm(&self) -> Algorithm {
        match self.keyed {
            Keyed::Sha256(_) => Algorithm::Sha256,
            Keyed::Sha1(_) => Algorithm::Sha1,
            Keyed::Md5(_) => Algorithm::Md5,
        }
    }

    /// Computes the MAC of the concatenation of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + Clone>(mac: &M, parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = mac.clone();
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match &self.keyed {
            Keyed::Sha256(m) => run(m, parts),
            Keyed::Sha1(m) => run(m, parts),
            Keyed::Md5(m) => run(m, parts),
        }
    }

    /// Checks `tag` against the MAC of the concatenation of `parts`, in constant time.
    ///
    /// The comparison is `Mac::verify_slice`, which compares with `subtle`'s constant-time
    /// equality, so the time taken does not tell an attacker how many leading bytes matched.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        fn run<M: Mac + Clone>(mac: &M, parts: &[&[u8]], tag: &[u8]) -> bool {
            let mut mac = mac.clone();
            for part in parts {
                mac.update(part);
            }
            mac.verify_slice(tag).is_ok()
        }
        match &self.keyed {
            Keyed::Sha256(m) => run(m, parts, tag),
            Keyed::Sha1(m) => run(m, parts, tag),
            Keyed::Md5(m) => run(m, parts, tag),
        }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("algorithm", &self.algorithm())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The ticketing system's HS256 keys, by key id (`kid`).
///
/// Several keys are held at once so keys can be rotated: the ticketing system starts signing
/// with a new `kid` while tickets signed with the previous one stay valid until it is removed.
/// `Debug` lists the key ids only.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, SecretKey>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the HS256 key for `kid`.
    pub fn insert(&mut self, kid: &str, secret: &[u8]) -> Result<(), ConfigError> {
        if kid.is_empty() {
            return Err(ConfigError::EmptyKeyId);
        }
        let key = SecretKey::new(Algorithm::Sha256, secret)?;
        self.keys.insert(String::from(kid), key);
        Ok(())
    }

    /// Parses a keyring document: a JSON object mapping each `kid` to its secret in hex.
    ///
    /// `{"2026-01": "8f1c…", "2026-02": "a2d4…"}`
    pub fn from_json(document: &[u8]) -> Result<Self, ConfigError> {
        let map: BTreeMap<String, String> =
            serde_json::from_slice(document).map_err(|_| ConfigError::KeyringNotJson)?;
        if map.is_empty() {
            return Err(ConfigError::EmptyKeyring);
        }
        let mut ring = Keyring::new();
        for (kid, hex) in &map {
            let secret = decode_hex(hex.as_bytes()).ok_or(ConfigError::KeyNotHex)?;
            ring.insert(kid, &secret)?;
        }
        Ok(ring)
    }

    /// The key for `kid`, if the keyring holds one.
    pub fn get(&self, kid: &str) -> Option<&SecretKey> {
        self.keys.get(kid)
    }

    /// The key ids held, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The longest MAC of any supported algorithm (SHA-256), in bytes.
pub(crate) const MAX_MAC_LEN: usize = 32;

/// Decodes hex digits of either case into `out`, returning the filled prefix; `None` for an odd
/// length, a non-hex digit, or more bytes than `out` holds. Allocation-free for the hot path.
pub(crate) fn decode_hex_into<'o>(hex: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let filled = out.get_mut(..hex.len() / 2)?;
    // Validity is accumulated and checked once: a non-digit maps to 0xff, so any high nibble
    // set in `invalid` means some digit was bad. No branch per digit.
    let mut invalid = 0u8;
    for (byte, pair) in filled.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = HEX_VALUES
            .get(usize::from(pair.first().copied().unwrap_or(0)))
            .copied();
        let lo = HEX_VALUES
            .get(usize::from(pair.get(1).copied().unwrap_or(0)))
            .copied();
        let (hi, lo) = (hi.unwrap_or(0xff), lo.unwrap_or(0xff));
        invalid |= hi | lo;
        *byte = hi << 4 | (lo & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(filled)
}

/// Decodes hex digits of either case; `None` for an odd length or a non-hex digit.
pub(crate) fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(hex_value(*hi)? << 4 | hex_value(*lo)?),
            _ => None,
        })
        .collect()
}

/// Writes `bytes` as lower-case hex, as EdgeAuth's `hmac` field is written.
pub(crate) fn encode_hex(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(*byte));
    }
}

/// The lower-case hex digit of the low nibble of `value`.
pub(crate) fn hex_digit(value: u8) -> char {
    char::from_digit(u32::from(value & 0x0f), 16).unwrap_or('0')
}

/// Hex digit values by byte, `0xff` for a byte that is not a hex digit. A table because this
/// runs on every segment request: 64 digits per SHA-256 tag.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an out-of-range index fails the build"
)]
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn hex_value(digit: u8) -> Option<u8> {
    match HEX_VALUES.get(usize::from(digit)) {
        Some(&value) if value != 0xff => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let key = SecretKey::from_hex(Algorithm::Sha256, "deadbeefcafe").unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains("deadbeef"), "{printed}");
        assert!(printed.contains("redacted"));

        let ring = Keyring::from_json(br#"{"k1":"deadbeefcafe"}"#).unwrap();
        let printed = format!("{ring:?}");
        assert!(!printed.contains("deadbeef"), "{printed}");
        assert!(printed.contains("k1"));
    }

    #[test]
    fn hex_decoding_rejects_odd_lengths_and_non_hex_digits() {
        assert_eq!(decode_hex(b"0aFf"), Some(alloc::vec![0x0a, 0xff]));
        assert_eq!(decode_hex(b"abc"), None);
        assert_eq!(decode_hex(b"zz"), None);
        assert!(matches!(
            SecretKey::from_hex(Algorithm::Sha1, "xyz1"),
            Err(ConfigError::KeyNotHex)
        ));
        assert!(matches!(
            SecretKey::from_hex(Algorithm::Sha1, ""),
            Err(ConfigError::EmptyKey)
        ));
    }

    #[test]
    fn keyring_documents_must_be_non_empty_objects_of_hex_secrets() {
        assert!(matches!(
            Keyring::from_json(b"[]"),
            Err(ConfigError::KeyringNotJson)
        ));
        assert!(matches!(
            Keyring::from_json(b"{}"),
            Err(ConfigError::EmptyKeyring)
        ));
        assert!(matches!(
            Keyring::from_json(br#"{"a":"nothex"}"#),
            Err(ConfigError::KeyNotHex)
        ));
        assert!(matches!(
            Keyring::from_json(br#"{"":"00"}"#),
            Err(ConfigError::EmptyKeyId)
        ));
        let ring = Keyring::from_json(br#"{"a":"00ff","b":"0102"}"#).unwrap();
        assert_eq!(ring.kids().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn verify_accepts_the_signed_tag_and_rejects_any_other() {
        let key = SecretKey::new(Algorithm::Md5, b"k").unwrap();
        let tag = key.sign(&[b"ab", b"c"]);
        assert_eq!(tag.len(), Algorithm::Md5.mac_len());
        assert!(key.verify(&[b"abc"], &tag));
        let mut flipped = tag.clone();
        flipped[0] ^= 1;
        assert!(!key.verify(&[b"abc"], &flipped));
        assert!(!key.verify(&[b"abc"], &tag[..15]));
    }
}
