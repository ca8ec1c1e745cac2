//! What each edge artifact asks of its host, and how big it is.
//!
//! An import is a promise the platform must keep: a new one (a WASI interface Fastly does not
//! offer, a host call a newer SDK added) can pass every native test and still fail to deploy
//! or trap at the edge. So each artifact's imports are listed in `wasm-tests/imports/`, one per
//! line, and an import that is not listed fails the test; `USHER_BLESS=1` rewrites the lists,
//! and review of that diff is the point. wasm-bindgen suffixes its shim names with a hash of
//! their signature; the hash is cut off, since it changes with any edit of the glue.
#![cfg(test)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wasmparser::{Parser, Payload};

use crate::{budget, tools};

/// The three artifacts, by the name their lists and budgets use.
fn artifacts() -> [(&'static str, PathBuf); 3] {
    [
        ("wasi-http", tools::wasi_component()),
        ("fastly", tools::fastly_module()),
        ("cloudflare", tools::worker_dir().join("index_bg.wasm")),
    ]
}

/// The imports of a core module (`module::name`) or, for a component, of the component
/// itself (its interfaces: what the host must provide), sorted.
fn imports(bytes: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ImportSection(section) if depth == 0 => {
                for import in section.into_imports() {
                    let import = import.unwrap();
                    out.insert(format!("{}::{}", import.module, unhashed(import.name)));
                }
            }
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    out.insert(import.unwrap().name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

/// `__wbg_fetch_1a2b3c4d5e6f7a8b` → `__wbg_fetch`.
fn unhashed(name: &str) -> &str {
    match name.rsplit_once('_') {
        Some((stem, hash))
            if (8..=16).contains(&hash.len())
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && hash.bytes().any(|b| b.is_ascii_digit()) =>
        {
            stem
        }
        _ => name,
    }
}

fn list(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("imports")
        .join(format!("{name}.txt"))
}

#[test]
fn every_artifact_imports_only_what_its_allow_list_names() {
    let bless = std::env::var_os("USHER_BLESS").is_some();
    let mut problems = Vec::new();
    for (name, path) in artifacts() {
        let found = imports(&std::fs::read(&path).unwrap());
        assert!(!found.is_empty(), "{}: no imports found", path.display());
        if bless {
            let text: String = found.iter().map(|i| format!("{i}\n")).collect();
            std::fs::create_dir_all(list(name).parent().unwrap()).unwrap();
            std::fs::write(list(name), text).unwrap();
            continue;
        }
        let allowed: BTreeSet<String> = std::fs::read_to_string(list(name))
            .unwrap_or_else(|e| panic!("{}: {e} (bless with USHER_BLESS=1)", list(name).display()))
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        let new: Vec<&String> = found.difference(&allowed).collect();
        let gone: Vec<&String> = allowed.difference(&found).collect();
        if !new.is_empty() {
            problems.push(format!(
                "{name} ({}) imports what {} does not allow: {new:?}",
                path.display(),
                list(name).display()
            ));
        }
        if !gone.is_empty() {
            problems.push(format!(
                "{name}: {} allows imports the artifact no longer has (tighten it): {gone:?}",
                list(name).display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_artifact_is_within_its_size_budget() {
    let budgets = budget::load();
    let mut problems = Vec::new();
    for (name, path) in artifacts() {
        let size = std::fs::metadata(&path).unwrap().len();
        let limit = budgets.size_bytes[name];
        println!("{name:<11} {size:>9} bytes (budget {limit})");
        if size > limit {
            problems.push(format!(
                "{name} ({}) is {size} bytes, over its {limit}",
                path.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_wasm_bindgen_hash_is_cut_from_an_import_name_and_nothing_else() {
    assert_eq!(unhashed("__wbg_fetch_1a2b3c4d5e6f7a8b"), "__wbg_fetch");
    assert_eq!(unhashed("__wbindgen_throw"), "__wbindgen_throw");
    assert_eq!(unhashed("fd_write"), "fd_write");
    assert_eq!(unhashed("send_v2"), "send_v2");
}

#[test]
fn every_import_of_a_core_module_is_listed_by_module_and_name() {
    let module = wat_module();
    let found = imports(&module);
    assert_eq!(
        found,
        BTreeSet::from([
            "env::extra".to_owned(),
            "wasi_snapshot_preview1::fd_write".to_owned()
        ])
    );
}

/// A minimal binary module with two function imports, written out byte by byte (no `wat`
/// crate needed): `(import "wasi_snapshot_preview1" "fd_write" (func))` and
/// `(import "env" "extra" (func))`.
fn wat_module() -> Vec<u8> {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    // Type section: one type, () -> ().
    bytes.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
    let mut imports = vec![2u8];
    for (module, name) in [("wasi_snapshot_preview1", "fd_write"), ("env", "extra")] {
        imports.push(u8::try_from(module.len()).unwrap());
        imports.extend_from_slice(module.as_bytes());
        imports.push(u8::try_from(name.len()).unwrap());
        imports.extend_from_slice(name.as_bytes());
        imports.extend_from_slice(&[0, 0]);
    }
    bytes.push(2);
    bytes.push(u8::try_from(imports.len()).unwrap());
    bytes.extend_from_slice(&imports);
    bytes
}
