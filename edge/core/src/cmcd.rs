//! Common Media Client Data (CMCD): what players tell the edge about their playback, read from
//! requests and beacons, checked, and turned into QoE events for the steering controller.
//!
//! CMCD is CTA-5004 (v1, 2020) and CTA-5004-A (v2). A player attaches one *payload* of
//! `key=value` members to each media request, in one of two ways (CTA-5004 §3.1):
//!
//! * a query parameter named `CMCD` whose value is the percent-encoded payload
//!   (`?CMCD=bl%3D21300%2Cbr%3D3200%2Cbs`), read by [`Cmcd::from_query`];
//! * up to four headers, `CMCD-Object`, `CMCD-Request`, `CMCD-Session` and `CMCD-Status`, each
//!   holding the members of one "shard" unencoded, read by [`Cmcd::from_headers`].
//!
//! v2 adds *event mode*: the player POSTs reports to a collector, one payload per line
//! (`Content-Type: application/cmcd`, CTA-5004-B §8.2), read by [`parse_beacon`]. v2's JSON
//! transmission mode was dropped before publication, so there is no JSON input here.
//!
//! The payload syntax is an RFC 8941 Structured Field *Dictionary* (CTA-5004 §3.2 says it is
//! "intended to be compliant"; v2 relies on it for inner lists and parameters), and the parser
//! here is a strict subset of RFC 8941 §4.2: strings are quoted with `\"` and `\\` as the only
//! escapes, a key alone means Boolean true, `?0`/`?1` are Booleans, tokens are unquoted. It is
//! lenient only where players are: member order (§3.2 says keys SHOULD be sorted, not MUST),
//! optional whitespace around commas, and which header shard a key arrives in. Everything else
//! that is malformed is a specific [`CmcdError`]; no input panics.
//!
//! Keys CTA-5004 reserves are type-checked, and the ones a QoE pipeline uses are typed fields of
//! [`Cmcd`]. Custom keys (which must contain a hyphen, CTA-5004 §3.2: `com.example-key`) and
//! keys this code does not know are kept as [`Cmcd::other`], so a newer player is never refused.
//!
//! The edge also strips the `CMCD` parameter (and its own session-token parameter) from the
//! query before it builds the cache key and the origin request: a payload differs on every
//! request, so leaving it in would make every request a cache miss ([`strip_params`]).

use std::collections::BTreeSet;
use std::fmt;

use http::HeaderMap;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

/// The largest payload accepted, in bytes, after percent-decoding (query form) or summed over the
/// four headers (header form).
///
/// CTA-5004 sets no limit. A v1 payload with every reserved key is about 400 bytes and the v2
/// example carrying every key (CTA-5004-B §8.1.8) about 700; 4 KiB leaves room for custom keys
/// while bounding the work one request can make the edge do.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// The query parameter carrying the payload (CTA-5004 §3.1). Matched case-sensitively.
pub const QUERY_PARAM: &str = "CMCD";

/// The four header shards, lower-case as `http` stores them (CTA-5004 §3.1).
pub const HEADER_NAMES: [&str; 4] = ["cmcd-object", "cmcd-request", "cmcd-session", "cmcd-status"];

/// The largest magnitude of an RFC 8941 Integer (§3.3.1): 15 decimal digits.
const MAX_INTEGER: i64 = 999_999_999_999_999;

/// Why a CMCD payload, query, header or beacon body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmcdError {
    /// The payload is longer than the limit, in bytes: [`MAX_PAYLOAD_BYTES`] for a payload, or
    /// [`BeaconLimits::max_bytes`] for a beacon body.
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The `CMCD` query value has a `%` not followed by two hex digits, or decodes to bytes that
    /// are not UTF-8.
    BadPercentEncoding,
    /// The query has more than one `CMCD` parameter.
    DuplicateParam,
    /// A CMCD header holds bytes outside visible ASCII, or a beacon body is not UTF-8.
    NotText,
    /// A member without a key: a leading, trailing or doubled comma, or a value with no key.
    EmptyKey,
    /// A key with a character RFC 8941 §3.2 does not allow (keys are `a-z`, `0-9`, `_`, `-`,
    /// `.`, `*`, starting with a letter or `*`; only custom keys may also use `A-Z`).
    BadKey,
    /// The same key twice, in one payload or across header shards.
    DuplicateKey(String),
    /// A string value without its closing quote.
    UnterminatedString,
    /// A string with a backslash not followed by `"` or `\`, or a character outside printable
    /// ASCII (RFC 8941 §3.3.3).
    BadString,
    /// The value of this key is not an RFC 8941 item or inner list, or is followed by something
    /// other than a comma: `br=12a`, an integer of more than 15 digits, a decimal with more than
    /// three fractional digits, an unclosed `(`, a byte sequence.
    BadValue {
        /// The member's key.
        key: String,
    },
    /// This key carries RFC 8941 parameters (`key=1;x`), which CMCD never defines on a member.
    Parameters {
        /// The member's key.
        key: String,
    },
    /// A reserved key whose value has the wrong type (CTA-5004 Table 1; CTA-5004-A for v2 keys).
    WrongType {
        /// The reserved key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A reserved token key with a token its definition does not list (`ot=x`).
    UnknownToken {
        /// The reserved key.
        key: &'static str,
    },
    /// A beacon body with more reports than [`BeaconLimits::max_lines`].
    TooManyLines {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A beacon line that is not a valid payload.
    Line {
        /// The 1-based line number in the body.
        line: usize,
        /// What is wrong with it.
        error: Box<CmcdError>,
    },
}

impl fmt::Display for CmcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmcdError::TooLarge { limit } => write!(f, "cmcd payload larger than {limit} bytes"),
            CmcdError::BadPercentEncoding => {
                f.write_str("cmcd query value is not percent-encoded utf-8")
            }
            CmcdError::DuplicateParam => f.write_str("cmcd query parameter given more than once"),
            CmcdError::NotText => f.write_str("cmcd header or beacon body is not text"),
            CmcdError::EmptyKey => f.write_str("cmcd member without a key"),
            CmcdError::BadKey => f.write_str("cmcd key with a character keys cannot hold"),
            CmcdError::DuplicateKey(key) => write!(f, "cmcd key {key} given more than once"),
            CmcdError::UnterminatedString => f.write_str("cmcd string without a closing quote"),
            CmcdError::BadString => {
                f.write_str("cmcd string with a bad escape or a character outside printable ascii")
            }
            CmcdError::BadValue { key } => write!(f, "cmcd value of {key} is malformed"),
            CmcdError::Parameters { key } => {
                write!(
                    f,
                    "cmcd key {key} has parameters, which cmcd does not define"
                )
            }
            CmcdError::WrongType { key, expected } => {
                write!(f, "cmcd key {key} must be {expected}")
            }
            CmcdError::UnknownToken { key } => {
                write!(f, "cmcd key {key} has a token it does not define")
            }
            CmcdError::TooManyLines { limit } => {
                write!(f, "cmcd beacon with more than {limit} reports")
            }
            CmcdError::Line { line, error } => write!(f, "cmcd beacon line {line}: {error}"),
        }
    }
}

impl std::error::Error for CmcdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CmcdError::Line { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// A value of a custom or unknown key, as RFC 8941 types it (§3.3). CTA-5004 §3.2 maps its own
/// types onto these: Integer, Decimal, Boolean, String and Token, plus v2's inner lists.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer of at most 15 digits.
    Integer(i64),
    /// A decimal with at most 12 integer and 3 fractional digits.
    Decimal(f64),
    /// `?1` or a key alone (true), `?0` (false).
    Bool(bool),
    /// A quoted string, unescaped: printable ASCII.
    String(String),
    /// An unquoted token.
    Token(String),
    /// An inner list `(a b c)`. Its items' values and parameters are never lists themselves.
    List(Vec<Item>),
}

/// One item of an inner list: a value and its RFC 8941 parameters (`3000;v`, `"seg.m4v";r="0-99"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The item's value; never a [`Value::List`].
    pub value: Value,
    /// The item's parameters in order; their values are never [`Value::List`].
    pub params: Vec<(String, Value)>,
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Integer(n) => serializer.serialize_i64(*n),
            Value::Decimal(n) => serializer.serialize_f64(*n),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::String(s) | Value::Token(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for Item {
    /// An item without parameters is its bare value; with parameters, an object
    /// `{"value": .., "params": {..}}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.params.is_empty() {
            return self.value.serialize(serializer);
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("value", &self.value)?;
        map.serialize_entry("params", &MapOf(&self.params))?;
        map.end()
    }
}

/// Serialises key-value pairs as a JSON object, in order.
struct MapOf<'a>(&'a [(String, Value)]);

impl Serialize for MapOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Defines an enum of the tokens a reserved key may take, with its wire form.
macro_rules! tokens {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $token:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $token)] $variant,)+
        }

        impl $name {
            /// Every variant, in the specification's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The token on the wire.
            pub fn token(self) -> &'static str {
                match self {
                    $($name::$variant => $token,)+
                }
            }

            /// The variant a wire token names, if the specification defines it.
            pub fn from_token(token: &str) -> Option<Self> {
                match token {
                    $($token => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

tokens! {
    /// `ot`, the media type of the object requested (CTA-5004 Table 1). In v2 these tokens also
    /// tag the items of per-object lists (`br=(3000;v 128;a)`).
    ObjectType {
        /// `m`: a text file such as a manifest or playlist.
        Manifest = "m",
        /// `a`: audio only.
        Audio = "a",
        /// `v`: video only.
        Video = "v",
        /// `av`: muxed audio and video.
        Muxed = "av",
        /// `i`: an init segment.
        Init = "i",
        /// `c`: a caption or subtitle.
        Caption = "c",
        /// `tt`: an ISOBMFF timed text track.
        TimedText = "tt",
        /// `k`: a cryptographic key, licence or certificate.
        Key = "k",
        /// `o`: anything else.
        Other = "o",
    }
}

tokens! {
    /// `sf`, the streaming format (CTA-5004 Table 1; `e` added by CTA-5004-A).
    StreamingFormat {
        /// `d`: MPEG-DASH.
        Dash = "d",
        /// `h`: HLS.
        Hls = "h",
        /// `e`: HESP (v2).
        Hesp = "e",
        /// `s`: Smooth Streaming.
        Smooth = "s",
        /// `o`: another format.
        Other = "o",
    }
}

tokens! {
    /// `st`, the stream type (CTA-5004 Table 1; `ll` added by CTA-5004-A).
    StreamType {
        /// `v`: every segment is available (VOD).
        Vod = "v",
        /// `l`: segments become available over time (live).
        Live = "l",
        /// `ll`: low-latency live (v2).
        LowLatency = "ll",
    }
}

tokens! {
    /// `sta`, the player's state as the viewer perceives it (CTA-5004-A).
    PlayerState {
        /// `s`: starting.
        Starting = "s",
        /// `p`: playing.
        Playing = "p",
        /// `k`: seeking.
        Seeking = "k",
        /// `r`: rebuffering.
        Rebuffering = "r",
        /// `a`: paused by the viewer.
        Paused = "a",
        /// `w`: waiting, paused by the player.
        Waiting = "w",
        /// `e`: ended.
        Ended = "e",
        /// `f`: fatal error.
        FatalError = "f",
        /// `q`: quit before the end.
        Quit = "q",
        /// `d`: preloading.
        Preloading = "d",
    }
}

/// A bitrate, buffer or throughput key: an Integer in v1 (`br=3200`), an inner list of Integers
/// in v2, each optionally tagged with the object type it is about (`br=(3000;v 164;a)`;
/// CTA-5004-A, and the CTA-5004-B §8.1 examples).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Levels {
    /// The v1 form: one value, about the object requested.
    Scalar(u64),
    /// The v2 form. Serialised as `[{"value": 3000, "ot": "v"}, ..]`.
    List(Vec<Level>),
}

/// One value of a v2 [`Levels`] list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Level {
    /// The value, in the key's unit.
    pub value: u64,
    /// The object type it is about; `None` means the object requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ot: Option<ObjectType>,
}

impl Levels {
    /// The value for an object type: v1's single value whatever `ot`; in a v2 list the item
    /// tagged `ot`, else the first untagged item, else (when `ot` is `None`) the first item.
    pub fn get(&self, ot: Option<ObjectType>) -> Option<u64> {
        match self {
            Levels::Scalar(value) => Some(*value),
            Levels::List(items) => items
                .iter()
                .find(|l| ot.is_some() && l.ot == ot)
                .or_else(|| items.iter().find(|l| l.ot.is_none()))
                .or_else(|| if ot.is_none() { items.first() } else { None })
                .map(|l| l.value),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Levels::Scalar(n) => integer(*n),
            Levels::List(items) => Value::List(
                items
                    .iter()
                    .map(|l| Item {
                        value: integer(l.value),
                        params: l
                            .ot
                            .map(|ot| (ot.token().to_owned(), Value::Bool(true)))
                            .into_iter()
                            .collect(),
                    })
                    .collect(),
            ),
        }
    }
}

/// `nor`, the objects the player expects to request next: a String in v1 (a relative path, which
/// v1 requires to be URL-encoded, so it is kept as sent), an inner list of Strings in v2, each
/// with an optional byte range as its `r` parameter (CTA-5004-A; v1 sent the range as `nrr`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum NextObjects {
    /// The v1 form.
    Scalar(String),
    /// The v2 form. Serialised as `[{"path": "seg-2.m4v", "range": "0-99"}, ..]`.
    List(Vec<NextObject>),
}

