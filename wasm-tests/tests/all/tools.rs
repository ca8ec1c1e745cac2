//! Where the artifacts under test and the runtimes' binaries are. `make test` builds and
//! installs all of them (`make wasm-check`, `make viceroy`, the npm packages); a test run
//! without one fails and says how to get it, rather than skipping a runtime.
#![cfg(test)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The pinned Viceroy release (the Makefile installs this one).
pub const VICEROY_VERSION: &str = "0.22.0";

/// The workspace root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cargo target directory these tests were built in.
pub fn target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn existing(path: PathBuf, how: &str) -> PathBuf {
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

/// Runs `cargo build` with `args` once per test run (a no-op when the artifact is fresh), so
/// a test never runs an artifact older than its source.
fn cargo_build(args: &'static [&'static str]) {
    static BUILT: Mutex<Vec<&'static [&'static str]>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if built.contains(&args) {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo())
        .args(["build", "--locked", "--quiet"])
        .args(args)
        .env("CARGO_TARGET_DIR", target())
        .status()
        .unwrap();
    assert!(status.success(), "cargo build {args:?} failed");
    built.push(args);
}

/// The WASI-HTTP component, built if stale.
pub fn wasi_component() -> PathBuf {
    cargo_build(&[
        "-p",
        "usher-edge-wasi-http",
        "--release",
        "--target",
        "wasm32-wasip2",
    ]);
    existing(
        target().join("wasm32-wasip2/release/usher-edge-wasi-http.wasm"),
        "build it with `make wasm-check`",
    )
}

/// The Fastly module, built if stale.
pub fn fastly_module() -> PathBuf {
    cargo_build(&[
        "-p",
        "usher-edge-fastly",
        "--profile",
        "release-fastly",
        "--target",
        "wasm32-wasip1",
    ]);
    existing(
        target().join("wasm32-wasip1/release-fastly/usher-edge-fastly.wasm"),
        "build it with `make wasm-check`",
    )
}

/// worker-build's output: index.js and index_bg.wasm. worker-build is not run from here (it
/// needs the pinned tools `make cloudflare-worker` passes it), so a Worker older than any
/// source it is built from fails the test instead of being tested.
pub fn worker_dir() -> PathBuf {
    let dir = repo().join("edge/cloudflare/build");
    let wasm = existing(dir.join("index_bg.wasm"), "build it with `make wasm-check`");
    let built = std::fs::metadata(&wasm).unwrap().modified().unwrap();
    let sources = ["edge/cloudflare/src", "edge/core/src", "shared/src"];
    if let Some(newer) = sources
        .iter()
        .flat_map(|dir| files(&repo().join(dir)))
        .find(|f| std::fs::metadata(f).unwrap().modified().unwrap() > built)
    {
        panic!(
            "{} is older than {}: rebuild it with `make cloudflare-worker`",
            wasm.display(),
            newer.display()
        );
    }
    dir
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// The player library and anything else served under /assets/, laid out by name.
pub fn assets() -> PathBuf {
    let dir = std::env::var_os("USHER_EDGE_ASSETS")
        .map_or_else(|| target().join("edge-assets"), PathBuf::from);
    existing(dir, "lay it out with `make edge-assets`")
}

/// `usher`, built here if the test run did not say where it is (`USHER_BIN`).
pub fn usher() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("USHER_BIN") {
                return PathBuf::from(path);
            }
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(repo())
                .args(["build", "--locked", "--quiet", "-p", "usher"])
                .env("CARGO_TARGET_DIR", target())
                .status()
                .unwrap();
            assert!(status.success(), "cargo build -p usher failed");
            target().join("debug/usher")
        })
        .clone()
}

/// Viceroy at the pinned version: `USHER_VICEROY`, else on PATH, else in ~/.cargo/bin.
pub fn viceroy() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
            let candidates = std::env::var_os("USHER_VICEROY")
                .map(PathBuf::from)
                .into_iter()
                .chain([PathBuf::from("viceroy")])
                .chain(home.map(|h| h.join("bin/viceroy")));
            for candidate in candidates {
                let Ok(out) = Command::new(&candidate).arg("--version").output() else {
                    continue;
                };
                if String::from_utf8_lossy(&out.stdout).trim() == format!("viceroy {VICEROY_VERSION}")
                {
                    return candidate;
                }
            }
            panic!("viceroy {VICEROY_VERSION} not found (USHER_VICEROY, PATH, ~/.cargo/bin): `make viceroy` installs it");
        })
        .clone()
}

/// workerd, from the npm package pinned by edge/cloudflare/package-lock.json.
pub fn workerd() -> PathBuf {
    existing(
        repo().join("edge/cloudflare/node_modules/@cloudflare/workerd-linux-64/bin/workerd"),
        "install it with `make cloudflare-tools` (npm ci in edge/cloudflare)",
    )
}
