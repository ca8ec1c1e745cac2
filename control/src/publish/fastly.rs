//! Fastly's Config Store and KV Store, through the Fastly API.
//!
//! - Config Store item upsert: `PUT /resources/stores/config/{config_store_id}/item/{key}`, an
//!   `application/x-www-form-urlencoded` body with `item_value`, answered with the item as JSON
//!   (<https://www.fastly.com/documentation/reference/api/services/resources/config-store-item/>).
//!   Item values are text of at most 8000 characters, keys at most 256 characters.
//! - KV Store item upsert: `PUT /resources/stores/kv/{store_id}/keys/{key}`, the value as the raw
//!   `application/octet-stream` body, answered with an empty body
//!   (<https://www.fastly.com/documentation/reference/api/services/resources/kv-store-item/>).
//!
//! Both authenticate with the API token in the `Fastly-Key` header
//! (<https://www.fastly.com/documentation/reference/api/auth-tokens/>), and both count against
//! the API's limit of 1000 non-read requests an hour per user, reported in
//! `Fastly-RateLimit-Remaining` and `Fastly-RateLimit-Reset` and enforced with 429
//! (<https://www.fastly.com/documentation/reference/api/#rate-limiting>). Errors are a JSON object
//! with `msg` and, often, `detail`.
//!
//! The Fastly edge (`edge/fastly`) reads the snapshot from a KV Store: a Config Store is for
//! small, rarely changed values, and a snapshot with client groups outgrows 8000 characters.

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use serde::Deserialize;

use super::encoding::{form_value, path_segment};
use super::reply::{self, one_line};
use super::{ApiToken, OCTET_STREAM, PublishError, TargetError, api_base, nonempty};

/// The Fastly API's header for the token.
const FASTLY_KEY: &str = "fastly-key";
/// The longest Config Store item value, in characters.
pub(super) const CONFIG_STORE_VALUE_CHARS: usize = 8000;
/// The longest Config Store item key, in characters.
const CONFIG_STORE_KEY_CHARS: usize = 256;
/// The longest KV Store key, in bytes (Fastly's KV Store key rules:
/// <https://www.fastly.com/documentation/reference/compute/sdks/javascript/js-compute/kv-store/class.KVStore/>).
const KV_KEY_BYTES: usize = 1024;
/// The default time between two publications: at most 360 writes an hour, a third of the API's
/// 1000, so deploys and other tools sharing the token's user keep the rest.
const DEFAULT_MIN_INTERVAL_SECS: u64 = 10;

/// `kind = "fastly-config-store"`: publishes the snapshot as the item `key` (default
/// `"snapshot"`) of the Config Store `store_id`, through `api_base` (default
/// `https://api.fastly.com`), with the token in the variable `token_env` (default
/// `FASTLY_API_TOKEN`), at most every `min_interval_secs` (default 10).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "FastlyFields")]
pub struct FastlyConfigStore(Store);

/// `kind = "fastly-kv-store"`: publishes the snapshot under `key` (default `"snapshot"`) of the
/// KV Store `store_id`; the other fields as for [`FastlyConfigStore`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "FastlyFields")]
pub struct FastlyKvStore(Store);

/// What both stores' targets hold, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Store {
    store_id: String,
    key: String,
    api_base: String,
    token_env: String,
    min_interval_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastlyFields {
    store_id: String,
    #[serde(default = "default_key")]
    key: String,
    #[serde(default = "default_api_base")]
    api_base: String,
    #[serde(default = "default_token_env")]
    token_env: String,
    #[serde(default)]
    min_interval_secs: Option<u64>,
}

fn default_key() -> String {
    "snapshot".to_owned()
}

fn default_api_base() -> String {
    "https://api.fastly.com".to_owned()
}

fn default_token_env() -> String {
    // The variable the Fastly CLI reads.
    "FASTLY_API_TOKEN".to_owned()
}

impl Store {
    fn checked(fields: FastlyFields) -> Result<Self, TargetError> {
        nonempty("store_id", &fields.store_id)?;
        nonempty("key", &fields.key)?;
        nonempty("token_env", &fields.token_env)?;
        Ok(Store {
            api_base: api_base(&fields.api_base)?,
            store_id: fields.store_id,
            key: fields.key,
            token_env: fields.token_env,
            min_interval_secs: fields
                .min_interval_secs
                .unwrap_or(DEFAULT_MIN_INTERVAL_SECS),
        })
    }

