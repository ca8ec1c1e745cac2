//! The local live event's layout: which parts exist, where each listens, and the configuration
//! documents each is started with. Pure: addresses and paths come in, text comes out, so the
//! whole wiring can be read (and tested) without starting anything.
//!
//! ```text
//! viewer ─▶ edge (watch page, master playlist) ─────────────────────────────┐
//!    │                                                                       ▼
//!    └─▶ cdn-X fault injector ─▶ cdn-X edge (tokens) ─▶ cdn-X nginx cache ─▶ shield ─▶ origin zone a
//!                                                                             (nginx)  └▶ origin zone b
//! ```
//!
//! The three CDNs listen on one port of three loopback addresses (127.0.0.1, .2 and .3): like
//! real CDNs they differ in host name, which is all Content Steering can change in a URI.
//!
//! Every CDN is modelled as it runs in production: the edge component at the CDN's point of
//! presence checks the session token on every request, and the CDN's own cache (here nginx with
//! `proxy_cache`) sits between it and the origin. The shield is the origin region's load
//! balancer: it sends every request to zone a and moves to zone b, which encodes the same
//! channel hot with the same numbering, when zone a does not answer.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// The CDNs, in the order every document lists them, with their static weights (basis points).
pub(crate) const CDNS: [(&str, u16); 3] = [("cdn-a", 4000), ("cdn-b", 3000), ("cdn-c", 3000)];

/// The key id of the development ticket key, health key and content keys.
pub(crate) const KEY_ID: &str = "dev-1";

/// The ticket audience and issuer the edges expect.
pub(crate) const AUDIENCE: &str = "usher";
/// See [`AUDIENCE`].
pub(crate) const ISSUER: &str = "usher-dev";

/// `events.json`: one origin (the shield, or a CDN's cache in front of it) and one event whose
/// channel is at `{origin}{event}/` (the origin serves `/{channel}/master.m3u8`).
pub(crate) fn events_json(
    event: &str,
    title: &str,
    origin: SocketAddr,
    doors_open_ms: Option<u64>,
) -> String {
    let mut entry = serde_json::Map::new();
    entry.insert("id".into(), event.into());
    entry.insert("title".into(), title.into());
    entry.insert("origin".into(), "origin".into());
    entry.insert("origin_path".into(), format!("{event}/").into());
    if let Some(doors) = doors_open_ms {
        entry.insert(
            "admission".into(),
            serde_json::json!({ "doors_open_ms": doors }),
        );
    }
    let document = serde_json::json!({
        "origins": [{"id": "origin", "base_url": format!("http://{origin}/")}],
        "events": [entry],
    });
    document.to_string()
}

/// The event's waiting room: the edges learn when the doors open, the controller the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    /// When the doors open, Unix ms.
    pub(crate) doors_open_ms: u64,
    /// Viewers admitted per minute.
    pub(crate) rate_per_min: u32,
    /// At most this many admitted viewers at once.
    pub(crate) cap: Option<u64>,
}

/// `pathways.json`: the three CDNs at the addresses viewers reach them on (their fault
/// injectors).
pub(crate) fn pathways_json(cdns: &[SocketAddr]) -> String {
    let pathways: Vec<_> = CDNS
        .iter()
        .zip(cdns)
        .map(|((id, weight), address)| {
            serde_json::json!({"id": id, "base_url": format!("http://{address}/"), "static_weight_bp": weight})
        })
        .collect();
    serde_json::json!({ "pathways": pathways }).to_string()
}

/// `settings.json`. Session tokens live `session_ttl_secs`: an active player re-mints its token
/// on every playlist reload, so the TTL is how long a copied URL keeps working. Steering
/// manifests are reloaded every 5 s (the least the edge allows) so a health change reaches players quickly.
pub(crate) fn settings_json(session_ttl_secs: u64) -> String {
    serde_json::json!({
        "ticket": {"audience": AUDIENCE, "issuer": ISSUER, "leeway_secs": 30,
                   "query_param": "ticket", "cookie": "usher_ticket"},
        "session": {"ttl_secs": session_ttl_secs, "query_param": "__token__", "algorithm": "sha256"},
        "playlist": {"max_bytes": 65536, "stale_if_error_secs": 10},
        "steering": {"ttl_secs": 5},
        "leases": {"ttl_secs": 30},
    })
    .to_string()
}

