//! The player page, `GET /events/{event}/`: a small HTML shell that takes the viewer's ticket
//! and starts playback.
//!
//! What it does: renders, from configuration alone (the event's id and title, the hls.js asset
//! URL, the ticket's query-parameter and cookie names), one page per event. Every viewer gets the
//! same bytes, so the edge and browsers can cache it ([`CACHE_CONTROL`]) and revalidate it with a
//! strong [`PlayerPage::etag`] and [`not_modified`]. The page's inline script:
//!
//! - takes the ticket from `?{query_param}=` (then keeps it in the `{cookie}` cookie, scoped to
//!   `/events/{event}/`, and removes it from the address bar so a copied link does not carry it)
//!   or from that cookie; with no ticket it says so and requests nothing;
//! - plays `master.m3u8?{query_param}={ticket}`, relative to the page;
//! - when the manifest cannot be played, fetches it once more to read the edge's
//!   [`x-usher-reason`](crate::reason::REASON_HEADER) and shows a message for it, with the code
//!   in the message's `data-reason` attribute.
//!
//! What it does not do: any I/O, or anything per viewer. The ticket never reaches this module:
//! the page reads it in the browser, so the bytes stay the same for everyone. Choosing the
//! status, the headers and the `x-usher-reason` of the response is the caller's job; this module
//! gives the body, its validator and the header values the page is designed for.
//!
//! The key decision is how to choose between native HLS and hls.js. Desktop Chromium answers
//! `"maybe"` to `canPlayType("application/vnd.apple.mpegurl")` yet may not play, so a truthy
//! answer is no reason to go native. Apple's WebKit (Safari, every iOS browser) plays HLS
//! natively, Content Steering and AirPlay included, and since Safari also has MediaSource, an
//! "MSE first" rule alone would make it download the player script for nothing. So: WebKit with
//! native HLS plays natively; every other browser with MediaSource (or ManagedMediaSource) and
//! `Hls.isSupported()` uses hls.js, loaded (by `import()`) only then; native HLS is the last
//! resort; otherwise the page says the browser cannot play the stream.

use bytes::Bytes;

use crate::config::{Event, TicketSettings};

/// The hls.js version the edge serves, as a literal so it can be spliced into
/// [`HLS_JS_ASSET_PATH`] at compile time. The browser test checks it against the npm package.
macro_rules! hls_js_version {
    () => {
        "1.7.4"
    };
}

/// The npm version of hls.js the edge serves (`package.json` of the browser test pins the same).
pub const HLS_JS_VERSION: &str = hls_js_version!();

/// Where the edge serves hls.js's full build (`dist/hls.min.js`, 624 KB, 189 KB gzipped). Not
/// the light build (120 KB gzipped): it leaves out alternate renditions, and the origin carries
/// audio as its own rendition (`EXT-X-MEDIA:TYPE=AUDIO`, RFC 8216 §4.3.4.1), so viewers of the
/// light build saw the event in silence. The version is in the path, so the file never changes
/// at that address and can be cached for a year ([`ASSET_CACHE_CONTROL`]).
pub const HLS_JS_ASSET_PATH: &str = concat!("/assets/hls.js/", hls_js_version!(), "/hls.min.js");

/// `Content-Type` of the player page.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// `Cache-Control` of the player page. Public, since every viewer gets the same bytes; short,
/// because the bytes follow the configuration (a new title, a new hls.js version) and a stale
/// page would point at an asset that is no longer served. Revalidation with the ETag is cheap.
pub const CACHE_CONTROL: &str = "public, max-age=300";

/// `Cache-Control` of versioned assets such as [`HLS_JS_ASSET_PATH`]: their bytes never change
/// at a given address.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// How long the page keeps the ticket in its cookie, in seconds. Long enough for an event and a
/// few reloads; the ticket's own expiry still applies, and the edge says so when it has passed.
pub const TICKET_COOKIE_MAX_AGE_SECS: u32 = 4 * 60 * 60;

/// The static assets the page loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assets {
    /// URL of hls.js's build, e.g. [`HLS_JS_ASSET_PATH`].
    pub hls_js_url: String,
}

impl Default for Assets {
    /// The pinned hls.js at [`HLS_JS_ASSET_PATH`], served by the edge itself.
    fn default() -> Self {
        Assets {
            hls_js_url: HLS_JS_ASSET_PATH.to_owned(),
        }
    }
}