/// One object of a v2 `nor` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NextObject {
    /// The path, relative to the current request.
    pub path: String,
    /// The byte range, `<start>-`, `<start>-<end>` or `-<suffix>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

impl NextObjects {
    fn to_value(&self) -> Value {
        match self {
            NextObjects::Scalar(path) => Value::String(path.clone()),
            NextObjects::List(items) => Value::List(
                items
                    .iter()
                    .map(|o| Item {
                        value: Value::String(o.path.clone()),
                        params: o
                            .range
                            .as_ref()
                            .map(|r| ("r".to_owned(), Value::String(r.clone())))
                            .into_iter()
                            .collect(),
                    })
                    .collect(),
            ),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One CMCD payload. Field names are the CTA-5004 keys, so the JSON the controller reads uses the
/// keys players send; absent keys are left out of it. Units are the specification's: bitrates
/// and throughputs in kbps, durations and times in milliseconds, timestamps in Unix ms.
///
/// Booleans follow CTA-5004 §3.2: a key alone is true and absence is false, so `false` and
/// "not sent" are the same here.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cmcd {
    /// `bl`, buffer length (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bl: Option<Levels>,
    /// `br`, encoded bitrate of the object (kbps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub br: Option<Levels>,
    /// `bs`, the buffer starved since the previous request.
    #[serde(skip_serializing_if = "is_false")]
    pub bs: bool,
    /// `bsd`, how long the buffer was starved (ms; v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bsd: Option<Levels>,
    /// `cdn`, the delivery network the player is using (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdn: Option<String>,
    /// `cid`, content id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// `d`, object duration (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<u64>,
    /// `dl`, deadline: time until the object must be available to avoid a stall (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dl: Option<u64>,
    /// `e`, the event an event-mode report is about (`ps`, `e`, `t`, `rr`, ...; v2). Kept as the
    /// token sent, because the list of events keeps growing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// `ec`, the player's error codes (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec: Option<Vec<String>>,
    /// `ltc`, live latency: origin availability to rendering (ms; v2). Signed: it is computed
    /// across two clocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ltc: Option<i64>,
    /// `msd`, media start delay: play requested to first frame (ms; v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msd: Option<u64>,
    /// `mtp`, measured throughput (kbps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtp: Option<Levels>,
    /// `nor`, next object request(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nor: Option<NextObjects>,
    /// `nrr`, next range request (v1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nrr: Option<String>,
    /// `ot`, object type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ot: Option<ObjectType>,
    /// `pr`, playback rate (1 is real time, 0 not playing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<f64>,
    /// `pt`, playhead time (ms; v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pt: Option<u64>,
    /// `rc`, the HTTP status the player received for the object (v2 event mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<u64>,
    /// `rtp`, requested maximum throughput (kbps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp: Option<u64>,
    /// `sf`, streaming format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sf: Option<StreamingFormat>,
    /// `sid`, session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `st`, stream type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub st: Option<StreamType>,
    /// `sta`, player state (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sta: Option<PlayerState>,
    /// `su`, startup: the object is needed urgently (start, seek, recovery).
    #[serde(skip_serializing_if = "is_false")]
    pub su: bool,
    /// `tb`, top bitrate the player may play (kbps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tb: Option<Levels>,
    /// `tbl`, target buffer length (ms; v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tbl: Option<Levels>,
    /// `ts`, when the reported event happened (Unix ms; v2, required in event mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
    /// `ttfb`, time to first byte (ms; v2 event mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<u64>,
    /// `ttlb`, time to last byte (ms; v2 event mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttlb: Option<u64>,
    /// `url`, the URL of the object a response-received report is about (v2 event mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `v`, the CMCD version; absent means 1 (CTA-5004 Table 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v: Option<u64>,
    /// Every other key, in the order received: custom keys (with a hyphen), the reserved v2 keys
    /// not typed above (type-checked all the same), and keys this code does not know. Must not
    /// repeat a typed key. Serialised as further members of the JSON object.
    #[serde(flatten, serialize_with = "serialize_other")]
    pub other: Vec<(String, Value)>,
}

fn serialize_other<S: Serializer>(
    other: &[(String, Value)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    MapOf(other).serialize(serializer)
}

/// The shape a reserved key that is kept in [`Cmcd::other`] must have.
#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Bool,
    String,
    Levels,
}

/// The reserved v2 keys not typed in [`Cmcd`], and their types (CTA-5004-A; common-media-library
/// `CMCD_KEY_TYPES`). Checked so that a malformed value of a reserved key is refused, not stored.
const RESERVED_OTHER: &[(&str, Kind)] = &[
    ("ab", Kind::Levels),
    ("bg", Kind::Bool),
    ("bsa", Kind::Levels),
    ("bsda", Kind::Levels),
    ("cen", Kind::String),
    ("cmsdd", Kind::String),
    ("cmsds", Kind::String),
    ("cs", Kind::String),
    ("dfa", Kind::Integer),
    ("h", Kind::String),
    ("lab", Kind::Levels),
    ("lb", Kind::Levels),
    ("nr", Kind::Bool),
    ("pb", Kind::Levels),
    ("sn", Kind::Integer),
    ("smrt", Kind::String),
    ("tab", Kind::Levels),
    ("tpb", Kind::Levels),
    ("ttfbb", Kind::Integer),
];

type Members = Vec<(String, Value)>;

impl Cmcd {
    /// The CMCD payload of a raw query string (without `?`), or `None` when it has no `CMCD`
    /// parameter. The value is percent-decoded, `+` as a space (form encoding, which
    /// `URLSearchParams` uses); a parameter name is matched after decoding too.
    pub fn from_query(query: &str) -> Result<Option<Cmcd>, CmcdError> {
        query_members(query)?.map(from_members).transpose()
    }

    /// The CMCD payload of a request's headers, or `None` when none of the four is present.
    ///
    /// Each header's lines are joined with commas (RFC 8941 §4.2) and parsed on their own; the
    /// shards are then merged, and a key in two shards is [`CmcdError::DuplicateKey`]. A key in
    /// the "wrong" shard is accepted: CTA-5004 §3.1 says keys SHOULD go to their shard.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Cmcd>, CmcdError> {
        header_members(headers)?.map(from_members).transpose()
    }

    /// The CMCD payload of a request carrying it in its query, its headers or both.
    ///
    /// Players use one or the other; when both are present they are merged key by key and the
    /// query wins, because the player wrote it into the URL itself while headers can be added by
    /// intermediaries (or lost to CORS). Either one being malformed is an error.
    pub fn from_request(
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Option<Cmcd>, CmcdError> {
        // Most requests carry no CMCD at all: answer them without parsing anything. The query
        // name may be percent-encoded (`CM%43D`), so any `%` means the full look.
        let query_may_carry = query.is_some_and(|q| q.contains("CMCD") || q.contains('%'));
        let headers_may_carry = headers
            .keys()
            .any(|name| name.as_str().starts_with("cmcd-"));
        if !query_may_carry && !headers_may_carry {
            return Ok(None);
        }
        let from_query = match query.filter(|_| query_may_carry) {
            Some(query) => query_members(query)?,
            None => None,
        };
        let from_headers = if headers_may_carry {
            header_members(headers)?
        } else {
            None
        };
        let members = match (from_query, from_headers) {
            (None, None) => return Ok(None),
            (Some(members), None) | (None, Some(members)) => members,
            (Some(mut members), Some(headers)) => {
                let in_query: BTreeSet<String> = members.iter().map(|(k, _)| k.clone()).collect();
                members.extend(headers.into_iter().filter(|(k, _)| !in_query.contains(k)));
                members
            }
        };
        from_members(members).map(Some)
    }

    /// One decoded payload (not percent-encoded), as in a header or a beacon line. An empty
    /// payload is an empty [`Cmcd`].
    pub fn parse(payload: &str) -> Result<Cmcd, CmcdError> {
        check_size(payload.len())?;
        from_members(parse_dictionary(payload)?)
    }

    /// Whether no key at all was sent.
    pub fn is_empty(&self) -> bool {
        *self == Cmcd::default()
    }

    /// The CMCD version the payload is written in: `v`, or 1 when absent (CTA-5004 Table 1).
    pub fn version(&self) -> u64 {
        self.v.unwrap_or(1)
    }

    /// The payload in canonical form: keys in alphabetical order, a true Boolean as its key alone
    /// and a false one left out (CTA-5004 §3.2), strings quoted and escaped. Not percent-encoded.
    /// [`Cmcd::parse`] reads it back to an equal value.
    ///
    /// A value CMCD cannot carry is left out rather than sent malformed: a number out of RFC
    /// 8941's range or not finite, a string with a character outside printable ASCII, a bad
    /// key or token in [`Cmcd::other`]. An `other` entry repeating an earlier key is left out
    /// too. An `other` Boolean that is false is sent as `key=?0`, since for those keys absence
    /// and false may differ (CTA-5004-B requires `bg=?0` on a backgrounding event).
    pub fn to_payload(&self) -> String {
        let mut members = self.to_members();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members.dedup_by(|a, b| a.0 == b.0);
        let mut out = String::new();
        for (key, value) in &members {
            let mut member = String::new();
            if write_member(&mut member, key, value) {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(&member);
            }
        }
        out
    }

    /// The members to serialise: typed fields first, then `other`, unsorted.
    fn to_members(&self) -> Members {
        let mut m: Members = Vec::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                m.push((key.to_owned(), value));
            }
        };
        let flag = |b: bool| b.then_some(Value::Bool(true));
        let string = |s: &Option<String>| s.clone().map(Value::String);
        let int = |n: Option<u64>| n.map(integer);
        let token = |t: Option<&'static str>| t.map(|t| Value::Token(t.to_owned()));
        put("bl", self.bl.as_ref().map(Levels::to_value));
        put("br", self.br.as_ref().map(Levels::to_value));
        put("bs", flag(self.bs));
        put("bsd", self.bsd.as_ref().map(Levels::to_value));
        put("cdn", string(&self.cdn));
        put("cid", string(&self.cid));
        put("d", int(self.d));
        put("dl", int(self.dl));
        put("e", self.e.clone().map(Value::Token));
        put(
            "ec",
            self.ec.as_ref().map(|codes| {
                Value::List(
                    codes
                        .iter()
                        .map(|c| Item {
                            value: Value::String(c.clone()),
                            params: Vec::new(),
                        })
                        .collect(),
                )
            }),
        );
        put("ltc", self.ltc.map(Value::Integer));
        put("msd", int(self.msd));
        put("mtp", self.mtp.as_ref().map(Levels::to_value));
        put("nor", self.nor.as_ref().map(NextObjects::to_value));
        put("nrr", string(&self.nrr));
        put("ot", token(self.ot.map(ObjectType::token)));
        put("pr", self.pr.map(Value::Decimal));
        put("pt", int(self.pt));
        put("rc", int(self.rc));
        put("rtp", int(self.rtp));
        put("sf", token(self.sf.map(StreamingFormat::token)));
        put("sid", string(&self.sid));
        put("st", token(self.st.map(StreamType::token)));
        put("sta", token(self.sta.map(PlayerState::token)));
        put("su", flag(self.su));
        put("tb", self.tb.as_ref().map(Levels::to_value));
        put("tbl", self.tbl.as_ref().map(Levels::to_value));
        put("ts", int(self.ts));
        put("ttfb", int(self.ttfb));
        put("ttlb", int(self.ttlb));
        put("url", string(&self.url));
        put("v", int(self.v));
        m.extend(self.other.iter().cloned());
        m
    }
}

