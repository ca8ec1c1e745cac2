//! HLS Content Steering (rfc8216bis §4.4.6.6 and §7; Apple's HLS Content Steering
//! specification v1.2): the tag the edge puts in multivariant playlists, and the steering
//! manifest it serves.
//!
//! The design is stateless. The multivariant playlist lists its variants once, on the pathway
//! (CDN) chosen for the viewer, and names a steering server on the edge's own host. The steering
//! manifest then offers the other CDNs as `PATHWAY-CLONES` of that pathway (the same URIs with
//! another host) and orders all of them in `PATHWAY-PRIORITY` from the health snapshot. What the
//! next answer needs (the session id, the pathway the playlist was written for) rides in the
//! viewer's session token, which is signed, so any edge anywhere can answer any viewer, and each
//! answer's `RELOAD-URI` carries a freshly minted token.
//!
//! Cloning replaces only the host name (`URI-REPLACEMENT.HOST`; players set the URL's hostname,
//! keeping its scheme and port), so a CDN can be offered as a clone only when its base URL has
//! the same scheme, port and path as the base pathway's; others are left out of the clones (and
//! so out of the priority list) rather than sent to a port or path that would not serve them.

use serde::Serialize;
use usher_shared::health;

use crate::config::{EdgeConfig, Pathway};

/// The steering manifest's file name below the event, and its `SERVER-URI` relative to the
/// multivariant playlist.
pub const MANIFEST: &str = "steering.json";

/// The query parameter with which players report their current pathway.
pub const PATHWAY_PARAM: &str = "_HLS_pathway";

/// The query parameter with which players report their throughput estimate, bits per second.
pub const THROUGHPUT_PARAM: &str = "_HLS_throughput";

/// The `EXT-X-CONTENT-STEERING` tag line for a multivariant playlist (rfc8216bis §4.4.6.6):
/// the steering manifest is on the same host as the playlist, and until it arrives the player
/// uses `pathway`.
pub fn tag(token_param: &str, token: &str, pathway: &str) -> String {
    format!(
        "#EXT-X-CONTENT-STEERING:SERVER-URI=\"{MANIFEST}?{token_param}={}\",PATHWAY-ID=\"{pathway}\"",
        query_value(token)
    )
}

/// Encodes a token for a query value inside a quoted-string: `"` cannot appear in one (§4.2),
/// and `&`, `+`, `#` and `%` mean something in a query.
fn query_value(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    for c in token.chars() {
        match c {
            '"' | '&' | '+' | '#' | '%' | ' ' => out.push_str(&format!("%{:02X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A pathway clone (Content Steering v1.2 `PATHWAY-CLONES`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Clone {
    /// The pathway cloned: the one the multivariant playlist was written for.
    #[serde(rename = "BASE-ID")]
    pub base_id: String,
    /// The new pathway's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// How its URIs differ.
    #[serde(rename = "URI-REPLACEMENT")]
    pub uri_replacement: UriReplacement,
}

/// `URI-REPLACEMENT`: the host of the cloned pathway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UriReplacement {
    /// The host name replacing the base pathway's (never a port: players keep the URI's).
    #[serde(rename = "HOST")]
    pub host: String,
}

/// The steering manifest (Content Steering §2, the JSON object served at `SERVER-URI`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Always 1.
    #[serde(rename = "VERSION")]
    pub version: u8,
    /// Seconds until the player should reload the manifest.
    #[serde(rename = "TTL")]
    pub ttl: u64,
    /// Where to reload it from, relative to this manifest's URI.
    #[serde(rename = "RELOAD-URI")]
    pub reload_uri: String,
    /// Pathways, most preferred first.
    #[serde(rename = "PATHWAY-PRIORITY")]
    pub pathway_priority: Vec<String>,
    /// Clones of the base pathway on the other CDNs.
    #[serde(rename = "PATHWAY-CLONES", skip_serializing_if = "Vec::is_empty")]
    pub pathway_clones: Vec<Clone>,
}

/// A base URL cut where cloning cuts it: the host name, which `URI-REPLACEMENT.HOST` replaces,
/// and everything else (scheme, port, path), which a clone keeps. Players replace the host
/// name only (hls.js sets `URL.hostname`), so a port cannot change through a clone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BaseUrl<'a> {
    scheme: &'a str,
    host: &'a str,
    port: &'a str,
    path: &'a str,
}

impl<'a> BaseUrl<'a> {
    fn parse(base_url: &'a str) -> Option<Self> {
        let (scheme, rest) = base_url.split_once("://")?;
        let slash = rest.find('/')?;
        let (authority, path) = (rest.get(..slash)?, rest.get(slash..)?);
        // An IPv6 literal keeps its brackets; the port is what follows the host.
        let host_end = match authority.strip_prefix('[') {
            Some(v6) => v6.find(']')? + 2,
            None => authority.find(':').unwrap_or(authority.len()),
        };
        Some(BaseUrl {
            scheme,
            host: authority.get(..host_end)?,
            port: authority.get(host_end..)?,
            path,
        })
    }

    /// Whether `other` serves this base's URIs once its host name is put in.
    fn clones_to(&self, other: &BaseUrl<'_>) -> bool {
        (self.scheme, self.port, self.path) == (other.scheme, other.port, other.path)
    }
}

/// The inputs of one steering answer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The pathway the viewer's multivariant playlist was written for.
    pub base: &'a str,
    /// The viewer's session id (its slot in the health snapshot).
    pub session_id: &'a str,
    /// The client's groups, most specific first.
    pub groups: &'a [&'a str],
    /// Now, Unix milliseconds.
    pub now_ms: u64,
    /// The freshly minted session token for `RELOAD-URI`.
    pub token: &'a str,
    /// The query parameter carrying it.
    pub token_param: &'a str,
}

