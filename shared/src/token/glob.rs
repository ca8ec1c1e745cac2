//! Path globs for token scopes: a ticket's `scope` claim and a session token's `acl`.
//!
//! `*` matches any run of bytes, `/` included, and `?` matches exactly one byte; every other
//! byte matches itself. This is how EdgeAuth ACLs are written (`/events/e1/*` covers every
//! rendition, segment and key below the event), and using one rule for both token layers means a
//! path a ticket admits is exactly a path its session tokens can reach.
//!
//! Matching is the classic two-pointer algorithm with one backtrack point: it runs in
//! O(pattern × path) in the worst case and never recurses, so a hostile pattern of many stars
//! cannot exhaust the edge's stack or time.

/// Whether `path` matches the glob `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    matches_bytes(pattern.as_bytes(), path.as_bytes())
}

/// [`matches()`] on bytes.
pub fn matches_bytes(pattern: &[u8], path: &[u8]) -> bool {
    // Scopes are nearly always a literal prefix and one trailing star (`/events/e1/*`): compare
    // the literal part at memcmp speed, and only then walk what follows the first wildcard.
    let literal = pattern
        .iter()
        .position(|&c| c == b'*' || c == b'?')
        .unwrap_or(pattern.len());
    let (Some(prefix), Some(pattern)) = (pattern.get(..literal), pattern.get(literal..)) else {
        return false;
    };
    let Some(path) = path.strip_prefix(prefix) else {
        return false;
    };
    if pattern == b"*" {
        return true;
    }
    walk(pattern, path)
}

/// The general matcher.
fn walk(pattern: &[u8], path: &[u8]) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    // Where to resume after the most recent `*`: (pattern index after it, path index it has
    // consumed up to).
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, s));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == path.get(s) => {
                p += 1;
                s += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more byte and retry from there.
                Some((after_star, consumed)) => {
                    star = Some((after_star, consumed + 1));
                    p = after_star;
                    s = consumed + 1;
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_crosses_slashes() {
        assert!(matches("/events/e1/*", "/events/e1/720p/seg_1.m4s"));
        assert!(matches("/events/e1/*", "/events/e1/"));
        assert!(!matches("/events/e1/*", "/events/e10/master.m3u8"));
        assert!(!matches("/events/e1/*", "/events/e1"));
    }

    #[test]
    fn question_mark_matches_exactly_one_byte() {
        assert!(matches("/a/seg_?.ts", "/a/seg_1.ts"));
        assert!(!matches("/a/seg_?.ts", "/a/seg_12.ts"));
        assert!(!matches("/a/seg_?.ts", "/a/seg_.ts"));
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(matches("/a/b.m3u8", "/a/b.m3u8"));
        assert!(!matches("/a/b.m3u8", "/a/b.m3u8x"));
        assert!(!matches("/a/b.m3u8", "/a/b.m3u"));
        assert!(matches("", ""));
        assert!(!matches("", "/"));
        assert!(matches("*", ""));
    }

    #[test]
    fn several_stars_backtrack_correctly() {
        assert!(matches("/e/*/seg_*.m4s", "/e/720p/seg_100.m4s"));
        assert!(matches("*a*b*c", "xxaxxbxxbxc"));
        assert!(!matches("*a*b*c", "xxaxxbxxbx"));
        assert!(matches("**", "anything"));
    }

    #[test]
    fn hostile_patterns_finish_quickly() {
        let pattern = "*a".repeat(200);
        let path = "a".repeat(199);
        assert!(!matches(&pattern, &path));
    }
}
