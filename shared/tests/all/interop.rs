//! Interop with the reference libraries, both ways: PyJWT 2.x and akamai-edgeauth 0.3.2.
//!
//! The libraries run for real in the project's Python venv (`make venv` creates it; `make test`
//! does so when it is missing), driven by `shared/tests/interop/interop.py`. Set `USHER_PYTHON`
//! to use another interpreter that has `PyJWT`, `akamai-edgeauth` and `cryptography`.
#![cfg(test)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use usher_shared::token::edgeauth::{self, EdgeAuth, MintRequest, Presented, Scope};
use usher_shared::token::jwt::{self, Claims, Policy};
use usher_shared::token::{Algorithm, Keyring, Reason};

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("USHER_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "the interop tests need the project's Python venv with PyJWT and akamai-edgeauth: \
         run `make venv` (or `make test`), or set USHER_PYTHON"
    );
    venv
}

fn harness(args: &[&str], stdin: Option<&[u8]>) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/interop.py");
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python interop harness");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "interop harness failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("harness prints JSON")
}

fn str_field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("{name} in {v}"))
}

fn verdict<T>(result: Result<T, Reason>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(reason) => reason.code(),
    }
}

fn usher_verdict_jwt(case: &Value) -> &'static str {
    let mut keyring = Keyring::new();
    for (kid, hex) in case["keyring"].as_object().unwrap() {
        keyring
            .insert(kid, &hex::decode(hex.as_str().unwrap()).unwrap())
            .unwrap();
    }
    let p = &case["policy"];
    let policy = Policy {
        audience: p["audience"].as_str(),
        issuer: p["issuer"].as_str(),
        leeway_secs: p["leeway"].as_u64().unwrap(),
        event: p["event"].as_str(),
    };
    let token = str_field(case, "token");
    let now = case["now"].as_u64().unwrap();
    verdict(jwt::verify(
        token,
        &keyring,
        &policy,
        str_field(case, "path"),
        now,
    ))
}

fn edgeauth_from(config: &Value) -> EdgeAuth {
    let options = edgeauth::Options {
        field_delimiter: str_field(config, "field_delimiter").chars().next().unwrap(),
        acl_delimiter: str_field(config, "acl_delimiter").chars().next().unwrap(),
        escape_early: config["escape_early"].as_bool().unwrap(),
        leeway_secs: config["leeway"].as_u64().unwrap_or(0),
    };
    let algorithm = Algorithm::parse(str_field(config, "algorithm")).unwrap();
    let ea = EdgeAuth::from_hex(str_field(config, "key"), algorithm, options).unwrap();
    match config["salt"].as_str() {
        Some(salt) => ea.with_salt(salt),
        None => ea,
    }
}

fn usher_verdict_edgeauth(case: &Value) -> &'static str {
    let ea = edgeauth_from(&case["config"]);
    let presented = Presented {
        path: str_field(case, "path"),
        ip: case["ip"].as_str(),
    };
    verdict(ea.verify(
        str_field(case, "token"),
        &presented,
        case["now"].as_u64().unwrap(),
    ))
}

#[test]
fn tokens_made_by_pyjwt_and_akamai_edgeauth_get_the_same_verdict_and_reason() {
    let cases = harness(&["library-cases", "--seed", "2026", "--count", "540"], None);
    let cases = cases.as_array().unwrap();
    let mut mismatches = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let ours = match str_field(case, "kind") {
            "jwt" => usher_verdict_jwt(case),
            _ => usher_verdict_edgeauth(case),
        };
        let theirs = str_field(case, "expected");
        seen.insert((str_field(case, "kind").to_owned(), theirs.to_owned()));
        if ours != theirs {
            mismatches.push(format!(
                "{} {}: usher says {ours}, reference says {theirs}: {}",
                str_field(case, "kind"),
                str_field(case, "scenario"),
                str_field(case, "token")
            ));
        }
    }
    assert_eq!(cases.len(), 1080);
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    // The generated cases must exercise every verdict the issue names, on both layers.
    for (kind, reason) in [
        ("jwt", "ok"),
        ("jwt", "expired"),
        ("jwt", "not_yet_valid"),
        ("jwt", "bad_signature"),
        ("jwt", "unknown_kid"),
        ("jwt", "missing_kid"),
        ("jwt", "alg_not_allowed"),
        ("jwt", "out_of_scope"),
        ("jwt", "wrong_event"),
        ("jwt", "bad_audience"),
        ("jwt", "bad_issuer"),
        ("jwt", "missing_claim"),
        ("jwt", "malformed"),
        ("edgeauth", "ok"),
        ("edgeauth", "expired"),
        ("edgeauth", "not_yet_valid"),
        ("edgeauth", "bad_signature"),
        ("edgeauth", "out_of_scope"),
        ("edgeauth", "ip_mismatch"),
        ("edgeauth", "malformed"),
    ] {
        assert!(
            seen.contains(&(kind.to_owned(), reason.to_owned())),
            "no {kind} case ended in {reason}"
        );
    }
}

