//! Cloudflare Workers KV, through the Cloudflare API.
//!
//! Write: `PUT /accounts/{account_id}/storage/kv/namespaces/{namespace_id}/values/{key_name}`,
//! the value as the raw `application/octet-stream` body, `expiration_ttl` (seconds) as an
//! optional query parameter, and the token as `Authorization: Bearer`. Every answer, success or
//! not, is the API's envelope `{"success": bool, "errors": [{"code", "message"}], "messages":
//! [...], "result": ...}`
//! (<https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/subresources/values/methods/update/>).
//!
//! Limits (<https://developers.cloudflare.com/kv/platform/limits/>): keys up to 512 bytes, values
//! up to 25 MiB, expiry no sooner than 60 s, and one write a second to the same key; the API as a
//! whole allows 1200 requests per five minutes per user, answering 429 past it
//! (<https://developers.cloudflare.com/fundamentals/api/reference/limits/>). A Worker reading the
//! key may see the old value for up to 60 s (KV's edge cache), which is why the snapshot's TTL
//! is longer than that.

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use serde::Deserialize;

use super::encoding::path_segment;
use super::reply::{self, one_line};
use super::{ApiToken, OCTET_STREAM, PublishError, TargetError, api_base, nonempty};

/// KV's shortest expiry, in seconds.
pub(super) const MIN_EXPIRATION_TTL_SECS: u64 = 60;
/// KV's largest value, in bytes (25 MiB).
const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
/// KV's longest key, in bytes.
const MAX_KEY_BYTES: usize = 512;
/// The default time between two publications: KV takes one write a second per key.
const DEFAULT_MIN_INTERVAL_SECS: u64 = 1;

/// `kind = "cloudflare-kv"`: publishes the snapshot under `key` (default `"snapshot"`) of the KV
/// namespace `namespace_id` of account `account_id`, through `api_base` (default
/// `https://api.cloudflare.com/client/v4`), with the token in the variable `token_env` (default
/// `CLOUDFLARE_API_TOKEN`), optionally expiring `expiration_ttl` seconds after each write, at
/// most every `min_interval_secs` (default 1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CloudflareFields")]
pub struct CloudflareKv {
    account_id: String,
    namespace_id: String,
    key: String,
    api_base: String,
    token_env: String,
    expiration_ttl: Option<u64>,
    min_interval_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudflareFields {
    account_id: String,
    namespace_id: String,
    #[serde(default = "default_key")]
    key: String,
    #[serde(default = "default_api_base")]
    api_base: String,
    #[serde(default = "default_token_env")]
    token_env: String,
    #[serde(default)]
    expiration_ttl: Option<u64>,
    #[serde(default)]
    min_interval_secs: Option<u64>,
}

fn default_key() -> String {
    // The key the Cloudflare edge reads from its `USHER_HEALTH` namespace.
    "snapshot".to_owned()
}

fn default_api_base() -> String {
    "https://api.cloudflare.com/client/v4".to_owned()
}

fn default_token_env() -> String {
    // The variable Wrangler reads.
    "CLOUDFLARE_API_TOKEN".to_owned()
}

impl TryFrom<CloudflareFields> for CloudflareKv {
    type Error = TargetError;

    fn try_from(fields: CloudflareFields) -> Result<Self, TargetError> {
        nonempty("account_id", &fields.account_id)?;
        nonempty("namespace_id", &fields.namespace_id)?;
        nonempty("key", &fields.key)?;
        nonempty("token_env", &fields.token_env)?;
        if fields.key.len() > MAX_KEY_BYTES {
            return Err(TargetError::BadKey {
                rule: "a Workers KV key is at most 512 bytes",
            });
        }
        if fields.key == "." || fields.key == ".." {
            return Err(TargetError::BadKey {
                rule: "a Workers KV key cannot be `.` or `..`",
            });
        }
        if let Some(secs) = fields.expiration_ttl
            && secs < MIN_EXPIRATION_TTL_SECS
        {
            return Err(TargetError::TtlTooShort { secs });
        }
        Ok(CloudflareKv {
            api_base: api_base(&fields.api_base)?,
            account_id: fields.account_id,
            namespace_id: fields.namespace_id,
            key: fields.key,
            token_env: fields.token_env,
            expiration_ttl: fields.expiration_ttl,
            min_interval_secs: fields
                .min_interval_secs
                .unwrap_or(DEFAULT_MIN_INTERVAL_SECS),
        })
    }
}

impl CloudflareKv {
    /// The account's id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The namespace's id.
    pub fn namespace_id(&self) -> &str {
        &self.namespace_id
    }

