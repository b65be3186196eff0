//! SIPp scenarios (compat §3): the loaded model and its loader.

mod model;
pub use model::*;
