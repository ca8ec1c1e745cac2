//! Publishing the snapshot: where the controller puts it, and the exact API calls that put it
//! there.
//!
//! The controller publishes one sealed snapshot (opaque bytes: the signed envelope around
//! `HealthSnapshot::to_json`) to every configured [`Target`]: a file that `usher edge serve`
//! watches, any HTTP endpoint that takes a `PUT`, Fastly's Config Store or KV Store, or
//! Cloudflare's Workers KV, where the platform edges read it. For the HTTP and API targets this
//! module builds the exact `http::Request` to send ([`HttpTarget::request`],
//! [`FastlyConfigStore::request`], [`FastlyKvStore::request`], [`CloudflareKv::request`]) and
//! reads the response into `Ok` or one [`PublishError`] that says what the API said
//! (`interpret`). The runtime (`usher control`) sends the requests and writes the file.
//!
//! What it does not do: sign anything (the bytes arrive sealed), send anything, read the
//! environment (the API token is handed in as an [`ApiToken`] when a request is built), or
//! retry: a failed publication is reported, and the next tick publishes a newer snapshot anyway,
//! so a retry loop would only delay the decision loop with stale bytes.
//!
//! Key design decisions:
//! - A target is valid by construction. Its TOML table is checked as it is deserialised (ids
//!   present, keys within the platform's documented limits, URLs absolute `http`/`https`, the
//!   Cloudflare TTL at least KV's minimum), so a mistake stops the controller at start-up with
//!   a [`TargetError`] instead of failing every tick of a live event.
//! - Tokens never sit in configuration: a target names the environment variable that holds it
//!   (`token_env`). An [`ApiToken`] has no `Display`, a redacted `Debug`, and goes into a header
//!   value marked sensitive, so neither a logged request nor an error can show it.
//! - A snapshot a target cannot hold (a Fastly Config Store value is at most 8000 characters)
//!   is refused before anything is sent, with the figures.
//! - The platforms' write rate limits are part of the target: [`Target::min_interval_ms`] says
//!   how often the runtime may publish to it (Fastly's API allows 1000 writes an hour).

mod cloudflare;
mod encoding;
mod fastly;
mod reply;

use core::fmt;
use std::path::{Path, PathBuf};

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use serde::Deserialize;

pub use cloudflare::CloudflareKv;
pub use fastly::{FastlyConfigStore, FastlyKvStore};

/// Where the controller publishes its snapshot: one `[[publish]]` table of its TOML
/// configuration, told apart by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// `kind = "file"`: a file, replaced atomically, for `usher edge serve --config DIR`
    /// (`DIR/health.json`).
    File(FileTarget),
    /// `kind = "http"`: `PUT` to any URL.
    Http(HttpTarget),
    /// `kind = "fastly-config-store"`: an item of a Fastly Config Store.
    FastlyConfigStore(FastlyConfigStore),
    /// `kind = "fastly-kv-store"`: a key of a Fastly KV Store (what the Fastly edge reads).
    FastlyKvStore(FastlyKvStore),
    /// `kind = "cloudflare-kv"`: a key of a Cloudflare Workers KV namespace.
    CloudflareKv(CloudflareKv),
}

impl Target {
    /// The environment variable that holds this target's API token, if it takes one.
    pub fn token_env(&self) -> Option<&str> {
        match self {
            Target::File(_) => None,
            Target::Http(t) => t.token_env.as_deref(),
            Target::FastlyConfigStore(t) => Some(t.token_env()),
            Target::FastlyKvStore(t) => Some(t.token_env()),
            Target::CloudflareKv(t) => Some(t.token_env()),
        }
    }

    /// The shortest time between two publications to this target, in milliseconds: the
    /// platform's write rate limit with room to spare (see each target's `min_interval_secs`).
    /// Zero for a file or a plain HTTP endpoint.
    pub fn min_interval_ms(&self) -> u64 {
        let secs = match self {
            Target::File(_) | Target::Http(_) => 0,
            Target::FastlyConfigStore(t) => t.min_interval_secs(),
            Target::FastlyKvStore(t) => t.min_interval_secs(),
            Target::CloudflareKv(t) => t.min_interval_secs(),
        };
        secs.saturating_mul(1000)
    }