/// Builds the steering manifest for one viewer.
pub fn manifest(
    config: &EdgeConfig,
    snapshot: Option<&health::HealthSnapshot>,
    request: &Request<'_>,
) -> Manifest {
    let base = config
        .pathway(request.base)
        .and_then(|p| BaseUrl::parse(&p.base_url));
    // Pathways that can serve this viewer's URIs: the base itself, and clones that differ from
    // it in the host name only.
    let usable: Vec<&Pathway> = config
        .pathways
        .iter()
        .filter(|p| {
            p.id == request.base
                || base
                    .zip(BaseUrl::parse(&p.base_url))
                    .is_some_and(|(b, o)| b.clones_to(&o))
        })
        .collect();
    let clones = usable
        .iter()
        .filter(|p| p.id != request.base)
        .filter_map(|p| {
            Some(Clone {
                base_id: request.base.to_owned(),
                id: p.id.clone(),
                uri_replacement: UriReplacement {
                    host: BaseUrl::parse(&p.base_url)?.host.to_owned(),
                },
            })
        })
        .collect();
    Manifest {
        version: 1,
        ttl: config.settings.steering.ttl_secs,
        reload_uri: format!(
            "{MANIFEST}?{}={}",
            request.token_param,
            query_value(request.token)
        ),
        pathway_priority: priority(config, snapshot, request, &usable),
        pathway_clones: clones,
    }
}

