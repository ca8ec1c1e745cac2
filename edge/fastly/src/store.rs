//! Fastly's stores, read and written: the Config Store and the Secret Store for the
//! configuration, and the KV stores for the health snapshot, the static assets and the lease
//! records. Store names are in [`crate::config`]; a store must be linked to the service under
//! exactly that name.
//!
//! Errors become text for the log (never a value: store values may be secrets) or, for the
//! configuration, a `ConfigError` naming the key; nothing here panics on a missing store or
//! key, which the SDK's plain `open`/`get` would.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use fastly::kv_store::KVStoreError;
use fastly::{Body, ConfigStore, KVStore, SecretStore};
use usher_edge_core::config::ConfigError;
use usher_edge_core::{StoreWrite, Stored};

use crate::config::{self, Endpoints, Loaded, Lookup};
use crate::convert;

/// The most health snapshot bytes read: the largest snapshot the format allows (257 tables of
/// 10,000 slots) with room for its figures. A larger value cannot decode, so it is cut short
/// and refused as malformed.
const HEALTH_MAX_BYTES: usize = 4 << 20;

/// The most lease record bytes read: a record holds at most 32 leases of about a hundred bytes
/// each. A longer value is cut short, fails to parse, and the core starts the record over.
const LEASE_MAX_BYTES: usize = 64 << 10;

/// This instance's configuration, read from the stores on first use.
pub(crate) fn current() -> &'static Result<Loaded, ConfigError> {
    static CURRENT: OnceLock<Result<Loaded, ConfigError>> = OnceLock::new();
    CURRENT.get_or_init(|| {
        let config = config_store();
        let secrets = SecretStore::open(config::SECRET_STORE)
            .map_err(|e| format!("secret store {}: {e}", config::SECRET_STORE));
        config::load(
            |key| from_config(&config, key),
            |key| from_secrets(&secrets, key),
            kv(config::HEALTH_STORE, config::HEALTH_KEY)
                .map_err(|e| e.to_string())
                .and_then(|body| {
                    body.map(|body| {
                        convert::read_up_to(body, HEALTH_MAX_BYTES)
                            .map_err(|e| format!("reading the health snapshot: {e}"))
                    })
                    .transpose()
                }),
        )
    })
}

/// The log endpoints' names, read from the Config Store on first use.
pub(crate) fn endpoints() -> &'static Endpoints {
    static ENDPOINTS: OnceLock<Endpoints> = OnceLock::new();
    ENDPOINTS.get_or_init(|| {
        let config = config_store();
        Endpoints::from_store(|key| from_config(&config, key))
    })
}

fn config_store() -> Result<ConfigStore, String> {
    ConfigStore::try_open(config::CONFIG_STORE)
        .map_err(|e| format!("config store {}: {e}", config::CONFIG_STORE))
}

fn from_config(store: &Result<ConfigStore, String>, key: &str) -> Lookup {
    let store = store.as_ref().map_err(Clone::clone)?;
    store
        .try_get(key)
        .map(|value| value.map(String::into_bytes))
        .map_err(|e| format!("config store {}: {e}", config::CONFIG_STORE))
}

fn from_secrets(store: &Result<SecretStore, String>, key: &str) -> Lookup {
    let store = store.as_ref().map_err(Clone::clone)?;
    let secret = store
        .try_get(key)
        .map_err(|e| format!("secret store {}: {e}", config::SECRET_STORE))?;
    secret
        .map(|secret| {
            secret
                .try_plaintext()
                .map(|bytes| bytes.to_vec())
                .map_err(|e| format!("secret store {}: {e}", config::SECRET_STORE))
        })
        .transpose()
}

/// Why a KV store could not be used.
#[derive(Debug)]
pub(crate) enum KvError {
    /// The service has no store by that name: a deployment error.
    NotLinked(String),
    /// The store failed.
    Failed(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::NotLinked(text) | KvError::Failed(text) => f.write_str(text),
        }
    }
}

fn open_kv(store: &str) -> Result<KVStore, KvError> {
    match KVStore::open(store) {
        Ok(Some(opened)) => Ok(opened),
        Ok(None) | Err(KVStoreError::StoreNotFound(_)) => Err(KvError::NotLinked(format!(
            "kv store {store} is not linked to the service"
        ))),
        Err(error) => Err(KvError::Failed(format!("kv store {store}: {error}"))),
    }
}

/// What a KV store holds under `key`: its body, or `None` when it has no such key.
pub(crate) fn kv(store: &str, key: &str) -> Result<Option<Body>, KvError> {
    match open_kv(store)?.lookup(key) {
        Ok(mut found) => Ok(Some(found.take_body())),
        Err(KVStoreError::ItemNotFound) => Ok(None),
        // A key the store cannot hold is a key it does not hold.
        Err(KVStoreError::InvalidKey) => Ok(None),
        Err(error) => Err(KvError::Failed(format!("kv store {store}: {error}"))),
    }
}

/// Writes `value` under `key` in a KV store, to expire after `ttl`.
pub(crate) fn put(store: &str, key: &str, value: &[u8], ttl: Duration) -> Result<(), KvError> {
    open_kv(store)?
        .build_insert()
        .time_to_live(ttl)
        .execute(key, value)
        .map_err(|e| KvError::Failed(format!("kv store {store}: {e}")))
}

/// The lease record under `key` in the lease store, as the core takes it, and why the store
/// could not be read when it could not (the core then fails open).
pub(crate) fn lease(key: &str) -> (Stored, Option<String>) {
    match kv(config::LEASE_STORE, key) {
        Ok(Some(body)) => match convert::read_up_to(body, LEASE_MAX_BYTES) {
            Ok(bytes) => (Stored::Found(Bytes::from(bytes)), None),
            Err(error) => (
                Stored::Unavailable,
                Some(format!("reading the lease record: {error}")),
            ),
        },
        Ok(None) => (Stored::Missing, None),
        Err(error) => (Stored::Unavailable, Some(error.to_string())),
    }
}

/// Writes a lease record the core returned, with its lifetime.
pub(crate) fn write_lease(write: &StoreWrite) -> Result<(), KvError> {
    put(
        config::LEASE_STORE,
        &write.key,
        &write.value,
        Duration::from_secs(write.ttl_secs),
    )
}
