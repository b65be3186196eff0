//! The header rules' slot: where configured header edits plug in (remove,
//! add, rewrite; topology hiding's Via / Contact / Record-Route
//! rewriting), applied in the same one-pass write as the proxy's own
//! edits of the forwarded copy (§16.6). For now it consumes our own
//! digest credentials.

use trunkline_parser::{Credentials, Edits, HeaderName, Uri};

use super::Request;

/// The header rules.
#[derive(Debug, Default)]
pub struct HeaderEdits {
    /// Remove the `Proxy-Authorization` values for our realm (the
    /// Request-URI's host, what the auth stage challenges with) from the
    /// forwarded copy: they were meant for us, and the next hop has no
    /// use for a user's digest (Kamailio's default script calls
    /// `consume_credentials()` for the same reason; RFC 3261 §22.3).
    /// Credentials for other realms go on. Set when digest
    /// authentication is configured.
    consume_credentials: bool,
}

impl HeaderEdits {
    /// The rules; `consume_credentials`: see the field.
    pub fn new(consume_credentials: bool) -> HeaderEdits {
        HeaderEdits {
            consume_credentials,
        }
    }

    /// Adds the rules' edits for `req`'s forwarded copy to `edits`.
    #[inline]
    pub fn apply(&self, req: &Request<'_, '_>, edits: &mut Edits) {
        if self.consume_credentials && req.msg.first(HeaderName::ProxyAuthorization).is_some() {
            self.consume(req, edits);
        }
    }

    #[cold]
    fn consume(&self, req: &Request<'_, '_>, edits: &mut Edits) {
        let msg = req.msg;
        let Some(Ok(Uri::Sip(uri))) = msg.request_uri() else {
            return;
        };
        let realm = uri.host.text;
        for (i, h) in msg.headers().iter().enumerate() {
            if h.kind != HeaderName::ProxyAuthorization {
                continue;
            }
            let ours = Credentials::parse(msg.slice(h.value)).is_ok_and(|c| {
                c.scheme.eq_ignore_ascii_case(b"Digest")
                    && c.get(b"realm")
                        .is_some_and(|r| r.eq_ignore_ascii_case(realm))
            });
            if ours {
                edits.remove_header(msg, i);
            }
        }
    }
}
