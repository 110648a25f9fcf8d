//! The seam between Plateau and a container runtime. `Runtime` is what the
//! exam operations and the grader need; `Engine` dispatches to the real
//! Docker engine or to an in-memory runtime that unit tests drive (it
//! creates nothing, records every call, and fails where a test says).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

use plateau_scenario::{CandidatePlan, TakenSubnet};

use crate::platform::{CandidateUp, DockerEngine, Forward, FsChange, NodeDisk, NodeStatus, Removed, Session, Snapshot};
use crate::terminal::Terminal;
use crate::{Error, ExecOutput, Hold};

pub use crate::memory::{MemoryEngine, MemoryState, Op};

/// What Plateau asks of a container runtime.
pub trait Runtime: Send + Sync {
    /// Bring a candidate's platform to its plan (create, start, keep).
    fn up_candidate(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        host_port: u16,
    ) -> impl Future<Output = Result<CandidateUp, Error>> + Send;
    /// The subnets of every network on the runtime but `session`'s own.
    fn subnets_held(&self, session: &str) -> impl Future<Output = Result<Vec<TakenSubnet>, Error>> + Send;
    /// Remove what a session (or one of its candidates) owns, by labels.
    fn down(&self, session: &str, candidate: Option<&str>) -> impl Future<Output = Result<Removed, Error>> + Send;
    fn status(
        &self,
        session: &str,
        candidate: Option<&str>,
    ) -> impl Future<Output = Result<Vec<NodeStatus>, Error>> + Send;
    fn set_access(
        &self,
        session: &Session,
        candidate: &str,
        open: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Whether a candidate's access is open (their relay runs): every other
    /// way in (the browser's terminals) follows it, cut at the same instant.
    fn access_open(&self, session: &Session, candidate: &str) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Pause every node of a candidate at once (the cut): nothing they
    /// started runs on. Notes on what could not be paused.
    fn halt(&self, session: &Session, plan: &CandidatePlan) -> impl Future<Output = Result<Vec<String>, Error>> + Send;
    /// What a node changed under `roots` since its image, as the runtime sees it.
    fn changes(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        roots: &[&str],
    ) -> impl Future<Output = Result<Vec<FsChange>, Error>> + Send;
    /// Halt, then commit every node to a labelled image.
    fn snapshot(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
    ) -> impl Future<Output = Result<Snapshot, Error>> + Send;
    /// Remove a session's snapshot images (a throwaway session's: `down`
    /// keeps them, for appeals); how many.
    fn remove_snapshots(&self, session: &str) -> impl Future<Output = Result<usize, Error>> + Send;
    /// Save a session's snapshot images into one `docker save` file; their names.
    fn save_snapshots(
        &self,
        session: &str,
        to: &std::path::Path,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;
    /// Load a `docker save` file (an archive's snapshots) into the runtime.
    fn load_images(&self, from: &std::path::Path) -> impl Future<Output = Result<(), Error>> + Send;
    /// Re-create a platform from its snapshots, copying `put_back` (per
    /// node, paths) from each node's role image before it starts.
    fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
        host_port: u16,
        put_back: &BTreeMap<String, Vec<String>>,
    ) -> impl Future<Output = Result<CandidateUp, Error>> + Send;
    /// Where the controller reaches a node.
    fn address(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
    ) -> impl Future<Output = Result<Ipv4Addr, Error>> + Send;
    /// The host interface of a candidate network (DHCP probes).
    fn link(
        &self,
        session: &Session,
        candidate: &str,
        network: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;
    /// The memory of the runtime's host, if known.
    fn memory_total(&self) -> impl Future<Output = Result<Option<u64>, Error>> + Send;
    /// Free space where the runtime keeps containers and images, if known.
    fn free_disk(&self) -> impl Future<Output = Result<Option<u64>, Error>> + Send;
    /// What each node of a session has written to its own disk.
    fn disk_usage(&self, session: &str) -> impl Future<Output = Result<Vec<NodeDisk>, Error>> + Send;
    /// Stop one node where it stands (paused, or killed when it cannot be).
    fn hold(&self, session: &Session, candidate: &str, node: &str) -> impl Future<Output = Result<Hold, Error>> + Send;
    /// Let a held node run again.
    fn release(&self, session: &Session, candidate: &str, node: &str)
    -> impl Future<Output = Result<(), Error>> + Send;
    /// A loopback address of this host leading to a port of a VM node's guest.
    fn forward(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        port: u16,
    ) -> impl Future<Output = Result<Forward, Error>> + Send;
    /// Run a command as root in a container.
    fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        limit: Duration,
    ) -> impl Future<Output = Result<ExecOutput, Error>> + Send;
    /// A login shell of `user` on a new terminal of a node, `cols`×`rows`.
    fn open_terminal(
        &self,
        container: &str,
        user: &str,
        size: (u16, u16),
    ) -> impl Future<Output = Result<Terminal, Error>> + Send;
    /// `user`'s desktop on a node (started on first use), as a VNC stream.
    fn open_desktop(&self, container: &str, user: &str) -> impl Future<Output = Result<Terminal, Error>> + Send;
}

/// The runtime Plateau drives: Docker, or memory in unit tests.
#[derive(Clone)]
pub enum Engine {
    Docker(DockerEngine),
    Memory(MemoryEngine),
}

macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
            Engine::Docker(e) => e.$method($($arg),*).await,
            Engine::Memory(e) => e.$method($($arg),*).await,
        }
    };
}

