//! Candidate platforms on the Docker engine: networks, containers, access.
//!
//! The engine is the source of truth for what exists: every object carries
//! labels (owner, session, candidate, node, scenario hash), `up` reconciles
//! against them, and `down` removes exactly what they name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::queued::Queue;
use bollard::Docker;
use serde::Serialize;

use crate::hostnet::HostSide;
use crate::site::{Address, EngineSpec, Site};
use crate::{Error, LABEL_OWNER};

mod access;
mod addressing;
mod deadline;
mod layer;
mod provision;
mod qmp;
mod ready;
mod snapshot;
mod status;
mod transfer;
mod vm;

use addressing::{engine_gateway, parking_addresses};
pub(crate) use layer::under;
use provision::{create_error, limited};
pub use qmp::{QmpCommand, qmp_replies};
pub(crate) use status::free_space;
pub use vm::{Forward, LABEL_VM};

pub const LABEL_SESSION: &str = "org.plateau.session";
pub const LABEL_CANDIDATE: &str = "org.plateau.candidate";
pub const LABEL_NODE: &str = "org.plateau.node";
pub const LABEL_SCENARIO_HASH: &str = "org.plateau.scenario-hash";
/// On snapshot images: when (or why) the snapshot was taken.
pub const LABEL_SNAPSHOT: &str = "org.plateau.snapshot";
/// Name of the relay node that carries the candidate's SSH access.
pub const ACCESS_NODE: &str = "access";
/// Candidate access links are carved as /29s out of this block, reserved for Plateau.
const ACCESS_LINKS: &str = "100.127.0.0/16";
/// Port the relay listens on inside its container.
const RELAY_PORT: &str = "2222/tcp";

/// What a session is, as far as the engine cares.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub scenario_hash: String,
    /// The grader's public key (an `authorized_keys` line), for the VMs
    /// Plateau creates: they are graded over SSH.
    pub grader_key: Option<String>,
    /// Candidates come in through the seat gateway (recorded): relays are
    /// published on the host's loopback only, out of the room's reach.
    pub relays_on_loopback: bool,
}

impl Session {
    fn labels(&self, candidate: Option<&str>, node: Option<&str>) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (LABEL_OWNER.to_string(), "plateau".to_string()),
            (LABEL_SESSION.to_string(), self.name.clone()),
            (LABEL_SCENARIO_HASH.to_string(), self.scenario_hash.clone()),
        ]);
        if let Some(c) = candidate {
            labels.insert(LABEL_CANDIDATE.into(), c.into());
        }
        if let Some(n) = node {
            labels.insert(LABEL_NODE.into(), n.into());
        }
        labels
    }

    pub fn container_name(&self, candidate: &str, node: &str) -> String {
        format!("plateau-{}-{candidate}-{node}", self.name)
    }

    fn network_name(&self, candidate: &str, network: &str) -> String {
        format!("plateau-{}-{candidate}-{network}", self.name)
    }

    fn access_network(&self) -> String {
        format!("plateau-{}-access", self.name)
    }
}

/// What `up` did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    /// It existed, stopped; it was started.
    Started,
    /// It existed and was running: left as it is.
    Kept,
    /// It exists from another version of the scenario: left as it is, reported.
    Drifted,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeOutcome {
    pub node: String,
    pub container: String,
    pub outcome: Outcome,
    /// The SSH host public keys of a node the candidate logs into, to pin.
    pub host_keys: Vec<String>,
    /// Paths copied from the role image before it started (a restore).
    pub put_back: Vec<String>,
    /// A restored VM: what its disk had changed of the grader's programs
    /// and start-up files, compared with the role's disk at boot; `None`
    /// when not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<Vec<FsChange>>,
    /// Why a restored VM's disk was not compared, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

/// How a candidate reaches their platform.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub node: String,
    pub host_port: u16,
    pub user: String,
    pub password: String,
}

/// One candidate's platform after `up`.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateUp {
    pub candidate: String,
    pub nodes: Vec<NodeOutcome>,
    pub access: Option<Access>,
    pub seconds: f64,
}

/// One container of a session, as the engine reports it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub candidate: String,
    pub node: String,
    pub container: String,
    /// `running`, `exited`, ...
    pub state: String,
    /// `healthy`, `starting`, `unhealthy`, or empty when the image has no health check.
    pub health: String,
}

/// What one node has written to its own disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDisk {
    pub candidate: String,
    pub node: String,
    pub bytes: u64,
}

/// How a path differs from the node's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The word a change is told with: on the grid, and by the readings
    /// that print `added|modified|deleted PATH` (a VM's initrd, a machine's).
    pub fn token(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }

    pub fn from_token(word: &str) -> Option<ChangeKind> {
        [ChangeKind::Added, ChangeKind::Modified, ChangeKind::Deleted].into_iter().find(|k| k.token() == word)
    }
}

/// One path of a node's filesystem that is not as its image has it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct FsChange {
    pub path: String,
    pub kind: ChangeKind,
}

/// A candidate's nodes committed to images, and what could not be captured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub images: Vec<String>,
    pub notes: Vec<String>,
}

/// What `down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    /// Host firewall rules (see `hostnet`).
    pub rules: usize,
    /// Snapshot images (an archived session's only: see `remove_snapshots`).
    pub snapshots: usize,
    /// Networks the engine would not remove, with its reason (Docker 20.10
    /// can keep a stale endpoint on a network whose containers are gone).
    pub networks_left: Vec<String>,
}

