//! Placeholder: the call executor (in progress).
