//! Placeholder: the command line (in progress).
