//! Placeholder: the runtime (in progress).
