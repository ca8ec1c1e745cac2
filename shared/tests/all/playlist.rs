//! Integration tests of `usher_shared::playlist`: the golden corpus and property tests.
//!
//! The golden corpus lives in `tests/golden/playlists/<case>/`: `input.m3u8`, `case.json` (the
//! rewrite: `playlist_url`, `from_base`, `to_base`, `params`) and `expected.m3u8`, compared byte
//! for byte. `USHER_BLESS=1 cargo test -p usher-shared --test all playlist` writes the expected
//! files instead; review their diff before committing them.
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use similar::TextDiff;
use usher_shared::playlist::{
    BaseUrl, HttpUrl, LineKind, ParseErrorKind, Playlist, PlaylistKind, Rewrite, UriRef,
};

/// One golden case's rewrite, as read from `case.json`.
struct Case {
    playlist_url: String,
    from_base: Option<String>,
    to_base: String,
    params: Vec<(String, String)>,
}

impl Case {
    fn load(path: &Path) -> Result<Self, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let string = |key: &str| json[key].as_str().map(str::to_owned);
        let params = json["params"]
            .as_array()
            .ok_or("params must be an array of [name, value] pairs")?
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([name, value]) => Ok((
                    name.as_str().unwrap_or_default().to_owned(),
                    value.as_str().unwrap_or_default().to_owned(),
                )),
                _ => Err(format!("bad param {pair}")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            playlist_url: string("playlist_url").ok_or("playlist_url missing")?,
            from_base: string("from_base"),
            to_base: string("to_base").ok_or("to_base missing")?,
            params,
        })
    }

    fn with_rewrite<R>(&self, f: impl FnOnce(&Rewrite<'_>) -> R) -> Result<R, String> {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let from_base = match &self.from_base {
            Some(base) => Some(BaseUrl::parse(base).ok_or("from_base is not a base URL")?),
            None => None,
        };
        let rewrite = Rewrite {
            playlist_url: HttpUrl::parse(&self.playlist_url)
                .ok_or("playlist_url is not an http(s) URL")?,
            from_base,
            to_base: BaseUrl::parse(&self.to_base).ok_or("to_base is not a base URL")?,
            params: &params,
        };
        Ok(f(&rewrite))
    }
}

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/playlists")
}

/// Shows line endings and a byte order mark, which a plain diff would hide.
fn visible(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .replace('\u{feff}', "<BOM>")
        .replace("\r\n", "<CR>\n")
}

fn diff(expected: &[u8], actual: &[u8]) -> String {
    let (expected, actual) = (visible(expected), visible(actual));
    TextDiff::from_lines(&expected, &actual)
        .unified_diff()
        .header("expected.m3u8", "actual")
        .to_string()
}

/// Checks one case; returns its failure, if any.
fn check_case(dir: &Path, bless: bool) -> Result<(), String> {
    let input = fs::read(dir.join("input.m3u8")).map_err(|e| format!("input.m3u8: {e}"))?;
    let case = Case::load(&dir.join("case.json"))?;
    let playlist = Playlist::parse(&input).map_err(|e| format!("input does not parse: {e}"))?;
    if playlist.to_bytes() != input {
        return Err("writing the parsed input does not give the input back".into());
    }
    let (actual, again) = case.with_rewrite(|rewrite| {
        let actual = playlist.rewrite(rewrite);
        let again = Playlist::parse(&actual).map(|p| p.rewrite(rewrite));
        (actual, again)
    })?;
    match again {
        Ok(again) if again == actual => {}
        Ok(again) => {
            return Err(format!(
                "rewriting twice differs from once:\n{}",
                diff(&actual, &again)
            ));
        }
        Err(e) => return Err(format!("the rewritten playlist does not parse: {e}")),
    }
    let expected_path = dir.join("expected.m3u8");
    if bless {
        return fs::write(&expected_path, &actual).map_err(|e| format!("expected.m3u8: {e}"));
    }
    let expected = fs::read(&expected_path)
        .map_err(|e| format!("expected.m3u8: {e} (bless with USHER_BLESS=1)"))?;
    if expected == actual {
        Ok(())
    } else {
        Err(diff(&expected, &actual))
    }
}

