//! Candidate platforms on the Docker engine: networks, containers, access.
//!
//! The engine is the source of truth for what exists: every object carries
//! labels (owner, session, candidate, node, scenario hash), `up` reconciles
//! against them, and `down` removes exactly what they name.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, ListNetworksOptions,
    RemoveContainerOptions, StartContainerOptions, StopContainerOptions,
};
use ipnet::Ipv4Net;
use plateau_scenario::model::{Backend, Capability, Via};
use plateau_scenario::{CandidatePlan, PlannedNode};
use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::exec::exec;
use crate::{Error, LABEL_OWNER, hostnet};

pub const LABEL_SESSION: &str = "org.plateau.session";
pub const LABEL_CANDIDATE: &str = "org.plateau.candidate";
pub const LABEL_NODE: &str = "org.plateau.node";
pub const LABEL_SCENARIO_HASH: &str = "org.plateau.scenario-hash";
/// On snapshot images: when (or why) the snapshot was taken.
pub const LABEL_SNAPSHOT: &str = "org.plateau.snapshot";
/// Run in a node before it is committed to a snapshot.
const CAPTURE_RUNTIME: &str = "mkdir -p /var/lib/plateau/snapshot && \
     f=/var/lib/plateau/snapshot/nftables.rules; \
     if nft list ruleset > $f.new 2>/dev/null; then mv $f.new $f; else rm -f $f.new; fi";
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
    /// The grader's public key (`authorized_keys` line), installed for root on
    /// container nodes whose grader access is SSH.
    pub grader_key: Option<String>,
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
    /// The node's SSH host public keys, to pin in the grader.
    pub host_keys: Vec<String>,
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

/// What `down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    /// Host firewall rules (see `hostnet`).
    pub rules: usize,
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Bounds the containers created or started at once, across candidates.
    slots: Arc<Semaphore>,
    /// The engine accepts two networks of one name: shared networks are made
    /// by one task at a time.
    shared_networks: Arc<tokio::sync::Mutex<()>>,
}