/// A `{"dev-1": "hex"}` keyring document.
pub(crate) fn keyring_json(secret_hex: &str) -> String {
    serde_json::json!({ KEY_ID: secret_hex }).to_string()
}

/// One nginx instance: a CDN's cache in front of the shield, or the shield in front of the two
/// origin zones.
pub(crate) struct Nginx<'a> {
    /// Its name: the cache zone's name and the `Cache-Status` cache name.
    pub(crate) name: &'a str,
    /// Its directory: pid file, logs, temporary files and the cache.
    pub(crate) dir: &'a Path,
    /// Where it listens.
    pub(crate) listen: SocketAddr,
    /// Where it sends misses: the first is preferred, the rest are backups.
    pub(crate) upstreams: &'a [SocketAddr],
    /// Whether it caches (a CDN) or only balances (the shield).
    pub(crate) cache: bool,
    /// Whether the master process runs as root, so its worker must be told to stay root to
    /// write the cache directory the supervisor created.
    pub(crate) root: bool,
}

/// The nginx configuration for `site`, a complete `nginx.conf` run with `nginx -c FILE -p DIR`.
///
/// A CDN caches what the origin allows (its `Cache-Control`: segments for a year, live
/// playlists for a second, blocking reloads keyed by their `_HLS_msn`/`_HLS_part` query),
/// collapses concurrent misses into one origin request (`proxy_cache_lock`), serves stale
/// copies while the origin errs, and says what it did in `Cache-Status` (RFC 9211), which the
/// controller's probes read. The shield retries the backup zone on a refused connection, a
/// timeout, a 5xx or a 404 (a segment the other zone's encoder has not written yet, or missed):
/// both zones number segments on the same epoch grid, so either one's copy will do.
pub(crate) fn nginx_conf(site: &Nginx<'_>) -> String {
    let dir = site.dir.display();
    let name = site.name;
    let mut conf = String::new();
    if site.root {
        conf.push_str("user root;\n");
    }
    let _ = write!(
        conf,
        "worker_processes 1;\n\
         daemon off;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20 access_log {dir}/access.log;\n\
         \x20 client_body_temp_path {dir}/tmp/body;\n\
         \x20 proxy_temp_path {dir}/tmp/proxy;\n\
         \x20 fastcgi_temp_path {dir}/tmp/fastcgi;\n\
         \x20 uwsgi_temp_path {dir}/tmp/uwsgi;\n\
         \x20 scgi_temp_path {dir}/tmp/scgi;\n\
         \x20 server_tokens off;\n"
    );
    if site.cache {
        let _ = write!(
            conf,
            "  proxy_cache_path {dir}/cache levels=1:2 keys_zone={name}:10m max_size=1g inactive=10m use_temp_path=off;\n\
             \x20 map $upstream_cache_status $usher_cache_status {{\n\
             \x20   HIT \"{name}; hit\";\n\
             \x20   STALE \"{name}; hit; detail=stale\";\n\
             \x20   UPDATING \"{name}; hit; detail=updating\";\n\
             \x20   REVALIDATED \"{name}; fwd=stale; fwd-status=304\";\n\
             \x20   EXPIRED \"{name}; fwd=stale\";\n\
             \x20   BYPASS \"{name}; fwd=bypass\";\n\
             \x20   default \"{name}; fwd=uri-miss\";\n\
             \x20 }}\n"
        );
    }
    conf.push_str("  upstream origin {\n");
    for (i, upstream) in site.upstreams.iter().enumerate() {
        let role = if i == 0 {
            " max_fails=1 fail_timeout=5s"
        } else {
            " backup"
        };
        let _ = writeln!(conf, "    server {upstream}{role};");
    }
    let _ = write!(
        conf,
        "    keepalive 16;\n\
         \x20 }}\n\
         \x20 server {{\n\
         \x20   listen {listen};\n\
         \x20   location / {{\n\
         \x20     proxy_pass http://origin;\n\
         \x20     proxy_http_version 1.1;\n\
         \x20     proxy_set_header Connection \"\";\n\
         \x20     proxy_connect_timeout 1s;\n\
         \x20     proxy_read_timeout 70s;\n",
        listen = site.listen
    );
    if site.cache {
        let _ = write!(
            conf,
            "      proxy_cache {name};\n\
             \x20     proxy_cache_lock on;\n\
             \x20     proxy_cache_lock_timeout 5s;\n\
             \x20     proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;\n\
             \x20     add_header Cache-Status $usher_cache_status always;\n"
        );
    } else {
        conf.push_str(
            "      proxy_next_upstream error timeout http_404 http_500 http_502 http_503 http_504;\n\
             \x20     proxy_next_upstream_tries 2;\n",
        );
    }
    conf.push_str("    }\n  }\n}\n");
    conf
}

