//! Session tokens compatible with Akamai EdgeAuth Token 2.0.
//!
//! A token is a list of `name=value` fields joined by a field delimiter (`~` by default), in
//! this order, each present only when set: `ip`, `st` (start), `exp` (expiry, always), `acl`
//! (ACL tokens only), `id` (session id), `data` (payload), and last `hmac`, the lower-case hex
//! HMAC of everything before it:
//!
//! ```text
//! st=1767225600~exp=1767226200~acl=/events/e1/*~id=s-42~hmac=5e1f…
//! ```
//!
//! An **ACL token** carries its scope: one or more path globs joined by the ACL delimiter (`!`
//! by default). A **URL token** instead signs one exact path that is not transmitted: the
//! string to sign gets `~url=<path>` appended, and the verifier rebuilds it from the request.
//! An optional salt is signed the same way (`~salt=<salt>`) and never sent.
//!
//! With `escape_early`, the values of `ip`, `id`, `data` and `url` are escaped like Python's
//! `urllib.parse.quote_plus` with the hex digits lower-cased before they are placed in the
//! token and signed; `acl` is never escaped. Minting with the same inputs gives byte-identical
//! tokens to the reference `akamai-edgeauth` library, which the interop tests prove.
//!
//! The edge mints one of these per viewer session and appends it to every playlist and segment
//! URI, so a CDN configured with the same key checks the same URLs without Usher.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::key::{MAX_MAC_LEN, decode_hex_into, encode_hex, hex_digit};
use super::{Algorithm, ConfigError, Reason, SecretKey, glob};

/// How tokens are spelled and checked. The defaults are the reference library's.
#[derive(Clone, Debug)]
pub struct Options {
    /// Separates fields; `~` by default.
    pub field_delimiter: char,
    /// Separates ACL entries; `!` by default.
    pub acl_delimiter: char,
    /// Escape `ip`, `id`, `data` and `url` values before signing (see the module docs). Minter
    /// and verifier must agree.
    pub escape_early: bool,
    /// Clock skew tolerated on `st` and `exp`, in seconds. Akamai applies none; keep it small.
    pub leeway_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            field_delimiter: '~',
            acl_delimiter: '!',
            escape_early: false,
            leeway_secs: 0,
        }
    }
}

/// A keyed EdgeAuth minter and verifier.
///
/// Holds a primary key and, during a rotation, a transition key: tokens are minted with the
/// primary and accepted under either, which is how Akamai rotates keys without a key id.
/// `Debug` never shows key bytes or the salt.
#[derive(Clone)]
pub struct EdgeAuth {
    primary: SecretKey,
    transition: Option<SecretKey>,
    salt: Option<String>,
    options: Options,
}

impl core::fmt::Debug for EdgeAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EdgeAuth")
            .field("algorithm", &self.primary.algorithm())
            .field("transition_key", &self.transition.is_some())
            .field("salted", &self.salt.is_some())
            .field("options", &self.options)
            .finish()
    }
}

/// What a session token covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One or more path globs, carried in the `acl` field.
    Acl(&'a [&'a str]),
    /// One exact path, signed but not carried.
    Url(&'a str),
}

/// The inputs of a token to mint.
#[derive(Clone, Copy, Debug)]
pub struct MintRequest<'a> {
    /// Client address to bind the token to. Usher's edge leaves it out: addresses change under
    /// viewers on mobile networks, behind carrier NAT and across IPv4/IPv6.
    pub ip: Option<&'a str>,
    /// Start time (`st`), Unix seconds.
    pub start: Option<u64>,
    /// Expiry time (`exp`), Unix seconds.
    pub end: u64,
    /// What the token opens.
    pub scope: Scope<'a>,
    /// Session id (`id`).
    pub session_id: Option<&'a str>,
    /// Opaque signed payload (`data`).
    pub data: Option<&'a str>,
}

/// The request a token is presented with.
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    /// The request path, without query string.
    pub path: &'a str,
    /// The client's address, when the platform knows it.
    pub ip: Option<&'a str>,
}

/// The fields of a verified token, as written in it (escaped values stay escaped), borrowed
/// from the token so that checking a segment request allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionClaims<'t> {
    /// `ip`, if the token is bound to one.
    pub ip: Option<&'t str>,
    /// `st`, if present.
    pub start: Option<u64>,
    /// `exp`.
    pub end: u64,
    /// `acl`, for ACL tokens (the raw field: entries joined by the ACL delimiter).
    pub acl: Option<&'t str>,
    /// `id`, the session id.
    pub session_id: Option<&'t str>,
    /// `data`, the payload.
    pub data: Option<&'t str>,
}

