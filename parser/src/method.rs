//! Request methods (RFC 3261 §7.1, §27.4 and the extension RFCs).
//!
//! Methods are case-sensitive tokens: `INVITE` is the RFC 3261 method,
//! `invite` an extension method. Each known method has one bit so that a set
//! of methods is a single mask, as in Kamailio's `METHOD_*` flags.

use crate::scan;

/// `name`'s bytes as an array of its length (for [`Method::from_bytes`]).
const fn name_array<const N: usize>(name: &str) -> [u8; N] {
    let b = name.as_bytes();
    let mut a = [0u8; N];
    let mut i = 0;
    while i < N {
        a[i] = b[i];
        i += 1;
    }
    a
}

macro_rules! sip_methods {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $bit:expr;)*) => {
        /// A SIP request method.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Method {
            $($(#[$doc])* $variant,)*
            /// Any other `token`; the bytes are kept by whoever parsed it.
            Extension,
        }

        impl Method {
            /// Every known method, in table order.
            pub const KNOWN: &'static [Method] = &[$(Method::$variant),*];

            /// The method's wire name; `None` for [`Method::Extension`].
            pub const fn as_str(self) -> Option<&'static str> {
                match self {
                    $(Method::$variant => Some($name),)*
                    Method::Extension => None,
                }
            }

            /// The method's bit in a [`MethodSet`].
            pub const fn bit(self) -> u32 {
                match self {
                    $(Method::$variant => 1 << $bit,)*
                    Method::Extension => 1 << 31,
                }
            }

            /// Classifies a method token (case-sensitive, RFC 3261 §7.1).
            #[inline]
            pub fn from_bytes(b: &[u8]) -> Method {
                // Each name as a fixed-size array: the compare is then a
                // load or two and a compare inline, not a `memcmp` call.
                $(
                    if b.len() == $name.len() {
                        const NAME: [u8; $name.len()] = name_array($name);
                        if b == NAME {
                            return Method::$variant;
                        }
                    }
                )*
                Method::Extension
            }
        }
    };
}

sip_methods! {
    /// RFC 3261: initiate a session.
    Invite = "INVITE", 0;
    /// RFC 3261: confirm a final response to INVITE.
    Ack = "ACK", 1;
    /// RFC 3261: end a session.
    Bye = "BYE", 2;
    /// RFC 3261: cancel a pending request.
    Cancel = "CANCEL", 3;
    /// RFC 3261: register contacts.
    Register = "REGISTER", 4;
    /// RFC 3261: query capabilities.
    Options = "OPTIONS", 5;
    /// RFC 6086: mid-session information.
    Info = "INFO", 6;
    /// RFC 3262: provisional response acknowledgement.
    Prack = "PRACK", 7;
    /// RFC 3311: session update.
    Update = "UPDATE", 8;
    /// RFC 6665: subscribe to an event.
    Subscribe = "SUBSCRIBE", 9;
    /// RFC 6665: event notification.
    Notify = "NOTIFY", 10;
    /// RFC 3515: refer to a third party.
    Refer = "REFER", 11;
    /// RFC 3428: instant message.
    Message = "MESSAGE", 12;
    /// RFC 3903: event state publication.
    Publish = "PUBLISH", 13;
}

impl Method {
    /// Whether `b` is a syntactically valid method (a `token`).
    #[inline]
    pub fn is_valid(b: &[u8]) -> bool {
        scan::is_token(b)
    }
}

/// A set of methods as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MethodSet(pub u32);

impl MethodSet {
    /// The empty set.
    pub const EMPTY: MethodSet = MethodSet(0);

    /// This set with `m` added.
    pub const fn with(self, m: Method) -> MethodSet {
        MethodSet(self.0 | m.bit())
    }

    /// Whether `m` is in the set.
    pub const fn contains(self, m: Method) -> bool {
        self.0 & m.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_method_round_trips() {
        for &m in Method::KNOWN {
            let name = m.as_str().unwrap();
            assert_eq!(Method::from_bytes(name.as_bytes()), m);
            assert_eq!(
                Method::from_bytes(name.to_ascii_lowercase().as_bytes()),
                Method::Extension,
                "methods are case-sensitive"
            );
        }
        let bits: u32 = Method::KNOWN.iter().map(|m| m.bit()).fold(0, |a, b| {
            assert_eq!(a & b, 0, "bits are distinct");
            a | b
        });
        assert_eq!(bits.count_ones() as usize, Method::KNOWN.len());
    }

    #[test]
    fn sets() {
        let s = MethodSet::EMPTY.with(Method::Invite).with(Method::Ack);
        assert!(s.contains(Method::Ack));
        assert!(!s.contains(Method::Bye));
    }
}
