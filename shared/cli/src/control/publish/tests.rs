//! The publishers against local servers that follow the documented API shapes (Fastly's Config
//! Store and KV Store item APIs, Cloudflare's Workers KV write), a plain HTTP endpoint, and the
//! file the edge watches.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::HashMap;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::AtomicUsize;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Response};
use http_body_util::Full;

use super::super::local_server::LocalServer;
use super::*;

const FASTLY_TOKEN: &str = "fastly-test-token-0123";
const CF_TOKEN: &str = "cf-test-token-4567";

/// What the fake APIs answer with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    RateLimited,
    Broken,
}

/// The fakes' shared state: the stored values by `api/store/key`, and what they were told.
struct Apis {
    stored: StdMutex<HashMap<String, Vec<u8>>>,
    mode: StdMutex<Mode>,
    puts: AtomicUsize,
    queries: StdMutex<Vec<String>>,
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn json(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn raw(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn cf_envelope(status: u16, errors: serde_json::Value) -> Response<Full<Bytes>> {
    let success = errors.as_array().is_some_and(Vec::is_empty);
    json(
        status,
        serde_json::json!({"success": success, "errors": errors, "messages": [], "result": null}),
    )
}

impl Apis {
    async fn start() -> (Arc<Apis>, LocalServer) {
        let apis = Arc::new(Apis {
            stored: StdMutex::new(HashMap::new()),
            mode: StdMutex::new(Mode::Normal),
            puts: AtomicUsize::new(0),
            queries: StdMutex::new(Vec::new()),
        });
        let state = Arc::clone(&apis);
        let server = LocalServer::start(move |request| {
            let state = Arc::clone(&state);
            async move { state.answer(&request) }
        })
        .await;
        (apis, server)
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn stored(&self, key: &str) -> Option<Vec<u8>> {
        self.stored.lock().unwrap().get(key).cloned()
    }

    fn answer(&self, request: &Request<Bytes>) -> Response<Full<Bytes>> {
        let segments: Vec<String> = request
            .uri()
            .path()
            .split('/')
            .skip(1)
            .map(|s| String::from_utf8(percent_decode(s, false)).unwrap())
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if request.method() == Method::PUT {
            self.puts.fetch_add(1, Ordering::SeqCst);
        }
        self.queries
            .lock()
            .unwrap()
            .push(request.uri().query().unwrap_or("").to_owned());
        match segments.as_slice() {
            ["resources", "stores", "config", store, "item", key] => {
                self.fastly(request, &format!("fastly-config/{store}/{key}"), |stored| {
                    // The item, as the Config Store item API documents it.
                    json(200, serde_json::json!({
                        "store_id": store, "item_key": key,
                        "item_value": String::from_utf8(stored).unwrap(),
                        "created_at": "2026-11-22T00:00:00Z", "updated_at": "2026-11-22T00:00:00Z",
                        "deleted_at": null,
                    }))
                })
            }
            ["resources", "stores", "kv", store, "keys", key] => {
                self.fastly(request, &format!("fastly-kv/{store}/{key}"), |stored| {
                    raw(200, stored)
                })
            }
            [
                "client",
                "v4",
                "accounts",
                account,
                "storage",
                "kv",
                "namespaces",
                ns,
                "values",
                key,
            ] => self.cloudflare(request, &format!("cf/{account}/{ns}/{key}")),
            _ => raw(404, b"no such endpoint".to_vec()),
        }
    }

    /// Fastly: `Fastly-Key`, `{"msg", "detail"}` errors, `Fastly-RateLimit-*` on 429.
    fn fastly(
        &self,
        request: &Request<Bytes>,
        store_key: &str,
        item: impl Fn(Vec<u8>) -> Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        if request
            .headers()
            .get("fastly-key")
            .is_none_or(|k| k != FASTLY_TOKEN)
        {
            return json(
                401,
                serde_json::json!({"msg": "Provided credentials are missing or invalid"}),
            );
        }
        match *self.mode.lock().unwrap() {
            Mode::RateLimited => {
                let mut answer = json(
                    429,
                    serde_json::json!({"msg": "You have exceeded your hourly rate limit"}),
                );
                let reset = now_ms() / 1000 + 120;
                answer
                    .headers_mut()
                    .insert("fastly-ratelimit-remaining", "0".parse().unwrap());
                answer
                    .headers_mut()
                    .insert("fastly-ratelimit-reset", reset.to_string().parse().unwrap());
                return answer;
            }
            Mode::Broken => {
                return json(
                    503,
                    serde_json::json!({"msg": "Service Unavailable", "detail": "backend read error"}),
                );
            }
            Mode::Normal => {}
        }
        let is_config = store_key.starts_with("fastly-config/");
        match *request.method() {
            Method::PUT => {
                let value = if is_config {
                    if request.headers()["content-type"] != "application/x-www-form-urlencoded" {
                        return json(415, serde_json::json!({"msg": "Unsupported media type"}));
                    }
                    let body = std::str::from_utf8(request.body()).unwrap();
                    let Some(encoded) = body.split('&').find_map(|p| p.strip_prefix("item_value="))
                    else {
                        return json(
                            400,
                            serde_json::json!({"msg": "Bad request", "detail": "item_value is required"}),
                        );
                    };
                    let value = percent_decode(encoded, true);
                    if String::from_utf8(value.clone()).unwrap().chars().count() > 8000 {
                        return json(
                            400,
                            serde_json::json!({"msg": "Bad request", "detail": "item_value is longer than 8000 characters"}),
                        );
                    }
                    value
                } else {
                    request.body().to_vec()
                };
                self.stored
                    .lock()
                    .unwrap()
                    .insert(store_key.to_owned(), value.clone());
                if is_config {
                    item(value)
                } else {
                    raw(200, Vec::new())
                }
            }
            Method::GET => match self.stored(store_key) {
                Some(value) => item(value),
                None => json(404, serde_json::json!({"msg": "Record not found"})),
            },
            _ => json(405, serde_json::json!({"msg": "Method not allowed"})),
        }
    }

    /// Cloudflare: `Authorization: Bearer`, the `{"success", "errors", ...}` envelope.
    fn cloudflare(&self, request: &Request<Bytes>, store_key: &str) -> Response<Full<Bytes>> {
        let expected = format!("Bearer {CF_TOKEN}");
        if request
            .headers()
            .get("authorization")
            .is_none_or(|a| *a != *expected)
        {
            return cf_envelope(
                403,
                serde_json::json!([{"code": 10000, "message": "Authentication error"}]),
            );
        }
        match *self.mode.lock().unwrap() {
            Mode::RateLimited => {
                let mut answer = cf_envelope(
                    429,
                    serde_json::json!([{"code": 971, "message": "Please wait and consider throttling your request speed"}]),
                );
                answer
                    .headers_mut()
                    .insert("retry-after", "7".parse().unwrap());
                return answer;
            }
            Mode::Broken => {
                return cf_envelope(
                    500,
                    serde_json::json!([{"code": 10001, "message": "service temporarily unavailable"}]),
                );
            }
            Mode::Normal => {}
        }
        match *request.method() {
            Method::PUT => {
                if let Some(ttl) = request
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("expiration_ttl="))
                    && ttl.parse::<u64>().unwrap() < 60
                {
                    return cf_envelope(
                        400,
                        serde_json::json!([{"code": 10045, "message": "Invalid expiration_ttl of 30. Expiration TTL must be at least 60."}]),
                    );
                }
                self.stored
                    .lock()
                    .unwrap()
                    .insert(store_key.to_owned(), request.body().to_vec());
                cf_envelope(200, serde_json::json!([]))
            }
            Method::GET => match self.stored(store_key) {
                Some(value) => raw(200, value),
                None => cf_envelope(
                    404,
                    serde_json::json!([{"code": 10009, "message": "get: 'key not found'"}]),
                ),
            },
            _ => cf_envelope(
                405,
                serde_json::json!([{"code": 10000, "message": "method not allowed"}]),
            ),
        }
    }
}

fn target(toml_text: &str) -> Target {
    toml::from_str(toml_text).unwrap()
}

fn token(text: &str) -> Option<ApiToken> {
    Some(ApiToken::new(text).unwrap())
}

/// A snapshot-like body with every character a form or a URL treats specially.
const ENVELOPE: &[u8] = br#"{"v":1,"payload":"a b+c%20&d=e?f#g/h","sig":"Zm9v+/=="}"#;

/// Reads back through the fake's GET, as an operator's `curl` would.
async fn read_back(url: String, header: (&'static str, String)) -> Fetched {
    let request = Request::builder()
        .uri(url)
        .header(header.0, header.1)
        .body(Bytes::new())
        .unwrap();
    let limits = Limits {
        timeout: Duration::from_secs(5),
        max_body_bytes: 1 << 20,
    };
    client::send(request, &limits).await.unwrap()
}

#[tokio::test]
async fn the_fastly_config_store_receives_exactly_the_snapshot() {
    let (apis, server) = Apis::start().await;
    let target = target(&format!(
        "kind = \"fastly-config-store\"\nstore_id = \"cfg1\"\nkey = \"usher health\"\napi_base = \"{}\"",
        server.url("")
    ));
    let mut publisher = Publisher::new(target, Path::new("."), token(FASTLY_TOKEN));
    publisher.publish(ENVELOPE, now_ms()).await.unwrap();
    assert_eq!(
        apis.stored("fastly-config/cfg1/usher health").unwrap(),
        ENVELOPE
    );

    let item = read_back(
        server.url("/resources/stores/config/cfg1/item/usher%20health"),
        ("fastly-key", FASTLY_TOKEN.to_owned()),
    )
    .await;
    let item: serde_json::Value = serde_json::from_slice(&item.body).unwrap();
    assert_eq!(item["item_value"].as_str().unwrap().as_bytes(), ENVELOPE);
}

#[tokio::test]
async fn the_fastly_kv_store_receives_exactly_the_bytes() {
    let (apis, server) = Apis::start().await;
    let target = target(&format!(
        "kind = \"fastly-kv-store\"\nstore_id = \"kv1\"\nkey = \"usher/health\"\napi_base = \"{}\"",
        server.url("")
    ));
    let mut publisher = Publisher::new(target, Path::new("."), token(FASTLY_TOKEN));
    let bytes: Vec<u8> = ENVELOPE.iter().copied().chain([0, 0xff, b'\n']).collect();
    publisher.publish(&bytes, now_ms()).await.unwrap();
    assert_eq!(apis.stored("fastly-kv/kv1/usher/health").unwrap(), bytes);
    let value = read_back(
        server.url("/resources/stores/kv/kv1/keys/usher%2Fhealth"),
        ("fastly-key", FASTLY_TOKEN.to_owned()),
    )
    .await;
    assert_eq!(value.body, bytes);
}

#[tokio::test]
async fn cloudflare_kv_receives_exactly_the_bytes_and_the_ttl() {
    let (apis, server) = Apis::start().await;
    let target = target(&format!(
        "kind = \"cloudflare-kv\"\naccount_id = \"acc1\"\nnamespace_id = \"ns1\"\nkey = \"usher:health!\"\nexpiration_ttl = 120\napi_base = \"{}\"",
        server.url("/client/v4")
    ));
    let mut publisher = Publisher::new(target, Path::new("."), token(CF_TOKEN));
    publisher.publish(ENVELOPE, now_ms()).await.unwrap();
    assert_eq!(apis.stored("cf/acc1/ns1/usher:health!").unwrap(), ENVELOPE);
    assert!(
        apis.queries
            .lock()
            .unwrap()
            .contains(&"expiration_ttl=120".to_owned())
    );
    let value = read_back(
        server.url("/client/v4/accounts/acc1/storage/kv/namespaces/ns1/values/usher%3Ahealth%21"),
        ("authorization", format!("Bearer {CF_TOKEN}")),
    )
    .await;
    assert_eq!(value.body, ENVELOPE);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_with_the_apis_message() {
    let (apis, server) = Apis::start().await;
    let fastly = target(&format!(
        "kind = \"fastly-kv-store\"\nstore_id = \"kv1\"\napi_base = \"{}\"",
        server.url("")
    ));
    let error = Publisher::new(fastly, Path::new("."), token("not-the-token"))
        .publish(ENVELOPE, now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PublishFailure::Api(PublishError::Unauthorized { status: 401, message })
            if message == "Provided credentials are missing or invalid"),
        "{error:?}"
    );
    assert!(!error.to_string().contains("not-the-token"), "{error}");

    let cloudflare = target(&format!(
        "kind = \"cloudflare-kv\"\naccount_id = \"a\"\nnamespace_id = \"n\"\napi_base = \"{}\"",
        server.url("/client/v4")
    ));
    let error = Publisher::new(cloudflare, Path::new("."), token("wrong"))
        .publish(ENVELOPE, now_ms())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the API refused the token (403): 10000 Authentication error"
    );
    assert!(apis.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_rate_limited_target_is_not_due_until_the_api_says() {
    let (apis, server) = Apis::start().await;
    apis.set_mode(Mode::RateLimited);
    let now = now_ms();

    let fastly = target(&format!(
        "kind = \"fastly-kv-store\"\nstore_id = \"kv1\"\napi_base = \"{}\"",
        server.url("")
    ));
    let mut publisher = Publisher::new(fastly, Path::new("."), token(FASTLY_TOKEN));
    let error = publisher.publish(ENVELOPE, now).await.unwrap_err();
    let PublishFailure::Api(PublishError::RateLimited {
        retry_after_secs: Some(secs),
        ..
    }) = error
    else {
        panic!("{error:?}")
    };
    // The fake's reset is 120 s after its own clock, read a moment after `now`.
    assert!((119..=121).contains(&secs), "{secs}");
    assert!(!publisher.due(now + 60_000));
    assert!(publisher.due(now + secs * 1000));

    let cloudflare = target(&format!(
        "kind = \"cloudflare-kv\"\naccount_id = \"a\"\nnamespace_id = \"n\"\napi_base = \"{}\"",
        server.url("/client/v4")
    ));
    let mut publisher = Publisher::new(cloudflare, Path::new("."), token(CF_TOKEN));
    let error = publisher.publish(ENVELOPE, now).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "rate limited (429): 971 Please wait and consider throttling your request speed; retry after 7 s"
    );
    assert!(!publisher.due(now + 6_999));
    assert!(publisher.due(now + 7_000));
}

#[tokio::test]
async fn a_failing_api_is_reported_and_the_next_tick_publishes() {
    let (apis, server) = Apis::start().await;
    let cloudflare = target(&format!(
        "kind = \"cloudflare-kv\"\naccount_id = \"a\"\nnamespace_id = \"n\"\napi_base = \"{}\"",
        server.url("/client/v4")
    ));
    let mut publisher = Publisher::new(cloudflare, Path::new("."), token(CF_TOKEN));
    apis.set_mode(Mode::Broken);
    let now = now_ms();
    let error = publisher.publish(b"first", now).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the API failed (500): 10001 service temporarily unavailable"
    );
    // One attempt, no retries behind the caller's back.
    assert_eq!(apis.puts.load(Ordering::SeqCst), 1);
    apis.set_mode(Mode::Normal);
    assert!(publisher.due(now + 1_000));
    publisher.publish(b"second", now + 1_000).await.unwrap();
    assert_eq!(apis.stored("cf/a/n/snapshot").unwrap(), b"second");
}

#[tokio::test]
async fn an_oversized_config_store_snapshot_is_refused_without_sending() {
    let (apis, server) = Apis::start().await;
    let target = target(&format!(
        "kind = \"fastly-config-store\"\nstore_id = \"cfg1\"\napi_base = \"{}\"",
        server.url("")
    ));
    let mut publisher = Publisher::new(target, Path::new("."), token(FASTLY_TOKEN));
    let error = publisher
        .publish(&vec![b'x'; 8001], now_ms())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the snapshot is 8001 characters; a fastly-config-store value holds at most 8000 characters (not sent)"
    );
    assert_eq!(apis.puts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_api_is_a_connect_error() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = target(&format!(
        "kind = \"fastly-kv-store\"\nstore_id = \"kv1\"\napi_base = \"http://{addr}\""
    ));
    let error = Publisher::new(target, Path::new("."), token(FASTLY_TOKEN))
        .publish(ENVELOPE, now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(error, PublishFailure::Fetch(FetchError::Connect { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_http_target_puts_the_bytes_with_its_bearer_token() {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let server = LocalServer::start(move |request| {
        let record = Arc::clone(&record);
        async move {
            let authorization = request
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            record.lock().unwrap().push((
                request.method().clone(),
                request.uri().path().to_owned(),
                authorization,
                request.body().clone(),
            ));
            raw(204, Vec::new())
        }
    })
    .await;
    let target = target(&format!(
        "kind = \"http\"\nurl = \"{}\"\ntoken_env = \"EDGE_TOKEN\"",
        server.url("/v1/health")
    ));
    let mut publisher = Publisher::new(target, Path::new("."), token("edge-secret"));
    publisher.publish(ENVELOPE, now_ms()).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, Method::PUT);
    assert_eq!(seen[0].1, "/v1/health");
    assert_eq!(seen[0].2.as_deref(), Some("Bearer edge-secret"));
    assert_eq!(seen[0].3, ENVELOPE);
}

#[tokio::test]
async fn an_api_target_without_its_token_says_which_variable() {
    let target = target(
        "kind = \"fastly-kv-store\"\nstore_id = \"kv1\"\ntoken_env = \"USHER_TEST_UNSET_TOKEN_7f3a\"",
    );
    let error = Publishers::new(vec![target], Path::new(".")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "publish to fastly-kv-store kv1/snapshot: the API token variable USHER_TEST_UNSET_TOKEN_7f3a is not set"
    );
    assert!(error.downcast_ref::<crate::UsageError>().is_some());
}

/// A throw-away directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("usher-publish-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The padding of envelope `seq`: `size` copies of a letter that depends on `seq`, so a torn
/// read (the start of one envelope with the end of another, or a short one) does not check out.
fn padding(seq: u32, size: usize) -> String {
    char::from(b'a' + u8::try_from(seq % 26).unwrap())
        .to_string()
        .repeat(size)
}

fn big_envelope(seq: u32, size: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"seq": seq, "pad": padding(seq, size)})).unwrap()
}

/// Decodes an envelope read from the file and checks it whole; returns its `seq`.
fn check_envelope(bytes: &[u8], size: usize) -> u32 {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("a torn read of {} bytes: {e}", bytes.len()));
    let seq = u32::try_from(value["seq"].as_u64().unwrap()).unwrap();
    assert!(
        value["pad"].as_str() == Some(padding(seq, size).as_str()),
        "envelope {seq} is not whole"
    );
    seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_target_is_replaced_atomically_under_a_concurrent_reader() {
    const SIZE: usize = 512 * 1024;
    const WRITES: u32 = 40;
    let dir = TempDir::new("atomic");
    let path = dir.0.join("health.json");
    // Relative to the configuration's directory, as `usher control run` resolves it.
    let target = target("kind = \"file\"\npath = \"health.json\"");
    let mut publisher = Publisher::new(target, &dir.0, None);
    publisher
        .publish(&big_envelope(0, SIZE), now_ms())
        .await
        .unwrap();

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (done, path) = (Arc::clone(&done), path.clone());
        tokio::task::spawn_blocking(move || {
            let (mut reads, mut last) = (0u32, 0u32);
            while !done.load(Ordering::SeqCst) {
                let seq = check_envelope(&std::fs::read(&path).unwrap(), SIZE);
                assert!(seq >= last, "went back from {last} to {seq}");
                last = seq;
                reads += 1;
            }
            reads
        })
    };
    for seq in 1..=WRITES {
        publisher
            .publish(&big_envelope(seq, SIZE), now_ms())
            .await
            .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    assert!(reads > 0);
    assert_eq!(check_envelope(&std::fs::read(&path).unwrap(), SIZE), WRITES);
    // No temporary files left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["health.json"]);
}

#[tokio::test]
async fn a_file_in_a_missing_directory_is_a_write_error() {
    let dir = TempDir::new("missing");
    let target = target("kind = \"file\"\npath = \"no/such/dir/health.json\"");
    let error = Publisher::new(target, &dir.0, None)
        .publish(b"x", now_ms())
        .await
        .unwrap_err();
    assert!(matches!(&error, PublishFailure::Write { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!(
        "cannot write {}: ",
        dir.0.join("no/such/dir/health.json").display()
    )));
}

#[tokio::test]
async fn publishers_skip_a_target_still_busy_with_the_previous_snapshot() {
    // An endpoint that holds its answer until told: the second publication starts while the
    // first is on it, whatever the machine's load.
    let arrived = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let count = Arc::new(AtomicUsize::new(0));
    let server = {
        let (arrived, release, count) = (
            Arc::clone(&arrived),
            Arc::clone(&release),
            Arc::clone(&count),
        );
        LocalServer::start(move |_| {
            let (arrived, release, count) = (
                Arc::clone(&arrived),
                Arc::clone(&release),
                Arc::clone(&count),
            );
            async move {
                // Only the first request is held.
                if count.fetch_add(1, Ordering::SeqCst) == 0 {
                    arrived.notify_one();
                    release.notified().await;
                }
                raw(200, Vec::new())
            }
        })
        .await
    };
    let dir = TempDir::new("busy");
    let targets = vec![
        target(&format!(
            "kind = \"http\"\nurl = \"{}\"",
            server.url("/held")
        )),
        target("kind = \"file\"\npath = \"health.json\""),
    ];
    let publishers = Publishers::new(targets, &dir.0).unwrap();
    let http_name = format!("http {}", server.url("/held"));
    assert_eq!(
        publishers.names(),
        [http_name.clone(), "file health.json".to_owned()]
    );
    let now = now_ms();
    let (first, second) =
        tokio::join!(publishers.publish(Bytes::from_static(b"one"), now), async {
            arrived.notified().await;
            let second = publishers
                .publish(Bytes::from_static(b"two"), now + 100)
                .await;
            release.notify_one();
            second
        });
    let outcomes = |outcomes: &[(String, Result<(), String>)]| -> Vec<String> {
        outcomes.iter().map(|(n, r)| format!("{n} {r:?}")).collect()
    };
    assert_eq!(
        outcomes(&first),
        [
            format!("{http_name} Ok(())"),
            "file health.json Ok(())".to_owned()
        ]
    );
    // The held target was skipped (the file target, written in a moment, may have been free
    // again or not), and the endpoint saw one request.
    assert!(
        outcomes(&second).iter().all(|o| !o.starts_with(&http_name)),
        "{second:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // Once free, every target takes the next snapshot.
    let third = publishers
        .publish(Bytes::from_static(b"three"), now + 200)
        .await;
    assert_eq!(
        outcomes(&third),
        [
            format!("{http_name} Ok(())"),
            "file health.json Ok(())".to_owned()
        ]
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(std::fs::read(dir.0.join("health.json")).unwrap(), b"three");
}

#[test]
fn no_failure_shows_a_token() {
    let publisher = Publisher::new(
        target("kind = \"cloudflare-kv\"\naccount_id = \"a\"\nnamespace_id = \"n\""),
        Path::new("."),
        token("very-secret-token"),
    );
    assert!(!format!("{publisher:?}").contains("very-secret-token"));
}
