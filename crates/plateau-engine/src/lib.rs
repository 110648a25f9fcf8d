//! Plateau's container runtime on the Docker engine.

pub mod doctor;

/// Label on every container and network Plateau creates.
pub const LABEL_OWNER: &str = "org.plateau.owner";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Docker engine is not reachable ({0}); is dockerd running and /var/run/docker.sock readable?")]
    Engine(String),
}
