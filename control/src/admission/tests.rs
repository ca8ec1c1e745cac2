#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use proptest::prelude::*;

use super::*;

const DOORS: u64 = 1_767_225_600_000;
const TICK: u64 = 1000;

fn config(rate_per_min: u32, cap: Option<u64>) -> AdmissionConfig {
    AdmissionConfig::fixed(DOORS, rate_per_min, cap)
}

fn step(room: &mut Room, now: u64, config: &AdmissionConfig) -> AdmissionPlan {
    let rate = room.effective_rate(config, 0);
    room.step(now, config, rate, TICK, Audience::default()).0
}

#[test]
fn nobody_is_admitted_before_the_doors_open() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    for i in 0..50 {
        room.arrival(DOORS - PREQUEUE_SPAN_MS + i * 1000);
    }
    let start = room.frontier_ms();
    assert_eq!(start, DOORS - PREQUEUE_SPAN_MS);
    for t in 0..10 {
        let plan = step(&mut room, DOORS - 10_000 + t * TICK, &c);
        assert_eq!(plan.state, AdmissionState::BeforeDoors);
        assert_eq!(plan.frontier_ms, start);
        assert_eq!(plan.advance_ms_per_s, 0);
        assert_eq!(plan.wait_ms(DOORS), None);
    }
    assert_eq!(room.waiting(), 50);
}

#[test]
fn at_the_doors_the_pre_queue_is_admitted_at_the_rate_lowest_position_first() {
    // 600 per minute is 10 a second: one tick admits ten of the pre-queue's fifty.
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    for i in 0..50 {
        room.arrival(DOORS - 50_000 + i * 1000);
    }
    step(&mut room, DOORS - 500, &c);
    let plan = step(&mut room, DOORS + 500, &c);
    // Only the half second after the doors counts: five viewers.
    assert_eq!(room.admitted(), 5);
    assert_eq!(plan.frontier_ms, DOORS - 50_000 + 4 * 1000 + 1);
    let plan = step(&mut room, DOORS + 1500, &c);
    assert_eq!(room.admitted(), 15);
    assert_eq!(plan.waiting, 35);
    assert!(plan.admits(DOORS - 50_000 + 14_000));
    assert!(!plan.admits(DOORS - 50_000 + 15_000));
    assert_eq!(plan.state, AdmissionState::Open);
}

#[test]
fn credit_does_not_bank_beyond_one_tick() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    step(&mut room, DOORS, &c);
    // A minute with an empty queue would be 600 viewers of credit; one tick's worth (10) is
    // carried over, and the next tick adds its own 10.
    step(&mut room, DOORS + 60_000, &c);
    for i in 0..100 {
        room.arrival(DOORS + 60_000 + i);
    }
    step(&mut room, DOORS + 60_000 + TICK, &c);
    assert_eq!(room.admitted(), 20);
    step(&mut room, DOORS + 60_000 + 2 * TICK, &c);
    assert_eq!(room.admitted(), 30);
}

#[test]
fn a_pause_stops_the_frontier_and_resuming_does_not_cash_in_the_pause() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    for i in 0..1000 {
        room.arrival(DOORS + i);
    }
    step(&mut room, DOORS + 2000, &c);
    step(&mut room, DOORS + 3000, &c);
    let before = room.admitted();
    room.set_paused(true, DOORS + 3500);
    let frontier = room.frontier_ms();
    for t in 4..20 {
        let plan = step(&mut room, DOORS + t * 1000, &c);
        assert_eq!(plan.state, AdmissionState::Paused);
        assert_eq!(plan.frontier_ms, frontier);
        assert_eq!(plan.wait_ms(DOORS + 999), None);
    }
    room.open(DOORS + 20_000, &c);
    step(&mut room, DOORS + 21_000, &c);
    assert_eq!(room.admitted(), before + 10);
}

