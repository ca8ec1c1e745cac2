//! Leases in Redis: the `--redis` addresses, a connection to whichever of them is the primary,
//! and the two Lua scripts that claim and release a lease atomically.
//!
//! `--redis redis://[[user]:password@]host[:port][,redis://...]` lists a primary and its
//! replicas. On every (re)connection the client tries them in order and keeps the first that
//! answers `ROLE` with `master`; any failure (timeout, closed connection, `READONLY` from a
//! demoted primary) drops the connection, so the next command looks for the primary again.
//! That is how the node follows a failover: Sentinel, or an operator, promotes a replica
//! (`REPLICAOF NO ONE`), and the node finds it at its next heartbeat. The lease key, written
//! with its expiry on the old primary, was replicated, so the holder keeps its lease; a
//! promotion later than the time to live finds it expired, and the holder takes it back before
//! any standby claims ([`crate::lease::heartbeat`]).
//!
//! A claim is one `EVAL` (<https://redis.io/docs/latest/commands/eval/>): in a script, the
//! read, the renewal or the `SET NX PX`, and the answer are one atomic step, and a lease expires
//! on the server's clock, not on any node's. `EVAL` rather than `EVALSHA`: the script is a few
//! hundred bytes sent every third of a time to live, and a freshly promoted replica has an
//! empty script cache, which `EVALSHA` would first have to discover (`NOSCRIPT`).
//!
//! Passwords are kept in [`Password`], whose `Debug` and `Display` print `***`; no error
//! message quotes any part of an address's user information.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::resp::{Parser, Reply, command};
use super::{Claim, LeaseError, Name, key};

/// How long a TCP connection to one address may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long one command may take, from sending it to its whole reply.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Redis's port when an address names none.
pub const DEFAULT_PORT: u16 = 6379;

/// Renews the lease if this node (ARGV\[1\]) holds it, takes it for ARGV\[2\] ms if nobody
/// does, else returns the holder. `{1, ttl}` or `{0, holder}`.
pub const CLAIM_SCRIPT: &str = "\
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, redis.call('PTTL', KEYS[1])}
elseif redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, tonumber(ARGV[2])}
else
  return {0, redis.call('GET', KEYS[1])}
end
";

/// Deletes the lease if this node (ARGV\[1\]) holds it. 1 if it did, else 0.
pub const RELEASE_SCRIPT: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A password from `--redis`: never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One Redis server of `--redis`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisAddr {
    /// Host name or IP address (without the brackets of an IPv6 literal).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The ACL user to authenticate as (`AUTH user password`); `None` for the default user.
    pub user: Option<String>,
    /// The password to authenticate with, if any.
    pub password: Option<Password>,
}

impl RedisAddr {
    /// `host:port`, with brackets around an IPv6 literal: how errors and health name it.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for RedisAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.user, &self.password) {
            (Some(user), _) => write!(f, "{user}:***@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (None, None) => {}
        }
        f.write_str(&self.endpoint())
    }
}

/// The `--redis` value: a primary and its replicas, tried in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    addrs: Vec<RedisAddr>,
}

impl RedisConfig {
    /// The addresses, in the order they are tried.
    pub fn addrs(&self) -> &[RedisAddr] {
        &self.addrs
    }
}

impl fmt::Display for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, addr) in self.addrs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{addr}")?;
        }
        Ok(())
    }
}

impl core::str::FromStr for RedisConfig {
    type Err = LeaseError;

