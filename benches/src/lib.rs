//! Bench support (the end-to-end harness comes with the load generator, issue 4).