#[test]
fn golden_corpus_rewrites_byte_exact() {
    let bless = std::env::var("USHER_BLESS").is_ok_and(|v| v == "1");
    let mut dirs: Vec<PathBuf> = fs::read_dir(golden_root())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "the corpus has only {} cases", dirs.len());
    let mut failures = String::new();
    for dir in &dirs {
        if let Err(failure) = check_case(dir, bless) {
            let name = dir.file_name().unwrap().to_string_lossy();
            let _ = write!(failures, "\n=== {name}\n{failure}\n");
        }
    }
    assert!(failures.is_empty(), "golden cases failed:{failures}");
}

fn corpus_input(case: &str) -> Vec<u8> {
    fs::read(golden_root().join(case).join("input.m3u8")).unwrap()
}

#[test]
fn corpus_facts_match_what_the_inputs_say() {
    let multivariant = corpus_input("multivariant_full");
    let p = Playlist::parse(&multivariant).unwrap();
    assert_eq!(p.kind(), PlaylistKind::Multivariant);
    assert_eq!(p.variant_count(), 8);
    assert_eq!(
        p.uris().count(),
        8 + 4 + 5 + 2 + 1 + 1,
        "variants, I-frames, renditions, keys, data, steering"
    );

    let ll = corpus_input("ll_hls_media");
    let p = Playlist::parse(&ll).unwrap();
    assert_eq!(p.kind(), PlaylistKind::Media);
    assert_eq!(p.segment_count(), 10);
    assert_eq!(p.part_count(), 42);
    assert_eq!(p.media_sequence(), Some(266));
    assert_eq!(p.target_duration(), Some(4));
    assert!(!p.has_endlist());
    assert!(p.segments().all(|s| s.duration == "4.00032"));

    let vod = Playlist::parse(&corpus_input("vod_endlist"))
        .unwrap()
        .has_endlist();
    assert!(vod);
    let disc = corpus_input("discontinuity_program_date_time");
    assert_eq!(
        Playlist::parse(&disc).unwrap().discontinuity_sequence(),
        Some(3)
    );
}

#[test]
fn crlf_line_endings_survive_rewrite() {
    let input = corpus_input("crlf_line_endings");
    let playlist = Playlist::parse(&input).unwrap();
    let out = playlist.rewrite(&edge_rewrite(TOKEN));
    let out = String::from_utf8(out).unwrap();
    assert!(out.ends_with("\r\n"));
    assert_eq!(out.matches("\r\n").count(), out.matches('\n').count());
}

// ---------------------------------------------------------------------------------------------
// Property tests.

const PLAYLIST_URL: &str = "https://origin.example/events/e1/720p/index.m3u8";
const TOKEN: &[(&str, &str)] = &[("__token__", "st=1~exp=2~acl=/*~hmac=ab")];

fn edge_rewrite(params: &'static [(&'static str, &'static str)]) -> Rewrite<'static> {
    Rewrite {
        playlist_url: HttpUrl::parse(PLAYLIST_URL).unwrap(),
        from_base: None,
        to_base: BaseUrl::parse("https://cdn-a.example/").unwrap(),
        params,
    }
}

/// The rewrites the properties are checked under: the edge's, a limited origin directory, bases
/// nested both ways, no parameters and several.
fn rewrite() -> impl Strategy<Value = Rewrite<'static>> {
    prop_oneof![
        Just(edge_rewrite(TOKEN)),
        Just(Rewrite {
            from_base: BaseUrl::parse("https://origin.example/events/"),
            to_base: BaseUrl::parse("https://cdn-b.example/live").unwrap(),
            ..edge_rewrite(TOKEN)
        }),
        Just(Rewrite {
            to_base: BaseUrl::parse("https://origin.example/cdn/").unwrap(),
            ..edge_rewrite(TOKEN)
        }),
        Just(Rewrite {
            from_base: BaseUrl::parse("https://origin.example/events/e1/"),
            to_base: BaseUrl::parse("https://origin.example/").unwrap(),
            ..edge_rewrite(TOKEN)
        }),
        Just(edge_rewrite(&[])),
        Just(edge_rewrite(&[
            ("a", "1"),
            ("__token__", "x y"),
            ("a", "2")
        ])),
    ]
}

