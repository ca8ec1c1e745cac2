//! Channel leases against a real Redis: contention, takeover, an outage, a primary/replica
//! failover, and authentication. Each test starts its own redis-server on 127.0.0.1.
#![cfg(test)]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use usher_origin::lease::{
    Claim, Heartbeat, LeaseError, LeaseState, LeaseStore, Leases, Name, RedisConfig, key,
};

use crate::redis::RedisServer;

fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn redis(url: &str) -> LeaseStore {
    LeaseStore::redis(url.parse().unwrap())
}

/// Waits until a snapshot satisfies `ok`, and returns it; fails after `within`.
async fn wait_for(
    rx: &mut watch::Receiver<Leases>,
    within: Duration,
    ok: impl Fn(&Leases) -> bool,
) -> Leases {
    let wait = async {
        loop {
            let leases = rx.borrow_and_update().clone();
            if ok(&leases) {
                return leases;
            }
            rx.changed().await.unwrap();
        }
    };
    match tokio::time::timeout(within, wait).await {
        Ok(leases) => leases,
        Err(_) => panic!("not reached in {within:?}; last: {:?}", *rx.borrow()),
    }
}

/// Every snapshot a heartbeat publishes from now on, for checks on the whole history.
fn record(h: &Heartbeat) -> Arc<Mutex<Vec<Leases>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut rx = h.watch();
    let out = seen.clone();
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            out.lock().unwrap().push(rx.borrow_and_update().clone());
        }
    });
    seen
}

#[tokio::test]
async fn two_nodes_contending_for_a_channel_exactly_one_holds_it_and_the_other_sees_the_holder() {
    let server = RedisServer::start("contend", &[]);
    let (a, b) = (redis(&server.url()), redis(&server.url()));
    let (node_a, node_b) = (n("a"), n("b"));
    for i in 0..20 {
        let channel = n(&format!("ch{i}"));
        let (ra, rb) = tokio::join!(
            a.claim(&channel, &node_a, 5_000),
            b.claim(&channel, &node_b, 5_000)
        );
        let (winner, loser) = match (ra.unwrap(), rb.unwrap()) {
            (Claim::Held { ttl_ms }, Claim::HeldBy(holder)) => {
                assert_eq!(ttl_ms, 5_000);
                ("a", holder)
            }
            (Claim::HeldBy(holder), Claim::Held { ttl_ms }) => {
                assert_eq!(ttl_ms, 5_000);
                ("b", holder)
            }
            other => panic!("not exactly one holder: {other:?}"),
        };
        assert_eq!(loser, winner);
        assert_eq!(server.cli(&["GET", &key(&channel)]), winner);
        let pttl: u64 = server.cli(&["PTTL", &key(&channel)]).parse().unwrap();
        assert!(pttl > 0 && pttl <= 5_000, "{pttl}");
        // The holder renews; the other still sees it.
        let (holder, other) = if winner == "a" { (&a, &b) } else { (&b, &a) };
        assert!(matches!(
            holder.claim(&channel, &n(winner), 5_000).await,
            Ok(Claim::Held { .. })
        ));
        assert_eq!(
            other.claim(&channel, &n("c"), 5_000).await,
            Ok(Claim::HeldBy(winner.into()))
        );
    }
    // Release only by the holder.
    let channel = n("ch0");
    let holder = server.cli(&["GET", &key(&channel)]);
    let other = if holder == "a" { "b" } else { "a" };
    assert_eq!(a.release(&channel, &n(other)).await, Ok(false));
    assert_eq!(server.cli(&["GET", &key(&channel)]), holder);
    assert_eq!(a.release(&channel, &n(&holder)).await, Ok(true));
    assert_eq!(server.cli(&["EXISTS", &key(&channel)]), "0");
}

