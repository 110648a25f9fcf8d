//! Host firewall rules Plateau owns.
//!
//! Docker filters traffic on internal bridges to the network's own subnet,
//! which drops what a real LAN carries: DHCP (0.0.0.0 → 255.255.255.255),
//! multicast (mDNS), hosts a candidate misconfigured. Each candidate network
//! gets one rule in Docker's `DOCKER-USER` hook accepting traffic that stays
//! on its own bridge, tagged `plateau:<session>:<candidate>` so that `down`
//! removes exactly its own rules. Nothing crosses bridges.
//!
//! The same rule also heads Docker's `DOCKER-ISOLATION-STAGE-1`: each time
//! *any* network is created (another session's `up`, a test), Docker 20.10
//! deletes and re-inserts its jumps at the top of `FORWARD`
//! (`EnsureJumpRule`: `-D`, then `-I`), and for that instant `DOCKER-USER`
//! is not jumped to while the isolation chain is, whose internal-network
//! rule drops everything addressed off the bridge's subnet: a DNS query from
//! a candidate's workstation to the platform's internet, lost, made a
//! passing check fail (CI, faults.rs). One of the two chains is always
//! jumped to, so the rule in both keeps a candidate's LAN whole.
//!
//! The engine's own address on each bridge would let candidates open
//! connections to the host's services; an `INPUT` rule drops new connections
//! from the bridge (replies to the controller's own probes still pass, and so
//! do DHCP offers, which answer the controller's broadcast DISCOVER probe by
//! broadcast and so never match it in conntrack).
//!
//! All of it runs on the engine's host ([`HostSide`]): this host's own
//! commands for the local engine, and for a remote engine of the site file (TLS) a
//! helper container Plateau keeps there (host network, host PIDs). The
//! helper also carries the controller's own program ([`AGENT`]), which sends
//! the grader's in-network probes from there: another host's candidate
//! networks are reachable only from that host.

use std::sync::Arc;

use bollard::Docker;
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::Error;

/// Where an engine's host-side commands run.
#[derive(Clone)]
pub enum HostSide {
    /// This host: the engine Docker's own tools find.
    Local,
    /// The helper container on the engine's host, started on first use.
    Helper { docker: Docker, started: Arc<OnceCell<()>> },
}

/// The helper's container and image on a remote engine of the site file.
pub const HELPER: &str = "plateau-helper";
pub const HELPER_IMAGE: &str = "plateau/helper:latest";
/// Label of the helper container (no session: it serves every one); its
/// value is the helper's make and its agent's, so one made otherwise, or
/// carrying another build of the program, is made again.
pub const LABEL_HELPER: &str = "org.plateau.helper";
const HELPER_MAKE: &str = "3";
/// Where the helper holds the controller's program.
pub const AGENT: &str = "/usr/local/bin/plateau";

/// What a host-side command printed and how it ended.
pub struct HostOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl HostSide {
    pub fn helper(docker: Docker) -> HostSide {
        HostSide::Helper { docker, started: Arc::new(OnceCell::new()) }
    }

    /// Run `program args` on the engine's host, as root.
    async fn run(&self, program: &str, args: &[&str]) -> Result<HostOutput, Error> {
        self.run_within(program, args, std::time::Duration::from_secs(30)).await
    }

    /// Run the controller's program in the helper (`plateau <args>`), within
    /// `limit`. This host's engine has no helper: what the agent would do
    /// is done here.
    pub async fn agent(&self, args: &[&str], limit: std::time::Duration) -> Result<HostOutput, Error> {
        match self {
            HostSide::Local => Err(Error::Host("this host's engine has no agent: its work is done here".into())),
            HostSide::Helper { .. } => self.run_within(AGENT, args, limit).await,
        }
    }

    async fn run_within(&self, program: &str, args: &[&str], limit: std::time::Duration) -> Result<HostOutput, Error> {
        match self {
            HostSide::Local => {
                let out = Command::new(program).args(args).output().await.map_err(|e| {
                    Error::Host(format!("cannot run {program} ({e}); Plateau needs it, as root, on the engine's host"))
                })?;
                Ok(HostOutput {
                    success: out.status.success(),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                })
            }
            HostSide::Helper { docker, started } => {
                started.get_or_try_init(|| start_helper(docker)).await?;
                let cmd: Vec<&str> = std::iter::once(program).chain(args.iter().copied()).collect();
                let out = crate::exec::exec(docker, HELPER, &cmd, limit).await?;
                Ok(HostOutput { success: out.exit_code == 0, stdout: out.stdout, stderr: out.stderr })
            }
        }
    }
}

