//! Integration tests of the edge core: one binary, one module per area.

mod admission;
mod beacon;
mod contract;
mod fixture;
mod lease;
