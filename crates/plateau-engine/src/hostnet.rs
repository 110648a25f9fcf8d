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

use tokio::process::Command;

use crate::Error;

const CHAIN: &str = "DOCKER-USER";
const ISOLATION_CHAIN: &str = "DOCKER-ISOLATION-STAGE-1";
const HOST_CHAIN: &str = "INPUT";

fn tag(session: &str, candidate: &str) -> String {
    format!("plateau:{session}:{candidate}")
}

async fn iptables(args: &[&str]) -> Result<std::process::Output, Error> {
    Command::new("iptables")
        .args(args)
        .output()
        .await
        .map_err(|e| Error::Host(format!("cannot run iptables ({e}); Plateau needs it, as root, on the engine's host")))
}

/// Let traffic that enters and leaves `bridge` pass, and keep it from opening
/// connections to the host (idempotent).
pub async fn isolate_bridge(bridge: &str, session: &str, candidate: &str) -> Result<(), Error> {
    let tag = tag(session, candidate);
    let within = ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", &tag, "-j", "ACCEPT"];
    ensure_rule(CHAIN, &within).await?;
    // Docker's own chain: absent when Docker does not manage iptables, and
    // then nothing of Docker's drops the bridge's traffic either.
    if iptables(&["-S", ISOLATION_CHAIN]).await?.status.success() {
        ensure_rule(ISOLATION_CHAIN, &within).await?;
    }
    let to_host =
        ["-i", bridge, "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", &tag, "-j", "DROP"];
    ensure_rule(HOST_CHAIN, &to_host).await?;
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
    ensure_rule(HOST_CHAIN, &offers).await
}

async fn ensure_rule(chain: &str, rule: &[&str]) -> Result<(), Error> {
    if iptables(&[&["-C", chain][..], rule].concat()).await?.status.success() {
        return Ok(());
    }
    let out = iptables(&[&["-I", chain][..], rule].concat()).await?;
    if !out.status.success() {
        return Err(Error::Host(format!("iptables -I {chain}: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

/// Remove the rules of a session (or of one candidate); returns how many.
pub async fn remove_rules(session: &str, candidate: Option<&str>) -> Result<usize, Error> {
    // `iptables -S` prints comments in quotes.
    let needle = match candidate {
        Some(c) => format!("--comment \"{}\"", tag(session, c)),
        None => format!("--comment \"plateau:{session}:"),
    };
    let mut removed = 0;
    for chain in [CHAIN, ISOLATION_CHAIN, HOST_CHAIN] {
        let listing = iptables(&["-S", chain]).await?;
        if !listing.status.success() {
            // No such chain (none of Docker's without Docker): nothing of ours there.
            continue;
        }
        for line in String::from_utf8_lossy(&listing.stdout).lines().filter(|l| l.contains(&needle)) {
            if let Some(spec) = line.strip_prefix(&format!("-A {chain} ")) {
                let args: Vec<String> =
                    ["-D".to_string(), chain.to_string()].into_iter().chain(shell_words(spec)).collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                if iptables(&args).await?.status.success() {
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
pub async fn set_default_route(pid: i64, gateway: std::net::Ipv4Addr) -> Result<(), Error> {
    ip_route(pid, &["replace", "default", "via", &gateway.to_string()]).await.map(|_| ())
}

/// `ip -4 route ARGS` in a container's network namespace, from the host:
/// whatever the node's capabilities, and whatever its candidate did to its
/// own `ip`. Returns what it printed.
pub async fn ip_route(pid: i64, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "ip", "-4", "route"])
        .args(args)
        .output()
        .await
        .map_err(|e| {
            Error::Host(format!("cannot run nsenter ({e}); Plateau needs it, as root, on the engine's host"))
        })?;
    if !out.status.success() {
        return Err(Error::Host(format!(
            "ip route {} in process {pid}'s network: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_listings_split_into_arguments() {
        let words = super::shell_words("-i br-1 -o br-1 -m comment --comment \"plateau:s:c01\" -j ACCEPT");
        assert_eq!(words, ["-i", "br-1", "-o", "br-1", "-m", "comment", "--comment", "plateau:s:c01", "-j", "ACCEPT"]);
    }
}