    /// The key the snapshot is stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The variable holding the API token.
    pub fn token_env(&self) -> &str {
        &self.token_env
    }

    /// The shortest time between two publications, in seconds.
    pub fn min_interval_secs(&self) -> u64 {
        self.min_interval_secs
    }

    /// The write that publishes `snapshot`, or [`PublishError::TooLarge`] past KV's 25 MiB.
    pub fn request(
        &self,
        snapshot: &[u8],
        token: &ApiToken,
    ) -> Result<Request<Vec<u8>>, PublishError> {
        if snapshot.len() > MAX_VALUE_BYTES {
            return Err(PublishError::TooLarge {
                target: "cloudflare-kv",
                size: snapshot.len(),
                limit: MAX_VALUE_BYTES,
                unit: "bytes",
            });
        }
        let mut uri = format!(
            "{}/accounts/{}/storage/kv/namespaces/{}/values/{}",
            self.api_base,
            path_segment(&self.account_id),
            path_segment(&self.namespace_id),
            path_segment(&self.key)
        );
        if let Some(ttl) = self.expiration_ttl {
            uri.push_str(&format!("?expiration_ttl={ttl}"));
        }
        Request::builder()
            .method(Method::PUT)
            .uri(uri)
            .header(AUTHORIZATION, token.bearer()?)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, OCTET_STREAM)
            .body(snapshot.to_vec())
            .map_err(PublishError::from)
    }

    /// Reads the API's answer: success is a 2xx whose envelope says `"success": true`.
    pub fn interpret(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), PublishError> {
        let envelope = serde_json::from_slice::<Envelope>(body).ok();
        if !status.is_success() {
            let message = match &envelope {
                Some(e) if !e.errors.is_empty() => e.errors_text(),
                _ => reply::body_text(body),
            };
            return Err(reply::failure(status, headers, message, now_ms));
        }
        match envelope {
            Some(Envelope { success: true, .. }) => Ok(()),
            Some(e) => Err(PublishError::BadReply {
                status: status.as_u16(),
                message: format!("the API says the write failed: {}", e.errors_text()),
            }),
            None => Err(PublishError::BadReply {
                status: status.as_u16(),
                message: format!(
                    "expected the API's JSON envelope, got: {}",
                    reply::body_text(body)
                ),
            }),
        }
    }
}

