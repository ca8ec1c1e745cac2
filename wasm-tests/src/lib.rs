//! Usher's edge conformance suite, run where the edge really runs.
//!
//! The edge's behaviour is written down as data: the conformance cases in
//! `edge/core/tests/conformance/` (a request, its inputs, the expected answer). This crate runs
//! them natively against the core (byte-exact expected bodies), and then through each
//! platform's real runtime: the WASI-HTTP component under wasmtime (`usher edge serve`), the
//! Fastly module under Viceroy, and the Cloudflare Worker under workerd, each against a real
//! local origin serving an FFmpeg-made stream. Every runtime must give the native core's
//! answer: status, reason code, headers, body. It also holds each artifact to its host-import
//! allow-list, its size budget and, for the WASI build, a CPU budget per request in wasmtime
//! fuel, and sends each runtime the faults an origin and an operator can cause.
//!
//! What it does not do: build the artifacts or install the runtimes (`make test` does both,
//! at pinned versions), or test the platforms' own products (Fastly's and Cloudflare's
//! production networks are not reachable from here).
//!
//! Key design decision: the comparison is with the native core *at the runtime's moment*, not
//! with fixed expectations. A runtime reads its own clock and entropy; the edge writes both
//! into the session tokens it mints, so the suite reads them back and asks the core what it
//! would have answered then. Tokens, bodies and lease records then compare byte for byte,
//! without a fake clock inside any runtime.
//!
//! Everything is in the one integration test binary (`tests/all/`); this library is empty.