/// A rendered page (the player page or the waiting room) and its validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerPage {
    body: Bytes,
    etag: String,
}

impl PlayerPage {
    /// The HTML, UTF-8. Cloning the [`Bytes`] is cheap, so one page can answer many requests.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The strong entity tag of [`body`](Self::body), quoted, ready for the `ETag` header.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// The start of both pages, up to the open `body` rule: the document head with the title, and
/// the content centred on a dark page. A macro, because `concat!` takes only literals.
macro_rules! page_head {
    () => {
        concat!(
            r#"<!doctype html><html lang=en><meta charset=utf-8>"#,
            r#"<meta name=viewport content="width=device-width"><title>@TITLE@</title>"#,
            r#"<style>body{margin:0;min-height:100vh;display:grid;place-content:center;"#,
            r#"background:#111;color:#eee;font:18px sans-serif;text-align:center"#,
        )
    };
}

/// The page's markup, with `@NAME@` holes filled by [`player_page`] in one pass (so a filled
/// value is never itself searched for holes). Kept small on purpose: the whole page stays under
/// 2.75 KiB, so the answer fits in two packets and the viewer waits only on the manifest.
///
/// hls.js plays the stream at standard latency, `lowLatencyMode: false`: whole segments,
/// playlist reloads that poll (see the template), three target durations behind the live edge
/// (`liveSyncDurationCount: 3`, hls.js's default, as RFC 8216 §6.3.3 recommends), though the
/// origin also lists parts (LL-HLS) for players that want them. Two reasons. In low-latency
/// mode, hls.js 1.7.4 stopped loading media for 1 to 4 s after a Content Steering pathway switch
/// that came just as a segment completed: the new pathway's copy of the parts is not marked
/// loaded, so hls.js keeps choosing the segment already buffered until its parts leave the
/// playlist (the local event's browser test saw it in about one run in two). Steering moves
/// viewers all event long, so that stall would be routine. And at a million viewers, parts with
/// a playlist reload per part (RFC 8216bis §6.2.5.2) multiply the requests every CDN and edge
/// answers by about four, for a few seconds less latency. The browser tests check that no part
/// is loaded. Any fatal hls.js error means the manifest or its media cannot be loaded or played,
/// so the page asks the edge for the reason; hls.js itself has already retried what is worth
/// retrying (not the 4xx refusals).
///
/// The page adds CMCD to every request to a CDN (CTA-5004 request mode, §3.1: one `CMCD` query
/// parameter, no extra header, so no CORS preflight), with a few lines of its own rather than
/// hls.js's CMCD controller, which would send it to the page's own host too and with keys the
/// controller does not read. The keys
/// are the ones the steering controller uses (CTA-5004 §3.3, sorted): `bl` buffer length (ms,
/// to 100 ms), `br` the playing rendition's bitrate (kbit/s), `bs` the buffer ran dry since the
/// last request, `mtp` hls.js's throughput estimate (kbit/s, to 100 kbit/s) and `sid`, a random
/// id per page load, which the controller counts as one viewer. Requests to the page's own host
/// (manifest, steering) carry none: the edge attributes QoE to the CDN whose host a request
/// came in on, and the page's host may be none of them.
///
/// hls.js is loaded with `import()`: its UMD build also evaluates as a module and then sets the
/// global `Hls`, and a page that plays natively never requests it.
const TEMPLATE: &str = concat!(
    page_head!(),
    // The video fits the width, and the height in landscape; the message box only shows when
    // there is something to say.
    r#"}video{width:min(94vw,960px,140vh);aspect-ratio:16/9;background:#000}"#,
    r#"#msg{padding:1em;border:1px solid}</style><h1>@TITLE@</h1>"#,
    r#"<video id=v controls muted autoplay playsinline></video><p id=msg role=alert hidden></p>"#,
    // `v` and `msg` are the elements, by the window's named access to ids.
    r#"<script>(()=>{const D=document,E=encodeURIComponent,P=@PARAM@,C=@COOKIE@,"#,
    r#"U=new URL(location),S=U.searchParams,Y="Your ticket ",o=Y+"is for another event.","#,
    r#"T={no_ticket:"You need a ticket to watch.",ticket_expired:Y+"has expired.","#,
    r#"ticket_not_yet_valid:Y+"is not valid yet.",ticket_wrong_event:o,ticket_out_of_scope:o,"#,
    r#"too_many_streams:Y+"is in use on too many screens.","#,
    r#"unsupported:"This browser cannot play this stream."},"#,
    r#"say=r=>{msg.dataset.reason=r;msg.textContent=T[r]||(/^ticket_/.test(r)?Y+"is not valid.":"#,
    r#""Playback failed; try again.");msg.hidden=!1;v.hidden=!0};"#,
    r#"let t=S.get(P),n=0;"#,
    // A ticket in the URL is kept in the cookie and taken out of the address bar, so a link
    // copied from it does not share the ticket.
    r#"if(t){D.cookie=C+"="+E(t)+@COOKIE_ATTRS@+(U.protocol=="https:"?";secure":"");"#,
    r#"S.delete(P);history.replaceState(0,"",U)}"#,
    r#"else t=decodeURIComponent((D.cookie.match("(^|; )"+C+"=([^;]*)")||[])[2]||"");"#,
    r#"if(!t)return say("no_ticket");"#,
    // A random id per browser, so reloading the page takes this screen's stream lease over
    // instead of needing a second one (storage may be off: then every load is a new screen).
    r#"let d;try{d=localStorage.ud||=Math.random()}catch{}"#,
    r#"const u="master.m3u8?"+P+"="+E(t)+(d?"&device="+d:""),N=v.canPlayType("application/vnd.apple.mpegurl"),"#,
    // On failure, ask the edge once why: the reason is in a header hls.js does not expose.
    // `queued` or a refused admission: the event admits in phases; the waiting room takes over.
    r#"fail=()=>n++||fetch(u).then(r=>r.headers.get("x-usher-reason")||"",e=>"")"#,
    r#".then(r=>/^(queued|admission_)/.test(r)?location.replace("waiting"):say(r)),"#,
    r#"play=()=>{if(!N)return say("unsupported");v.onerror=fail;v.src=u};"#,
    r#"if(N&&/^Apple/.test(navigator.vendor)||!(self.ManagedMediaSource||self.MediaSource))return play();"#,
    r#"import(@HLSJS@).then(()=>{if(!Hls.isSupported())return play();"#,
    // A failed segment is retried every 500 ms, not after 1, 2, 4, 8 s (the count is shared by
    // all renditions, so a CDN outage reached the long delays at once): once steering or the
    // error handling moves the player to another CDN, the next retry fetches from there, before
    // the buffer runs out. `DefaultConfig` is hls.js's documented global default.
    r#"Object.assign(Hls.DefaultConfig.fragLoadPolicy.default.errorRetry,"#,
    r#"{retryDelayMs:500,maxRetryDelayMs:500});"#,
    // CMCD (see above). `xhrSetup` may open the request itself, at another URL (hls.js's
    // documented hook); it must not throw, or hls.js opens the request and calls it again.
    // A playlist reload goes without its blocking directives (`_HLS_msn`, `_HLS_part`, RFC
    // 8216bis §6.2.5.2), so the origin answers at once (RFC 8216 §6.3.4 polling). Outside
    // low-latency mode hls.js asks to be held until the next whole segment, about one target
    // duration, yet times such a request out after 0.8 of one (1.6 s here); every timeout of
    // the audio playlist sends the whole pathway to a five-minute penalty box, and once every
    // CDN has been there the next error is fatal (seen in the local event's browser test).
    r#"let w=0;const q=Math.random(),h=new Hls({lowLatencyMode:!1,xhrSetup:(x,r)=>{"#,
    r#"if(new URL(r,U).host==U.host)return;r=r.replace(/&_HLS_(msn|part)=\d+/g,"");const b=v.buffered,"#,
    r#"l=((h.levels||[])[h.currentLevel]||{}).bitrate/1e3|0,"#,
    r#"k=["bl="+((b.length&&b.end(b.length-1)-v.currentTime)*10|0)*100,l&&"br="+l,w&&"bs","#,
    r#""mtp="+(h.bandwidthEstimate/1e5|0)*100,'sid="'+q+'"'].filter(Boolean);w=0;"#,
    r#"x.open("GET",r+(r.includes("?")?"&":"?")+"CMCD="+E(k.join()))}});"#,
    r#"v.onwaiting=()=>w=v.currentTime>0;"#,
    r#"h.on("hlsError",(e,d)=>d.fatal&&fail());h.loadSource(u);h.attachMedia(v)},play)})()</script>"#
);

/// The waiting room's markup (phased admission, [`crate::admission`]), filled like
/// [`TEMPLATE`]. The same bytes for every viewer of an event, cached like the player page: what
/// differs per viewer (the place, the wait) comes from `queue`, which the page polls as often as
/// its `retry_after_s` says, and which sets the viewer's cookies. When `queue` says `admitted`
/// the page goes back to the player page, whose manifest request now carries the admission.
/// A refused queue cookie (`queue_*`) is cleared by the edge, so the page simply asks again and
/// queues at the back; a ticket problem is said in words, as on the player page.
const WAITING_TEMPLATE: &str = concat!(
    page_head!(),
    r#";padding:0 1em}"#,
    r#"#msg{font-size:1.3em}</style><h1>@TITLE@</h1>"#,
    r#"<p id=msg role=status>Finding your place in the queue…</p>"#,
    r#"<p>Keep this page open: it takes you to the stream when it is your turn.</p>"#,
    // `msg` is the element, by the window's named access to ids.
    r#"<script>(()=>{const K="; your place is kept.",T={before_doors:"The doors open soon. "#,
    r#"Everyone who arrives before then gets a place drawn at random, so there is no need to "#,
    r#"hurry.",paused:"Admission is paused"+K,full:"The event is full right now"+K,"#,
    r#"unknown:"Admission is on hold"+K},"#,
    r#"go=()=>fetch("queue",{cache:"no-store"}).then(r=>r.json().catch(()=>({})).then(j=>{"#,
    r#"const w=r.headers.get("x-usher-reason")||"";if(j.state=="admitted")return location.replace("./");"#,
    r#"if(!r.ok){if(/^queue_/.test(w))return setTimeout(go,1e3);"#,
    r#"msg.dataset.reason=w;return msg.textContent=w=="no_ticket"?"You need a ticket to watch.":"#,
    r#"/^ticket_/.test(w)?"Your ticket is not valid for this event.":"Something went wrong; reload the page."}"#,
    r#"const s=j.wait_s,m=s!=null?"You are in the queue. Estimated wait: "+(s<60?"under a minute":"#,
    r#""about "+Math.ceil(s/60)+" min")+".":T[j.admission]||"You are in the queue.";"#,
    r#"msg.dataset.reason=w;msg.textContent=m+(j.waiting?" "+j.waiting+" waiting.":"");"#,
    r#"setTimeout(go,(j.retry_after_s||5)*1e3)}),()=>setTimeout(go,5e3));go()})()</script>"#
);

/// Renders the waiting room page of `event`: the same bytes for every viewer; the viewer's place
/// and wait come from `queue`, which the page polls.
pub fn waiting_page(event: &Event) -> PlayerPage {
    let title = html_escape(&event.title);
    let body = WAITING_TEMPLATE.replace("@TITLE@", &title);
    let etag = format!("\"{:016x}\"", fnv1a64(body.as_bytes()));
    PlayerPage {
        body: Bytes::from(body),
        etag,
    }
}

/// Renders the player page of `event`.
///
/// The bytes depend only on the arguments, never on the viewer. `ticket` gives the query
/// parameter and cookie names (its other fields are not used). Ids and names are expected to
/// have passed the configuration's checks (`A-Z a-z 0-9 - _ .`): the event id goes into the
/// cookie's `path` and the cookie name into the regular expression that reads it back. They are
/// escaped for their JavaScript strings all the same, so no configuration can break out of the
/// script, and the title is escaped for HTML.
pub fn player_page(event: &Event, assets: &Assets, ticket: &TicketSettings) -> PlayerPage {
    let title = html_escape(&event.title);
    // The cookie is scoped to the event's pages; the ticket is for this event only anyway.
    let cookie_attrs = js_string(&format!(
        ";path=/events/{}/;max-age={TICKET_COOKIE_MAX_AGE_SECS};samesite=lax",
        event.id
    ));
    let param = js_string(&ticket.query_param);
    let cookie = js_string(&ticket.cookie);
    let hls_js = js_string(&assets.hls_js_url);

    let mut body = String::with_capacity(TEMPLATE.len() + 2 * title.len() + 128);
    let mut rest = TEMPLATE;
    while let Some(start) = rest.find('@') {
        let (before, hole) = rest.split_at(start);
        body.push_str(before);
        let filled = [
            ("@TITLE@", title.as_str()),
            ("@PARAM@", param.as_str()),
            ("@COOKIE_ATTRS@", cookie_attrs.as_str()),
            ("@COOKIE@", cookie.as_str()),
            ("@HLSJS@", hls_js.as_str()),
        ]
        .into_iter()
        .find_map(|(name, value)| hole.strip_prefix(name).map(|after| (value, after)));
        match filled {
            Some((value, after)) => {
                body.push_str(value);
                rest = after;
            }
            // Not a hole: an `@` of the markup itself (there is none today).
            None => {
                body.push('@');
                rest = hole.get(1..).unwrap_or_default();
            }
        }
    }
    body.push_str(rest);

    let etag = format!("\"{:016x}\"", fnv1a64(body.as_bytes()));
    PlayerPage {
        body: Bytes::from(body),
        etag,
    }
}

/// Whether a request with this `If-None-Match` should get 304 Not Modified for a representation
/// whose entity tag is `etag`: RFC 9110 §13.1.2, with the weak comparison it prescribes (`W/`
/// prefixes are ignored on both sides).
///
/// `*` matches any current representation. A list matches if any member does. A member that is
/// not a well-formed entity tag matches nothing, and the members after it are still read. A
/// request with several `If-None-Match` fields should pass them joined with `", "`.
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(field) = if_none_match else {
        return false;
    };
    let ours = opaque_tag(etag.trim());
    let mut rest = field;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        if rest.starts_with('*') {
            // `*` is only valid alone, but whoever sends it means "anything you have".
            return true;
        }
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        // An entity tag is a quoted string whose body has no `"` (but may have commas).
        let member_end = tag
            .strip_prefix('"')
            .and_then(|body| body.find('"').map(|close| close + 2));
        match member_end {
            Some(end) => {
                let (member, after) = tag.split_at(end);
                if ours.is_some_and(|o| Some(o) == opaque_tag(member)) {
                    return true;
                }
                rest = after;
            }
            // Malformed: skip to the next comma.
            None => match rest.find(',') {
                Some(comma) => rest = rest.get(comma..).unwrap_or_default(),
                None => return false,
            },
        }
    }
}

