//! Signed health snapshots: the envelope the controller publishes and the edge opens.
//!
//! The controller publishes its snapshot through stores other parties can write to (files, an
//! HTTP endpoint, Fastly's KV Store, Cloudflare's KV). Whoever can write there must not be able
//! to steer viewers, so the edge acts only on a snapshot the controller signed with a key from
//! the `health-keys` secret. The envelope is one ASCII header line, then the snapshot's JSON
//! bytes exactly as [`HealthSnapshot::to_json`] wrote them:
//!
//! ```text
//! usher-health-v1 kid=2026-11 sig=<base64url, no padding, of the 32-byte MAC>\n
//! {"format_version":1,"seq":30,...}
//! ```
//!
//! `MAC = HMAC-SHA256(key[kid], "usher/health-snapshot/v1" ‖ 0x00 ‖ kid ‖ 0x00 ‖ json)`.
//!
//! Key decisions:
//! - The MAC covers the JSON *bytes*, not a re-serialisation, so neither side canonicalises
//!   anything and a decoder in another language only needs HMAC-SHA256 and base64url.
//! - The key id is inside the MAC (and separated from the label and the JSON by zero bytes), so
//!   an attacker cannot relabel a snapshot as signed by another key, and the label keeps this
//!   use of a key apart from any other.
//! - Nothing of the JSON is parsed before the MAC has been checked, in constant time: bytes
//!   from an untrusted store reach the JSON decoder only once they are known to come from the
//!   controller.
//! - Several keys are held at once so keys can be rotated: edges get the new key id first, then
//!   the controller signs with it, then the old id is removed.
//!
//! What this module does not do: fetch, store or expire snapshots (the snapshot's own
//! `expires_at_ms` does that), or pick the signing key (the controller's configuration does).
//! Key bytes never appear in `Debug` output or in errors. `docs/health-model.md` §8 is the
//! normative description.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::snapshot::{DecodeError, HealthSnapshot};
use crate::content_key::is_key_id;
use crate::token::decode_hex;

/// The envelope's first word: the envelope format and its version.
pub const ENVELOPE_VERSION: &str = "usher-health-v1";

/// What every envelope starts with, whatever its version: bytes that do not are unsigned.
const ENVELOPE_PREFIX: &[u8] = b"usher-health-";

/// The label the MAC input starts with: names this use of a health key and its version.
const MAC_LABEL: &[u8] = b"usher/health-snapshot/v1";

/// The shortest health key accepted, in bytes (as for content keys and ticket keys in practice:
/// 128 bits).
pub const MIN_KEY_LEN: usize = 16;

/// Length of an HMAC-SHA256 tag, in bytes.
const MAC_LEN: usize = 32;

/// Length of the tag in unpadded base64url: 32 bytes are 43 characters.
const SIG_LEN: usize = 43;

/// The longest header line: the version, a 64-byte key id, the tag and the separators.
const MAX_HEADER_LEN: usize = ENVELOPE_VERSION.len() + " kid=".len() + 64 + " sig=".len() + SIG_LEN;

/// Why a `health-keys` document cannot be used. Never holds secret material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The document is not a JSON object of strings.
    NotJson,
    /// The document holds no key.
    Empty,
    /// A key id is not 1 to 64 of `A-Z a-z 0-9 - _ .`.
    BadKeyId(String),
    /// The secret of this key id is not hex.
    NotHex(String),
    /// The secret of this key id is shorter than [`MIN_KEY_LEN`] bytes.
    TooShort(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotJson => f.write_str("is not a JSON object of key ids to hex secrets"),
            KeyError::Empty => f.write_str("holds no key"),
            KeyError::BadKeyId(kid) => {
                write!(f, "key id {kid:?} must be 1 to 64 of A-Z a-z 0-9 - _ .")
            }
            KeyError::NotHex(kid) => write!(f, "the secret of key id {kid} is not hex"),
            KeyError::TooShort(kid) => write!(
                f,
                "the secret of key id {kid} is shorter than {MIN_KEY_LEN} bytes"
            ),
        }
    }
}

impl core::error::Error for KeyError {}

/// One health key, already keyed for HMAC-SHA256. `Debug` never shows it.
#[derive(Clone)]
pub struct HealthKey {
    mac: Hmac<Sha256>,
}

impl HealthKey {
    /// Keys `secret`, at least [`MIN_KEY_LEN`] bytes. `kid` only names the key in the error.
    pub fn new(kid: &str, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort(String::from(kid)));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|_| KeyError::TooShort(String::from(kid)))?;
        Ok(HealthKey { mac })
    }

    /// The MAC state after the label and the key id: the JSON comes next.
    fn keyed_for(&self, kid: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(MAC_LABEL);
        mac.update(&[0]);
        mac.update(kid.as_bytes());
        mac.update(&[0]);
        mac
    }
}

