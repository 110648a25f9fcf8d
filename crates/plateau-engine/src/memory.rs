//! The in-memory runtime that unit tests drive: it creates nothing,
//! records every call, and fails where a test says.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plateau_scenario::{CandidatePlan, TakenSubnet};

use crate::platform::{
    ACCESS_NODE, Access, CandidateUp, Forward, FsChange, NodeDisk, NodeOutcome, NodeStatus, Outcome, Removed, Session,
    Snapshot,
};
use crate::terminal::{Resizer, Terminal};
use crate::{Error, ExecOutput, Hold};

use crate::runtime::Runtime;

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
    /// Re-creating a platform from its snapshots.
    Restore,
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
    /// Memory the runtime reports (unknown when `None`).
    pub memory: Option<u64>,
    /// Container name → the SSH host keys it presents: made when it is
    /// created (one per creation), which a test may then rewrite as a root
    /// candidate would.
    pub host_keys: BTreeMap<String, Vec<String>>,
    /// Containers created so far.
    pub created: usize,
    /// Subnets other networks hold (set by tests).
    pub held: Vec<TakenSubnet>,
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
            nodes.push(NodeOutcome {
                node: node.id.clone(),
                container,
                outcome,
                host_keys,
                put_back: Vec::new(),
                found: None,
                unchecked: None,
            });
        }
        // As the engine's relay: opened when made, left as it is after
        // (closed by the clock, or stopped by an engine restart).
        if nodes.iter().all(|n| n.outcome == Outcome::Created) {
            self.state().open.insert((session.name.clone(), candidate.to_string()));
        }
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
    async fn subnets_held(&self, _session: &str) -> Result<Vec<TakenSubnet>, Error> {
        Ok(self.state().held.clone())
    }
    async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        let prefix = prefix(session, candidate);
        let mut state = self.state();
        let before = state.containers.len();
        state.containers.retain(|name, _| !name.starts_with(&prefix));
        state.host_keys.retain(|name, _| !name.starts_with(&prefix));
        state.open.retain(|(s, c)| !(s == session && candidate.is_none_or(|only| only == c)));
        Ok(Removed { containers: before - state.containers.len(), ..Default::default() })
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
    async fn access_open(&self, session: &Session, candidate: &str) -> Result<bool, Error> {
        Ok(self.state().open.contains(&(session.name.clone(), candidate.to_string())))
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
    async fn remove_snapshots(&self, session: &str) -> Result<usize, Error> {
        let prefix = format!("plateau-snapshot/{session}-");
        let mut state = self.state();
        let before = state.snapshots.len();
        state.snapshots.retain(|image| !image.starts_with(&prefix));
        Ok(before - state.snapshots.len())
    }
    /// A `docker save` file with its manifest and no layers.
    async fn save_snapshots(&self, session: &str, to: &std::path::Path) -> Result<Vec<String>, Error> {
        let prefix = format!("plateau-snapshot/{session}-");
        let names: Vec<String> = self.state().snapshots.iter().filter(|i| i.starts_with(&prefix)).cloned().collect();
        let manifest = serde_json::json!([{ "RepoTags": names }]).to_string();
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        let file = std::fs::File::create(to).map_err(|e| Error::Engine(e.to_string()))?;
        let mut tar = tar::Builder::new(file);
        tar.append_data(&mut header, "manifest.json", manifest.as_bytes())
            .and_then(|()| tar.finish())
            .map_err(|e| Error::Engine(e.to_string()))?;
        Ok(names)
    }
    async fn load_images(&self, from: &std::path::Path) -> Result<(), Error> {
        let file = std::fs::File::open(from).map_err(|e| Error::Engine(e.to_string()))?;
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries().map_err(|e| Error::Engine(e.to_string()))? {
            let entry = entry.map_err(|e| Error::Engine(e.to_string()))?;
            let saved: serde_json::Value = serde_json::from_reader(entry).map_err(|e| Error::Engine(e.to_string()))?;
            let names = saved[0]["RepoTags"].as_array().cloned().unwrap_or_default();
            self.state().snapshots.extend(names.iter().filter_map(|n| n.as_str().map(str::to_string)));
        }
        Ok(())
    }
    async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        _tag: &str,
        port: u16,
        put_back: &BTreeMap<String, Vec<String>>,
    ) -> Result<CandidateUp, Error> {
        self.check(Op::Restore, &plan.candidate.id)?;
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
    async fn memory_total(&self) -> Result<Option<u64>, Error> {
        Ok(self.state().memory)
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
    /// A shell that echoes what is typed and, at each Enter, prints what
    /// the responder answers to the line, then a `$ ` prompt.
    async fn open_terminal(&self, container: &str, _user: &str, _: (u16, u16)) -> Result<Terminal, Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // An engine answers later: whoever else was waiting runs meanwhile.
        tokio::task::yield_now().await;
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (mut from_user, mut to_user) = tokio::io::split(theirs);
        let (container, responder) = (container.to_string(), self.responder.clone());
        tokio::spawn(async move {
            let (mut line, mut buf) = (String::new(), [0u8; 1024]);
            let _ = to_user.write_all(b"$ ").await;
            while let Ok(n) = from_user.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                for &byte in &buf[..n] {
                    let echo = match byte {
                        b'\r' => {
                            let answer = responder.as_ref().map(|r| r(&container, &line).stdout).unwrap_or_default();
                            line.clear();
                            format!("\r\n{}$ ", answer.replace('\n', "\r\n"))
                        }
                        _ => {
                            line.push(byte as char);
                            (byte as char).to_string()
                        }
                    };
                    if to_user.write_all(echo.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(piped(ours))
    }
    /// A desktop that greets as a VNC server does, then sends back every
    /// byte it is sent (what reached it, for tests of the gateway).
    async fn open_desktop(&self, _: &str, _: &str) -> Result<Terminal, Error> {
        use tokio::io::AsyncWriteExt;
        tokio::task::yield_now().await;
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let (mut from_viewer, mut to_viewer) = tokio::io::split(theirs);
            let _ = to_viewer.write_all(b"RFB 003.008\n").await;
            let _ = tokio::io::copy(&mut from_viewer, &mut to_viewer).await;
        });
        Ok(piped(ours))
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

/// A terminal whose two ends are one side of an in-memory pipe.
fn piped(ours: tokio::io::DuplexStream) -> Terminal {
    use tokio::io::AsyncReadExt;
    let (reader, writer) = tokio::io::split(ours);
    let output = futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; 4096];
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some((Ok(buf[..n].to_vec()), reader)),
        }
    });
    Terminal { output: Box::pin(output), input: Box::pin(writer), size: Resizer::Fixed }
}
