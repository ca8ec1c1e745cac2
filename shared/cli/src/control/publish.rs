//! Publishing the sealed snapshot to every configured target: the runtime half of
//! `usher_control::publish`.
//!
//! The pure crate decides what to send and how to read the answer; this module does the I/O:
//! a `file` target (a relative path is relative to the configuration file) is written to a
//! temporary file in the same directory and renamed over the old one (rename is atomic within
//! a file system, POSIX `rename(2)`, so `usher edge serve`, which polls the file's modification
//! time and length, reads the old snapshot or the new one and never half of one); the HTTP and
//! API targets get their token from the environment variable the target names (read once, at
//! start-up: a process's environment does not change), their request built by the pure crate,
//! sent with [`client::send`], and their answer interpreted by the pure crate.
//!
//! What it does not do: retry. A failure is returned for the caller to log, and the next tick
//! publishes a newer snapshot; an internal retry loop would hold the decision loop on old
//! bytes. Every publication is bounded by [`PUBLISH_TIMEOUT`], a target still busy with the
//! previous snapshot skips this one (so an older snapshot never lands after a newer one), and
//! [`Publisher`] keeps each target within its platform's write rate
//! ([`Target::min_interval_ms`], and a 429's `Retry-After`).

#![cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "temporary: `usher control run` (being written) is the caller; until it lands only tests call this"
    )
)]

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use usher_control::publish::{ApiToken, PublishError, Target};

use super::client::{self, FetchError, Fetched, Limits};

/// The longest a publication may take, connection and answer included.
pub(crate) const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of an API's answer that is read: the documented answers are a few hundred bytes.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Why a publication failed. Its `Display` is one log line; nothing in it holds a token.
#[derive(Debug)]
pub(crate) enum PublishFailure {
    /// Writing or renaming the file failed.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The variable that should hold the API token is unset or empty.
    MissingToken {
        /// The variable's name.
        env: String,
    },
    /// The request got no complete answer.
    Fetch(FetchError),
    /// The snapshot was refused before sending, or the API refused it.
    Api(PublishError),
}

