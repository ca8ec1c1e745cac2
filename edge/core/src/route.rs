//! Which of the edge's resources a request names.
//!
//! Paths are checked before anything else: a path that could mean two things to two parsers
//! (dot segments, encoded slashes or dots, backslashes, doubled slashes, control bytes) is
//! refused as `bad_path`, because the same path is later sent to the origin and used as a cache
//! key, and a CDN, the edge and the origin must all agree on what it names.
//!
//! | path | route |
//! |---|---|
//! | `/events/{event}/` | the player page |
//! | `/events/{event}/master.m3u8` | the multivariant playlist (needs a ticket) |
//! | `/events/{event}/steering.json` | the Content Steering manifest (needs a session token) |
//! | `/events/{event}/cmcd` | the CMCD beacon endpoint (POST) |
//! | `/events/{event}/waiting` | the waiting room page (events with phased admission) |
//! | `/events/{event}/queue` | the waiting room's status: queue position or admission (needs a ticket) |
//! | `/events/{event}/…/*.m3u8` | a media playlist (needs a session token) |
//! | `/events/{event}/keys/{kid}/{period}.key` | an AES-128 content key, made at the edge (needs a session token) |
//! | `/events/{event}/…` anything else | a segment, part or init segment (needs a session token) |
//! | `/assets/…` | versioned static assets (the player library) |
//! | `/healthz`, `/version` | health and version for monitors |

use usher_shared::content_key;

use crate::reason::Reason;

/// The longest path accepted. Real paths are a few dozen bytes; this bounds work on hostile ones.
pub const MAX_PATH_LEN: usize = 1024;

/// The path prefix under which events live.
pub const EVENTS_PREFIX: &str = "/events/";

/// The path prefix of versioned static assets (the player library).
pub const ASSETS_PREFIX: &str = "/assets/";

/// What a request is for. Borrowed from the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'p> {
    /// The player page of an event.
    PlayerPage {
        /// The event id from the path.
        event: &'p str,
    },
    /// The event's multivariant playlist.
    Multivariant {
        /// The event id from the path.
        event: &'p str,
    },
    /// The Content Steering manifest.
    Steering {
        /// The event id from the path.
        event: &'p str,
    },
    /// The CMCD beacon endpoint.
    Beacon {
        /// The event id from the path.
        event: &'p str,
    },
    /// A media playlist below the event.
    MediaPlaylist {
        /// The event id from the path.
        event: &'p str,
        /// The path below the event's directory, e.g. `720p/index.m3u8`.
        rest: &'p str,
    },
    /// An AES-128 content key of the event (`keys/{kid}/{period}.key` below it), which the edge
    /// derives itself rather than fetching (see `usher_shared::content_key`).
    Key {
        /// The event id from the path.
        event: &'p str,
        /// The master key's id.
        kid: &'p str,
        /// The key period.
        period: u64,
    },
    /// A segment, part, init segment or subtitle file below the event.
    Resource {
        /// The event id from the path.
        event: &'p str,
        /// The path below the event's directory, e.g. `720p/seg_100.m4s`.
        rest: &'p str,
    },
    /// The event's waiting room page (phased admission).
    WaitingPage {
        /// The event id from the path.
        event: &'p str,
    },
    /// The waiting room's status endpoint: a queue position, or the admission.
    Queue {
        /// The event id from the path.
        event: &'p str,
    },
    /// A versioned static asset.
    Asset {
        /// The path below `/assets/`, e.g. `hls.js/1.7.4/hls.min.js`.
        name: &'p str,
    },
    /// Liveness for monitors.
    Health,
    /// The running version and configuration summary.
    Version,
}