/// The controller's own program, and what tells one build of it from
/// another (size and time of the file).
fn agent_program() -> Result<(std::path::PathBuf, String), Error> {
    let fail = |e: std::io::Error| Error::Host(format!("the helper's agent (this program): {e}"));
    let path = std::env::current_exe().map_err(fail)?;
    let meta = std::fs::metadata(&path).map_err(fail)?;
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    Ok((path, format!("{}-{}", meta.len(), modified.map_or(0, |d| d.as_nanos()))))
}

/// Start (or find running) the helper: the engine host's network and PIDs,
/// the capabilities to set firewall rules and enter nodes' namespaces, the
/// controller's program copied in, no session label (`down` of one session
/// leaves it to the others; see `remove_helper`).
async fn start_helper(docker: &Docker) -> Result<(), Error> {
    use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
    use bollard::query_parameters::{CreateContainerOptionsBuilder, StartContainerOptions};
    let fail = |e: bollard::errors::Error| Error::Host(format!("helper container {HELPER}: {e}"));
    let (agent, build) = agent_program()?;
    let make = format!("{HELPER_MAKE}:{build}");
    let found = docker.inspect_container(HELPER, None::<bollard::query_parameters::InspectContainerOptions>).await.ok();
    if let Some(found) = found {
        let made = found.config.and_then(|c| c.labels).and_then(|l| l.get(LABEL_HELPER).cloned());
        if made.as_deref() != Some(make.as_str()) {
            remove_helper(docker).await;
        } else if found.state.and_then(|s| s.running).unwrap_or(false) {
            return Ok(());
        }
    }
    if docker.inspect_image(HELPER_IMAGE).await.is_err() {
        return Err(Error::MissingImage {
            image: HELPER_IMAGE.into(),
            command: "plateau images build helper, then load it on this engine".into(),
        });
    }
    let labels = std::collections::HashMap::from([
        (crate::LABEL_OWNER.to_string(), "plateau".to_string()),
        (LABEL_HELPER.to_string(), make),
    ]);
    let body = ContainerCreateBody {
        image: Some(HELPER_IMAGE.into()),
        // Not the base image's init: the helper runs nothing of its own.
        entrypoint: Some(vec!["sleep".into(), "infinity".into()]),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            pid_mode: Some("host".into()),
            // What it does, and no more: firewall rules, entering nodes'
            // network namespaces and the host's mounts (`privileged` is
            // refused where the engine itself runs with a reduced set).
            cap_add: Some(["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "SYS_CHROOT"].map(String::from).to_vec()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    match docker.create_container(Some(CreateContainerOptionsBuilder::new().name(HELPER).build()), body).await {
        Ok(_) => {
            let program = tokio::fs::read(&agent)
                .await
                .map_err(|e| Error::Host(format!("the helper's agent {}: {e}", agent.display())))?;
            crate::exec::upload(docker, HELPER, AGENT, &program, 0o755).await?;
        }
        // Made meanwhile, or made before and stopped: started below.
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {}
        Err(e) => return Err(fail(e)),
    }
    match docker.start_container(HELPER, None::<StartContainerOptions>).await {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

const CHAIN: &str = "DOCKER-USER";
const ISOLATION_CHAIN: &str = "DOCKER-ISOLATION-STAGE-1";
const HOST_CHAIN: &str = "INPUT";

fn tag(session: &str, candidate: &str) -> String {
    format!("plateau:{session}:{candidate}")
}

/// Bytes available on the filesystem holding `path` on the engine's host
/// (the helper reads it in the host's own mounts, through its init).
pub async fn free_space(host: &HostSide, path: &str) -> Result<Option<u64>, Error> {
    let out = host.run("nsenter", &["-t", "1", "-m", "--", "df", "-P", "-B1", path]).await?;
    // `Filesystem 1-blocks Used Available Capacity Mounted-on`, then one line.
    Ok(out.stdout.lines().nth(1).and_then(|l| l.split_whitespace().nth(3)).and_then(|a| a.parse().ok()))
}

/// Remove the helper of an engine no session uses any more; whether it was there.
pub async fn remove_helper(docker: &Docker) -> bool {
    let options = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
    docker.remove_container(HELPER, Some(options)).await.is_ok()
}

async fn iptables(host: &HostSide, args: &[&str]) -> Result<HostOutput, Error> {
    host.run("iptables", args).await
}

/// Let traffic that enters and leaves `bridge` pass, and keep it from opening
/// connections to the host (idempotent).
pub async fn isolate_bridge(host: &HostSide, bridge: &str, session: &str, candidate: &str) -> Result<(), Error> {
    let tag = tag(session, candidate);
    let within = ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", &tag, "-j", "ACCEPT"];
    ensure_rule(host, CHAIN, &within).await?;
    // Docker's own chain: absent when Docker does not manage iptables, and
    // then nothing of Docker's drops the bridge's traffic either.
    if iptables(host, &["-S", ISOLATION_CHAIN]).await?.success {
        ensure_rule(host, ISOLATION_CHAIN, &within).await?;
    }
    let to_host =
        ["-i", bridge, "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", &tag, "-j", "DROP"];
    ensure_rule(host, HOST_CHAIN, &to_host).await?;
    // Inserted after the drop, so it sits above it.
    let offers = [
        "-i",
        bridge,
        "-p",
        "udp",
        "--sport",
        "67",
        "--dport",
        "68",
        "-m",
        "comment",
        "--comment",
        &tag,
        "-j",
        "ACCEPT",
    ];
    ensure_rule(host, HOST_CHAIN, &offers).await
}

async fn ensure_rule(host: &HostSide, chain: &str, rule: &[&str]) -> Result<(), Error> {
    if iptables(host, &[&["-C", chain][..], rule].concat()).await?.success {
        return Ok(());
    }
    let out = iptables(host, &[&["-I", chain][..], rule].concat()).await?;
    if !out.success {
        return Err(Error::Host(format!("iptables -I {chain}: {}", out.stderr.trim())));
    }
    Ok(())
}

/// Remove the rules of a session (or of one candidate); returns how many.
pub async fn remove_rules(host: &HostSide, session: &str, candidate: Option<&str>) -> Result<usize, Error> {
    // `iptables -S` prints comments in quotes.
    let needle = match candidate {
        Some(c) => format!("--comment \"{}\"", tag(session, c)),
        None => format!("--comment \"plateau:{session}:"),
    };
    let mut removed = 0;
    for chain in [CHAIN, ISOLATION_CHAIN, HOST_CHAIN] {
        let listing = iptables(host, &["-S", chain]).await?;
        if !listing.success {
            // No such chain (none of Docker's without Docker): nothing of ours there.
            continue;
        }
        for line in listing.stdout.lines().filter(|l| l.contains(&needle)) {
            if let Some(spec) = line.strip_prefix(&format!("-A {chain} ")) {
                let args: Vec<String> =
                    ["-D".to_string(), chain.to_string()].into_iter().chain(shell_words(spec)).collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                if iptables(host, &args).await?.success {
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// Split an `iptables -S` rule into arguments (quotes only surround comments).
fn shell_words(spec: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in spec.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Set the default route inside a running container's network namespace
/// (`pid` is its init process). The engine's own exec cannot: a node without
/// NET_ADMIN may not change its routes, and privileged execs may be refused.
pub async fn set_default_route(host: &HostSide, pid: i64, gateway: std::net::Ipv4Addr) -> Result<(), Error> {
    ip_route(host, pid, &["replace", "default", "via", &gateway.to_string()]).await.map(|_| ())
}

/// `ip -4 route ARGS` in a container's network namespace, from the host:
/// whatever the node's capabilities, and whatever its candidate did to its
/// own `ip`. Returns what it printed.
pub async fn ip_route(host: &HostSide, pid: i64, args: &[&str]) -> Result<String, Error> {
    let pid = pid.to_string();
    let words: Vec<&str> = ["-t", &pid, "-n", "ip", "-4", "route"].into_iter().chain(args.iter().copied()).collect();
    let out = host.run("nsenter", &words).await?;
    if !out.success {
        return Err(Error::Host(format!(
            "ip route {} in process {pid}'s network: {}",
            args.join(" "),
            out.stderr.trim()
        )));
    }
    Ok(out.stdout.trim().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_listings_split_into_arguments() {
        let words = super::shell_words("-i br-1 -o br-1 -m comment --comment \"plateau:s:c01\" -j ACCEPT");
        assert_eq!(words, ["-i", "br-1", "-o", "br-1", "-m", "comment", "--comment", "plateau:s:c01", "-j", "ACCEPT"]);
    }
}
