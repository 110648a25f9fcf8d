//! What exists, by labels: status of a session's nodes, and `down`.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptions, ListContainersOptions, ListContainersOptionsBuilder,
    ListNetworksOptions, RemoveContainerOptions, StartContainerOptions,
};

use futures_util::StreamExt;
use plateau_scenario::TakenSubnet;

use crate::{Error, Hold, hostnet};

use super::*;

impl DockerEngine {
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

    /// What each node of a session has written to its own disk (its
    /// writable layer), as the engine measures it.
    pub async fn disk_usage(&self, session: &str) -> Result<Vec<NodeDisk>, Error> {
        let options = ListContainersOptions {
            all: true,
            size: true,
            filters: Some(HashMap::from([("label".to_string(), vec![format!("{LABEL_SESSION}={session}")])])),
            ..Default::default()
        };
        let containers = self.docker.list_containers(Some(options)).await.map_err(|e| Error::Engine(e.to_string()))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                Some(NodeDisk {
                    candidate: labels.get(LABEL_CANDIDATE)?.clone(),
                    node: labels.get(LABEL_NODE)?.clone(),
                    bytes: c.size_rw.unwrap_or(0).max(0) as u64,
                })
            })
            .collect())
    }

    /// Free space where the engine keeps containers and images, read on
    /// its host.
    pub async fn free_disk(&self) -> Result<Option<u64>, Error> {
        let info = self.docker.info().await.map_err(|e| Error::Engine(e.to_string()))?;
        let Some(root) = info.docker_root_dir else { return Ok(None) };
        match &self.host {
            hostnet::HostSide::Local => Ok(free_space(std::path::Path::new(&root))),
            helper => hostnet::free_space(helper, &root).await,
        }
    }

    /// The memory the engine's host has, as the engine reports it.
    pub async fn memory_total(&self) -> Result<Option<u64>, Error> {
        let info = self.docker.info().await.map_err(|e| Error::Engine(e.to_string()))?;
        Ok(info.mem_total.and_then(|m| u64::try_from(m).ok()))
    }

    /// Stop one node where it stands: paused, or killed when the kernel's
    /// freezer cannot freeze it (on cgroup v1 a fork bomb or a process
    /// waiting on fuse-overlayfs keeps it FREEZING), since a node that must
    /// stop (over its disk budget, at the deadline) cannot be left running.
    pub async fn hold(&self, session: &Session, candidate: &str, node: &str) -> Result<Hold, Error> {
        self.hold_container(&session.container_name(candidate, node)).await
    }

    pub(crate) async fn hold_container(&self, name: &str) -> Result<Hold, Error> {
        // A refusal that came quickly (the engine busy) is worth asking
        // again; the freezer's own failure comes after seconds of retries
        // of its own (runc's), and asking again only delays the deadline.
        const PAUSE_RETRY_WITHIN: Duration = Duration::from_secs(1);
        // A VM's QEMU flushes the guest's disk as it stops its CPUs: the
        // commit that follows reads a consistent disk. Its container is
        // paused all the same (QEMU, not the guest, is what could run on).
        if self.is_vm(name).await
            && let Err(e) = self.qmp(name, &[QmpCommand::Stop]).await
        {
            tracing::warn!(container = %name, "the guest was not stopped through QMP: {e}");
        }
        let started = std::time::Instant::now();
        let refusal = loop {
            match self.docker.pause_container(name).await {
                Ok(()) => return Ok(Hold::Paused),
                Err(e) if started.elapsed() >= PAUSE_RETRY_WITHIN => break e.to_string(),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let kill = KillContainerOptions { signal: "SIGKILL".into() };
        match self.docker.kill_container(name, Some(kill)).await {
            Ok(()) => Ok(Hold::Killed),
            Err(e) => Err(Error::Node {
                container: name.to_string(),
                message: format!("neither paused ({refusal}) nor killed ({e})"),
            }),
        }
    }

    /// Let a held node run again: resumed if paused, started if stopped.
    pub async fn release(&self, session: &Session, candidate: &str, node: &str) -> Result<(), Error> {
        let name = session.container_name(candidate, node);
        let fail = |e: bollard::errors::Error| Error::Node { container: name.clone(), message: e.to_string() };
        let state = self.docker.inspect_container(&name, None::<InspectContainerOptions>).await.map_err(fail)?;
        let state = state.state.unwrap_or_default();
        if state.paused.unwrap_or(false) {
            self.docker.unpause_container(&name).await.map_err(fail)?;
            if self.is_vm(&name).await {
                self.qmp(&name, &[QmpCommand::Cont]).await?;
            }
            Ok(())
        } else if !state.running.unwrap_or(false) {
            self.docker.start_container(&name, None::<StartContainerOptions>).await.map_err(fail)
        } else {
            Ok(())
        }
    }

    /// Remove every container and network labelled with the session (and
    /// candidate); nothing else is touched.
    pub async fn down(&self, session: &str, candidate: Option<&str>) -> Result<Removed, Error> {
        let mut removed =
            Removed { rules: hostnet::remove_rules(&self.host, session, candidate).await?, ..Default::default() };
        removed.containers = self.remove_containers(session, candidate).await?;
        let mut filters = vec![format!("{LABEL_SESSION}={session}")];
        if let Some(c) = candidate {
            filters.push(format!("{LABEL_CANDIDATE}={c}"));
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions { filters: Some(HashMap::from([("label".to_string(), filters)])) }))
            .await
            .map_err(|e| Error::Engine(e.to_string()))?;
        for name in networks.into_iter().filter_map(|n| n.name) {
            // A network's last endpoints may still be going with its containers.
            let mut outcome = self.remove_network(&name).await;
            for _ in 0..NETWORK_TRIES {
                if outcome.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                outcome = self.remove_network(&name).await;
            }
            match outcome {
                Ok(()) => removed.networks += 1,
                Err(e) => removed.networks_left.push(format!("{name}: {e}")),
            }
        }
        // The helper serves every session on the engine: it goes with the last.
        if matches!(self.host, hostnet::HostSide::Helper { .. }) && candidate.is_none() {
            let sessions = HashMap::from([("label".to_string(), vec![LABEL_SESSION.to_string()])]);
            let left = self
                .docker
                .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&sessions).build()))
                .await
                .map_err(|e| Error::Engine(e.to_string()))?;
            if left.is_empty() {
                hostnet::remove_helper(&self.docker).await;
            }
        }
        Ok(removed)
    }
}