    /// Reads `redis://[[user]:password@]host[:port][/][,redis://...]`. Percent-escapes in the
    /// user and password are decoded (RFC 3986 §2.1), so a password may hold `@`, `:` or `,`.
    fn from_str(s: &str) -> Result<RedisConfig, LeaseError> {
        let addrs = s
            .split(',')
            .enumerate()
            .map(|(i, one)| {
                parse_addr(one.trim())
                    .map_err(|why| LeaseError::Config(format!("--redis address {}: {why}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RedisConfig { addrs })
    }
}

/// One address. Errors never quote the input: a mistyped address may hold a password.
fn parse_addr(s: &str) -> Result<RedisAddr, &'static str> {
    if s.starts_with("rediss://") {
        return Err("TLS (rediss://) is not supported; use redis:// on a private network");
    }
    let rest = s
        .strip_prefix("redis://")
        .ok_or("does not start with redis://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") {
        return Err("database numbers and options are not supported (leases use database 0)");
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(userinfo) => {
            let (user, password) = userinfo
                .split_once(':')
                .ok_or("user information without a password (write redis://user:password@host)")?;
            let user = percent_decode(user).ok_or("the user is not valid percent-encoded UTF-8")?;
            let password = percent_decode(password)
                .ok_or("the password is not valid percent-encoded UTF-8")?;
            if password.is_empty() {
                return Err("the password is empty");
            }
            ((!user.is_empty()).then_some(user), Some(Password(password)))
        }
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address without its closing ]")?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("junk after an IPv6 address")?,
                ),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err("the host is empty or not a host name");
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or("the port is not a number from 1 to 65535")?,
    };
    Ok(RedisAddr {
        host: host.to_owned(),
        port,
        user,
        password,
    })
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// One open connection, to a server that said it is the primary.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    parser: Parser,
    endpoint: String,
}

impl Connection {
    /// Connects, authenticates if a password is configured, and checks the server's role.
    async fn open(addr: &RedisAddr) -> Result<Connection, LeaseError> {
        let endpoint = addr.endpoint();
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((addr.host.as_str(), addr.port)),
        )
        .await
        .map_err(|_| LeaseError::Unreachable("connect timed out".into()))?
        .map_err(|e| LeaseError::Unreachable(format!("connect: {e}")))?;
        // Small commands, answered at once: do not let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|e| LeaseError::Unreachable(format!("connect: {e}")))?;
        let mut conn = Connection {
            stream,
            parser: Parser::default(),
            endpoint,
        };
        if let Some(Password(password)) = &addr.password {
            let reply = match &addr.user {
                Some(user) => {
                    conn.request(&[b"AUTH", user.as_bytes(), password.as_bytes()])
                        .await?
                }
                None => conn.request(&[b"AUTH", password.as_bytes()]).await?,
            };
            // Any refusal is a credentials problem: WRONGPASS, or a password sent to a server
            // that has none ("ERR AUTH <password> called without any password configured"),
            // whose text is not relayed since it quotes the command.
            if reply != Reply::Simple("OK".into()) {
                return Err(LeaseError::Auth);
            }
        }
        match conn.request(&[b"ROLE"]).await? {
            Reply::Array(Some(items)) => match items.first() {
                Some(Reply::Bulk(Some(role))) if role.as_slice() == b"master" => Ok(conn),
                Some(Reply::Bulk(Some(role))) => Err(LeaseError::Unreachable(format!(
                    "not the primary (role {})",
                    String::from_utf8_lossy(role)
                ))),
                _ => Err(LeaseError::Protocol("unexpected ROLE reply".into())),
            },
            reply => Err(reply_error("ROLE", &reply)),
        }
    }

    /// Sends one command and reads its reply, within [`COMMAND_TIMEOUT`].
    async fn request(&mut self, args: &[&[u8]]) -> Result<Reply, LeaseError> {
        let wire = command(args);
        let exchange = async {
            self.stream
                .write_all(&wire)
                .await
                .map_err(|e| LeaseError::Unreachable(format!("send: {e}")))?;
            let mut buf = [0u8; 4096];
            loop {
                if let Some(reply) = self.parser.next() {
                    return reply.map_err(|e| LeaseError::Protocol(e.to_string()));
                }
                let n = self
                    .stream
                    .read(&mut buf)
                    .await
                    .map_err(|e| LeaseError::Unreachable(format!("receive: {e}")))?;
                if n == 0 {
                    return Err(LeaseError::Unreachable("connection closed".into()));
                }
                self.parser.push(buf.get(..n).unwrap_or_default());
            }
        };
        tokio::time::timeout(COMMAND_TIMEOUT, exchange)
            .await
            .map_err(|_| LeaseError::Unreachable("command timed out".into()))?
    }
}

/// The error an error reply stands for when it says the connection is no use: not
/// authenticated (or not allowed), or the server not (or no longer) a usable primary, so that
/// the next command looks for another.
fn connection_error(what: &str, reply: &Reply) -> Option<LeaseError> {
    match reply.error_code()? {
        "NOAUTH" | "WRONGPASS" | "NOPERM" => Some(LeaseError::Auth),
        code @ ("READONLY" | "LOADING" | "MASTERDOWN" | "BUSY") => {
            Some(LeaseError::Unreachable(format!("{what}: {code}")))
        }
        _ => None,
    }
}

/// The error a reply stands for, when it is not the answer a command expects.
fn reply_error(what: &str, reply: &Reply) -> LeaseError {
    if let Some(e) = connection_error(what, reply) {
        return e;
    }
    match reply.error_code() {
        Some(code) => LeaseError::Protocol(format!("{what}: error {code}")),
        None => LeaseError::Protocol(format!("{what}: unexpected reply")),
    }
}

/// A Redis client for leases: one connection at a time, to the first configured address that
/// is the primary, remade after any failure.
#[derive(Debug)]
pub struct Redis {
    config: RedisConfig,
    conn: Option<Connection>,
}

impl Redis {
    /// A client; it connects at its first command.
    pub fn new(config: RedisConfig) -> Redis {
        Redis { config, conn: None }
    }

