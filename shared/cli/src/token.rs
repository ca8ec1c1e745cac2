//! `usher token verify` and `usher token mint`.
//!
//! Both print one line of JSON. `verify` exits 0 when the token is valid, 1 when it is not
//! (with the reason code), 2 on a usage error; these codes and the `valid`/`reason` keys are a
//! contract that scripts and tests rely on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use usher_shared::token::edgeauth::{self, EdgeAuth, MintRequest, Presented, Scope};
use usher_shared::token::jwt::{self, Claims, Policy};
use usher_shared::token::{Algorithm, Keyring};

use crate::UsageError;

/// Token commands.
#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Check a token for a request path; print {"valid": …, "reason": …}.
    Verify(VerifyArgs),
    /// Mint a token; print {"token": …} (or only the token with --raw).
    Mint(MintArgs),
}

/// The token layer.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A session token, Akamai EdgeAuth 2.0 compatible.
    Edgeauth,
    /// A ticket, JWT HS256.
    Jwt,
}

/// A secret given on the command line (a key, a salt). Its `Debug` is redacted, so printing the
/// parsed arguments can never show it.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret(text.to_owned()))
}

/// EdgeAuth key and format options, shared by verify and mint.
#[derive(Args, Debug)]
pub(crate) struct EdgeAuthArgs {
    /// EdgeAuth key, in hex (edgeauth).
    #[arg(long, value_name = "HEX", value_parser = secret)]
    key: Option<Secret>,
    /// EdgeAuth HMAC algorithm (edgeauth).
    #[arg(long, default_value = "sha256", value_parser = ["sha256", "sha1", "md5"])]
    algorithm: String,
    /// Escape ip, id, data and url values before signing, as the reference library does (edgeauth).
    #[arg(long)]
    escape_early: bool,
    /// Field delimiter (edgeauth).
    #[arg(long, value_name = "C", default_value = "~")]
    field_delimiter: char,
    /// ACL delimiter (edgeauth).
    #[arg(long, value_name = "C", default_value = "!")]
    acl_delimiter: char,
    /// Salt signed into the token but not sent (edgeauth).
    #[arg(long, value_parser = secret)]
    salt: Option<Secret>,
}

/// `usher token verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Which token layer.
    #[arg(long)]
    kind: Kind,
    #[command(flatten)]
    edgeauth: EdgeAuthArgs,
    /// JSON keyring file mapping each kid to its hex secret (jwt).
    #[arg(long, value_name = "FILE")]
    keyring: Option<PathBuf>,
    /// The request path the token is presented for.
    #[arg(long)]
    path: String,
    /// The client address (edgeauth tokens bound to an IP).
    #[arg(long)]
    ip: Option<String>,
    /// The time to check at, Unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,
    /// Audience the edge identifies as (jwt).
    #[arg(long)]
    audience: Option<String>,
    /// Issuer tickets must name (jwt).
    #[arg(long)]
    issuer: Option<String>,
    /// Event the request is for (jwt); checked against the `ev` claim.
    #[arg(long)]
    event: Option<String>,
    /// Clock skew tolerated, in seconds.
    #[arg(long, default_value_t = 0)]
    leeway: u64,
    /// The token.
    token: String,
}