impl Engine {
    pub async fn connect(concurrency: usize) -> Result<Engine, Error> {
        let docker = Docker::connect_with_local_defaults().map_err(|e| Error::Engine(e.to_string()))?;
        let docker = docker.negotiate_version().await.map_err(|e| Error::Engine(e.to_string()))?;
        docker.ping().await.map_err(|e| Error::Engine(e.to_string()))?;
        Ok(Engine {
            docker,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            shared_networks: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Run a command as root in one of a candidate's nodes, through the engine.
    pub async fn exec_on(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        cmd: &[&str],
        limit: std::time::Duration,
    ) -> Result<crate::exec::ExecOutput, Error> {
        crate::exec::exec(&self.docker, &session.container_name(candidate, node), cmd, limit).await
    }

    /// Bring one candidate's platform to the plan: create what is missing, start
    /// what is stopped, keep what runs, report what drifted.
    pub async fn up_candidate(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        host_port: u16,
    ) -> Result<CandidateUp, Error> {
        let started = Instant::now();
        let candidate = plan.candidate.id.as_str();
        for net in &plan.networks {
            let name = session.network_name(candidate, &net.id);
            let gateway = engine_gateway(plan, &net.id)?;
            self.ensure_network(&name, session.labels(Some(candidate), None), Some((net.subnet, gateway)), true)
                .await?;
            hostnet::isolate_bridge(&self.bridge(&name).await?, &session.name, candidate).await?;
        }
        let parking = parking_addresses(plan)?;
        // Only nodes that others wait for are waited for, and the candidate's
        // entry points: "ready" on the access sheet means they can log in.
        let awaited: BTreeSet<String> = plan
            .nodes
            .iter()
            .flat_map(|n| n.depends_on.iter().cloned())
            .chain(plan.access.iter().map(|a| a.node.clone()))
            .collect();
        let mut outcomes = Vec::new();
        for level in dependency_levels(&plan.nodes) {
            let mut tasks = tokio::task::JoinSet::new();
            // Machines Plateau did not create (static inventory, VMs) are only graded.
            for node in level.into_iter().filter(|n| n.backend == Backend::Container) {
                let engine = self.clone();
                let (session, node, plan) = (session.clone(), node.clone(), plan.clone());
                let parked = parking.get(&node.id).cloned().unwrap_or_default();
                let wait = awaited.contains(&node.id);
                let span = tracing::info_span!("node", candidate = %plan.candidate.id, node = %node.id);
                tasks.spawn(
                    async move { engine.ensure_node(&session, &plan, &node, &parked, wait).await }.instrument(span),
                );
            }
            while let Some(result) = tasks.join_next().await {
                outcomes.push(result.map_err(|e| Error::Engine(e.to_string()))??);
            }
        }
        let relayed =
            plan.access.first().filter(|e| plan.node(&e.node).is_some_and(|n| n.backend == Backend::Container));
        let access = match relayed {
            Some(entry) => Some(self.ensure_access(session, plan, entry, host_port).await?),
            None => None,
        };
        outcomes.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(CandidateUp {
            candidate: candidate.to_string(),
            nodes: outcomes,
            access,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        addressing: Option<(Ipv4Net, Ipv4Addr)>,
        internal: bool,
    ) -> Result<(), Error> {
        if self.docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await.is_ok() {
            return Ok(());
        }
        let ipam = addressing.map(|(subnet, gateway)| Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(gateway.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let mut options = HashMap::new();
        if !internal {
            // The shared access network: relays must not talk to each other.
            options.insert("com.docker.network.bridge.enable_icc".to_string(), "false".to_string());
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(internal),
            ipam,
            options: Some(options),
            labels: Some(labels),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Another candidate's task created it meanwhile.
            Err(e) if e.to_string().contains("already exists") => Ok(()),
            Err(e) => Err(Error::Network { name: name.to_string(), message: e.to_string() }),
        }
    }

    /// The Linux bridge behind a Docker network (`br-` and 12 digits of its id).
    async fn bridge(&self, network: &str) -> Result<String, Error> {
        let inspect = self
            .docker
            .inspect_network(network, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
            .map_err(|e| Error::Network { name: network.to_string(), message: e.to_string() })?;
        let id = inspect.id.unwrap_or_default();
        Ok(format!("br-{}", &id[..id.len().min(12)]))
    }

    async fn ensure_node(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        node: &PlannedNode,
        parked: &[Ipv4Addr],
        wait: bool,
    ) -> Result<NodeOutcome, Error> {
        let candidate = plan.candidate.id.as_str();
        let name = session.container_name(candidate, &node.id);
        let _slot = self.slots.acquire().await.map_err(|e| Error::Engine(e.to_string()))?;
        let outcome = match self.docker.inspect_container(&name, None::<InspectContainerOptions>).await {
            Ok(existing) => {
                let labels = existing.config.and_then(|c| c.labels).unwrap_or_default();
                let running = existing.state.and_then(|s| s.running).unwrap_or(false);
                if labels.get(LABEL_SCENARIO_HASH) != Some(&session.scenario_hash) {
                    Outcome::Drifted
                } else if running {
                    Outcome::Kept
                } else {
                    self.start(&name).await?;
                    Outcome::Started
                }
            }
            Err(_) => {
                self.create_node(session, plan, node, &name, parked).await?;
                self.start(&name).await?;
                Outcome::Created
            }
        };
        drop(_slot);
        tracing::info!(container = %name, ?outcome, "node");
        if matches!(outcome, Outcome::Created | Outcome::Started) {
            self.route_via_plan_gateway(plan, node, &name).await?;
        }
        if wait {
            self.wait_ready(&name, Duration::from_secs(120)).await?;
        }
        if let Some(entry) = plan.access.iter().find(|a| a.node == node.id) {
            let script = format!(
                "id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo {user}; echo '{user}:{password}' | chpasswd",
                user = entry.user,
                password = entry.password
            );
            let out = exec(&self.docker, &name, &["sh", "-c", &script], Duration::from_secs(30)).await?;
            if out.exit_code != 0 {
                return Err(Error::Node {
                    container: name,
                    message: format!("creating the candidate's account: {}", out.stderr),
                });
            }
        }
        let host_keys = self.grader_ssh(session, node, &name).await?;
        Ok(NodeOutcome { node: node.id.clone(), container: name, outcome, host_keys })
    }

    /// For a node graded over SSH: let the grader's key in as root, and read
    /// the host keys it must then find.
    async fn grader_ssh(&self, session: &Session, node: &PlannedNode, name: &str) -> Result<Vec<String>, Error> {
        let (Some(grader), Some(key)) = (&node.grader, &session.grader_key) else {
            return Ok(Vec::new());
        };
        if grader.via != Via::Ssh {
            return Ok(Vec::new());
        }
        let script = format!(
            "mkdir -p /root/.ssh && chmod 700 /root/.ssh && touch /root/.ssh/authorized_keys && \
             (grep -qxF '{key}' /root/.ssh/authorized_keys || echo '{key}' >> /root/.ssh/authorized_keys) && \
             chmod 600 /root/.ssh/authorized_keys && cat /etc/ssh/ssh_host_*_key.pub"
        );
        let out = exec(&self.docker, name, &["sh", "-c", &script], Duration::from_secs(30)).await?;
        if out.exit_code != 0 {
            return Err(Error::Node { container: name.to_string(), message: format!("grader access: {}", out.stderr) });
        }
        Ok(out.stdout.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
    }

    /// Where the controller reaches a node's container: its address on the
    /// candidate's access link when it has one (stable whatever the candidate
    /// does to the node's own interfaces), else its first network address.
    pub async fn address(&self, session: &Session, candidate: &str, node: &str) -> Result<Ipv4Addr, Error> {
        let name = session.container_name(candidate, node);
        let networks = self
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| Error::Node { container: name.clone(), message: e.to_string() })?
            .network_settings
            .and_then(|s| s.networks)
            .unwrap_or_default();
        let link = session.network_name(candidate, "access-link");
        let address = |n: &bollard::models::EndpointSettings| n.ip_address.as_deref().and_then(|a| a.parse().ok());
        networks
            .get(&link)
            .and_then(address)
            .or_else(|| {
                let mut all: Vec<_> = networks.iter().collect();
                all.sort_by(|a, b| a.0.cmp(b.0));
                all.into_iter().find_map(|(_, n)| address(n))
            })
            .ok_or_else(|| Error::Node { container: name, message: "has no network address".into() })
    }

    /// Cut a candidate off at the end of a phase: stop their relay (which
    /// drops connections through it) and end every process of their
    /// accounts on the nodes they could log into.
    pub async fn cut_access(&self, session: &Session, plan: &CandidatePlan) -> Result<(), Error> {
        let candidate = plan.candidate.id.as_str();
        self.set_access(session, candidate, false).await?;
        for entry in &plan.access {
            let container = session.container_name(candidate, &entry.node);
            // Exit 1 means nothing was running: fine.
            exec(&self.docker, &container, &["pkill", "-KILL", "-u", &entry.user], Duration::from_secs(10)).await?;
        }
        Ok(())
    }

    /// Commit every node of a candidate to an image for appeals:
    /// `plateau-snapshot/<session>-<candidate>-<node>:<tag>`, labelled like
    /// the container. Returns the image names.
    pub async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Vec<String>, Error> {
        let candidate = plan.candidate.id.as_str();
        let mut images = Vec::new();
        for node in plan.nodes.iter().filter(|n| n.backend == Backend::Container) {
            let container = session.container_name(candidate, &node.id);
            let repo = format!("plateau-snapshot/{}-{candidate}-{}", session.name, node.id);
            let mut labels = session.labels(Some(candidate), Some(&node.id));
            labels.insert(LABEL_SNAPSHOT.to_string(), tag.to_string());
            let options = bollard::query_parameters::CommitContainerOptions {
                container: Some(container.clone()),
                repo: Some(repo.clone()),
                tag: Some(tag.to_string()),
                comment: Some(format!("Plateau snapshot of {container}")),
                pause: true,
                ..Default::default()
            };
            // Runtime state that a commit would lose and that grading reads:
            // the firewall rules in force (plateau-init restores them).
            exec(&self.docker, &container, &["sh", "-c", CAPTURE_RUNTIME], Duration::from_secs(30)).await?;
            let config = bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() };
            self.docker
                .commit_container(options, config)
                .await
                .map_err(|e| Error::Node { container: container.clone(), message: format!("snapshot: {e}") })?;
            images.push(format!("{repo}:{tag}"));
        }
        Ok(images)
    }

    /// Re-create a candidate's platform from their snapshots (an appeal, or a
    /// corrected scenario), with the candidate's access closed.
    pub async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
        host_port: u16,
    ) -> Result<CandidateUp, Error> {
        let candidate = plan.candidate.id.as_str();
        self.down(&session.name, Some(candidate)).await?;
        let mut restored = plan.clone();
        for node in restored.nodes.iter_mut().filter(|n| n.backend == Backend::Container) {
            node.image = format!("plateau-snapshot/{}-{candidate}-{}:{tag}", session.name, node.id);
        }
        let up = self.up_candidate(session, &restored, host_port).await?;
        self.set_access(session, candidate, false).await?;
        Ok(up)
    }

    /// The host interface of a candidate network (the controller's link into
    /// it, where DHCP probes are sent).
    pub async fn link(&self, session: &Session, candidate: &str, network: &str) -> Result<String, Error> {
        self.bridge(&session.network_name(candidate, network)).await
    }

    async fn create_node(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        node: &PlannedNode,
        name: &str,
        parked: &[Ipv4Addr],
    ) -> Result<(), Error> {
        let candidate = plan.candidate.id.as_str();
        // Each interface gets a fixed address: its plan address, or a parking
        // address the node drops for a DHCP lease at start.
        let mut parked = parked.iter();
        let mut endpoints = Vec::new();
        let mut dhcp_parked = Vec::new();
        for iface in &node.interfaces {
            let address = iface.address.or_else(|| parked.next().copied());
            if iface.dhcp
                && let Some(a) = address
            {
                dhcp_parked.push(a.to_string());
            }
            let settings = EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: address.map(|a| a.to_string()),
                    ..Default::default()
                }),
                aliases: Some(vec![node.id.clone(), node.hostname.clone()]),
                mac_address: iface.mac.clone(),
                ..Default::default()
            };
            endpoints.push((session.network_name(candidate, &iface.network), settings));
        }
        let mut caps = Vec::new();
        let mut devices = Vec::new();
        for cap in &node.capabilities {
            match cap {
                Capability::NetAdmin => caps.push("NET_ADMIN".to_string()),
                Capability::NetRaw => caps.push("NET_RAW".to_string()),
                Capability::SysAdmin => caps.push("SYS_ADMIN".to_string()),
                Capability::SysTime => caps.push("SYS_TIME".to_string()),
                Capability::Tun => devices.push(DeviceMapping {
                    path_on_host: Some("/dev/net/tun".into()),
                    path_in_container: Some("/dev/net/tun".into()),
                    cgroup_permissions: Some("rwm".into()),
                }),
            }
        }
        let sysctls: HashMap<String, String> =
            node.role.spec().sysctls.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut endpoints = endpoints.into_iter();
        let first = endpoints.next();
        let host_config = HostConfig {
            init: Some(true),
            cap_add: Some(caps),
            devices: Some(devices),
            sysctls: Some(sysctls),
            network_mode: Some(first.as_ref().map_or("none".to_string(), |(n, _)| n.clone())),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            // A plain name means its `latest` build; a snapshot names its tag.
            image: Some(if node.image.contains(':') { node.image.clone() } else { format!("{}:latest", node.image) }),
            hostname: Some(node.hostname.clone()),
            // Engines before API 1.44 take a MAC for the first network only, here.
            mac_address: node.interfaces.first().and_then(|i| i.mac.clone()),
            labels: Some(session.labels(Some(candidate), Some(&node.id))),
            env: Some(
                std::iter::once(format!("PLATEAU_DHCP_ADDRESSES={}", dhcp_parked.join(" ")))
                    .chain(node.env.iter().map(|(k, v)| format!("{k}={v}")))
                    .collect(),
            ),
            host_config: Some(host_config),
            networking_config: first.map(|(n, s)| NetworkingConfig { endpoints_config: Some(HashMap::from([(n, s)])) }),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
        self.docker.create_container(Some(options), body).await.map_err(|e| create_error(name, &node.image, e))?;
        for (network, settings) in endpoints {
            let request = NetworkConnectRequest { container: Some(name.to_string()), endpoint_config: Some(settings) };
            self.docker
                .connect_network(&network, request)
                .await
                .map_err(|e| Error::Node { container: name.to_string(), message: format!("joining {network}: {e}") })?;
        }
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), Error> {
        self.docker
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(|e| Error::Node { container: name.to_string(), message: format!("starting: {e}") })
    }

    /// Docker sends a node's traffic to the engine's address, which routes
    /// nowhere: a machine with a static address uses its network's gateway
    /// (the candidate's router), as a server of the company would.
    async fn route_via_plan_gateway(&self, plan: &CandidatePlan, node: &PlannedNode, name: &str) -> Result<(), Error> {
        let gateway = node.interfaces.iter().find_map(|iface| {
            let own = iface.address?;
            plan.network(&iface.network)?.gateway.filter(|g| *g != own)
        });
        let Some(gateway) = gateway else { return Ok(()) };
        let pid = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|c| c.state?.pid)
            .ok_or_else(|| Error::Node { container: name.to_string(), message: "not running".into() })?;
        hostnet::set_default_route(pid, gateway).await?;
        Ok(())
    }

    /// Wait until the node's `plateau-init` has started its services and its
    /// own readiness check passed (`/run/plateau-ready`). Docker's health
    /// checks run too rarely to wait on: they are for `status`.
    async fn wait_ready(&self, name: &str, limit: Duration) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let out = exec(&self.docker, name, &["test", "-f", "/run/plateau-ready"], Duration::from_secs(10)).await?;
            if out.exit_code == 0 {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(Error::Node {
                    container: name.to_string(),
                    message: format!("not ready after {} s", limit.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The relay that carries the candidate's SSH: on the session's access
    /// network (published port) and on a private link to the candidate's node.
    async fn ensure_access(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        entry: &plateau_scenario::PlannedAccess,
        host_port: u16,
    ) -> Result<Access, Error> {
        let candidate = plan.candidate.id.as_str();
        let access_net = session.access_network();
        {
            let _one_at_a_time = self.shared_networks.lock().await;
            self.ensure_network(&access_net, session.labels(None, None), None, false).await?;
        }
        let link_net = session.network_name(candidate, "access-link");
        let link = self.ensure_access_link(&link_net, session.labels(Some(candidate), None)).await?;
        hostnet::isolate_bridge(&self.bridge(&link_net).await?, &session.name, candidate).await?;
        let relay_addr = Ipv4Addr::from(u32::from(link.network()) + 1);
        let node_addr = Ipv4Addr::from(u32::from(link.network()) + 2);
        let target = session.container_name(candidate, &entry.node);
        let joined = self
            .docker
            .inspect_container(&target, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|c| c.network_settings?.networks)
            .is_some_and(|n| n.contains_key(&link_net));
        if !joined {
            // Docker routes by default through the engine's address on the
            // network joined last, and refuses to join when the node has a
            // default route of its own (a DHCP lease, e.g. on a platform
            // restored from a snapshot). The access link is for management
            // only: the node's own default route is set aside, then put back.
            let gateway = Ipv4Addr::from(u32::from(link.network()) + 6);
            let own =
                exec(&self.docker, &target, &["ip", "-4", "route", "show", "default"], Duration::from_secs(10)).await?;
            let own = own.stdout.trim().to_string();
            if !own.is_empty() {
                let _ = exec(&self.docker, &target, &["ip", "-4", "route", "del", "default"], Duration::from_secs(10))
                    .await;
            }
            self.join(&target, &link_net, node_addr).await?;
            let restore = match own.is_empty() {
                true => format!("ip -4 route del default via {gateway}"),
                false => format!("ip -4 route del default via {gateway}; ip -4 route replace {own}"),
            };
            let _ = exec(&self.docker, &target, &["sh", "-c", &restore], Duration::from_secs(10)).await;
        }
        let name = session.container_name(candidate, ACCESS_NODE);
        if self.docker.inspect_container(&name, None::<InspectContainerOptions>).await.is_err() {
            let host_config = HostConfig {
                init: Some(true),
                network_mode: Some(access_net.clone()),
                port_bindings: Some(HashMap::from([(
                    RELAY_PORT.to_string(),
                    Some(vec![PortBinding { host_ip: Some("0.0.0.0".into()), host_port: Some(host_port.to_string()) }]),
                )])),
                ..Default::default()
            };
            let body = ContainerCreateBody {
                image: Some("plateau/access:latest".into()),
                hostname: Some(format!("access-{candidate}")),
                labels: Some(session.labels(Some(candidate), Some(ACCESS_NODE))),
                env: Some(vec![format!("PLATEAU_TARGET={node_addr}:22")]),
                exposed_ports: Some(HashMap::from([(RELAY_PORT.to_string(), HashMap::new())])),
                host_config: Some(host_config),
                ..Default::default()
            };
            let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
            self.docker
                .create_container(Some(options), body)
                .await
                .map_err(|e| create_error(&name, "plateau/access", e))?;
            self.join(&name, &link_net, relay_addr).await?;
            self.start(&name).await?;
        }
        wait_for_sshd(&name, host_port).await?;
        Ok(Access { node: entry.node.clone(), host_port, user: entry.user.clone(), password: entry.password.clone() })
    }

    /// Attach a container to a network at a fixed address.
    async fn join(&self, container: &str, network: &str, address: Ipv4Addr) -> Result<(), Error> {
        let settings = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig { ipv4_address: Some(address.to_string()), ..Default::default() }),
            ..Default::default()
        };
        let request = NetworkConnectRequest { container: Some(container.to_string()), endpoint_config: Some(settings) };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| Error::Node { container: container.to_string(), message: format!("joining {network}: {e}") })
    }

    /// The candidate's private /29 between their relay and their node: the
    /// existing one, or the first free /29 of the reserved block (other
    /// sessions hold some).
    async fn ensure_access_link(&self, name: &str, labels: HashMap<String, String>) -> Result<Ipv4Net, Error> {
        if let Ok(existing) =
            self.docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await
        {
            let subnet = existing.ipam.and_then(|i| i.config).and_then(|c| c.into_iter().next()).and_then(|c| c.subnet);
            return subnet.and_then(|s| s.parse().ok()).ok_or_else(|| Error::Network {
                name: name.to_string(),
                message: "exists without an IPv4 subnet".into(),
            });
        }
        let block: Ipv4Net = ACCESS_LINKS.parse().expect("constant");
        let links = block.subnets(29).expect("a /16 holds /29s");
        for link in links {
            let gateway = Ipv4Addr::from(u32::from(link.network()) + 6);
            match self.ensure_network(name, labels.clone(), Some((link, gateway)), true).await {
                Ok(()) => return Ok(link),
                Err(Error::Network { message, .. }) if message.contains("overlaps") => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Network { name: name.to_string(), message: format!("no free /29 left in {ACCESS_LINKS}") })
    }

    /// Open (start the relay) or close (stop it) a candidate's access.
    pub async fn set_access(&self, session: &Session, candidate: &str, open: bool) -> Result<(), Error> {
        let name = session.container_name(candidate, ACCESS_NODE);
        let result = if open {
            self.docker.start_container(&name, None::<StartContainerOptions>).await
        } else {
            self.docker.stop_container(&name, Some(StopContainerOptions { t: Some(1), ..Default::default() })).await
        };
        match result {
            Ok(()) => {}
            // 304: already in the wanted state.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
            Err(e) => return Err(Error::Node { container: name, message: e.to_string() }),
        }
        if open {
            // "Open" means a candidate can log in now, not once socat is up.
            let inspect = self
                .docker
                .inspect_container(&name, None::<InspectContainerOptions>)
                .await
                .map_err(|e| Error::Node { container: name.clone(), message: e.to_string() })?;
            let port = inspect
                .host_config
                .and_then(|h| h.port_bindings)
                .and_then(|b| b.get(RELAY_PORT).cloned().flatten())
                .and_then(|b| b.first().and_then(|p| p.host_port.clone()))
                .and_then(|p| p.parse().ok());
            if let Some(port) = port {
                wait_for_sshd(&name, port).await?;
            }
        }
        Ok(())
    }

    /// Every container of a session (or of one candidate), by label.
    pub async fn status(&self, session: &str, candidate: Option<&str>) -> Result<Vec<NodeStatus>, Error> {
        let mut filters = vec![format!("{LABEL_SESSION}={session}")];
        if let Some(c) = candidate {
            filters.push(format!("{LABEL_CANDIDATE}={c}"));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), filters)])),
            ..Default::default()
        };
        let containers = self.docker.list_containers(Some(options)).await.map_err(|e| Error::Engine(e.to_string()))?;
        let mut out: Vec<NodeStatus> = containers
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let status = c.status.unwrap_or_default();
                let health = ["healthy", "unhealthy", "health: starting"]
                    .into_iter()
                    .find(|h| status.contains(&format!("({h})")))
                    .map(|h| h.trim_start_matches("health: ").to_string())
                    .unwrap_or_default();
                NodeStatus {
                    candidate: labels.get(LABEL_CANDIDATE).cloned().unwrap_or_default(),
                    node: labels.get(LABEL_NODE).cloned().unwrap_or_default(),
                    container: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    health,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.candidate, &a.node).cmp(&(&b.candidate, &b.node)));
        Ok(out)
    }

    /// Remove every container and network labelled with the session (and
    /// candidate); nothing else is touched.
    pub async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        let mut removed = Removed { rules: hostnet::remove_rules(session, candidate).await?, ..Default::default() };
        let mut removals = tokio::task::JoinSet::new();
        for c in self.status(session, candidate).await? {
            let docker = self.docker.clone();
            removals.spawn(async move {
                let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
                docker.remove_container(&c.container, Some(options)).await.is_ok()
            });
        }
        while let Some(done) = removals.join_next().await {
            removed.containers += usize::from(done.unwrap_or(false));
        }
        let mut filters = vec![format!("{LABEL_SESSION}={session}")];
        if let Some(c) = candidate {
            filters.push(format!("{LABEL_CANDIDATE}={c}"));
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions { filters: Some(HashMap::from([("label".to_string(), filters)])) }))
            .await
            .map_err(|e| Error::Engine(e.to_string()))?;
        for n in networks {
            if let Some(name) = n.name
                && self.docker.remove_network(&name).await.is_ok()
            {
                removed.networks += 1;
            }
        }
        Ok(removed)
    }
}

