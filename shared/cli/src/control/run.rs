//! `usher control run`: the steering controller as a long-running process.
//!
//! It probes every CDN for every event, follows QoE lines, evaluates the health model every
//! `interval_ms`, seals and publishes the snapshot, records the event in its data directory and
//! serves the dashboard. The decisions are [`usher_control::controller::Controller`]'s; this
//! module only does the I/O around it.
//!
//! The data directory holds the event's record (`timeline.jsonl`, `decisions.jsonl`,
//! `audit.jsonl`), the last sealed snapshot (`snapshot.sealed`) and the operator's standing
//! overrides (`overrides.json`). A restarted controller resumes from the snapshot (no viewer
//! moves) and re-applies the overrides (a drained CDN stays drained), so a restart is safe in
//! the middle of an event.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use clap::Args;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use usher_control::config::ControlConfig;
use usher_control::controller::{Controller, RefusedCommand, TickOutput};
use usher_control::operator::{Action, AuditEntry, Command, PinWeight};
use usher_control::probe::{ProbeRecord, Response, Stage};
use usher_control::publish::Target;
use usher_control::timeline::{Decision, Tick};
use usher_shared::health::Observation;
use usher_shared::health::Override;
use usher_shared::health::signature::{self, HealthKeys};

use super::publish::Publishers;
use super::server::{self, sse};
use super::{probe, tail};
use crate::{UsageError, now_ms, say};

/// Ticks kept in memory for the dashboard: an hour at the default 5 s cadence.
const KEEP_TICKS: usize = 720;
/// Decisions kept in memory for the dashboard.
const KEEP_DECISIONS: usize = 200;
/// Audit entries kept in memory for the dashboard.
const KEEP_AUDIT: usize = 100;

/// Run the steering controller.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML; see docs/controller.md).
    #[arg(long)]
    config: PathBuf,
    /// Where the dashboard and API listen. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// The data directory: the event's record, the last snapshot, the standing overrides.
    #[arg(long, default_value = "control-data")]
    data: PathBuf,
    /// A file holding the operators' bearer token; without it commands need no token (only
    /// for a controller on a private address).
    #[arg(long)]
    operator_token_file: Option<PathBuf>,
}

/// One standing override, as `overrides.json` keeps it.
#[derive(Serialize, Deserialize)]
struct Standing {
    cdn: String,
    drain: bool,
    pin_bp: Option<u16>,
}

/// The data directory's files.
struct Record {
    dir: PathBuf,
}

impl Record {
    fn append(&self, name: &str, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let path = self.dir.join(name);
        let result = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| {
                let mut text = lines.join("\n");
                text.push('\n');
                file.write_all(text.as_bytes())
            });
        if let Err(error) = result {
            say(&format!(
                "usher control: cannot append to {}: {error}",
                path.display()
            ));
        }
    }

    /// Replaces a file atomically (write a temporary file, then rename).
    fn replace(&self, name: &str, bytes: &[u8]) {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let result =
            std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(error) = result {
            say(&format!(
                "usher control: cannot write {}: {error}",
                path.display()
            ));
        }
    }
}

/// What the request handlers and the loop share.
pub(crate) struct Hub {
    state: Mutex<State>,
    events: broadcast::Sender<Bytes>,
    operator_token: Option<String>,
    keys: HealthKeys,
    key_id: String,
    record: Record,
    summary: serde_json::Value,
}

struct State {
    controller: Controller,
    ticks: VecDeque<Tick>,
    decisions: VecDeque<Decision>,
    audit: VecDeque<AuditEntry>,
    envelope: Option<Bytes>,
}

