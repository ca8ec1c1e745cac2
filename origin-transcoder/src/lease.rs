//! Channel leases: which origin node runs a channel, so that a standby takes over a channel
//! whose active node stops heartbeating.
//!
//! Every node that can run a channel claims its lease every third of the lease's time to live
//! ([`Heartbeat`]). A claim is one atomic round trip to a [`LeaseStore`]: it renews the lease
//! if this node holds it, takes it if nobody does, and otherwise names the holder ([`Claim`]).
//! A node whose claims stop (crash, partition, shutdown without release) loses the lease when
//! it expires, and the next standby claim takes it: a takeover within one time to live and one
//! heartbeat. The store is Redis ([`redis`]), shared by the nodes, or an in-process map
//! ([`embedded`]) when one node runs alone.
//!
//! What each node makes of its claims is a pure state machine per channel ([`LeaseTracker`],
//! [`LeaseState`]), which the node acts on: run the channel when it is `Active` or
//! `ActiveUnconfirmed`, do not when it is `Standby` or `Unknown`.
//!
//! Key design decision: **a store outage stops nobody and starts nobody.** When the store cannot
//! be reached, a node that held a lease keeps running its channels (`ActiveUnconfirmed`) and a
//! standby never takes over. Segments are epoch-locked ([`crate::timeline`]): two nodes running
//! the same channel publish the same names with the same timing, so two active nodes during an
//! outage are harmless, whereas stopping would black every viewer's screen for as long as Redis
//! is away. For the same reason a brief overlap after a takeover (the old holder learns it lost
//! the lease at its next heartbeat) needs no fencing. Nor does the store's return start anybody:
//! for one time to live after it, a node claims only the leases it runs ([`heartbeat`]), so
//! leases that expired during the outage go back to the nodes that kept the channels on the air.
//!
//! What this module does not do: start or stop channels, serve health or metrics (the node
//! reads [`Leases`] snapshots for that), or run Redis Sentinel's protocol. Following a Redis
//! failover is done by listing the primary and its replicas (`--redis a,b`): the client talks
//! to the first that says it is the primary (`ROLE`), as it would behind Sentinel or a cloud's
//! primary endpoint.

use core::fmt;

pub mod embedded;
pub mod heartbeat;
pub mod redis;
pub mod resp;
pub mod tracker;

pub use embedded::Embedded;
pub use heartbeat::{Heartbeat, Leases};
pub use redis::{Redis, RedisConfig};
pub use tracker::{LeaseState, LeaseTracker};

/// The longest node id or channel name: it is part of a Redis key and of metric labels.
pub const MAX_NAME: usize = 64;

/// The shortest lease time to live. A heartbeat every third of it must fit a store round trip
/// (with its 500 ms timeout) on a busy machine; shorter leases only make flapping likely.
pub const MIN_TTL_MS: u64 = 300;

/// The longest lease time to live: beyond a minute, a dead node's channel stays dark too long.
pub const MAX_TTL_MS: u64 = 60_000;

