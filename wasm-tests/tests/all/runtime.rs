//! The three platforms' real runtimes, each started as its own process on 127.0.0.1 and
//! stopped when dropped:
//!
//! - **wasmtime**: the WASI-HTTP component under `usher edge serve` (wasmtime and
//!   wasmtime-wasi-http, the pooling allocator, a fresh instance per request), with a lease
//!   store the test controls (`--lease-store`) and a fuel budget per request (`--fuel-per-request`);
//! - **Viceroy**: the Fastly module under `viceroy serve` (the pinned binary), with a
//!   generated `fastly.toml`: backends, Config Store, Secret Store, KV stores, geolocation;
//! - **workerd**: the Cloudflare Worker under the npm `workerd` binary, with the config
//!   `edge/cloudflare/local/workerd-config.mjs` generates.
//!
//! Each is given the same configuration documents, with the events' origin pointed at the
//! local origin, and the same health snapshot bytes in its store (`health.json` for `usher edge
//! serve`, the `usher_health` KV store for Viceroy, the `USHER_HEALTH` namespace for workerd). A
//! document left out (`None`) is missing on that platform, as a missing secret would be.
#![cfg(test)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::case::ClientSpec;
use crate::tools;

/// The platforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Wasmtime,
    Viceroy,
    Workerd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Wasmtime => "wasmtime",
            Kind::Viceroy => "viceroy",
            Kind::Workerd => "workerd",
        }
    }

    /// The client facts this runtime hands the edge for a request the test sends on behalf of
    /// `case`'s client, and the request headers that carry them there.
    pub fn client(self, case: &ClientSpec) -> (ClientSpec, Vec<(&'static str, String)>) {
        match self {
            // The connection's address; country and ASN from trusted headers named at start.
            Kind::Wasmtime => {
                let mut headers = Vec::new();
                if let Some(country) = &case.country {
                    headers.push((COUNTRY_HEADER, country.clone()));
                }
                if let Some(asn) = case.asn {
                    headers.push((ASN_HEADER, asn.to_string()));
                }
                let client = ClientSpec {
                    ip: Some("127.0.0.1".into()),
                    ..case.clone()
                };
                (client, headers)
            }
            // The connection's address, geolocated by the generated fastly.toml.
            Kind::Viceroy => (
                ClientSpec {
                    ip: Some("127.0.0.1".into()),
                    country: Some(GEO_COUNTRY.into()),
                    asn: Some(GEO_ASN),
                },
                Vec::new(),
            ),
            // Cloudflare's CF-Connecting-IP, which workerd passes through; no `request.cf`, so
            // no geolocation.
            Kind::Workerd => {
                let headers = case
                    .ip
                    .iter()
                    .map(|ip| ("cf-connecting-ip", ip.clone()))
                    .collect();
                let client = ClientSpec {
                    ip: case.ip.clone(),
                    country: None,
                    asn: None,
                };
                (client, headers)
            }
        }
    }
}

impl Kind {
    /// `request` as this runtime's platform hands it to the edge. Fastly's SDK parses the URL
    /// with WHATWG URL rules: percent-encoded dots are dot segments, and dot segments are
    /// resolved (URL Standard, "path state").
    pub fn presented(self, request: &http::Request<()>) -> http::Request<()> {
        let mut presented = request.clone();
        if self == Kind::Viceroy {
            let uri = request.uri();
            let mut segments: Vec<&str> = Vec::new();
            let path = uri.path().replace("%2e", ".").replace("%2E", ".");
            for segment in path.split('/').skip(1) {
                match segment {
                    ".." => {
                        segments.pop();
                    }
                    "." => {}
                    other => segments.push(other),
                }
            }
            let mut resolved = format!("/{}", segments.join("/"));
            if let Some(query) = uri.query() {
                resolved = format!("{resolved}?{query}");
            }
            *presented.uri_mut() = resolved.parse().unwrap();
        }
        presented
    }
}

/// How long a runtime may take to start serving. `usher edge serve` in a debug build compiles
/// the component with an unoptimised Cranelift (seconds on an idle machine, minutes on a
/// machine busy compiling); a runtime that never starts still fails, just not spuriously.
const START_LIMIT: Duration = Duration::from_secs(600);

