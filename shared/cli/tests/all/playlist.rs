//! `usher playlist rewrite`: output bytes and exit codes of the built binary, on files and on
//! standard input. Outputs are compared with the library's golden corpus, so the CLI and the
//! library cannot drift apart.
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const TOKEN: &str = "__token__=st=1795000000~exp=1795003600~acl=/events/e1/*~hmac=9f8e7d6c5b4a";

fn golden(case: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden/playlists")
        .join(case)
        .join(file)
}

/// Runs `usher` with `args`, feeding `stdin`.
fn usher(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A process that exits before reading its input closes the pipe; that is not a failure here.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn rewrite_of_a_file_matches_the_golden_output() {
    let input = golden("ll_hls_media", "input.m3u8");
    let output = usher(
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/",
            "--playlist-url",
            "https://origin.example/events/e1/720p/index.m3u8",
            "--param",
            TOKEN,
            input.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        output.stdout,
        std::fs::read(golden("ll_hls_media", "expected.m3u8")).unwrap()
    );
    assert!(output.stderr.is_empty());
}

#[test]
fn rewrite_of_stdin_keeps_crlf_line_endings() {
    let input = std::fs::read(golden("crlf_line_endings", "input.m3u8")).unwrap();
    let output = usher(
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example",
            "--playlist-url",
            "https://origin.example/events/e1/720p/index.m3u8",
            "--param",
            TOKEN,
            "-",
        ],
        &input,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        output.stdout,
        std::fs::read(golden("crlf_line_endings", "expected.m3u8")).unwrap()
    );
}

#[test]
fn base_url_alone_resolves_relative_uris_against_it() {
    // The golden case base_url_only is this: the playlist taken to live at the base URL.
    let input = std::fs::read(golden("base_url_only", "input.m3u8")).unwrap();
    for base_url in [
        "https://cdn-a.example/live/e1/720p",
        "https://cdn-a.example/live/e1/720p/",
    ] {
        let output = usher(
            &[
                "playlist",
                "rewrite",
                "--base-url",
                base_url,
                "--param",
                TOKEN,
            ],
            &input,
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(
            output.stdout,
            std::fs::read(golden("base_url_only", "expected.m3u8")).unwrap(),
            "{base_url}"
        );
    }
}

#[test]
fn several_params_are_set_in_order() {
    let output = usher(
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/e1/",
            "--param",
            "a=1",
            "--param",
            "__token__=t k",
        ],
        b"#EXTM3U\n#EXTINF:4,\nseg.ts?__token__=old&b=2\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "#EXTM3U\n#EXTINF:4,\nhttps://cdn-a.example/e1/seg.ts?__token__=t%20k&b=2&a=1\n"
    );
}

/// Checks a not-a-playlist input: exit 1, nothing on stdout, one line on stderr with `words`.
fn assert_not_a_playlist(input: &[u8], words: &[&str]) {
    let output = usher(
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/",
        ],
        input,
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(output.stdout.is_empty());
    assert_eq!(message.lines().count(), 1, "{message}");
    for word in words {
        assert!(message.contains(word), "{message:?} lacks {word:?}");
    }
}

#[test]
fn html_error_page_exits_1_naming_its_kind_and_line() {
    assert_not_a_playlist(
        b"<html><body>502 Bad Gateway</body></html>\n",
        &["<stdin>", "not an hls playlist", "html", "line 1"],
    );
}

#[test]
fn other_non_playlists_exit_1_naming_their_kind() {
    assert_not_a_playlist(b"", &["empty body", "line 1"]);
    assert_not_a_playlist(br#"{"error":"gone"}"#, &["json", "line 1"]);
    assert_not_a_playlist(&[0x47, 0x40, 0x11, 0x10, 0x00, 0xff], &["binary", "line 1"]);
    assert_not_a_playlist(b"#EXTINF:4,\nseg.ts\n", &["#EXTM3U", "line 1"]);
    assert_not_a_playlist(b"#EXTM3U\n#EXTINF:4,\nseg\xff.ts\n", &["utf-8", "line 3"]);
}

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &["playlist", "rewrite"],
        &["playlist", "rewrite", "--base-url", "ftp://cdn-a.example/"],
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/?x=1",
        ],
        &["playlist", "rewrite", "--base-url", "cdn-a.example"],
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/",
            "--param",
            "novalue",
        ],
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/",
            "--playlist-url",
            "index.m3u8",
        ],
        &[
            "playlist",
            "rewrite",
            "--base-url",
            "https://cdn-a.example/",
            "/nonexistent/usher/playlist.m3u8",
        ],
        &["playlist", "frobnicate"],
    ];
    for args in cases {
        let output = usher(args, b"#EXTM3U\n");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
