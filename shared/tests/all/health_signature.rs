//! Integration tests: signed health snapshots (`usher_shared::health::signature`).
//!
//! Properties over real snapshots from a model fed random measurements: a sealed snapshot opens
//! to exactly what its JSON decodes to, and no single bit flip anywhere in an envelope (header
//! or body) gets past `open`.
#![cfg(test)]

use proptest::prelude::*;
use usher_shared::health::{
    CdnConfig, HealthConfig, HealthKeys, HealthModel, HealthSnapshot, Observation, SignalKind,
    SignatureError, open, seal,
};

const KEYS: &str = r#"{"2026-10": "00112233445566778899aabbccddeeff", "2026-11": "8f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"}"#;

fn keys() -> HealthKeys {
    HealthKeys::from_json(KEYS.as_bytes()).unwrap()
}

/// A snapshot of a model over `weights.len()` CDNs after `steps` evaluations, each CDN
/// reporting requests with the given error count per step.
fn snapshot_json(weights: &[u16], errors: &[Vec<u64>]) -> Vec<u8> {
    let cdns = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| CdnConfig::new(format!("cdn{i}"), w))
        .collect();
    let mut model = HealthModel::new(HealthConfig::new(cdns)).unwrap();
    let mut now = 1_767_225_600_000;
    for step in errors {
        for (i, &errors) in step.iter().enumerate().take(weights.len()) {
            let kind = SignalKind::Requests {
                requests: 100,
                errors: errors.min(100),
            };
            let obs = Observation {
                cdn: format!("cdn{i}"),
                group: None,
                at_ms: now,
                kind,
            };
            model.observe(&obs).unwrap();
        }
        model.evaluate(now);
        now += 5_000;
    }
    model.snapshot(now).to_json()
}

/// Static weights for 2 to 5 CDNs adding up to 10000, and a history of error counts.
fn arb_snapshot() -> impl Strategy<Value = Vec<u8>> {
    (2usize..=5)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(1u16..=100, n),
                prop::collection::vec(
                    prop::collection::vec(prop::sample::select(vec![0u64, 1, 10, 60]), n),
                    0..12,
                ),
            )
        })
        .prop_map(|(raw, errors)| {
            let total: u32 = raw.iter().map(|&x| u32::from(x)).sum();
            let mut weights: Vec<u16> = raw
                .iter()
                .map(|&x| (u32::from(x) * 10_000 / total) as u16)
                .collect();
            let sum: u32 = weights.iter().map(|&w| u32::from(w)).sum();
            weights[0] += (10_000 - sum) as u16;
            snapshot_json(&weights, &errors)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sealed_snapshot_opens_to_what_its_json_decodes_to(
        json in arb_snapshot(),
        newer in any::<bool>(),
    ) {
        let kid = if newer { "2026-11" } else { "2026-10" };
        let envelope = seal(&keys(), kid, &json).unwrap();
        let opened = open(&keys(), &envelope).unwrap();
        prop_assert_eq!(&opened, &HealthSnapshot::from_json(&json).unwrap());
        prop_assert_eq!(opened.to_json(), json);
    }

    #[test]
    fn any_bytes_sealed_open_exactly_as_they_decode(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let envelope = seal(&keys(), "2026-10", &bytes).unwrap();
        prop_assert_eq!(
            open(&keys(), &envelope),
            HealthSnapshot::from_json(&bytes).map_err(SignatureError::Decode)
        );
    }

    #[test]
    fn any_bit_flip_in_header_or_body_is_refused(
        json in arb_snapshot(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut envelope = seal(&keys(), "2026-10", &json).unwrap();
        let i = at.index(envelope.len());
        envelope[i] ^= 1 << bit;
        let refused = open(&keys(), &envelope);
        prop_assert!(refused.is_err(), "flipped bit {} of byte {}", bit, i);
        // The MAC covers the key id and every byte of the JSON, so a flip is refused before
        // the JSON decoder ever sees the bytes: never `decode`.
        let code = refused.unwrap_err().as_str();
        prop_assert!(
            matches!(code, "unsigned" | "malformed_envelope" | "unknown_key" | "bad_signature"),
            "{}",
            code
        );
    }
}

#[test]
fn an_envelope_cut_short_or_extended_is_refused() {
    let json = snapshot_json(&[5000, 5000], &[vec![0, 0]]);
    let envelope = seal(&keys(), "2026-11", &json).unwrap();
    for cut in [1, envelope.len() / 2, envelope.len() - 1] {
        assert!(open(&keys(), &envelope[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = envelope.clone();
    longer.push(b'\n');
    assert_eq!(
        open(&keys(), &longer).unwrap_err().as_str(),
        "bad_signature"
    );
}