impl EdgeAuth {
    /// A minter and verifier with one key.
    pub fn new(key: SecretKey, options: Options) -> Result<Self, ConfigError> {
        let (f, a) = (options.field_delimiter, options.acl_delimiter);
        let printable = |c: char| c.is_ascii_graphic() && c != '=';
        if !printable(f) || !printable(a) || f == a {
            return Err(ConfigError::BadDelimiter);
        }
        Ok(EdgeAuth {
            primary: key,
            transition: None,
            salt: None,
            options,
        })
    }

    /// A key from hex digits, as EdgeAuth keys are written.
    pub fn from_hex(
        hex: &str,
        algorithm: Algorithm,
        options: Options,
    ) -> Result<Self, ConfigError> {
        Self::new(SecretKey::from_hex(algorithm, hex)?, options)
    }

    /// Also accept tokens signed with `key` (the previous key, during a rotation).
    pub fn with_transition_key(mut self, key: SecretKey) -> Self {
        self.transition = Some(key);
        self
    }

    /// Sign a salt into every token (the salt is never transmitted).
    pub fn with_salt(mut self, salt: &str) -> Self {
        self.salt = Some(salt.to_string());
        self
    }

    /// Keys for another of the edge's signatures (`label` names it, e.g. the waiting room's
    /// cookies), derived from this key and, during a rotation, from the transition key too:
    /// the first signs, all verify. Each is HMAC-SHA256 keyed with HMAC(key, "usher-derive" NUL
    /// label), so one provisioned secret serves every purpose while a signature made for one
    /// purpose never verifies for another, and no derived key reveals the session key.
    pub fn derived_keys(&self, label: &str) -> Vec<SecretKey> {
        core::iter::once(&self.primary)
            .chain(self.transition.as_ref())
            .filter_map(|key| {
                let secret = key.sign(&[b"usher-derive\0", label.as_bytes()]);
                SecretKey::new(Algorithm::Sha256, &secret).ok()
            })
            .collect()
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Mints a token.
    pub fn mint(&self, request: &MintRequest<'_>) -> Result<String, ConfigError> {
        if request.end == 0 || request.start == Some(0) {
            return Err(ConfigError::BadValue);
        }
        if request.start.is_some_and(|start| request.end <= start) {
            return Err(ConfigError::EndBeforeStart);
        }
        let delim = self.options.field_delimiter;
        let mut token = String::with_capacity(160);
        let field = |token: &mut String, name: &str, value: &str| {
            if !token.is_empty() {
                token.push(delim);
            }
            token.push_str(name);
            token.push('=');
            token.push_str(value);
        };
        if let Some(ip) = request.ip.filter(|v| !v.is_empty()) {
            field(&mut token, "ip", &self.escaped(ip)?);
        }
        if let Some(start) = request.start {
            field(&mut token, "st", &start.to_string());
        }
        field(&mut token, "exp", &request.end.to_string());
        if let Scope::Acl(entries) = request.scope {
            let acl = self.join_acl(entries)?;
            field(&mut token, "acl", &acl);
        }
        if let Some(id) = request.session_id.filter(|v| !v.is_empty()) {
            field(&mut token, "id", &self.escaped(id)?);
        }
        if let Some(data) = request.data.filter(|v| !v.is_empty()) {
            field(&mut token, "data", &self.escaped(data)?);
        }
        let url = match request.scope {
            Scope::Url("") => return Err(ConfigError::BadValue),
            Scope::Url(path) => Some(self.escaped(path)?),
            Scope::Acl(_) => None,
        };
        let mac = self.sign(&token, url.as_deref());
        token.push(delim);
        token.push_str("hmac=");
        encode_hex(&mac, &mut token);
        Ok(token)
    }

    /// Verifies `token` for `presented` at time `now` (Unix seconds).
    ///
    /// Order: the format (`malformed`), the MAC under the primary then the transition key, in
    /// constant time (`bad_signature`), `st` (`not_yet_valid`), `exp` (`expired`), `ip`
    /// (`ip_mismatch`), and the path against `acl` (`out_of_scope`). A URL token signs its path,
    /// so a URL token presented for another path fails as `bad_signature`.
    pub fn verify<'t>(
        &self,
        token: &'t str,
        presented: &Presented<'_>,
        now: u64,
    ) -> Result<SessionClaims<'t>, Reason> {
        let fields = parse(token, ascii(self.options.field_delimiter))?;
        let url = match fields.acl {
            Some(_) => None,
            None => Some(escape_if(self.options.escape_early, presented.path)),
        };
        let mut tag = [0u8; MAX_MAC_LEN];
        let tag = decode_hex_into(fields.hmac.as_bytes(), &mut tag).ok_or(Reason::Malformed)?;
        let signed = self.signing_parts(fields.signed, url.as_deref());
        let parts = signed.as_parts();
        let genuine = self.primary.verify(&parts, tag)
            || self
                .transition
                .as_ref()
                .is_some_and(|key| key.verify(&parts, tag));
        if !genuine {
            return Err(Reason::BadSignature);
        }