    /// The primary this client is connected to (`host:port`), if it is.
    pub fn primary(&self) -> Option<&str> {
        self.conn.as_ref().map(|c| c.endpoint.as_str())
    }

    /// Finds the primary: the first address that connects, authenticates and says `master`.
    async fn connect(&self) -> Result<Connection, LeaseError> {
        let mut reasons = Vec::new();
        let mut refused_auth = false;
        for addr in &self.config.addrs {
            match Connection::open(addr).await {
                Ok(conn) => return Ok(conn),
                Err(LeaseError::Auth) => {
                    refused_auth = true;
                    reasons.push(format!("{}: authentication refused", addr.endpoint()));
                }
                Err(e) => reasons.push(format!("{}: {e}", addr.endpoint())),
            }
        }
        if refused_auth {
            return Err(LeaseError::Auth);
        }
        Err(LeaseError::Unreachable(reasons.join("; ")))
    }

    async fn try_call(&mut self, args: &[&[u8]]) -> Result<Reply, LeaseError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.connect().await?),
        };
        let result =
            conn.request(args)
                .await
                .and_then(|reply| match connection_error("command", &reply) {
                    Some(e) => Err(e),
                    None => Ok(reply),
                });
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Sends one command to the primary and returns its reply (an error reply included, unless
    /// it says the connection is no use: not authenticated, or not the primary any more).
    ///
    /// A failure on a connection kept from an earlier command is retried once on a fresh
    /// connection, so a restarted or failed-over server costs no heartbeat; lease commands are
    /// idempotent, so the retry is safe.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, LeaseError> {
        let reused = self.conn.is_some();
        match self.try_call(args).await {
            Err(LeaseError::Unreachable(_) | LeaseError::Protocol(_)) if reused => {
                self.try_call(args).await
            }
            result => result,
        }
    }

    /// Claims `channel`'s lease for `node` ([`CLAIM_SCRIPT`]).
    pub async fn claim(
        &mut self,
        channel: &Name,
        node: &Name,
        ttl_ms: u64,
    ) -> Result<Claim, LeaseError> {
        let key = key(channel);
        let ttl = ttl_ms.to_string();
        let reply = self
            .call(&[
                b"EVAL",
                CLAIM_SCRIPT.as_bytes(),
                b"1",
                key.as_bytes(),
                node.as_str().as_bytes(),
                ttl.as_bytes(),
            ])
            .await?;
        let Reply::Array(Some(items)) = &reply else {
            return Err(reply_error("claim", &reply));
        };
        match items.as_slice() {
            [Reply::Integer(1), Reply::Integer(ttl)] => Ok(Claim::Held {
                ttl_ms: u64::try_from(*ttl).unwrap_or(0),
            }),
            [Reply::Integer(0), Reply::Bulk(Some(holder))] => {
                Ok(Claim::HeldBy(String::from_utf8_lossy(holder).into_owned()))
            }
            _ => Err(LeaseError::Protocol("unexpected claim reply".into())),
        }
    }

    /// Releases `channel`'s lease if `node` holds it ([`RELEASE_SCRIPT`]). Whether it did.
    pub async fn release(&mut self, channel: &Name, node: &Name) -> Result<bool, LeaseError> {
        let key = key(channel);
        let reply = self
            .call(&[
                b"EVAL",
                RELEASE_SCRIPT.as_bytes(),
                b"1",
                key.as_bytes(),
                node.as_str().as_bytes(),
            ])
            .await?;
        match reply {
            Reply::Integer(n) => Ok(n == 1),
            reply => Err(reply_error("release", &reply)),
        }
    }
}

/// A [`Redis`] client shared by the clones of a [`LeaseStore`](super::LeaseStore): one
/// connection per node, its commands one after the other.
#[derive(Clone, Debug)]
pub struct Shared(Arc<tokio::sync::Mutex<Redis>>);

