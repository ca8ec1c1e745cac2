//! What every instance of the component is given as its environment: the configuration
//! documents of `--config DIR`, the internal service URLs, and the latest health snapshot.
//!
//! The documents are read once at start-up. The health snapshot is the one part that changes
//! while the edge runs (the steering controller rewrites `health.json` every few seconds), so
//! [`watch_health`] polls the file's modification time and length every second and, when they
//! change, reads it again: every instance made after that gets the new snapshot (instances
//! already running keep theirs; each lives for one request). A file that disappears takes the
//! snapshot away, and the core falls back to the static weights.
//!
//! The controller should replace the file atomically (write a temporary file, then rename):
//! a half-written file read mid-write is refused by the component, which then uses the static
//! weights until the next poll sees the finished file.
//!
//! `health.json` holds the controller's signed envelope, not bare JSON: the component trusts
//! it only with the key from `health-keys.json` (`USHER_HEALTH_KEYS`) that signed it, and
//! without that file it refuses every snapshot. This host checks each version of the file the
//! same way (with the core's own function) and says on stderr when the static weights will
//! apply instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use usher_edge_core::config::{ConfigError, ConfigParts, EdgeConfig};

use super::say;
use crate::UsageError;

/// The configuration files, and the variables the component reads them from. The names are the
/// component's (`edge/wasi-http/src/config.rs`); a unit test proves they agree.
pub(crate) const CONFIG_FILES: [(&str, &str); 5] = [
    ("events.json", "USHER_EVENTS"),
    ("pathways.json", "USHER_PATHWAYS"),
    ("settings.json", "USHER_SETTINGS"),
    ("ticket-keys.json", "USHER_TICKET_KEYS"),
    ("session-key.txt", "USHER_SESSION_KEY"),
];

/// The content keys file and its variable: optional, needed only when an event is encrypted.
pub(crate) const CONTENT_KEYS_FILE: (&str, &str) = ("content-keys.json", "USHER_CONTENT_KEYS");

/// The health keys file and its variable: optional, needed to trust a health snapshot.
pub(crate) const HEALTH_KEYS_FILE: (&str, &str) = ("health-keys.json", "USHER_HEALTH_KEYS");

/// The optional health snapshot file and its variable.
pub(crate) const HEALTH_FILE: (&str, &str) = ("health.json", "USHER_HEALTH");

/// The component's variable for the asset store's base URL.
pub(crate) const ASSETS_URL: &str = "USHER_ASSETS_URL";

/// The component's variable for the lease store's base URL.
pub(crate) const STORE_URL: &str = "USHER_STORE_URL";

/// How often `health.json` is looked at.
pub(crate) const HEALTH_POLL: Duration = Duration::from_secs(1);

/// One variable of the component's environment.
pub(crate) type Variable = (&'static str, String);

/// The environment new instances get. Cheap to read per request: an `Arc` clone under a read
/// lock.
#[derive(Debug)]
pub(crate) struct Environment {
    fixed: Vec<Variable>,
    current: RwLock<Arc<Vec<Variable>>>,
}

impl Environment {
    /// The environment of the documents and services in `fixed`, and a health snapshot.
    pub(crate) fn new(fixed: Vec<Variable>, health: Option<String>) -> Self {
        let current = RwLock::new(Arc::new(with_health(&fixed, health)));
        Environment { fixed, current }
    }

    /// The variables for an instance made now.
    pub(crate) fn current(&self) -> Arc<Vec<Variable>> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the health snapshot for instances made from now on.
    fn set_health(&self, health: Option<String>) {
        let next = Arc::new(with_health(&self.fixed, health));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

fn with_health(fixed: &[Variable], health: Option<String>) -> Vec<Variable> {
    let mut vars = fixed.to_vec();
    vars.extend(health.map(|h| (HEALTH_FILE.1, h)));
    vars
}

/// Reads the configuration directory into the component's variables, and the health snapshot
/// if there is one. A missing file is a usage error. The documents are checked with the parser
/// the component uses, and a refusal is said at once, but not fatal: the component then
/// answers 503 `config_error`, as it would on a platform whose store holds a bad document, and
/// this host stays faithful to that.
pub(crate) fn read(dir: &Path) -> anyhow::Result<(Vec<Variable>, Option<String>)> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read_to_string(&path)
            .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))
    };
    let mut env = Vec::new();
    for (file, name) in CONFIG_FILES {
        env.push((name, read(file)?));
    }
    for (file, name) in [CONTENT_KEYS_FILE, HEALTH_KEYS_FILE] {
        if dir.join(file).exists() {
            env.push((name, read(file)?));
        }
    }
    if let Err(error) = checked(&env) {
        say(&format!(
            "usher edge serve: warning: {error}; every request will answer 503 config_error"
        ));
    }
    let health = if dir.join(HEALTH_FILE.0).exists() {
        let health = read(HEALTH_FILE.0)?;
        check_health(&env, &health);
        Some(health)
    } else {
        None
    };
    Ok((env, health))
}