/// The Cloudflare API's response envelope (the fields this needs).
#[derive(Deserialize)]
struct Envelope {
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

impl Envelope {
    /// The errors as `code message; code message`.
    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "(no errors listed)".to_owned();
        }
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|e| match e.code {
                Some(code) => format!("{code} {}", e.message),
                None => e.message.clone(),
            })
            .collect();
        one_line(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use http::HeaderValue;

    use super::super::Target;
    use super::*;

    fn kv(extra: &str) -> Result<CloudflareKv, String> {
        match toml::from_str(&format!(
            "kind = \"cloudflare-kv\"\naccount_id = \"023e105f\"\nnamespace_id = \"0f2ac74b\"\n{extra}"
        )) {
            Ok(Target::CloudflareKv(t)) => Ok(t),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    fn token() -> ApiToken {
        ApiToken::new("cf-token-xyz").unwrap()
    }

    #[test]
    fn the_write_puts_the_raw_bytes_with_a_bearer_token() {
        let target = kv("key = \"usher:health!\"").unwrap();
        let request = target.request(b"sealed", &token()).unwrap();
        assert_eq!(request.method(), Method::PUT);
        assert_eq!(
            request.uri(),
            "https://api.cloudflare.com/client/v4/accounts/023e105f/storage/kv/namespaces/0f2ac74b/values/usher%3Ahealth%21"
        );
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer cf-token-xyz");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        assert_eq!(request.headers()[CONTENT_TYPE], "application/octet-stream");
        assert_eq!(request.body(), b"sealed");
        assert!(!format!("{request:?}").contains("cf-token-xyz"));
    }

    #[test]
    fn an_expiration_ttl_is_a_query_parameter_of_at_least_60_seconds() {
        let target = kv("expiration_ttl = 120").unwrap();
        let request = target.request(b"x", &token()).unwrap();
        assert_eq!(
            request.uri().path(),
            "/client/v4/accounts/023e105f/storage/kv/namespaces/0f2ac74b/values/snapshot"
        );
        assert_eq!(request.uri().query(), Some("expiration_ttl=120"));
        let e = kv("expiration_ttl = 59").unwrap_err();
        assert!(
            e.contains("`expiration_ttl` is 59 s; Cloudflare KV's minimum is 60 s"),
            "{e}"
        );
    }

    #[test]
    fn keys_follow_kvs_rules_and_values_its_size_limit() {
        assert!(kv(&format!("key = \"{}\"", "k".repeat(512))).is_ok());
        let e = kv(&format!("key = \"{}\"", "k".repeat(513))).unwrap_err();
        assert!(e.contains("at most 512 bytes"), "{e}");
        let e = kv("key = \"..\"").unwrap_err();
        assert!(e.contains("cannot be `.` or `..`"), "{e}");
        let e = toml::from_str::<Target>(
            "kind = \"cloudflare-kv\"\naccount_id = \" \"\nnamespace_id = \"n\"",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`account_id` must not be empty"), "{e}");

        let target = kv("").unwrap();
        let over = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(matches!(
            target.request(&over, &token()),
            Err(PublishError::TooLarge { size, limit: MAX_VALUE_BYTES, unit: "bytes", .. }) if size == MAX_VALUE_BYTES + 1
        ));
    }

    #[test]
    fn success_is_the_documented_envelope() {
        let target = kv("").unwrap();
        let none = HeaderMap::new();
        let ok = br#"{"success":true,"errors":[],"messages":[],"result":null}"#;
        assert_eq!(target.interpret(StatusCode::OK, &none, ok, 0), Ok(()));
        let ok_object = br#"{"success":true,"errors":[],"messages":[],"result":{}}"#;
        assert_eq!(
            target.interpret(StatusCode::OK, &none, ok_object, 0),
            Ok(())
        );
        assert_eq!(
            target.interpret(
                StatusCode::OK,
                &none,
                br#"{"success":false,"errors":[{"code":10001,"message":"service unavailable"}],"messages":[],"result":null}"#,
                0
            ),
            Err(PublishError::BadReply {
                status: 200,
                message: "the API says the write failed: 10001 service unavailable".into()
            })
        );
        assert!(matches!(
            target.interpret(StatusCode::OK, &none, b"OK", 0),
            Err(PublishError::BadReply { status: 200, .. })
        ));
    }

    #[test]
    fn failures_carry_the_envelopes_errors() {
        let target = kv("").unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            target.interpret(
                StatusCode::FORBIDDEN,
                &none,
                br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#,
                0
            ),
            Err(PublishError::Unauthorized {
                status: 403,
                message: "10000 Authentication error".into()
            })
        );
        let mut retry = HeaderMap::new();
        retry.insert("retry-after", HeaderValue::from_static("5"));
        assert_eq!(
            target.interpret(
                StatusCode::TOO_MANY_REQUESTS,
                &retry,
                br#"{"success":false,"errors":[{"code":10013,"message":"rate limited"},{"code":971,"message":"try later"}],"messages":[],"result":null}"#,
                0
            ),
            Err(PublishError::RateLimited {
                retry_after_secs: Some(5),
                message: "10013 rate limited; 971 try later".into()
            })
        );
        assert_eq!(
            target.interpret(
                StatusCode::BAD_GATEWAY,
                &none,
                b"<html>502 Bad Gateway</html>",
                0
            ),
            Err(PublishError::Unavailable {
                status: 502,
                message: "<html>502 Bad Gateway</html>".into()
            })
        );
    }
}