/// The quoted part of an entity tag (`"abc"` of `W/"abc"`), or `None` if it is not one.
fn opaque_tag(tag: &str) -> Option<&str> {
    let quoted = tag.strip_prefix("W/").unwrap_or(tag);
    let body = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (!body.contains('"')).then_some(quoted)
}

/// Escapes text for HTML content and attribute values: `&`, `<`, `>`, `"` and `'`.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JavaScript string literal for `text`, safe inside an inline `<script>`: besides quotes,
/// backslashes and control characters, `<`, `>` and `&` are written as `\u` escapes so the
/// literal can never contain `</script>` or `<!--`, and U+2028/U+2029 are escaped for older
/// engines that end a string at them.
fn js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' | '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// FNV-1a, 64 bits: the page's cache validator. Any change of the bytes changes it with
/// overwhelming likelihood, which is all an ETag needs; it is not a security hash, and nothing
/// here depends on it resisting a deliberate collision (the bytes come from configuration).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, title: &str) -> Event {
        Event {
            id: id.to_owned(),
            title: title.to_owned(),
            origin: "origin-1".to_owned(),
            origin_path: format!("live/{id}/"),
            key_ids: Vec::new(),
            admission: None,
        }
    }

    fn ticket() -> TicketSettings {
        TicketSettings {
            audience: "usher".to_owned(),
            issuer: "tickets.example".to_owned(),
            leeway_secs: 30,
            query_param: "ticket".to_owned(),
            cookie: "usher_ticket".to_owned(),
        }
    }

    fn page(id: &str, title: &str) -> PlayerPage {
        player_page(&event(id, title), &Assets::default(), &ticket())
    }

    fn text(page: &PlayerPage) -> &str {
        std::str::from_utf8(page.body()).unwrap()
    }

    #[test]
    fn page_fits_the_size_budget() {
        let p = page(
            "champions-final-2026",
            "Champions League Final 2026: Real Madrid – Man City",
        );
        assert!(p.body().len() < 2816, "{} bytes", p.body().len());
    }

    #[test]
    fn same_configuration_same_bytes_and_etag() {
        let a = page("final-2026", "The Final");
        let b = page("final-2026", "The Final");
        assert_eq!(a.body(), b.body());
        assert_eq!(a.etag(), b.etag());
    }

    #[test]
    fn another_event_other_bytes_and_etag() {
        let a = page("final-2026", "The Final");
        let b = page("semi-2026", "The Final");
        assert_ne!(a.body(), b.body());
        assert_ne!(a.etag(), b.etag());
        assert!(text(&b).contains(";path=/events/semi-2026/;"));
    }

    #[test]
    fn etag_is_strong_quoted_and_follows_every_input() {
        let base = page("final-2026", "The Final");
        let etag = base.etag();
        assert_eq!(etag.len(), 18);
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
        assert_eq!(etag, format!("\"{:016x}\"", fnv1a64(base.body())));

        let retitled = page("final-2026", "The Final!");
        let other_asset = player_page(
            &event("final-2026", "The Final"),
            &Assets {
                hls_js_url: "/assets/hls.js/9.9.9/hls.min.js".to_owned(),
            },
            &ticket(),
        );
        let other_cookie = player_page(
            &event("final-2026", "The Final"),
            &Assets::default(),
            &TicketSettings {
                cookie: "t".to_owned(),
                ..ticket()
            },
        );
        for other in [retitled, other_asset, other_cookie] {
            assert_ne!(other.etag(), etag);
        }
    }

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn configuration_reaches_the_script() {
        let p = page("final-2026", "The Final");
        let html = text(&p);
        assert!(html.contains(r#"P="ticket",C="usher_ticket","#));
        assert!(html.contains(r#"+";path=/events/final-2026/;max-age=14400;samesite=lax"+"#));
        assert!(html.contains(&format!("import(\"{HLS_JS_ASSET_PATH}\")")));
        assert!(!html.contains("@"), "an unfilled hole");
        assert!(html.contains("<video id=v controls muted autoplay playsinline>"));
        assert!(html.contains("<p id=msg role=alert hidden>"));
    }

    #[test]
    fn requests_to_a_cdn_carry_cmcd_as_a_query_parameter_for_the_controller() {
        let p = page("final-2026", "The Final");
        let html = text(&p);
        assert!(html.contains(r#"new Hls({lowLatencyMode:!1,xhrSetup:"#));
        assert!(html.contains(r#"+"CMCD="+E(k.join())"#));
        // The keys in CTA-5004's order, the session id quoted (an RFC 8941 string).
        let keys = ["\"bl=\"", "\"br=\"", "\"bs\"", "\"mtp=\"", "'sid=\"'"];
        let at: Vec<usize> = keys.iter().map(|k| html.find(k).expect(k)).collect();
        assert!(at.is_sorted(), "{at:?}");
    }

    #[test]
    fn the_script_knows_the_reasons_the_edge_gives() {
        use crate::reason::{Layer, Reason};
        use usher_shared::token;
        let p = page("final-2026", "The Final");
        let html = text(&p);
        for reason in [
            Reason::NoTicket,
            Reason::TooManyStreams,
            Reason::Token(Layer::Ticket, token::Reason::Expired),
            Reason::Token(Layer::Ticket, token::Reason::NotYetValid),
            Reason::Token(Layer::Ticket, token::Reason::WrongEvent),
            Reason::Token(Layer::Ticket, token::Reason::OutOfScope),
        ] {
            assert!(html.contains(&format!("{}:", reason.code())), "{reason:?}");
        }
        // Every other ticket refusal gets the generic ticket message through its prefix.
        assert!(
            Reason::Token(Layer::Ticket, token::Reason::BadSignature)
                .code()
                .starts_with("ticket_")
        );
        assert!(html.contains(r#"Y="Your ticket ""#));
        assert!(html.contains(r#"/^ticket_/.test(r)?Y+"is not valid.""#));
        assert!(html.contains(crate::reason::REASON_HEADER));
    }

    #[test]
    fn hostile_titles_are_escaped() {
        let hostile = r#"</script><script>alert("x")</script> & 'q' <!-- -->"#;
        let p = page("final-2026", hostile);
        let html = text(&p);
        assert_eq!(html.matches("<script>").count(), 1);
        assert_eq!(html.matches("</script>").count(), 1);
        assert!(!html.contains("<!--"));
        let escaped = "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \
                       &#39;q&#39; &lt;!-- --&gt;";
        assert_eq!(html.matches(escaped).count(), 2, "in <title> and <h1>");
    }

    #[test]
    fn html_escape_covers_the_five_characters() {
        assert_eq!(
            html_escape(r#"a&b<c>d"e'f"#),
            "a&amp;b&lt;c&gt;d&quot;e&#39;f"
        );
        assert_eq!(html_escape("&amp;"), "&amp;amp;");
        assert_eq!(html_escape("Zürich — 東京"), "Zürich — 東京");
        assert_eq!(html_escape(""), "");
    }

    #[test]
    fn js_strings_cannot_leave_their_quotes_or_the_script() {
        assert_eq!(js_string("ticket"), r#""ticket""#);
        assert_eq!(js_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            js_string("</script><!--&"),
            r#""\u003c/script\u003e\u003c!--\u0026""#
        );
        assert_eq!(js_string("a\nb\u{2028}"), r#""a\u000ab\u2028""#);
        // Hostile configuration still stays inside its literals.
        let p = player_page(
            &event("x", "x"),
            &Assets {
                hls_js_url: "\"</script><script>alert(1)//".to_owned(),
            },
            &TicketSettings {
                query_param: "p\"+alert(1)+\"".to_owned(),
                ..ticket()
            },
        );
        let html = text(&p);
        assert_eq!(html.matches("</script>").count(), 1);
        assert!(html.contains(r#"P="p\"+alert(1)+\"""#));
    }

    #[test]
    fn filled_values_are_not_searched_for_holes() {
        let p = page("x", "@PATH@ and @TITLE@");
        let html = text(&p);
        assert!(html.contains("<h1>@PATH@ and @TITLE@</h1>"));
    }

    #[test]
    fn if_none_match_absent_or_empty_never_matches() {
        assert!(!not_modified(None, "\"abc\""));
        assert!(!not_modified(Some(""), "\"abc\""));
        assert!(!not_modified(Some(" , ,"), "\"abc\""));
    }

    #[test]
    fn if_none_match_exact_and_weak_comparison() {
        let etag = "\"abc\"";
        assert!(not_modified(Some("\"abc\""), etag));
        assert!(not_modified(Some("W/\"abc\""), etag));
        assert!(not_modified(Some("\"abc\""), "W/\"abc\""));
        assert!(not_modified(Some("W/\"abc\""), "W/\"abc\""));
        assert!(!not_modified(Some("\"abd\""), etag));
        assert!(
            !not_modified(Some("\"ABC\""), etag),
            "opaque tags are case-sensitive"
        );
        assert!(
            !not_modified(Some("abc"), etag),
            "unquoted is not an entity tag"
        );
        assert!(
            !not_modified(Some("w/\"abc\""), etag),
            "the weak prefix is case-sensitive"
        );
    }

    #[test]
    fn if_none_match_lists() {
        let etag = "\"abc\"";
        assert!(not_modified(Some("\"x\", \"abc\""), etag));
        assert!(not_modified(Some("\"x\",W/\"abc\""), etag));
        assert!(not_modified(Some("\"x\" ,\t \"abc\" , "), etag));
        assert!(!not_modified(Some("\"x\", \"y\""), etag));
        // A comma inside an entity tag does not split it.
        assert!(!not_modified(Some("\"a,\"abc\"\""), etag));
        assert!(not_modified(Some("\"a,b\""), "\"a,b\""));
        // A malformed member does not hide the members after it.
        assert!(not_modified(Some("garbage, \"abc\""), etag));
        assert!(not_modified(Some("\"x\" junk, \"abc\""), etag));
        assert!(!not_modified(Some("\"unterminated"), etag));
    }

    #[test]
    fn if_none_match_star() {
        assert!(not_modified(Some("*"), "\"abc\""));
        assert!(not_modified(Some(" * "), "\"abc\""));
        assert!(not_modified(Some("\"x\", *"), "\"abc\""));
    }

    #[test]
    fn the_pages_own_etag_round_trips() {
        let p = page("final-2026", "The Final");
        assert!(not_modified(Some(p.etag()), p.etag()));
        assert!(not_modified(Some(&format!("W/{}", p.etag())), p.etag()));
        let other = page("final-2026", "The Semi");
        assert!(!not_modified(Some(other.etag()), p.etag()));
    }

    #[test]
    fn pinned_asset_path_names_the_version() {
        assert_eq!(
            HLS_JS_ASSET_PATH,
            format!("/assets/hls.js/{HLS_JS_VERSION}/hls.min.js")
        );
        assert_eq!(Assets::default().hls_js_url, HLS_JS_ASSET_PATH);
    }
}
