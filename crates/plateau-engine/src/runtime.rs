//! The seam between Plateau and a container runtime. `Runtime` is what the
//! exam operations and the grader need; `Engine` dispatches to the real
//! Docker engine or to an in-memory runtime that unit tests drive (it
//! creates nothing, records every call, and fails where a test says).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plateau_scenario::CandidatePlan;

use crate::platform::{
    ACCESS_NODE, Access, CandidateUp, DockerEngine, Forward, FsChange, NodeDisk, NodeOutcome, NodeStatus, Outcome,
    Removed, Session, Snapshot,
};
use crate::{Error, ExecOutput, Hold};

/// What Plateau asks of a container runtime.
pub trait Runtime: Send + Sync {
    /// Bring a candidate's platform to its plan (create, start, keep).
    fn up_candidate(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        host_port: u16,
    ) -> impl Future<Output = Result<CandidateUp, Error>> + Send;
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

    pub async fn up_candidate(&self, session: &Session, plan: &CandidatePlan, port: u16) -> Result<CandidateUp, Error> {
        dispatch!(self.up_candidate(session, plan, port))
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
    pub async fn disk_usage(&self, session: &str) -> Result<Vec<NodeDisk>, Error> {
        dispatch!(self.disk_usage(session))
    }
    pub async fn free_disk(&self) -> Result<Option<u64>, Error> {
        dispatch!(self.free_disk())
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
    async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        DockerEngine::down(self, session, candidate).await
    }
    async fn status(&self, session: &str, candidate: Option<&str>) -> Result<Vec<NodeStatus>, Error> {
        DockerEngine::status(self, session, candidate).await
    }
    async fn set_access(&self, session: &Session, candidate: &str, open: bool) -> Result<(), Error> {
        DockerEngine::set_access(self, session, candidate, open).await
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
    async fn disk_usage(&self, session: &str) -> Result<Vec<NodeDisk>, Error> {
        DockerEngine::disk_usage(self, session).await
    }
    async fn free_disk(&self) -> Result<Option<u64>, Error> {
        DockerEngine::free_disk(self).await
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

/// An operation of the in-memory runtime, for tests to make it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Up,
    /// Opening a candidate's access.
    Open,
    /// Closing it (the cut).
    CutAccess,
    /// Pausing a candidate's nodes at the cut.
    Halt,
    Snapshot,
    Exec,
}

/// Scripted answers to commands run in containers: `(container, command)` → output.
pub type Responder = Arc<dyn Fn(&str, &str) -> ExecOutput + Send + Sync>;

/// What the in-memory runtime holds: the containers it "runs", the
/// access it opened, the snapshots it took and every command it was asked to run.
#[derive(Default)]
pub struct MemoryState {
    /// Container name → running.
    pub containers: BTreeMap<String, bool>,
    /// `(session, candidate)` whose access is open.
    pub open: BTreeSet<(String, String)>,
    /// Image names of the snapshots taken.
    pub snapshots: Vec<String>,
    /// `(container, command)` in the order they were run.
    pub execs: Vec<(String, String)>,
    /// `(operation, candidate)` that fail.
    pub failing: BTreeSet<(Op, String)>,
    /// Container name → bytes written to its own disk (set by tests).
    pub disk: BTreeMap<String, u64>,
    /// Paused containers.
    pub paused: BTreeSet<String>,
    /// Container name → its filesystem changes (set by tests).
    pub changes: BTreeMap<String, Vec<FsChange>>,
    /// `(container, paths)` copied from the role image at a restore.
    pub put_back: Vec<(String, Vec<String>)>,
    /// Free disk the runtime reports (unknown when `None`).
    pub free_disk: Option<u64>,
    /// Container name → the SSH host keys it presents: made when it is
    /// created (one per creation), which a test may then rewrite as a root
    /// candidate would.
    pub host_keys: BTreeMap<String, Vec<String>>,
    /// Containers created so far.
    pub created: usize,
}

/// A runtime that keeps everything in memory (unit tests).
#[derive(Clone, Default)]
pub struct MemoryEngine {
    pub state: Arc<Mutex<MemoryState>>,
    responder: Option<Responder>,
}

impl MemoryEngine {
    pub fn new() -> MemoryEngine {
        MemoryEngine::default()
    }

    /// Answer commands with `responder` (exit 0 and no output otherwise).
    pub fn answering(responder: impl Fn(&str, &str) -> ExecOutput + Send + Sync + 'static) -> MemoryEngine {
        MemoryEngine { state: Arc::default(), responder: Some(Arc::new(responder)) }
    }

    /// Make `op` fail for `candidate` from now on.
    pub fn fail(&self, op: Op, candidate: &str) {
        self.state().failing.insert((op, candidate.to_string()));
    }

    /// Let `op` work again for `candidate`.
    pub fn heal(&self, op: Op, candidate: &str) {
        self.state().failing.remove(&(op, candidate.to_string()));
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, op: Op, candidate: &str) -> Result<(), Error> {
        if self.state().failing.contains(&(op, candidate.to_string())) {
            return Err(Error::Node { container: candidate.to_string(), message: format!("{op:?} fails (test)") });
        }
        Ok(())
    }

    fn bring_up(&self, session: &Session, plan: &CandidatePlan, port: u16) -> CandidateUp {
        let candidate = plan.candidate.id.as_str();
        let mut nodes = Vec::new();
        for node in plan.nodes.iter().filter(|n| n.backend.created()) {
            let container = session.container_name(candidate, &node.id);
            let mut state = self.state();
            let existed = state.containers.insert(container.clone(), true).is_some();
            let outcome = if existed { Outcome::Kept } else { Outcome::Created };
            if !existed {
                state.created += 1;
                let key = format!("ssh-ed25519 made-at-creation-{}", state.created);
                state.host_keys.insert(container.clone(), vec![key]);
            }
            let host_keys = state.host_keys.get(&container).cloned().unwrap_or_default();
            drop(state);
            nodes.push(NodeOutcome { node: node.id.clone(), container, outcome, host_keys, put_back: Vec::new() });
        }
        self.state().open.insert((session.name.clone(), candidate.to_string()));
        let access = plan.access.first().map(|a| Access {
            node: a.node.clone(),
            host_port: port,
            user: a.user.clone(),
            password: a.password.clone(),
        });
        CandidateUp { candidate: candidate.to_string(), nodes, access, seconds: 0.0 }
    }
}

fn set_member<T: Ord>(set: &mut BTreeSet<T>, item: T, member: bool) {
    if member {
        set.insert(item);
    } else {
        set.remove(&item);
    }
}

fn prefix(session: &str, candidate: Option<&str>) -> String {
    match candidate {
        Some(c) => format!("plateau-{session}-{c}-"),
        None => format!("plateau-{session}-"),
    }
}

impl Runtime for MemoryEngine {
    async fn up_candidate(&self, session: &Session, plan: &CandidatePlan, port: u16) -> Result<CandidateUp, Error> {
        self.check(Op::Up, &plan.candidate.id)?;
        Ok(self.bring_up(session, plan, port))
    }
    async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        let prefix = prefix(session, candidate);
        let mut state = self.state();
        let before = state.containers.len();
        state.containers.retain(|name, _| !name.starts_with(&prefix));
        state.host_keys.retain(|name, _| !name.starts_with(&prefix));
        state.open.retain(|(s, c)| !(s == session && candidate.is_none_or(|only| only == c)));
        Ok(Removed { containers: before - state.containers.len(), networks: 0, rules: 0 })
    }
    async fn status(&self, session: &str, candidate: Option<&str>) -> Result<Vec<NodeStatus>, Error> {
        let prefix = prefix(session, None);
        let state = self.state();
        let nodes = state
            .containers
            .iter()
            .filter_map(|(name, running)| {
                let rest = name.strip_prefix(&prefix)?;
                let (c, node) = rest.split_once('-')?;
                candidate.is_none_or(|only| only == c).then(|| NodeStatus {
                    candidate: c.to_string(),
                    node: node.to_string(),
                    container: name.clone(),
                    state: if !*running {
                        "exited"
                    } else if state.paused.contains(name) {
                        "paused"
                    } else {
                        "running"
                    }
                    .to_string(),
                    health: String::new(),
                })
            })
            .collect::<Vec<_>>();
        // Each candidate's access relay, running while their access is open.
        let candidates: BTreeSet<String> = nodes.iter().map(|n| n.candidate.clone()).collect();
        let relays = candidates.into_iter().map(|c| NodeStatus {
            container: format!("{prefix}{c}-{ACCESS_NODE}"),
            node: ACCESS_NODE.to_string(),
            state: if state.open.contains(&(session.to_string(), c.clone())) { "running" } else { "exited" }
                .to_string(),
            health: String::new(),
            candidate: c,
        });
        Ok(nodes.into_iter().chain(relays).collect())
    }
    async fn set_access(&self, session: &Session, candidate: &str, open: bool) -> Result<(), Error> {
        self.check(if open { Op::Open } else { Op::CutAccess }, candidate)?;
        set_member(&mut self.state().open, (session.name.clone(), candidate.to_string()), open);
        Ok(())
    }
    async fn halt(&self, session: &Session, plan: &CandidatePlan) -> Result<Vec<String>, Error> {
        self.check(Op::Halt, &plan.candidate.id)?;
        for node in plan.nodes.iter().filter(|n| n.backend.created()) {
            self.state().paused.insert(session.container_name(&plan.candidate.id, &node.id));
        }
        Ok(Vec::new())
    }
    async fn changes(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        roots: &[&str],
    ) -> Result<Vec<FsChange>, Error> {
        let all = self.state().changes.get(&session.container_name(candidate, node)).cloned().unwrap_or_default();
        Ok(all.into_iter().filter(|c| crate::platform::under(&c.path, roots)).collect())
    }
    async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Snapshot, Error> {
        Runtime::halt(self, session, plan).await?;
        self.check(Op::Snapshot, &plan.candidate.id)?;
        let images: Vec<String> = plan
            .nodes
            .iter()
            .filter(|n| n.backend.created())
            .map(|n| format!("plateau-snapshot/{}-{}-{}:{tag}", session.name, plan.candidate.id, n.id))
            .collect();
        self.state().snapshots.extend(images.iter().cloned());
        Ok(Snapshot { images, notes: Vec::new() })
    }
    async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        _tag: &str,
        port: u16,
        put_back: &BTreeMap<String, Vec<String>>,
    ) -> Result<CandidateUp, Error> {
        let mut up = self.bring_up(session, plan, port);
        let candidate = &plan.candidate.id;
        let mut state = self.state();
        for node in plan.nodes.iter().filter(|n| n.backend.created()) {
            let container = session.container_name(candidate, &node.id);
            state.paused.remove(&container);
            // A re-created container starts with no changes of its own.
            state.changes.remove(&container);
            if let Some(paths) = put_back.get(&node.id) {
                state.put_back.push((container, paths.clone()));
                if let Some(n) = up.nodes.iter_mut().find(|n| n.node == node.id) {
                    n.put_back = paths.clone();
                }
            }
        }
        drop(state);
        self.state().open.remove(&(session.name.clone(), plan.candidate.id.clone()));
        Ok(up)
    }
    async fn address(&self, _: &Session, _: &str, node: &str) -> Result<Ipv4Addr, Error> {
        Err(Error::Node { container: node.to_string(), message: "the in-memory runtime has no network".into() })
    }
    async fn link(&self, session: &Session, candidate: &str, network: &str) -> Result<String, Error> {
        Ok(format!("mem-{}-{candidate}-{network}", session.name))
    }
    async fn free_disk(&self) -> Result<Option<u64>, Error> {
        Ok(self.state().free_disk)
    }
    async fn disk_usage(&self, session: &str) -> Result<Vec<NodeDisk>, Error> {
        let nodes = Runtime::status(self, session, None).await?;
        let state = self.state();
        Ok(nodes
            .into_iter()
            .map(|n| NodeDisk {
                bytes: state.disk.get(&n.container).copied().unwrap_or(0),
                candidate: n.candidate,
                node: n.node,
            })
            .collect())
    }
    async fn hold(&self, session: &Session, candidate: &str, node: &str) -> Result<Hold, Error> {
        self.state().paused.insert(session.container_name(candidate, node));
        Ok(Hold::Paused)
    }
    async fn release(&self, session: &Session, candidate: &str, node: &str) -> Result<(), Error> {
        self.state().paused.remove(&session.container_name(candidate, node));
        Ok(())
    }
    async fn forward(&self, session: &Session, candidate: &str, node: &str, _: u16) -> Result<Forward, Error> {
        Err(Error::Node {
            container: session.container_name(candidate, node),
            message: "the in-memory runtime runs no guest to tunnel to".into(),
        })
    }
    async fn exec(&self, container: &str, cmd: &[&str], _: Duration) -> Result<ExecOutput, Error> {
        let command = cmd.last().copied().unwrap_or_default().to_string();
        let candidate = container.split('-').nth(2).unwrap_or_default().to_string();
        self.check(Op::Exec, &candidate)?;
        self.state().execs.push((container.to_string(), command.clone()));
        Ok(match &self.responder {
            Some(answer) => answer(container, &command),
            None => ExecOutput { exit_code: 0, stdout: String::new(), stderr: String::new() },
        })
    }
}