impl Engine {
    /// The local Docker engine; at most `concurrency` containers created or started at once.
    pub async fn connect(concurrency: usize) -> Result<Engine, Error> {
        Ok(Engine::Docker(DockerEngine::connect(concurrency).await?))
    }

    /// An engine of the site file.
    pub async fn connect_to(spec: &crate::site::EngineSpec, concurrency: usize) -> Result<Engine, Error> {
        Ok(Engine::Docker(DockerEngine::connect_to(spec, concurrency).await?))
    }

    pub async fn up_candidate(&self, session: &Session, plan: &CandidatePlan, port: u16) -> Result<CandidateUp, Error> {
        dispatch!(self.up_candidate(session, plan, port))
    }
    pub async fn subnets_held(&self, session: &str) -> Result<Vec<TakenSubnet>, Error> {
        dispatch!(self.subnets_held(session))
    }
    pub async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        dispatch!(self.down(session, candidate))
    }
    pub async fn status(&self, session: &str, candidate: Option<&str>) -> Result<Vec<NodeStatus>, Error> {
        dispatch!(self.status(session, candidate))
    }
    pub async fn set_access(&self, session: &Session, candidate: &str, open: bool) -> Result<(), Error> {
        dispatch!(self.set_access(session, candidate, open))
    }
    pub async fn access_open(&self, session: &Session, candidate: &str) -> Result<bool, Error> {
        dispatch!(self.access_open(session, candidate))
    }
    pub async fn halt(&self, session: &Session, plan: &CandidatePlan) -> Result<Vec<String>, Error> {
        dispatch!(self.halt(session, plan))
    }
    pub async fn changes(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        roots: &[&str],
    ) -> Result<Vec<FsChange>, Error> {
        dispatch!(self.changes(session, candidate, node, roots))
    }
    pub async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Snapshot, Error> {
        dispatch!(self.snapshot(session, plan, tag))
    }
    pub async fn remove_snapshots(&self, session: &str) -> Result<usize, Error> {
        dispatch!(self.remove_snapshots(session))
    }
    pub async fn save_snapshots(&self, session: &str, to: &std::path::Path) -> Result<Vec<String>, Error> {
        dispatch!(self.save_snapshots(session, to))
    }
    pub async fn load_images(&self, from: &std::path::Path) -> Result<(), Error> {
        dispatch!(self.load_images(from))
    }
    pub async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
        port: u16,
        put_back: &BTreeMap<String, Vec<String>>,
    ) -> Result<CandidateUp, Error> {
        dispatch!(self.restore(session, plan, tag, port, put_back))
    }
    pub async fn address(&self, session: &Session, candidate: &str, node: &str) -> Result<Ipv4Addr, Error> {
        dispatch!(self.address(session, candidate, node))
    }
    pub async fn link(&self, session: &Session, candidate: &str, network: &str) -> Result<String, Error> {
        dispatch!(self.link(session, candidate, network))
    }
    pub async fn exec(&self, container: &str, cmd: &[&str], limit: Duration) -> Result<ExecOutput, Error> {
        dispatch!(self.exec(container, cmd, limit))
    }
    pub async fn open_terminal(&self, container: &str, user: &str, size: (u16, u16)) -> Result<Terminal, Error> {
        dispatch!(self.open_terminal(container, user, size))
    }
    pub async fn open_desktop(&self, container: &str, user: &str) -> Result<Terminal, Error> {
        dispatch!(self.open_desktop(container, user))
    }
    pub async fn disk_usage(&self, session: &str) -> Result<Vec<NodeDisk>, Error> {
        dispatch!(self.disk_usage(session))
    }
    pub async fn free_disk(&self) -> Result<Option<u64>, Error> {
        dispatch!(self.free_disk())
    }
    pub async fn memory_total(&self) -> Result<Option<u64>, Error> {
        dispatch!(self.memory_total())
    }
    pub async fn hold(&self, session: &Session, candidate: &str, node: &str) -> Result<Hold, Error> {
        dispatch!(self.hold(session, candidate, node))
    }
    pub async fn release(&self, session: &Session, candidate: &str, node: &str) -> Result<(), Error> {
        dispatch!(self.release(session, candidate, node))
    }
    pub async fn forward(&self, session: &Session, candidate: &str, node: &str, port: u16) -> Result<Forward, Error> {
        dispatch!(self.forward(session, candidate, node, port))
    }

    /// Whether the runtime's platforms are on this host's networks (the
    /// in-memory one's are wherever its tests say).
    pub fn on_this_host(&self) -> bool {
        match self {
            Engine::Docker(e) => e.on_this_host(),
            Engine::Memory(_) => true,
        }
    }

    /// Its id in the site file (an in-memory runtime's: `memory`).
    pub fn id(&self) -> &str {
        match self {
            Engine::Docker(e) => e.id(),
            Engine::Memory(_) => "memory",
        }
    }

    /// Where the ports it publishes are reached from here.
    pub fn published_on(&self) -> &str {
        match self {
            Engine::Docker(e) => e.published_on(),
            Engine::Memory(_) => "127.0.0.1",
        }
    }

    /// Run the controller's program beside this engine's platforms, when
    /// they are on another host (see `on_this_host`).
    pub async fn agent(&self, args: &[&str], limit: Duration) -> Result<crate::HostOutput, Error> {
        match self {
            Engine::Docker(e) => e.agent(args, limit).await,
            Engine::Memory(_) => Err(Error::Host("an in-memory runtime has no agent".into())),
        }
    }

    /// Bring images to `to` as this engine holds them (Docker to Docker;
    /// in-memory runtimes hold no images); the names sent.
    pub async fn send_images(&self, to: &Engine, images: &[String]) -> Result<Vec<String>, Error> {
        match (self, to) {
            (Engine::Docker(from), Engine::Docker(to)) => from.send_images(to, images).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Run a command as root in one of a candidate's nodes.
    pub async fn exec_on(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        cmd: &[&str],
        limit: Duration,
    ) -> Result<ExecOutput, Error> {
        self.exec(&session.container_name(candidate, node), cmd, limit).await
    }
}

impl Runtime for DockerEngine {
    async fn up_candidate(&self, session: &Session, plan: &CandidatePlan, port: u16) -> Result<CandidateUp, Error> {
        DockerEngine::up_candidate(self, session, plan, port).await
    }
    async fn subnets_held(&self, session: &str) -> Result<Vec<TakenSubnet>, Error> {
        DockerEngine::subnets_held(self, session).await
    }
    async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        DockerEngine::down(self, session, candidate).await
    }
    async fn status(&self, session: &str, candidate: Option<&str>) -> Result<Vec<NodeStatus>, Error> {
        DockerEngine::status(self, session, candidate).await
    }
    async fn set_access(&self, session: &Session, candidate: &str, open: bool) -> Result<(), Error> {
        DockerEngine::set_access(self, session, candidate, open).await
    }
    async fn access_open(&self, session: &Session, candidate: &str) -> Result<bool, Error> {
        DockerEngine::access_open(self, session, candidate).await
    }
    async fn halt(&self, session: &Session, plan: &CandidatePlan) -> Result<Vec<String>, Error> {
        DockerEngine::halt(self, session, plan).await
    }
    async fn changes(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        roots: &[&str],
    ) -> Result<Vec<FsChange>, Error> {
        DockerEngine::changes(self, session, candidate, node, roots).await
    }
    async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Snapshot, Error> {
        DockerEngine::snapshot(self, session, plan, tag).await
    }
    async fn remove_snapshots(&self, session: &str) -> Result<usize, Error> {
        DockerEngine::remove_snapshots(self, session).await
    }
    async fn save_snapshots(&self, session: &str, to: &std::path::Path) -> Result<Vec<String>, Error> {
        DockerEngine::save_snapshots(self, session, to).await
    }
    async fn load_images(&self, from: &std::path::Path) -> Result<(), Error> {
        DockerEngine::load_images(self, from).await
    }
    async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
        port: u16,
        put_back: &BTreeMap<String, Vec<String>>,
    ) -> Result<CandidateUp, Error> {
        DockerEngine::restore(self, session, plan, tag, port, put_back).await
    }
    async fn address(&self, session: &Session, candidate: &str, node: &str) -> Result<Ipv4Addr, Error> {
        DockerEngine::address(self, session, candidate, node).await
    }
    async fn link(&self, session: &Session, candidate: &str, network: &str) -> Result<String, Error> {
        DockerEngine::link(self, session, candidate, network).await
    }
    async fn exec(&self, container: &str, cmd: &[&str], limit: Duration) -> Result<ExecOutput, Error> {
        DockerEngine::exec(self, container, cmd, limit).await
    }
    async fn open_terminal(&self, container: &str, user: &str, size: (u16, u16)) -> Result<Terminal, Error> {
        DockerEngine::open_terminal(self, container, user, size).await
    }
    async fn open_desktop(&self, container: &str, user: &str) -> Result<Terminal, Error> {
        DockerEngine::open_desktop(self, container, user).await
    }
    async fn disk_usage(&self, session: &str) -> Result<Vec<NodeDisk>, Error> {
        DockerEngine::disk_usage(self, session).await
    }
    async fn free_disk(&self) -> Result<Option<u64>, Error> {
        DockerEngine::free_disk(self).await
    }
    async fn memory_total(&self) -> Result<Option<u64>, Error> {
        DockerEngine::memory_total(self).await
    }
    async fn hold(&self, session: &Session, candidate: &str, node: &str) -> Result<Hold, Error> {
        DockerEngine::hold(self, session, candidate, node).await
    }
    async fn release(&self, session: &Session, candidate: &str, node: &str) -> Result<(), Error> {
        DockerEngine::release(self, session, candidate, node).await
    }
    async fn forward(&self, session: &Session, candidate: &str, node: &str, port: u16) -> Result<Forward, Error> {
        DockerEngine::forward(self, session, candidate, node, port).await
    }
}