    fn put(
        &self,
        path: &str,
        token: &ApiToken,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Request<Vec<u8>>, PublishError> {
        Request::builder()
            .method(Method::PUT)
            .uri(format!("{}{path}", self.api_base))
            .header(FASTLY_KEY, token.header()?)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .map_err(PublishError::from)
    }
}

impl TryFrom<FastlyFields> for FastlyConfigStore {
    type Error = TargetError;

    fn try_from(fields: FastlyFields) -> Result<Self, TargetError> {
        let store = Store::checked(fields)?;
        if store.key.chars().count() > CONFIG_STORE_KEY_CHARS {
            return Err(TargetError::BadKey {
                rule: "a Fastly Config Store key is at most 256 characters",
            });
        }
        Ok(FastlyConfigStore(store))
    }
}

impl TryFrom<FastlyFields> for FastlyKvStore {
    type Error = TargetError;

    fn try_from(fields: FastlyFields) -> Result<Self, TargetError> {
        let store = Store::checked(fields)?;
        let key = store.key.as_str();
        if key.len() > KV_KEY_BYTES {
            return Err(TargetError::BadKey {
                rule: "a Fastly KV Store key is at most 1024 bytes",
            });
        }
        if key == "." || key == ".." {
            return Err(TargetError::BadKey {
                rule: "a Fastly KV Store key cannot be `.` or `..`",
            });
        }
        if key.contains(['#', ';', '?', '^', '|', '\n', '\r']) {
            return Err(TargetError::BadKey {
                rule: "a Fastly KV Store key cannot contain any of `#;?^|` or a line break",
            });
        }
        if key.starts_with(".well-known/acme-challenge/") {
            return Err(TargetError::BadKey {
                rule: "a Fastly KV Store key cannot start with `.well-known/acme-challenge/`",
            });
        }
        Ok(FastlyKvStore(store))
    }
}

impl FastlyConfigStore {
    /// The Config Store's id.
    pub fn store_id(&self) -> &str {
        &self.0.store_id
    }

    /// The item's key.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// The variable holding the API token.
    pub fn token_env(&self) -> &str {
        &self.0.token_env
    }

    /// The shortest time between two publications, in seconds.
    pub fn min_interval_secs(&self) -> u64 {
        self.0.min_interval_secs
    }

    /// The upsert that publishes `snapshot`, or [`PublishError::NotText`] /
    /// [`PublishError::TooLarge`] for a snapshot the store cannot hold (nothing to send).
    pub fn request(
        &self,
        snapshot: &[u8],
        token: &ApiToken,
    ) -> Result<Request<Vec<u8>>, PublishError> {
        const TARGET: &str = "fastly-config-store";
        let text =
            core::str::from_utf8(snapshot).map_err(|_| PublishError::NotText { target: TARGET })?;
        let chars = text.chars().count();
        if chars > CONFIG_STORE_VALUE_CHARS {
            return Err(PublishError::TooLarge {
                target: TARGET,
                size: chars,
                limit: CONFIG_STORE_VALUE_CHARS,
                unit: "characters",
            });
        }
        let path = format!(
            "/resources/stores/config/{}/item/{}",
            path_segment(&self.0.store_id),
            path_segment(&self.0.key)
        );
        let body = format!("item_value={}", form_value(text)).into_bytes();
        self.0
            .put(&path, token, "application/x-www-form-urlencoded", body)
    }

    /// Reads the API's answer: 2xx with the item as a JSON object is success.
    pub fn interpret(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(), PublishError> {
        if !status.is_success() {
            return Err(reply::failure(status, headers, message(body), now_ms));
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(_)) => Ok(()),
            _ => Err(PublishError::BadReply {
                status: status.as_u16(),
                message: format!(
                    "expected the item as a JSON object, got: {}",
                    reply::body_text(body)
                ),
            }),
        }
    }
}

impl FastlyKvStore {
    /// The KV Store's id.
    pub fn store_id(&self) -> &str {
        &self.0.store_id
    }

    /// The key the snapshot is stored under.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// The variable holding the API token.
    pub fn token_env(&self) -> &str {
        &self.0.token_env
    }

