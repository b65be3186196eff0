//! Placeholder: statistics and outputs (in progress).
