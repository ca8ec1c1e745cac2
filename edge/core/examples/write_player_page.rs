//! Writes the player page of a sample event to standard output, for the browser test
//! (`tests/browser/`), which serves it as the edge would.
//!
//! Usage: `cargo run -p usher-edge-core --example write_player_page [EVENT_ID [TITLE]]`.
//! The ticket parameter is `ticket` and the cookie `usher_ticket`; hls.js is at
//! `usher_edge_core::page::HLS_JS_ASSET_PATH`. The ETag goes to standard error.

use std::io::Write;

use usher_edge_core::config::{Event, TicketSettings};
use usher_edge_core::page::{Assets, player_page};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let id = args.next().unwrap_or_else(|| "final-2026".to_owned());
    let title = args
        .next()
        .unwrap_or_else(|| "Champions League Final 2026: Real Madrid – Man City".to_owned());
    let event = Event {
        origin: "origin-1".to_owned(),
        origin_path: format!("live/{id}/"),
        id,
        title,
        key_ids: Vec::new(),
        admission: None,
    };
    let ticket = TicketSettings {
        audience: "usher".to_owned(),
        issuer: "tickets.example".to_owned(),
        leeway_secs: 30,
        query_param: "ticket".to_owned(),
        cookie: "usher_ticket".to_owned(),
    };
    let page = player_page(&event, &Assets::default(), &ticket);
    std::io::stdout().write_all(page.body())?;
    writeln!(std::io::stderr(), "{}", page.etag())
}