        let leeway = self.options.leeway_secs;
        if fields
            .start
            .is_some_and(|st| st > now.saturating_add(leeway))
        {
            return Err(Reason::NotYetValid);
        }
        if fields.end <= now.saturating_sub(leeway) {
            return Err(Reason::Expired);
        }
        if let Some(bound) = fields.ip {
            let from = presented
                .ip
                .map(|ip| escape_if(self.options.escape_early, ip));
            if from.as_deref() != Some(bound) {
                return Err(Reason::IpMismatch);
            }
        }
        if let Some(acl) = fields.acl {
            // Delimiters are ASCII (checked in `new`), so splitting bytes splits characters.
            let acl_delim = ascii(self.options.acl_delimiter);
            let allowed = acl
                .as_bytes()
                .split(|&b| b == acl_delim)
                .any(|entry| glob::matches_bytes(entry, presented.path.as_bytes()));
            if !allowed {
                return Err(Reason::OutOfScope);
            }
        }
        Ok(SessionClaims {
            ip: fields.ip,
            start: fields.start,
            end: fields.end,
            acl: fields.acl,
            session_id: fields.id,
            data: fields.data,
        })
    }

    fn sign(&self, fields: &str, url: Option<&str>) -> Vec<u8> {
        let signed = self.signing_parts(fields, url);
        self.primary.sign(&signed.as_parts())
    }

    /// The string to sign: the token's fields before `hmac`, then `url=` and `salt=` when used.
    fn signing_parts<'s>(&'s self, fields: &'s str, url: Option<&str>) -> SigningInput<'s> {
        let mut tail = String::new();
        let delim = self.options.field_delimiter;
        if let Some(url) = url {
            let _ = write!(tail, "{delim}url={url}");
        }
        if let Some(salt) = &self.salt {
            let _ = write!(tail, "{delim}salt={salt}");
        }
        SigningInput { fields, tail }
    }

    fn escaped(&self, value: &str) -> Result<String, ConfigError> {
        let value = escape_if(self.options.escape_early, value);
        if value.contains(self.options.field_delimiter) {
            return Err(ConfigError::BadValue);
        }
        Ok(value)
    }

    fn join_acl(&self, entries: &[&str]) -> Result<String, ConfigError> {
        let (f, a) = (self.options.field_delimiter, self.options.acl_delimiter);
        if entries.is_empty() || entries.iter().any(|e| e.is_empty() || e.contains([f, a])) {
            return Err(ConfigError::BadValue);
        }
        let mut acl = String::new();
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                acl.push(a);
            }
            acl.push_str(entry);
        }
        Ok(acl)
    }
}

struct SigningInput<'s> {
    fields: &'s str,
    tail: String,
}

impl SigningInput<'_> {
    fn as_parts(&self) -> [&[u8]; 2] {
        [self.fields.as_bytes(), self.tail.as_bytes()]
    }
}

struct Fields<'t> {
    /// Everything before the delimiter that precedes `hmac=`.
    signed: &'t str,
    ip: Option<&'t str>,
    start: Option<u64>,
    end: u64,
    acl: Option<&'t str>,
    id: Option<&'t str>,
    data: Option<&'t str>,
    hmac: &'t str,
}