/// URIs of every sort a playlist holds: relative (with `./`, `../`, queries, fragments, `;` and
/// `=`), absolute on the origin, the CDN or a third party, other schemes, variables and odd ones.
fn uri() -> impl Strategy<Value = String> {
    let path = "(\\./|\\.\\./|\\.\\./\\.\\./|/)?([a-z0-9_.-]{1,5}/){0,2}[a-zA-Z0-9_=;%.-]{1,10}";
    let query = "(\\?([a-z_]{1,9}(=[a-z0-9=/~*]{0,4})?&?){0,3})?";
    let fragment = "(#[a-z=.?0-9]{0,4})?";
    let relative = format!("{path}{query}{fragment}");
    prop_oneof![
        4 => regex(&relative),
        1 => regex(&format!("https://origin\\.example(:443)?/{relative}")),
        1 => regex(&format!("https://cdn-a\\.example/{relative}")),
        1 => regex(&format!("https://(ads\\.example|origin\\.example:8443)/{relative}")),
        1 => regex(&format!("//(ads|origin)\\.example/{relative}")),
        1 => regex("(data:text/plain;base64,QUJD,|skd://key-[0-9]|\\{\\$host\\}/seg\\.ts|seg\\.ts\\?t=\\{\\$t\\}|http:g|[a-z]{1,3}:x|#f|\\?q)"),
    ]
}

/// A URI that can stand on a line of its own: one starting with `#` would be a comment.
fn uri_line() -> impl Strategy<Value = String> {
    uri().prop_filter("a URI line cannot start with #", |u| !u.starts_with('#'))
}

fn regex(pattern: &str) -> impl Strategy<Value = String> + use<> {
    proptest::string::string_regex(pattern).unwrap()
}

/// A tag whose URI attribute is rewritten, with other attributes around it.
fn uri_tag() -> impl Strategy<Value = String> {
    let names = prop_oneof![
        Just("EXT-X-KEY:METHOD=AES-128,"),
        Just("EXT-X-MAP:"),
        Just("EXT-X-PART:DURATION=1.0,INDEPENDENT=YES,"),
        Just("EXT-X-PRELOAD-HINT:TYPE=PART,"),
        Just("EXT-X-RENDITION-REPORT:"),
    ];
    (
        names,
        uri(),
        "(,[A-Z-]{1,6}=(\"[a-z, =]{0,6}\"|[0-9.x]{1,4})){0,2}",
    )
        .prop_map(|(name, uri, rest)| format!("#{name}URI=\"{uri}\"{rest}"))
}

/// Lines that are no URI: comments, vendor lines, tags without URIs, blanks.
fn other_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  ".to_owned()),
        "## [a-zA-Z0-9 =\",:/.]{0,20}",
        "#(WV-AUDIO-CHANNELS [0-9]|USP-X-MEDIA:URI=\"x\\.m3u8\")",
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T14:00:0[0-9]\\.[0-9]{6}Z",
        "#EXT-X-(DISCONTINUITY|GAP|BITRATE:[0-9]{3,4}|BYTERANGE:[0-9]{1,4}(@[0-9]{1,4})?)",
        "#EXT-X-DATERANGE:ID=\"[a-z0-9]{1,4}\",X-ASSET-URI=\"https://ads\\.example/a\\.m3u8\"",
        "#EXT-X-VENDOR-[A-Z]{1,4}:URI=\"[a-z.]{1,6}\"",
    ]
}

/// One media segment: some lines before it, `EXTINF`, the URI line.
fn segment() -> impl Strategy<Value = Vec<String>> {
    let before = prop::collection::vec(prop_oneof![2 => other_line(), 1 => uri_tag()], 0..4);
    let duration = "([0-9]{1,2}|[0-9]{1,2}\\.[0-9]{1,6})";
    let title = "[a-zA-Z ]{0,6}";
    (before, duration, title, uri_line(), "[ \t]{0,1}").prop_map(
        |(mut lines, duration, title, uri, pad)| {
            lines.push(format!("#EXTINF:{duration},{title}"));
            lines.push(format!("{pad}{uri}{pad}"));
            lines
        },
    )
}

