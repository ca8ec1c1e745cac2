//! Integration tests of the controller core, one binary (see docs/testing.md).

mod simulation;
