//! Two whole nodes of one zone sharing a channel's lease through a real redis-server: the
//! standby encodes nothing and tells a load balancer so; it takes over when the active node
//! shuts down or is cut off from Redis, and a player following the zone misses nothing; the
//! active node keeps its channel through a Redis outage and a primary/replica failover.
//!
//! Live tests (see [`crate::origin`]), with 1 s segments and a 1.5 s lease so that a takeover
//! fits in a few seconds.
#![cfg(test)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use usher_origin::lease::key;
use usher_origin::lease::{Name, RedisConfig};
use usher_origin::node::NodeConfig;
use usher_origin::source::Source;
use usher_origin::timeline::Timeline;

use crate::origin::{Origin, Reply, ffmpeg_children, ffmpeg_for, get, live, spec};
use crate::redis::RedisServer;

/// The lease time to live: a standby takes over at most this plus one heartbeat (a third of
/// it) after the holder's last renewal.
const TTL: Duration = Duration::from_millis(1500);

/// One heartbeat.
const HEARTBEAT: Duration = Duration::from_millis(500);

/// Slack for a busy 2-core machine running two encoders.
const SLACK: Duration = Duration::from_millis(400);

/// A node of zone `a` with the channel `final` (test source, one 240p rung, 1 s segments of
/// two parts), its leases in `redis`.
fn node(test: &str, id: &str, redis: &str) -> NodeConfig {
    let mut channel = spec("final", Source::Test, "426x240");
    channel.encoding.timeline = Timeline::new(1000, 500).unwrap();
    NodeConfig {
        node: id.to_owned(),
        zone: "a".to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        data: PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("standby")
            .join(test)
            .join(id),
        redis: Some(redis.parse::<RedisConfig>().unwrap()),
        lease_ttl: TTL,
        ffmpeg: ffmpeg_for(&format!("standby-{test}")),
        capacity: 1e12,
        channels: vec![channel],
    }
}

/// The Redis key of zone `a`'s lease on `final`.
fn lease_key() -> String {
    key(&Name::new("a.final").unwrap())
}

/// The pids of the running encoders of `test`'s nodes (its channel has no push input, so
/// every FFmpeg a node of it runs is an encoder).
fn encoder_pids(test: &str) -> Vec<String> {
    ffmpeg_children(&format!("standby-{test}"))
}

fn encoders(test: &str) -> usize {
    encoder_pids(test).len()
}

