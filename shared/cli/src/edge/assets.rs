//! The static asset store `usher edge serve --assets DIR` gives the component: files below
//! `DIR`, read-only, by name (an asset's name is its path below `/assets/`, as
//! `usher-edge-core`'s `AssetResponse` says; `make edge-assets` lays the player library out that
//! way in `target/edge-assets`).
//!
//! The component asks for `GET {USHER_ASSETS_URL}{name}` and sets the content type and cache
//! lifetime the core decided; this store answers 200 with the bytes, or 404.
//!
//! Key decision: names are checked twice. Each segment must be a plain file name (letters,
//! digits, `-`, `_`, `.`, `+`, `~`, not starting with a dot, so no `..`, no hidden files, no
//! percent-encoding), and the file found, symbolic links resolved, must still be inside `DIR`.
//! A name that fails either check is simply absent (404): the store says nothing about its
//! disk.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use hyper::{Method, StatusCode};

/// The largest asset served, bytes.
pub(crate) const MAX_ASSET_BYTES: u64 = 64 << 20;

/// The longest asset name.
const MAX_NAME_BYTES: usize = 1024;

/// An asset directory.
#[derive(Debug)]
pub(crate) struct Assets {
    root: PathBuf,
}

/// An answer of the asset store.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// The file's length, for `Content-Length` (also on HEAD).
    pub(crate) length: u64,
    /// The bytes; empty for HEAD and refusals.
    pub(crate) body: Bytes,
}

impl Answer {
    fn status(status: StatusCode) -> Self {
        Answer {
            status,
            length: 0,
            body: Bytes::new(),
        }
    }
}

impl Assets {
    /// The store for `dir`, which must be a readable directory.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let root = dir.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Assets { root })
    }

    /// Answers `method` for the asset `name`. The disk is read on a blocking thread.
    pub(crate) async fn answer(&self, method: &Method, name: &str) -> Answer {
        if *method != Method::GET && *method != Method::HEAD {
            return Answer::status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let Some(path) = self.find(name) else {
            return Answer::status(StatusCode::NOT_FOUND);
        };
        let head_only = *method == Method::HEAD;
        tokio::task::spawn_blocking(move || read(&path, head_only))
            .await
            .unwrap_or_else(|_| Answer::status(StatusCode::NOT_FOUND))
    }

    /// The file of a well-formed name, if it exists inside the directory.
    fn find(&self, name: &str) -> Option<PathBuf> {
        if !is_plain_name(name) {
            return None;
        }
        let found = self.root.join(name).canonicalize().ok()?;
        found.starts_with(&self.root).then_some(found)
    }
}

/// A found asset's answer: its length, and its bytes unless `head_only`.
fn read(path: &Path, head_only: bool) -> Answer {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Answer::status(StatusCode::NOT_FOUND);
    };
    if !metadata.is_file() || metadata.len() > MAX_ASSET_BYTES {
        return Answer::status(StatusCode::NOT_FOUND);
    }
    if head_only {
        return Answer {
            status: StatusCode::OK,
            length: metadata.len(),
            body: Bytes::new(),
        };
    }
    match std::fs::read(path) {
        Ok(bytes) => Answer {
            status: StatusCode::OK,
            length: bytes.len() as u64,
            body: Bytes::from(bytes),
        },
        Err(_) => Answer::status(StatusCode::NOT_FOUND),
    }
}

/// A relative path of plain file names.
fn is_plain_name(name: &str) -> bool {
    let plain = |segment: &str| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'~'))
    };
    name.len() <= MAX_NAME_BYTES && name.split('/').all(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_names_are_looked_up() {
        for good in ["hls.js/1.7.4/hls.min.js", "a", "x_y-z+1~2/b.c"] {
            assert!(is_plain_name(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../secret",
            "a/../../b",
            "a/./b",
            "a//b",
            "a/",
            ".hidden",
            "a/.git/config",
            "a%2f..%2fb",
            "a\\..\\b",
            "a\0b",
            "ä",
        ] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
        assert!(!is_plain_name(&"a".repeat(MAX_NAME_BYTES + 1)));
    }

    fn run<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn files_inside_the_directory_are_served_and_nothing_else() {
        let outside = crate::edge::tests::scratch_dir("assets-outside");
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        let dir = crate::edge::tests::scratch_dir("assets");
        std::fs::create_dir_all(dir.join("lib/1.0")).unwrap();
        std::fs::write(dir.join("lib/1.0/lib.js"), b"export {};").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.join("secret.txt"), dir.join("lib/leak.txt")).unwrap();
        let assets = Assets::open(&dir).unwrap();
        run(async {
            let found = assets.answer(&Method::GET, "lib/1.0/lib.js").await;
            assert_eq!(found.status, StatusCode::OK);
            assert_eq!(&found.body[..], b"export {};");
            let head = assets.answer(&Method::HEAD, "lib/1.0/lib.js").await;
            assert_eq!((head.status, head.length), (StatusCode::OK, 10));
            assert!(head.body.is_empty());
            for absent in [
                "lib/1.0/other.js",
                "lib/1.0",
                "lib/leak.txt",
                "../assets-outside",
            ] {
                let answer = assets.answer(&Method::GET, absent).await;
                assert_eq!(answer.status, StatusCode::NOT_FOUND, "{absent}");
            }
            let put = assets.answer(&Method::PUT, "lib/1.0/lib.js").await;
            assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
        });
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(outside).unwrap();
    }
}
