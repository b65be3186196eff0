//! Shared helpers for the end-to-end tests (UAC/UAS over loopback come with the engine, issue 3).
