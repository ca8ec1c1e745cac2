//! The edge's conformance suite: natively against the core, and through each platform's real
//! runtime (wasmtime, Viceroy, workerd). One binary; see wasm-tests/README.md.

mod artifacts;
mod budget;
mod case;
mod faults;
mod http;
mod native;
mod origin;
mod runtime;
mod runtimes;
mod store;
mod stream;
mod tools;
