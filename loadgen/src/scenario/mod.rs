//! SIPp scenarios (`docs/sipp/compat.md` §3): the loaded model and its
//! loader.
//!
//! - [`model`]: what a loaded scenario is (the executor's contract).
//! - [`load_file`] / [`load_str`] / [`load_builtin`]: SIPp 3.6.1's
//!   scenario reader: its XML dialect (§3.1, `xml`), CDATA clean-up
//!   (§3.1, `clean`), keywords (§3.6, `keywords`), elements, attributes
//!   and actions (§3.2-§3.5, `load`), and load-time checks.
//! - [`builtin`]: the built-in scenarios' text (§6).

pub mod model;
pub use model::*;

mod builtin;
mod clean;
mod error;
mod keywords;
mod load;
mod xml;

pub use builtin::{BUILTIN_NAMES, builtin};
pub use error::{ErrorKind, ScenarioError};
pub use load::{LoadOptions, check_injection_files, find_global, load_bytes, load_file, load_str};

/// Loads built-in scenario `name` (`-sn`); the stem is the name.
pub fn load_builtin(name: &str, opts: &LoadOptions) -> Result<Scenario, ScenarioError> {
    match builtin(name) {
        Some(xml) => load_str(xml, name, name, opts),
        None => Err(ScenarioError {
            file: name.to_string(),
            line: 0,
            col: 0,
            kind: ErrorKind::Invalid(format!("Invalid default scenario name '{name}'")),
        }),
    }
}