#[test]
fn the_cap_counts_players_and_admitted_viewers_not_yet_playing() {
    let c = config(6000, Some(30));
    let mut room = Room::new("final", &c);
    for i in 0..100 {
        room.arrival(DOORS + i);
    }
    let rate = 6000;
    let audience = Audience {
        players: 10,
        new_players: 0,
    };
    room.step(DOORS + 200, &c, rate, TICK, audience);
    let (plan, s) = room.step(DOORS + 1200, &c, rate, TICK, audience);
    // 100 a second allowed, but 10 players + 20 admitted reach the cap of 30.
    assert_eq!(s.admitted, 20);
    assert_eq!(plan.active, 30);
    assert_eq!(plan.state, AdmissionState::Full);
    assert_eq!(plan.advance_ms_per_s, 0);
    // The twenty start playing: they are the players now, not pending too.
    let playing = Audience {
        players: 30,
        new_players: 20,
    };
    let (plan, s) = room.step(DOORS + 2200, &c, rate, TICK, playing);
    assert_eq!((s.admitted, plan.active), (0, 30));
    // Ten leave: ten more come in.
    let fewer = Audience {
        players: 20,
        new_players: 20,
    };
    let (plan, s) = room.step(DOORS + 3200, &c, rate, TICK, fewer);
    assert_eq!((s.admitted, plan.active), (10, 30));
    // After the grace window, admitted viewers never seen playing stop counting.
    let gone = Audience::default();
    let (_, s) = room.step(DOORS + 3200 + c.grace_ms + 1, &c, rate, TICK, gone);
    assert_eq!(s.admitted, 30);
}

#[test]
fn an_idle_room_follows_real_time_behind_the_line_delay_only_after_the_doors() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    let plan = step(&mut room, DOORS + 1000, &c);
    assert_eq!(plan.frontier_ms, DOORS - PREQUEUE_SPAN_MS);
    let plan = step(&mut room, DOORS + c.line_delay_ms + 2000, &c);
    assert_eq!(plan.frontier_ms, DOORS + 2000);
    assert_eq!(plan.advance_ms_per_s, 1000);
    // A viewer arriving now waits about the line delay.
    assert_eq!(
        plan.wait_ms(DOORS + c.line_delay_ms + 2000),
        Some(c.line_delay_ms + 1)
    );
}

#[test]
fn an_arrival_known_after_the_frontier_passed_it_counts_without_budget() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    room.arrival(DOORS + 10);
    step(&mut room, DOORS, &c);
    step(&mut room, DOORS + 1000, &c);
    assert_eq!(room.frontier_ms(), DOORS + 11);
    room.arrival(DOORS + 5);
    assert_eq!((room.admitted(), room.waiting()), (2, 0));
}

#[test]
fn the_wait_estimate_of_the_newest_arrival_is_the_time_to_admit_the_queue() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    step(&mut room, DOORS + 599_000, &c);
    // 600 arrivals over 10 minutes of positions: at 600 a minute the newest waits a minute.
    for i in 0..600 {
        room.arrival(DOORS + i * 1000);
    }
    let plan = step(&mut room, DOORS + 600_000, &c);
    let newest = room.newest_position().unwrap();
    let wait = plan.wait_ms(newest).unwrap();
    assert!((58_000..=60_000).contains(&wait), "{wait}");
}

#[test]
fn an_operator_rate_replaces_the_configured_one_until_cleared() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    assert_eq!(room.effective_rate(&c, 99), 600);
    room.set_rate(Some(60));
    assert_eq!(room.effective_rate(&c, 99), 60);
    room.set_rate(None);
    let mut auto = c.clone();
    auto.rate_per_min = None;
    auto.rate = Some("automatic".into());
    assert_eq!(room.effective_rate(&auto, 99), 99);
}

#[test]
fn opening_early_starts_admission_before_the_doors() {
    let c = config(600, None);
    let mut room = Room::new("final", &c);
    for i in 0..20 {
        room.arrival(DOORS - 30_000 + i);
    }
    step(&mut room, DOORS - 10_000, &c);
    room.open(DOORS - 10_000, &c);
    let plan = step(&mut room, DOORS - 9_000, &c);
    assert_eq!(plan.state, AdmissionState::Open);
    assert_eq!(plan.doors_open_ms, DOORS - 10_000);
    assert_eq!(room.admitted(), 10);
}