/// Wait until the candidate's published port answers with an SSH banner
/// (the relay is listening and the node's sshd answers through it).
async fn wait_for_sshd(relay: &str, host_port: u16) -> Result<(), Error> {
    use tokio::io::AsyncReadExt;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", host_port)).await.ok()?;
            let mut banner = [0u8; 4];
            stream.read_exact(&mut banner).await.ok()?;
            (&banner == b"SSH-").then_some(())
        };
        if tokio::time::timeout(Duration::from_secs(3), attempt).await.ok().flatten().is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Node {
                container: relay.to_string(),
                message: format!("port {host_port} gives no SSH banner after 30 s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn create_error(name: &str, image: &str, e: bollard::errors::Error) -> Error {
    let text = e.to_string();
    if text.contains("No such image") {
        Error::MissingImage { image: image.to_string() }
    } else if text.contains("is already in use") {
        Error::Node {
            container: name.to_string(),
            message: "a container of that name exists but is not Plateau's; remove or rename it".into(),
        }
    } else {
        Error::Node { container: name.to_string(), message: text }
    }
}

/// Nodes grouped so that each group only depends on earlier groups.
fn dependency_levels(nodes: &[PlannedNode]) -> Vec<Vec<&PlannedNode>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut levels = Vec::new();
    while done.len() < nodes.len() {
        let level: Vec<&PlannedNode> = nodes
            .iter()
            .filter(|n| !done.contains(n.id.as_str()) && n.depends_on.iter().all(|d| done.contains(d.as_str())))
            .collect();
        if level.is_empty() {
            // A cycle: validation reports dependencies on unknown nodes, not loops; start the rest together.
            levels.push(nodes.iter().filter(|n| !done.contains(n.id.as_str())).collect());
            break;
        }
        done.extend(level.iter().map(|n| n.id.as_str()));
        levels.push(level);
    }
    levels
}

