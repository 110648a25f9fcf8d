//! The candidate's way in: a relay container per candidate on a private
//! link, opened, and closed at a deadline.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkConnectRequest, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, KillContainerOptions, StartContainerOptions,
};
use ipnet::Ipv4Net;
use plateau_scenario::CandidatePlan;

use crate::{Error, hostnet};

use super::*;

/// The relay's own limits (it runs one `socat` per open connection).
const RELAY_LIMITS: plateau_scenario::limits::NodeLimits = plateau_scenario::limits::NodeLimits {
    memory: 64 << 20,
    swap: 0,
    pids: 128,
    cpu_millis: 250,
    log_size: 1 << 20,
    log_files: 1,
    disk: 64 << 20,
};

impl DockerEngine {
    /// The relay that carries the candidate's SSH: on the session's access
    /// network (published port) and on a private link to the candidate's node.
    pub(super) async fn ensure_access(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        entry: &plateau_scenario::PlannedAccess,
        host_port: u16,
        // Wait until the candidate can log in (not for a platform restored
        // for grading: its access stays closed, and its sshd may have been
        // stopped at the deadline).
        await_login: bool,
    ) -> Result<Access, Error> {
        let candidate = plan.candidate.id.as_str();
        let access_net = session.access_network();
        {
            let _one_at_a_time = self.shared_networks.lock().await;
            self.ensure_network(&access_net, session.labels(None, None), None, false).await?;
        }
        let link_net = session.network_name(candidate, "access-link");
        let link = self.ensure_access_link(&link_net, session.labels(Some(candidate), None)).await?;
        hostnet::isolate_bridge(&self.host, &self.bridge(&link_net).await?, &session.name, candidate).await?;
        let relay_addr = Ipv4Addr::from(u32::from(link.network()) + 1);
        let node_addr = Ipv4Addr::from(u32::from(link.network()) + 2);
        let target = session.container_name(candidate, &entry.node);
        let node = self.docker.inspect_container(&target, None::<InspectContainerOptions>).await.ok();
        if !self.joined(&target, &link_net).await {
            // Docker routes by default through the engine's address on the
            // network joined last, and refuses to join when the node has a
            // default route of its own (a DHCP lease, a static gateway). The
            // access link is for management only: the node's own default
            // route is set aside, then put back — from the host, so neither
            // the node's capabilities nor its candidate's `ip` matter.
            let gateway = Ipv4Addr::from(u32::from(link.network()) + 6);
            let pid = node
                .and_then(|c| c.state?.pid)
                .ok_or_else(|| Error::Node { container: target.clone(), message: "not running".into() })?;
            let mut own = String::new();
            // A DHCP client on the node may set its route again between the
            // two steps (a restored platform's client gets its lease just
            // then): Docker then refuses the join ("file exists"); again.
            let mut tries = 0;
            loop {
                let now = hostnet::ip_route(&self.host, pid, &["show", "default"]).await?;
                if !now.trim().is_empty() {
                    if own.trim().is_empty() {
                        own = now;
                    }
                    let _ = hostnet::ip_route(&self.host, pid, &["del", "default"]).await;
                }
                match self.join(&target, &link_net, node_addr).await {
                    Err(Error::Node { message, .. }) if message.contains("file exists") && tries < 5 => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        if self.joined(&target, &link_net).await {
                            break;
                        }
                    }
                    joined => break joined?,
                }
            }
            let _ = hostnet::ip_route(&self.host, pid, &["del", "default", "via", &gateway.to_string()]).await;
            if let Some(route) = own.lines().next().filter(|r| !r.is_empty()) {
                let words: Vec<&str> = std::iter::once("replace").chain(route.split_whitespace()).collect();
                hostnet::ip_route(&self.host, pid, &words).await?;
            }
        }
        let name = session.container_name(candidate, ACCESS_NODE);
        let existing = self.docker.inspect_container(&name, None::<InspectContainerOptions>).await.ok();
        // A relay that exists and does not run is an access the clock
        // closed (or an engine restart stopped): `up` leaves it so, and
        // has no login to wait for.
        let closed = existing.as_ref().is_some_and(|c| !c.state.as_ref().and_then(|s| s.running).unwrap_or(false));
        if existing.is_none() {
            // An existing relay keeps its binding: its port is the one on the sheet.
            let host_ip = if session.relays_on_loopback { "127.0.0.1" } else { "0.0.0.0" };
            let host_config = HostConfig {
                init: Some(true),
                network_mode: Some(access_net.clone()),
                port_bindings: Some(HashMap::from([(
                    RELAY_PORT.to_string(),
                    Some(vec![PortBinding { host_ip: Some(host_ip.into()), host_port: Some(host_port.to_string()) }]),
                )])),
                // A relay is one socat per connection: small and bounded.
                ..limited(&RELAY_LIMITS)
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
        if await_login && !closed {
            wait_for_sshd(&name, &self.published_on, host_port).await?;
        }
        Ok(Access { node: entry.node.clone(), host_port, user: entry.user.clone(), password: entry.password.clone() })
    }

    /// Whether the container is on the network.
    async fn joined(&self, container: &str, network: &str) -> bool {
        let node = self.docker.inspect_container(container, None::<InspectContainerOptions>).await.ok();
        node.and_then(|c| c.network_settings?.networks).is_some_and(|n| n.contains_key(network))
    }

    /// Attach a container to a network at a fixed address.
    pub(super) async fn join(&self, container: &str, network: &str, address: Ipv4Addr) -> Result<(), Error> {
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
    pub(super) async fn ensure_access_link(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<Ipv4Net, Error> {
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
                Err(Error::SubnetTaken { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Network { name: name.to_string(), message: format!("no free /29 left in {ACCESS_LINKS}") })
    }

    /// Open (start the relay) or close (kill it: no grace period, the cut
    /// is immediate and every connection through it ends) a candidate's access.
    /// Whether the candidate's relay runs (their access is open).
    pub async fn access_open(&self, session: &Session, candidate: &str) -> Result<bool, Error> {
        let name = session.container_name(candidate, ACCESS_NODE);
        match self.docker.inspect_container(&name, None::<InspectContainerOptions>).await {
            Ok(inspect) => Ok(inspect.state.and_then(|s| s.running).unwrap_or(false)),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(Error::Node { container: name, message: e.to_string() }),
        }
    }

    pub async fn set_access(&self, session: &Session, candidate: &str, open: bool) -> Result<(), Error> {
        let name = session.container_name(candidate, ACCESS_NODE);
        let result = if open {
            self.docker.start_container(&name, None::<StartContainerOptions>).await
        } else {
            let kill = KillContainerOptions { signal: "SIGKILL".into() };
            self.docker.kill_container(&name, Some(kill)).await
        };
        match result {
            Ok(()) => {}
            // 304: started already; 409: not running, closed already.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) if open => {}
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) if !open => {}
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
                wait_for_sshd(&name, &self.published_on, port).await?;
            }
        }
        Ok(())
    }
}

const SSHD_WAIT_SECS: u64 = 90;

/// Wait until the candidate's published port answers with an SSH banner
/// (the relay is listening and the node's sshd answers through it).
pub(super) async fn wait_for_sshd(relay: &str, host: &str, host_port: u16) -> Result<(), Error> {
    use tokio::io::AsyncReadExt;
    // Generous: an engine busy starting a room's platforms (or on a slow
    // storage driver) takes its time; an answer ends the wait at once.
    let deadline = Instant::now() + Duration::from_secs(SSHD_WAIT_SECS);
    loop {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect((host, host_port)).await.ok()?;
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
                message: format!("port {host_port} of {host} gives no SSH banner after {SSHD_WAIT_SECS} s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