    /// The `kind` of this target, as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::File(_) => "file",
            Target::Http(_) => "http",
            Target::FastlyConfigStore(_) => "fastly-config-store",
            Target::FastlyKvStore(_) => "fastly-kv-store",
            Target::CloudflareKv(_) => "cloudflare-kv",
        }
    }
}

/// Names the target in a log line: its kind and where it writes. Never the token.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::File(t) => write!(f, "file {}", t.path.display()),
            Target::Http(t) => write!(f, "http {}", t.url),
            Target::FastlyConfigStore(t) => {
                write!(f, "fastly-config-store {}/{}", t.store_id(), t.key())
            }
            Target::FastlyKvStore(t) => write!(f, "fastly-kv-store {}/{}", t.store_id(), t.key()),
            Target::CloudflareKv(t) => {
                write!(f, "cloudflare-kv {}/{}", t.namespace_id(), t.key())
            }
        }
    }
}

/// `kind = "file"`: `path` is the file to replace (for `usher edge serve`, `DIR/health.json`).
///
/// The runtime writes a temporary file in the same directory and renames it over `path`, so a
/// reader sees the old snapshot or the new one, never a part of one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    path: PathBuf,
}

impl FileTarget {
    /// The file to replace.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `kind = "http"`: `url` receives `PUT` with the snapshot as an `application/octet-stream`
/// body; with `token_env`, the token in that variable is sent as `Authorization: Bearer`.
/// Any 2xx answer is success.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "HttpFields")]
pub struct HttpTarget {
    url: Uri,
    token_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFields {
    url: String,
    #[serde(default)]
    token_env: Option<String>,
}

impl TryFrom<HttpFields> for HttpTarget {
    type Error = TargetError;

    fn try_from(fields: HttpFields) -> Result<Self, TargetError> {
        let url = absolute_url("url", &fields.url)?;
        if let Some(env) = &fields.token_env {
            nonempty("token_env", env)?;
        }
        Ok(HttpTarget {
            url,
            token_env: fields.token_env,
        })
    }
}

impl HttpTarget {
    /// The URL the snapshot is `PUT` to.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The `PUT` that publishes `snapshot`; `token` (read from `token_env`, if the target has
    /// one) goes in `Authorization: Bearer`.
    pub fn request(
        &self,
        snapshot: &[u8],
        token: Option<&ApiToken>,
    ) -> Result<Request<Vec<u8>>, PublishError> {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, OCTET_STREAM);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token.bearer()?);
        }
        request.body(snapshot.to_vec()).map_err(PublishError::from)
    }

    /// Reads the endpoint's answer: any 2xx is success; otherwise the error names the status
    /// and quotes the start of the body.
    pub fn interpret(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), PublishError> {
        if status.is_success() {
            return Ok(());
        }
        Err(reply::failure(
            status,
            headers,
            reply::body_text(body),
            now_ms,
        ))
    }
}

/// An API token, read by the runtime from the variable a target's `token_env` names.
///
/// It has no `Display`, its `Debug` is redacted, and the header values made from it are marked
/// sensitive (`http` prints them as `Sensitive`), so a token cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token, refusing one that is empty or that a header cannot carry (visible ASCII
    /// only). The error does not include the token.
    pub fn new(token: impl Into<String>) -> Result<Self, PublishError> {
        let token = token.into();
        let token = token.trim().to_owned();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PublishError::BadToken);
        }
        Ok(ApiToken(token))
    }

    /// The token itself, as a sensitive header value (`Fastly-Key`).
    fn header(&self) -> Result<HeaderValue, PublishError> {
        let mut value = HeaderValue::from_str(&self.0).map_err(|_| PublishError::BadToken)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `Bearer TOKEN`, as a sensitive header value (`Authorization`).
    fn bearer(&self) -> Result<HeaderValue, PublishError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| PublishError::BadToken)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// A `[[publish]]` table the controller cannot use. Reported at start-up, through the TOML
