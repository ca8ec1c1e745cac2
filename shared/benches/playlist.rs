//! Playlist rewriting as the edge does it on every viewer request: parse the origin's playlist and
//! rewrite every URI to the CDN with a session token, from the URL strings to the output bytes.
//!
//! Each group measures, on the same playlist and in the same run, `usher_rewrite` beside two
//! baselines: `copy_bytes`, a plain copy of the body (the floor: no rewriter can beat it), and
//! `m3u8_rs_parse_write`, the `m3u8-rs` crate parsing the body and writing it back without
//! rewriting anything (a peer). The playlists come from the golden corpus: a multivariant playlist
//! with 8 variants and audio and subtitle renditions, and a Low-Latency HLS media playlist with 10
//! segments with parts.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use usher_shared::playlist::{BaseUrl, HttpUrl, Playlist, Rewrite};

const MULTIVARIANT: &[u8] =
    include_bytes!("../tests/golden/playlists/multivariant_full/input.m3u8");
const LL_HLS_MEDIA: &[u8] = include_bytes!("../tests/golden/playlists/ll_hls_media/input.m3u8");

const TOKEN: &str = "st=1795000000~exp=1795003600~acl=/events/e1/*~hmac=9f8e7d6c5b4a3f2e1d0c";

/// What the edge does per request: URLs and token in, rewritten playlist out. `None` when a URL
/// does not parse, which the benchmark setup rules out.
fn usher_rewrite(body: &[u8], playlist_url: &str) -> Option<Vec<u8>> {
    let params = [("__token__", TOKEN)];
    let rewrite = Rewrite {
        playlist_url: HttpUrl::parse(playlist_url)?,
        from_base: None,
        to_base: BaseUrl::parse("https://cdn-a.example/")?,
        params: &params,
    };
    Some(Playlist::parse(body).ok()?.rewrite(&rewrite))
}

fn m3u8_rs_parse_write(body: &[u8]) -> Option<Vec<u8>> {
    let playlist = m3u8_rs::parse_playlist_res(body).ok()?;
    let mut out = Vec::with_capacity(body.len());
    playlist.write_to(&mut out).ok()?;
    Some(out)
}

fn bench_group(c: &mut Criterion, group: &str, body: &'static [u8], playlist_url: &'static str) {
    // A baseline that fails would time an early return; check every contender does the work.
    assert!(usher_rewrite(body, playlist_url).is_some_and(|out| out.len() > body.len()));
    assert!(m3u8_rs_parse_write(body).is_some());

    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("usher_rewrite", |b| {
        b.iter(|| usher_rewrite(black_box(body), black_box(playlist_url)));
    });
    group.bench_function("copy_bytes", |b| b.iter(|| black_box(body).to_vec()));
    group.bench_function("m3u8_rs_parse_write", |b| {
        b.iter(|| m3u8_rs_parse_write(black_box(body)));
    });
    group.finish();
}

fn rewrite_multivariant(c: &mut Criterion) {
    bench_group(
        c,
        "rewrite_multivariant",
        MULTIVARIANT,
        "https://origin.example/events/e1/master.m3u8",
    );
}

fn rewrite_ll_hls_media(c: &mut Criterion) {
    bench_group(
        c,
        "rewrite_ll_hls_media",
        LL_HLS_MEDIA,
        "https://origin.example/events/e1/720p/index.m3u8",
    );
}

criterion_group!(benches, rewrite_multivariant, rewrite_ll_hls_media);
criterion_main!(benches);