/// A GET that may meet a node going away: `None` if it cannot connect or the answer does
/// not come whole within two seconds.
async fn try_get(addr: SocketAddr, path: &str) -> Option<Reply> {
    let path = path.to_owned();
    let attempt = async move {
        tokio::net::TcpStream::connect(addr).await.ok()?;
        // In a task of its own: the helper panics on a connection closed mid-answer.
        tokio::spawn(async move { get(addr, &path).await })
            .await
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

/// What a node's `/metrics` says of `final`'s lease and of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LeaseView {
    state: String,
    store_up: bool,
}

async fn lease(addr: SocketAddr) -> Option<LeaseView> {
    let text = try_get(addr, "/metrics").await?.text();
    let state = text
        .lines()
        .find_map(|l| l.strip_prefix("usher_origin_lease{channel=\"final\",state=\""))?
        .split('"')
        .next()?
        .to_owned();
    let store_up = text.lines().any(|l| l == "usher_origin_lease_store_up 1");
    Some(LeaseView { state, store_up })
}

/// Waits until `addr`'s lease on `final` is `state` (and the store up or down as said), and
/// returns when it was first seen so.
async fn wait_lease(addr: SocketAddr, state: &str, store_up: bool, within: Duration) -> Instant {
    let asked = Instant::now();
    loop {
        let seen = lease(addr).await;
        if seen
            .as_ref()
            .is_some_and(|v| v.state == state && v.store_up == store_up)
        {
            return Instant::now();
        }
        assert!(
            asked.elapsed() < within,
            "{addr}: not {state} (store up: {store_up}) within {within:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A segment a player took, from which node (an index into its nodes), and whether the
/// playlist listed it as a gap.
#[derive(Clone, Copy, Debug)]
struct Took {
    msn: u64,
    node: usize,
    gap: bool,
}

/// A media playlist's segments: number and whether it is tagged `EXT-X-GAP`.
fn entries(playlist: &str) -> Vec<(u64, bool)> {
    let mut gap = false;
    let mut out = Vec::new();
    for line in playlist.lines() {
        if line == "#EXT-X-GAP" {
            gap = true;
        } else if !line.starts_with('#')
            && let Some(msn) = line.strip_suffix(".m4s").and_then(|n| n.parse().ok())
        {
            out.push((msn, gap));
            gap = false;
        }
    }
    out
}

/// A player following a zone's nodes as a load balancer without health checks would make it:
/// it reads the 240p playlist from the node it is on, takes every segment listed after the
/// last it has (starting at the live edge), and moves to the next node whenever its node does
/// not answer 200. Runs until stopped; what it took is shared as it goes.
struct Player {
    took: Arc<Mutex<Vec<Took>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Player {
    fn follow(nodes: Vec<SocketAddr>) -> Player {
        let took = Arc::new(Mutex::new(Vec::<Took>::new()));
        let (stop, mut stopped) = watch::channel(false);
        let out = Arc::clone(&took);
        let task = tokio::spawn(async move {
            let mut on = 0;
            while !*stopped.borrow_and_update() {
                if !step(&nodes, &mut on, &out).await {
                    on = (on + 1) % nodes.len();
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        Player { took, stop, task }
    }

    fn took(&self) -> Vec<Took> {
        self.took.lock().unwrap().clone()
    }

    /// Waits until the player has taken `count` segments from node `node`.
    async fn wait_from(&self, node: usize, count: usize, within: Duration) {
        let asked = Instant::now();
        while self.took().iter().filter(|t| t.node == node).count() < count {
            assert!(
                asked.elapsed() < within,
                "not {count} segments from node {node} within {within:?}: {:?}",
                self.took()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops, and checks what was taken: every number once, in order, none missing and none
    /// a gap, from both nodes. Returns it.
    async fn finish(self) -> Vec<Took> {
        let _ = self.stop.send(true);
        let took = Arc::clone(&self.took);
        self.task.await.unwrap();
        let took = took.lock().unwrap().clone();
        for pair in took.windows(2) {
            assert_eq!(
                pair[1].msn,
                pair[0].msn + 1,
                "a segment missing across the switch: {took:?}"
            );
        }
        assert!(took.iter().all(|t| !t.gap), "a gap was listed: {took:?}");
        assert!(
            took.iter().any(|t| t.node == 0) && took.iter().any(|t| t.node == 1),
            "not both nodes: {took:?}"
        );
        took
    }
}

/// One playlist read and the segments it lists; `false` when the node did not answer.
async fn step(nodes: &[SocketAddr], on: &mut usize, took: &Mutex<Vec<Took>>) -> bool {
    let addr = nodes[*on];
    let Some(playlist) = try_get(addr, "/final/240p/index.m3u8")
        .await
        .filter(|r| r.status == 200)
    else {
        return false;
    };
    let listed = entries(&playlist.text());
    let Some(&(newest, _)) = listed.last() else {
        return true;
    };
    for (msn, gap) in listed {
        let last = took.lock().unwrap().last().map(|t| t.msn);
        match last {
            Some(last) if msn <= last => continue,
            None if msn + 1 < newest => continue,
            _ => {}
        }
        if !gap
            && !try_get(addr, &format!("/final/240p/{msn}.m4s"))
                .await
                .is_some_and(|s| s.status == 200 && !s.body.is_empty())
        {
            return false;
        }
        took.lock().unwrap().push(Took {
            msn,
            node: *on,
            gap,
        });
    }
    true
}

/// `/healthz`: its status and body.
async fn health(addr: SocketAddr) -> (u16, String) {
    let reply = try_get(addr, "/healthz").await.expect("health answered");
    (reply.status, reply.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_node_encodes_nothing_answers_503_stays_standby_through_a_killed_encoder_and_takes_over_a_clean_shutdown_with_no_missing_segment()
 {
    let _live = live().await;
    let mut redis = RedisServer::start("standby-handover", &[]);
    let mut a1 = Origin::launch(node("handover", "a1", &redis.url())).await;
    a1.wait_segments("240p", 2).await;
    let mut a2 = Origin::launch(node("handover", "a2", &redis.url())).await;
    wait_lease(a2.addr, "standby", true, Duration::from_secs(5)).await;

    // One encoder between the two nodes; the standby serves nothing live and tells a load
    // balancer not to send it players, saying why.
    assert_eq!(encoders("handover"), 1);
    let (status, body) = health(a2.addr).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"lease\":\"standby\""), "{body}");
    assert!(
        body.contains("\"status\":\"standby: a1 encodes it\""),
        "{body}"
    );
    assert!(body.contains("\"lease_store_up\":true"), "{body}");
    let (status, body) = health(a1.addr).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"lease\":\"active\""), "{body}");
    assert_ne!(a2.get("/final/240p/index.m3u8").await.status, 200);
    assert_eq!(redis.cli(&["GET", &lease_key()]), "a1");

    // A1's encoder dies: a1's own supervisor restarts it. The lease is the node's, not the
    // encoder's: the standby stays as it is (a cold start there would be no quicker).
    let killed = encoder_pids("handover");
    assert!(
        Command::new("kill")
            .args(["-KILL", &killed[0]])
            .status()
            .unwrap()
            .success()
    );
    let restarted = Instant::now();
    loop {
        let now = encoder_pids("handover");
        if now.len() == 1 && now != killed {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "not restarted: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Until the restarted encoder's segments are the newest two (the player starts there).
    loop {
        let listed = entries(&a1.get("/final/240p/index.m3u8").await.text());
        if listed.len() >= 3 && listed.iter().rev().take(2).all(|(_, gap)| !gap) {
            assert!(
                listed.iter().any(|(_, gap)| *gap),
                "no gap for the kill: {listed:?}"
            );
            break;
        }
        assert!(restarted.elapsed() < Duration::from_secs(10), "{listed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        lease(a2.addr).await.map(|v| v.state),
        Some("standby".to_owned())
    );
    assert_eq!(encoders("handover"), 1);

    let player = Player::follow(vec![a1.addr, a2.addr]);
    player.wait_from(0, 2, Duration::from_secs(10)).await;
    // A1 shuts down (a deploy): it hands its lease over and stays on the air until the
    // standby publishes.
    let (a1_addr, a2_addr) = (a1.addr, a2.addr);
    let asked = Instant::now();
    let shutting = tokio::spawn(async move {
        a1.shut().await;
        asked.elapsed()
    });
    let took_over = wait_lease(a2_addr, "active", true, Duration::from_secs(5)).await - asked;
    assert!(
        took_over <= HEARTBEAT + SLACK,
        "a released lease is taken at the standby's next heartbeat: {took_over:?}"
    );
    let shut_in = shutting.await.unwrap();
    assert!(
        try_get(a1_addr, "/healthz").await.is_none(),
        "a1 still answers"
    );
    assert!(
        shut_in < Duration::from_secs(10),
        "shutdown took {shut_in:?}"
    );
    let (status, body) = health(a2_addr).await;
    assert_eq!(status, 200, "{body}");
    player.wait_from(1, 3, Duration::from_secs(10)).await;
    let took = player.finish().await;
    assert_eq!(encoders("handover"), 1);
    assert_eq!(redis.cli(&["GET", &lease_key()]), "a2");
    eprintln!("handover: lease taken in {took_over:?}, a1 shut in {shut_in:?}: {took:?}");

    // Redis first, so that the last node has nobody to hand over to and stops at once.
    redis.stop();
    a2.shut().await;
    assert_eq!(encoders("handover"), 0, "an encoder left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_node_cut_off_from_redis_keeps_encoding_while_the_standby_takes_over_then_stands_by()
 {
    let _live = live().await;
    // Each node its own Redis user, so one node can be cut off while the other is not.
    let mut redis = RedisServer::start(
        "standby-partition",
        &[
            "--user",
            "a1",
            "on",
            ">a1-secret",
            "~usher:*",
            "+@all",
            "--user",
            "a2",
            "on",
            ">a2-secret",
            "~usher:*",
            "+@all",
        ],
    );
    let url = |user: &str| format!("redis://{user}:{user}-secret@127.0.0.1:{}", redis.port);
    let mut a1 = Origin::launch(node("partition", "a1", &url("a1"))).await;
    a1.wait_segments("240p", 2).await;
    let mut a2 = Origin::launch(node("partition", "a2", &url("a2"))).await;
    wait_lease(a2.addr, "standby", true, Duration::from_secs(5)).await;
    assert_eq!(encoders("partition"), 1);
    let player = Player::follow(vec![a1.addr, a2.addr]);
    player.wait_from(0, 2, Duration::from_secs(10)).await;

    // A1's heartbeats stop reaching Redis while its process runs on (a partition).
    assert_eq!(redis.cli(&["ACL", "SETUSER", "a1", "off"]), "OK");
    redis.cli(&["CLIENT", "KILL", "USER", "a1"]);
    let cut = Instant::now();
    let (_, taken) = tokio::join!(
        wait_lease(a1.addr, "active_unconfirmed", false, Duration::from_secs(5)),
        wait_lease(a2.addr, "active", true, Duration::from_secs(5))
    );
    let took_over = taken - cut;
    // A1's last renewal was at most a heartbeat before the cut: the lease lasted at least
    // TTL - HEARTBEAT after it, and A2 claims every heartbeat.
    assert!(
        took_over >= TTL - HEARTBEAT - SLACK,
        "taken over before the lease expired: {took_over:?}"
    );
    assert!(
        took_over <= TTL + HEARTBEAT + SLACK,
        "taken over late: {took_over:?}"
    );
    // Both encode now (harmless: the same numbers, the same timing); a1 stays healthy, since
    // its segments are fresh, and says its store is away.
    a2.wait_segments("240p", 2).await;
    assert_eq!(encoders("partition"), 2);
    let (status, body) = health(a1.addr).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"lease\":\"active_unconfirmed\""), "{body}");
    assert!(body.contains("\"lease_store_up\":false"), "{body}");
    assert_eq!(
        a1.get("/final/240p/init.mp4").await.body,
        a2.get("/final/240p/init.mp4").await.body,
        "the two nodes' init sections differ"
    );

    // A1 reaches Redis again, finds a2 holding the lease, and stops encoding.
    assert_eq!(redis.cli(&["ACL", "SETUSER", "a1", "on"]), "OK");
    wait_lease(a1.addr, "standby", true, Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while encoders("partition") != 1 {
        assert!(Instant::now() < deadline, "a1's encoder did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(health(a1.addr).await.0, 503);
    player.wait_from(1, 3, Duration::from_secs(10)).await;
    let took = player.finish().await;
    assert_eq!(redis.cli(&["GET", &lease_key()]), "a2");
    eprintln!("partition: lease taken {took_over:?} after the cut: {took:?}");

    redis.stop();
    a1.shut().await;
    a2.shut().await;
    assert_eq!(encoders("partition"), 0, "an encoder left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_redis_outage_and_a_late_replica_promotion_the_active_node_keeps_its_channel() {
    let _live = live().await;
    let mut primary = RedisServer::start("standby-primary", &[]);
    let replica_of = primary.port.to_string();
    let mut replica = RedisServer::start(
        "standby-replica",
        &["--replicaof", "127.0.0.1", &replica_of],
    );
    let both = format!("{},{}", primary.url(), replica.url());
    let mut a1 = Origin::launch(node("outage", "a1", &both)).await;
    a1.wait_segments("240p", 2).await;
    let mut a2 = Origin::launch(node("outage", "a2", &both)).await;
    wait_lease(a2.addr, "standby", true, Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while replica.cli(&["GET", &lease_key()]) != "a1" {
        assert!(Instant::now() < deadline, "the lease was not replicated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Sample both nodes' lease states and the encoders from here on.
    let (stop_sampling, mut sampling) = watch::channel(false);
    let (a1_addr, a2_addr) = (a1.addr, a2.addr);
    let sampler = tokio::spawn(async move {
        let mut seen = Vec::new();
        while !*sampling.borrow_and_update() {
            seen.push((
                lease(a1_addr).await,
                lease(a2_addr).await,
                encoders("outage"),
            ));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = sampling.changed() => {}
            }
        }
        seen
    });

    // The primary goes away; the replica cannot take writes: the store is down.
    primary.stop();
    wait_lease(a1.addr, "active_unconfirmed", false, Duration::from_secs(5)).await;
    wait_lease(a2.addr, "standby", false, Duration::from_secs(5)).await;
    let before = a1.wait_segments("240p", 1).await;
    // Longer than the lease: a1's lease has expired on the replica too.
    tokio::time::sleep(TTL + HEARTBEAT).await;
    assert_eq!(replica.cli(&["GET", &lease_key()]), "");
    let (status, body) = health(a1.addr).await;
    assert_eq!(status, 200, "fresh segments, store away: {body}");
    assert!(body.contains("\"lease_store_up\":false"), "{body}");
    assert!(body.contains("\"lease\":\"active_unconfirmed\""), "{body}");
    let metrics = a1.get("/metrics").await.text();
    assert!(
        metrics.contains("usher_origin_lease_store_up 0"),
        "{metrics}"
    );
    let during = a1.wait_segments("240p", 1).await;
    assert!(
        during.last() > before.last(),
        "the playlist stopped advancing"
    );

    // The replica is promoted, as Sentinel would after its own down-after time: the lease is
    // free there, and both nodes claim it; the node that was running keeps it.
    assert_eq!(replica.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
    wait_lease(a1.addr, "active", true, Duration::from_secs(5)).await;
    wait_lease(a2.addr, "standby", true, Duration::from_secs(5)).await;
    tokio::time::sleep(TTL * 2).await;
    let _ = stop_sampling.send(true);
    let seen = sampler.await.unwrap();
    assert!(seen.len() >= 30, "{} samples", seen.len());
    for (a1_view, a2_view, running) in &seen {
        let (a1_state, a2_state) = (
            a1_view.as_ref().map(|v| v.state.as_str()),
            a2_view.as_ref().map(|v| v.state.as_str()),
        );
        assert!(
            matches!(a1_state, Some("active" | "active_unconfirmed")),
            "a1 stopped: {seen:?}"
        );
        assert_eq!(a2_state, Some("standby"), "a2 started: {seen:?}");
        assert_eq!(*running, 1, "encoders: {seen:?}");
    }
    assert_eq!(replica.cli(&["GET", &lease_key()]), "a1");
    let playlist = a1.get("/final/240p/index.m3u8").await.text();
    assert!(entries(&playlist).iter().all(|(_, gap)| !gap), "{playlist}");

    replica.stop();
    a2.shut().await;
    a1.shut().await;
    assert_eq!(encoders("outage"), 0, "an encoder left behind");
}
