//! The Worker's KV namespaces: the player library's bytes, and stream lease records.
//!
//! | binding | holds | read | written |
//! |---|---|---|---|
//! | `USHER_ASSETS` | static assets, key = the name below `/assets/` (e.g. `hls.js/1.7.4/hls.min.js`) | on `/assets/…` | by the operator, at deploy |
//! | `USHER_LEASES` | stream lease records, key = the core's `leases/{event}/{hash}` | when the core asks (`Action::Lease`) | when a decision carries a record |
//!
//! Key decisions:
//! - Assets come from KV, not Workers static assets. Static assets are served by the platform
//!   before the Worker runs, with headers of their own; from KV the Worker serves them with the
//!   core's headers (`immutable`, a year, the reason code), the same on every platform, and
//!   the local workerd recipe runs them with a ten-line store. The value is streamed to the
//!   viewer as the runtime hands it over: the bytes never enter wasm.
//! - Lease records are written with `ctx.waitUntil`, after the response is on its way: the
//!   viewer never waits for a KV write, and a failed write is logged, never fatal (the core's
//!   records carry their own expiry, so a lost write costs at most one renewal).
//! - KV refuses an `expirationTtl` under 60 s, so shorter record lifetimes are raised to 60 s
//!   ([`kv_ttl`]); the record's own entry expiry still decides who holds a screen.
//!
//! KV is eventually consistent: a record written at one Cloudflare location is seen at another
//! up to 60 s later. Two screens of one ticket starting at different locations within that
//! window can both play until their next renewal sees the other (the core's leases bound the
//! overshoot; `docs/edge.md` has each platform's window).

/// The KV namespace of static assets.
pub(crate) const ASSETS: &str = "USHER_ASSETS";
/// The KV namespace of stream lease records.
pub(crate) const LEASES: &str = "USHER_LEASES";
/// KV's smallest `expirationTtl`, seconds: a put with less is refused.
pub(crate) const KV_MIN_TTL_SECS: u64 = 60;

/// The `expirationTtl` for a record the core wants kept `ttl_secs`.
pub(crate) fn kv_ttl(ttl_secs: u64) -> u64 {
    ttl_secs.max(KV_MIN_TTL_SECS)
}

#[cfg(target_arch = "wasm32")]
mod kv {
    //! The KV calls.

    use std::time::Duration;

    use usher_edge_core::lease::{StoreWrite, Stored};
    use worker::Env;
    use worker::web_sys::ReadableStream;

    use super::{ASSETS, LEASES, kv_ttl};
    use crate::origin::within;

    /// How long a lease record read may take before the store counts as unavailable (and the
    /// core fails open). KV reads are served from the location's cache in milliseconds; a
    /// cold read crosses to a central store, well within this.
    const LEASE_READ_TIMEOUT: Duration = Duration::from_secs(2);

    /// The asset named `name`, as a stream; `Ok(None)` if the store lacks it.
    pub(crate) async fn asset(env: &Env, name: &str) -> Result<Option<ReadableStream>, String> {
        let store = env
            .kv(ASSETS)
            .map_err(|_| format!("no KV namespace bound as {ASSETS}"))?;
        store
            .get(name)
            .stream()
            .await
            .map_err(|error| format!("{ASSETS}: {error}"))
    }

    /// The lease record under `key`, and why the store counts as unavailable if it does.
    pub(crate) async fn read_lease(env: &Env, key: &str) -> (Stored, Option<String>) {
        let store = match env.kv(LEASES) {
            Ok(store) => store,
            Err(_) => {
                let why = format!("no KV namespace bound as {LEASES}");
                return (Stored::Unavailable, Some(why));
            }
        };
        match within(store.get(key).bytes(), LEASE_READ_TIMEOUT).await {
            Some(Ok(Some(bytes))) => (Stored::Found(bytes.into()), None),
            Some(Ok(None)) => (Stored::Missing, None),
            Some(Err(error)) => (Stored::Unavailable, Some(format!("{LEASES}: {error}"))),
            None => {
                let why = format!("{LEASES}: no answer in {LEASE_READ_TIMEOUT:?}");
                (Stored::Unavailable, Some(why))
            }
        }
    }

    /// Writes a lease record with its lifetime (at least KV's minimum).
    pub(crate) async fn write_lease(env: &Env, write: &StoreWrite) -> Result<(), String> {
        let store = env
            .kv(LEASES)
            .map_err(|_| format!("no KV namespace bound as {LEASES}"))?;
        store
            .put_bytes(&write.key, &write.value)
            .map_err(|error| format!("{LEASES}: {error}"))?
            .expiration_ttl(kv_ttl(write.ttl_secs))
            .execute()
            .await
            .map_err(|error| format!("{LEASES}: {error}"))
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use kv::{asset, read_lease, write_lease};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lifetimes_under_kvs_minimum_are_raised_to_it() {
        assert_eq!(kv_ttl(30), 60);
        assert_eq!(kv_ttl(0), 60);
        assert_eq!(kv_ttl(60), 60);
        assert_eq!(kv_ttl(600), 600);
    }
}
