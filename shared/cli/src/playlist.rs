//! `usher playlist`: HLS playlist tools for operators.
//!
//! `usher playlist rewrite` does what the edge does to every playlist it serves: every URI is
//! resolved, pointed at a CDN base URL and given query parameters (a token), and every other byte
//! is kept. It reads a file or standard input and writes the playlist to standard output.
//!
//! Which URIs move depends on what is known about where the playlist came from:
//!
//! * with `--playlist-url`, relative URIs resolve against it, and URIs on its origin (same scheme,
//!   host and port) move under `--base-url` with the parameters, keeping their paths;
//! * without it, the playlist is taken to live at `--base-url` (a directory): relative URIs
//!   resolve against it, and every URI on the base URL's origin gets the parameters where it is.
//!
//! Either way, URIs on other hosts and with other schemes are left exactly as written.
//!
//! Exit codes: 0 with the playlist on stdout, 1 when the input is not a playlist (one line on
//! stderr naming what it looks like and the line), 2 for usage errors, including an unreadable
//! input file.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use usher_shared::playlist::{BaseUrl, HttpUrl, Playlist, Rewrite};

use crate::UsageError;

/// The `usher playlist` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum PlaylistCommand {
    /// Rewrite every URI of a playlist to point at a base URL, with query parameters, and print
    /// the playlist with every other byte as it was.
    Rewrite(RewriteArgs),
}

/// Arguments of `usher playlist rewrite`.
#[derive(Args, Debug)]
pub(crate) struct RewriteArgs {
    /// Where URIs are pointed: an http or https URL without query, taken as a directory.
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    base_url: String,

    /// Where the playlist was fetched from. Relative URIs resolve against it, and URIs on its
    /// host move under --base-url. Without it the playlist is taken to live at --base-url.
    #[arg(long, value_name = "URL", value_parser = parse_playlist_url)]
    playlist_url: Option<String>,

    /// A query parameter for every rewritten URI, replacing one of the same name; repeatable.
    /// NAME and VALUE are plain text, percent-encoded where a query needs it.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,

    /// The playlist to read; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
}

fn parse_base_url(text: &str) -> Result<String, String> {
    match BaseUrl::parse(text) {
        Some(_) => Ok(text.to_owned()),
        None => Err(
            "expected an absolute http or https URL without query, fragment or dot segments"
                .to_owned(),
        ),
    }
}

fn parse_playlist_url(text: &str) -> Result<String, String> {
    match HttpUrl::parse(text) {
        Some(_) => Ok(text.to_owned()),
        None => Err("expected an absolute http or https URL".to_owned()),
    }
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err("expected NAME=VALUE with a non-empty NAME".to_owned()),
    }
}

/// Runs a `usher playlist` subcommand.
pub(crate) fn run(command: PlaylistCommand) -> anyhow::Result<ExitCode> {
    match command {
        PlaylistCommand::Rewrite(args) => rewrite(&args),
    }
}

fn rewrite(args: &RewriteArgs) -> anyhow::Result<ExitCode> {
    let (source, body) = read_input(args.file.as_deref())?;
    let playlist = Playlist::parse(&body).map_err(|error| anyhow!("{source}: {error}"))?;

    // Without --playlist-url the base URL stands for the playlist's directory, so `seg.ts` is
    // `<base-url>/seg.ts` whether or not the flag ends with `/`.
    let directory;
    let (playlist_url, to_base) = match &args.playlist_url {
        Some(playlist_url) => (playlist_url.as_str(), base_url(&args.base_url)?),
        None => {
            directory = format!("{}/", args.base_url.trim_end_matches('/'));
            (directory.as_str(), base_url(&args.base_url)?.origin())
        }
    };
    let params: Vec<(&str, &str)> = args
        .params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let rewrite = Rewrite {
        playlist_url: HttpUrl::parse(playlist_url)
            .ok_or_else(|| UsageError::new(format!("invalid playlist URL {playlist_url}")))?,
        from_base: None,
        to_base,
        params: &params,
    };

    let output = playlist.rewrite(&rewrite);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&output)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn base_url(text: &str) -> Result<BaseUrl<'_>, UsageError> {
    BaseUrl::parse(text).ok_or_else(|| UsageError::new(format!("invalid --base-url {text}")))
}

/// Reads the whole input: a file, or standard input for `-` or no file. Returns a name for
/// messages and the bytes.
fn read_input(file: Option<&Path>) -> anyhow::Result<(String, Vec<u8>)> {
    let mut body = Vec::new();
    match file {
        Some(path) if path != Path::new("-") => {
            body = std::fs::read(path).map_err(|error| {
                UsageError::new(format!("cannot read {}: {error}", path.display()))
            })?;
            Ok((path.display().to_string(), body))
        }
        _ => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut body)
                .map_err(|error| UsageError::new(format!("cannot read standard input: {error}")))?;
            Ok(("<stdin>".to_owned(), body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_needs_a_name_and_an_equals_sign() {
        assert_eq!(
            parse_param("__token__=a=b"),
            Ok(("__token__".to_owned(), "a=b".to_owned()))
        );
        assert_eq!(parse_param("a="), Ok(("a".to_owned(), String::new())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=v").is_err());
    }

    #[test]
    fn base_url_must_be_a_plain_http_directory() {
        assert!(parse_base_url("https://cdn-a.example").is_ok());
        assert!(parse_base_url("https://cdn-a.example/live/").is_ok());
        assert!(parse_base_url("https://cdn-a.example/?x=1").is_err());
        assert!(parse_base_url("cdn-a.example").is_err());
        assert!(parse_playlist_url("https://o.example/a/index.m3u8?x=1").is_ok());
        assert!(parse_playlist_url("file:///tmp/x.m3u8").is_err());
    }
}