impl Route<'_> {
    /// The event a route belongs to, if any.
    pub fn event(&self) -> Option<&str> {
        match *self {
            Route::PlayerPage { event }
            | Route::Multivariant { event }
            | Route::Steering { event }
            | Route::Beacon { event }
            | Route::WaitingPage { event }
            | Route::Queue { event }
            | Route::MediaPlaylist { event, .. }
            | Route::Key { event, .. }
            | Route::Resource { event, .. } => Some(event),
            Route::Asset { .. } | Route::Health | Route::Version => None,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::PlayerPage { .. } => "page",
            Route::Multivariant { .. } => "multivariant",
            Route::Steering { .. } => "steering",
            Route::Beacon { .. } => "beacon",
            Route::WaitingPage { .. } => "waiting",
            Route::Queue { .. } => "queue",
            Route::MediaPlaylist { .. } => "media",
            Route::Key { .. } => "key",
            Route::Resource { .. } => "resource",
            Route::Asset { .. } => "asset",
            Route::Health => "health",
            Route::Version => "version",
        }
    }
}

/// Classifies `path` (the request path, without query). `NotFound` for well-formed paths the
/// edge does not serve, `BadPath` for malformed ones.
pub fn route(path: &str) -> Result<Route<'_>, Reason> {
    check_path(path)?;
    match path {
        "/healthz" => return Ok(Route::Health),
        "/version" => return Ok(Route::Version),
        _ => {}
    }
    if let Some(name) = path.strip_prefix(ASSETS_PREFIX).filter(|n| !n.is_empty()) {
        return Ok(Route::Asset { name });
    }
    let Some(below) = path.strip_prefix(EVENTS_PREFIX) else {
        return Err(Reason::NotFound);
    };
    let (event, rest) = below.split_once('/').ok_or(Reason::NotFound)?;
    if event.is_empty() {
        return Err(Reason::NotFound);
    }
    Ok(match rest {
        "" => Route::PlayerPage { event },
        "master.m3u8" => Route::Multivariant { event },
        "steering.json" => Route::Steering { event },
        "cmcd" => Route::Beacon { event },
        "waiting" => Route::WaitingPage { event },
        "queue" => Route::Queue { event },
        rest if rest.ends_with('/') => return Err(Reason::NotFound),
        rest if rest.ends_with(".m3u8") => Route::MediaPlaylist { event, rest },
        // Everything below `keys/` is the edge's own: a path there that is not a key is not
        // passed to the origin.
        rest if rest.starts_with(content_key::KEYS_DIR)
            && rest.as_bytes().get(content_key::KEYS_DIR.len()) == Some(&b'/') =>
        {
            let (kid, period) = content_key::parse_key_path(rest).ok_or(Reason::NotFound)?;
            Route::Key { event, kid, period }
        }
        rest => Route::Resource { event, rest },
    })
}

