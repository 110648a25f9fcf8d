//! VPN: a WireGuard handshake and what answers through the tunnel.

use plateau_scenario::checks::vpn::VpnTunnel;

use super::*;

pub(super) async fn vpn_tunnel(kind: &VpnTunnel, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let VpnTunnel { interface, host, port } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    // Traffic first: a WireGuard peer makes its handshake when it has
    // something to send (a tunnel just brought up has none yet), so the
    // handshake read after it says whether that traffic went through.
    let (command, what) = match port {
        Some(p) => (format!("nc -z -w {} {} {p}", secs(timeout), sh(host)), format!("{host}:{p} through the tunnel")),
        None => (format!("ping -c 1 -W {} {}", secs(timeout), sh(host)), format!("{host} through the tunnel")),
    };
    let ok = seen.run_waiting(on, &command, timeout).await?.exit_code == 0;
    if let Some(iface) = interface {
        let out = seen.run(on, &format!("wg show {} latest-handshakes 2>&1", sh(iface)), timeout).await?;
        let shaken = out.exit_code == 0 && handshake_done(&out.stdout);
        seen.expect(
            &format!("tunnel {iface}"),
            "handshake done",
            if shaken { "handshake done" } else { "no handshake" },
            shaken,
        );
    }
    seen.expect(&what, "reachable", if ok { "reachable" } else { "unreachable" }, ok);
    Ok(())
}

/// `wg show IF latest-handshakes`: `<peer key> <unix time>` per peer, 0
/// when that peer never completed a handshake.
fn handshake_done(stdout: &str) -> bool {
    stdout.lines().any(|l| l.split_whitespace().nth(1).and_then(|t| t.parse::<u64>().ok()).is_some_and(|t| t > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_is_a_nonzero_time_for_some_peer() {
        let check = |out: &str, expect: bool| assert_eq!(handshake_done(out), expect, "{out}");
        check("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\t1795660800\n", true);
        check("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\t0\n", false);
        check("a=\t0\nb=\t1795660800\n", true);
        check("", false);
        check("Unable to access interface: No such device", false);
    }
}