fn media_lines() -> impl Strategy<Value = Vec<String>> {
    (
        0u64..1_000_000,
        1u64..20,
        prop::option::of(0u64..50),
        prop::collection::vec(segment(), 0..8),
        prop::collection::vec(prop_oneof![other_line(), uri_tag()], 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(sequence, target, discontinuity, segments, tail, endlist)| {
                let mut lines = vec![
                    "#EXTM3U".to_owned(),
                    "#EXT-X-VERSION:9".to_owned(),
                    format!("#EXT-X-TARGETDURATION:{target}"),
                    format!("#EXT-X-MEDIA-SEQUENCE:{sequence}"),
                ];
                if let Some(d) = discontinuity {
                    lines.push(format!("#EXT-X-DISCONTINUITY-SEQUENCE:{d}"));
                }
                lines.extend(segments.into_iter().flatten());
                lines.extend(tail);
                if endlist {
                    lines.push("#EXT-X-ENDLIST".to_owned());
                }
                lines
            },
        )
}

fn multivariant_lines() -> impl Strategy<Value = Vec<String>> {
    let rendition = (
        prop_oneof![Just("AUDIO"), Just("SUBTITLES")],
        "[A-Za-z ,日本語]{1,8}",
        prop::option::of(uri()),
    )
        .prop_map(|(kind, name, uri)| {
            let uri = uri.map(|u| format!(",URI=\"{u}\"")).unwrap_or_default();
            format!("#EXT-X-MEDIA:TYPE={kind},GROUP-ID=\"g\",NAME=\"{name}\"{uri}")
        });
    let variant = (1u32..10_000_000, uri_line()).prop_map(|(bandwidth, uri)| {
        vec![
            format!("#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"avc1.64001f,mp4a.40.2\""),
            uri,
        ]
    });
    let other = prop_oneof![
        other_line(),
        uri().prop_map(|u| format!("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"{u}\"")),
        uri().prop_map(|u| format!("#EXT-X-SESSION-DATA:DATA-ID=\"d\",URI=\"{u}\"")),
        uri().prop_map(|u| format!("#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"{u}\"")),
        uri().prop_map(|u| format!("#EXT-X-CONTENT-STEERING:SERVER-URI=\"{u}\",PATHWAY-ID=\"a\"")),
    ];
    (
        prop::collection::vec(rendition, 0..4),
        prop::collection::vec(variant, 1..9),
        prop::collection::vec(other, 0..5),
    )
        .prop_map(|(renditions, variants, others)| {
            let mut lines = vec!["#EXTM3U".to_owned()];
            lines.extend(others);
            lines.extend(renditions);
            lines.extend(variants.into_iter().flatten());
            lines
        })
}

/// A playlist body: lines joined with random LF or CRLF endings, an optional byte order mark and
/// an optional missing final newline.
fn body(lines: impl Strategy<Value = Vec<String>>) -> impl Strategy<Value = Vec<u8>> {
    (
        lines,
        prop::collection::vec(any::<bool>(), 64),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, crlf, bom, final_newline)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            let count = lines.len();
            for (i, line) in lines.iter().enumerate() {
                text.push_str(line);
                if i + 1 < count || final_newline {
                    text.push_str(if crlf[i % crlf.len()] { "\r\n" } else { "\n" });
                }
            }
            text.into_bytes()
        })
}

fn playlist_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![body(media_lines()), body(multivariant_lines())]
}

fn uris_on_line<'a>(playlist: &Playlist<'a>, line: usize) -> Vec<UriRef<'a>> {
    playlist.uris().filter(|u| u.line_index == line).collect()
}

/// Checks everything a rewrite promises about `input`, which must parse.
fn check_rewrite(input: &[u8], rewrite: &Rewrite<'_>) -> Result<(), TestCaseError> {
    let original = Playlist::parse(input).unwrap();
    let output = original.rewrite(rewrite);
    let rewritten = Playlist::parse(&output)
        .map_err(|e| TestCaseError::fail(format!("output does not parse: {e}")))?;

    // Rewriting twice equals rewriting once.
    prop_assert_eq!(
        &rewritten.rewrite(rewrite),
        &output,
        "rewrite is not idempotent"
    );

    // The facts a player relies on are unchanged.
    prop_assert_eq!(rewritten.has_bom(), original.has_bom());
    prop_assert_eq!(rewritten.kind(), original.kind());
    prop_assert_eq!(rewritten.media_sequence(), original.media_sequence());
    prop_assert_eq!(
        rewritten.discontinuity_sequence(),
        original.discontinuity_sequence()
    );
    prop_assert_eq!(rewritten.target_duration(), original.target_duration());
    prop_assert_eq!(rewritten.part_count(), original.part_count());
    prop_assert_eq!(rewritten.variant_count(), original.variant_count());
    let durations = |p: &Playlist<'_>| {
        p.segments()
            .map(|s| s.duration.to_owned())
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(durations(&rewritten), durations(&original));

    // Line by line: same kind and ending; every byte outside URI spans is the same; every URI is
    // what rewriting it alone gives.
    prop_assert_eq!(rewritten.lines().len(), original.lines().len());
    for (i, (before, after)) in original.lines().iter().zip(rewritten.lines()).enumerate() {
        prop_assert_eq!(before.ending(), after.ending());
        prop_assert_eq!(
            std::mem::discriminant(before.kind()),
            std::mem::discriminant(after.kind())
        );
        if let (LineKind::Tag(a), LineKind::Tag(b)) = (before.kind(), after.kind()) {
            prop_assert_eq!(a.name(), b.name());
        }
        let (old_uris, new_uris) = (uris_on_line(&original, i), uris_on_line(&rewritten, i));
        prop_assert_eq!(old_uris.len(), new_uris.len(), "line {}", i);
        let (mut old_at, mut new_at) = (0, 0);
        for (old, new) in old_uris.iter().zip(&new_uris) {
            prop_assert_eq!(
                &before.text()[old_at..old.span.start],
                &after.text()[new_at..new.span.start]
            );
            let expected = rewrite
                .rewrite_uri(old.uri)
                .unwrap_or_else(|| old.uri.to_owned());
            prop_assert_eq!(new.uri, expected.as_str());
            (old_at, new_at) = (old.span.end, new.span.end);
        }
        prop_assert_eq!(&before.text()[old_at..], &after.text()[new_at..]);
    }
    Ok(())
}