/// Containers removed at once: a room's 190 removals sent together kept the
/// engine busy past its API's limits, and some were left behind.
const REMOVALS_AT_ONCE: usize = 8;

/// How many times more `down` asks for a network the engine would not remove.
const NETWORK_TRIES: usize = 10;

/// How long `down` waits for containers the engine is still removing.
const REMOVAL_LIMIT: Duration = Duration::from_secs(120);

impl DockerEngine {
    /// Remove a network; one already gone (another `down`) is removed.
    async fn remove_network(&self, name: &str) -> Result<(), bollard::errors::Error> {
        match self.docker.remove_network(name).await {
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            other => other,
        }
    }

    /// Remove the session's (or candidate's) containers, a few at a time,
    /// until none is left; what is still there after [`REMOVAL_LIMIT`] is
    /// an error naming it (`down` again converges).
    async fn remove_containers(&self, session: &str, candidate: Option<&str>) -> Result<usize, Error> {
        let started = std::time::Instant::now();
        let mut at_first = None;
        loop {
            let left = self.status(session, candidate).await?;
            let found = *at_first.get_or_insert(left.len());
            if left.is_empty() {
                return Ok(found);
            }
            if started.elapsed() > REMOVAL_LIMIT {
                let names: Vec<String> = left.iter().map(|c| format!("{} ({})", c.container, c.state)).collect();
                return Err(Error::Engine(format!(
                    "{} container(s) still on the engine after {} s: {}; run `plateau down` again",
                    left.len(),
                    REMOVAL_LIMIT.as_secs(),
                    names.join(", ")
                )));
            }
            // One the engine is removing already is waited for, not asked again.
            let (being_removed, to_ask): (Vec<_>, Vec<_>) = left.into_iter().partition(|c| c.state == "removing");
            let asked = to_ask.into_iter().map(|c| async move {
                let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
                self.docker.remove_container(&c.container, Some(options)).await.is_ok()
            });
            let done: Vec<bool> = futures_util::stream::iter(asked).buffer_unordered(REMOVALS_AT_ONCE).collect().await;
            if done.contains(&false) || !being_removed.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

impl DockerEngine {
    /// The IPv4 subnets of every network on the engine but `session`'s own:
    /// another session's, Docker's own bridges, anyone's. A session's draw
    /// keeps clear of them (the engine refuses a network that overlaps one).
    pub async fn subnets_held(&self, session: &str) -> Result<Vec<TakenSubnet>, Error> {
        let networks =
            self.docker.list_networks(None::<ListNetworksOptions>).await.map_err(|e| Error::Engine(e.to_string()))?;
        let mut held = Vec::new();
        for n in networks {
            let labels = n.labels.unwrap_or_default();
            let holder = match labels.get(LABEL_SESSION) {
                Some(s) if s == session => continue,
                Some(s) => format!("network `{}` of session `{s}`", n.name.unwrap_or_default()),
                None => format!("Docker network `{}`", n.name.unwrap_or_default()),
            };
            let subnets = n.ipam.and_then(|i| i.config).unwrap_or_default().into_iter().filter_map(|c| c.subnet);
            for subnet in subnets.filter_map(|s| s.parse::<ipnet::Ipv4Net>().ok()) {
                held.push(TakenSubnet { subnet, holder: holder.clone() });
            }
        }
        Ok(held)
    }
}

/// Bytes available to an unprivileged writer on the filesystem holding `path`.
pub(crate) fn free_space(path: &std::path::Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail * stat.f_frsize)
}
