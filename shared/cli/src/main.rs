//! `usher`: the operator's tool.
fn main() {}