#[tokio::test]
async fn renewing_a_lease_restarts_its_time_to_live_on_the_server() {
    let server = RedisServer::start("renew", &[]);
    let store = redis(&server.url());
    let (news, a) = (n("news"), n("a"));
    assert_eq!(
        store.claim(&news, &a, 5_000).await,
        Ok(Claim::Held { ttl_ms: 5_000 })
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Without the renewal the lease would have at most 4600 ms left.
    let before: u64 = server.cli(&["PTTL", &key(&news)]).parse().unwrap();
    assert!(before <= 4_600, "{before}");
    let Ok(Claim::Held { ttl_ms }) = store.claim(&news, &a, 5_000).await else {
        panic!("not renewed");
    };
    assert!(ttl_ms > 4_800 && ttl_ms <= 5_000, "{ttl_ms}");
    let after: u64 = server.cli(&["PTTL", &key(&news)]).parse().unwrap();
    assert!(after > 4_700, "{after}");
}

#[tokio::test]
async fn a_restarted_redis_costs_no_claim_the_stale_connection_is_remade_at_once() {
    let mut server = RedisServer::start("restart", &[]);
    let store = redis(&server.url());
    let (news, a) = (n("news"), n("a"));
    assert!(store.claim(&news, &a, 5_000).await.is_ok());
    server.stop();
    server.restart();
    // The kept connection is dead; the claim goes through on a fresh one.
    assert_eq!(
        store.claim(&news, &a, 5_000).await,
        Ok(Claim::Held { ttl_ms: 5_000 })
    );
}

#[tokio::test]
async fn a_silent_store_costs_one_timeout_per_round_not_one_per_channel() {
    // A socket that completes the TCP handshake (the kernel does) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let channels: Vec<Name> = (0..6).map(|i| n(&format!("ch{i}"))).collect();
    let started = Instant::now();
    let h = Heartbeat::start(redis(&url), n("a"), channels.clone(), 600).unwrap();
    let mut rx = h.watch();
    let leases = wait_for(&mut rx, Duration::from_secs(10), |l| l.rounds >= 1).await;
    let took = started.elapsed();
    // One 500 ms command timeout for the round; six would be 3 s.
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    assert!(
        channels
            .iter()
            .all(|c| leases.state(c) == &LeaseState::Unknown)
    );
    assert!(!leases.store_up);
    let Some(LeaseError::Unreachable(why)) = &leases.last_error else {
        panic!("{:?}", leases.last_error);
    };
    assert!(why.contains("timed out"), "{why}");
}

#[tokio::test]
async fn when_the_active_node_stops_heartbeating_the_standby_takes_over_within_ttl_and_one_heartbeat()
 {
    let server = RedisServer::start("takeover", &[]);
    let ttl = 600;
    let news = n("news");
    let a = Heartbeat::start(redis(&server.url()), n("a"), [news.clone()], ttl).unwrap();
    let mut rx_a = a.watch();
    wait_for(&mut rx_a, Duration::from_secs(5), |l| {
        l.state(&news) == &LeaseState::Active
    })
    .await;
    let b = Heartbeat::start(redis(&server.url()), n("b"), [news.clone()], ttl).unwrap();
    let mut rx = b.watch();
    wait_for(&mut rx, Duration::from_secs(5), |l| {
        l.state(&news) == &LeaseState::Standby { holder: "a".into() }
    })
    .await;

    // A stops without releasing, as a crashed node would.
    drop(a);
    let stopped = Instant::now();
    wait_for(&mut rx, Duration::from_secs(5), |l| {
        l.state(&news) == &LeaseState::Active
    })
    .await;
    let took = stopped.elapsed();
    // A's last renewal was at most one heartbeat (200 ms) before it stopped, so its lease
    // lasted at least 400 ms more; B claims every 200 ms, so it holds the lease at most 800 ms
    // (ttl + one heartbeat) after A stopped, plus scheduling slack on a busy machine.
    assert!(
        took >= Duration::from_millis(350),
        "took over early: {took:?}"
    );
    assert!(
        took <= Duration::from_millis(1_500),
        "took over late: {took:?}"
    );
    assert_eq!(server.cli(&["GET", &key(&news)]), "b");
    assert_eq!(b.stop().await, 1);
    assert_eq!(server.cli(&["EXISTS", &key(&news)]), "0");
}

#[tokio::test]
async fn while_redis_is_away_the_active_node_keeps_running_and_the_standby_never_takes_over_even_when_it_returns_empty()
 {
    let mut server = RedisServer::start("outage", &[]);
    let ttl = 600;
    let news = n("news");
    let a = Heartbeat::start(redis(&server.url()), n("a"), [news.clone()], ttl).unwrap();
    let mut rx_a = a.watch();
    wait_for(&mut rx_a, Duration::from_secs(5), |l| l.runs(&news)).await;
    let b = Heartbeat::start(redis(&server.url()), n("b"), [news.clone()], ttl).unwrap();
    let mut rx_b = b.watch();
    wait_for(&mut rx_b, Duration::from_secs(5), |l| {
        matches!(l.state(&news), LeaseState::Standby { .. })
    })
    .await;
    let (seen_a, seen_b) = (record(&a), record(&b));

    server.stop();
    let down = wait_for(&mut rx_a, Duration::from_secs(5), |l| !l.store_up).await;
    assert!(matches!(
        down.state(&news),
        LeaseState::ActiveUnconfirmed { .. }
    ));
    assert!(matches!(down.last_error, Some(LeaseError::Unreachable(_))));
    wait_for(&mut rx_b, Duration::from_secs(5), |l| !l.store_up).await;
    // Three times the lease's life with the store away.
    tokio::time::sleep(Duration::from_millis(3 * ttl)).await;
    {
        let (seen_a, seen_b) = (seen_a.lock().unwrap(), seen_b.lock().unwrap());
        assert!(seen_a.len() >= 5 && seen_b.len() >= 5);
        assert!(
            seen_a.iter().all(|l| l.runs(&news)),
            "A stopped: {seen_a:?}"
        );
        assert!(
            seen_b.iter().all(|l| !l.runs(&news)),
            "B started: {seen_b:?}"
        );
        let now = seen_a.last().unwrap();
        assert!(!now.store_up && now.failed_rounds >= 5);
        assert_eq!(now.primary, None);
    }

    // Redis returns empty (no persistence): the lease has expired. It returns just after one
    // of A's rounds, so B's next round is likely first to reach it; B holds off for a time to
    // live, and A, which kept the channel on the air, takes its lease back.
    let last = rx_a.borrow_and_update().rounds;
    wait_for(&mut rx_a, Duration::from_secs(5), |l| l.rounds > last).await;
    server.restart();
    let a_now = wait_for(&mut rx_a, Duration::from_secs(5), |l| {
        l.store_up && l.state(&news) == &LeaseState::Active
    })
    .await;
    assert_eq!(a_now.primary, Some(server.endpoint()));
    let back = wait_for(&mut rx_b, Duration::from_secs(5), |l| l.store_up)
        .await
        .rounds;
    // Past its hold-off, B claims again and finds A holding the lease.
    let b_now = wait_for(&mut rx_b, Duration::from_secs(5), |l| l.rounds >= back + 5).await;
    assert_eq!(
        b_now.state(&news),
        &LeaseState::Standby { holder: "a".into() }
    );
    assert_eq!(server.cli(&["GET", &key(&news)]), "a");
    let (seen_a, seen_b) = (seen_a.lock().unwrap(), seen_b.lock().unwrap());
    assert!(
        seen_a.iter().all(|l| l.runs(&news)),
        "A stopped: {seen_a:?}"
    );
    assert!(
        seen_b.iter().all(|l| !l.runs(&news)),
        "B started: {seen_b:?}"
    );
}

#[tokio::test]
async fn after_a_redis_failover_the_node_keeps_its_lease_through_the_promoted_replica() {
    let mut primary = RedisServer::start("failover-a", &[]);
    let replica_of = primary.port.to_string();
    let replica = RedisServer::start("failover-b", &["--replicaof", "127.0.0.1", &replica_of]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
    {
        assert!(Instant::now() < deadline, "the replica did not sync");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The replica is listed first: the client must skip it while it is a replica.
    let config = format!("{},{}", replica.url(), primary.url());
    let ttl = 1_500;
    let news = n("news");
    let x = Heartbeat::start(redis(&config), n("x"), [news.clone()], ttl).unwrap();
    let mut rx_x = x.watch();
    let held = wait_for(&mut rx_x, Duration::from_secs(5), |l| l.runs(&news)).await;
    assert_eq!(held.primary, Some(primary.endpoint()));
    let y = Heartbeat::start(redis(&config), n("y"), [news.clone()], ttl).unwrap();
    let mut rx_y = y.watch();
    wait_for(&mut rx_y, Duration::from_secs(5), |l| {
        l.state(&news) == &LeaseState::Standby { holder: "x".into() }
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while replica.cli(&["GET", &key(&news)]) != "x" {
        assert!(Instant::now() < deadline, "the lease was not replicated");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (seen_x, seen_y) = (record(&x), record(&y));

    // The primary dies; the replica is promoted, as Sentinel would.
    primary.stop();
    assert_eq!(replica.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
    let after = wait_for(&mut rx_x, Duration::from_secs(5), |l| {
        l.store_up && l.primary == Some(replica.endpoint())
    })
    .await;
    assert_eq!(after.state(&news), &LeaseState::Active);
    let y_after = wait_for(&mut rx_y, Duration::from_secs(5), |l| {
        l.store_up && l.primary == Some(replica.endpoint())
    })
    .await;
    assert_eq!(
        y_after.state(&news),
        &LeaseState::Standby { holder: "x".into() }
    );
    // A few more heartbeats through the new primary.
    tokio::time::sleep(Duration::from_millis(ttl)).await;
    assert!(seen_x.lock().unwrap().iter().all(|l| l.runs(&news)));
    assert!(seen_y.lock().unwrap().iter().all(|l| !l.runs(&news)));
    assert_eq!(replica.cli(&["GET", &key(&news)]), "x");
    let pttl: u64 = replica.cli(&["PTTL", &key(&news)]).parse().unwrap();
    assert!(pttl > 0 && pttl <= 1_500, "{pttl}");
}

#[tokio::test]
async fn auth_with_the_right_password_claims_and_a_wrong_or_missing_one_is_refused() {
    let secret = "pa55-w0rd";
    let server = RedisServer::start(
        "auth",
        &[
            "--requirepass",
            secret,
            // An ACL user allowed only the lease keys (one word per argument: redis-server
            // joins them into the config line).
            "--user",
            "alice",
            "on",
            ">alice-s3cret",
            "~usher:*",
            "+@all",
        ],
    );
    let news = n("news");
    let right = format!("redis://:{secret}@127.0.0.1:{}", server.port);
    assert_eq!(
        redis(&right).claim(&news, &n("a"), 5_000).await,
        Ok(Claim::Held { ttl_ms: 5_000 })
    );
    let alice = format!("redis://alice:alice-s3cret@127.0.0.1:{}", server.port);
    assert_eq!(
        redis(&alice).claim(&news, &n("b"), 5_000).await,
        Ok(Claim::HeldBy("a".into()))
    );

    for url in [
        format!("redis://:wrong-{secret}@127.0.0.1:{}", server.port),
        format!("redis://alice:{secret}@127.0.0.1:{}", server.port),
        server.url(),
    ] {
        let config: RedisConfig = url.parse().unwrap();
        let store = LeaseStore::redis(config.clone());
        let e = store.claim(&news, &n("c"), 5_000).await.unwrap_err();
        assert_eq!(e, LeaseError::Auth, "{config}");
        for shown in [
            format!("{config}"),
            format!("{config:?}"),
            format!("{e}"),
            format!("{e:?}"),
            format!("{store:?}"),
        ] {
            assert!(
                !shown.contains(secret) && !shown.contains("alice-s3cret"),
                "{shown}"
            );
        }
    }
    // A node with the wrong password never starts its channel, and says why.
    let h = Heartbeat::start(
        redis(&format!("redis://:nope@127.0.0.1:{}", server.port)),
        n("c"),
        [news.clone()],
        600,
    )
    .unwrap();
    let mut rx = h.watch();
    let leases = wait_for(&mut rx, Duration::from_secs(5), |l| l.rounds >= 2).await;
    assert_eq!(leases.state(&news), &LeaseState::Unknown);
    assert!(!leases.store_up);
    assert_eq!(leases.last_error, Some(LeaseError::Auth));
    assert!(!format!("{leases:?}").contains(secret));
}