/// Free addresses of a network from the top down: not used by the plan
/// (statics, gateway, DNS) and not in its DHCP pool.
fn free_addresses(plan: &CandidatePlan, network: &str) -> Result<impl Iterator<Item = Ipv4Addr>, Error> {
    let net = plan.network(network).ok_or_else(|| Error::Plan(format!("no network {network}")))?;
    let mut used: Vec<Ipv4Addr> = plan
        .nodes
        .iter()
        .flat_map(|n| n.interfaces.iter())
        .filter(|i| i.network == network)
        .filter_map(|i| i.address)
        .collect();
    used.extend(net.gateway);
    used.extend(net.dns);
    let pool = net.dhcp_pool;
    let hosts: Vec<Ipv4Addr> = net.subnet.hosts().collect();
    Ok(hosts.into_iter().rev().filter(move |a| !used.contains(a) && !pool.is_some_and(|[f, l]| (f..=l).contains(a))))
}

/// The engine's own address on a candidate network (the bridge's gateway,
/// which routes nowhere on internal networks): the highest free address.
fn engine_gateway(plan: &CandidatePlan, network: &str) -> Result<Ipv4Addr, Error> {
    free_addresses(plan, network)?
        .next()
        .ok_or_else(|| Error::Plan(format!("network {network} has no free address left for the engine's bridge")))
}

/// Parking addresses for DHCP interfaces, per node, below the engine's gateway.
fn parking_addresses(plan: &CandidatePlan) -> Result<HashMap<String, Vec<Ipv4Addr>>, Error> {
    let mut free: HashMap<&str, Vec<Ipv4Addr>> = HashMap::new();
    for net in &plan.networks {
        free.insert(&net.id, free_addresses(plan, &net.id)?.skip(1).collect());
    }
    let mut out: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    for node in &plan.nodes {
        for iface in node.interfaces.iter().filter(|i| i.address.is_none()) {
            let pool = free
                .get_mut(iface.network.as_str())
                .ok_or_else(|| Error::Plan(format!("no network {}", iface.network)))?;
            if pool.is_empty() {
                return Err(Error::Plan(format!("network {} has no free address to park {}", iface.network, node.id)));
            }
            out.entry(node.id.clone()).or_default().push(pool.remove(0));
        }
    }
    Ok(out)
}