#[test]
fn the_automatic_rate_fills_the_spare_capacity_over_the_fill_time() {
    let mut c = config(1, None);
    c.rate_per_min = None;
    c.rate = Some("automatic".into());
    // 10 Gbit/s spare on one CDN, 2 Gbit/s on the other (the third is over its commit): 12
    // Gbit/s at 4 Mbit/s is 3000 viewers, less 500 pending, over the default minute.
    let headroom = Headroom {
        cdns: vec![
            (20_000_000_000, 10_000_000_000),
            (4_000_000_000, 2_000_000_000),
            (1_000_000_000, 3_000_000_000),
        ],
        viewer_bitrate_bps: Some(4_000_000),
        pending: 500,
    };
    assert_eq!(automatic_rate(&c, &headroom, 1), 2500);
    assert_eq!(automatic_rate(&c, &headroom, 2), 1250);
    // Without a CMCD bitrate the configured fallback (5 Mbit/s) is used.
    let unknown = Headroom {
        viewer_bitrate_bps: None,
        ..headroom.clone()
    };
    assert_eq!(automatic_rate(&c, &unknown, 1), 1900);
    // No room anywhere: no admission, and the room says it is full.
    let none = Headroom {
        cdns: vec![(1, 5)],
        ..headroom
    };
    assert_eq!(automatic_rate(&c, &none, 1), 0);
    let mut room = Room::new("final", &c);
    room.arrival(DOORS);
    let (plan, _) = room.step(DOORS + 1000, &c, 0, TICK, Audience::default());
    assert_eq!(plan.state, AdmissionState::Full);
    assert_eq!(room.admitted(), 0);
}

#[test]
fn configuration_needs_exactly_one_rate_and_a_positive_cap() {
    let mut c = config(600, Some(10));
    assert_eq!(c.check(), Ok(()));
    c.rate = Some("automatic".into());
    assert!(c.check().unwrap_err().contains("one or the other"));
    c.rate_per_min = None;
    assert_eq!(c.check(), Ok(()));
    c.rate = Some("fast".into());
    assert!(c.check().is_err());
    let mut c = config(0, None);
    assert!(c.check().is_err());
    c.rate_per_min = Some(5);
    c.cap = Some(0);
    assert_eq!(c.check(), Err("cap: above 0".into()));
}