/// An unsigned value as an RFC 8941 Integer; one too large for `i64` becomes one too large for
/// RFC 8941, which the serialiser leaves out.
fn integer(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn check_size(len: usize) -> Result<(), CmcdError> {
    if len > MAX_PAYLOAD_BYTES {
        return Err(CmcdError::TooLarge {
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(())
}

/// The members of the `CMCD` parameter of a query, or `None` if it has none.
fn query_members(query: &str) -> Result<Option<Members>, CmcdError> {
    let mut found = None;
    for segment in query.split('&') {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        if name_is(name, QUERY_PARAM) {
            if found.is_some() {
                return Err(CmcdError::DuplicateParam);
            }
            found = Some(value);
        }
    }
    let Some(raw) = found else {
        return Ok(None);
    };
    // Percent-encoding at most triples a payload: refuse before decoding anything larger.
    if raw.len() > 3 * MAX_PAYLOAD_BYTES {
        return Err(CmcdError::TooLarge {
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let payload = percent_decode(raw)?;
    check_size(payload.len())?;
    parse_dictionary(&payload).map(Some)
}

/// The members of the four CMCD headers, or `None` if none is present.
fn header_members(headers: &HeaderMap) -> Result<Option<Members>, CmcdError> {
    let mut members: Members = Vec::new();
    let mut seen = BTreeSet::new();
    let mut any = false;
    let mut total = 0usize;
    for name in HEADER_NAMES {
        let mut combined = String::new();
        for value in headers.get_all(name) {
            any = true;
            let text = value
                .to_str()
                .map_err(|_| CmcdError::NotText)?
                .trim_matches([' ', '\t']);
            if text.is_empty() {
                continue;
            }
            total = total.saturating_add(text.len());
            check_size(total)?;
            if !combined.is_empty() {
                combined.push(',');
            }
            combined.push_str(text);
        }
        for (key, value) in parse_dictionary(&combined)? {
            if !seen.insert(key.clone()) {
                return Err(CmcdError::DuplicateKey(key));
            }
            members.push((key, value));
        }
    }
    Ok(any.then_some(members))
}

/// Whether a raw query parameter name is `target`, either as is or percent-decoded.
fn name_is(raw: &str, target: &str) -> bool {
    raw == target
        || (raw.contains(['%', '+']) && percent_decode(raw).is_ok_and(|name| name == target))
}

/// Decodes `%XX` escapes and `+` (a space in form encoding) and checks the result is UTF-8.
fn percent_decode(raw: &str) -> Result<String, CmcdError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| hex(*c));
                let lo = bytes.get(i + 2).and_then(|c| hex(*c));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(CmcdError::BadPercentEncoding);
                };
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| CmcdError::BadPercentEncoding)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Removes the parameters named `names` from a raw query string (without `?`) and keeps every
/// other byte as it was, separators included (`a=1&&b`, `flag`, `x=%41` stay as they are), so
/// the result can go into a cache key and an origin URL unchanged. A name is matched as is or
/// percent-decoded (`CM%43D` is `CMCD`), case-sensitively. Returns `None` when nothing remains.
pub fn strip_params(query: &str, names: &[&str]) -> Option<String> {
    let mut out = String::with_capacity(query.len());
    let mut first = true;
    for segment in query.split('&') {
        let name = segment.split_once('=').map_or(segment, |(name, _)| name);
        if names.iter().any(|n| !n.is_empty() && name_is(name, n)) {
            continue;
        }
        if !first {
            out.push('&');
        }
        out.push_str(segment);
        first = false;
    }
    (!out.is_empty()).then_some(out)
}

/// Removes the `CMCD` parameter from a raw query string: [`strip_params`] with [`QUERY_PARAM`].
pub fn strip_from_query(query: &str) -> Option<String> {
    strip_params(query, &[QUERY_PARAM])
}

/// Bounds on a beacon body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconLimits {
    /// The most reports (non-blank lines) a body may hold.
    pub max_lines: usize,
    /// The most bytes a body may hold. Each line is also bound by [`MAX_PAYLOAD_BYTES`].
    pub max_bytes: usize,
}

impl Default for BeaconLimits {
    /// 64 reports and 64 KiB: a player batching reports every 30 s (CTA-5004-A's default
    /// interval) sends a handful per POST.
    fn default() -> Self {
        BeaconLimits {
            max_lines: 64,
            max_bytes: 64 * 1024,
        }
    }
}

/// The reports of an event-mode beacon body: payloads one per line, unencoded, as CTA-5004-B
/// §8.2 shows and common-media-library sends them (`application/cmcd`, lines joined by `\n` with
/// a final `\n`). `\r\n` line ends and blank lines are accepted. An empty body is no reports.
///
/// Event reports MUST carry `e` and `ts` (CTA-5004-A); this does not enforce it, so that a
/// request-mode payload posted by mistake still counts, and leaves that to the caller.
pub fn parse_beacon(body: &[u8], limits: BeaconLimits) -> Result<Vec<Cmcd>, CmcdError> {
    if body.len() > limits.max_bytes {
        return Err(CmcdError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| CmcdError::NotText)?;
    let mut reports = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_matches([' ', '\t']).is_empty() {
            continue;
        }
        if reports.len() >= limits.max_lines {
            return Err(CmcdError::TooManyLines {
                limit: limits.max_lines,
            });
        }
        let report = Cmcd::parse(line).map_err(|error| CmcdError::Line {
            line: index + 1,
            error: Box::new(error),
        })?;
        reports.push(report);
    }
    Ok(reports)
}

/// Where a [`CmcdEvent`]'s data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A media request carrying CMCD (request mode).
    Request,
    /// A report POSTed to the beacon endpoint (event mode).
    Beacon,
}

/// A QoE event for the steering controller: what the edge emits, as one JSON line, for each
/// request carrying CMCD and for each beacon report. Absent facts are left out of the JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CmcdEvent<'a> {
    /// When the edge saw it (Unix ms, from the adapter's clock).
    pub at: u64,
    /// The event id, as in paths.
    pub event: &'a str,
    /// The pathway (CDN) that served the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pathway: Option<&'a str>,
    /// The viewer's country (ISO 3166-1 alpha-2), if the platform says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<&'a str>,
    /// The viewer's autonomous system, if the platform says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The path requested (request mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<&'a str>,
    /// Request or beacon.
    pub source: Source,
    /// The payload, with the CTA key names.
    pub cmcd: &'a Cmcd,
}

// ---------------------------------------------------------------------------------------------
// Typing: from dictionary members to `Cmcd`.

fn from_members(members: Members) -> Result<Cmcd, CmcdError> {
    let mut c = Cmcd::default();
    for (key, value) in members {
        match key.as_str() {
            "bl" => c.bl = Some(levels("bl", &value)?),
            "br" => c.br = Some(levels("br", &value)?),
            "bs" => c.bs = boolean("bs", &value)?,
            "bsd" => c.bsd = Some(levels("bsd", &value)?),
            "cdn" => c.cdn = Some(string("cdn", value)?),
            "cid" => c.cid = Some(string("cid", value)?),
            "d" => c.d = Some(unsigned("d", &value)?),
            "dl" => c.dl = Some(unsigned("dl", &value)?),
            "e" => c.e = Some(token("e", value)?),
            "ec" => c.ec = Some(strings("ec", value)?),
            "ltc" => {
                c.ltc = Some(match value {
                    Value::Integer(n) => n,
                    _ => return Err(wrong("ltc", "an integer")),
                })
            }
            "msd" => c.msd = Some(unsigned("msd", &value)?),
            "mtp" => c.mtp = Some(levels("mtp", &value)?),
            "nor" => c.nor = Some(next_objects(value)?),
            "nrr" => c.nrr = Some(string("nrr", value)?),
            "ot" => c.ot = Some(enumerated("ot", value, ObjectType::from_token)?),
            "pr" => {
                c.pr = Some(match value {
                    Value::Decimal(n) => n,
                    // RFC 8941 has no "number": `pr=0` and `pr=2` arrive as Integers
                    // (CTA-5004-B §8.2.2 sends `pr=0`). At most 15 digits: exact in an f64.
                    Value::Integer(n) => n as f64,
                    _ => return Err(wrong("pr", "a decimal")),
                })
            }
            "pt" => c.pt = Some(unsigned("pt", &value)?),
            "rc" => c.rc = Some(unsigned("rc", &value)?),
            "rtp" => c.rtp = Some(unsigned("rtp", &value)?),
            "sf" => c.sf = Some(enumerated("sf", value, StreamingFormat::from_token)?),
            "sid" => c.sid = Some(string("sid", value)?),
            "st" => c.st = Some(enumerated("st", value, StreamType::from_token)?),
            "sta" => c.sta = Some(enumerated("sta", value, PlayerState::from_token)?),
            "su" => c.su = boolean("su", &value)?,
            "tb" => c.tb = Some(levels("tb", &value)?),
            "tbl" => c.tbl = Some(levels("tbl", &value)?),
            "ts" => c.ts = Some(unsigned("ts", &value)?),
            "ttfb" => c.ttfb = Some(unsigned("ttfb", &value)?),
            "ttlb" => c.ttlb = Some(unsigned("ttlb", &value)?),
            "url" => c.url = Some(string("url", value)?),
            "v" => c.v = Some(unsigned("v", &value)?),
            other => {
                if let Some(&(key, kind)) = RESERVED_OTHER.iter().find(|(k, _)| *k == other) {
                    match kind {
                        Kind::Integer => {
                            unsigned(key, &value)?;
                        }
                        Kind::Bool => {
                            boolean(key, &value)?;
                        }
                        Kind::String if matches!(value, Value::String(_)) => {}
                        Kind::String => return Err(wrong(key, "a string")),
                        Kind::Levels => {
                            levels(key, &value)?;
                        }
                    }
                }
                c.other.push((key, value));
            }
        }
    }
    Ok(c)
}

fn wrong(key: &'static str, expected: &'static str) -> CmcdError {
    CmcdError::WrongType { key, expected }
}

fn unsigned(key: &'static str, value: &Value) -> Result<u64, CmcdError> {
    match value {
        Value::Integer(n) => u64::try_from(*n).map_err(|_| wrong(key, "a non-negative integer")),
        _ => Err(wrong(key, "a non-negative integer")),
    }
}

fn boolean(key: &'static str, value: &Value) -> Result<bool, CmcdError> {
    match value {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong(key, "a boolean (the key alone, or ?0/?1)")),
    }
}

