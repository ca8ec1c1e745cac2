//! `usher control report --event E --out DIR`: the post-event report, written as files.
//!
//! Reads the controller's record from its data directory (`timeline.jsonl`, `decisions.jsonl`,
//! `audit.jsonl`; the last two may be absent: a calm event with no operator has none), the SLA
//! and interval from the controller's configuration when `--config` is given (the defaults
//! otherwise), hands the text to [`usher_control::report`] and writes `report.html`,
//! `report.json`, `timeline.csv` and `decisions.csv` into `--out`, and `admission.csv` when
//! the event had a waiting room (none otherwise, rather than an empty file), printing each
//! path.
//!
//! Exit codes: 0 with the files written, 2 when the data directory has no timeline, the event
//! has no tick in it, or the configuration cannot be read (a message on stderr), 1 when a file
//! cannot be written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use usher_control::config::ControlConfig;
use usher_control::report::{Record, Report, ReportOptions};

use crate::{UsageError, print_line};

/// Arguments of `usher control report`.
#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// The event to report on (an `[[event]]` id).
    #[arg(long)]
    event: String,
    /// The directory to write report.html, report.json, timeline.csv, decisions.csv and, for an
    /// event with a waiting room, admission.csv into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The controller's data directory.
    #[arg(long, default_value = "control-data")]
    data: PathBuf,
    /// The controller's configuration, for its SLA, interval, capacities and steering settings
    /// (the defaults without it; the interval is then read from the ticks).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Reads one file of the record; a missing optional file is empty.
fn read(dir: &Path, name: &str, required: bool) -> Result<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(String::new()),
        Err(e) => Err(UsageError::new(format!(
            "cannot read {}: {e} (is --data the controller's data directory?)",
            path.display()
        ))
        .into()),
    }
}

/// Writes the report's files and prints their paths.
pub(crate) fn run(args: &ReportArgs) -> Result<ExitCode> {
    let options = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?;
            let config = ControlConfig::from_toml(&text).map_err(|e| {
                UsageError::new(format!("invalid configuration {}: {e}", path.display()))
            })?;
            ReportOptions::from_config(args.event.clone(), &config)
        }
        None => ReportOptions::new(args.event.clone()),
    };
    let timeline = read(&args.data, "timeline.jsonl", true)?;
    let decisions = read(&args.data, "decisions.jsonl", false)?;
    let audit = read(&args.data, "audit.jsonl", false)?;
    let record = Record {
        timeline: &timeline,
        decisions: &decisions,
        audit: &audit,
    };
    let report = Report::build(record, &options).map_err(UsageError::from_config)?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let json = report.to_json().context("serialising report.json")?;
    let files = [
        ("report.html", Some(report.to_html())),
        ("report.json", Some(json)),
        ("timeline.csv", Some(report.timeline_csv())),
        ("decisions.csv", Some(report.decisions_csv())),
        ("admission.csv", report.admission_csv()),
    ];
    for (name, contents) in files.into_iter().filter_map(|(n, c)| Some((n, c?))) {
        let path = args.out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        print_line(&path.display().to_string()).context("writing to stdout")?;
    }
    Ok(ExitCode::SUCCESS)
}
