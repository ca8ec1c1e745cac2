//! Integration tests of the `usher` binary: one binary, one module per subcommand.

mod admission;
mod control;
mod control_admission;
mod edge;
mod playlist;
mod report;
mod simulate;
mod tempdir;
mod token;