/// The bounds of an engine's work at once, across candidates.
struct Turns {
    /// Containers booting: created or started, until their ready mark
    /// while others queue for a turn.
    starts: Queue,
    /// Commands run in its containers: a room graded at once queues here,
    /// and each command's time limit runs from its turn (on a crowded
    /// host, `samba-tool` after `samba-tool` outlasted its limit and a live
    /// grade said `error`).
    commands: Queue,
    /// Commands that wait on the network (`ping`, `nc`, `curl`): an
    /// untouched platform's wait out their whole limit, and holding a
    /// command turn while idle made a room's grade last the sum of them.
    network_waits: Queue,
}

/// Commands in flight per CPU of an engine's host: most of a grader's
/// commands wait on I/O or a service; a few (`samba-tool`) burn a CPU (at
/// four per CPU, 16 solved platforms graded at once ran them past their
/// 10 s limits).
const COMMANDS_PER_CPU: usize = 2;

/// Commands waiting on the network in flight per CPU: they hardly use it,
/// but each one's start (an exec: `runc`, namespaces) does.
const NETWORK_WAITS_PER_CPU: usize = 8;

#[derive(Clone)]
pub struct DockerEngine {
    docker: Docker,
    /// What may run on it at once, across candidates.
    turns: Arc<Turns>,
    /// The engine accepts two networks of one name: shared networks are made
    /// by one task at a time.
    shared_networks: Arc<tokio::sync::Mutex<()>>,
    /// How this host runs VM guests (`kvm` or `tcg`), found at the first VM.
    vm_accel: Arc<tokio::sync::OnceCell<String>>,
    /// Where the engine's host-side work (firewall rules, routes) runs.
    host: HostSide,
    /// Where the controller reaches the ports the engine publishes (relays).
    published_on: String,
    /// Its id in the site file.
    id: String,
}

impl DockerEngine {
    /// This host's engine, as Docker's own tools find it.
    pub async fn connect(concurrency: usize) -> Result<DockerEngine, Error> {
        DockerEngine::connect_to(&Site::local().engines[0], concurrency).await
    }

    /// An engine of the site file. Its host-side work runs here for an
    /// engine of this host (reached by its socket), else in the helper
    /// Plateau keeps on its host.
    pub async fn connect_to(spec: &EngineSpec, concurrency: usize) -> Result<DockerEngine, Error> {
        let docker = spec.connect()?;
        let docker = docker.negotiate_version().await.map_err(|e| spec.unreachable(e))?;
        docker.ping().await.map_err(|e| spec.unreachable(e))?;
        // This host's engine has this host's bridges.
        let host = match spec.on_this_host() {
            true => HostSide::Local,
            false => HostSide::helper(docker.clone()),
        };
        let published_on = match &spec.address {
            Address::Tls { host_port, .. } => {
                host_port.rsplit_once(':').map_or(host_port.as_str(), |(host, _)| host).to_string()
            }
            _ => "127.0.0.1".to_string(),
        };
        let cpus = match (spec.cpus, &host) {
            (Some(cpus), _) => cpus as usize,
            (None, HostSide::Local) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            (None, _) => docker.info().await.ok().and_then(|i| i.ncpu).map_or(1, |n| n.max(1) as usize),
        };
        Ok(DockerEngine {
            docker,
            turns: Arc::new(Turns {
                starts: Queue::new(concurrency),
                commands: Queue::new(COMMANDS_PER_CPU * cpus),
                network_waits: Queue::new(NETWORK_WAITS_PER_CPU * cpus),
            }),
            shared_networks: Arc::new(tokio::sync::Mutex::new(())),
            vm_accel: Arc::new(tokio::sync::OnceCell::new()),
            host,
            published_on,
            id: spec.id.clone(),
        })
    }

    /// Whether the engine runs on this host: its bridges and node addresses
    /// are this host's (the grader's probes reach them from here).
    pub fn on_this_host(&self) -> bool {
        matches!(self.host, HostSide::Local)
    }

    /// Its id in the site file.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the ports it publishes (the candidates' SSH entries) are
    /// reached: this host's loopback, or a remote engine's own host.
    pub fn published_on(&self) -> &str {
        &self.published_on
    }

    /// Run the controller's program beside the platforms of an engine on
    /// another host (its helper), within `limit`.
    pub async fn agent(&self, args: &[&str], limit: std::time::Duration) -> Result<crate::HostOutput, Error> {
        self.host.agent(args, limit).await
    }

    /// Run a command as root in a container of this engine.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        limit: std::time::Duration,
    ) -> Result<crate::ExecOutput, Error> {
        let queue = match crate::queued::waits_on_the_network() {
            true => &self.turns.network_waits,
            false => &self.turns.commands,
        };
        let _turn = queue.turn().await;
        crate::exec::exec(&self.docker, container, cmd, limit).await
    }

    /// A login shell of `user` on a new terminal of a container node. A VM
    /// node's guest is not a process of its container: it is reached over
    /// SSH (the access sheet's way in).
    pub async fn open_terminal(
        &self,
        container: &str,
        user: &str,
        (cols, rows): (u16, u16),
    ) -> Result<crate::terminal::Terminal, Error> {
        if self.is_vm(container).await {
            return Err(Error::Node {
                container: container.to_string(),
                message: "a VM's terminal is its SSH access (the access sheet), not the browser's".into(),
            });
        }
        crate::terminal::open(&self.docker, container, user, cols, rows).await
    }

    /// `user`'s desktop on a node whose image has one, as a VNC stream.
    pub async fn open_desktop(&self, container: &str, user: &str) -> Result<crate::terminal::Terminal, Error> {
        crate::terminal::desktop(&self.docker, container, user).await
    }
}
