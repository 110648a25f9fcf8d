//! DHCP: a server's offer, seen by the controller's own DISCOVER or from a node (nmap).

use plateau_scenario::checks::dhcp::DhcpOffer;

use super::*;

pub(super) async fn dhcp_offer(kind: &DhcpOffer, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let DhcpOffer { network, mac, address, pool, router, dns } = kind;
    let check = cx.check;
    let reach = cx.reach;
    let timeout = cx.timeout;
    let offer = match cx.sender() {
        Sender::Node(on) => {
            let mut args = vec!["broadcast-dhcp-discover.timeout=3s".to_string()];
            if let Some(mac) = mac {
                args.push(format!("broadcast-dhcp-discover.mac={mac}"));
            }
            let command =
                format!("nmap -sU -Pn --script broadcast-dhcp-discover --script-args {}", sh(&args.join(",")));
            let out = seen.run_waiting(on, &command, timeout).await?;
            probe::parse_nmap_offer(&out.stdout)
        }
        Sender::Controller(prober) => {
            let link = reach
                .link(network)
                .ok_or_else(|| Unable::Setup(format!("the controller has no link into network `{network}`")))?;
            let mac = match mac {
                Some(m) => probe::parse_mac(m)?,
                None => probe::probe_mac(&check.id),
            };
            seen.start();
            let offer = prober.dhcp_discover(link, mac, timeout).await?;
            seen.probe(
                prober,
                format!("DHCPDISCOVER on {link} from {}", probe::format_mac(mac)),
                offer.as_ref().map_or("no offer".to_string(), |o| o.to_string()),
            );
            offer
        }
    };
    let Some(offer) = offer else {
        seen.expect("DHCP offer", "an offer", "no offer", false);
        return Ok(());
    };
    seen.expect("DHCP offer", "an offer", offer.address.to_string(), true);
    if let Some(want) = address {
        seen.expect("offered address", want.clone(), offer.address.to_string(), same_ip(want, offer.address));
    }
    if let Some([first, last]) = pool {
        let (Ok(lo), Ok(hi)) = (first.trim().parse::<Ipv4Addr>(), last.trim().parse::<Ipv4Addr>()) else {
            return Err(Unable::Setup(format!("`pool` is not two IPv4 addresses: {first}, {last}")));
        };
        let inside = (lo..=hi).contains(&offer.address);
        seen.expect("offered address in the pool", format!("{lo} – {hi}"), offer.address.to_string(), inside);
    }
    if let Some(want) = router {
        let got = offer.routers.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(", ");
        seen.expect("router option", want.clone(), or_none(got), offer.routers.iter().any(|r| same_ip(want, *r)));
    }
    if let Some(want) = dns {
        let got = offer.dns.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(", ");
        seen.expect("DNS option", want.clone(), or_none(got), offer.dns.iter().any(|r| same_ip(want, *r)));
    }
    Ok(())
}
