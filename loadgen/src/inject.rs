//! Placeholder: `-inf` injection files (in progress).