const COUNTRY_HEADER: &str = "x-test-country";
const ASN_HEADER: &str = "x-test-asn";
/// Where Viceroy's geolocation puts 127.0.0.1: the conformance cases' client.
const GEO_COUNTRY: &str = "DE";
const GEO_ASN: u32 = 3320;

/// The configuration documents a runtime is started with.
#[derive(Clone, Debug)]
pub struct Documents {
    pub events: Option<Vec<u8>>,
    pub pathways: Option<Vec<u8>>,
    pub settings: Option<Vec<u8>>,
    pub ticket_keys: Option<Vec<u8>>,
    pub session_key: Option<Vec<u8>>,
    pub content_keys: Option<Vec<u8>>,
    pub health_keys: Option<Vec<u8>>,
    /// The health snapshot in the platform's store (the controller's envelope, or whatever
    /// else a case puts there).
    pub health: Option<Vec<u8>>,
}

impl Documents {
    /// The conformance configuration, its origin moved to `origin_url`.
    pub fn conformance(origin_url: &str) -> Documents {
        let events = String::from_utf8(crate::case::document("events.json"))
            .unwrap()
            .replace("https://origin-eu.example/", origin_url);
        Documents {
            events: Some(events.into_bytes()),
            pathways: Some(crate::case::document("pathways.json")),
            settings: Some(crate::case::document("settings.json")),
            ticket_keys: Some(crate::case::document("ticket-keys.json")),
            session_key: Some(crate::case::document("session-key.txt")),
            content_keys: Some(crate::case::document("content-keys.json")),
            health_keys: Some(crate::case::document("health-keys.json")),
            health: None,
        }
    }

    /// The documents as files: file name, the platform's key for it, bytes.
    fn files(&self) -> [(&'static str, &'static str, Option<&Vec<u8>>); 7] {
        [
            ("events.json", "events", self.events.as_ref()),
            ("pathways.json", "pathways", self.pathways.as_ref()),
            ("settings.json", "settings", self.settings.as_ref()),
            ("ticket-keys.json", "ticket-keys", self.ticket_keys.as_ref()),
            ("session-key.txt", "session-key", self.session_key.as_ref()),
            (
                "content-keys.json",
                "content-keys",
                self.content_keys.as_ref(),
            ),
            ("health-keys.json", "health-keys", self.health_keys.as_ref()),
        ]
    }

    /// Writes the documents present as files into `dir` (`usher edge serve --config`, and
    /// workerd-config.mjs's `--config`), the health snapshot as `health.json`.
    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (file, _, bytes) in self.files() {
            if let Some(bytes) = bytes {
                std::fs::write(dir.join(file), bytes).unwrap();
            }
        }
        if let Some(health) = &self.health {
            std::fs::write(dir.join("health.json"), health).unwrap();
        }
    }
}

/// How to start a runtime.
pub struct Setup {
    pub label: String,
    pub documents: Documents,
    /// The origin's id in `events` (the Fastly backend's name) and its URL.
    pub origin: (String, String),
    /// wasmtime: the lease store service.
    pub lease_store: Option<String>,
    /// Viceroy and workerd: lease records in the platform's store at start.
    pub seeds: Vec<(String, Vec<u8>)>,
    /// wasmtime: the fuel budget of one request.
    pub fuel: Option<u64>,
}

/// A runtime serving on `addr`.
pub struct Running {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// workerd: the directory its lease namespace reads records through from, by key.
    pub lease_seeds: Option<PathBuf>,
    /// wasmtime: the `--config` directory, whose `health.json` `usher edge serve` rereads.
    config: Option<PathBuf>,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    fuel: mpsc::UnboundedReceiver<(String, String, u64)>,
}