impl fmt::Debug for HealthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HealthKey(<redacted>)")
    }
}

/// The health keys by key id: the `health-keys` secret, `{"kid": "hex", ...}`. `Debug` lists
/// the key ids only.
#[derive(Clone, Default)]
pub struct HealthKeys {
    keys: BTreeMap<String, HealthKey>,
}

impl HealthKeys {
    /// Parses a `health-keys` document: a non-empty JSON object mapping each key id (1 to 64 of
    /// `A-Z a-z 0-9 - _ .`) to a secret of at least [`MIN_KEY_LEN`] bytes in hex (surrounding
    /// whitespace ignored).
    pub fn from_json(document: &[u8]) -> Result<Self, KeyError> {
        let map: BTreeMap<String, String> =
            serde_json::from_slice(document).map_err(|_| KeyError::NotJson)?;
        if map.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut keys = BTreeMap::new();
        for (kid, hex) in map {
            if !is_key_id(&kid) {
                return Err(KeyError::BadKeyId(kid));
            }
            let secret = decode_hex(hex.trim().as_bytes()).ok_or(KeyError::NotHex(kid.clone()))?;
            let key = HealthKey::new(&kid, &secret)?;
            keys.insert(kid, key);
        }
        Ok(HealthKeys { keys })
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&HealthKey> {
        self.keys.get(kid)
    }

    /// The key ids held, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

impl fmt::Debug for HealthKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthKeys")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why an envelope was refused. Each has a stable code ([`SignatureError::as_str`]) for the
/// edge's access log; none holds key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The bytes are not an envelope at all (a bare snapshot, say): `unsigned`.
    Unsigned,
    /// The header line is not exactly `usher-health-v1 kid=KID sig=SIG`, or the tag is not 43
    /// characters of canonical base64url: `malformed_envelope`.
    MalformedEnvelope,
    /// The key id is not in the keyring: `unknown_key`.
    UnknownKey {
        /// The key id the envelope names.
        kid: String,
    },
    /// The tag does not match the key and the bytes: `bad_signature`.
    BadSignature {
        /// The key id the envelope names.
        kid: String,
    },
    /// The signature holds, but the snapshot does not decode: `decode`.
    Decode(DecodeError),
}

impl SignatureError {
    /// The stable snake_case code.
    pub const fn as_str(&self) -> &'static str {
        match self {
            SignatureError::Unsigned => "unsigned",
            SignatureError::MalformedEnvelope => "malformed_envelope",
            SignatureError::UnknownKey { .. } => "unknown_key",
            SignatureError::BadSignature { .. } => "bad_signature",
            SignatureError::Decode(_) => "decode",
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::Unsigned => {
                write!(f, "not a signed snapshot (no {ENVELOPE_VERSION} header)")
            }
            SignatureError::MalformedEnvelope => write!(
                f,
                "the header line is not `{ENVELOPE_VERSION} kid=KID sig=SIG` with a 43-character \
                 base64url tag"
            ),
            SignatureError::UnknownKey { kid } => {
                write!(f, "signed with key id {kid:?}, which health-keys lacks")
            }
            SignatureError::BadSignature { kid } => {
                write!(f, "the signature does not match key id {kid:?}")
            }
            SignatureError::Decode(error) => write!(f, "signed, but {error}"),
        }
    }
}

impl core::error::Error for SignatureError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SignatureError::Decode(error) => Some(error),
            _ => None,
        }
    }
}

/// Wraps `snapshot_json` in an envelope signed with the key `kid` of `keys`
/// ([`SignatureError::UnknownKey`] if there is none).
///
/// The JSON is not checked here: the controller seals what [`HealthSnapshot::to_json`] wrote,
/// and the edge decodes it strictly after checking the signature.
pub fn seal(keys: &HealthKeys, kid: &str, snapshot_json: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let key = keys.get(kid).ok_or_else(|| SignatureError::UnknownKey {
        kid: String::from(kid),
    })?;
    let mut mac = key.keyed_for(kid);
    mac.update(snapshot_json);
    let tag = mac.finalize().into_bytes();
    let mut header = String::with_capacity(MAX_HEADER_LEN + 1);
    header.push_str(ENVELOPE_VERSION);
    header.push_str(" kid=");
    header.push_str(kid);
    header.push_str(" sig=");
    URL_SAFE_NO_PAD.encode_string(tag, &mut header);
    header.push('\n');
    let mut envelope = header.into_bytes();
    envelope.extend_from_slice(snapshot_json);
    Ok(envelope)
}

/// The parts of a header line.
struct Header<'a> {
    kid: &'a str,
    sig: &'a [u8],
}