/// Splits a token into its fields. Each known field may appear once, `hmac` must come last,
/// `exp` is required, and times must be plain decimal numbers; anything else is `malformed`.
///
/// Works on bytes: the delimiter is ASCII, so every split falls on a character boundary and
/// the `str` slices below cannot fail; it is the hot path of every segment request.
fn parse(token: &str, delim: u8) -> Result<Fields<'_>, Reason> {
    let bytes = token.as_bytes();
    let mut fields = Fields {
        signed: "",
        ip: None,
        start: None,
        end: 0,
        acl: None,
        id: None,
        data: None,
        hmac: "",
    };
    let mut end = None;
    // One forward pass: find each field's `=` and closing delimiter. Both are ASCII, so every
    // index below falls on a character boundary and the `get`s cannot fail on a valid `str`.
    let mut at = 0;
    loop {
        let rest = bytes.get(at..).ok_or(Reason::Malformed)?;
        let eq = at
            + rest
                .iter()
                .position(|&b| b == b'=')
                .ok_or(Reason::Malformed)?;
        let name = bytes.get(at..eq).ok_or(Reason::Malformed)?;
        if name == b"hmac" {
            // `hmac` is last: whatever follows must be the tag itself (a stray delimiter is
            // not a hex digit, so decoding the tag refuses it).
            fields.signed = token.get(..at.saturating_sub(1)).ok_or(Reason::Malformed)?;
            fields.hmac = token.get(eq + 1..).ok_or(Reason::Malformed)?;
            if at == 0 {
                return Err(Reason::Malformed);
            }
            break;
        }
        let after = bytes.get(eq + 1..).ok_or(Reason::Malformed)?;
        let close = eq
            + 1
            + after
                .iter()
                .position(|&b| b == delim)
                .ok_or(Reason::Malformed)?;
        let value = token.get(eq + 1..close).ok_or(Reason::Malformed)?;
        let slot_was_empty = match name {
            b"ip" => fields.ip.replace(value).is_none(),
            b"st" => fields.start.replace(parse_time(value)?).is_none(),
            b"exp" => end.replace(parse_time(value)?).is_none(),
            b"acl" => fields.acl.replace(value).is_none(),
            b"id" => fields.id.replace(value).is_none(),
            b"data" => fields.data.replace(value).is_none(),
            _ => false,
        };
        if !slot_was_empty {
            return Err(Reason::Malformed);
        }
        at = close + 1;
    }
    fields.end = end.ok_or(Reason::Malformed)?;
    Ok(fields)
}

/// A delimiter as a byte; `EdgeAuth::new` only accepts ASCII delimiters.
fn ascii(c: char) -> u8 {
    u8::try_from(c).unwrap_or(b'~')
}

/// A Unix time: 1 to 19 decimal digits (no sign, no spaces), so it cannot overflow `u64`.
fn parse_time(value: &str) -> Result<u64, Reason> {
    if value.is_empty() || value.len() > 19 {
        return Err(Reason::Malformed);
    }
    let mut time = 0u64;
    for digit in value.bytes() {
        let d = digit.wrapping_sub(b'0');
        if d > 9 {
            return Err(Reason::Malformed);
        }
        time = time * 10 + u64::from(d);
    }
    Ok(time)
}

fn escape_if(escape: bool, value: &str) -> String {
    if escape {
        quote_plus_lower(value)
    } else {
        value.to_string()
    }
}