impl Running {
    pub async fn start(kind: Kind, setup: &Setup) -> Running {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("runtimes")
            .join(format!("{}-{}", kind.name(), setup.label));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut command, addr) = match kind {
            Kind::Wasmtime => (wasmtime(setup, &dir), None),
            Kind::Viceroy => {
                let addr = free_addr();
                (viceroy(setup, &dir, addr), Some(addr))
            }
            Kind::Workerd => {
                let addr = free_addr();
                (workerd(setup, &dir, addr).await, Some(addr))
            }
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", kind.name()));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (fuel_tx, fuel) = mpsc::unbounded_channel();
        let (listening_tx, mut listening) = mpsc::unbounded_channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            let (fuel_tx, listening_tx) = (fuel_tx.clone(), listening_tx.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(fuel) = fuel_line(&line) {
                        let _ = fuel_tx.send(fuel);
                    }
                    if let Some(addr) = line
                        .split("listening on http://")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                    {
                        let _ = listening_tx.send(addr);
                    }
                    output.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + START_LIMIT;
        let addr = loop {
            if let Some(addr) = addr
                && tokio::net::TcpStream::connect(addr).await.is_ok()
            {
                break addr;
            }
            if let Ok(found) = listening.try_recv() {
                break found;
            }
            if let Ok(Some(status)) = child.try_wait() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "{} exited with {status} before serving:\n{}",
                    kind.name(),
                    output.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start serving within {START_LIMIT:?}:\n{}",
                kind.name(),
                output.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Running {
            kind,
            addr,
            lease_seeds: (kind == Kind::Workerd).then(|| dir.join(WORKERD_LEASE_SEEDS)),
            config: (kind == Kind::Wasmtime).then(|| dir.join("config")),
            child,
            output,
            fuel,
        }
    }

    /// The fuel the next finished request used (wasmtime only): method, path, fuel.
    pub async fn next_fuel(&mut self) -> Option<(String, String, u64)> {
        tokio::time::timeout(Duration::from_secs(5), self.fuel.recv())
            .await
            .ok()
            .flatten()
    }

    /// The runtime's output so far: its log, for a failure message.
    pub fn output(&self) -> String {
        self.output_since(0)
    }

    /// How many lines of output there are so far.
    pub fn lines(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// The output from line `since` on.
    pub fn output_since(&self, since: usize) -> String {
        let output = self.output.lock().unwrap();
        output.get(since..).unwrap_or_default().join("\n")
    }

    /// wasmtime: replaces the health snapshot in the store (`health.json`, written then renamed
    /// as the controller does; `None` removes it) and waits until `usher edge serve` says new
    /// requests get it.
    pub async fn set_health(&self, health: Option<&[u8]>) {
        let config = self.config.as_ref().expect("a wasmtime runtime");
        let path = config.join("health.json");
        let since = self.lines();
        match health {
            Some(bytes) => {
                let next = config.join("health.json.next");
                std::fs::write(&next, bytes).unwrap();
                std::fs::rename(&next, &path).unwrap();
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        // It polls the file every second.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = self.output_since(since);
            if output.contains("health.json changed") || output.contains("health.json removed") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "usher edge serve did not take the new health.json within 10 s:\n{output}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still running (a trap must never take the runtime down).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// `usher edge serve: fuel METHOD PATH USED`.
fn fuel_line(line: &str) -> Option<(String, String, u64)> {
    let rest = line.split("usher edge serve: fuel ").nth(1)?;
    let mut fields = rest.split_whitespace();
    let (method, path, used) = (fields.next()?, fields.next()?, fields.next()?);
    Some((method.to_owned(), path.to_owned(), used.parse().ok()?))
}

/// A port nothing listens on now (the runtimes that cannot report the port they bound).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn wasmtime(setup: &Setup, dir: &Path) -> Command {
    let config = dir.join("config");
    setup.documents.write(&config);
    let mut command = Command::new(tools::usher());
    command
        .args(["edge", "serve", "--listen", "127.0.0.1:0"])
        .arg("--wasm")
        .arg(tools::wasi_component())
        .arg("--config")
        .arg(&config)
        .arg("--assets")
        .arg(tools::assets())
        .args(["--geo-country-header", COUNTRY_HEADER])
        .args(["--geo-asn-header", ASN_HEADER]);
    if let Some(store) = &setup.lease_store {
        command.args(["--lease-store", store]);
    }
    if let Some(fuel) = setup.fuel {
        command.args(["--fuel-per-request", &fuel.to_string()]);
    }
    command
}

fn viceroy(setup: &Setup, dir: &Path, addr: SocketAddr) -> Command {
    // The Config Store holds the three documents as JSON strings; the Secret Store the keys.
    let mut config = serde_json::Map::new();
    let mut secrets = Vec::new();
    for (file, key, bytes) in setup.documents.files() {
        let Some(bytes) = bytes else { continue };
        if matches!(
            key,
            "ticket-keys" | "session-key" | "content-keys" | "health-keys"
        ) {
            std::fs::write(dir.join(file), bytes).unwrap();
            secrets.push(format!("{{ key = {key:?}, file = {file:?} }}"));
        } else {
            config.insert(key.into(), String::from_utf8(bytes.clone()).unwrap().into());
        }
    }
    config.insert("qoe-log-endpoint".into(), "usher_qoe".into());
    config.insert("access-log-endpoint".into(), "usher_access".into());
    std::fs::write(
        dir.join("config-store.json"),
        serde_json::Value::Object(config).to_string(),
    )
    .unwrap();
    let mut leases = Vec::new();
    for (i, (key, value)) in setup.seeds.iter().enumerate() {
        let file = format!("lease-{i}.json");
        std::fs::write(dir.join(&file), value).unwrap();
        leases.push(format!("{{ key = {key:?}, file = {file:?} }}"));
    }
    // The health snapshot, when there is one, under the key the adapter reads.
    let health = match &setup.documents.health {
        Some(bytes) => {
            std::fs::write(dir.join("health.json"), bytes).unwrap();
            r#"{ key = "snapshot", file = "health.json" }"#
        }
        None => "",
    };
    let asset = "hls.js/1.7.4/hls.min.js";
    let (origin_id, origin_url) = &setup.origin;
    let manifest = format!(
        r#"# Generated by wasm-tests: the Fastly module under Viceroy, against the local origin.
manifest_version = 3
name = "usher-edge-wasm-tests"
language = "other"

[local_server.backends.{origin_id}]
url = "{origin_url}"
first_byte_timeout_ms = 10000
between_bytes_timeout_ms = 10000

[local_server.config_stores.usher_config]
file = "config-store.json"
format = "json"

[local_server.secret_stores]
usher_secrets = [{secrets}]

[local_server.kv_stores]
usher_health = [{health}]
usher_assets = [{{ key = "{asset}", file = "{assets}/{asset}" }}]
usher_leases = [{leases}]

[local_server.geolocation]
use_default_loopback = false
format = "inline-toml"

[local_server.geolocation.addresses."127.0.0.1"]
as_name = "Deutsche Telekom AG"
as_number = {GEO_ASN}
area_code = 0
city = "Berlin"
conn_speed = "broadband"
conn_type = "wired"
continent = "EU"
country_code = "{GEO_COUNTRY}"
country_code3 = "DEU"
country_name = "Germany"
latitude = 52.52
longitude = 13.405
metro_code = 0
postal_code = "10115"
proxy_description = "?"
proxy_type = "?"
region = "BE"
utc_offset = 100
"#,
        secrets = secrets.join(", "),
        leases = leases.join(", "),
        assets = tools::assets().display(),
    );
    std::fs::write(dir.join("fastly.toml"), manifest).unwrap();
    let mut command = Command::new(tools::viceroy());
    command
        .current_dir(dir)
        .args(["serve", "-C", "fastly.toml", "--addr", &addr.to_string()])
        .arg(tools::fastly_module());
    command
}

/// Where workerd-config.mjs puts the lease namespace's seed directory, below a runtime's dir.
const WORKERD_LEASE_SEEDS: &str = "workerd/seed/USHER_LEASES";

async fn workerd(setup: &Setup, dir: &Path, addr: SocketAddr) -> Command {
    let config = dir.join("config");
    setup.documents.write(&config);
    let out = dir.join("workerd");
    let generated = Command::new("node")
        .arg(tools::repo().join("edge/cloudflare/local/workerd-config.mjs"))
        .arg("--config")
        .arg(&config)
        .arg("--worker")
        .arg(tools::worker_dir())
        .arg("--assets")
        .arg(tools::assets())
        .args(["--listen", &addr.to_string()])
        .arg("--out")
        .arg(&out)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run node ({e}): make test installs it"));
    assert!(
        generated.status.success(),
        "workerd-config.mjs failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    // Lease records are seeded as files below the namespace's seed directory, by key.
    for (key, value) in &setup.seeds {
        let path = dir.join(WORKERD_LEASE_SEEDS).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }
    let mut command = Command::new(tools::workerd());
    command.arg("serve").arg(out.join("workerd.capnp"));
    command
}