fn string(key: &'static str, value: Value) -> Result<String, CmcdError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(wrong(key, "a string")),
    }
}

fn token(key: &'static str, value: Value) -> Result<String, CmcdError> {
    match value {
        Value::Token(t) => Ok(t),
        _ => Err(wrong(key, "a token")),
    }
}

fn enumerated<T>(
    key: &'static str,
    value: Value,
    from_token: fn(&str) -> Option<T>,
) -> Result<T, CmcdError> {
    from_token(&token(key, value)?).ok_or(CmcdError::UnknownToken { key })
}

const LEVELS: &str = "an integer or an inner list of integers tagged with object types";

fn levels(key: &'static str, value: &Value) -> Result<Levels, CmcdError> {
    match value {
        Value::Integer(_) => unsigned(key, value)
            .map(Levels::Scalar)
            .map_err(|_| wrong(key, LEVELS)),
        Value::List(items) => items
            .iter()
            .map(|item| {
                let value = unsigned(key, &item.value).map_err(|_| wrong(key, LEVELS))?;
                let ot = match item.params.as_slice() {
                    [] => None,
                    [(name, Value::Bool(true))] => {
                        Some(ObjectType::from_token(name).ok_or_else(|| wrong(key, LEVELS))?)
                    }
                    _ => return Err(wrong(key, LEVELS)),
                };
                Ok(Level { value, ot })
            })
            .collect::<Result<_, _>>()
            .map(Levels::List),
        _ => Err(wrong(key, LEVELS)),
    }
}

const NEXT_OBJECTS: &str = "a string or an inner list of strings with an optional r parameter";

fn next_objects(value: Value) -> Result<NextObjects, CmcdError> {
    match value {
        Value::String(path) => Ok(NextObjects::Scalar(path)),
        Value::List(items) => items
            .into_iter()
            .map(|item| {
                let Value::String(path) = item.value else {
                    return Err(wrong("nor", NEXT_OBJECTS));
                };
                let mut params = item.params.into_iter();
                let range = match (params.next(), params.next()) {
                    (None, _) => None,
                    (Some((name, Value::String(range))), None) if name == "r" => Some(range),
                    _ => return Err(wrong("nor", NEXT_OBJECTS)),
                };
                Ok(NextObject { path, range })
            })
            .collect::<Result<_, _>>()
            .map(NextObjects::List),
        _ => Err(wrong("nor", NEXT_OBJECTS)),
    }
}

fn strings(key: &'static str, value: Value) -> Result<Vec<String>, CmcdError> {
    let Value::List(items) = value else {
        return Err(wrong(key, "an inner list of strings"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Item {
                value: Value::String(s),
                params,
            } if params.is_empty() => Ok(s),
            _ => Err(wrong(key, "an inner list of strings")),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Syntax: an RFC 8941 §4.2 dictionary parser, the subset CMCD uses.

fn is_lcalpha(c: u8) -> bool {
    c.is_ascii_lowercase()
}

fn is_key_char(c: u8) -> bool {
    is_lcalpha(c) || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b'*')
}

/// RFC 9110 `tchar`, plus the `:` and `/` RFC 8941 §3.3.4 allows in tokens.
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
                | b':'
                | b'/'
        )
}

/// Whether `key` may be written as a member key: an RFC 8941 key, or a custom key (one with a
/// hyphen) that also uses upper case, which CTA-5004 §3.2's own example (`com.example-myKey`)
/// and older common-media-library releases produce.
fn is_member_key(key: &str) -> bool {
    let custom = key.contains('-');
    let mut bytes = key.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    let first_ok = is_lcalpha(first) || first == b'*' || (custom && first.is_ascii_uppercase());
    first_ok && bytes.all(|c| is_key_char(c) || (custom && c.is_ascii_uppercase()))
}

fn is_param_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|first| is_lcalpha(first) || first == b'*')
        && bytes.all(is_key_char)
}

fn is_token(token: &str) -> bool {
    let mut bytes = token.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'*')
        && bytes.all(is_token_char)
}

fn parse_dictionary(input: &str) -> Result<Members, CmcdError> {
    // RFC 8941 §4.2 discards leading and trailing spaces; tabs too, as optional whitespace.
    let input = input.trim_matches([' ', '\t']);
    let mut members = Vec::new();
    if input.is_empty() {
        return Ok(members);
    }
    let mut seen = BTreeSet::new();
    let mut p = Parser { s: input, pos: 0 };
    loop {
        let key = p.member_key()?;
        let value = if p.eat(b'=') {
            p.item_or_list(&key)?
        } else {
            Value::Bool(true)
        };
        if !p.params(&key)?.is_empty() {
            return Err(CmcdError::Parameters { key });
        }
        p.skip_ows();
        let more = match p.peek() {
            None => false,
            Some(b',') => {
                p.pos += 1;
                p.skip_ows();
                if p.peek().is_none() {
                    return Err(CmcdError::EmptyKey);
                }
                true
            }
            Some(_) => return Err(CmcdError::BadValue { key }),
        };
        if !seen.insert(key.clone()) {
            return Err(CmcdError::DuplicateKey(key));
        }
        members.push((key, value));
        if !more {
            return Ok(members);
        }
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, start: usize, accept: impl Fn(u8) -> bool) -> &'a str {
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or_default()
    }

    /// A dictionary member's key; custom keys may use upper case (see [`is_member_key`]).
    fn member_key(&mut self) -> Result<String, CmcdError> {
        match self.peek() {
            None | Some(b',' | b'=' | b';') => return Err(CmcdError::EmptyKey),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {}
            Some(_) => return Err(CmcdError::BadKey),
        }
        let start = self.pos;
        let key = self.take_while(start, |c| is_key_char(c) || c.is_ascii_uppercase());
        if !is_member_key(key) {
            return Err(CmcdError::BadKey);
        }
        Ok(key.to_owned())
    }

    fn item_or_list(&mut self, key: &str) -> Result<Value, CmcdError> {
        if !self.eat(b'(') {
            return self.bare_item(key);
        }
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                return Ok(Value::List(items));
            }
            let value = self.bare_item(key)?;
            let params = self.params(key)?;
            items.push(Item { value, params });
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return Err(bad_value(key));
            }
        }
    }

    fn params(&mut self, key: &str) -> Result<Vec<(String, Value)>, CmcdError> {
        let mut params: Vec<(String, Value)> = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let start = self.pos;
            let name = self.take_while(start, is_key_char).to_owned();
            if !is_param_key(&name) || params.iter().any(|(n, _)| *n == name) {
                return Err(bad_value(key));
            }
            let value = if self.eat(b'=') {
                self.bare_item(key)?
            } else {
                Value::Bool(true)
            };
            params.push((name, value));
        }
        Ok(params)
    }

    fn bare_item(&mut self, key: &str) -> Result<Value, CmcdError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(key),
            Some(b'"') => self.string(),
            Some(b'?') => {
                self.pos += 1;
                if self.eat(b'1') {
                    Ok(Value::Bool(true))
                } else if self.eat(b'0') {
                    Ok(Value::Bool(false))
                } else {
                    Err(bad_value(key))
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                let start = self.pos;
                Ok(Value::Token(
                    self.take_while(start, is_token_char).to_owned(),
                ))
            }
            // Byte sequences, dates, display strings and anything else: nothing CMCD sends.
            _ => Err(bad_value(key)),
        }
    }

    /// RFC 8941 §4.2.4: an Integer of at most 15 digits, or a Decimal of at most 12 integer and
    /// 3 fractional digits.
    fn number(&mut self, key: &str) -> Result<Value, CmcdError> {
        let start = self.pos;
        self.eat(b'-');
        let digits = self.pos;
        let mut dot = None;
        loop {
            match self.peek() {
                Some(b'0'..=b'9') => self.pos += 1,
                Some(b'.') if dot.is_none() && self.pos > digits && self.pos - digits <= 12 => {
                    dot = Some(self.pos);
                    self.pos += 1;
                }
                _ => break,
            }
            let len = self.pos - digits;
            if (dot.is_none() && len > 15) || len > 16 {
                return Err(bad_value(key));
            }
        }
        let text = self.s.get(start..self.pos).unwrap_or_default();
        if self.pos == digits {
            return Err(bad_value(key));
        }
        match dot {
            None => text.parse().map(Value::Integer).map_err(|_| bad_value(key)),
            Some(dot) => {
                let fraction = self.pos - dot - 1;
                if !(1..=3).contains(&fraction) {
                    return Err(bad_value(key));
                }
                text.parse().map(Value::Decimal).map_err(|_| bad_value(key))
            }
        }
    }

    /// RFC 8941 §4.2.5: printable ASCII between quotes, `\"` and `\\` the only escapes.
    fn string(&mut self) -> Result<Value, CmcdError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(CmcdError::UnterminatedString);
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(Value::String(out)),
                b'\\' => match self.peek() {
                    Some(c @ (b'"' | b'\\')) => {
                        out.push(char::from(c));
                        self.pos += 1;
                    }
                    None => return Err(CmcdError::UnterminatedString),
                    Some(_) => return Err(CmcdError::BadString),
                },
                0x20..=0x7e => out.push(char::from(c)),
                _ => return Err(CmcdError::BadString),
            }
        }
    }
}

