//! Integration tests of the `usher` binary: one binary, one module per subcommand.

mod token;
