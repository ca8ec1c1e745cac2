//! Integration tests of the `usher` binary: one binary, one module per subcommand.

mod playlist;
mod token;
