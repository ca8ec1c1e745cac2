//! Any bytes as a ticket or a session token: checking never panics, and whatever verifies really
//! was signed (so a verified input re-verifies and every reason is one of the documented codes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_shared::token::edgeauth::{EdgeAuth, Options, Presented};
use usher_shared::token::jwt::{self, Policy};
use usher_shared::token::{Algorithm, Keyring, Reason};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut ring = Keyring::new();
    ring.insert("k1", b"fuzzing key").unwrap();
    let (token, path) = text.split_once('\n').unwrap_or((text, "/events/e1/a.m4s"));
    match jwt::verify(token, &ring, &Policy::default(), path, 1_767_225_600) {
        Ok(_) => panic!("an unsigned input verified as a ticket: {token:?}"),
        Err(reason) => assert!(Reason::ALL.contains(&reason)),
    }
    for options in [
        Options::default(),
        Options { escape_early: true, field_delimiter: ';', acl_delimiter: ',', leeway_secs: 30 },
    ] {
        let auth = EdgeAuth::from_hex("00ff", Algorithm::Sha256, options).unwrap();
        let presented = Presented { path, ip: Some("198.51.100.7") };
        if let Err(reason) = auth.verify(token, &presented, 1_767_225_600) {
            assert!(Reason::ALL.contains(&reason));
        }
    }
});
