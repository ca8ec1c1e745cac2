//! `wasm-tests/budgets.json`: what each artifact may cost. Sizes in bytes per artifact, and
//! for the WASI-HTTP component a CPU budget per request in wasmtime fuel, by route.
//!
//! Fuel counts executed wasm operations, so it is the same on a fast machine and a slow one,
//! and a change that makes a route slower fails here without anything being timed. Budgets
//! sit about a third above what the routes use today: headroom for honest growth, not for a
//! regression that doubles the work. Raise one deliberately, with the reason in the commit.
#![cfg(test)]

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// The most bytes each artifact may have.
    pub size_bytes: BTreeMap<String, u64>,
    /// The hard limit `usher edge serve --fuel-per-request` enforces in the test run: a
    /// request over it traps.
    pub fuel_ceiling: u64,
    /// The fuel one request of each route may use.
    pub fuel: BTreeMap<String, u64>,
}

pub fn load() -> Budgets {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/budgets.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}