/// Python's `urllib.parse.quote_plus(value)` followed by lower-casing each `%XX`, which is what
/// the reference library's `escape_early` does: ASCII letters, digits and `_.-~` stay, a space
/// becomes `+`, every other UTF-8 byte becomes `%xx`.
pub fn quote_plus_lower(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(hex_digit(byte >> 4));
                out.push(hex_digit(byte));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600;
    const KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

    fn auth(options: Options) -> EdgeAuth {
        EdgeAuth::from_hex(KEY, Algorithm::Sha256, options).unwrap()
    }

    fn acl_request<'a>(acl: &'a [&'a str]) -> MintRequest<'a> {
        MintRequest {
            ip: None,
            start: Some(NOW),
            end: NOW + 600,
            scope: Scope::Acl(acl),
            session_id: Some("s-42"),
            data: None,
        }
    }

    fn at(path: &str) -> Presented<'_> {
        Presented { path, ip: None }
    }

    #[test]
    fn derived_keys_differ_by_label_and_follow_the_rotation() {
        let old = SecretKey::from_hex(Algorithm::Sha256, "00ff").unwrap();
        let ea = auth(Options::default());
        let rotating = auth(Options::default()).with_transition_key(old);
        let sign = |keys: &[SecretKey]| keys[0].sign(&[b"m"]);
        let queue = ea.derived_keys("queue");
        assert_eq!(queue.len(), 1);
        assert_ne!(sign(&queue), sign(&ea.derived_keys("admission")));
        // Not the session key itself.
        assert_ne!(sign(&queue), ea.primary.sign(&[b"m"]));
        // During a rotation the new key signs, and a signature of the old one still verifies.
        let both = rotating.derived_keys("queue");
        assert_eq!(both.len(), 2);
        assert_eq!(sign(&both), sign(&queue));
        let by_old = both[1].sign(&[b"m"]);
        assert!(both.iter().any(|k| k.verify(&[b"m"], &by_old)));
    }

    #[test]
    fn fields_come_in_the_reference_order() {
        let ea = auth(Options::default());
        let token = ea
            .mint(&MintRequest {
                ip: Some("1.2.3.4"),
                data: Some("kid:1"),
                ..acl_request(&["/events/e1/*"])
            })
            .unwrap();
        let names: Vec<_> = token
            .split('~')
            .map(|f| f.split_once('=').unwrap().0)
            .collect();
        assert_eq!(names, ["ip", "st", "exp", "acl", "id", "data", "hmac"]);
        assert!(token.starts_with("ip=1.2.3.4~st=1767225600~exp=1767226200~acl=/events/e1/*~"));
    }

    #[test]
    fn acl_token_opens_paths_under_any_entry_and_nothing_else() {
        let ea = auth(Options::default());
        let token = ea
            .mint(&acl_request(&["/events/e1/*", "/keys/e1/*"]))
            .unwrap();
        assert!(token.contains("acl=/events/e1/*!/keys/e1/*~"));
        assert!(ea.verify(&token, &at("/events/e1/720p/s.m4s"), NOW).is_ok());
        assert!(ea.verify(&token, &at("/keys/e1/k7"), NOW).is_ok());
        assert_eq!(
            ea.verify(&token, &at("/events/e2/master.m3u8"), NOW),
            Err(Reason::OutOfScope)
        );
    }

    #[test]
    fn url_token_is_valid_only_for_its_own_path() {
        let ea = auth(Options::default());
        let request = MintRequest {
            scope: Scope::Url("/events/e1/720p/index.m3u8"),
            ..acl_request(&[])
        };
        let token = ea.mint(&request).unwrap();
        assert!(!token.contains("url="));
        assert!(
            ea.verify(&token, &at("/events/e1/720p/index.m3u8"), NOW)
                .is_ok()
        );
        assert_eq!(
            ea.verify(&token, &at("/events/e1/1080p/index.m3u8"), NOW),
            Err(Reason::BadSignature)
        );
    }

    #[test]
    fn tampered_acl_fails_the_signature() {
        let ea = auth(Options::default());
        let token = ea.mint(&acl_request(&["/events/e1/*"])).unwrap();
        let tampered = token.replace("acl=/events/e1/*", "acl=/events/*");
        assert_eq!(
            ea.verify(&tampered, &at("/events/e2/a"), NOW),
            Err(Reason::BadSignature)
        );
    }

    #[test]
    fn times_are_checked_after_the_signature() {
        let ea = auth(Options::default());
        let token = ea.mint(&acl_request(&["/*"])).unwrap();
        assert_eq!(
            ea.verify(&token, &at("/a"), NOW - 1),
            Err(Reason::NotYetValid)
        );
        assert!(ea.verify(&token, &at("/a"), NOW + 599).is_ok());
        assert_eq!(
            ea.verify(&token, &at("/a"), NOW + 600),
            Err(Reason::Expired)
        );
        let lenient = auth(Options {
            leeway_secs: 5,
            ..Options::default()
        });
        assert!(lenient.verify(&token, &at("/a"), NOW - 5).is_ok());
        assert!(lenient.verify(&token, &at("/a"), NOW + 604).is_ok());
        assert_eq!(
            lenient.verify(&token, &at("/a"), NOW + 605),
            Err(Reason::Expired)
        );
    }

    #[test]
    fn ip_bound_token_needs_the_same_address() {
        let ea = auth(Options::default());
        let token = ea
            .mint(&MintRequest {
                ip: Some("10.0.0.1"),
                ..acl_request(&["/*"])
            })
            .unwrap();
        let from = |ip| Presented { path: "/a", ip };
        assert!(ea.verify(&token, &from(Some("10.0.0.1")), NOW).is_ok());
        assert_eq!(
            ea.verify(&token, &from(Some("10.0.0.2")), NOW),
            Err(Reason::IpMismatch)
        );
        assert_eq!(ea.verify(&token, &from(None), NOW), Err(Reason::IpMismatch));
    }

    #[test]
    fn wrong_key_and_transition_key() {
        let old = auth(Options::default());
        let new = EdgeAuth::from_hex("00ff", Algorithm::Sha256, Options::default()).unwrap();
        let token = old.mint(&acl_request(&["/*"])).unwrap();
        assert_eq!(
            new.verify(&token, &at("/a"), NOW),
            Err(Reason::BadSignature)
        );
        let rotating =
            new.with_transition_key(SecretKey::from_hex(Algorithm::Sha256, KEY).unwrap());
        assert!(rotating.verify(&token, &at("/a"), NOW).is_ok());
    }

    #[test]
    fn salt_is_signed_but_not_sent() {
        let salted = auth(Options::default()).with_salt("pepper");
        let token = salted.mint(&acl_request(&["/*"])).unwrap();
        assert!(!token.contains("pepper"));
        assert!(salted.verify(&token, &at("/a"), NOW).is_ok());
        assert_eq!(
            auth(Options::default()).verify(&token, &at("/a"), NOW),
            Err(Reason::BadSignature)
        );
    }

    #[test]
    fn custom_delimiters_are_honoured() {
        let ea = auth(Options {
            field_delimiter: ';',
            acl_delimiter: ',',
            ..Options::default()
        });
        let token = ea.mint(&acl_request(&["/a/*", "/b/*"])).unwrap();
        assert!(token.contains(";acl=/a/*,/b/*;"));
        assert!(ea.verify(&token, &at("/b/x"), NOW).is_ok());
        assert!(matches!(
            EdgeAuth::from_hex(
                KEY,
                Algorithm::Sha256,
                Options {
                    field_delimiter: '!',
                    ..Options::default()
                }
            ),
            Err(ConfigError::BadDelimiter)
        ));
    }

    #[test]
    fn escape_early_escapes_values_but_not_the_acl() {
        assert_eq!(quote_plus_lower("a b/c~é&"), "a+b%2fc~%c3%a9%26");
        let ea = auth(Options {
            escape_early: true,
            ..Options::default()
        });
        let token = ea
            .mint(&MintRequest {
                session_id: Some("user 1/2"),
                ..acl_request(&["/events/e1/*"])
            })
            .unwrap();
        assert!(token.contains("acl=/events/e1/*~id=user+1%2f2~"), "{token}");
        let claims = ea.verify(&token, &at("/events/e1/a"), NOW).unwrap();
        assert_eq!(claims.session_id, Some("user+1%2f2"));
    }

    #[test]
    fn values_that_would_corrupt_the_token_are_refused() {
        let ea = auth(Options::default());
        for request in [
            MintRequest {
                session_id: Some("a~b"),
                ..acl_request(&["/*"])
            },
            acl_request(&["/a!b"]),
            acl_request(&[]),
            acl_request(&[""]),
            MintRequest {
                start: Some(NOW + 600),
                ..acl_request(&["/*"])
            },
        ] {
            assert!(ea.mint(&request).is_err(), "{request:?}");
        }
    }

    #[test]
    fn malformed_tokens_are_reported_as_such() {
        let ea = auth(Options::default());
        let good = ea.mint(&acl_request(&["/*"])).unwrap();
        let hmac = good.rsplit_once("hmac=").unwrap().1;
        for token in [
            String::new(),
            "hmac=00".to_string(),
            "exp=1".to_string(),
            alloc::format!("exp=abc~hmac={hmac}"),
            alloc::format!("exp=-5~hmac={hmac}"),
            alloc::format!("exp=1~exp=2~hmac={hmac}"),
            alloc::format!("exp=1~foo=2~hmac={hmac}"),
            alloc::format!("exp=1~novalue~hmac={hmac}"),
            alloc::format!("st=1~acl=/*~hmac={hmac}"),
            good.replace("hmac=", "hmac=zz"),
            alloc::format!("{good}~"),
        ] {
            assert_eq!(
                ea.verify(&token, &at("/a"), NOW),
                Err(Reason::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn debug_output_hides_key_and_salt() {
        let ea = auth(Options::default()).with_salt("pepper");
        let printed = alloc::format!("{ea:?}");
        assert!(
            !printed.contains(KEY) && !printed.contains("pepper"),
            "{printed}"
        );
    }
}