/// The order of pathways for this viewer: the health snapshot's, when it has one (it keeps the
/// viewer on its assigned CDN while that CDN is healthy and puts failed CDNs last); otherwise
/// the static weights, with the viewer's statically assigned CDN first.
fn priority(
    config: &EdgeConfig,
    snapshot: Option<&health::HealthSnapshot>,
    request: &Request<'_>,
    usable: &[&Pathway],
) -> Vec<String> {
    let is_usable = |id: &str| usable.iter().any(|p| p.id == id);
    let from_health: Vec<String> = snapshot
        .map(|s| {
            s.pathway_priority(
                request.session_id.as_bytes(),
                request.groups,
                request.now_ms,
            )
            .into_iter()
            .filter(|id| is_usable(id))
            .map(str::to_owned)
            .collect()
        })
        .unwrap_or_default();
    if !from_health.is_empty() {
        let mut order = from_health;
        // A usable pathway the snapshot does not know still goes on the list, last.
        for p in usable {
            if !order.contains(&p.id) {
                order.push(p.id.clone());
            }
        }
        return order;
    }
    let weights: Vec<u16> = config.pathways.iter().map(|p| p.static_weight_bp).collect();
    let slot = health::session_slot(request.session_id.as_bytes(), 1000);
    let first = health::static_slot_cdn(&weights, slot, 1000)
        .and_then(|i| config.pathways.get(i))
        .map(|p| p.id.as_str());
    let mut rest: Vec<&Pathway> = usable.to_vec();
    rest.sort_by_key(|p| std::cmp::Reverse(p.static_weight_bp));
    let mut order: Vec<String> = first
        .filter(|f| is_usable(f))
        .map(str::to_owned)
        .into_iter()
        .collect();
    for p in rest {
        if !order.contains(&p.id) {
            order.push(p.id.clone());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parts;
    use crate::config::{ConfigParts, EdgeConfig};

    fn config_with(pathways: &str) -> EdgeConfig {
        EdgeConfig::from_parts(&ConfigParts {
            pathways: Some(pathways.as_bytes()),
            ..parts()
        })
        .unwrap()
    }

    fn request<'a>(base: &'a str, session_id: &'a str) -> Request<'a> {
        Request {
            base,
            session_id,
            groups: &[],
            now_ms: 1_767_225_600_000,
            token: "st=1~exp=2~acl=/events/e1/*~hmac=ab",
            token_param: "__token__",
        }
    }

    #[test]
    fn the_tag_names_the_manifest_beside_the_playlist_and_the_starting_pathway() {
        assert_eq!(
            tag("__token__", "a=1~b&c+d", "cdn-a"),
            "#EXT-X-CONTENT-STEERING:SERVER-URI=\"steering.json?__token__=a=1~b%26c%2Bd\",PATHWAY-ID=\"cdn-a\""
        );
    }

    #[test]
    fn a_clone_replaces_the_host_name_only_so_a_cdn_on_another_port_is_not_offered() {
        let config = config_with(
            r#"{"pathways": [
                {"id": "a", "base_url": "http://127.0.0.1:8401/", "static_weight_bp": 4000},
                {"id": "b", "base_url": "http://127.0.0.2:8401/", "static_weight_bp": 3000},
                {"id": "c", "base_url": "http://127.0.0.3:8402/", "static_weight_bp": 2000},
                {"id": "d", "base_url": "https://127.0.0.4:8401/", "static_weight_bp": 1000}
            ]}"#,
        );
        let m = manifest(&config, None, &request("a", "s-1"));
        let hosts: Vec<(&str, &str)> = m
            .pathway_clones
            .iter()
            .map(|c| (c.id.as_str(), c.uri_replacement.host.as_str()))
            .collect();
        assert_eq!(hosts, [("b", "127.0.0.2")]);
        assert_eq!(
            BaseUrl::parse("http://[::1]:9000/x/"),
            Some(BaseUrl {
                scheme: "http",
                host: "[::1]",
                port: ":9000",
                path: "/x/"
            })
        );
        assert_eq!(
            BaseUrl::parse("https://cdn.example/"),
            Some(BaseUrl {
                scheme: "https",
                host: "cdn.example",
                port: "",
                path: "/"
            })
        );
    }

    #[test]
    fn other_cdns_are_offered_as_clones_of_the_base_pathway() {
        let config = EdgeConfig::from_parts(&parts()).unwrap();
        let m = manifest(&config, None, &request("cdn-a", "s-1"));
        assert_eq!(m.version, 1);
        assert_eq!(m.ttl, 10);
        assert_eq!(
            m.pathway_clones,
            vec![Clone {
                base_id: "cdn-a".into(),
                id: "cdn-b".into(),
                uri_replacement: UriReplacement {
                    host: "cdn-b.example".into()
                }
            }]
        );
        let mut sorted = m.pathway_priority.clone();
        sorted.sort();
        assert_eq!(sorted, ["cdn-a", "cdn-b"]);
        assert!(
            m.reload_uri
                .starts_with("steering.json?__token__=st=1~exp=2")
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json["PATHWAY-CLONES"][0]["URI-REPLACEMENT"]["HOST"],
            "cdn-b.example"
        );
    }

    #[test]
    fn a_cdn_with_another_path_layout_is_not_offered() {
        let config = config_with(
            r#"{"pathways": [
                {"id": "a", "base_url": "https://a.example/", "static_weight_bp": 5000},
                {"id": "b", "base_url": "https://b.example/usher/", "static_weight_bp": 5000}
            ]}"#,
        );
        let m = manifest(&config, None, &request("a", "s-1"));
        assert!(m.pathway_clones.is_empty());
        assert_eq!(m.pathway_priority, ["a"]);
    }

    #[test]
    fn without_health_the_static_assignment_comes_first() {
        let config = EdgeConfig::from_parts(&parts()).unwrap();
        for sid in ["s-1", "s-2", "s-3", "s-4", "s-5", "s-6"] {
            let m = manifest(&config, None, &request("cdn-a", sid));
            let weights: Vec<u16> = config.pathways.iter().map(|p| p.static_weight_bp).collect();
            let slot = health::session_slot(sid.as_bytes(), 1000);
            let expected =
                &config.pathways[health::static_slot_cdn(&weights, slot, 1000).unwrap()].id;
            assert_eq!(&m.pathway_priority[0], expected, "{sid}");
        }
    }
}
