//! Load errors: every one names the file, line and column of the element,
//! attribute or keyword at fault (`FILE:LINE:COL: message`).

/// A scenario that cannot be loaded, and where.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{col}: {kind}")]
pub struct ScenarioError {
    /// The file (or built-in name) as given.
    pub file: String,
    /// 1-based line; 0 when the fault has no place in the text (I/O).
    pub line: u32,
    /// 1-based column in bytes; 0 when there is no place.
    pub col: u32,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a scenario. Where SIPp 3.6.1 refuses a scenario the
/// message is SIPp's; where trunkload refuses something SIPp would run
/// ([`ErrorKind::Unsupported`]) or would silently ignore, it says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file cannot be read.
    #[error("cannot read the scenario: {0}")]
    Io(#[source] std::io::Error),
    /// Not well-formed for SIPp's XML reader.
    #[error("{0}")]
    Xml(String),
    /// An element SIPp does not know.
    #[error("Unknown element '{0}' in xml scenario file")]
    UnknownElement(String),
    /// An attribute the element does not take (SIPp ignores these; a typo
    /// would silently change the scenario).
    #[error("unknown attribute '{attr}' on <{element}>")]
    UnknownAttribute {
        /// The element.
        element: String,
        /// The attribute.
        attr: String,
    },
    /// A required attribute is absent.
    #[error("{element} is missing the required '{attr}' parameter")]
    MissingAttribute {
        /// The element or action.
        element: String,
        /// The attribute.
        attr: String,
    },
    /// An attribute value SIPp rejects.
    #[error("{what}, \"{value}\" is not a valid {expected}")]
    BadValue {
        /// Which attribute of what.
        what: String,
        /// The value as written.
        value: String,
        /// What it should have been (`integer`, `boolean`, ...).
        expected: &'static str,
    },
    /// A feature of SIPp that trunkload does not implement.
    #[error("{0} is not supported by trunkload")]
    Unsupported(String),
    /// A `[keyword]` problem.
    #[error("{0}")]
    Keyword(String),
    /// A regular expression that does not compile.
    #[error("invalid regular expression '{regex}': {why}")]
    Regex {
        /// As written.
        regex: String,
        /// The compiler's reason.
        why: String,
    },
    /// `next`/`ontimeout` naming a label that does not exist.
    #[error("The label '{label}' was not defined (index {index}, {attr} attribute)")]
    UndefinedLabel {
        /// The label.
        label: String,
        /// The message index of the element.
        index: usize,
        /// `next` or `ontimeout`.
        attr: &'static str,
    },
    /// A variable assigned but never read, or read but never assigned
    /// (SIPp requires every variable to be referenced at least twice).
    #[error("Variable ${name} is referenced {count} times!")]
    VariableUse {
        /// The variable.
        name: String,
        /// How often it is referenced.
        count: u32,
    },
    /// Any other of SIPp's load-time checks, with SIPp's message.
    #[error("{0}")]
    Invalid(String),
}
