//! Where tokens ride on a request, and the query handling around them.
//!
//! A ticket may come in the query (`?ticket=`), as `Authorization: Bearer`, or in a cookie set
//! by the player page, in that order of precedence. A session token rides in the query of
//! every URI the edge wrote (`?__token__=`). Query values are percent-decoded per RFC 3986
//! §2.1; `+` is *not* a space here (that is HTML form encoding), because EdgeAuth tokens made
//! with `escape_early` contain literal `+`.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

/// The first value of query parameter `name`, percent-decoded. `None` when absent or when its
/// escapes are malformed or decode to something that is not UTF-8.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((n, value)) if n == name => Some(value),
            None if pair == name => Some(""),
            _ => None,
        })
        .and_then(percent_decode)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a non-UTF-8 result.
pub fn percent_decode(value: &str) -> Option<Cow<'_, str>> {
    if !value.contains('%') {
        return Some(Cow::Borrowed(value));
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The bearer token of an `Authorization` header (RFC 6750 §2.1), if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name` across all `Cookie` headers (RFC 6265 §5.4), if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            (n == name).then(|| value.trim_matches('"'))
        })
        .filter(|v| !v.is_empty())
}

/// The viewer's ticket: query parameter, then bearer token, then cookie.
pub fn ticket<'r>(
    query: Option<&'r str>,
    headers: &'r HeaderMap,
    query_name: &str,
    cookie_name: &str,
) -> Option<Cow<'r, str>> {
    query
        .and_then(|q| query_param(q, query_name))
        .filter(|t| !t.is_empty())
        .or_else(|| bearer(headers).map(Cow::Borrowed))
        .or_else(|| cookie(headers, cookie_name).map(Cow::Borrowed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn query_values_are_percent_decoded_but_plus_stays_plus() {
        assert_eq!(
            query_param("a=1&__token__=st%3D1~id=a+b&b", "__token__").as_deref(),
            Some("st=1~id=a+b")
        );
        assert_eq!(query_param("a=1&flag", "flag").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
        assert_eq!(query_param("t=%zz", "t"), None);
        assert_eq!(query_param("t=%ff", "t"), None, "not UTF-8");
        assert_eq!(query_param("t=%e2%9c%93", "t").as_deref(), Some("✓"));
    }

    #[test]
    fn ticket_precedence_is_query_then_bearer_then_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer from-header"),
        );
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; usher_ticket=from-cookie"),
        );
        let t = |q| ticket(q, &headers, "ticket", "usher_ticket").map(Cow::into_owned);
        assert_eq!(t(Some("ticket=from-query")).as_deref(), Some("from-query"));
        assert_eq!(t(Some("ticket=")).as_deref(), Some("from-header"));
        headers.remove(AUTHORIZATION);
        let t = |q| ticket(q, &headers, "ticket", "usher_ticket").map(Cow::into_owned);
        assert_eq!(t(None).as_deref(), Some("from-cookie"));
        assert_eq!(
            ticket(None, &HeaderMap::new(), "ticket", "usher_ticket"),
            None
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bEaReR abc"));
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }
}
