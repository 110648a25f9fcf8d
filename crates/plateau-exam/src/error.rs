//! What an operation can fail with. Library errors are kept whole (`#[from]`);
//! `Refused` carries the operation's own refusals, each saying what to do.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario is invalid: its diagnostics, to render with colours or not.
    #[error("{}", .0.render(false))]
    Invalid(plateau_scenario::Report),
    #[error(transparent)]
    State(#[from] plateau_state::Error),
    #[error(transparent)]
    Engine(#[from] plateau_engine::Error),
    #[error(transparent)]
    Images(#[from] plateau_images::Error),
    /// The grader could not reach a platform, or a fault's steps failed.
    #[error(transparent)]
    Grader(#[from] plateau_grade::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The operation cannot be done as asked; the message says why and how.
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// `map_err(Error::io(path))` for file operations.
    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_path_buf();
        move |source| Error::Io { path, source }
    }
}

/// Refuse with a formatted message.
macro_rules! refuse {
    ($($arg:tt)*) => { return Err($crate::Error::Refused(format!($($arg)*))) };
}
pub(crate) use refuse;

pub type Result<T, E = Error> = std::result::Result<T, E>;
