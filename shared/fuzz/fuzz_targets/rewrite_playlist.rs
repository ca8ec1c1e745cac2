//! Any bytes: parsing never panics; a body that parses writes back byte for byte, and rewriting
//! it twice equals rewriting it once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_shared::playlist::{BaseUrl, HttpUrl, Playlist, Rewrite};

fuzz_target!(|data: &[u8]| {
    let Ok(playlist) = Playlist::parse(data) else {
        return;
    };
    assert_eq!(playlist.to_bytes(), data, "writing is not the identity");
    // The edge's rewrite, or bases nested inside each other, picked by the input's length.
    let to_base = ["https://cdn-a.example/", "https://origin.example/cdn/"][data.len() % 2];
    let rewrite = Rewrite {
        playlist_url: HttpUrl::parse("https://origin.example/events/e1/720p/index.m3u8").unwrap(),
        from_base: None,
        to_base: BaseUrl::parse(to_base).unwrap(),
        params: &[("__token__", "st=1~exp=2~acl=/*~hmac=ab")],
    };
    let once = playlist.rewrite(&rewrite);
    let again = Playlist::parse(&once)
        .expect("a rewritten playlist parses")
        .rewrite(&rewrite);
    assert_eq!(again, once, "rewriting twice differs from rewriting once");
});