/// The documents among `fixed`, checked with the component's own parser.
fn checked(fixed: &[Variable]) -> Result<EdgeConfig, ConfigError> {
    let part = |name: &str| {
        fixed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    EdgeConfig::from_parts(&ConfigParts {
        events: part("USHER_EVENTS"),
        pathways: part("USHER_PATHWAYS"),
        settings: part("USHER_SETTINGS"),
        ticket_keys: part("USHER_TICKET_KEYS"),
        session_key: part("USHER_SESSION_KEY"),
        content_keys: part(CONTENT_KEYS_FILE.1),
        health_keys: part(HEALTH_KEYS_FILE.1),
    })
}

/// Says on stderr when a snapshot will be ignored by the component (which also says why on
/// every access line), checking it with the core's function and the documents in `fixed`. With
/// documents the core refuses there is nothing to check against: every answer is 503 anyway,
/// and that was said at start.
fn check_health(fixed: &[Variable], text: &str) {
    let Ok(config) = checked(fixed) else { return };
    if let Err(error) = config.health(text.as_bytes()) {
        say(&format!(
            "usher edge serve: warning: health.json ignored ({error}); the static weights apply"
        ));
    }
}

/// What identifies a version of a file: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The stamp of `health.json` in `dir` now, to start [`watch_health`] from.
pub(crate) fn health_stamp(dir: &Path) -> Stamp {
    stamp(&dir.join(HEALTH_FILE.0))
}

/// Polls `health.json` in `dir` every [`HEALTH_POLL`], and gives new instances its contents
/// whenever it changed since `seen`. Runs until the runtime stops.
pub(crate) async fn watch_health(env: Arc<Environment>, dir: PathBuf, mut seen: Stamp) {
    let path = dir.join(HEALTH_FILE.0);
    let mut ticks = tokio::time::interval(HEALTH_POLL);
    loop {
        ticks.tick().await;
        let now = stamp(&path);
        if now == seen {
            continue;
        }
        let health = match now {
            None => None,
            Some(_) => match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                // Gone between the look and the read, or unreadable: try again next time.
                Err(_) => continue,
            },
        };
        seen = now;
        if let Some(text) = &health {
            check_health(&env.fixed, text);
        }
        let said = match &health {
            Some(_) => "usher edge serve: health.json changed; new requests use it",
            None => "usher edge serve: health.json removed; the static weights apply",
        };
        // Said once it is true: a harness may send its next request on reading the line.
        env.set_health(health);
        say(said);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_are_the_components() {
        let component = include_str!("../../../../edge/wasi-http/src/config.rs");
        let names = CONFIG_FILES.iter().map(|(_, name)| *name).chain([
            CONTENT_KEYS_FILE.1,
            HEALTH_KEYS_FILE.1,
            HEALTH_FILE.1,
            ASSETS_URL,
            STORE_URL,
        ]);
        for name in names {
            assert!(component.contains(&format!("\"{name}\"")), "{name}");
        }
    }

    #[test]
    fn a_new_snapshot_replaces_the_old_and_keeps_the_documents() {
        let env = Environment::new(vec![("USHER_EVENTS", "{}".to_owned())], None);
        let before = env.current();
        assert_eq!(before.len(), 1);
        env.set_health(Some("{\"seq\":2}".to_owned()));
        let after = env.current();
        assert_eq!(after[0], ("USHER_EVENTS", "{}".to_owned()));
        assert_eq!(after[1], ("USHER_HEALTH", "{\"seq\":2}".to_owned()));
        // An instance made before keeps what it was given.
        assert_eq!(before.len(), 1);
        env.set_health(None);
        assert_eq!(env.current().len(), 1);
    }
}