/// parser's error, with the field it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// A field that must not be empty is.
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A URL is not an absolute `http` or `https` URL.
    BadUrl {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A key the platform refuses, by its documented rules.
    BadKey {
        /// The platform's rule it breaks.
        rule: &'static str,
    },
    /// Cloudflare KV expires keys no sooner than 60 seconds after they are written.
    TtlTooShort {
        /// The configured `expiration_ttl`.
        secs: u64,
    },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Empty { field } => write!(f, "`{field}` must not be empty"),
            TargetError::BadUrl { field, problem } => {
                write!(f, "`{field}` is not an absolute http(s) URL: {problem}")
            }
            TargetError::BadKey { rule } => write!(f, "`key` is not usable: {rule}"),
            TargetError::TtlTooShort { secs } => write!(
                f,
                "`expiration_ttl` is {secs} s; Cloudflare KV's minimum is {} s",
                cloudflare::MIN_EXPIRATION_TTL_SECS
            ),
        }
    }
}

impl std::error::Error for TargetError {}

/// Why a snapshot was not published. The runtime logs it and publishes the next snapshot on the
/// next tick. No variant holds a token: messages come from the API's answer, which never
/// echoes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// The snapshot is larger than the target holds; nothing was sent.
    TooLarge {
        /// The target's kind.
        target: &'static str,
        /// The snapshot's size, in the unit of the limit (characters or bytes).
        size: usize,
        /// The limit.
        limit: usize,
        /// `"characters"` or `"bytes"`.
        unit: &'static str,
    },
    /// The target stores text and the snapshot is not UTF-8; nothing was sent.
    NotText {
        /// The target's kind.
        target: &'static str,
    },
    /// The token is empty or has characters a header cannot carry.
    BadToken,
    /// The API refused the token (401 or 403).
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// The API's error message.
        message: String,
    },
    /// The API's rate limit is reached (429).
    RateLimited {
        /// When to try again, from `Retry-After` or Fastly's `Fastly-RateLimit-Reset`.
        retry_after_secs: Option<u64>,
        /// The API's error message.
        message: String,
    },
    /// The API refused the request (another 4xx).
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The API's error message.
        message: String,
    },
    /// The API failed (5xx): try again on the next tick.
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The API's error message.
        message: String,
    },
    /// A success status with a body that is not what the API documents, or that says the
    /// write failed (Cloudflare's `"success": false`).
    BadReply {
        /// The HTTP status.
        status: u16,
        /// What is wrong.
        message: String,
    },
    /// The request could not be built (a configuration that passed its checks should never
    /// get here).
    Request(String),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::TooLarge {
                target,
                size,
                limit,
                unit,
            } => write!(
                f,
                "the snapshot is {size} {unit}; a {target} value holds at most {limit} {unit} \
                 (not sent)"
            ),
            PublishError::NotText { target } => {
                write!(
                    f,
                    "the snapshot is not UTF-8 text, which a {target} value must be (not sent)"
                )
            }
            PublishError::BadToken => {
                f.write_str("the API token is empty or has characters an HTTP header cannot carry")
            }
            PublishError::Unauthorized { status, message } => {
                write!(f, "the API refused the token ({status}): {message}")
            }
            PublishError::RateLimited {
                retry_after_secs,
                message,
            } => {
                write!(f, "rate limited (429): {message}")?;
                match retry_after_secs {
                    Some(secs) => write!(f, "; retry after {secs} s"),
                    None => Ok(()),
                }
            }
            PublishError::Rejected { status, message } => {
                write!(f, "the API refused the request ({status}): {message}")
            }
            PublishError::Unavailable { status, message } => {
                write!(f, "the API failed ({status}): {message}")
            }
            PublishError::BadReply { status, message } => {
                write!(f, "unexpected answer ({status}): {message}")
            }
            PublishError::Request(problem) => write!(f, "cannot build the request: {problem}"),
        }
    }
}

impl std::error::Error for PublishError {}

impl From<http::Error> for PublishError {
    fn from(error: http::Error) -> Self {
        // `http::Error` names what is malformed (a URI, a header name), never a header's value.
        PublishError::Request(error.to_string())
    }
}

/// The content type of a raw snapshot body.
const OCTET_STREAM: &str = "application/octet-stream";

