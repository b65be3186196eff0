//! SIPp scenarios (compat §3): the loaded model and its loader.

pub mod model;
pub use model::*;

mod builtin;
pub use builtin::{BUILTIN_NAMES, builtin};
