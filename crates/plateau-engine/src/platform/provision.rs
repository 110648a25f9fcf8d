//! Bringing a candidate's platform to its plan: networks, then nodes in
//! dependency order (bounded concurrency), each created, started or kept.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigLogConfig, Ipam,
    IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{CreateContainerOptions, InspectContainerOptions, StartContainerOptions};
use ipnet::Ipv4Net;
use plateau_scenario::model::{Backend, Capability};
use plateau_scenario::{CandidatePlan, PlannedNode};
use tracing::Instrument;

use crate::exec::exec;
use crate::{Error, hostnet};

use plateau_scenario::limits::NodeLimits;

use super::*;

impl DockerEngine {
    /// Bring one candidate's platform to the plan: create what is missing, start
    /// what is stopped, keep what runs, report what drifted.
    pub async fn up_candidate(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        host_port: u16,
    ) -> Result<CandidateUp, Error> {
        self.up_repairing(session, plan, host_port, None).await
    }

    /// `up`, where the nodes named in `repairs` get the given paths copied
    /// from the given image when they are created, before they start.
    pub(super) async fn up_repairing(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        host_port: u16,
        restore: Option<&HashMap<String, (String, Vec<String>)>>,
    ) -> Result<CandidateUp, Error> {
        let started = Instant::now();
        let candidate = plan.candidate.id.as_str();
        for net in &plan.networks {
            let name = session.network_name(candidate, &net.id);
            let gateway = engine_gateway(plan, &net.id)?;
            self.ensure_network(&name, session.labels(Some(candidate), None), Some((net.subnet, gateway)), true)
                .instrument(tracing::info_span!("up: network"))
                .await?;
            let bridge = self.bridge(&name).await?;
            hostnet::isolate_bridge(&self.host, &bridge, &session.name, candidate)
                .instrument(tracing::info_span!("up: bridge isolated"))
                .await?;
        }
        let parking = parking_addresses(plan)?;
        // Only nodes that others wait for are waited for, and the candidate's
        // entry points: "ready" on the access sheet means they can log in.
        // A restored platform is graded as soon as it is up: every node is
        // waited for.
        let awaited: BTreeSet<String> = plan
            .nodes
            .iter()
            .flat_map(|n| n.depends_on.iter().cloned())
            .chain(plan.access.iter().map(|a| a.node.clone()))
            .collect();
        let mut outcomes = Vec::new();
        for level in dependency_levels(&plan.nodes) {
            let mut tasks = tokio::task::JoinSet::new();
            // Machines Plateau did not create (static inventory) are only graded.
            for node in level.into_iter().filter(|n| n.backend.created()) {
                let engine = self.clone();
                let (session, node, plan) = (session.clone(), node.clone(), plan.clone());
                let parked = parking.get(&node.id).cloned().unwrap_or_default();
                let wait = restore.is_some() || awaited.contains(&node.id);
                let repair = restore.map(|r| r.get(&node.id).cloned().unwrap_or_default());
                let span = tracing::info_span!("node", candidate = %plan.candidate.id, node = %node.id);
                tasks.spawn(
                    async move { engine.ensure_node(&session, &plan, &node, &parked, wait, repair).await }
                        .instrument(span),
                );
            }
            while let Some(result) = tasks.join_next().await {
                outcomes.push(result.map_err(|e| Error::Engine(e.to_string()))??);
            }
        }
        let relayed = plan.access.first().filter(|e| plan.node(&e.node).is_some_and(|n| n.backend.created()));
        let access = match relayed {
            Some(entry) => Some(
                self.ensure_access(session, plan, entry, host_port, restore.is_none())
                    .instrument(tracing::info_span!("up: access relay"))
                    .await?,
            ),
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

    pub(super) async fn ensure_network(
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
            Err(e) if e.to_string().contains("Pool overlaps") => Err(Error::SubnetTaken {
                name: name.to_string(),
                subnet: addressing.map(|(subnet, _)| subnet.to_string()).unwrap_or_default(),
            }),
            Err(e) => Err(Error::Network { name: name.to_string(), message: e.to_string() }),
        }
    }

    /// The Linux bridge behind a Docker network (`br-` and 12 digits of its id).
    pub(super) async fn bridge(&self, network: &str) -> Result<String, Error> {
        let inspect = self
            .docker
            .inspect_network(network, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
            .map_err(|e| Error::Network { name: network.to_string(), message: e.to_string() })?;
        let id = inspect.id.unwrap_or_default();
        Ok(format!("br-{}", &id[..id.len().min(12)]))
    }

    pub(super) async fn ensure_node(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        node: &PlannedNode,
        parked: &[Ipv4Addr],
        wait: bool,
        // Restoring a snapshot: what to copy back from which image before it starts.
        repair: Option<(String, Vec<String>)>,
    ) -> Result<NodeOutcome, Error> {
        let candidate = plan.candidate.id.as_str();
        let name = session.container_name(candidate, &node.id);
        // A container keeps its turn until it is ready, or until nobody
        // queues for one: a room boots `--concurrency` nodes at a time
        // instead of every node at once (16 full platforms started together
        // pushed the load past 120 and no DC was ready within its limit),
        // and a lone platform's `up` does not wait for nodes nobody needs.
        let slot = self.turns.starts.turn().instrument(tracing::info_span!("up: wait for a creation slot")).await;
        let mut put_back = Vec::new();
        let outcome = match self.docker.inspect_container(&name, None::<InspectContainerOptions>).await {
            Ok(existing) => {
                let labels = existing.config.and_then(|c| c.labels).unwrap_or_default();
                let running = existing.state.and_then(|s| s.running).unwrap_or(false);
                let key = labels.get(vm::LABEL_GRADER_KEY);
                if key.is_some() && key != session.grader_key.as_ref() {
                    // Its guest lets in another state's grader only.
                    return Err(Error::Node {
                        container: name,
                        message: format!(
                            "made by another state database (its guest holds another grader key): the grader could \
                             not log in; run `plateau down {}` and `up` again, or use the state that made it",
                            session.name
                        ),
                    });
                }
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
                self.create_node(session, plan, node, &name, parked, repair.is_some())
                    .instrument(tracing::info_span!("up: create"))
                    .await?;
                if let Some((image, paths)) = repair.as_ref().filter(|(_, paths)| !paths.is_empty()) {
                    put_back = self
                        .put_back(session, &name, image, paths)
                        .instrument(tracing::info_span!("up: put back"))
                        .await?;
                }
                self.start(&name).instrument(tracing::info_span!("up: start")).await?;
                Outcome::Created
            }
        };
        tracing::info!(container = %name, ?outcome, "node");
        if node.backend == Backend::Vm {
            // A guest boots for minutes under its own limit: it does not hold
            // a turn that long.
            drop(slot);
            // The guest sets its own addresses, routes and accounts (see
            // `vm::vm_env`); its host keys are pinned for the grader's SSH.
            self.wait_ready(&name, vm::VM_READY_LIMIT, || true).await?;
            let host_keys = self.guest_host_keys(&name).await?;
            let (put_back, found, unchecked) = match repair.is_some() && outcome == Outcome::Created {
                // Not compared: graded all the same, named unverified (and why).
                true => match self.guest_put_back(&name).await {
                    Ok(checked) => (checked.put_back, Some(checked.found), None),
                    Err(e) => {
                        tracing::warn!(container = %name, "{e}");
                        (put_back, None, Some(e.to_string()))
                    }
                },
                false => (put_back, None, None),
            };
            return Ok(NodeOutcome {
                node: node.id.clone(),
                container: name,
                outcome,
                host_keys,
                put_back,
                found,
                unchecked,
            });
        }
        // A node re-created with its state at the deadline brings back its
        // own routes; any other gets the plan's gateway.
        if matches!(outcome, Outcome::Created | Outcome::Started) && !self.carries_deadline(&node.image).await {
            self.route_via_plan_gateway(plan, node, &name).instrument(tracing::info_span!("up: route")).await?;
        }
        let booting = matches!(outcome, Outcome::Created | Outcome::Started);
        if wait {
            self.wait_ready(&name, NODE_READY_LIMIT, || true).instrument(tracing::info_span!("up: ready")).await?;
        } else if booting {
            // Nobody waits for it: it holds its turn while others queue for
            // one, and never fails the platform's `up` (`status` tells).
            let queued = || self.turns.starts.queued();
            let ready =
                self.wait_ready(&name, NODE_READY_LIMIT, queued).instrument(tracing::info_span!("up: turn")).await;
            if let Err(e) = ready {
                tracing::warn!(container = %name, "{e}");
            }
        }
        drop(slot);
        // The candidate's account: made at `up`. A restored node has it as it
        // stood at the deadline (and its lookup may go through a domain
        // whose DC is still starting).
        if let Some(entry) = plan.access.iter().find(|a| a.node == node.id).filter(|_| repair.is_none()) {
            let script = format!(
                "id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo {user}; echo '{user}:{password}' | chpasswd",
                user = entry.user,
                password = entry.password
            );
            let out = exec(&self.docker, &name, &["sh", "-c", &script], Duration::from_secs(30))
                .instrument(tracing::info_span!("up: candidate account"))
                .await?;
            if out.exit_code != 0 {
                return Err(Error::Node {
                    container: name,
                    message: format!("creating the candidate's account: {}", out.stderr),
                });
            }
        }
        let host_keys = match plan.access.iter().any(|a| a.node == node.id) {
            true => self.host_keys(&name).await?,
            false => Vec::new(),
        };
        Ok(NodeOutcome {
            node: node.id.clone(),
            container: name,
            outcome,
            host_keys,
            put_back,
            found: None,
            unchecked: None,
        })
    }

    /// The SSH host keys of a node the candidate logs into (made at its
    /// first start, its own), for whoever connects through the candidate's
    /// access on their behalf (`solve`) to pin.
    pub(super) async fn host_keys(&self, name: &str) -> Result<Vec<String>, Error> {
        let script = "cat /etc/ssh/ssh_host_*_key.pub";
        let out = exec(&self.docker, name, &["/bin/sh", "-c", script], Duration::from_secs(30)).await?;
        if out.exit_code != 0 {
            return Err(Error::Node { container: name.to_string(), message: format!("host keys: {}", out.stderr) });
        }
        Ok(out.stdout.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
    }

    pub(super) async fn create_node(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        node: &PlannedNode,
        name: &str,
        parked: &[Ipv4Addr],
        // Re-created from a snapshot: a VM's initrd puts back what the
        // candidate changed of the grader's programs (see `vm_env`).
        restoring: bool,
    ) -> Result<(), Error> {
        let candidate = plan.candidate.id.as_str();
        // Each interface gets a fixed address: its plan address, or a parking
        // address the node drops for a DHCP lease at start.
        let is_vm = node.backend == Backend::Vm;
        let mut parked = parked.iter();
        let mut endpoints = Vec::new();
        let mut dhcp_parked = Vec::new();
        let mut guest_nics = Vec::new();
        for (index, iface) in node.interfaces.iter().enumerate() {
            let address = iface.address.or_else(|| parked.next().copied());
            if iface.dhcp
                && let Some(a) = address
            {
                dhcp_parked.push(a.to_string());
            }
            if is_vm && let Some(a) = address {
                guest_nics.push(vm::guest_nic(session, plan, node, index, a));
            }
            let settings = EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: address.map(|a| a.to_string()),
                    ..Default::default()
                }),
                // A VM's container takes no name on the network: its guest is the node.
                aliases: (!is_vm).then(|| vec![node.id.clone(), node.hostname.clone()]),
                // The plan's MAC is the guest's; its container's is the engine's own.
                mac_address: if is_vm { None } else { iface.mac.clone() },
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
        let mut limits = node.limits();
        let mut env: Vec<String> = std::iter::once(format!("PLATEAU_DHCP_ADDRESSES={}", dhcp_parked.join(" ")))
            .chain(node.env.iter().map(|(k, v)| format!("{k}={v}")))
            .collect();
        let mut labels = session.labels(Some(candidate), Some(&node.id));
        let mut sysctls = sysctls;
        if is_vm {
            // The guest's kernel takes the role's settings and capabilities;
            // its container needs taps and bridges, and room for QEMU.
            let image = if node.image.contains(':') { node.image.clone() } else { format!("{}:latest", node.image) };
            let accel = self.vm_accel(&image).await;
            caps = vec!["NET_ADMIN".to_string()];
            devices = vm::vm_devices(&accel);
            // On the candidate's LAN only the guest speaks: no IPv6 from
            // the container's own interfaces, bridges and taps.
            sysctls = HashMap::from([
                ("net.ipv6.conf.all.disable_ipv6".to_string(), "1".to_string()),
                ("net.ipv6.conf.default.disable_ipv6".to_string(), "1".to_string()),
            ]);
            env = vm::vm_env(session, plan, node, &guest_nics, restoring);
            env.push(format!("PLATEAU_VM_ACCEL={accel}"));
            labels.insert(vm::LABEL_VM.to_string(), "true".to_string());
            if let Some(key) = &session.grader_key {
                labels.insert(vm::LABEL_GRADER_KEY.to_string(), key.clone());
            }
            limits.memory += vm::VM_OVERHEAD;
        }
        let mut endpoints = endpoints.into_iter();
        let first = endpoints.next();
        let host_config = HostConfig {
            init: Some(true),
            cap_add: Some(caps),
            devices: Some(devices),
            sysctls: Some(sysctls),
            network_mode: Some(first.as_ref().map_or("none".to_string(), |(n, _)| n.clone())),
            ..limited(&limits)
        };
        let body = ContainerCreateBody {
            // A plain name means its `latest` build; a snapshot names its tag.
            image: Some(if node.image.contains(':') { node.image.clone() } else { format!("{}:latest", node.image) }),
            hostname: Some(node.hostname.clone()),
            // Engines before API 1.44 take a MAC for the first network only, here.
            mac_address: if is_vm { None } else { node.interfaces.first().and_then(|i| i.mac.clone()) },
            labels: Some(labels),
            env: Some(env),
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

    pub(super) async fn start(&self, name: &str) -> Result<(), Error> {
        self.docker
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(|e| Error::Node { container: name.to_string(), message: format!("starting: {e}") })
    }

    /// Docker sends a node's traffic to the engine's address, which routes
    /// nowhere: a machine with a static address uses its network's gateway
    /// (the candidate's router), as a server of the company would.
    pub(super) async fn route_via_plan_gateway(
        &self,
        plan: &CandidatePlan,
        node: &PlannedNode,
        name: &str,
    ) -> Result<(), Error> {
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
        hostnet::set_default_route(&self.host, pid, gateway).await?;
        Ok(())
    }

    /// Whether an image is a snapshot that carries its node's state at the
    /// deadline (see `snapshot::LABEL_RUNTIME`).
    async fn carries_deadline(&self, image: &str) -> bool {
        let inspected = self.docker.inspect_image(image).await.ok();
        let labels = inspected.and_then(|i| i.config).and_then(|c| c.labels).unwrap_or_default();
        labels.contains_key(super::snapshot::LABEL_RUNTIME)
    }
}

pub(super) fn create_error(name: &str, image: &str, e: bollard::errors::Error) -> Error {
    let text = e.to_string();
    if text.contains("No such image") {
        let command = match image.strip_prefix("plateau/vm-") {
            Some(role) => format!("plateau images build --vm {}", role.split(':').next().unwrap_or(role)),
            None => "plateau images build".to_string(),
        };
        Error::MissingImage { image: image.to_string(), command }
    } else if text.contains("is already in use") {
        Error::Node {
            container: name.to_string(),
            message: "a container of that name exists but is not Plateau's; remove or rename it".into(),
        }
    } else {
        Error::Node { container: name.to_string(), message: text }
    }
}

/// How long a container node may take to mark itself ready.
const NODE_READY_LIMIT: Duration = Duration::from_secs(120);

/// Nodes grouped so that each group only depends on earlier groups.
pub(super) fn dependency_levels(nodes: &[PlannedNode]) -> Vec<Vec<&PlannedNode>> {
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

/// What a node may take from the host: memory (and swap), processes, CPU
/// (a ceiling, and a low weight under contention), and a rotated console log
/// (a candidate's `yes > /proc/1/fd/1` ends there).
pub(super) fn limited(limits: &NodeLimits) -> HostConfig {
    HostConfig {
        memory: Some(limits.memory as i64),
        memory_swap: Some((limits.memory + limits.swap) as i64),
        pids_limit: Some(i64::from(limits.pids)),
        nano_cpus: Some(i64::from(limits.cpu_millis) * 1_000_000),
        // Under contention a node weighs a quarter of the host's own
        // processes (the engine, the controller, sshd): two nodes spinning
        // at their CPU limit cannot starve the supervisor.
        cpu_shares: Some(256),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), limits.log_size.to_string()),
                ("max-file".to_string(), limits.log_files.to_string()),
            ])),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(scenario: &str) -> Vec<Vec<String>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios").join(scenario);
        let text = std::fs::read_to_string(path).unwrap();
        let scenario = plateau_scenario::Scenario::parse(scenario, &text).unwrap();
        let plan = scenario.plan("seed", &plateau_scenario::Candidate::numbered(1)).unwrap().remove(0);
        dependency_levels(&plan.nodes).into_iter().map(|l| l.into_iter().map(|n| n.id.clone()).collect()).collect()
    }

    #[test]
    fn nodes_start_after_what_they_depend_on() {
        // ws depends on dhcp and router; the others start together first.
        assert_eq!(levels("tai-small.toml"), [vec!["router", "dhcp", "internet"], vec!["ws"]]);
    }

    #[test]
    fn every_node_of_the_full_platform_starts_once_after_its_dependencies() {
        let levels = levels("tai-2023-full.toml");
        let mut seen: Vec<String> = Vec::new();
        for level in &levels {
            for node in level {
                assert!(!seen.contains(node), "{node} starts twice: {levels:?}");
            }
            seen.extend(level.iter().cloned());
        }
        assert_eq!(seen.len(), 11, "{levels:?}");
    }
}
