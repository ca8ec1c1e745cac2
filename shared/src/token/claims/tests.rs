//! The scanner against the oracle: the `serde` derive that read headers and claims before it
//! (kept here verbatim), on hand-picked edge cases and on generated, then mutated, documents.

use super::*;
use alloc::format;
use alloc::string::ToString;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// The previous implementation, unchanged: `serde` derives over `serde_json`.
pub(in crate::token) mod oracle {
    use alloc::borrow::Cow;
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde::Deserialize;

    use super::{RawAudience as Audience, RawClaims as Claims, RawHeader as Header};

    #[derive(Deserialize)]
    struct RawHeader<'a> {
        #[serde(borrow, default)]
        alg: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        kid: Option<Cow<'a, str>>,
        #[serde(default)]
        crit: Option<serde::de::IgnoredAny>,
    }

    struct NumericDate(i64);

    impl<'de> Deserialize<'de> for NumericDate {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl serde::de::Visitor<'_> for Visitor {
                type Value = NumericDate;
                fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str("a number of seconds")
                }
                fn visit_i64<E>(self, v: i64) -> Result<NumericDate, E> {
                    Ok(NumericDate(v))
                }
                fn visit_u64<E>(self, v: u64) -> Result<NumericDate, E> {
                    Ok(NumericDate(i64::try_from(v).unwrap_or(i64::MAX)))
                }
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "`as` truncates toward zero and saturates, which is the rule"
                )]
                fn visit_f64<E>(self, v: f64) -> Result<NumericDate, E> {
                    Ok(NumericDate(v as i64))
                }
            }
            d.deserialize_any(Visitor)
        }
    }

    struct RawAudience {
        values: Vec<String>,
        present: bool,
    }

    impl<'de> Deserialize<'de> for RawAudience {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = RawAudience;
                fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str("a string or an array of strings")
                }
                fn visit_str<E>(self, v: &str) -> Result<RawAudience, E> {
                    Ok(RawAudience {
                        values: alloc::vec![String::from(v)],
                        present: !v.is_empty(),
                    })
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<RawAudience, A::Error> {
                    let mut values = Vec::new();
                    while let Some(value) = seq.next_element::<String>()? {
                        values.push(value);
                    }
                    let present = !values.is_empty();
                    Ok(RawAudience { values, present })
                }
            }
            d.deserialize_any(Visitor)
        }
    }

    #[derive(Deserialize)]
    struct RawClaims<'a> {
        #[serde(borrow, default)]
        iss: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        sub: Option<Cow<'a, str>>,
        #[serde(default)]
        aud: Option<RawAudience>,
        #[serde(borrow, default)]
        jti: Option<Cow<'a, str>>,
        #[serde(default)]
        iat: Option<NumericDate>,
        #[serde(default)]
        nbf: Option<NumericDate>,
        #[serde(default)]
        exp: Option<NumericDate>,
        #[serde(borrow, default)]
        ev: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        scope: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        sid: Option<Cow<'a, str>>,
        #[serde(default)]
        max_streams: Option<u32>,
    }

    fn json_object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Option<T> {
        if json.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    pub(in crate::token) fn header(json: &[u8]) -> Option<Header<'_>> {
        let raw: RawHeader<'_> = json_object(json)?;
        Some(Header {
            alg: raw.alg,
            kid: raw.kid,
            crit: raw.crit.is_some(),
        })
    }

    pub(in crate::token) fn claims(json: &[u8]) -> Option<Claims<'_>> {
        let raw: RawClaims<'_> = json_object(json)?;
        Some(Claims {
            iss: raw.iss,
            sub: raw.sub,
            aud: raw.aud.map(|a| Audience {
                values: a.values,
                present: a.present,
            }),
            jti: raw.jti,
            iat: raw.iat.map(|d| d.0),
            nbf: raw.nbf.map(|d| d.0),
            exp: raw.exp.map(|d| d.0),
            ev: raw.ev,
            scope: raw.scope,
            sid: raw.sid,
            max_streams: raw.max_streams,
        })
    }
}

