//! VPN: a WireGuard handshake and what answers through the tunnel.

use plateau_scenario::checks::vpn::VpnTunnel;

use super::*;

pub(super) async fn vpn_tunnel(kind: &VpnTunnel, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let VpnTunnel { interface, host, port } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    if let Some(iface) = interface {
        let out = seen.run(on, &format!("wg show {} latest-handshakes 2>&1", sh(iface)), timeout).await?;
        let shaken =
            out.exit_code == 0 && out.stdout.lines().any(|l| l.split_whitespace().nth(1).is_some_and(|t| t != "0"));
        seen.expect(
            &format!("tunnel {iface}"),
            "handshake done",
            if shaken { "handshake done" } else { "no handshake" },
            shaken,
        );
    }
    let (command, what) = match port {
        Some(p) => (format!("nc -z -w {} {} {p}", secs(timeout), sh(host)), format!("{host}:{p} through the tunnel")),
        None => (format!("ping -c 1 -W {} {}", secs(timeout), sh(host)), format!("{host} through the tunnel")),
    };
    let ok = seen.run(on, &command, timeout).await?.exit_code == 0;
    seen.expect(&what, "reachable", if ok { "reachable" } else { "unreachable" }, ok);
    Ok(())
}