/// Parses `usher-health-v1 kid=KID sig=SIG` exactly: single spaces, this order, nothing else.
fn parse_header(line: &[u8]) -> Option<Header<'_>> {
    let rest = line.strip_prefix(ENVELOPE_VERSION.as_bytes())?;
    let rest = rest.strip_prefix(b" kid=")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let (kid, rest) = rest.split_at(space);
    let sig = rest.strip_prefix(b" sig=")?;
    let kid = core::str::from_utf8(kid).ok().filter(|k| is_key_id(k))?;
    Some(Header { kid, sig })
}

/// Checks `envelope`'s signature against `keys`, then decodes the snapshot it carries.
///
/// In order: the header ([`SignatureError::Unsigned`], [`SignatureError::MalformedEnvelope`]),
/// the key id ([`SignatureError::UnknownKey`]), the tag's encoding
/// ([`SignatureError::MalformedEnvelope`]), the MAC, compared in constant time
/// ([`SignatureError::BadSignature`]), and only then the JSON ([`SignatureError::Decode`]).
pub fn open(keys: &HealthKeys, envelope: &[u8]) -> Result<HealthSnapshot, SignatureError> {
    if !envelope.starts_with(ENVELOPE_PREFIX) {
        return Err(SignatureError::Unsigned);
    }
    let head = envelope.get(..=MAX_HEADER_LEN).unwrap_or(envelope);
    let end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(SignatureError::MalformedEnvelope)?;
    let (line, json) = envelope.split_at(end);
    let json = json.get(1..).unwrap_or_default();
    let header = parse_header(line).ok_or(SignatureError::MalformedEnvelope)?;
    let key = keys
        .get(header.kid)
        .ok_or_else(|| SignatureError::UnknownKey {
            kid: String::from(header.kid),
        })?;
    // The base64 engine refuses padding and non-zero trailing bits, so a tag has exactly one
    // spelling and a changed character never decodes to the same bytes.
    let mut tag = [0u8; MAC_LEN];
    let decoded = (header.sig.len() == SIG_LEN)
        .then(|| URL_SAFE_NO_PAD.decode_slice(header.sig, &mut tag).ok())
        .flatten();
    if decoded != Some(MAC_LEN) {
        return Err(SignatureError::MalformedEnvelope);
    }
    let mut mac = key.keyed_for(header.kid);
    mac.update(json);
    // `verify_slice` compares with `subtle`'s constant-time equality.
    mac.verify_slice(&tag)
        .map_err(|_| SignatureError::BadSignature {
            kid: String::from(header.kid),
        })?;
    HealthSnapshot::from_json(json).map_err(SignatureError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    use crate::health::{CdnConfig, HealthConfig, HealthModel};

    const KEYS: &str =
        r#"{"k1": "000102030405060708090a0b0c0d0e0f", "k2": "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"}"#;

    fn keys() -> HealthKeys {
        HealthKeys::from_json(KEYS.as_bytes()).unwrap()
    }

    fn snapshot_json() -> Vec<u8> {
        let config = HealthConfig::new(vec![CdnConfig::new("a", 6000), CdnConfig::new("b", 4000)]);
        HealthModel::new(config).unwrap().snapshot(1_000).to_json()
    }

    #[test]
    fn a_sealed_snapshot_opens_to_the_same_snapshot() {
        let json = snapshot_json();
        let envelope = seal(&keys(), "k1", &json).unwrap();
        assert!(envelope.starts_with(b"usher-health-v1 kid=k1 sig="));
        assert!(envelope.ends_with(&json));
        let opened = open(&keys(), &envelope).unwrap();
        assert_eq!(opened, HealthSnapshot::from_json(&json).unwrap());
    }

    #[test]
    fn both_keys_of_a_rotation_open_their_envelopes() {
        let json = snapshot_json();
        for kid in ["k1", "k2"] {
            assert!(open(&keys(), &seal(&keys(), kid, &json).unwrap()).is_ok());
        }
        // Relabelling an envelope with the other key id breaks it: the kid is in the MAC.
        let relabelled = String::from_utf8(seal(&keys(), "k1", &json).unwrap())
            .unwrap()
            .replacen("kid=k1", "kid=k2", 1);
        assert_eq!(
            open(&keys(), relabelled.as_bytes()),
            Err(SignatureError::BadSignature { kid: "k2".into() })
        );
    }

    #[test]
    fn a_bare_snapshot_is_unsigned() {
        assert_eq!(
            open(&keys(), &snapshot_json()),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(open(&keys(), b""), Err(SignatureError::Unsigned));
        assert_eq!(SignatureError::Unsigned.as_str(), "unsigned");
    }

    #[test]
    fn headers_that_are_not_exactly_the_syntax_are_malformed() {
        let json = snapshot_json();
        let good = String::from_utf8(seal(&keys(), "k1", &json).unwrap()).unwrap();
        let (line, body) = good.split_once('\n').unwrap();
        let sig = line.rsplit_once("sig=").unwrap().1;
        let variants = [
            format!("usher-health-v2 kid=k1 sig={sig}\n{body}"),
            format!("usher-health-v1  kid=k1 sig={sig}\n{body}"),
            format!("usher-health-v1 sig={sig} kid=k1\n{body}"),
            format!("usher-health-v1 kid=k1 sig={sig} \n{body}"),
            format!("usher-health-v1 kid=k1 sig={sig}\r\n{body}"),
            format!("usher-health-v1 kid=k 1 sig={sig}\n{body}"),
            format!("usher-health-v1 kid= sig={sig}\n{body}"),
            format!("usher-health-v1 kid=k1 sig={sig}="),
            format!("usher-health-v1 kid=k1 sig={sig}=\n{body}"),
            format!("usher-health-v1 kid=k1 sig={}\n{body}", &sig[1..]),
            format!("usher-health-v1 kid=k1 sig={}!\n{body}", &sig[1..]),
            format!("usher-health-v1 kid={} sig={sig}\n{body}", "k".repeat(65)),
        ];
        for variant in &variants {
            assert_eq!(
                open(&keys(), variant.as_bytes()),
                Err(SignatureError::MalformedEnvelope),
                "{variant:.120}"
            );
        }
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let other =
            HealthKeys::from_json(br#"{"k9": "000102030405060708090a0b0c0d0e0f"}"#).unwrap();
        let envelope = seal(&other, "k9", &snapshot_json()).unwrap();
        let error = open(&keys(), &envelope).unwrap_err();
        assert_eq!(error, SignatureError::UnknownKey { kid: "k9".into() });
        assert_eq!(error.as_str(), "unknown_key");
        assert_eq!(
            seal(&keys(), "k9", b"{}"),
            Err(SignatureError::UnknownKey { kid: "k9".into() })
        );
    }

    #[test]
    fn the_same_key_id_with_another_secret_is_a_bad_signature() {
        let forger =
            HealthKeys::from_json(br#"{"k1": "ffffffffffffffffffffffffffffffff"}"#).unwrap();
        let envelope = seal(&forger, "k1", &snapshot_json()).unwrap();
        let error = open(&keys(), &envelope).unwrap_err();
        assert_eq!(error.as_str(), "bad_signature");
    }

    #[test]
    fn a_signed_but_invalid_snapshot_is_a_decode_error() {
        let envelope = seal(&keys(), "k1", b"{\"format_version\":9}").unwrap();
        assert_eq!(
            open(&keys(), &envelope),
            Err(SignatureError::Decode(DecodeError::UnsupportedVersion {
                found: 9
            }))
        );
        assert_eq!(open(&keys(), &envelope).unwrap_err().as_str(), "decode");
    }

    #[test]
    fn golden_envelope_matches_an_independent_implementation() {
        // Computed once with Python's standard library, independently of this crate:
        //   import hmac, hashlib, base64
        //   key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
        //   msg = b"usher/health-snapshot/v1\x00k1\x00" + b'{"seq":1}'
        //   tag = hmac.new(key, msg, hashlib.sha256).digest()
        //   base64.urlsafe_b64encode(tag).rstrip(b"=")
        let envelope = seal(&keys(), "k1", br#"{"seq":1}"#).unwrap();
        assert_eq!(
            String::from_utf8(envelope).unwrap(),
            "usher-health-v1 kid=k1 sig=YargfeITmMYogmU92d5pGps8lLpDHom8dPn4LiS7Ldg\n{\"seq\":1}"
        );
    }

    #[test]
    fn keyring_documents_are_checked_and_never_echo_secrets() {
        let bad = |doc: &str| HealthKeys::from_json(doc.as_bytes()).unwrap_err();
        assert_eq!(bad("[]"), KeyError::NotJson);
        assert_eq!(bad("{}"), KeyError::Empty);
        assert_eq!(
            bad(r#"{"a b": "000102030405060708090a0b0c0d0e0f"}"#),
            KeyError::BadKeyId("a b".into())
        );
        assert_eq!(
            bad(r#"{"k": "zz0102030405060708090a0b0c0d0e0f"}"#),
            KeyError::NotHex("k".into())
        );
        let short = bad(r#"{"k": "deadbeefcafe"}"#);
        assert_eq!(short, KeyError::TooShort("k".into()));
        assert!(!short.to_string().contains("deadbeef"));
        let printed = format!("{:?} {:?}", keys(), keys().get("k1").unwrap());
        assert!(!printed.contains("0001020304"), "{printed}");
        assert!(
            printed.contains("k1") && printed.contains("k2"),
            "{printed}"
        );
        assert_eq!(keys().kids().collect::<Vec<_>>(), ["k1", "k2"]);
    }
}