/// Parses an absolute `http`/`https` URL with a host (a base URL may carry a path prefix).
fn absolute_url(field: &'static str, text: &str) -> Result<Uri, TargetError> {
    let uri: Uri = text.parse().map_err(|_| TargetError::BadUrl {
        field,
        problem: "it does not parse",
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(TargetError::BadUrl {
                field,
                problem: "the scheme must be http or https",
            });
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(TargetError::BadUrl {
            field,
            problem: "it has no host",
        });
    }
    Ok(uri)
}

/// An API base URL: absolute, without a query, and with no trailing slash, so that
/// `{base}/{path}` is the endpoint.
fn api_base(text: &str) -> Result<String, TargetError> {
    let uri = absolute_url("api_base", text)?;
    if uri.query().is_some() {
        return Err(TargetError::BadUrl {
            field: "api_base",
            problem: "it must not have a query",
        });
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn nonempty(field: &'static str, value: &str) -> Result<(), TargetError> {
    if value.trim().is_empty() {
        return Err(TargetError::Empty { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use super::*;

    fn target(toml_text: &str) -> Result<Target, String> {
        toml::from_str::<Target>(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_deserialises_from_its_toml_table() {
        let file = target("kind = \"file\"\npath = \"/srv/edge/health.json\"").unwrap();
        assert_eq!(file.kind(), "file");
        assert_eq!(file.token_env(), None);
        let Target::File(f) = &file else {
            panic!("{file:?}")
        };
        assert_eq!(f.path(), Path::new("/srv/edge/health.json"));

        let http = target("kind = \"http\"\nurl = \"http://127.0.0.1:9000/health\"").unwrap();
        assert_eq!(http.kind(), "http");
        assert_eq!(http.to_string(), "http http://127.0.0.1:9000/health");

        let config = target("kind = \"fastly-config-store\"\nstore_id = \"abc\"").unwrap();
        assert_eq!(config.to_string(), "fastly-config-store abc/snapshot");
        assert_eq!(config.token_env(), Some("FASTLY_API_TOKEN"));

        let kv =
            target("kind = \"fastly-kv-store\"\nstore_id = \"s1\"\nkey = \"k\"\ntoken_env = \"T\"")
                .unwrap();
        assert_eq!(kv.to_string(), "fastly-kv-store s1/k");
        assert_eq!(kv.token_env(), Some("T"));

        let cf = target(
            "kind = \"cloudflare-kv\"\naccount_id = \"acc\"\nnamespace_id = \"ns\"\nexpiration_ttl = 300",
        )
        .unwrap();
        assert_eq!(cf.to_string(), "cloudflare-kv ns/snapshot");
        assert_eq!(cf.token_env(), Some("CLOUDFLARE_API_TOKEN"));
    }

    #[test]
    fn a_target_deserialises_from_a_parsed_table_too() {
        // The controller's configuration keeps `[[publish]]` tables as JSON maps.
        let table = serde_json::json!({
            "kind": "cloudflare-kv",
            "account_id": "a",
            "namespace_id": "n",
            "expiration_ttl": 90,
        });
        let t: Target = serde_json::from_value(table).unwrap();
        assert_eq!(t.to_string(), "cloudflare-kv n/snapshot");
        let bad = serde_json::json!({"kind": "file", "path": "p", "extra": true});
        let e = serde_json::from_value::<Target>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = target("kind = \"file\"\npath = \"x\"\nmode = 1").unwrap_err();
        assert!(e.contains("unknown field `mode`"), "{e}");
        let e =
            target("kind = \"fastly-kv-store\"\nstore_id = \"s\"\ntoken = \"secret\"").unwrap_err();
        assert!(e.contains("unknown field `token`"), "{e}");
        let e = target("kind = \"s3\"\npath = \"x\"").unwrap_err();
        assert!(e.contains("unknown variant `s3`"), "{e}");
    }

    #[test]
    fn a_url_that_is_not_absolute_http_is_refused_with_the_field() {
        for (url, problem) in [
            ("/relative", "the scheme must be http or https"),
            ("ftp://host/x", "the scheme must be http or https"),
            ("not a url", "it does not parse"),
        ] {
            let e = target(&format!("kind = \"http\"\nurl = \"{url}\"")).unwrap_err();
            assert!(
                e.contains(&format!("`url` is not an absolute http(s) URL: {problem}")),
                "{url}: {e}"
            );
        }
        let e =
            target("kind = \"fastly-kv-store\"\nstore_id = \"s\"\napi_base = \"https://h/x?y=1\"")
                .unwrap_err();
        assert!(
            e.contains("`api_base` is not an absolute http(s) URL: it must not have a query"),
            "{e}"
        );
    }

    #[test]
    fn the_minimum_interval_follows_the_platforms_write_limits() {
        assert_eq!(
            target("kind = \"file\"\npath = \"p\"")
                .unwrap()
                .min_interval_ms(),
            0
        );
        let fastly = target("kind = \"fastly-kv-store\"\nstore_id = \"s\"").unwrap();
        assert_eq!(fastly.min_interval_ms(), 10_000);
        let cf =
            target("kind = \"cloudflare-kv\"\naccount_id = \"a\"\nnamespace_id = \"n\"").unwrap();
        assert_eq!(cf.min_interval_ms(), 1_000);
        let tuned =
            target("kind = \"fastly-config-store\"\nstore_id = \"s\"\nmin_interval_secs = 30")
                .unwrap();
        assert_eq!(tuned.min_interval_ms(), 30_000);
    }

    #[test]
    fn the_http_target_puts_the_bytes_with_an_optional_bearer_token() {
        let Target::Http(t) = target(
            "kind = \"http\"\nurl = \"http://127.0.0.1:9000/v1/health\"\ntoken_env = \"EDGE_TOKEN\"",
        )
        .unwrap() else {
            panic!()
        };
        let token = ApiToken::new("s3cr3t").unwrap();
        let request = t.request(b"{\"v\":1}", Some(&token)).unwrap();
        assert_eq!(request.method(), Method::PUT);
        assert_eq!(request.uri(), "http://127.0.0.1:9000/v1/health");
        assert_eq!(request.headers()[CONTENT_TYPE], "application/octet-stream");
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer s3cr3t");
        assert_eq!(request.body(), b"{\"v\":1}");
        assert!(!format!("{request:?}").contains("s3cr3t"));

        let bare = t.request(b"x", None).unwrap();
        assert!(bare.headers().get(AUTHORIZATION).is_none());
    }

    #[test]
    fn the_http_target_reads_any_2xx_as_success_and_quotes_a_failure() {
        let Target::Http(t) = target("kind = \"http\"\nurl = \"http://h/x\"").unwrap() else {
            panic!()
        };
        let none = HeaderMap::new();
        assert_eq!(t.interpret(StatusCode::NO_CONTENT, &none, b"", 0), Ok(()));
        assert_eq!(
            t.interpret(StatusCode::FORBIDDEN, &none, b"no entry\n", 0),
            Err(PublishError::Unauthorized {
                status: 403,
                message: "no entry".into()
            })
        );
        assert_eq!(
            t.interpret(StatusCode::BAD_GATEWAY, &none, b"", 0),
            Err(PublishError::Unavailable {
                status: 502,
                message: "(empty body)".into()
            })
        );
    }

    #[test]
    fn a_token_is_redacted_and_checked() {
        let token = ApiToken::new(" abc.DEF_123 \n").unwrap();
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
        assert_eq!(token.header().unwrap(), "abc.DEF_123");
        assert!(token.header().unwrap().is_sensitive());
        assert_eq!(ApiToken::new("  "), Err(PublishError::BadToken));
        assert_eq!(ApiToken::new("two words"), Err(PublishError::BadToken));
        assert_eq!(ApiToken::new("naïve"), Err(PublishError::BadToken));
    }

    #[test]
    fn errors_read_as_sentences_with_the_figures() {
        let e = PublishError::TooLarge {
            target: "fastly-config-store",
            size: 9000,
            limit: 8000,
            unit: "characters",
        };
        assert_eq!(
            e.to_string(),
            "the snapshot is 9000 characters; a fastly-config-store value holds at most 8000 \
             characters (not sent)"
        );
        let e = PublishError::RateLimited {
            retry_after_secs: Some(12),
            message: "slow down".into(),
        };
        assert_eq!(
            e.to_string(),
            "rate limited (429): slow down; retry after 12 s"
        );
        assert_eq!(
            TargetError::TtlTooShort { secs: 30 }.to_string(),
            "`expiration_ttl` is 30 s; Cloudflare KV's minimum is 60 s"
        );
    }
}
