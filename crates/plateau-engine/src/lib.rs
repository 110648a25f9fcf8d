//! Plateau's container runtime on the Docker engine.

pub mod certs;
pub mod doctor;
mod exec;
pub use exec::CLEAN_PATH;
mod hostnet;
pub use hostnet::{HELPER_IMAGE, HostOutput, LABEL_HELPER};
mod memory;
pub mod placement;
pub mod platform;
pub mod queued;
mod runtime;
pub mod site;
pub mod terminal;

pub use exec::ExecOutput;
pub use runtime::{Engine, MemoryEngine, MemoryState, Op, Runtime};

/// How a node was stopped where it stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Paused by the kernel's freezer: its processes resume where they were.
    Paused,
    /// The freezer could not freeze it (processes that keep forking, or
    /// that wait on the filesystem): killed, its disk kept as it was.
    Killed,
}

/// Label on every container and network Plateau creates.
pub const LABEL_OWNER: &str = "org.plateau.owner";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Docker engine is not reachable ({0}); is dockerd running and /var/run/docker.sock readable?")]
    Engine(String),
    /// An engine of the site file: said with its id and address.
    #[error("engine `{id}` ({address}) is not reachable: {message}")]
    SiteEngine { id: String, address: String, message: String },
    #[error("image `{image}` is not built; run `{command}`")]
    MissingImage { image: String, command: String },
    #[error("network {name}: {message}")]
    Network { name: String, message: String },
    /// Another network took the subnet between the plan and the creation
    /// (two sessions brought up at once): drawing again gets another.
    #[error(
        "network {name}: {subnet} was taken on the engine meanwhile (another session's network); re-run `plateau up`"
    )]
    SubnetTaken { name: String, subnet: String },
    #[error("container {container}: {message}")]
    Node { container: String, message: String },
    #[error("container {container}: `{command}` ran longer than {} ms", limit.as_millis())]
    Timeout { container: String, command: String, limit: std::time::Duration },
    #[error("host network setup: {0}")]
    Host(String),
    #[error("the plan cannot be built on Docker: {0}")]
    Plan(String),
}
