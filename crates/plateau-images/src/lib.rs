//! Plateau's offline image pipeline.
//!
//! No registry is needed: the `base` image is a Debian rootfs made on the host
//! with debootstrap and imported into the engine; every role image is a
//! Dockerfile under `images/<role>/` built `FROM` that base. Each image is
//! tagged by the hash of its build context (and of its parent's), so an
//! unchanged image is never rebuilt and a changed one is always rebuilt.

mod build;
mod catalog;
mod vm;

pub use build::{BuildEvent, BuildOutcome, Builder, ImageState};
pub use catalog::{Catalog, ImageSpec, VM_RUNNER};

/// Label on every image Plateau builds: its role name.
pub const LABEL_ROLE: &str = "org.plateau.image";
/// Label on every image Plateau builds: the content hash of its context.
pub const LABEL_HASH: &str = "org.plateau.content-hash";
/// Repository prefix of Plateau's images (`plateau/<role>`).
pub const REPOSITORY: &str = "plateau";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read image context {path}: {source}")]
    Context { path: String, source: std::io::Error },
    #[error("unknown image `{0}` (see `plateau images list`)")]
    UnknownImage(String),
    #[error("the Docker engine is not reachable ({0}); is dockerd running and is /var/run/docker.sock readable?")]
    Engine(String),
    #[error("`{tool}` is not installed; install it with `apt-get install {package}` (needs root)")]
    MissingTool { tool: &'static str, package: &'static str },
    #[error("building the base rootfs failed: {0}")]
    Rootfs(String),
    #[error("building image `{image}` failed: {message}")]
    Build { image: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;