fn bad_value(key: &str) -> CmcdError {
    CmcdError::BadValue {
        key: key.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Serialisation: RFC 8941 §4.1, for `to_payload`.

/// Appends `key` (and `=value` unless it is true) to `out`; false if it cannot be written.
fn write_member(out: &mut String, key: &str, value: &Value) -> bool {
    if !is_member_key(key) {
        return false;
    }
    out.push_str(key);
    if *value == Value::Bool(true) {
        return true;
    }
    out.push('=');
    write_value(out, value, true)
}

fn write_value(out: &mut String, value: &Value, list_allowed: bool) -> bool {
    match value {
        Value::Integer(n) => {
            if !(-MAX_INTEGER..=MAX_INTEGER).contains(n) {
                return false;
            }
            out.push_str(&n.to_string());
            true
        }
        Value::Decimal(n) => write_decimal(out, *n),
        Value::Bool(b) => {
            out.push_str(if *b { "?1" } else { "?0" });
            true
        }
        Value::String(s) => {
            if !s.bytes().all(|c| (0x20..=0x7e).contains(&c)) {
                return false;
            }
            out.push('"');
            for c in s.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            true
        }
        Value::Token(t) => {
            out.push_str(t);
            is_token(t)
        }
        Value::List(items) => {
            if !list_allowed {
                return false;
            }
            out.push('(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if !write_value(out, &item.value, false) {
                    return false;
                }
                for (name, value) in &item.params {
                    if !is_param_key(name) {
                        return false;
                    }
                    out.push(';');
                    out.push_str(name);
                    if *value != Value::Bool(true) {
                        out.push('=');
                        if !write_value(out, value, false) {
                            return false;
                        }
                    }
                }
            }
            out.push(')');
            true
        }
    }
}

/// RFC 8941 §4.1.5: rounded to three fractional digits, trailing zeros dropped but one kept.
fn write_decimal(out: &mut String, n: f64) -> bool {
    if !n.is_finite() {
        return false;
    }
    let text = format!("{n:.3}");
    let Some((whole, fraction)) = text.split_once('.') else {
        return false;
    };
    if whole.trim_start_matches('-').len() > 12 {
        return false;
    }
    let fraction = fraction.trim_end_matches('0');
    out.push_str(whole);
    out.push('.');
    out.push_str(if fraction.is_empty() { "0" } else { fraction });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    /// dash.js's example request (CTA-5004 v1), as the query form sends it.
    const DASHJS_QUERY: &str = "CMCD=bl%3D21300%2Cbr%3D3200%2Cbs%2Ccid%3D%22faec5fc2-ac30-11eabb37-0242ac130002%22%2Cd%3D4004%2Cdl%3D18500%2Cmtp%3D48100%2Cnor%3D%22..%252F300kbps%252Ftrack.m4v%22%2Cnrr%3D%2212323-48763%22%2Cot%3Dv%2Cpr%3D1.08%2Crtp%3D12000%2Csf%3Dd%2Csid%3D%226e2fb550-c457-11ea-87d0-0242ac130003%22%2Cst%3Dv%2Csu%2Ctb%3D6000";

    fn dashjs() -> Cmcd {
        Cmcd {
            bl: Some(Levels::Scalar(21300)),
            br: Some(Levels::Scalar(3200)),
            bs: true,
            cid: Some("faec5fc2-ac30-11eabb37-0242ac130002".into()),
            d: Some(4004),
            dl: Some(18500),
            mtp: Some(Levels::Scalar(48100)),
            nor: Some(NextObjects::Scalar("..%2F300kbps%2Ftrack.m4v".into())),
            nrr: Some("12323-48763".into()),
            ot: Some(ObjectType::Video),
            pr: Some(1.08),
            rtp: Some(12000),
            sf: Some(StreamingFormat::Dash),
            sid: Some("6e2fb550-c457-11ea-87d0-0242ac130003".into()),
            st: Some(StreamType::Vod),
            su: true,
            tb: Some(Levels::Scalar(6000)),
            ..Cmcd::default()
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn err(payload: &str) -> CmcdError {
        Cmcd::parse(payload).unwrap_err()
    }

    /// encodeURIComponent: what players do to the payload before putting it in the query.
    fn encode_uri_component(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    // --- query form ---------------------------------------------------------------------------

    #[test]
    fn dashjs_example_query_parses_to_every_v1_key() {
        let query = format!("foo=1&{DASHJS_QUERY}&bar");
        assert_eq!(Cmcd::from_query(&query).unwrap(), Some(dashjs()));
    }

    #[test]
    fn dashjs_example_is_its_own_canonical_form() {
        let payload = percent_decode(DASHJS_QUERY.strip_prefix("CMCD=").unwrap()).unwrap();
        assert_eq!(dashjs().to_payload(), payload);
    }

    #[test]
    fn query_without_cmcd_is_none() {
        assert_eq!(Cmcd::from_query("a=1&b=2").unwrap(), None);
        assert_eq!(Cmcd::from_query("").unwrap(), None);
        assert_eq!(
            Cmcd::from_query("cmcd=bs").unwrap(),
            None,
            "the name is case-sensitive"
        );
    }

    #[test]
    fn empty_cmcd_param_is_an_empty_payload() {
        assert!(Cmcd::from_query("CMCD=").unwrap().unwrap().is_empty());
        assert!(Cmcd::from_query("CMCD").unwrap().unwrap().is_empty());
    }

    #[test]
    fn query_keys_in_any_order_are_accepted() {
        let c = Cmcd::from_query("CMCD=su%2Cbr%3D3200%2Cbs")
            .unwrap()
            .unwrap();
        assert_eq!(c.br, Some(Levels::Scalar(3200)));
        assert!(c.bs && c.su);
    }

    #[test]
    fn form_encoded_spaces_and_unencoded_separators_are_read() {
        // URLSearchParams encodes the space of an inner list as `+`; some players leave `,` and
        // `=` unencoded, which is harmless inside one query parameter.
        let c = Cmcd::from_query("CMCD=bl%3D%282000+1000%29,br=3200")
            .unwrap()
            .unwrap();
        assert_eq!(
            c.bl,
            Some(Levels::List(vec![
                Level {
                    value: 2000,
                    ot: None
                },
                Level {
                    value: 1000,
                    ot: None
                }
            ]))
        );
        assert_eq!(c.br, Some(Levels::Scalar(3200)));
    }

    #[test]
    fn encoded_param_name_is_found() {
        let c = Cmcd::from_query("CM%43D=bs").unwrap().unwrap();
        assert!(c.bs);
    }

    #[test]
    fn bad_percent_encoding_is_refused() {
        for query in ["CMCD=bs%2", "CMCD=bs%zz", "CMCD=%", "CMCD=cid%3D%22%FF%22"] {
            assert_eq!(
                Cmcd::from_query(query),
                Err(CmcdError::BadPercentEncoding),
                "{query}"
            );
        }
    }

    #[test]
    fn two_cmcd_params_are_refused() {
        assert_eq!(
            Cmcd::from_query("CMCD=bs&x=1&CMCD=su"),
            Err(CmcdError::DuplicateParam)
        );
    }

    #[test]
    fn oversized_query_payload_is_refused() {
        let big = format!("CMCD=cid%3D%22{}%22", "a".repeat(MAX_PAYLOAD_BYTES));
        assert_eq!(
            Cmcd::from_query(&big),
            Err(CmcdError::TooLarge {
                limit: MAX_PAYLOAD_BYTES
            })
        );
        let huge = format!("CMCD={}", "%41".repeat(MAX_PAYLOAD_BYTES + 1));
        assert_eq!(
            Cmcd::from_query(&huge),
            Err(CmcdError::TooLarge {
                limit: MAX_PAYLOAD_BYTES
            })
        );
    }

    #[test]
    fn payload_at_the_limit_is_accepted() {
        let filler = "a".repeat(MAX_PAYLOAD_BYTES - "cid=\"\"".len());
        let payload = format!("cid=\"{filler}\"");
        assert_eq!(payload.len(), MAX_PAYLOAD_BYTES);
        assert_eq!(
            Cmcd::parse(&payload).unwrap().cid.as_deref(),
            Some(&*filler)
        );
        assert_eq!(
            Cmcd::parse(&format!("{payload} ")),
            Err(CmcdError::TooLarge {
                limit: MAX_PAYLOAD_BYTES
            })
        );
    }

    // --- header form --------------------------------------------------------------------------

    #[test]
    fn four_headers_merge_into_one_payload() {
        let map = headers(&[
            ("CMCD-Object", "br=3200,d=4004,ot=v,tb=6000"),
            (
                "CMCD-Request",
                "bl=21300,dl=18500,mtp=48100,nor=\"..%2F300kbps%2Ftrack.m4v\",nrr=\"12323-48763\",su",
            ),
            (
                "CMCD-Session",
                "cid=\"faec5fc2-ac30-11eabb37-0242ac130002\",pr=1.08,sf=d,sid=\"6e2fb550-c457-11ea-87d0-0242ac130003\",st=v",
            ),
            ("CMCD-Status", "bs,rtp=12000"),
        ]);
        assert_eq!(Cmcd::from_headers(&map).unwrap(), Some(dashjs()));
    }

    #[test]
    fn no_cmcd_header_is_none() {
        let map = headers(&[("accept", "*/*")]);
        assert_eq!(Cmcd::from_headers(&map).unwrap(), None);
    }

    #[test]
    fn empty_cmcd_header_is_present_but_empty() {
        let map = headers(&[("cmcd-status", "")]);
        assert!(Cmcd::from_headers(&map).unwrap().unwrap().is_empty());
    }

    #[test]
    fn repeated_header_lines_are_joined() {
        let map = headers(&[("cmcd-object", "br=3200"), ("cmcd-object", " d=4004 ")]);
        let c = Cmcd::from_headers(&map).unwrap().unwrap();
        assert_eq!((c.br, c.d), (Some(Levels::Scalar(3200)), Some(4004)));
    }

    #[test]
    fn key_in_an_unexpected_shard_is_accepted() {
        let map = headers(&[("cmcd-session", "br=3200")]);
        assert_eq!(
            Cmcd::from_headers(&map).unwrap().unwrap().br,
            Some(Levels::Scalar(3200))
        );
    }

    #[test]
    fn key_in_two_shards_is_a_duplicate() {
        let map = headers(&[("cmcd-object", "br=3200"), ("cmcd-request", "br=3300")]);
        assert_eq!(
            Cmcd::from_headers(&map),
            Err(CmcdError::DuplicateKey("br".into()))
        );
    }

    #[test]
    fn a_string_cannot_run_from_one_shard_into_another() {
        let map = headers(&[("cmcd-object", "cid=\"a"), ("cmcd-request", "b\"")]);
        assert_eq!(Cmcd::from_headers(&map), Err(CmcdError::UnterminatedString));
    }

    #[test]
    fn non_ascii_header_is_refused() {
        let mut map = HeaderMap::new();
        map.insert(
            "cmcd-session",
            HeaderValue::from_bytes(b"cid=\"caf\xc3\xa9\"").unwrap(),
        );
        assert_eq!(Cmcd::from_headers(&map), Err(CmcdError::NotText));
    }

    #[test]
    fn oversized_headers_are_refused() {
        let half = format!("cid=\"{}\"", "a".repeat(MAX_PAYLOAD_BYTES / 2));
        let other_half = format!("sid=\"{}\"", "a".repeat(MAX_PAYLOAD_BYTES / 2));
        let map = headers(&[
            ("cmcd-session", half.as_str()),
            ("cmcd-status", other_half.as_str()),
        ]);
        assert_eq!(
            Cmcd::from_headers(&map),
            Err(CmcdError::TooLarge {
                limit: MAX_PAYLOAD_BYTES
            })
        );
    }

    #[test]
    fn query_wins_over_headers_key_by_key() {
        let map = headers(&[("cmcd-object", "br=1000,d=4004"), ("cmcd-status", "bs")]);
        let c = Cmcd::from_request(Some("CMCD=br%3D3200"), &map)
            .unwrap()
            .unwrap();
        assert_eq!(c.br, Some(Levels::Scalar(3200)));
        assert_eq!(c.d, Some(4004));
        assert!(c.bs);
        assert_eq!(Cmcd::from_request(None, &HeaderMap::new()).unwrap(), None);
        assert_eq!(
            Cmcd::from_request(Some("a=1"), &map).unwrap().unwrap().br,
            Some(Levels::Scalar(1000))
        );
        assert_eq!(
            Cmcd::from_request(Some("CMCD=su"), &HeaderMap::new())
                .unwrap()
                .map(|c| c.su),
            Some(true)
        );
    }

    #[test]
    fn malformed_query_or_headers_fail_the_request() {
        let good = headers(&[("cmcd-status", "bs")]);
        assert_eq!(
            Cmcd::from_request(Some("CMCD=br%3D1x"), &good),
            Err(CmcdError::BadValue { key: "br".into() })
        );
        let bad = headers(&[("cmcd-status", "bs=1")]);
        assert!(matches!(
            Cmcd::from_request(Some("CMCD=su"), &bad),
            Err(CmcdError::WrongType { key: "bs", .. })
        ));
    }

    // --- values -------------------------------------------------------------------------------

    #[test]
    fn strings_unescape_quotes_and_backslashes_and_keep_commas() {
        let c = Cmcd::parse(r#"cid="a \"b\", c\\d",sid="x=1,y""#).unwrap();
        assert_eq!(c.cid.as_deref(), Some(r#"a "b", c\d"#));
        assert_eq!(c.sid.as_deref(), Some("x=1,y"));
        assert_eq!(
            c.to_payload(),
            r#"cid="a \"b\", c\\d",sid="x=1,y""#,
            "re-escaped"
        );
    }

    #[test]
    fn booleans_are_a_bare_key_or_sf_booleans() {
        let c = Cmcd::parse("bs,su=?1").unwrap();
        assert!(c.bs && c.su);
        let c = Cmcd::parse("bs=?0,su=?0").unwrap();
        assert!(!c.bs && !c.su);
        assert_eq!(c.to_payload(), "", "false booleans are omitted");
    }

    #[test]
    fn true_and_false_words_are_not_booleans() {
        // `bs=false` is a Token in RFC 8941, not a Boolean: refused rather than guessed at.
        assert!(matches!(
            err("bs=false"),
            CmcdError::WrongType { key: "bs", .. }
        ));
        assert!(matches!(
            err("su=true"),
            CmcdError::WrongType { key: "su", .. }
        ));
        assert!(matches!(
            err("bs=1"),
            CmcdError::WrongType { key: "bs", .. }
        ));
    }

    #[test]
    fn playback_rate_accepts_integers_and_decimals() {
        assert_eq!(Cmcd::parse("pr=0").unwrap().pr, Some(0.0));
        assert_eq!(Cmcd::parse("pr=2").unwrap().pr, Some(2.0));
        assert_eq!(Cmcd::parse("pr=1.25").unwrap().pr, Some(1.25));
        assert_eq!(Cmcd::parse("pr=2").unwrap().to_payload(), "pr=2.0");
    }

    #[test]
    fn whitespace_around_commas_is_accepted() {
        let c = Cmcd::parse("  br=3200 ,\tbs ,  d=4004\t").unwrap();
        assert_eq!(c.br, Some(Levels::Scalar(3200)));
        assert_eq!(c.d, Some(4004));
        assert!(c.bs);
    }

    #[test]
    fn custom_keys_are_kept_with_their_types() {
        let c = Cmcd::parse(
            r#"com.example-myKey="x",com.example-n=12,com.example-f=1.5,com.example-flag,com.example-off=?0,com.example-t=abc,com.example-l=(1;a 2)"#,
        )
        .unwrap();
        assert_eq!(
            c.other,
            vec![
                ("com.example-myKey".into(), Value::String("x".into())),
                ("com.example-n".into(), Value::Integer(12)),
                ("com.example-f".into(), Value::Decimal(1.5)),
                ("com.example-flag".into(), Value::Bool(true)),
                ("com.example-off".into(), Value::Bool(false)),
                ("com.example-t".into(), Value::Token("abc".into())),
                (
                    "com.example-l".into(),
                    Value::List(vec![
                        Item {
                            value: Value::Integer(1),
                            params: vec![("a".into(), Value::Bool(true))]
                        },
                        Item {
                            value: Value::Integer(2),
                            params: vec![]
                        },
                    ])
                ),
            ]
        );
        assert_eq!(
            c.to_payload(),
            r#"com.example-f=1.5,com.example-flag,com.example-l=(1;a 2),com.example-myKey="x",com.example-n=12,com.example-off=?0,com.example-t=abc"#
        );
    }

    #[test]
    fn unknown_reserved_looking_keys_are_kept_not_refused() {
        let c = Cmcd::parse("br=1,zz=5,yy=\"s\"").unwrap();
        assert_eq!(
            c.other,
            vec![
                ("zz".into(), Value::Integer(5)),
                ("yy".into(), Value::String("s".into()))
            ]
        );
    }

    #[test]
    fn upper_case_is_only_allowed_in_custom_keys() {
        assert_eq!(err("BR=1"), CmcdError::BadKey);
        assert_eq!(err("bR=1"), CmcdError::BadKey);
        assert!(Cmcd::parse("Com.Example-Key=1").is_ok());
    }

    #[test]
    fn v2_request_mode_example_parses() {
        // CTA-5004-B §8.1.1, as common-media-library's test data has it.
        let c = Cmcd::parse(r#"bl=(2000),br=(3000;v),cid="content-id-123",d=4000,dl=1000,mtp=(15000),nor=("next-seg.mp4"),ot=v,rtp=12000,sf=d,sid="session-id-123",st=v,sta=p,tb=(6000;v),v=2"#).unwrap();
        assert_eq!(
            c.br,
            Some(Levels::List(vec![Level {
                value: 3000,
                ot: Some(ObjectType::Video)
            }]))
        );
        assert_eq!(
            c.bl.as_ref().and_then(|l| l.get(Some(ObjectType::Video))),
            Some(2000)
        );
        assert_eq!(
            c.nor,
            Some(NextObjects::List(vec![NextObject {
                path: "next-seg.mp4".into(),
                range: None
            }]))
        );
        assert_eq!(c.sta, Some(PlayerState::Playing));
        assert_eq!(c.version(), 2);
        assert!(c.other.is_empty());
    }

    #[test]
    fn v2_example_with_every_key_parses_and_round_trips() {
        // CTA-5004-B §8.1.8.
        let payload = r#"bg,bl=(2100;v 1800;a),br=(3000;v 164;a),bs,bsa=(3;v),bsd=(1200;v 100;a),bsda=(4150;v 300;a),cid="content-id-123",cs="g48djn236sk2",d=4000,dfa=32,dl=1000,ec=("2001"),lb=(500;v 32;a),ltc=13500,msd=1700,mtp=(15000;v 6000;a),nor=("next-seg.mp4"),nr,ot=v,pb=(2000;v 164;a),pr=1.1,pt=632782,rtp=12000,sf=d,sid="session-id-123",sn=0,st=l,sta=p,su,tb=(6000;v 350;a),tbl=(2000;v 2000;a),tpb=(5000;v 164;a),v=2"#;
        let c = Cmcd::parse(payload).unwrap();
        assert_eq!(
            c.br.as_ref().and_then(|l| l.get(Some(ObjectType::Audio))),
            Some(164)
        );
        assert_eq!(
            c.br.as_ref().and_then(|l| l.get(Some(ObjectType::Video))),
            Some(3000)
        );
        assert_eq!(
            c.br.as_ref().and_then(|l| l.get(Some(ObjectType::Init))),
            None
        );
        assert_eq!(c.ec, Some(vec!["2001".to_owned()]));
        assert_eq!(
            (c.ltc, c.msd, c.pt),
            (Some(13500), Some(1700), Some(632782))
        );
        assert_eq!(c.st, Some(StreamType::Live));
        let other: Vec<_> = c.other.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            other,
            [
                "bg", "bsa", "bsda", "cs", "dfa", "lb", "nr", "pb", "sn", "tpb"
            ]
        );
        assert_eq!(c.to_payload(), payload);
    }

    #[test]
    fn v2_next_object_ranges_are_read() {
        let c = Cmcd::parse(r#"nor=("seg-1.m4v";r="0-999" "seg-2.m4v")"#).unwrap();
        assert_eq!(
            c.nor,
            Some(NextObjects::List(vec![
                NextObject {
                    path: "seg-1.m4v".into(),
                    range: Some("0-999".into())
                },
                NextObject {
                    path: "seg-2.m4v".into(),
                    range: None
                },
            ]))
        );
        assert!(matches!(
            err(r#"nor=("a";x="1")"#),
            CmcdError::WrongType { key: "nor", .. }
        ));
        assert!(matches!(
            err("nor=(1)"),
            CmcdError::WrongType { key: "nor", .. }
        ));
    }

    #[test]
    fn levels_pick_the_value_for_an_object_type() {
        let untagged = Levels::List(vec![Level { value: 7, ot: None }]);
        assert_eq!(untagged.get(Some(ObjectType::Video)), Some(7));
        assert_eq!(untagged.get(None), Some(7));
        let tagged = Levels::List(vec![
            Level {
                value: 1,
                ot: Some(ObjectType::Video),
            },
            Level {
                value: 2,
                ot: Some(ObjectType::Audio),
            },
        ]);
        assert_eq!(tagged.get(Some(ObjectType::Audio)), Some(2));
        assert_eq!(tagged.get(None), Some(1));
        assert_eq!(tagged.get(Some(ObjectType::Caption)), None);
        assert_eq!(Levels::Scalar(5).get(Some(ObjectType::Audio)), Some(5));
        assert_eq!(Levels::List(vec![]).get(None), None);
    }

    #[test]
    fn levels_refuse_other_parameters_and_types() {
        for payload in [
            "br=(1;x)",
            "br=(1;v=2)",
            "br=(1;v;a)",
            "br=(\"1\")",
            "br=(-1)",
            "br=-1",
            "br=1.5",
            "br=\"1\"",
            "bl=(1.0)",
        ] {
            assert!(
                matches!(err(payload), CmcdError::WrongType { .. }),
                "{payload}: {:?}",
                err(payload)
            );
        }
    }

    #[test]
    fn event_mode_reports_parse() {
        // CTA-5004-B §8.2.3, a response-received report.
        let c = Cmcd::parse(r#"cid="bbb",cmsdd="ZXRwPTEyNTAw",cmsds="c2lkPSI5YTNi",e=rr,nor=("video/segment-6.m4v"),ot=v,rc=200,sid="session1",ts=1763657019723,ttfb=180,ttlb=200,url="video/segment-5.m4v",v=2"#).unwrap();
        assert_eq!(c.e.as_deref(), Some("rr"));
        assert_eq!((c.rc, c.ttfb, c.ttlb), (Some(200), Some(180), Some(200)));
        assert_eq!(c.ts, Some(1_763_657_019_723));
        assert_eq!(c.url.as_deref(), Some("video/segment-5.m4v"));
    }

    #[test]
    fn every_token_enum_reads_its_own_tokens() {
        for ot in ObjectType::ALL {
            assert_eq!(ObjectType::from_token(ot.token()), Some(*ot));
        }
        for sf in StreamingFormat::ALL {
            assert_eq!(StreamingFormat::from_token(sf.token()), Some(*sf));
        }
        for st in StreamType::ALL {
            assert_eq!(StreamType::from_token(st.token()), Some(*st));
        }
        for sta in PlayerState::ALL {
            assert_eq!(PlayerState::from_token(sta.token()), Some(*sta));
        }
    }

    // --- errors -------------------------------------------------------------------------------

    #[test]
    fn unterminated_string_is_refused() {
        assert_eq!(err(r#"cid="abc"#), CmcdError::UnterminatedString);
        assert_eq!(err(r#"cid="abc,bl=1"#), CmcdError::UnterminatedString);
        assert_eq!(err(r#"cid="abc\"#), CmcdError::UnterminatedString);
    }

    #[test]
    fn bad_escape_or_non_ascii_string_is_refused() {
        assert_eq!(err(r#"cid="a\nb""#), CmcdError::BadString);
        assert_eq!(err("cid=\"caf\u{e9}\""), CmcdError::BadString);
        assert_eq!(err("cid=\"a\tb\""), CmcdError::BadString);
    }

    #[test]
    fn wrong_type_for_a_reserved_key_is_refused() {
        let cases: &[(&str, &str)] = &[
            ("d=\"4004\"", "d"),
            ("d=4004.5", "d"),
            ("d=-1", "d"),
            ("cid=abc", "cid"),
            ("sid=12", "sid"),
            ("ot=\"v\"", "ot"),
            ("pr=\"1\"", "pr"),
            ("v=x", "v"),
            ("ec=\"x\"", "ec"),
            ("e=\"t\"", "e"),
            ("bg=1", "bg"),
            ("dfa=\"1\"", "dfa"),
            ("cs=1", "cs"),
            ("lb=a", "lb"),
            ("ltc=1.5", "ltc"),
        ];
        for (payload, key) in cases {
            assert!(
                matches!(err(payload), CmcdError::WrongType { key: k, .. } if k == *key),
                "{payload}: {:?}",
                err(payload)
            );
        }
    }

    #[test]
    fn unknown_token_for_a_token_key_is_refused() {
        assert_eq!(err("ot=x"), CmcdError::UnknownToken { key: "ot" });
        assert_eq!(err("sf=q"), CmcdError::UnknownToken { key: "sf" });
        assert_eq!(err("st=z"), CmcdError::UnknownToken { key: "st" });
        assert_eq!(err("sta=z"), CmcdError::UnknownToken { key: "sta" });
    }

    #[test]
    fn duplicate_key_is_refused() {
        assert_eq!(err("br=1,d=2,br=1"), CmcdError::DuplicateKey("br".into()));
        assert_eq!(err("bs,bs"), CmcdError::DuplicateKey("bs".into()));
    }

    #[test]
    fn empty_key_is_refused() {
        for payload in [",bs", "bs,", "bs,,su", "=1", "bs, ,su", "bs,\t"] {
            assert_eq!(err(payload), CmcdError::EmptyKey, "{payload:?}");
        }
    }

    #[test]
    fn bad_key_is_refused() {
        for payload in ["1br=1", "-x=1", "b r=1", "br!=1", "\"cid\"=1", "brè=1"] {
            let e = err(payload);
            assert!(
                e == CmcdError::BadKey || matches!(e, CmcdError::BadValue { .. }),
                "{payload}: {e:?}"
            );
        }
        assert_eq!(err("1br=1"), CmcdError::BadKey);
        assert_eq!(err("-x"), CmcdError::BadKey);
    }

    #[test]
    fn malformed_values_are_refused_naming_the_key() {
        for payload in [
            "br=",
            "br=12a",
            "br=1 2",
            "br=1x",
            "d=1234567890123456",
            "pr=1.2345",
            "pr=1.",
            "pr=1234567890123.5",
            "pr=-",
            "pr=.5",
            "bs=?2",
            "bs=?",
            "br=(1 2",
            "br=(1,2)",
            "br=:aGk=:",
            "ts=@1",
            "cid=%\"x\"",
            "br=(1)x",
        ] {
            let e = err(payload);
            let key = payload.split('=').next().unwrap();
            assert_eq!(e, CmcdError::BadValue { key: key.into() }, "{payload}");
        }
    }

    #[test]
    fn member_parameters_are_refused() {
        assert_eq!(err("br=1;x"), CmcdError::Parameters { key: "br".into() });
        assert_eq!(err("bs;a"), CmcdError::Parameters { key: "bs".into() });
        assert_eq!(err("br=(1);v"), CmcdError::Parameters { key: "br".into() });
    }

    #[test]
    fn numbers_at_the_rfc_8941_limits_are_accepted() {
        assert_eq!(
            Cmcd::parse("d=999999999999999").unwrap().d,
            Some(999_999_999_999_999)
        );
        assert_eq!(
            Cmcd::parse("ltc=-999999999999999").unwrap().ltc,
            Some(-999_999_999_999_999)
        );
        assert_eq!(
            Cmcd::parse("pr=999999999999.999").unwrap().pr,
            Some(999_999_999_999.999)
        );
        assert_eq!(Cmcd::parse("d=007").unwrap().d, Some(7));
    }

    #[test]
    fn errors_display_in_lower_case() {
        let errors = [
            CmcdError::TooLarge { limit: 4096 },
            CmcdError::BadPercentEncoding,
            CmcdError::DuplicateParam,
            CmcdError::NotText,
            CmcdError::EmptyKey,
            CmcdError::BadKey,
            CmcdError::DuplicateKey("br".into()),
            CmcdError::UnterminatedString,
            CmcdError::BadString,
            CmcdError::BadValue { key: "br".into() },
            CmcdError::Parameters { key: "br".into() },
            CmcdError::WrongType {
                key: "br",
                expected: "an integer",
            },
            CmcdError::UnknownToken { key: "ot" },
            CmcdError::TooManyLines { limit: 3 },
            CmcdError::Line {
                line: 2,
                error: Box::new(CmcdError::EmptyKey),
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with("cmcd "), "{text}");
            assert_eq!(text, text.to_lowercase(), "{text}");
        }
        let line = CmcdError::Line {
            line: 2,
            error: Box::new(CmcdError::EmptyKey),
        };
        assert_eq!(
            line.to_string(),
            "cmcd beacon line 2: cmcd member without a key"
        );
        assert!(std::error::Error::source(&line).is_some());
    }

    // --- strip_params -------------------------------------------------------------------------

    #[test]
    fn strip_removes_only_the_cmcd_param() {
        assert_eq!(
            strip_from_query(&format!("a=1&{DASHJS_QUERY}&b=2")).as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(strip_from_query("CMCD=bs&b=2").as_deref(), Some("b=2"));
        assert_eq!(strip_from_query("a=1&CMCD=bs").as_deref(), Some("a=1"));
        assert_eq!(strip_from_query("CMCD=bs"), None);
        assert_eq!(strip_from_query("CMCD"), None);
        assert_eq!(strip_from_query(""), None);
    }

    #[test]
    fn strip_keeps_every_other_byte() {
        let cases = [
            ("a=1&&b=2&CMCD=bs", "a=1&&b=2"),
            ("&a&CMCD=x&&", "&a&&"),
            ("flag&CMCD=bs&x=%41%2b+y", "flag&x=%41%2b+y"),
            ("a=1&cmcd=x&CMCDX=1&XCMCD=2", "a=1&cmcd=x&CMCDX=1&XCMCD=2"),
            ("a=b=c&CMCD=1=2", "a=b=c"),
            ("a=1", "a=1"),
            ("&", "&"),
        ];
        for (query, want) in cases {
            assert_eq!(strip_from_query(query).as_deref(), Some(want), "{query}");
        }
    }

    #[test]
    fn strip_matches_encoded_names() {
        assert_eq!(strip_from_query("a&CM%43D=bs&b").as_deref(), Some("a&b"));
        assert_eq!(strip_from_query("a&%43MCD&b").as_deref(), Some("a&b"));
        assert_eq!(
            strip_params("tok%65n=abc&x=1", &["token"]).as_deref(),
            Some("x=1")
        );
        // A name that is not valid percent-encoding is kept as it is.
        assert_eq!(strip_from_query("CM%4=1").as_deref(), Some("CM%4=1"));
    }

    #[test]
    fn strip_params_removes_several_names_and_repeats() {
        assert_eq!(
            strip_params("token=a&CMCD=bs&x=1&token=b&y", &["token", "CMCD"]).as_deref(),
            Some("x=1&y")
        );
        assert_eq!(strip_params("a&&b", &[""]).as_deref(), Some("a&&b"));
        assert_eq!(strip_params("a=1", &[]).as_deref(), Some("a=1"));
    }

    // --- beacons ------------------------------------------------------------------------------

    #[test]
    fn beacon_lines_parse_in_order() {
        // CTA-5004-B §8.2.5, as common-media-library posts it: lines joined by \n, final \n.
        let body =
            b"bs,cid=\"content-id-123\",e=ps,sid=\"session-id-123\",sta=r,ts=1764269150889,v=2\n\
bs,bsd=(1500),cid=\"content-id-123\",e=ps,sid=\"session-id-123\",sta=p,ts=1764269152389,v=2\n";
        let reports = parse_beacon(body, BeaconLimits::default()).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].sta, Some(PlayerState::Rebuffering));
        assert_eq!(reports[1].sta, Some(PlayerState::Playing));
        assert_eq!(
            reports[1].bsd,
            Some(Levels::List(vec![Level {
                value: 1500,
                ot: None
            }]))
        );
    }

    #[test]
    fn beacon_accepts_crlf_and_blank_lines() {
        let body = b"e=t,ts=1,v=2\r\n\r\n  \ne=t,ts=2,v=2";
        let reports = parse_beacon(body, BeaconLimits::default()).unwrap();
        assert_eq!(
            reports.iter().map(|r| r.ts).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        assert!(
            parse_beacon(b"", BeaconLimits::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn beacon_error_names_its_line() {
        let body = b"e=t,ts=1\n\ne=t,ts=1x\n";
        assert_eq!(
            parse_beacon(body, BeaconLimits::default()),
            Err(CmcdError::Line {
                line: 3,
                error: Box::new(CmcdError::BadValue { key: "ts".into() })
            })
        );
    }

    #[test]
    fn beacon_limits_are_enforced() {
        let limits = BeaconLimits {
            max_lines: 2,
            max_bytes: 40,
        };
        assert_eq!(
            parse_beacon(b"e=t\ne=t\ne=t", limits),
            Err(CmcdError::TooManyLines { limit: 2 })
        );
        assert_eq!(parse_beacon(b"e=t\n\n\ne=t\n", limits).unwrap().len(), 2);
        assert_eq!(
            parse_beacon(&[b'a'; 41], limits),
            Err(CmcdError::TooLarge { limit: 40 })
        );
        let long = format!("cid=\"{}\"", "a".repeat(MAX_PAYLOAD_BYTES));
        assert_eq!(
            parse_beacon(long.as_bytes(), BeaconLimits::default()),
            Err(CmcdError::Line {
                line: 1,
                error: Box::new(CmcdError::TooLarge {
                    limit: MAX_PAYLOAD_BYTES
                })
            })
        );
    }

    #[test]
    fn beacon_that_is_not_utf8_is_refused() {
        assert_eq!(
            parse_beacon(b"e=t\xff", BeaconLimits::default()),
            Err(CmcdError::NotText)
        );
    }

    // --- JSON ---------------------------------------------------------------------------------

    #[test]
    fn json_uses_the_cta_key_names() {
        let json = serde_json::to_value(dashjs()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "bl": 21300, "br": 3200, "bs": true,
                "cid": "faec5fc2-ac30-11eabb37-0242ac130002", "d": 4004, "dl": 18500,
                "mtp": 48100, "nor": "..%2F300kbps%2Ftrack.m4v", "nrr": "12323-48763",
                "ot": "v", "pr": 1.08, "rtp": 12000, "sf": "d",
                "sid": "6e2fb550-c457-11ea-87d0-0242ac130003", "st": "v", "su": true, "tb": 6000
            })
        );
    }

    #[test]
    fn json_shows_v2_lists_and_custom_keys() {
        let c = Cmcd::parse(
            r#"br=(3000;v 164),com.example-l=(1;a 2),com.example-x="y",nor=("s";r="0-9"),sta=p"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "br": [{"value": 3000, "ot": "v"}, {"value": 164}],
                "nor": [{"path": "s", "range": "0-9"}],
                "sta": "p",
                "com.example-l": [{"value": 1, "params": {"a": true}}, 2],
                "com.example-x": "y"
            })
        );
    }

    #[test]
    fn event_serialises_to_one_json_line() {
        let cmcd = Cmcd::parse("br=3200,bs,sid=\"s1\"").unwrap();
        let event = CmcdEvent {
            at: 1_764_269_150_889,
            event: "final-2026",
            pathway: Some("cdn-a"),
            country: Some("FR"),
            asn: Some(3215),
            object: Some("/events/final-2026/v/seg-12.m4s"),
            source: Source::Request,
            cmcd: &cmcd,
        };
        let line = serde_json::to_string(&event).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(
            line,
            r#"{"at":1764269150889,"event":"final-2026","pathway":"cdn-a","country":"FR","asn":3215,"object":"/events/final-2026/v/seg-12.m4s","source":"request","cmcd":{"br":3200,"bs":true,"sid":"s1"}}"#
        );
        let beacon = CmcdEvent {
            pathway: None,
            country: None,
            asn: None,
            object: None,
            source: Source::Beacon,
            ..event
        };
        assert_eq!(
            serde_json::to_string(&beacon).unwrap(),
            r#"{"at":1764269150889,"event":"final-2026","source":"beacon","cmcd":{"br":3200,"bs":true,"sid":"s1"}}"#
        );
    }

    // --- to_payload ---------------------------------------------------------------------------

    #[test]
    fn to_payload_leaves_out_what_cmcd_cannot_carry() {
        let c = Cmcd {
            pr: Some(f64::NAN),
            d: Some(u64::MAX),
            cid: Some("caf\u{e9}".into()),
            sid: Some("ok".into()),
            other: vec![
                ("Bad".into(), Value::Integer(1)),
                ("x-t".into(), Value::Token("1abc".into())),
                ("x-d".into(), Value::Decimal(1e13)),
                (
                    "x-l".into(),
                    Value::List(vec![Item {
                        value: Value::List(vec![]),
                        params: vec![],
                    }]),
                ),
                (
                    "x-p".into(),
                    Value::List(vec![Item {
                        value: Value::Integer(1),
                        params: vec![("P".into(), Value::Bool(true))],
                    }]),
                ),
                ("sid".into(), Value::String("shadow".into())),
                ("x-ok".into(), Value::Integer(1)),
            ],
            ..Cmcd::default()
        };
        assert_eq!(c.to_payload(), r#"sid="ok",x-ok=1"#);
    }

    #[test]
    fn to_payload_rounds_decimals_to_three_digits() {
        let c = Cmcd {
            pr: Some(1.23456),
            ..Cmcd::default()
        };
        assert_eq!(c.to_payload(), "pr=1.235");
        let c = Cmcd {
            pr: Some(-0.5),
            ..Cmcd::default()
        };
        assert_eq!(c.to_payload(), "pr=-0.5");
    }

    // --- properties ---------------------------------------------------------------------------

    const MAX_U: u64 = 999_999_999_999_999;

    fn arb_ot() -> impl Strategy<Value = ObjectType> {
        proptest::sample::select(ObjectType::ALL)
    }

    fn arb_levels() -> impl Strategy<Value = Levels> {
        prop_oneof![
            (0..=MAX_U).prop_map(Levels::Scalar),
            proptest::collection::vec(
                (0..=MAX_U, proptest::option::of(arb_ot()))
                    .prop_map(|(value, ot)| Level { value, ot }),
                0..4
            )
            .prop_map(Levels::List),
        ]
    }

    fn arb_string() -> impl Strategy<Value = String> {
        "[ -~]{0,16}"
    }

    fn arb_token() -> impl Strategy<Value = String> {
        "[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]{0,6}"
    }

    fn arb_decimal() -> impl Strategy<Value = f64> {
        (-(MAX_U as i64)..=(MAX_U as i64)).prop_map(|k| k as f64 / 1000.0)
    }

    fn arb_bare() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-(MAX_U as i64)..=(MAX_U as i64)).prop_map(Value::Integer),
            arb_decimal().prop_map(Value::Decimal),
            any::<bool>().prop_map(Value::Bool),
            arb_string().prop_map(Value::String),
            arb_token().prop_map(Value::Token),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => arb_bare(),
            1 => proptest::collection::vec(
                (arb_bare(), proptest::collection::btree_map("[a-z*][a-z0-9_.*-]{0,3}", arb_bare(), 0..3))
                    .prop_map(|(value, params)| Item { value, params: params.into_iter().collect() }),
                0..4
            )
            .prop_map(Value::List),
        ]
    }

    prop_compose! {
        fn arb_cmcd()(
            (bl, br, bs, bsd, cdn, cid, d, dl) in (
                proptest::option::of(arb_levels()), proptest::option::of(arb_levels()), any::<bool>(),
                proptest::option::of(arb_levels()), proptest::option::of(arb_string()),
                proptest::option::of(arb_string()), proptest::option::of(0..=MAX_U),
                proptest::option::of(0..=MAX_U),
            ),
            (e, ec, ltc, msd, mtp, nor, nrr, ot) in (
                proptest::option::of(arb_token()),
                proptest::option::of(proptest::collection::vec(arb_string(), 0..3)),
                proptest::option::of(-(MAX_U as i64)..=(MAX_U as i64)),
                proptest::option::of(0..=MAX_U), proptest::option::of(arb_levels()),
                proptest::option::of(prop_oneof![
                    arb_string().prop_map(NextObjects::Scalar),
                    proptest::collection::vec(
                        (arb_string(), proptest::option::of(arb_string()))
                            .prop_map(|(path, range)| NextObject { path, range }),
                        0..3
                    ).prop_map(NextObjects::List),
                ]),
                proptest::option::of(arb_string()), proptest::option::of(arb_ot()),
            ),
            (pr, pt, rc, rtp, sf, sid, st, sta) in (
                proptest::option::of(arb_decimal()), proptest::option::of(0..=MAX_U),
                proptest::option::of(0..=MAX_U), proptest::option::of(0..=MAX_U),
                proptest::option::of(proptest::sample::select(StreamingFormat::ALL)),
                proptest::option::of(arb_string()),
                proptest::option::of(proptest::sample::select(StreamType::ALL)),
                proptest::option::of(proptest::sample::select(PlayerState::ALL)),
            ),
            (su, tb, tbl, ts, ttfb, ttlb, url, v) in (
                any::<bool>(), proptest::option::of(arb_levels()), proptest::option::of(arb_levels()),
                proptest::option::of(0..=MAX_U), proptest::option::of(0..=MAX_U),
                proptest::option::of(0..=MAX_U), proptest::option::of(arb_string()),
                proptest::option::of(0..=MAX_U),
            ),
            other in proptest::collection::btree_map(
                "[a-z][a-z0-9.]{0,4}-[a-zA-Z0-9.]{0,4}", arb_value(), 0..4),
        ) -> Cmcd {
            Cmcd {
                bl, br, bs, bsd, cdn, cid, d, dl, e, ec, ltc, msd, mtp, nor, nrr, ot, pr, pt, rc,
                rtp, sf, sid, st, sta, su, tb, tbl, ts, ttfb, ttlb, url, v,
                other: other.into_iter().collect(),
            }
        }
    }

    /// Strings made of the characters that matter to the parsers, so that random input reaches
    /// deep into them instead of failing on the first byte.
    fn arb_cmcdish() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(vec![
                    "br", "bs", "cid", "nor", "ot", "pr", "sta", "com.x-y", "=", ",", ";", "(",
                    ")", " ", "\"", "\\", "?0", "?1", "-", ".", "1", "12345", "1.5", "v", "a", "%",
                    "%2C", "%3D", "%22", "+", "&", "CMCD=", "\n", "\r", "\t", ":", "@", "é",
                ])
                .prop_map(str::to_owned),
                any::<char>().prop_map(String::from),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn parsers_never_panic_on_arbitrary_text(s in any::<String>()) {
            let _ = Cmcd::parse(&s);
            let _ = Cmcd::from_query(&s);
            let _ = strip_params(&s, &["CMCD", "token"]);
            let _ = parse_beacon(s.as_bytes(), BeaconLimits::default());
        }

        #[test]
        fn parsers_never_panic_on_cmcd_like_text(s in arb_cmcdish()) {
            let _ = Cmcd::parse(&s);
            let _ = Cmcd::from_query(&s);
            let _ = Cmcd::from_query(&format!("CMCD={s}"));
            let _ = strip_from_query(&s);
            let _ = parse_beacon(s.as_bytes(), BeaconLimits::default());
            if let Ok(value) = HeaderValue::from_str(&s) {
                let mut map = HeaderMap::new();
                map.insert("cmcd-request", value.clone());
                map.append("cmcd-request", value);
                let _ = Cmcd::from_headers(&map);
                let _ = Cmcd::from_request(Some(&s), &map);
            }
        }

        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_beacon(&bytes, BeaconLimits::default());
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut map = HeaderMap::new();
                map.insert("cmcd-object", value);
                let _ = Cmcd::from_headers(&map);
            }
        }

    }

    proptest! {
        #[test]
        fn canonical_payload_parses_back_to_the_same_cmcd(c in arb_cmcd()) {
            let payload = c.to_payload();
            prop_assume!(payload.len() <= MAX_PAYLOAD_BYTES);
            prop_assert_eq!(Cmcd::parse(&payload), Ok(c.clone()), "{}", payload);
        }

        #[test]
        fn canonical_payload_is_sorted_and_stable(c in arb_cmcd()) {
            let payload = c.to_payload();
            prop_assume!(payload.len() <= MAX_PAYLOAD_BYTES);
            let reparsed = Cmcd::parse(&payload).unwrap();
            prop_assert_eq!(reparsed.to_payload(), payload.clone());
        }

        #[test]
        fn query_form_round_trips(c in arb_cmcd(), before in "[a-z]{0,3}(=[a-z0-9]{0,3})?") {
            let payload = c.to_payload();
            prop_assume!(payload.len() <= MAX_PAYLOAD_BYTES);
            let query = format!("{before}&CMCD={}", encode_uri_component(&payload));
            prop_assert_eq!(Cmcd::from_query(&query), Ok(Some(c)));
            prop_assert_eq!(strip_from_query(&query), (!before.is_empty()).then_some(before));
        }

        #[test]
        fn header_form_round_trips(c in arb_cmcd()) {
            let payload = c.to_payload();
            prop_assume!(payload.len() <= MAX_PAYLOAD_BYTES);
            let map = headers(&[("cmcd-request", payload.as_str())]);
            let expected = Some(c);
            prop_assert_eq!(Cmcd::from_headers(&map), Ok(expected));
        }

        #[test]
        fn stripping_removes_exactly_the_named_segments(
            segments in proptest::collection::vec("[a-zA-Z0-9=%+.~-]{0,6}", 0..6),
            at in 0usize..7,
            value in "[a-zA-Z0-9%=]{0,8}",
        ) {
            let kept: Vec<_> = segments
                .into_iter()
                .filter(|s| {
                    let name = s.split_once('=').map_or(s.as_str(), |(n, _)| n);
                    !name_is(name, QUERY_PARAM)
                })
                .collect();
            let mut with = kept.clone();
            with.insert(at.min(with.len()), format!("CMCD={value}"));
            let expected = Some(kept.join("&")).filter(|q| !q.is_empty());
            prop_assert_eq!(strip_from_query(&with.join("&")), expected.clone());
            prop_assert_eq!(strip_from_query(&kept.join("&")), expected);
        }
    }
}