/// A small deterministic generator (splitmix64), so the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", self.below(256)))
            .collect()
    }
}

fn our_edgeauth_token(rng: &mut Rng) -> Value {
    let escape_early = rng.below(3) == 0;
    let (field, acl_delim) = *[("~", "!"), (";", ","), ("~", "|")]
        .get(rng.below(3) as usize)
        .unwrap();
    let key_len = if rng.below(2) == 0 { 16 } else { 32 };
    let config = json!({
        "key": rng.hex(key_len),
        "algorithm": rng.pick(&["sha256", "sha256", "sha1", "md5"]),
        "field_delimiter": field,
        "acl_delimiter": acl_delim,
        "escape_early": escape_early,
        "salt": if rng.below(4) == 0 { Value::from(format!("salt{}", rng.below(1000))) } else { Value::Null },
    });
    let ea = edgeauth_from(&config);
    let end = 1_767_225_600 + rng.below(100_000);
    let start = (rng.below(2) == 0).then(|| end - 1 - rng.below(3600));
    let escapable = ["s 1", "a/b", "ü", "x+y", "plain-id", "k=v"];
    let plain = ["s-1", "viewer.42", "abc_DEF", "kid:k1"];
    let values: &[&str] = if escape_early { &escapable } else { &plain };
    let ip = (rng.below(4) == 0).then(|| rng.pick(&["198.51.100.4", "2001:db8::9"]));
    let session_id = (rng.below(2) == 0).then(|| rng.pick(values));
    let data = (rng.below(3) == 0).then(|| rng.pick(values));
    let event = format!("e{}", rng.below(40));
    let acl_entries = [format!("/events/{event}/*"), format!("/keys/{event}/?*")];
    let acl: Vec<&str> = acl_entries[..1 + rng.below(2) as usize]
        .iter()
        .map(String::as_str)
        .collect();
    let url_path = format!("/events/{event}/720p/seg_{}.m4s", rng.below(99999));
    let url = rng.below(3) == 0;
    let scope = if url {
        Scope::Url(&url_path)
    } else {
        Scope::Acl(&acl)
    };
    let token = ea
        .mint(&MintRequest {
            ip,
            start,
            end,
            scope,
            session_id,
            data,
        })
        .unwrap();
    json!({
        "kind": "edgeauth", "config": config, "token": token, "ip": ip, "start": start,
        "end": end, "session_id": session_id, "data": data,
        "acl": if url { Value::Null } else { json!(acl) },
        "url": if url { Value::from(url_path.clone()) } else { Value::Null },
    })
}

fn our_jwt(rng: &mut Rng) -> Value {
    let kid = format!("k{}", rng.below(5));
    let secret = rng.hex(32);
    let mut keyring = Keyring::new();
    keyring
        .insert(&kid, &hex::decode(&secret).unwrap())
        .unwrap();
    let now = 1_767_225_600 + rng.below(100_000) as i64;
    let event = format!("e{}", rng.below(40));
    let claims = Claims {
        iss: (rng.below(2) == 0).then(|| "tickets.example".to_owned()),
        sub: Some(format!("viewer-{}", rng.below(1 << 20))),
        aud: match rng.below(3) {
            0 => vec![],
            1 => vec!["usher".to_owned()],
            _ => vec!["usher".to_owned(), "player".to_owned()],
        },
        jti: Some(format!("t-{}", rng.below(1 << 30))),
        iat: Some(now - rng.below(3600) as i64),
        nbf: (rng.below(2) == 0).then(|| now - rng.below(60) as i64),
        exp: now + 1 + rng.below(7200) as i64,
        ev: event.clone(),
        scope: format!("/events/{event}/*"),
        sid: (rng.below(2) == 0).then(|| format!("s-ä-{}", rng.below(1000))),
        max_streams: 1 + rng.below(3) as u32,
    };
    let token = jwt::mint(&claims, &kid, &keyring).unwrap();
    json!({
        "kind": "jwt", "token": token, "kid": kid, "secret": secret, "now": now,
        "audience": if claims.aud.is_empty() { Value::Null } else { Value::from("usher") },
        "issuer": claims.iss,
        "claims": serde_json::to_value(&claims).unwrap(),
    })
}

#[test]
fn tokens_usher_mints_are_byte_identical_to_akamai_edgeauth_and_verify_in_pyjwt() {
    let mut rng = Rng(0x05e4_2026);
    let mut items: Vec<Value> = (0..400).map(|_| our_edgeauth_token(&mut rng)).collect();
    items.extend((0..400).map(|_| our_jwt(&mut rng)));
    let input = serde_json::to_vec(&items).unwrap();
    let report = harness(&["check-ours"], Some(&input));
    assert_eq!(report["checked"], 800);
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 800 disagree, e.g. {:#}",
        failures.len(),
        failures[0]
    );
}