/// A checked plain name, a node id or a channel name: `A-Z a-z 0-9 . _ ~ -`, 1 to
/// [`MAX_NAME`] bytes. Plain so that it needs no escaping in a Redis key, a metric label, a URL
/// path or a log line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Checks a name.
    pub fn new(name: &str) -> Result<Name, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_NAME {
            return Err(NameError::TooLong(name.len()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')))
        {
            return Err(NameError::Character(c));
        }
        Ok(Name(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Name, NameError> {
        Name::new(s)
    }
}

/// Why a string is not a [`Name`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME`] bytes (its length).
    TooLong(usize),
    /// The name holds a character outside `A-Z a-z 0-9 . _ ~ -`.
    Character(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "name is empty"),
            NameError::TooLong(n) => write!(f, "name is {n} bytes long, over {MAX_NAME}"),
            NameError::Character(c) => {
                write!(f, "name holds {c:?}; only A-Z a-z 0-9 . _ ~ - are allowed")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// The store key of a channel's lease. Its value is the holder's node id.
pub fn key(channel: &Name) -> String {
    format!("usher:origin:lease:{channel}")
}

/// What one claim round trip found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This node holds the lease (renewed or just taken), for `ttl_ms` from now.
    Held {
        /// How long the lease lasts without another claim, milliseconds.
        ttl_ms: u64,
    },
    /// Another node holds it (its node id, as stored).
    HeldBy(String),
}

/// Why a lease could not be claimed or released, or a store not set up. No variant holds a
/// password, and none is displayed with one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseError {
    /// No store address answered as a primary in time (what went wrong, address by address).
    Unreachable(String),
    /// The store answered something this client does not understand.
    Protocol(String),
    /// The store refused the credentials, or wants some and none were given.
    Auth,
    /// A node id or channel name is not a plain name.
    Name(NameError),
    /// The store's configuration is unusable: a malformed `--redis` address or a time to live
    /// out of range (what is wrong, never the password).
    Config(String),
}

impl LeaseError {
    /// Whether this error says the store could not be used this time (as opposed to a
    /// configuration the node must be started with differently). Every error from a claim
    /// counts as the store being down for [`LeaseTracker`]; this only helps a caller word it.
    pub fn is_transient(&self) -> bool {
        matches!(self, LeaseError::Unreachable(_) | LeaseError::Protocol(_))
    }
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseError::Unreachable(why) => write!(f, "lease store unreachable: {why}"),
            LeaseError::Protocol(why) => write!(f, "lease store protocol error: {why}"),
            LeaseError::Auth => write!(
                f,
                "lease store refused authentication or permission (check the user and password in --redis)"
            ),
            LeaseError::Name(e) => write!(f, "invalid lease name: {e}"),
            LeaseError::Config(why) => write!(f, "invalid lease store configuration: {why}"),
        }
    }
}

impl std::error::Error for LeaseError {}

impl From<NameError> for LeaseError {
    fn from(e: NameError) -> LeaseError {
        LeaseError::Name(e)
    }
}

/// Checks a lease time to live against [`MIN_TTL_MS`] and [`MAX_TTL_MS`].
pub fn check_ttl(ttl_ms: u64) -> Result<u64, LeaseError> {
    if (MIN_TTL_MS..=MAX_TTL_MS).contains(&ttl_ms) {
        Ok(ttl_ms)
    } else {
        Err(LeaseError::Config(format!(
            "lease time to live {ttl_ms} ms is outside {MIN_TTL_MS}..={MAX_TTL_MS} ms"
        )))
    }
}

/// Where leases are kept: one Redis shared by every node, or this process alone.
///
/// Cloning shares the store: clones of an `Embedded` store see the same leases, clones of a
/// `Redis` store share its connection.
#[derive(Clone, Debug)]
pub enum LeaseStore {
    /// In this process: for a single node, or for tests of several nodes in one process.
    Embedded(embedded::Shared),
    /// A Redis primary, found among the configured addresses.
    Redis(redis::Shared),
}

impl LeaseStore {
    /// An in-process store, with no leases yet.
    pub fn embedded() -> LeaseStore {
        LeaseStore::Embedded(embedded::Shared::default())
    }

    /// A Redis store. No connection is made until the first claim.
    pub fn redis(config: RedisConfig) -> LeaseStore {
        LeaseStore::Redis(redis::Shared::new(config))
    }

    /// One claim round trip: renew `channel`'s lease if `node` holds it, take it if nobody
    /// does, else say who holds it.
    pub async fn claim(
        &self,
        channel: &Name,
        node: &Name,
        ttl_ms: u64,
    ) -> Result<Claim, LeaseError> {
        let ttl_ms = check_ttl(ttl_ms)?;
        match self {
            LeaseStore::Embedded(store) => Ok(store.claim(channel, node, ttl_ms)),
            LeaseStore::Redis(store) => store.claim(channel, node, ttl_ms).await,
        }
    }

    /// Gives up `channel`'s lease if `node` holds it, so a standby takes over at its next
    /// heartbeat instead of after the time to live. Whether it was held.
    pub async fn release(&self, channel: &Name, node: &Name) -> Result<bool, LeaseError> {
        match self {
            LeaseStore::Embedded(store) => Ok(store.release(channel, node)),
            LeaseStore::Redis(store) => store.release(channel, node).await,
        }
    }

    /// Whether the store answers: for a node with no channel to claim, whose health still
    /// says whether the store is up.
    pub async fn ping(&self) -> Result<(), LeaseError> {
        match self {
            LeaseStore::Embedded(_) => Ok(()),
            LeaseStore::Redis(store) => store.ping().await,
        }
    }

    /// Which store this is, for logs and metrics (`embedded` or `redis`).
    pub fn kind(&self) -> &'static str {
        match self {
            LeaseStore::Embedded(_) => "embedded",
            LeaseStore::Redis(_) => "redis",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_bounded() {
        assert_eq!(Name::new("news-1.hd_x~").unwrap().as_str(), "news-1.hd_x~");
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(Name::new(&"a".repeat(64)).unwrap().as_str().len(), 64);
        assert_eq!(Name::new(&"a".repeat(65)), Err(NameError::TooLong(65)));
        assert_eq!(Name::new("a b"), Err(NameError::Character(' ')));
        assert_eq!(Name::new("a:b"), Err(NameError::Character(':')));
        assert_eq!(Name::new("a{b}"), Err(NameError::Character('{')));
        assert_eq!(Name::new("é"), Err(NameError::Character('é')));
    }

    #[test]
    fn a_channel_lease_key_is_namespaced() {
        assert_eq!(key(&Name::new("news").unwrap()), "usher:origin:lease:news");
    }

    #[test]
    fn lease_time_to_live_is_bounded() {
        assert!(check_ttl(MIN_TTL_MS - 1).is_err());
        assert_eq!(check_ttl(MIN_TTL_MS), Ok(MIN_TTL_MS));
        assert_eq!(check_ttl(MAX_TTL_MS), Ok(MAX_TTL_MS));
        assert!(check_ttl(MAX_TTL_MS + 1).is_err());
    }
}
