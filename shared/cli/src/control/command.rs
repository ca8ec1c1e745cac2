//! `usher control drain|pin|clear|admission`: an operator's command, sent to a running
//! controller.
//!
//! The command goes to the controller's `POST /v1/commands` with who and why; the controller
//! applies it at its next evaluation and appends it to its audit log, applied or refused. The
//! exit code says which: 0 applied, 1 refused (the reason is printed), 2 a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use usher_control::operator::{Action, PinWeight};

use super::client::{self, Limits};
use crate::{UsageError, print_line};

/// Where the controller is and who is asking.
#[derive(Args, Debug)]
pub(crate) struct Operator {
    /// The controller's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9400/")]
    controller: String,
    /// Who is acting (default: $USER).
    #[arg(long)]
    who: Option<String>,
    /// Why (required: the post-event report explains every manual move with it).
    #[arg(long)]
    why: String,
    /// A file holding the operator token, if the controller requires one.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

/// Drain a CDN: move all its viewers off at the next evaluation.
#[derive(Args, Debug)]
pub(crate) struct DrainArgs {
    /// The CDN id.
    cdn: String,
    #[command(flatten)]
    operator: Operator,
}

/// Pin CDN weights, as CDN=BASIS_POINTS pairs (`cdn-a=7000 cdn-b=3000`).
#[derive(Args, Debug)]
pub(crate) struct PinArgs {
    /// CDN=BASIS_POINTS pairs.
    #[arg(required = true, value_parser = pin_weight)]
    weights: Vec<PinWeight>,
    #[command(flatten)]
    operator: Operator,
}

/// Clear a CDN's drain or pin.
#[derive(Args, Debug)]
pub(crate) struct ClearArgs {
    /// The CDN id.
    cdn: String,
    #[command(flatten)]
    operator: Operator,
}

/// Act on an event's waiting room.
#[derive(Args, Debug)]
pub(crate) struct AdmissionArgs {
    #[command(subcommand)]
    action: AdmissionAction,
}

#[derive(Subcommand, Debug)]
enum AdmissionAction {
    /// Resume admission after a pause; before the doors, open them now.
    Open {
        /// The event id.
        event: String,
        #[command(flatten)]
        operator: Operator,
    },
    /// Pause admission: the frontier stops where it is; admitted viewers play on.
    Pause {
        /// The event id.
        event: String,
        #[command(flatten)]
        operator: Operator,
    },
    /// Set the admission rate, viewers per minute, or `configured` to go back to the
    /// configuration's rate.
    Rate {
        /// The event id.
        event: String,
        /// Viewers per minute (above 0), or `configured`.
        #[arg(value_parser = admission_rate)]
        rate: RateArg,
        #[command(flatten)]
        operator: Operator,
    },
}

#[derive(Clone, Copy, Debug)]
struct RateArg(Option<u32>);

fn admission_rate(text: &str) -> Result<RateArg, String> {
    if text == "configured" {
        return Ok(RateArg(None));
    }
    text.parse::<u32>()
        .ok()
        .filter(|r| *r > 0)
        .map(|r| RateArg(Some(r)))
        .ok_or_else(|| {
            format!("{text:?}: viewers per minute above 0, or `configured` (pause instead of 0)")
        })
}

pub(crate) fn admission(args: AdmissionArgs) -> Result<ExitCode> {
    match args.action {
        AdmissionAction::Open { event, operator } => {
            send(Action::AdmissionOpen { event }, operator)
        }
        AdmissionAction::Pause { event, operator } => {
            send(Action::AdmissionPause { event }, operator)
        }
        AdmissionAction::Rate {
            event,
            rate,
            operator,
        } => send(
            Action::AdmissionRate {
                event,
                rate_per_min: rate.0,
            },
            operator,
        ),
    }
}

fn pin_weight(text: &str) -> Result<PinWeight, String> {
    let (cdn, bp) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected CDN=BASIS_POINTS"))?;
    let weight_bp = bp
        .parse::<u16>()
        .ok()
        .filter(|w| *w <= 10_000)
        .ok_or_else(|| format!("{text:?}: basis points are 0 to 10000"))?;
    Ok(PinWeight {
        cdn: cdn.to_owned(),
        weight_bp,
    })
}

pub(crate) fn drain(args: DrainArgs) -> Result<ExitCode> {
    send(Action::Drain { cdn: args.cdn }, args.operator)
}

pub(crate) fn pin(args: PinArgs) -> Result<ExitCode> {
    send(
        Action::Pin {
            weights: args.weights,
        },
        args.operator,
    )
}

pub(crate) fn clear(args: ClearArgs) -> Result<ExitCode> {
    send(Action::Clear { cdn: args.cdn }, args.operator)
}

fn send(action: Action, operator: Operator) -> Result<ExitCode> {
    let who = operator
        .who
        .or_else(|| std::env::var("USER").ok())
        .filter(|w| !w.trim().is_empty())
        .ok_or_else(|| UsageError::new("--who is required when $USER is not set"))?;
    let mut body = serde_json::to_value(&action)?;
    if let Some(object) = body.as_object_mut() {
        object.insert("who".into(), who.into());
        object.insert("why".into(), operator.why.into());
    }
    let base = operator.controller.trim_end_matches('/');
    let mut request = http::Request::post(format!("{base}/v1/commands"))
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(path) = &operator.token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?;
        request = request.header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", token.trim()),
        );
    }
    let request = request
        .body(Bytes::from(body.to_string()))
        .map_err(|e| UsageError::new(format!("--controller: {e}")))?;
    let limits = Limits {
        timeout: Duration::from_secs(10),
        max_body_bytes: 64 << 10,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(client::send(request, &limits))?;
    let text = String::from_utf8_lossy(&answer.body);
    match answer.status.as_u16() {
        200 => {
            print_line(text.trim())?;
            Ok(ExitCode::SUCCESS)
        }
        409 => {
            print_line(text.trim())?;
            Ok(ExitCode::from(1))
        }
        status => bail!("the controller answered {status}: {}", text.trim()),
    }
}