    /// The shortest time between two publications, in seconds.
    pub fn min_interval_secs(&self) -> u64 {
        self.0.min_interval_secs
    }

    /// The upsert that publishes `snapshot`: the bytes as they are.
    pub fn request(
        &self,
        snapshot: &[u8],
        token: &ApiToken,
    ) -> Result<Request<Vec<u8>>, PublishError> {
        let path = format!(
            "/resources/stores/kv/{}/keys/{}",
            path_segment(&self.0.store_id),
            path_segment(&self.0.key)
        );
        self.0.put(&path, token, OCTET_STREAM, snapshot.to_vec())
    }

    /// Reads the API's answer: any 2xx is success (the documented body is empty).
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
        Err(reply::failure(status, headers, message(body), now_ms))
    }
}

/// The message of a Fastly API error, `{"msg": ..., "detail": ...}`, as `msg: detail`; the
/// body itself when it is not that shape (a proxy's page, say).
fn message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct FastlyError {
        msg: String,
        #[serde(default)]
        detail: Option<String>,
    }
    match serde_json::from_slice::<FastlyError>(body) {
        Ok(FastlyError {
            msg,
            detail: Some(detail),
        }) if !detail.is_empty() => one_line(&format!("{msg}: {detail}")),
        Ok(FastlyError { msg, .. }) => one_line(&msg),
        Err(_) => reply::body_text(body),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use http::HeaderValue;
    use http::header::AUTHORIZATION;

    use super::super::Target;
    use super::*;

    fn config_store(extra: &str) -> FastlyConfigStore {
        match toml::from_str(&format!(
            "kind = \"fastly-config-store\"\nstore_id = \"7ab3Cd\"\n{extra}"
        ))
        .unwrap()
        {
            Target::FastlyConfigStore(t) => t,
            other => panic!("{other:?}"),
        }
    }

    fn kv_store(extra: &str) -> Result<FastlyKvStore, String> {
        match toml::from_str(&format!(
            "kind = \"fastly-kv-store\"\nstore_id = \"kv9\"\n{extra}"
        )) {
            Ok(Target::FastlyKvStore(t)) => Ok(t),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    fn token() -> ApiToken {
        ApiToken::new("fastly-token-123").unwrap()
    }

    #[test]
    fn the_config_store_upsert_is_a_form_put_with_the_fastly_key() {
        let request = config_store("key = \"health snapshot\"")
            .request(b"{\"v\":1,\"s\":\"a b+c\"}", &token())
            .unwrap();
        assert_eq!(request.method(), Method::PUT);
        assert_eq!(
            request.uri(),
            "https://api.fastly.com/resources/stores/config/7ab3Cd/item/health%20snapshot"
        );
        let h = request.headers();
        assert_eq!(h[FASTLY_KEY], "fastly-token-123");
        assert!(h[FASTLY_KEY].is_sensitive());
        assert_eq!(h[CONTENT_TYPE], "application/x-www-form-urlencoded");
        assert_eq!(h[ACCEPT], "application/json");
        assert!(h.get(AUTHORIZATION).is_none());
        assert_eq!(
            String::from_utf8(request.body().clone()).unwrap(),
            "item_value=%7B%22v%22%3A1%2C%22s%22%3A%22a+b%2Bc%22%7D"
        );
        assert!(!format!("{request:?}").contains("fastly-token-123"));
    }

    #[test]
    fn the_config_store_refuses_a_value_over_8000_characters_before_sending() {
        let store = config_store("");
        let fits = vec![b'x'; 8000];
        assert!(store.request(&fits, &token()).is_ok());
        let over = vec![b'x'; 8001];
        assert_eq!(
            store.request(&over, &token()).unwrap_err(),
            PublishError::TooLarge {
                target: "fastly-config-store",
                size: 8001,
                limit: 8000,
                unit: "characters"
            }
        );
        // Characters, not bytes: 8000 two-byte characters fit.
        assert!(store.request("é".repeat(8000).as_bytes(), &token()).is_ok());
        assert_eq!(
            store.request(&[b'{', 0xff, b'}'], &token()).unwrap_err(),
            PublishError::NotText {
                target: "fastly-config-store"
            }
        );
    }

    #[test]
    fn the_kv_store_upsert_puts_the_raw_bytes() {
        let store =
            kv_store("key = \"usher/health\"\napi_base = \"http://127.0.0.1:8080/fastly/\"")
                .unwrap();
        let snapshot = [0u8, 1, 2, 255];
        let request = store.request(&snapshot, &token()).unwrap();
        assert_eq!(request.method(), Method::PUT);
        assert_eq!(
            request.uri(),
            "http://127.0.0.1:8080/fastly/resources/stores/kv/kv9/keys/usher%2Fhealth"
        );
        assert_eq!(request.headers()[FASTLY_KEY], "fastly-token-123");
        assert_eq!(request.headers()[CONTENT_TYPE], "application/octet-stream");
        assert_eq!(request.body(), &snapshot);
    }

    #[test]
    fn kv_keys_follow_fastlys_rules() {
        for (key, rule) in [
            (".", "cannot be `.` or `..`"),
            ("a?b", "cannot contain any of"),
            (".well-known/acme-challenge/x", "cannot start with"),
        ] {
            let e = kv_store(&format!("key = \"{key}\"")).unwrap_err();
            assert!(e.contains(rule), "{key}: {e}");
        }
        let e = kv_store(&format!("key = \"{}\"", "k".repeat(1025))).unwrap_err();
        assert!(e.contains("at most 1024 bytes"), "{e}");
        assert!(kv_store(&format!("key = \"{}\"", "k".repeat(1024))).is_ok());
        let e = kv_store("key = \"\"").unwrap_err();
        assert!(e.contains("`key` must not be empty"), "{e}");
        let e = toml::from_str::<Target>(&format!(
            "kind = \"fastly-config-store\"\nstore_id = \"s\"\nkey = \"{}\"",
            "k".repeat(257)
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("at most 256 characters"), "{e}");
    }

    #[test]
    fn a_config_store_success_is_the_item_json() {
        let store = config_store("");
        let none = HeaderMap::new();
        let item = br#"{"store_id":"7ab3Cd","item_key":"snapshot","item_value":"{}","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","deleted_at":null}"#;
        assert_eq!(store.interpret(StatusCode::OK, &none, item, 0), Ok(()));
        assert_eq!(
            store.interpret(StatusCode::OK, &none, b"<html>captive portal</html>", 0),
            Err(PublishError::BadReply {
                status: 200,
                message: "expected the item as a JSON object, got: <html>captive portal</html>"
                    .into()
            })
        );
    }

    #[test]
    fn fastly_errors_carry_msg_and_detail() {
        let store = kv_store("").unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            store.interpret(
                StatusCode::UNAUTHORIZED,
                &none,
                br#"{"msg":"Provided credentials are missing or invalid"}"#,
                0
            ),
            Err(PublishError::Unauthorized {
                status: 401,
                message: "Provided credentials are missing or invalid".into()
            })
        );
        assert_eq!(
            store.interpret(
                StatusCode::NOT_FOUND,
                &none,
                br#"{"msg":"Record not found","detail":"Couldn't find KV store 'kv9'"}"#,
                0
            ),
            Err(PublishError::Rejected {
                status: 404,
                message: "Record not found: Couldn't find KV store 'kv9'".into()
            })
        );
        let mut limited = HeaderMap::new();
        limited.insert("fastly-ratelimit-remaining", HeaderValue::from_static("0"));
        limited.insert(
            "fastly-ratelimit-reset",
            HeaderValue::from_static("1700003600"),
        );
        assert_eq!(
            store.interpret(
                StatusCode::TOO_MANY_REQUESTS,
                &limited,
                br#"{"msg":"You have exceeded your hourly rate limit"}"#,
                1_700_000_000_000
            ),
            Err(PublishError::RateLimited {
                retry_after_secs: Some(3600),
                message: "You have exceeded your hourly rate limit".into()
            })
        );
        assert_eq!(
            store.interpret(
                StatusCode::SERVICE_UNAVAILABLE,
                &none,
                b"upstream connect error",
                0
            ),
            Err(PublishError::Unavailable {
                status: 503,
                message: "upstream connect error".into()
            })
        );
        assert_eq!(store.interpret(StatusCode::OK, &none, b"", 0), Ok(()));
    }
}
