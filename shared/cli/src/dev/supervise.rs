//! Child processes of the local live event: started with their output in log files, watched
//! for the line that says they are ready, reported when they exit, and stopped in order.
//!
//! Stopping sends SIGTERM (through the system's `kill`, as this crate has no unsafe code to
//! call `kill(2)` with), gives every child [`STOP_GRACE`] to finish (the origin hands over its
//! leases, nginx closes its connections), and kills what is left.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::fs::File;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// How long children get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Finds the readiness fact in one output line: the address a child says it listens on.
pub(crate) type Ready = fn(&str) -> Option<String>;

/// What to start.
pub(crate) struct Spec<'a> {
    /// The name in logs and messages (`origin-a`, `cdn-b nginx`).
    pub(crate) name: &'a str,
    pub(crate) program: &'a Path,
    pub(crate) args: Vec<String>,
    /// Where its stderr goes (and its stdout, unless `stdout` says otherwise).
    pub(crate) log: PathBuf,
    /// Where its stdout goes, if not to `log` (an edge's QoE lines).
    pub(crate) stdout: Option<PathBuf>,
    /// How to tell it is ready from its output; `None` when something else tells.
    pub(crate) ready: Option<Ready>,
}

/// A started child.
pub(crate) struct Running {
    pub(crate) name: String,
    pub(crate) pid: u32,
    /// The readiness fact, once a line has shown it.
    ready: Option<oneshot::Receiver<String>>,
    log: PathBuf,
}

impl Running {
    /// Waits until the child's output shows it is ready, and returns what it said (its
    /// address). Fails when it exits first or takes longer than `limit`, naming its log.
    pub(crate) async fn ready(&mut self, limit: Duration) -> Result<String> {
        let Some(ready) = self.ready.take() else {
            bail!("{} has no readiness line", self.name);
        };
        match tokio::time::timeout(limit, ready).await {
            Ok(Ok(fact)) => Ok(fact),
            Ok(Err(_)) => bail!(
                "{} stopped before it was ready: see {}",
                self.name,
                self.log.display()
            ),
            Err(_) => bail!(
                "{} was not ready within {} s: see {}",
                self.name,
                limit.as_secs(),
                self.log.display()
            ),
        }
    }
}

/// An exit the supervisor did not ask for.
pub(crate) struct Exit {
    pub(crate) name: String,
    pub(crate) status: std::io::Result<ExitStatus>,
}

/// The children, in start order.
pub(crate) struct Supervisor {
    children: Vec<(String, u32, oneshot::Receiver<()>)>,
    exits: mpsc::UnboundedSender<Exit>,
}

impl Supervisor {
    /// A supervisor reporting exits on the returned receiver.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Exit>) {
        let (exits, receiver) = mpsc::unbounded_channel();
        (
            Supervisor {
                children: Vec::new(),
                exits,
            },
            receiver,
        )
    }

    /// Starts a child.
    pub(crate) async fn start(&mut self, spec: Spec<'_>) -> Result<Running> {
        let log = File::create(&spec.log)
            .await
            .with_context(|| format!("creating {}", spec.log.display()))?;
        let stdout_file = match &spec.stdout {
            Some(path) => Some(
                File::create(path)
                    .await
                    .with_context(|| format!("creating {}", path.display()))?,
            ),
            None => None,
        };
        let mut child: Child = Command::new(spec.program)
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} ({})", spec.name, spec.program.display()))?;
        let pid = child.id().unwrap_or(0);
        let (ready_tx, ready_rx) = oneshot::channel();
        let ready = ReadyOnce::new(spec.ready, ready_tx);
        let (log_tx, log_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(write_lines(log, log_rx));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(follow(stderr, log_tx.clone(), ready.clone()));
        }
        if let Some(stdout) = child.stdout.take() {
            match stdout_file {
                Some(file) => {
                    let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
                    tokio::spawn(write_lines(file, out_rx));
                    tokio::spawn(follow(stdout, out_tx, ready));
                }
                None => {
                    tokio::spawn(follow(stdout, log_tx, ready));
                }
            }
        }
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let exits = self.exits.clone();
        let name = spec.name.to_owned();
        tokio::spawn(async move {
            let status = child.wait().await;
            // The supervisor is waiting for this child to stop: not news.
            if stopped_tx.send(()).is_err() {
                return;
            }
            let _ = exits.send(Exit { name, status });
        });
        self.children.push((spec.name.to_owned(), pid, stopped_rx));
        Ok(Running {
            name: spec.name.to_owned(),
            pid,
            ready: Some(ready_rx),
            log: spec.log,
        })
    }

    /// Stops every child, the last started first, and waits for them.
    pub(crate) async fn stop(self) {
        let Supervisor { children, exits } = self;
        drop(exits);
        let mut waiting = Vec::new();
        for (name, pid, stopped) in children.into_iter().rev() {
            terminate(pid);
            waiting.push((name, pid, stopped));
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for (name, pid, stopped) in waiting {
            if tokio::time::timeout_at(deadline, stopped).await.is_err() {
                crate::say(&format!(
                    "usher dev: {name} did not stop in time; killing it"
                ));
                kill(pid);
            }
        }
    }
}

/// Sends SIGTERM.
pub(crate) fn terminate(pid: u32) {
    signal(pid, "-TERM");
}

/// Sends SIGKILL.
pub(crate) fn kill(pid: u32) {
    signal(pid, "-KILL");
}

fn signal(pid: u32, which: &str) {
    if pid == 0 {
        return;
    }
    let _ = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Hands the first readiness fact to whoever waits for it, once, from either stream.
#[derive(Clone)]
struct ReadyOnce {
    find: Option<Ready>,
    sender: std::sync::Arc<std::sync::Mutex<Option<oneshot::Sender<String>>>>,
}

impl ReadyOnce {
    fn new(find: Option<Ready>, sender: oneshot::Sender<String>) -> Self {
        ReadyOnce {
            find,
            sender: std::sync::Arc::new(std::sync::Mutex::new(Some(sender))),
        }
    }

    fn look(&self, line: &str) {
        let Some(find) = self.find else { return };
        let Some(fact) = find(line) else { return };
        let mut sender = self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = sender.take() {
            let _ = sender.send(fact);
        }
    }
}

/// Copies a child's output to its log, line by line, looking for the readiness line.
async fn follow(
    stream: impl AsyncRead + Unpin,
    log: mpsc::UnboundedSender<String>,
    ready: ReadyOnce,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        ready.look(&line);
        if log.send(line).is_err() {
            break;
        }
    }
}

async fn write_lines(mut file: File, mut lines: mpsc::UnboundedReceiver<String>) {
    while let Some(mut line) = lines.recv().await {
        line.push('\n');
        if file.write_all(line.as_bytes()).await.is_err() {
            return;
        }
        // Others follow these files (the controller, people with tail -f).
        let _ = file.flush().await;
    }
}