#[test]
fn admission_lines_are_read_strictly() {
    let doors = |e: &str| (e == "final").then_some(DOORS);
    let ok = format!(
        r#"{{"at":{},"event":"final","kind":"arrival","position":{}}}"#,
        DOORS + 10,
        DOORS - 5
    );
    let line = read_line(ok.as_bytes(), doors).unwrap();
    assert_eq!(
        (line.kind, line.position, line.event.as_str()),
        (LineKind::Arrival, DOORS - 5, "final")
    );
    let admitted = ok.replace("arrival", "admitted");
    assert_eq!(
        read_line(admitted.as_bytes(), doors).unwrap().kind,
        LineKind::Admitted
    );
    let case = |text: String| read_line(text.as_bytes(), doors).unwrap_err();
    assert_eq!(case(ok.replace("arrival", "left")), LineError::UnknownKind);
    assert_eq!(case(ok.replace("final", "other")), LineError::UnknownEvent);
    assert_eq!(case(ok.replace("}", r#","x":1}"#)), LineError::Malformed);
    assert_eq!(case("{".into()), LineError::Malformed);
    assert_eq!(
        case(ok.replace(&(DOORS - 5).to_string(), "-1")),
        LineError::Malformed
    );
    // Below the pre-queue span, or far after the line's own time.
    assert_eq!(
        case(ok.replace(&(DOORS - 5).to_string(), &(DOORS - 60_001).to_string())),
        LineError::Position
    );
    assert_eq!(
        case(ok.replace(&(DOORS - 5).to_string(), &(DOORS + 70_011).to_string())),
        LineError::Position
    );
    assert!(is_admission_line(ok.as_bytes()));
    assert!(!is_admission_line(
        br#"{"at":1,"event":"final","pathway":"a","cmcd":{}}"#
    ));
    assert!(!is_admission_line(b"not json"));
}

#[derive(Clone, Debug)]
enum Op {
    Arrive(Vec<u64>),
    Tick(u64),
    Pause(bool),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    // Positions within the pre-queue and the first ten minutes; ticks of 0.2 to 3 s.
    let position = (DOORS - PREQUEUE_SPAN_MS)..(DOORS + 600_000);
    prop::collection::vec(
        prop_oneof![
            4 => prop::collection::vec(position, 0..40).prop_map(Op::Arrive),
            6 => (200_u64..3000).prop_map(Op::Tick),
            1 => any::<bool>().prop_map(Op::Pause),
        ],
        1..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Frontier monotone; budget bound; cap bound; pause and before-doors freeze it.
    #[test]
    fn the_frontier_keeps_every_rule(
        ops in ops(),
        rate in 1_u32..5000,
        cap in prop::option::of(1_u64..400),
        start in (DOORS - 20_000)..(DOORS + 5_000),
    ) {
        let c = config(rate, cap);
        let mut room = Room::new("final", &c);
        let mut now = start;
        let mut frontier = room.frontier_ms();
        let mut budgeted = 0_u64;
        let mut open_ms = 0_u64;
        let mut largest_group = 1_u64;
        let mut positions: BTreeMap<u64, u64> = BTreeMap::new();
        step(&mut room, now, &c);
        for op in ops {
            match op {
                Op::Arrive(ps) => for p in ps {
                    room.arrival(p);
                    let n = positions.entry(p).or_default();
                    *n += 1;
                    largest_group = largest_group.max(*n);
                },
                Op::Pause(p) => room.set_paused(p, now),
                Op::Tick(dt) => {
                    let before = now;
                    now += dt;
                    let paused = room.paused();
                    let (plan, s) = room.step(now, &c, rate, TICK, Audience::default());
                    prop_assert!(plan.frontier_ms >= frontier, "frontier moved backwards");
                    if paused || now < DOORS {
                        prop_assert_eq!(plan.frontier_ms, frontier);
                        prop_assert_eq!(s.admitted, 0);
                    } else {
                        open_ms += now - before.max(DOORS);
                    }
                    frontier = plan.frontier_ms;
                    budgeted += s.admitted;
                    // Rate × open time + one tick's worth (+ one group less one viewer).
                    let bound = (u128::from(rate) * u128::from(open_ms)
                        + u128::from(rate) * u128::from(TICK)) / 60_000
                        + 1 + u128::from(largest_group - 1);
                    prop_assert!(u128::from(budgeted) <= bound, "{} > {}", budgeted, bound);
                    if let Some(cap) = cap {
                        // No player ever shows up, so within the grace window every
                        // admission is pending: the cap bounds them all.
                        prop_assert!(plan.active <= cap);
                        if now - start <= c.grace_ms {
                            prop_assert!(budgeted <= cap);
                        }
                    }
                    // Every known position below the frontier is admitted, none above.
                    let below: u64 = positions.range(..plan.frontier_ms).map(|(_, n)| n).sum();
                    prop_assert_eq!(below, room.admitted());
                    prop_assert_eq!(plan.waiting, room.waiting());
                }
            }
        }
    }

    /// The pre-queue goes first: once anyone who arrived after the doors is admitted, every
    /// known pre-queue position is.
    #[test]
    fn the_pre_queue_is_admitted_before_anyone_who_came_later(
        pre in prop::collection::vec((DOORS - PREQUEUE_SPAN_MS)..DOORS, 1..200),
        later in prop::collection::vec(DOORS..(DOORS + 60_000), 1..200),
        rate in 60_u32..20_000,
    ) {
        let c = config(rate, None);
        let mut room = Room::new("final", &c);
        for p in &pre {
            room.arrival(*p);
        }
        let mut now = DOORS - 1000;
        step(&mut room, now, &c);
        for (i, p) in later.iter().enumerate() {
            room.arrival(*p);
            if i % 10 == 0 {
                now += 700;
                let plan = step(&mut room, now, &c);
                if later.iter().any(|l| plan.admits(*l)) {
                    prop_assert!(pre.iter().all(|p| plan.admits(*p)));
                }
            }
        }
    }

    /// With a rate and no cap, every known arrival is admitted in time.
    #[test]
    fn every_known_arrival_is_admitted_eventually(
        positions in prop::collection::vec((DOORS - PREQUEUE_SPAN_MS)..(DOORS + 60_000), 1..300),
        rate in 60_u32..6000,
    ) {
        let c = config(rate, None);
        let mut room = Room::new("final", &c);
        for p in &positions {
            room.arrival(*p);
        }
        let mut now = DOORS;
        let needed_ms = positions.len() as u64 * 60_000 / u64::from(rate) + 2 * TICK;
        while now <= DOORS + needed_ms + TICK {
            step(&mut room, now, &c);
            now += TICK;
        }
        prop_assert_eq!(room.waiting(), 0);
        prop_assert_eq!(room.admitted(), positions.len() as u64);
    }
}