/// Refuses paths that different parsers could read differently (RFC 3986 §3.3, §6.2.2). One
/// pass over the bytes: this runs on every request.
fn check_path(path: &str) -> Result<(), Reason> {
    let bytes = path.as_bytes();
    if bytes.len() > MAX_PATH_LEN || bytes.first() != Some(&b'/') {
        return Err(Reason::BadPath);
    }
    // Dot segments and empty segments (`//`) are ambiguous; a trailing empty segment is the
    // directory itself and fine.
    let bad_segment = |segment: &[u8]| matches!(segment, b"" | b"." | b"..");
    let mut segment_start = 1;
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' => {
                if bad_segment(bytes.get(segment_start..i).unwrap_or_default()) {
                    return Err(Reason::BadPath);
                }
                segment_start = i + 1;
            }
            // Escapes must be well-formed and must not hide a separator, a dot or a control
            // byte: an origin that decodes `%2e%2e` or `%2f` would otherwise see another path
            // than the one checked here.
            b'%' => {
                let value = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or(Reason::BadPath)?;
                if value < 0x20 || matches!(value, b'/' | b'\\' | b'.' | b'%' | 0x7f) {
                    return Err(Reason::BadPath);
                }
                i += 2;
            }
            // Only the characters RFC 3986 allows in a path segment.
            b if b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                ) => {}
            _ => return Err(Reason::BadPath),
        }
        i += 1;
    }
    let last = bytes.get(segment_start..).unwrap_or_default();
    if !last.is_empty() && bad_segment(last) {
        return Err(Reason::BadPath);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_paths_route_to_their_resources() {
        let cases = [
            ("/events/e1/", Route::PlayerPage { event: "e1" }),
            (
                "/events/e1/master.m3u8",
                Route::Multivariant { event: "e1" },
            ),
            ("/events/e1/steering.json", Route::Steering { event: "e1" }),
            ("/events/e1/cmcd", Route::Beacon { event: "e1" }),
            ("/events/e1/waiting", Route::WaitingPage { event: "e1" }),
            ("/events/e1/queue", Route::Queue { event: "e1" }),
            (
                "/events/e1/720p/index.m3u8",
                Route::MediaPlaylist {
                    event: "e1",
                    rest: "720p/index.m3u8",
                },
            ),
            (
                "/events/e1/720p/seg_100.m4s",
                Route::Resource {
                    event: "e1",
                    rest: "720p/seg_100.m4s",
                },
            ),
            (
                "/events/e1/keys/k7/123.key",
                Route::Key {
                    event: "e1",
                    kid: "k7",
                    period: 123,
                },
            ),
            (
                "/events/e1/keysafe/k7",
                Route::Resource {
                    event: "e1",
                    rest: "keysafe/k7",
                },
            ),
            ("/healthz", Route::Health),
            ("/version", Route::Version),
        ];
        for (path, expected) in cases {
            assert_eq!(route(path), Ok(expected), "{path}");
        }
    }

    #[test]
    fn paths_outside_the_edge_are_not_found() {
        for path in [
            "/",
            "/events",
            "/events/",
            "/events/e1",
            "/other/e1/",
            "/events/e1/720p/",
            // Below `keys/`, only canonical key paths: nothing there reaches the origin.
            "/events/e1/keys/k7",
            "/events/e1/keys/k7/0123.key",
            "/events/e1/keys/k7/1.bin",
            "/events/e1/keys/k7/x/1.key",
        ] {
            assert_eq!(route(path), Err(Reason::NotFound), "{path}");
        }
    }

    #[test]
    fn ambiguous_or_hostile_paths_are_bad() {
        for path in [
            "",
            "events/e1/",
            "/events/e1/../e2/master.m3u8",
            "/events/e1/./master.m3u8",
            "/events/../etc/passwd",
            "/events/e1/%2e%2e/e2/master.m3u8",
            "/events/e1/%2E%2E/x",
            "/events/e1/720p%2fseg.m4s",
            "/events/e1/720p%5cseg.m4s",
            "/events/e1/seg%00.m4s",
            "/events/e1/seg%zz.m4s",
            "/events/e1/seg%2",
            "/events/e1//master.m3u8",
            "/events/e1/seg .m4s",
            "/events/e1/seg\\x.m4s",
            "/events/e1/seg\u{7f}.m4s",
            "/events/e1/é.m4s",
        ] {
            assert_eq!(route(path), Err(Reason::BadPath), "{path:?}");
        }
        let long = format!("/events/e1/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(route(&long), Err(Reason::BadPath));
    }

    #[test]
    fn harmless_escapes_and_sub_delimiters_are_allowed() {
        assert_eq!(
            route("/events/e1/audio%20en/seg;v=1.m4s"),
            Ok(Route::Resource {
                event: "e1",
                rest: "audio%20en/seg;v=1.m4s"
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn accepted_paths_have_no_dot_segments_or_hidden_separators(path in "/[a-z0-9./%_~-]{0,40}") {
            if route(&path).is_ok() || route(&path) == Err(Reason::NotFound) {
                let decoded = path.to_ascii_lowercase();
                proptest::prop_assert!(!path.split('/').skip(1).any(|s| s == "." || s == ".."));
                proptest::prop_assert!(!path.contains("//"));
                proptest::prop_assert!(!decoded.contains("%2e") && !decoded.contains("%2f"));
            }
        }

        #[test]
        fn routing_never_panics(path in "\\PC{0,200}") {
            let _ = route(&path);
        }
    }
}