/// What the controller is started with.
pub(crate) struct Control<'a> {
    /// The event's id.
    pub(crate) event: &'a str,
    /// The media playlist probed through every CDN, relative to the event's directory.
    pub(crate) probe_playlist: &'a str,
    /// The CDNs' public addresses (their fault injectors), in [`CDNS`] order.
    pub(crate) cdns: &'a [SocketAddr],
    /// The edges' QoE logs, followed.
    pub(crate) qoe_files: &'a [&'a Path],
    /// Where the sealed snapshot is written (every edge reads it).
    pub(crate) publish: &'a Path,
    /// The event's waiting room, if it has one.
    pub(crate) admission: Option<Admission>,
}

/// The controller's configuration (docs/controller.md), tuned for a demonstration on one
/// machine: an evaluation every second, probes every half second, and a model that reacts within
/// seconds (a production event would use the defaults: 5 s, and a slower, steadier model).
pub(crate) fn control_toml(control: &Control<'_>) -> String {
    let mut toml = String::from(
        "interval_ms = 1000\n\
         metrics_window_ms = 10000\n\
         viewer_window_ms = 10000\n\
         [signing]\n\
         key_id = \"dev-1\"\n\
         keys_file = \"health-keys.json\"\n\
         [probe]\n\
         interval_ms = 500\n\
         timeout_ms = 2000\n\
         session_key_file = \"session-key.txt\"\n\
         [health]\n\
         half_life_ms = 3000\n\
         stale_after_ms = 8000\n\
         snapshot_ttl_ms = 30000\n\
         [health.gate]\n\
         half_life_ms = 1500\n\
         min_requests = 4.0\n\
         [health.steering]\n\
         min_dwell_ms = 2000\n\
         max_migration_bp = 1500\n\
         [health.score]\n\
         throughput_target_bps = 4000000.0\n",
    );
    let _ = write!(
        toml,
        "[[event]]\nid = \"{}\"\nprobe_playlists = [\"{}\"]\n",
        control.event, control.probe_playlist
    );
    if let Some(a) = control.admission {
        let _ = write!(
            toml,
            "[event.admission]\ndoors_open_ms = {}\nrate_per_min = {}\n",
            a.doors_open_ms, a.rate_per_min
        );
        if let Some(cap) = a.cap {
            let _ = writeln!(toml, "cap = {cap}");
        }
    }
    for ((id, weight), address) in CDNS.iter().zip(control.cdns) {
        let _ = write!(
            toml,
            "[[cdn]]\nid = \"{id}\"\nbase_url = \"http://{address}/\"\nstatic_weight_bp = {weight}\n"
        );
    }
    let files: Vec<String> = control
        .qoe_files
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let _ = write!(
        toml,
        "[qoe]\nfiles = [{}]\n[[publish]]\nkind = \"file\"\npath = {:?}\n",
        files.join(", "),
        control.publish.display().to_string()
    );
    toml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn edge_documents_parse_as_the_edge_core_reads_them() {
        for doors in [None, Some(1_767_225_600_000)] {
            let events = events_json("final", "The Final", addr(9000), doors);
            let pathways = pathways_json(&[addr(1), addr(2), addr(3)]);
            let settings = settings_json(30);
            let keys =
                keyring_json("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
            let session = "00112233445566778899aabbccddeeff";
            let config = usher_edge_core::config::EdgeConfig::from_parts(
                &usher_edge_core::config::ConfigParts {
                    events: Some(events.as_bytes()),
                    pathways: Some(pathways.as_bytes()),
                    settings: Some(settings.as_bytes()),
                    ticket_keys: Some(keys.as_bytes()),
                    session_key: Some(session.as_bytes()),
                    content_keys: None,
                    health_keys: Some(keys.as_bytes()),
                },
            );
            let config = match config {
                Ok(config) => config,
                Err(e) => panic!("{e}"),
            };
            let room = config.event("final").and_then(|e| e.admission);
            assert_eq!(room.map(|a| a.doors_open_ms), doors);
        }
    }

    #[test]
    fn a_cdn_caches_and_reports_its_cache_status_and_the_shield_fails_over() {
        let dir = Path::new("/tmp/usher-dev/cdn-a");
        let cdn = nginx_conf(&Nginx {
            name: "cdn-a",
            dir,
            listen: addr(8501),
            upstreams: &[addr(8500)],
            cache: true,
            root: false,
        });
        assert!(cdn.contains("proxy_cache cdn-a;"));
        assert!(cdn.contains("proxy_cache_lock on;"));
        assert!(cdn.contains("add_header Cache-Status $usher_cache_status always;"));
        assert!(cdn.contains("listen 127.0.0.1:8501;"));
        assert!(!cdn.contains("user root"));
        assert!(!cdn.contains("proxy_next_upstream"));
        let shield = nginx_conf(&Nginx {
            name: "shield",
            dir,
            listen: addr(8500),
            upstreams: &[addr(8411), addr(8412)],
            cache: false,
            root: true,
        });
        assert!(shield.starts_with("user root;\n"));
        assert!(shield.contains("server 127.0.0.1:8411 max_fails=1 fail_timeout=5s;"));
        assert!(shield.contains("server 127.0.0.1:8412 backup;"));
        assert!(shield.contains("proxy_next_upstream error timeout http_404"));
        assert!(!shield.contains("proxy_cache "));
    }

    #[test]
    fn controller_configuration_with_a_waiting_room_parses_with_its_rate_and_cap() {
        let qoe = [Path::new("/tmp/a.jsonl")];
        let text = control_toml(&Control {
            event: "final",
            probe_playlist: "240p/index.m3u8",
            cdns: &[addr(1), addr(2), addr(3)],
            qoe_files: &qoe,
            publish: Path::new("/tmp/health.json"),
            admission: Some(Admission {
                doors_open_ms: 1_767_225_600_000,
                rate_per_min: 45,
                cap: Some(7),
            }),
        });
        let config = match usher_control::config::ControlConfig::from_toml(&text) {
            Ok(config) => config,
            Err(e) => panic!("{e}\n{text}"),
        };
        let room = config.events.first().and_then(|e| e.admission.as_ref());
        assert!(room.is_some(), "{text}");
        assert!(text.contains(
            "[event.admission]\ndoors_open_ms = 1767225600000\nrate_per_min = 45\ncap = 7\n"
        ));
    }

    #[test]
    fn controller_configuration_parses_and_lists_the_cdns_in_order() {
        let qoe = [Path::new("/tmp/a.jsonl"), Path::new("/tmp/b.jsonl")];
        let text = control_toml(&Control {
            event: "final",
            probe_playlist: "240p/index.m3u8",
            cdns: &[addr(1), addr(2), addr(3)],
            qoe_files: &qoe,
            publish: Path::new("/tmp/health.json"),
            admission: None,
        });
        let config = usher_control::config::ControlConfig::from_toml(&text);
        let config = match config {
            Ok(config) => config,
            Err(e) => panic!("{e}\n{text}"),
        };
        let ids: Vec<&str> = config.cdns.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["cdn-a", "cdn-b", "cdn-c"]);
        assert!(text.contains("files = [\"/tmp/a.jsonl\", \"/tmp/b.jsonl\"]"));
    }
}