impl fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishFailure::Write { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
            PublishFailure::MissingToken { env } => {
                write!(f, "the API token variable {env} is not set")
            }
            PublishFailure::Fetch(error) => error.fmt(f),
            PublishFailure::Api(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for PublishFailure {}

impl From<PublishError> for PublishFailure {
    fn from(error: PublishError) -> Self {
        PublishFailure::Api(error)
    }
}

impl From<FetchError> for PublishFailure {
    fn from(error: FetchError) -> Self {
        PublishFailure::Fetch(error)
    }
}

/// Every configured target, published to side by side.
#[derive(Debug)]
pub(crate) struct Publishers {
    publishers: Vec<Arc<Mutex<Publisher>>>,
    names: Vec<String>,
}

impl Publishers {
    /// The publishers of `targets`, with relative file paths taken from `base` (the
    /// configuration file's directory) and each API token read from its variable now: a
    /// variable that is not set stops the start (exit 2) instead of failing every tick.
    pub(crate) fn new(targets: Vec<Target>, base: &Path) -> anyhow::Result<Self> {
        let mut publishers = Vec::with_capacity(targets.len());
        let mut names = Vec::with_capacity(targets.len());
        for target in targets {
            let token = match target.token_env() {
                Some(env) => Some(token_from_env(env).map_err(|error| {
                    crate::UsageError::new(format!("publish to {target}: {error}"))
                })?),
                None => None,
            };
            names.push(target.to_string());
            publishers.push(Arc::new(Mutex::new(Publisher::new(target, base, token))));
        }
        Ok(Publishers { publishers, names })
    }

    /// The targets' names, as they appear in log lines (`Display` of [`Target`]).
    pub(crate) fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Publishes `snapshot` to every target that is due, all at once, and returns each
    /// attempt's name and outcome. A target still busy with an earlier snapshot, or within its
    /// rate limit, is skipped: it gets the next one, and an older snapshot can never land after
    /// a newer one.
    pub(crate) async fn publish(
        &self,
        snapshot: Bytes,
        now_ms: u64,
    ) -> Vec<(String, Result<(), String>)> {
        let mut attempts = JoinSet::new();
        for (order, publisher) in self.publishers.iter().enumerate() {
            let Ok(mut publisher) = Arc::clone(publisher).try_lock_owned() else {
                continue;
            };
            if !publisher.due(now_ms) {
                continue;
            }
            let snapshot = snapshot.clone();
            attempts.spawn(async move {
                let result = publisher.publish(&snapshot, now_ms).await;
                (
                    order,
                    publisher.name.clone(),
                    result.map_err(|e| e.to_string()),
                )
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = attempts.join_next().await {
            // A publication that panicked has nothing to report.
            if let Ok(outcome) = joined {
                outcomes.push(outcome);
            }
        }
        outcomes.sort_by_key(|(order, _, _)| *order);
        outcomes
            .into_iter()
            .map(|(_, name, result)| (name, result))
            .collect()
    }
}

/// One target, its token, and when it may next be written to.
#[derive(Debug)]
pub(crate) struct Publisher {
    target: Target,
    name: String,
    /// What a relative file path is relative to.
    base: PathBuf,
    token: Option<ApiToken>,
    /// Unix milliseconds before which a publication would break the platform's rate limit.
    next_ms: u64,
}

impl Publisher {
    pub(crate) fn new(target: Target, base: &Path, token: Option<ApiToken>) -> Self {
        Publisher {
            name: target.to_string(),
            target,
            base: base.to_owned(),
            token,
            next_ms: 0,
        }
    }

    /// Whether a publication at `now_ms` keeps within the target's rate limit.
    pub(crate) fn due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_ms
    }

    /// Publishes `snapshot` now, within [`PUBLISH_TIMEOUT`], and notes when the next
    /// publication may be: after the target's minimum interval, or after the API's
    /// `Retry-After` when it answered 429.
    pub(crate) async fn publish(
        &mut self,
        snapshot: &[u8],
        now_ms: u64,
    ) -> Result<(), PublishFailure> {
        let result = self.attempt(snapshot, now_ms).await;
        let mut wait_ms = self.target.min_interval_ms();
        if let Err(PublishFailure::Api(PublishError::RateLimited {
            retry_after_secs: Some(secs),
            ..
        })) = &result
        {
            wait_ms = wait_ms.max(secs.saturating_mul(1000));
        }
        self.next_ms = now_ms.saturating_add(wait_ms);
        result
    }

    async fn attempt(&self, snapshot: &[u8], now_ms: u64) -> Result<(), PublishFailure> {
        let target = &self.target;
        let request = match target {
            Target::File(file) => return write_file(&self.base.join(file.path()), snapshot).await,
            Target::Http(http) => http.request(snapshot, self.token.as_ref())?,
            Target::FastlyConfigStore(store) => store.request(snapshot, self.token()?)?,
            Target::FastlyKvStore(store) => store.request(snapshot, self.token()?)?,
            Target::CloudflareKv(kv) => kv.request(snapshot, self.token()?)?,
        };
        let answer = send(request).await?;
        let (status, headers, body) = (answer.status, &answer.headers, &answer.body[..]);
        let verdict = match target {
            Target::File(_) => Ok(()),
            Target::Http(t) => t.interpret(status, headers, body, now_ms),
            Target::FastlyConfigStore(t) => t.interpret(status, headers, body, now_ms),
            Target::FastlyKvStore(t) => t.interpret(status, headers, body, now_ms),
            Target::CloudflareKv(t) => t.interpret(status, headers, body, now_ms),
        };
        Ok(verdict?)
    }

    /// The token an API target needs.
    fn token(&self) -> Result<&ApiToken, PublishFailure> {
        self.token
            .as_ref()
            .ok_or_else(|| PublishFailure::MissingToken {
                env: self.target.token_env().unwrap_or_default().to_owned(),
            })
    }
}

/// Reads an API token from the variable `env`.
fn token_from_env(env: &str) -> Result<ApiToken, PublishFailure> {
    match std::env::var(env) {
        Ok(value) if !value.trim().is_empty() => Ok(ApiToken::new(value)?),
        _ => Err(PublishFailure::MissingToken {
            env: env.to_owned(),
        }),
    }
}

async fn send(request: Request<Vec<u8>>) -> Result<Fetched, FetchError> {
    let limits = Limits {
        timeout: PUBLISH_TIMEOUT,
        max_body_bytes: ANSWER_LIMIT,
    };
    client::send(request, &limits).await
}

/// Replaces `path` with `bytes` atomically, on a blocking thread, within [`PUBLISH_TIMEOUT`].
async fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PublishFailure> {
    let owned = (path.to_owned(), bytes.to_vec());
    let write = tokio::task::spawn_blocking(move || replace_file(&owned.0, &owned.1));
    let failure = |error| PublishFailure::Write {
        path: path.to_owned(),
        error,
    };
    match tokio::time::timeout(PUBLISH_TIMEOUT, write).await {
        Ok(Ok(result)) => result.map_err(failure),
        Ok(Err(join)) => Err(failure(std::io::Error::other(join.to_string()))),
        Err(_) => Err(failure(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no answer from the file system in {} s",
                PUBLISH_TIMEOUT.as_secs()
            ),
        ))),
    }
}

/// Writes `bytes` to a temporary file beside `path` (a dot file, which the edge's watcher
/// ignores), flushes it to disk, and renames it over `path`. On failure the temporary file is
/// removed and `path` is untouched.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let temporary = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        // On disk before the rename, so a crash cannot leave an empty snapshot under the name.
        file.sync_data()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests;
