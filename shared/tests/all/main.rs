//! Integration tests of `usher-shared`: one binary, one module per area.

mod health;
mod health_signature;
mod interop;
mod playlist;
mod token;
