//! `usher token`: the output and exit-code contract.
#![cfg(test)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::tempdir;

const NOW: &str = "1767225600";
const KEY_HEX: &str = "00112233445566778899aabbccddeeff";

fn usher(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .output()
        .expect("run usher")
}

fn json_line(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text:?}");
    serde_json::from_str(&text).unwrap()
}

fn keyring() -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join("keyring.json");
    std::fs::write(&path, format!(r#"{{"k1":"{KEY_HEX}","k0":"ffee"}}"#)).unwrap();
    (dir, path)
}

fn mint_ticket(ring: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "mint",
        "--kind",
        "jwt",
        "--keyring",
        ring,
        "--kid",
        "k1",
        "--event",
        "e1",
        "--now",
        NOW,
        "--ttl",
        "3600",
        "--raw",
    ];
    args.extend_from_slice(extra);
    let out = usher(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn valid_ticket_prints_valid_and_exits_zero() {
    let (_dir, ring) = keyring();
    let ring = ring.to_str().unwrap();
    let ticket = mint_ticket(ring, &["--audience", "usher", "--session-id", "s-1"]);
    let out = usher(&[
        "token",
        "verify",
        "--kind",
        "jwt",
        "--keyring",
        ring,
        "--path",
        "/events/e1/master.m3u8",
        "--now",
        "1767225700",
        "--audience",
        "usher",
        &ticket,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let line = json_line(&out);
    assert_eq!(line["valid"], true);
    assert_eq!(line["reason"], "ok");
    assert_eq!(line["claims"]["ev"], "e1");
    assert_eq!(line["claims"]["sid"], "s-1");
    assert_eq!(line["kid"], "k1");
}

#[test]
fn invalid_ticket_prints_the_reason_and_exits_one() {
    let (_dir, ring) = keyring();
    let ring = ring.to_str().unwrap();
    let ticket = mint_ticket(ring, &[]);
    for (args, reason) in [
        (vec!["--now", "1767300000"], "expired"),
        (
            vec![
                "--now",
                "1767225700",
                "--leeway",
                "5",
                "--audience",
                "usher",
            ],
            "missing_claim",
        ),
        (vec!["--now", "1767225700", "--event", "e2"], "wrong_event"),
    ] {
        let mut full = vec!["token", "verify", "--kind", "jwt", "--keyring", ring];
        full.extend(["--path", "/events/e1/master.m3u8"]);
        full.extend(args);
        full.push(&ticket);
        let out = usher(&full);
        assert_eq!(out.status.code(), Some(1), "{reason}");
        let line = json_line(&out);
        assert_eq!(line["valid"], false);
        assert_eq!(line["reason"], reason);
    }
    let out = usher(&[
        "token",
        "verify",
        "--kind",
        "jwt",
        "--keyring",
        ring,
        "--path",
        "/events/e2/x",
        "--now",
        NOW,
        &ticket,
    ]);
    assert_eq!(json_line(&out)["reason"], "out_of_scope");
}

#[test]
fn edgeauth_round_trip_through_the_cli() {
    let out = usher(&[
        "token",
        "mint",
        "--kind",
        "edgeauth",
        "--key",
        KEY_HEX,
        "--acl",
        "/events/e1/*",
        "--acl",
        "/keys/e1/*",
        "--start",
        NOW,
        "--end",
        "1767226200",
        "--session-id",
        "s 1",
        "--escape-early",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let token = json_line(&out)["token"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("st=1767225600~exp=1767226200~acl=/events/e1/*!/keys/e1/*~id=s+1~hmac=")
    );
    let verify = |path: &str, now: &str| {
        usher(&[
            "token",
            "verify",
            "--kind",
            "edgeauth",
            "--key",
            KEY_HEX,
            "--escape-early",
            "--path",
            path,
            "--now",
            now,
            &token,
        ])
    };
    let ok = verify("/keys/e1/k1", "1767225601");
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(json_line(&ok)["id"], "s+1");
    let expired = verify("/keys/e1/k1", "1767226200");
    assert_eq!(expired.status.code(), Some(1));
    assert_eq!(json_line(&expired)["reason"], "expired");
    let outside = verify("/events/e2/a", "1767225601");
    assert_eq!(json_line(&outside)["reason"], "out_of_scope");
}

#[test]
fn edgeauth_options_change_the_token_format() {
    let out = usher(&[
        "token",
        "mint",
        "--kind",
        "edgeauth",
        "--key",
        KEY_HEX,
        "--algorithm",
        "md5",
        "--field-delimiter",
        ";",
        "--acl-delimiter",
        ",",
        "--acl",
        "/a/*",
        "--acl",
        "/b/*",
        "--end",
        "1767226200",
        "--raw",
    ]);
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        token.starts_with("exp=1767226200;acl=/a/*,/b/*;hmac="),
        "{token}"
    );
    assert_eq!(
        token.rsplit_once("hmac=").unwrap().1.len(),
        32,
        "md5 is 16 bytes"
    );
    let out = usher(&[
        "token",
        "verify",
        "--kind",
        "edgeauth",
        "--key",
        KEY_HEX,
        "--algorithm",
        "md5",
        "--field-delimiter",
        ";",
        "--acl-delimiter",
        ",",
        "--path",
        "/b/c",
        "--now",
        NOW,
        &token,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = usher(&[
        "token", "verify", "--kind", "edgeauth", "--key", KEY_HEX, "--path", "/b/c", "--now", NOW,
        &token,
    ]);
    assert_eq!(json_line(&out)["reason"], "malformed");
}

#[test]
fn usage_errors_exit_two_without_echoing_secrets() {
    let (_dir, ring) = keyring();
    let bad_ring = ring.with_file_name("bad.json");
    std::fs::write(&bad_ring, r#"{"k1":"not-hex-secret-material"}"#).unwrap();
    for args in [
        vec![
            "token", "verify", "--kind", "jwt", "--path", "/", "--now", NOW, "t",
        ],
        vec![
            "token", "verify", "--kind", "edgeauth", "--path", "/", "--now", NOW, "t",
        ],
        vec![
            "token", "verify", "--kind", "edgeauth", "--key", "abc", "--path", "/", "t",
        ],
        vec!["token", "verify", "--kind", "rot13", "--path", "/", "t"],
        vec![
            "token", "verify", "--kind", "jwt", "--path", "/", "--now", "soon", "t",
        ],
        vec![
            "token",
            "verify",
            "--kind",
            "jwt",
            "--keyring",
            bad_ring.to_str().unwrap(),
            "--path",
            "/",
            "t",
        ],
        vec![
            "token", "mint", "--kind", "edgeauth", "--key", "00ff", "--ttl", "5",
        ],
        vec![
            "token",
            "mint",
            "--kind",
            "jwt",
            "--keyring",
            ring.to_str().unwrap(),
            "--event",
            "e",
        ],
    ] {
        let out = usher(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.is_empty(), "{args:?} explains itself");
        assert!(!stderr.contains("secret-material"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
