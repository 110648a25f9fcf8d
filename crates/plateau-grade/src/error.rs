//! Why the grader could not do what it was asked, before any verdict. Each
//! variant says where it failed; the message says what to do.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A probe from the controller could not be sent or its answer read.
    #[error("{0}")]
    Probe(String),
    /// The grader has no way into a node (no key or address, the engine refused).
    #[error("{0}")]
    Access(String),
    /// A fault's step could not run or ended badly.
    #[error("{0}")]
    Step(String),
    /// A built-in fault was asked for wrongly (unknown, a parameter missing).
    #[error("{0}")]
    Fault(String),
    /// An SSH key could not be read or written.
    #[error("SSH key: {0}")]
    Key(String),
}