/// `usher token mint`.
#[derive(Args, Debug)]
pub(crate) struct MintArgs {
    /// Which token layer.
    #[arg(long)]
    kind: Kind,
    #[command(flatten)]
    edgeauth: EdgeAuthArgs,
    /// Print only the token, not JSON.
    #[arg(long)]
    raw: bool,
    /// The time to mint at, Unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,
    /// ACL glob; repeat for a `!`-separated list (edgeauth ACL token).
    #[arg(long, value_name = "GLOB")]
    acl: Vec<String>,
    /// Exact path for a URL token (edgeauth), signed but not carried.
    #[arg(long, value_name = "PATH", conflicts_with = "acl")]
    url: Option<String>,
    /// Bind the token to a client address (edgeauth).
    #[arg(long)]
    ip: Option<String>,
    /// Start time `st`, Unix seconds (edgeauth; default: none).
    #[arg(long, value_name = "UNIX_SECONDS")]
    start: Option<u64>,
    /// Expiry, Unix seconds (`exp`).
    #[arg(long, value_name = "UNIX_SECONDS", conflicts_with = "ttl")]
    end: Option<u64>,
    /// Lifetime from --now, in seconds (instead of --end).
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<u64>,
    /// Session id (`id` for edgeauth, `sid` for jwt).
    #[arg(long)]
    session_id: Option<String>,
    /// Payload (`data`, edgeauth).
    #[arg(long)]
    data: Option<String>,
    /// JSON keyring file mapping each kid to its hex secret (jwt).
    #[arg(long, value_name = "FILE")]
    keyring: Option<PathBuf>,
    /// Key id to sign with (jwt).
    #[arg(long)]
    kid: Option<String>,
    /// Event id, the `ev` claim (jwt).
    #[arg(long)]
    event: Option<String>,
    /// Path glob the ticket opens (jwt; default `/events/EVENT/*`).
    #[arg(long)]
    scope: Option<String>,
    /// Audience (jwt).
    #[arg(long)]
    audience: Option<String>,
    /// Issuer (jwt).
    #[arg(long)]
    issuer: Option<String>,
    /// Subject, the viewer (jwt).
    #[arg(long)]
    subject: Option<String>,
    /// Ticket id (jwt).
    #[arg(long)]
    jti: Option<String>,
    /// Screens allowed at once (jwt).
    #[arg(long, default_value_t = 1)]
    max_streams: u32,
    /// Not-before, Unix seconds (jwt).
    #[arg(long, value_name = "UNIX_SECONDS")]
    nbf: Option<u64>,
}

pub(crate) fn run(command: TokenCommand) -> Result<ExitCode> {
    match command {
        TokenCommand::Verify(args) => verify(&args),
        TokenCommand::Mint(args) => mint(&args),
    }
}

fn clock(now: Option<u64>) -> Result<u64> {
    match now {
        Some(now) => Ok(now),
        None => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("system clock is before 1970")?
            .as_secs()),
    }
}

fn edgeauth_from(args: &EdgeAuthArgs, leeway_secs: u64) -> Result<EdgeAuth> {
    let key = args
        .key
        .as_ref()
        .map(|key| key.0.as_str())
        .ok_or_else(|| UsageError::new("--kind edgeauth needs --key HEX"))?;
    let options = edgeauth::Options {
        field_delimiter: args.field_delimiter,
        acl_delimiter: args.acl_delimiter,
        escape_early: args.escape_early,
        leeway_secs,
    };
    let algorithm = Algorithm::parse(&args.algorithm).map_err(UsageError::from_config)?;
    let auth = EdgeAuth::from_hex(key, algorithm, options).map_err(UsageError::from_config)?;
    Ok(match &args.salt {
        Some(salt) => auth.with_salt(&salt.0),
        None => auth,
    })
}

fn keyring_from(path: Option<&PathBuf>) -> Result<Keyring> {
    let path = path.ok_or_else(|| UsageError::new("--kind jwt needs --keyring FILE"))?;
    let document = std::fs::read(path)
        .map_err(|e| UsageError::new(format!("cannot read keyring {}: {e}", path.display())))?;
    Keyring::from_json(&document)
        .map_err(|e| UsageError::new(format!("keyring {}: {e}", path.display())).into())
}

fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let now = clock(args.now)?;
    let outcome = match args.kind {
        Kind::Edgeauth => {
            let auth = edgeauth_from(&args.edgeauth, args.leeway)?;
            let presented = Presented {
                path: &args.path,
                ip: args.ip.as_deref(),
            };
            auth.verify(&args.token, &presented, now).map(|c| {
                json!({
                    "ip": c.ip, "st": c.start, "exp": c.end, "acl": c.acl,
                    "id": c.session_id, "data": c.data,
                })
            })
        }
        Kind::Jwt => {
            let keyring = keyring_from(args.keyring.as_ref())?;
            let policy = Policy {
                audience: args.audience.as_deref(),
                issuer: args.issuer.as_deref(),
                leeway_secs: args.leeway,
                event: args.event.as_deref(),
            };
            jwt::verify(&args.token, &keyring, &policy, &args.path, now)
                .map(|t| json!({"kid": t.kid, "claims": t.claims}))
        }
    };
    let (line, code) = match outcome {
        Ok(fields) => {
            let mut line = json!({"valid": true, "reason": "ok"});
            if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
                line.extend(fields);
            }
            (line, ExitCode::SUCCESS)
        }
        Err(reason) => (
            json!({"valid": false, "reason": reason.code(), "message": reason.to_string()}),
            ExitCode::from(1),
        ),
    };
    crate::print_line(&line.to_string())?;
    Ok(code)
}

fn mint(args: &MintArgs) -> Result<ExitCode> {
    let now = clock(args.now)?;
    let end = match (args.end, args.ttl) {
        (Some(end), _) => end,
        (None, Some(ttl)) => now.saturating_add(ttl),
        (None, None) => bail!(UsageError::new(
            "mint needs --end UNIX_SECONDS or --ttl SECONDS"
        )),
    };
    let token = match args.kind {
        Kind::Edgeauth => {
            let auth = edgeauth_from(&args.edgeauth, 0)?;
            let acl: Vec<&str> = args.acl.iter().map(String::as_str).collect();
            let scope = match (&args.url, acl.is_empty()) {
                (Some(url), _) => Scope::Url(url),
                (None, false) => Scope::Acl(&acl),
                (None, true) => bail!(UsageError::new(
                    "edgeauth mint needs --acl GLOB or --url PATH"
                )),
            };
            auth.mint(&MintRequest {
                ip: args.ip.as_deref(),
                start: args.start,
                end,
                scope,
                session_id: args.session_id.as_deref(),
                data: args.data.as_deref(),
            })
            .map_err(UsageError::from_config)?
        }
        Kind::Jwt => {
            let keyring = keyring_from(args.keyring.as_ref())?;
            let kid = match &args.kid {
                Some(kid) => kid.clone(),
                None => match keyring.kids().collect::<Vec<_>>().as_slice() {
                    [only] => (*only).to_owned(),
                    _ => bail!(UsageError::new(
                        "the keyring has several keys: choose one with --kid"
                    )),
                },
            };
            let event = args
                .event
                .clone()
                .ok_or_else(|| UsageError::new("jwt mint needs --event EVENT"))?;
            let secs = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
            let claims = Claims {
                iss: args.issuer.clone(),
                sub: args.subject.clone(),
                aud: args.audience.iter().cloned().collect(),
                jti: args.jti.clone(),
                iat: Some(secs(now)),
                nbf: args.nbf.map(secs),
                exp: secs(end),
                scope: args
                    .scope
                    .clone()
                    .unwrap_or_else(|| format!("/events/{event}/*")),
                ev: event,
                sid: args.session_id.clone(),
                max_streams: args.max_streams,
            };
            jwt::mint(&claims, &kid, &keyring).map_err(UsageError::from_config)?
        }
    };
    if args.raw {
        crate::print_line(&token)?;
    } else {
        crate::print_line(&json!({"token": token}).to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    #[test]
    fn parsed_arguments_never_show_keys_or_salts_in_debug() {
        let cli = crate::Cli::try_parse_from([
            "usher",
            "token",
            "verify",
            "--kind",
            "edgeauth",
            "--key",
            "c0ffee00c0ffee00",
            "--salt",
            "pepper-secret",
            "--path",
            "/",
            "t",
        ])
        .unwrap();
        let printed = format!("{cli:?}");
        assert!(!printed.contains("c0ffee00"), "{printed}");
        assert!(!printed.contains("pepper-secret"), "{printed}");
        assert!(printed.contains("redacted"));
    }
}