impl Shared {
    /// A shared client for `config`.
    pub fn new(config: RedisConfig) -> Shared {
        Shared(Arc::new(tokio::sync::Mutex::new(Redis::new(config))))
    }

    /// [`Redis::claim`].
    pub async fn claim(
        &self,
        channel: &Name,
        node: &Name,
        ttl_ms: u64,
    ) -> Result<Claim, LeaseError> {
        self.0.lock().await.claim(channel, node, ttl_ms).await
    }

    /// [`Redis::release`].
    pub async fn release(&self, channel: &Name, node: &Name) -> Result<bool, LeaseError> {
        self.0.lock().await.release(channel, node).await
    }

    /// [`Redis::call`] with `PING`: whether a primary answers.
    pub async fn ping(&self) -> Result<(), LeaseError> {
        match self.0.lock().await.call(&[b"PING"]).await? {
            Reply::Simple(s) if s == "PONG" => Ok(()),
            reply => Err(reply_error("PING", &reply)),
        }
    }

    /// [`Redis::primary`].
    pub async fn primary(&self) -> Option<String> {
        self.0.lock().await.primary().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RedisConfig, LeaseError> {
        s.parse()
    }

    #[test]
    fn addresses_are_read_with_default_ports_ipv6_and_several_servers() {
        let c = parse("redis://a.example,redis://10.0.0.2:6380/, redis://[::1]:7000").unwrap();
        let eps: Vec<String> = c.addrs().iter().map(RedisAddr::endpoint).collect();
        assert_eq!(eps, ["a.example:6379", "10.0.0.2:6380", "[::1]:7000"]);
        assert!(
            c.addrs()
                .iter()
                .all(|a| a.password.is_none() && a.user.is_none())
        );
        assert_eq!(parse("redis://[::1]").unwrap().addrs()[0].port, 6379);
    }

    #[test]
    fn a_password_and_an_acl_user_are_read_and_percent_decoded() {
        let c = parse("redis://:s%40cr%3At@h:1,redis://alice:pw@h:2").unwrap();
        assert_eq!(c.addrs()[0].user, None);
        assert_eq!(c.addrs()[0].password, Some(Password("s@cr:t".into())));
        assert_eq!(c.addrs()[1].user.as_deref(), Some("alice"));
        assert_eq!(c.addrs()[1].password, Some(Password("pw".into())));
    }

    #[test]
    fn passwords_never_show_in_debug_display_or_errors() {
        let c = parse("redis://:hunter2@h:1,redis://alice:hunter2@h:2").unwrap();
        assert_eq!(c.to_string(), "redis://:***@h:1,redis://alice:***@h:2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c:#?}").contains("hunter2"));
        for bad in [
            "redis://hunter2@h",
            "redis://:hunter2@h:99999",
            "redis://:hunter2@h:x",
            "redis://:hunter2@",
            "redis://:hunter2@h/3",
            "redis://:hunter2%zz@h",
            "redis://:@h",
            "rediss://:hunter2@h",
            "http://:hunter2@h",
            "redis://h:1,redis://:hunter2@[::1",
            "redis://hunter2:",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, LeaseError::Config(_)), "{bad}: {e:?}");
            assert!(!e.to_string().contains("hunter2"), "{bad}: {e}");
            assert!(!format!("{e:?}").contains("hunter2"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn an_error_names_which_address_is_wrong() {
        let e = parse("redis://a:1,redis://b:0").unwrap_err();
        assert_eq!(
            e,
            LeaseError::Config(
                "--redis address 2: the port is not a number from 1 to 65535".into()
            )
        );
    }

    #[test]
    fn error_replies_are_sorted_into_auth_failover_and_protocol() {
        let err = |s: &str| reply_error("x", &Reply::Error(s.into()));
        assert_eq!(err("NOAUTH Authentication required."), LeaseError::Auth);
        assert_eq!(
            err("WRONGPASS invalid username-password pair"),
            LeaseError::Auth
        );
        assert!(matches!(
            err("READONLY You can't write against a read only replica."),
            LeaseError::Unreachable(_)
        ));
        assert!(matches!(err("ERR unknown"), LeaseError::Protocol(_)));
        assert!(matches!(
            reply_error("x", &Reply::Integer(3)),
            LeaseError::Protocol(_)
        ));
    }
}