fn keep<T>(queue: &mut VecDeque<T>, item: T, max: usize) {
    if queue.len() >= max {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked while holding the lock leaves consistent data (every update
        // is a single call into the controller), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.events.subscribe()
    }

    pub(crate) fn envelope(&self) -> Option<Bytes> {
        self.lock().envelope.clone()
    }

    pub(crate) fn state(&self) -> serde_json::Value {
        let state = self.lock();
        serde_json::json!({
            "config": self.summary,
            "ticks": state.ticks,
            "decisions": state.decisions,
            "audit": state.audit,
        })
    }

    pub(crate) fn authorised(&self, header: Option<&HeaderValue>) -> bool {
        let Some(expected) = &self.operator_token else {
            return true;
        };
        let presented = header
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        // Constant time: the token guards who may move viewers.
        use subtle::ConstantTimeEq as _;
        presented.len() == expected.len()
            && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// Folds in one probe request's result.
    pub(crate) fn probe(
        &self,
        cdn: &str,
        event: &str,
        at_ms: u64,
        stage: Stage,
        response: &Response,
    ) {
        let (record, observations) =
            usher_control::probe::observe(cdn, event, at_ms, stage, response);
        self.lock().controller.probe(&record, &observations);
    }

    /// Records a probe whose playlist named no segment to fetch (it still shows the probe ran).
    pub(crate) fn probe_error(&self, cdn: &str, event: &str, at_ms: u64, code: &str) {
        let record = ProbeRecord {
            cdn: cdn.to_owned(),
            event: event.to_owned(),
            at_ms,
            stage: Stage::Segment,
            status: None,
            error: Some(code.to_owned()),
            ttfb_ms: None,
            throughput_bps: None,
            cache: None,
            age_secs: None,
        };
        self.lock().controller.probe(&record, &[]);
    }

    /// Feeds observation lines from external sources; returns (accepted, refused).
    pub(crate) fn observation_lines(&self, body: &[u8]) -> (u64, u64) {
        self.feed_lines(body, |controller, line| {
            serde_json::from_slice::<Observation>(line)
                .ok()
                .is_some_and(|o| controller.external(&o).is_ok())
        })
    }

    /// Feeds QoE lines; returns (accepted, refused).
    pub(crate) fn qoe_lines(&self, body: &[u8]) -> (u64, u64) {
        self.feed_lines(body, |controller, line| controller.qoe(line).is_ok())
    }

    /// Feeds each non-blank line of a batch on its own, under one lock; a refused line is
    /// counted, never fatal to the rest. Returns (accepted, refused).
    fn feed_lines(&self, body: &[u8], feed: impl Fn(&mut Controller, &[u8]) -> bool) -> (u64, u64) {
        let mut state = self.lock();
        let (mut accepted, mut refused) = (0, 0);
        for line in body.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if feed(&mut state.controller, line) {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        (accepted, refused)
    }

    pub(crate) fn command(
        &self,
        command: &Command,
        now_ms: u64,
    ) -> (AuditEntry, Result<(), RefusedCommand>) {
        let mut state = self.lock();
        let (entry, result) = state.controller.command(command, now_ms);
        if let Ok(line) = serde_json::to_string(&entry) {
            self.record
                .append("audit.jsonl", std::slice::from_ref(&line));
            let _ = self.events.send(sse("audit", &line));
        }
        keep(&mut state.audit, entry.clone(), KEEP_AUDIT);
        if result.is_ok() {
            let standing: Vec<Standing> = state
                .controller
                .model_mut()
                .overrides()
                .into_iter()
                .map(|(cdn, o)| Standing {
                    cdn: cdn.to_owned(),
                    drain: o == Override::Drain,
                    pin_bp: match o {
                        Override::Pin { weight_bp } => Some(weight_bp),
                        Override::Drain => None,
                    },
                })
                .collect();
            if let Ok(text) = serde_json::to_vec_pretty(&standing) {
                self.record.replace("overrides.json", &text);
            }
        }
        (entry, result)
    }

    /// One evaluation: tick, seal, record, broadcast. Returns the envelope to publish.
    fn tick(&self, now_ms: u64) -> Option<Bytes> {
        let mut state = self.lock();
        let TickOutput {
            snapshot,
            tick,
            decisions,
        } = state.controller.tick(now_ms);
        let envelope = match signature::seal(&self.keys, &self.key_id, &snapshot.to_json()) {
            Ok(envelope) => Some(Bytes::from(envelope)),
            Err(error) => {
                say(&format!("usher control: cannot seal the snapshot: {error}"));
                None
            }
        };
        if let Some(envelope) = &envelope {
            self.record.replace("snapshot.sealed", envelope);
            state.envelope = Some(envelope.clone());
        }
        let mut decision_lines = Vec::new();
        for decision in decisions {
            if let Ok(line) = serde_json::to_string(&decision) {
                let _ = self.events.send(sse("decision", &line));
                decision_lines.push(line);
            }
            keep(&mut state.decisions, decision, KEEP_DECISIONS);
        }
        self.record.append("decisions.jsonl", &decision_lines);
        if let Ok(line) = serde_json::to_string(&tick) {
            self.record
                .append("timeline.jsonl", std::slice::from_ref(&line));
            let _ = self.events.send(sse("tick", &line));
        }
        keep(&mut state.ticks, tick, KEEP_TICKS);
        envelope
    }
}

fn read_text(base: &Path, name: &str, what: &str) -> Result<String> {
    let path = base.join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| UsageError::new(format!("cannot read {what} {}: {e}", path.display())).into())
}

/// Starts the controller and runs it until Ctrl-C or SIGTERM.
pub(crate) fn run(args: RunArgs) -> Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| UsageError::new(format!("cannot read {}: {e}", args.config.display())))?;
    let config = ControlConfig::from_toml(&text)
        .map_err(|e| UsageError::new(format!("{}: {e}", args.config.display())))?;
    let base = args
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let keys_text = read_text(&base, &config.signing.keys_file, "the health keys")?;
    let keys = HealthKeys::from_json(keys_text.as_bytes())
        .map_err(|e| UsageError::new(format!("{}: {e}", config.signing.keys_file)))?;
    if keys.get(&config.signing.key_id).is_none() {
        return Err(UsageError::new(format!(
            "signing.key_id {:?} is not in {}",
            config.signing.key_id, config.signing.keys_file
        ))
        .into());
    }
    let operator_token = match &args.operator_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?
                .trim()
                .to_owned(),
        )
        .filter(|t| !t.is_empty()),
        None => None,
    };
    let targets = config
        .publish
        .iter()
        .enumerate()
        .map(|(i, table)| {
            serde_json::from_value::<Target>(serde_json::Value::Object(table.clone()))
                .map_err(|e| UsageError::new(format!("publish[{i}]: {e}")).into())
        })
        .collect::<Result<Vec<Target>>>()?;
    let publishers = Publishers::new(targets, &base)?;
    let probes = probe::Probes::new(&config, &base)?;
    let tails: Vec<PathBuf> = config.qoe.files.iter().map(|f| base.join(f)).collect();

    std::fs::create_dir_all(&args.data)
        .map_err(|e| UsageError::new(format!("cannot create {}: {e}", args.data.display())))?;
    let record = Record {
        dir: args.data.clone(),
    };
    let summary = serde_json::json!({
        "cdns": config.cdns.iter().map(|c| serde_json::json!({
            "id": c.id, "base_url": c.base_url, "static_weight_bp": c.static_weight_bp,
        })).collect::<Vec<_>>(),
        "events": config.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        "interval_ms": config.interval_ms,
        "sla": {
            "ttfb_p95_ms": config.sla.ttfb_p95_ms, "error_rate": config.sla.error_rate,
            "cache_hit_ratio": config.sla.cache_hit_ratio,
            "throughput_bps": config.sla.throughput_bps, "target": config.sla.target,
        },
        "publish": publishers.names(),
    });
    let interval = Duration::from_millis(config.interval_ms);
    let key_id = config.signing.key_id.clone();
    let mut controller = Controller::new(config).map_err(UsageError::from_config)?;
    resume(&mut controller, &record, &keys);

    let (events, _) = broadcast::channel(256);
    let hub = Arc::new(Hub {
        state: Mutex::new(State {
            controller,
            ticks: VecDeque::new(),
            decisions: VecDeque::new(),
            audit: VecDeque::new(),
            envelope: None,
        }),
        events,
        operator_token,
        keys,
        key_id,
        record,
        summary,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| UsageError::new(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener.local_addr().context("reading the bound address")?;
        say(&format!("usher control: dashboard on http://{address}/"));
        for path in tails {
            tokio::spawn(tail::follow(path, Arc::clone(&hub)));
        }
        probes.spawn(Arc::clone(&hub));
        let publishers = Arc::new(publishers);
        let ticker = {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let now = now_ms();
                    if let Some(envelope) = hub.tick(now) {
                        let publishers = Arc::clone(&publishers);
                        let hub = Arc::clone(&hub);
                        // Publishing never holds up the next evaluation: a slow API is
                        // retried with the next snapshot, which supersedes this one.
                        tokio::spawn(async move {
                            for (name, result) in publishers.publish(envelope, now).await {
                                if let Err(error) = &result {
                                    say(&format!("usher control: publish to {name}: {error}"));
                                }
                                hub.lock().controller.published(&name, now, result);
                            }
                        });
                    }
                }
            })
        };
        serve(listener, Arc::clone(&hub)).await;
        ticker.abort();
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    served?;
    say("usher control: stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Resumes the slot tables from the last sealed snapshot and re-applies standing overrides.
fn resume(controller: &mut Controller, record: &Record, keys: &HealthKeys) {
    if let Ok(envelope) = std::fs::read(record.dir.join("snapshot.sealed")) {
        match signature::open(keys, &envelope) {
            Ok(snapshot) => {
                // Frontiers never move backwards, whatever the slot tables do.
                controller.resume_admission(&snapshot);
                match controller.model_mut().resume(&snapshot) {
                    Ok(()) => say(&format!(
                        "usher control: resumed from snapshot seq {}",
                        snapshot.seq()
                    )),
                    Err(error) => say(&format!("usher control: not resuming: {error}")),
                }
            }
            Err(error) => say(&format!(
                "usher control: not resuming from snapshot.sealed: {error}"
            )),
        }
    }
    let Ok(text) = std::fs::read(record.dir.join("overrides.json")) else {
        return;
    };
    let standing: Vec<Standing> = match serde_json::from_slice(&text) {
        Ok(standing) => standing,
        Err(error) => {
            say(&format!("usher control: ignoring overrides.json: {error}"));
            return;
        }
    };
    let pins: Vec<PinWeight> = standing
        .iter()
        .filter_map(|s| {
            s.pin_bp.map(|weight_bp| PinWeight {
                cdn: s.cdn.clone(),
                weight_bp,
            })
        })
        .collect();
    let mut actions: Vec<Action> = standing
        .iter()
        .filter(|s| s.drain)
        .map(|s| Action::Drain { cdn: s.cdn.clone() })
        .collect();
    if !pins.is_empty() {
        actions.push(Action::Pin { weights: pins });
    }
    for action in actions {
        let command = Command {
            action,
            who: "usher control".into(),
            why: "standing override re-applied at start".into(),
        };
        let (entry, _) = controller.command(&command, now_ms());
        say(&format!(
            "usher control: {} ({})",
            entry.action, entry.outcome
        ));
    }
}

/// Serves the dashboard and API until Ctrl-C or SIGTERM.
async fn serve(listener: TcpListener, hub: Arc<Hub>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(crate::edge::shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    say(&format!("usher control: accept: {error}"));
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let hub = Arc::clone(&hub);
        let service = service_fn(move |request| {
            let hub = Arc::clone(&hub);
            async move { Ok::<_, std::convert::Infallible>(server::handle(hub, request).await) }
        });
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    say("usher control: shutting down");
    // Event streams never end by themselves: give plain requests a moment, then go.
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}