/// The scanner's reading of a claims set, as a value.
fn scan_claims(json: &[u8]) -> Option<RawClaims<'_>> {
    let mut claims = RawClaims::default();
    super::claims(json, &mut claims)?;
    Some(claims)
}

/// Asserts that the scanner and the oracle agree on `json`, as a header and as claims, and
/// returns whether the claims were accepted.
#[track_caller]
fn agree(json: &[u8]) -> bool {
    let shown = String::from_utf8_lossy(json);
    assert_eq!(scan_claims(json), oracle::claims(json), "claims {shown:?}");
    assert_eq!(header(json), oracle::header(json), "header {shown:?}");
    scan_claims(json).is_some()
}

fn exp_of(json: &str) -> Option<i64> {
    agree(json.as_bytes());
    scan_claims(json.as_bytes())?.exp
}

fn max_streams_of(json: &str) -> Option<Option<u32>> {
    agree(json.as_bytes());
    scan_claims(json.as_bytes()).map(|c| c.max_streams)
}

#[test]
fn numbers_convert_as_serde_json_converts_them() {
    for (number, exp) in [
        ("0", Some(0)),
        ("-0", Some(0)),
        ("1767225600", Some(1_767_225_600)),
        ("-1767225600", Some(-1_767_225_600)),
        ("1.5", Some(1)),
        ("-1.5", Some(-1)),
        ("1767225600.9", Some(1_767_225_600)),
        ("1e3", Some(1000)),
        ("1E+3", Some(1000)),
        ("1e-3", Some(0)),
        ("1e300", Some(i64::MAX)),
        ("-1e300", Some(i64::MIN)),
        ("1e-400", Some(0)),
        ("9223372036854775807", Some(i64::MAX)),
        ("9223372036854775808", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("-9223372036854775809", Some(i64::MIN)),
        ("18446744073709551615", Some(i64::MAX)),
        ("18446744073709551616", Some(i64::MAX)),
        ("-18446744073709551616", Some(i64::MIN)),
        ("2.9999999999999996", Some(2)),
        ("2.99999999999999999", Some(3)),
        ("123456789012345678901234567890", Some(i64::MAX)),
    ] {
        let json = format!(r#"{{"exp":{number}}}"#);
        assert_eq!(exp_of(&json), exp, "{number}");
    }
    // Out of range for f64, or not JSON numbers at all.
    for number in [
        "1e400", "-1e400", "01", "-01", "00", "1.", "-", ".5", "1.e3", "2e", "2e+", "+1", "1x",
        "0x10", "Infinity", "NaN", "1_000", "--1", "1.5.5", "\"1\"", "true", "[1]", "{}",
    ] {
        let json = format!(r#"{{"exp":{number}}}"#);
        assert!(!agree(json.as_bytes()), "{number}");
    }
    let huge = format!(r#"{{"exp":1{}}}"#, "0".repeat(400));
    assert!(!agree(huge.as_bytes()));
}

#[test]
fn max_streams_is_a_plain_u32() {
    for (number, expected) in [
        ("0", Some(Some(0))),
        ("1", Some(Some(1))),
        ("4294967295", Some(Some(u32::MAX))),
        ("null", Some(None)),
        ("4294967296", None),
        ("18446744073709551616", None),
        ("-0", None),
        ("-1", None),
        ("1.0", None),
        ("1e2", None),
        ("\"2\"", None),
    ] {
        let json = format!(r#"{{"max_streams":{number}}}"#);
        assert_eq!(max_streams_of(&json), expected, "{number}");
    }
}

#[test]
fn strings_are_strict_where_read_and_lenient_where_ignored() {
    let cases: &[(&[u8], bool)] = &[
        (br#"{"sub":"a\"b\\c\/d\b\f\n\r\t"}"#, true),
        (br#"{"sub":"\u00e9\u65E5\ud83d\ude00"}"#, true),
        ("{\"sub\":\"é日😀\"}".as_bytes(), true),
        (b"{\"sub\":\"\x7f\"}", true),
        // Lone or misordered surrogates, in a claim that is read.
        (br#"{"sub":"\ud800"}"#, false),
        (br#"{"sub":"\udc00"}"#, false),
        (br#"{"sub":"\ud800x"}"#, false),
        (br#"{"sub":"\ud800\n"}"#, false),
        (br#"{"sub":"\ud800\u0041"}"#, false),
        (br#"{"sub":"\ud800\ud800"}"#, false),
        (br#"{"sub":"\ude00\ud83d"}"#, false),
        // In a member nobody reads, only the grammar counts.
        (br#"{"other":"\ud800"}"#, true),
        (br#"{"other":{"\udc00":["\ud800"]}}"#, true),
        (b"{\"other\":\"\xff\xfe\"}", true),
        (b"{\"other\":{\"\xc3\":1}}", true),
        // But a top-level member name is always read.
        (br#"{"\ud800":1}"#, false),
        (b"{\"\xff\":1}", false),
        (b"{\"sub\":\"\xff\"}", false),
        (b"{\"sub\":\"\xc3\"}", false),
        (b"{\"sub\":\"\xed\xa0\x80\"}", false),
        (b"{\"sub\":\"\xc0\xaf\"}", false),
        // Raw control characters, anywhere.
        (b"{\"sub\":\"a\x01\"}", false),
        (b"{\"other\":\"\x1f\"}", false),
        (b"{\"sub\":\"a\tb\"}", false),
        (b"{\"other\":\"\n\"}", false),
        // Bad escapes, anywhere.
        (br#"{"sub":"\x"}"#, false),
        (br#"{"other":"\x"}"#, false),
        (br#"{"other":"\u12"}"#, false),
        (br#"{"other":"\u12g4"}"#, false),
        (br#"{"sub":"\'"}"#, false),
        (br#"{"sub":"abc}"#, false),
        (br#"{"sub":"abc\"}"#, false),
    ];
    for (json, accepted) in cases {
        assert_eq!(
            agree(json),
            *accepted,
            "{:?}",
            String::from_utf8_lossy(json)
        );
    }
    let escaped = scan_claims(br#"{"sub":"\u00e9\ud83d\ude00\n","iss":"plain"}"#).unwrap();
    assert_eq!(escaped.sub.as_deref(), Some("é😀\n"));
    assert!(matches!(escaped.iss, Some(Cow::Borrowed("plain"))));
}

#[test]
fn members_are_typed_named_once_and_unknown_ones_skipped() {
    let cases: &[(&str, bool)] = &[
        (r#"{}"#, true),
        (" \t\r\n{ \"exp\" : 1 , \"ev\" :\"e\" } \n", true),
        (r#"{"exp":1,"exp":1}"#, false),
        (r#"{"exp":null,"exp":1}"#, false),
        (r#"{"exp":1,"\u0065xp":2}"#, false),
        (r#"{"\u0065xp":2}"#, true),
        (r#"{"x":1,"x":2}"#, true),
        (
            r#"{"exp":null,"iss":null,"aud":null,"max_streams":null}"#,
            true,
        ),
        (r#"{"exp":nul}"#, false),
        (r#"{"exp":nulll}"#, false),
        (r#"{"iss":1}"#, false),
        (r#"{"iss":true}"#, false),
        (r#"{"iss":["a"]}"#, false),
        (r#"{"aud":"a"}"#, true),
        (r#"{"aud":""}"#, true),
        (r#"{"aud":[]}"#, true),
        (r#"{"aud":[""]}"#, true),
        (r#"{"aud":["a","b"]}"#, true),
        (r#"{"aud":["a",]}"#, false),
        (r#"{"aud":[,"a"]}"#, false),
        (r#"{"aud":["a" "b"]}"#, false),
        (r#"{"aud":["a",null]}"#, false),
        (r#"{"aud":["a",1]}"#, false),
        (r#"{"aud":[["a"]]}"#, false),
        (r#"{"aud":{"a":1}}"#, false),
        (r#"{"aud":1}"#, false),
        (
            r#"{"x":[1,{"a":[true,false,null,"s",-1.5e3]},[],{}]}"#,
            true,
        ),
        (r#"{"x":[1,]}"#, false),
        (r#"{"x":{"a":1,}}"#, false),
        (r#"{"x":{"a"}}"#, false),
        (r#"{"x":{1:2}}"#, false),
        (r#"{"x":[}"#, false),
        (r#"{"x":{]}"#, false),
        (r#"{"x":tru}"#, false),
        (r#"{"x":True}"#, false),
        (r#"{"x":01}"#, false),
        (r#"{"x":1e400}"#, true),
        (r#"{"x":123456789012345678901234567890}"#, true),
        (r#"{"exp":1,}"#, false),
        (r#"{,}"#, false),
        (r#"{"exp":1 "ev":"e"}"#, false),
        (r#"{"exp" 1}"#, false),
        (r#"{exp:1}"#, false),
        (r#"{'exp':1}"#, false),
        (r#"{"exp":1}}"#, false),
        (r#"{"exp":1} x"#, false),
        (r#"{"exp":1"#, false),
        (r#"{"#, false),
        (r#""#, false),
        (r#"   "#, false),
        (r#"[]"#, false),
        (r#"[{"exp":1}]"#, false),
        (r#""exp""#, false),
        (r#"null"#, false),
        ("\u{c}{}", false),
        ("{}\u{c}", false),
        ("{\u{a0}}", false),
        ("\u{feff}{}", false),
    ];
    for (json, accepted) in cases {
        assert_eq!(agree(json.as_bytes()), *accepted, "{json:?}");
    }
}

#[test]
fn header_members_behave_like_the_serde_header() {
    type Members<'a> = Option<(Option<&'a str>, Option<&'a str>, bool)>;
    let cases: &[(&str, Members<'_>)] = &[
        (
            r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
            Some((Some("HS256"), Some("k1"), false)),
        ),
        (r#"{"alg":null,"kid":null}"#, Some((None, None, false))),
        (r#"{"crit":null}"#, Some((None, None, false))),
        (r#"{"crit":[]}"#, Some((None, None, true))),
        (r#"{"crit":["exp"]}"#, Some((None, None, true))),
        (r#"{"crit":0}"#, Some((None, None, true))),
        (r#"{"crit":{"a":[{}]}}"#, Some((None, None, true))),
        (r#"{"crit":[,]}"#, None),
        (r#"{"crit":null,"crit":null}"#, None),
        (r#"{"kid":7}"#, None),
        (r#"{"alg":["HS256"]}"#, None),
        (r#"{"alg":"HS256","alg":"HS256"}"#, None),
        (r#"{"kid":"\ud800"}"#, None),
        (r#"{"kid":"\u006b1"}"#, Some((None, Some("k1"), false))),
    ];
    for (json, expected) in cases {
        agree(json.as_bytes());
        let got = header(json.as_bytes());
        let got = got
            .as_ref()
            .map(|h| (h.alg.as_deref(), h.kid.as_deref(), h.crit));
        assert_eq!(got, *expected, "{json}");
    }
}

#[test]
fn ignored_values_nest_as_deep_as_serde_json_allows() {
    // serde_json skips an ignored value iteratively, with no depth limit.
    for depth in [1, 127, 128, 129, 300, 5000] {
        let nested = format!(
            r#"{{"x":{}{}{},"exp":1}}"#,
            r#"[{"a":"#.repeat(depth),
            "0",
            "}]".repeat(depth)
        );
        assert!(agree(nested.as_bytes()), "{depth}");
        let unbalanced = format!(r#"{{"x":{}0{}}}"#, "[".repeat(depth), "]".repeat(depth - 1));
        assert!(!agree(unbalanced.as_bytes()), "{depth}");
        let crossed = format!(
            r#"{{"x":{}{{"a":0]{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth - 1)
        );
        assert!(!agree(crossed.as_bytes()), "{depth}");
    }
}

// --- generated documents ------------------------------------------------------------------

/// JSON whitespace, mostly none, sometimes a byte that is whitespace to Rust but not to JSON.
fn ws() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        240 => Just(""),
        40 => Just(" "),
        20 => Just("\n\t"),
        20 => Just(" \r\n  "),
        1 => Just("\u{c}"),
    ]
    .prop_map(|s| s.as_bytes().to_vec())
}

/// The content of a string, between its quotes: plain text, every kind of escape (good and
/// bad), non-ASCII text, raw control characters and invalid UTF-8.
/// Bytes that must be escaped, and byte sequences that are not UTF-8 (or only just are).
const RAW_BYTES: &[&[u8]] = &[
    b"\x01",
    b"\x1f",
    b"\t",
    b"\n",
    b"\xff",
    b"\xc3",
    b"\xc3\xa9",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf0\x9f\x98",
    b"\x80",
];

fn string_content() -> impl Strategy<Value = Vec<u8>> {
    let clean = prop_oneof![
        10 => "[a-zA-Z0-9 /*._:-]{0,12}".prop_map(String::into_bytes),
        1 => Just(b"/events/e1/*".to_vec()),
        1 => Just("é日本😀\u{7f}".as_bytes().to_vec()),
        2 => prop::sample::select(&[
            r#"\n"#, r#"\""#, r#"\\"#, r#"\/"#, r#"\b"#, r#"\f"#, r#"\r"#, r#"\t"#,
            r#"\u0041"#, r#"\u00e9"#, r#"\u65E5"#, r#"\u0000"#, r#"\u001f"#, r#"\u005c"#,
            r#"\ud83d\ude00"#, r#"\uD83D\uDE00"#,
        ][..])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    let wild = prop_oneof![
        2 => prop::sample::select(&[
            r#"\ud800"#, r#"\udc00"#, r#"\ud800\u0041"#, r#"\ud800\n"#, r#"\ud800\ud800"#,
            r#"\u12"#, r#"\u12g4"#, r#"\x"#, r#"\'"#, r#"\U0041"#, "\\",
        ][..])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::sample::select(RAW_BYTES).prop_map(<[u8]>::to_vec),
    ];
    prop_oneof![
        40 => prop::collection::vec(clean.clone(), 0..4),
        1 => (prop::collection::vec(clean, 0..3), wild).prop_map(|(mut pieces, odd)| {
            pieces.push(odd);
            pieces.rotate_right(1);
            pieces
        }),
    ]
    .prop_map(|pieces| pieces.concat())
}

fn string() -> impl Strategy<Value = Vec<u8>> {
    string_content().prop_map(|content| [&b"\""[..], &content, b"\""].concat())
}

/// Numbers: ordinary integers and dates, every edge of the conversions, floats, and text that
/// is not a JSON number.
fn number() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (1_700_000_000i64..1_900_000_000).prop_map(|n| n.to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        2 => (0u64..10).prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| format!("{n:?}")),
        1 => any::<f64>().prop_map(|n| format!("{n:e}")),
        1 => (any::<u32>(), any::<u16>(), -400i32..400)
            .prop_map(|(i, f, e)| format!("{i}.{f}e{e}")),
        3 => prop::sample::select(&[
            "0", "-0", "1.5", "-1.5", "1e300", "-1e300", "1e400", "-1e400", "1e-400", "1E+2",
            "0.0", "-0.0", "4294967295", "4294967296", "9223372036854775807",
            "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "18446744073709551615", "18446744073709551616", "-18446744073709551616",
            "123456789012345678901234567890", "1767225600.9", "2.9999999999999996",
            "2.99999999999999999", "1e19", "9223372036854775807.5",
        ][..])
        .prop_map(ToString::to_string),
        1 => prop::sample::select(&[
            "01", "-01", "00", "1.", "-", ".5", "1.e3", "2e", "2e+", "+1", "1x", "-a", "1e5.5",
        ][..])
        .prop_map(ToString::to_string),
    ]
    .prop_map(String::into_bytes)
}

fn literal() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(
        &[
            "true", "false", "null", "nul", "tru", "nulll", "True", "NULL",
        ][..],
    )
    .prop_map(|s| s.as_bytes().to_vec())
}

/// Joins `items` with commas (and whitespace) inside `open` and `close`, sometimes with a
/// missing or trailing comma.
fn join(open: u8, items: Vec<Vec<u8>>, close: u8, gaps: Vec<Vec<u8>>, flaw: u8) -> Vec<u8> {
    let mut out = alloc::vec![open];
    let count = items.len();
    for (i, (item, gap)) in items.into_iter().zip(gaps.into_iter().cycle()).enumerate() {
        out.extend_from_slice(&gap);
        out.extend_from_slice(&item);
        let last = i + 1 == count;
        // Flaw 1 is a trailing comma, flaw 2 a missing one after the first item.
        let comma = match flaw {
            1 => true,
            2 => i != 0 && !last,
            _ => !last,
        };
        if comma {
            out.push(b',');
        }
    }
    out.push(close);
    out
}

/// A flaw other than none in about one container in twenty.
fn flaw() -> impl Strategy<Value = u8> {
    prop_oneof![38 => Just(3u8), 1 => Just(1u8), 1 => Just(2u8)]
}

/// Any JSON value, nested a few levels, built from the pieces above.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![3 => string(), 3 => number(), 1 => literal()];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            (
                prop::collection::vec(inner.clone(), 0..5),
                prop::collection::vec(ws(), 1..3),
                flaw()
            )
                .prop_map(|(items, gaps, flaw)| join(b'[', items, b']', gaps, flaw)),
            (
                prop::collection::vec((name(), ws(), inner), 0..5),
                prop::collection::vec(ws(), 1..3),
                flaw()
            )
                .prop_map(|(members, gaps, flaw)| {
                    let items = members
                        .into_iter()
                        .map(|(name, gap, value)| [name, gap, b":".to_vec(), value].concat())
                        .collect();
                    join(b'{', items, b'}', gaps, flaw)
                }),
        ]
    })
}

const NAMES: [&str; 15] = [
    "iss",
    "sub",
    "aud",
    "jti",
    "iat",
    "nbf",
    "exp",
    "ev",
    "scope",
    "sid",
    "max_streams",
    "alg",
    "kid",
    "crit",
    "typ",
];

/// A member name: a known one (sometimes spelled with escapes), or another.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::sample::select(&NAMES[..]).prop_map(|n| format!("\"{n}\"").into_bytes()),
        1 => prop::sample::select(&[
            r#""\u0065xp""#, r#""ex\u0070""#, r#""\u0069ss""#, r#""sc\u006fpe""#,
            r#""\u006bid""#, r#""al\u0067""#, r#""e\u0076""#, r#""exp ""#, r#""EXP""#,
            r#""ex""#, r#""expp""#, r#""""#, r#""\ud800""#, r#""é""#,
        ][..])
        .prop_map(|n| n.as_bytes().to_vec()),
        2 => string(),
    ]
}

/// A value of the type the member named `name` wants, most of the time.
fn typed_value(name: &'static str) -> BoxedStrategy<Vec<u8>> {
    let right: BoxedStrategy<Vec<u8>> = match name {
        "iat" | "nbf" | "exp" => prop_oneof![
            20 => (1_700_000_000i64..1_900_000_000).prop_map(|n| n.to_string().into_bytes()),
            1 => number(),
        ]
        .boxed(),
        "max_streams" => prop_oneof![
            20 => (0u32..10).prop_map(|n| n.to_string().into_bytes()),
            1 => number(),
        ]
        .boxed(),
        "aud" => prop_oneof![
            string(),
            (
                prop::collection::vec(string(), 0..4),
                prop::collection::vec(ws(), 1..2),
                flaw()
            )
                .prop_map(|(items, gaps, flaw)| join(b'[', items, b']', gaps, flaw)),
        ]
        .boxed(),
        "crit" => value().boxed(),
        _ => string().boxed(),
    };
    prop_oneof![
        40 => right,
        2 => Just(b"null".to_vec()),
        1 => value(),
    ]
    .boxed()
}

/// A member whose value usually suits its name.
fn member() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        5 => prop::sample::select(&NAMES[..]).prop_flat_map(|n| {
            (ws(), ws(), typed_value(n))
                .prop_map(move |(a, b, value)| {
                    [format!("\"{n}\"").into_bytes(), a, b":".to_vec(), b, value].concat()
                })
        }),
        1 => (name(), ws(), value())
            .prop_map(|(name, gap, value)| [name, gap, b":".to_vec(), value].concat()),
    ]
}

/// A claims set shaped like a ticket: most registered claims and Usher's, in any order, with
/// values of the right type nearly always, and a few other members.
fn ticket() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::subsequence(NAMES[..11].to_vec(), 7..=11),
        prop::collection::vec(
            (
                prop_oneof![
                    3 => "\"[a-z_]{1,8}\"".prop_map(String::into_bytes),
                    1 => name(),
                ],
                prop_oneof![3 => string(), 3 => number(), 1 => value()],
            )
                .prop_map(|(n, v)| [n, b":".to_vec(), v].concat()),
            0..3,
        ),
    )
        .prop_flat_map(|(names, others)| {
            let members: Vec<BoxedStrategy<Vec<u8>>> = names
                .into_iter()
                .map(|n| {
                    (ws(), typed_value(n))
                        .prop_map(move |(gap, v)| {
                            [format!("\"{n}\":").into_bytes(), gap, v].concat()
                        })
                        .boxed()
                })
                .chain(others.into_iter().map(|m| Just(m).boxed()))
                .collect();
            (
                members.prop_shuffle(),
                prop::collection::vec(ws(), 1..4),
                flaw(),
            )
                .prop_map(|(members, gaps, flaw)| join(b'{', members, b'}', gaps, flaw))
        })
}

/// A JOSE header: `alg`, `kid`, `typ` and sometimes `crit`, in any order, usually well typed.
fn jose_header() -> impl Strategy<Value = Vec<u8>> {
    let alg = prop_oneof![
        8 => Just(br#""HS256""#.to_vec()),
        1 => prop::sample::select(&[
            r#""none""#, r#""RS256""#, r#""hs256""#, r#""HS\u0032\u0035\u0036""#, "null", "256",
        ][..])
            .prop_map(|s| s.as_bytes().to_vec()),
    ];
    let kid = prop_oneof![
        8 => prop::sample::select(&[r#""k1""#, r#""k2""#, r#""k9""#, r#""\u006b1""#][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => typed_value("kid"),
    ];
    let members = (
        alg.prop_map(|v| [b"\"alg\":".to_vec(), v].concat()),
        kid.prop_map(|v| [b"\"kid\":".to_vec(), v].concat()),
        Just(br#""typ":"JWT""#.to_vec()),
        typed_value("crit").prop_map(|v| [b"\"crit\":".to_vec(), v].concat()),
    );
    (
        members,
        prop::sample::subsequence(alloc::vec![0, 1, 2, 3], 0..=4),
        any::<bool>(),
    )
        .prop_flat_map(|((alg, kid, typ, crit), chosen, with_crit)| {
            let all = [alg, kid, typ, crit];
            let picked: Vec<Vec<u8>> = chosen
                .into_iter()
                .filter(|&i| i != 3 || with_crit)
                .filter_map(|i| all.get(i).cloned())
                .collect();
            (
                Just(picked).prop_shuffle(),
                prop::collection::vec(ws(), 1..3),
                flaw(),
            )
                .prop_map(|(members, gaps, flaw)| join(b'{', members, b'}', gaps, flaw))
        })
}

/// A whole document: usually an object, ticket-like or of arbitrary members, sometimes
/// something else, with whitespace around it and occasionally bytes after it.
pub(in crate::token) fn document() -> impl Strategy<Value = Vec<u8>> {
    let object = (
        prop::collection::vec(member(), 0..9),
        prop::collection::vec(ws(), 1..4),
        flaw(),
    )
        .prop_map(|(members, gaps, flaw)| join(b'{', members, b'}', gaps, flaw));
    (
        ws(),
        prop_oneof![6 => ticket(), 2 => jose_header(), 6 => object, 1 => value()],
        ws(),
        prop_oneof![
            30 => Just(Vec::new()),
            1 => Just(b"}".to_vec()),
            1 => Just(b"x".to_vec()),
            1 => Just(b"{}".to_vec()),
        ],
    )
        .prop_map(|(before, doc, after, tail)| [before, doc, after, tail].concat())
}

/// An edit at a random place: a byte replaced, inserted or removed.
#[derive(Clone, Debug)]
pub(in crate::token) enum Edit {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(
            &b"\"\\{}[],:0123456789-+.eEtfnu \t\r\n\x0c\x00\x1f\x7f\x80\xc3\xa9\xff/"[..]
        ),
        1 => any::<u8>(),
    ]
}

pub(in crate::token) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), interesting_byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<prop::sample::Index>(), interesting_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Remove),
    ]
}

pub(in crate::token) fn apply(mut doc: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        match edit {
            Edit::Replace(at, byte) if !doc.is_empty() => {
                let at = at.index(doc.len());
                doc[at] = *byte;
            }
            Edit::Insert(at, byte) => {
                let at = at.index(doc.len() + 1);
                doc.insert(at, *byte);
            }
            Edit::Remove(at) if !doc.is_empty() => {
                let at = at.index(doc.len());
                doc.remove(at);
            }
            _ => {}
        }
    }
    doc
}

/// How many generated documents each differential property checks (each one is read as a
/// header and as claims, by both implementations).
const CASES: u32 = 4_000;

/// `cases`, or more if `PROPTEST_CASES` asks for more: `PROPTEST_CASES=500000 cargo test
/// --release -p usher-shared --lib token` is the long run before changing a reader.
pub(in crate::token) fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: cases.max(default.cases),
        ..default
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn scanner_agrees_with_serde_on_generated_documents(doc in document()) {
        agree(&doc);
    }

    #[test]
    fn scanner_agrees_with_serde_on_mutated_documents(
        doc in document(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        agree(&apply(doc, &edits));
    }

    #[test]
    fn scanner_agrees_with_serde_on_arbitrary_bytes(
        doc in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        agree(&doc);
        let mut braced = doc.clone();
        braced.insert(0, b'{');
        agree(&braced);
    }
}

/// The generator is only worth its cases if both answers are common: check that a fair share
/// of documents is accepted, and of claims sets with the required claims, and that many are
/// refused, before and after mutation.
#[test]
fn generated_documents_cover_both_verdicts() {
    let mut runner = TestRunner::deterministic();
    let documents = document();
    let edits = prop::collection::vec(edit(), 1..4);
    let (mut accepted, mut complete, mut mutated_accepted) = (0, 0, 0);
    let total = 2_000;
    for _ in 0..total {
        let doc = documents.new_tree(&mut runner).unwrap().current();
        if let Some(c) = scan_claims(&doc) {
            accepted += 1;
            if c.exp.is_some() && c.ev.is_some() && c.scope.is_some() {
                complete += 1;
            }
        }
        let edits = edits.new_tree(&mut runner).unwrap().current();
        if scan_claims(&apply(doc, &edits)).is_some() {
            mutated_accepted += 1;
        }
    }
    // At the time of writing: 827, 189 and 207 of 2000.
    assert!(
        accepted > total / 4 && accepted < total * 3 / 4,
        "{accepted} of {total}"
    );
    assert!(complete > total / 20, "{complete} of {total}");
    assert!(
        mutated_accepted > total / 20,
        "{mutated_accepted} of {total}"
    );
}