/// Text that looks like a playlist to a scanner: tags with URI attributes, quotes, commas, `=`,
/// unterminated quotes, stray CRs, variables and non-ASCII.
fn playlist_like_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "#EXT-X-(KEY|MAP|PART|MEDIA|SESSION-DATA|CONTENT-STEERING|RENDITION-REPORT):([ A-Z-]{0,4}=(\"[^\"\\n]{0,12}\"?|[^,\\n]{0,6}),?){0,4}",
        "#EXTINF:[0-9.,a-z-]{0,6}",
        "[^\\n]{0,24}",
        "[ \\r\\t]{0,3}[a-z./:?#=&{}$%]{0,16}[ \\r]{0,2}",
    ];
    (
        prop::collection::vec((line, "\\r?\\n"), 0..12),
        any::<bool>(),
    )
        .prop_map(|(lines, bom)| {
            let mut text = String::from(if bom {
                "\u{feff}#EXTM3U\n"
            } else {
                "#EXTM3U\n"
            });
            for (line, ending) in lines {
                text.push_str(&line);
                text.push_str(&ending);
            }
            text.into_bytes()
        })
}

proptest! {
    #[test]
    fn parse_then_write_is_identity(input in playlist_body()) {
        let playlist = Playlist::parse(&input).unwrap();
        prop_assert_eq!(playlist.to_bytes(), input);
    }

    #[test]
    fn rewrite_changes_nothing_but_uris(input in playlist_body(), rewrite in rewrite()) {
        check_rewrite(&input, &rewrite)?;
    }

    #[test]
    fn rewrite_keeps_segment_count_and_durations(lines in media_lines(), rewrite in rewrite()) {
        let input = lines.join("\n");
        let original = Playlist::parse(input.as_bytes()).unwrap();
        let expected = lines.iter().filter(|l| l.starts_with("#EXTINF:")).count();
        prop_assert_eq!(original.segment_count(), expected);
        let output = original.rewrite(&rewrite);
        let rewritten = Playlist::parse(&output).unwrap();
        prop_assert_eq!(rewritten.segment_count(), expected);
        for (a, b) in original.segments().zip(rewritten.segments()) {
            prop_assert_eq!(a.duration_seconds(), b.duration_seconds());
        }
    }

    #[test]
    fn playlist_like_text_never_panics_and_keeps_every_promise(
        input in playlist_like_text(),
        rewrite in rewrite(),
    ) {
        let playlist = Playlist::parse(&input).unwrap();
        prop_assert_eq!(playlist.to_bytes(), input.clone());
        check_rewrite(&input, &rewrite)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..512),
        rewrite in rewrite(),
    ) {
        if let Ok(playlist) = Playlist::parse(&input) {
            prop_assert_eq!(playlist.to_bytes(), input.clone());
            check_rewrite(&input, &rewrite)?;
        }
    }

    #[test]
    fn arbitrary_bytes_after_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..512),
        rewrite in rewrite(),
    ) {
        let mut input = b"#EXTM3U\n".to_vec();
        input.extend_from_slice(&tail);
        match Playlist::parse(&input) {
            Ok(playlist) => {
                prop_assert_eq!(playlist.to_bytes(), input.clone());
                check_rewrite(&input, &rewrite)?;
            }
            Err(e) => prop_assert_eq!(e.kind(), ParseErrorKind::InvalidUtf8),
        }
    }
}
