//! Reading an API's failure: the status class decides the [`PublishError`] variant, the body
//! gives the message, and a 429's headers say when to try again.

use http::{HeaderMap, StatusCode};

use super::PublishError;

/// The longest API message kept in an error, in characters: enough for any documented message,
/// short enough that an HTML error page does not flood the log.
const MESSAGE_CHARS: usize = 300;

/// The error for a non-2xx `status`, with `message` taken from the body by the caller.
pub(super) fn failure(
    status: StatusCode,
    headers: &HeaderMap,
    message: String,
    now_ms: u64,
) -> PublishError {
    let code = status.as_u16();
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PublishError::Unauthorized {
            status: code,
            message,
        },
        StatusCode::TOO_MANY_REQUESTS => PublishError::RateLimited {
            retry_after_secs: retry_after(headers, now_ms),
            message,
        },
        s if s.is_client_error() => PublishError::Rejected {
            status: code,
            message,
        },
        s if s.is_server_error() => PublishError::Unavailable {
            status: code,
            message,
        },
        // 1xx never reaches here (the client reads the final answer); 3xx is not followed: a
        // write API that redirects is misconfigured, and the body says where to.
        _ => PublishError::BadReply {
            status: code,
            message,
        },
    }
}

/// When a rate-limited client may try again, in seconds from now: `Retry-After` in
/// delta-seconds (RFC 9110, section 10.2.3; the HTTP-date form is not used by these APIs and is
/// ignored), else Fastly's `Fastly-RateLimit-Reset`, the end of the window in Unix seconds
/// (Fastly API reference, "Rate limiting": <https://www.fastly.com/documentation/reference/api/#rate-limiting>).
pub(super) fn retry_after(headers: &HeaderMap, now_ms: u64) -> Option<u64> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(secs) = number("retry-after") {
        return Some(secs);
    }
    let reset = number("fastly-ratelimit-reset")?;
    Some(reset.saturating_sub(now_ms / 1000))
}

/// The body as a one-line message: lossy UTF-8, control characters replaced by spaces, trimmed,
/// and cut at [`MESSAGE_CHARS`] characters.
pub(super) fn body_text(body: &[u8]) -> String {
    one_line(&String::from_utf8_lossy(body))
}

/// `text` as one trimmed line of at most [`MESSAGE_CHARS`] characters.
pub(super) fn one_line(text: &str) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut chars = flat.chars();
    let mut cut: String = chars.by_ref().take(MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn statuses_map_to_their_error_class() {
        let none = HeaderMap::new();
        let m = || "m".to_owned();
        assert!(matches!(
            failure(StatusCode::UNAUTHORIZED, &none, m(), 0),
            PublishError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            failure(StatusCode::FORBIDDEN, &none, m(), 0),
            PublishError::Unauthorized { status: 403, .. }
        ));
        assert!(matches!(
            failure(StatusCode::TOO_MANY_REQUESTS, &none, m(), 0),
            PublishError::RateLimited {
                retry_after_secs: None,
                ..
            }
        ));
        assert!(matches!(
            failure(StatusCode::PAYLOAD_TOO_LARGE, &none, m(), 0),
            PublishError::Rejected { status: 413, .. }
        ));
        assert!(matches!(
            failure(StatusCode::NOT_FOUND, &none, m(), 0),
            PublishError::Rejected { status: 404, .. }
        ));
        assert!(matches!(
            failure(StatusCode::SERVICE_UNAVAILABLE, &none, m(), 0),
            PublishError::Unavailable { status: 503, .. }
        ));
        assert!(matches!(
            failure(StatusCode::FOUND, &none, m(), 0),
            PublishError::BadReply { status: 302, .. }
        ));
    }

    #[test]
    fn retry_after_comes_from_retry_after_or_fastlys_reset_time() {
        let now_ms = 1_700_000_000_500;
        assert_eq!(
            retry_after(&headers(&[("retry-after", "17")]), now_ms),
            Some(17)
        );
        assert_eq!(
            retry_after(
                &headers(&[("fastly-ratelimit-reset", "1700000042")]),
                now_ms
            ),
            Some(42)
        );
        // A reset time already past means "now", not a negative wait.
        assert_eq!(
            retry_after(
                &headers(&[("fastly-ratelimit-reset", "1600000000")]),
                now_ms
            ),
            Some(0)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
                now_ms
            ),
            None
        );
        assert_eq!(retry_after(&HeaderMap::new(), now_ms), None);
    }

    #[test]
    fn a_body_becomes_one_short_line() {
        assert_eq!(body_text(b"  bad\r\nthing \n"), "bad  thing");
        assert_eq!(body_text(b""), "(empty body)");
        assert_eq!(body_text(&[0xff, b'a']), "\u{fffd}a");
        let long = body_text(&[b'x'; 1000]);
        assert_eq!(long.chars().count(), MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
