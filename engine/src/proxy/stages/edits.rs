//! The header rules' slot (empty): where configured header edits plug in
//! (remove, add, rewrite; topology hiding's Via / Contact / Record-Route
//! rewriting), applied in the same one-pass write as the proxy's own
//! edits of the forwarded copy (§16.6).

use trunkline_parser::Edits;

use super::Request;

/// The header rules: none yet.
#[derive(Debug, Default)]
pub struct HeaderEdits;

impl HeaderEdits {
    /// Adds the rules' edits for `req`'s forwarded copy to `edits`.
    #[inline]
    pub fn apply(&self, req: &Request<'_, '_>, edits: &mut Edits) {
        let _ = (req, edits);
    }
}
