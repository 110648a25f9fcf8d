//! A node's IP configuration as the node itself holds it: addresses,
//! default gateway, DNS servers, and which address a DHCP server leased.

use plateau_scenario::checks::network::IpConfig;

use super::*;

pub(super) async fn ip_config(kind: &IpConfig, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let IpConfig { address, gateway, dns, dhcp } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let windows = on.shell() == Shell::PowerShell;
    let (addrs, routes, resolvers, leased) = if windows {
        let out = seen
                .run(
                    on,
                    "(Get-NetIPAddress -AddressFamily IPv4 | Where-Object { $_.IPAddress -ne '127.0.0.1' }).IPAddress -join ' '; \
                     (Get-NetRoute -DestinationPrefix 0.0.0.0/0 -ErrorAction SilentlyContinue).NextHop -join ' '; \
                     (Get-DnsClientServerAddress -AddressFamily IPv4).ServerAddresses -join ' '; \
                     (Get-NetIPAddress -AddressFamily IPv4 -PrefixOrigin Dhcp -ErrorAction SilentlyContinue).IPAddress -join ' '",
                    timeout,
                )
                .await?;
        four_lists(&out.stdout)
    } else {
        let out = seen
            .run(
                on,
                "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | tr '\\n' ' '; echo; \
                     ip -4 route show default | awk '{print $3}' | tr '\\n' ' '; echo; \
                     awk '/^nameserver/ {print $2}' /etc/resolv.conf | tr '\\n' ' '; echo; \
                     ip -4 -o addr show scope global dynamic | awk '{print $4}' | cut -d/ -f1 | tr '\\n' ' '; echo",
                timeout,
            )
            .await?;
        four_lists(&out.stdout)
    };
    match address {
        Some(want) => seen.expect("address", want.clone(), list(&addrs), addrs.iter().any(|a| a == want)),
        None => seen.expect("address", "an address", list(&addrs), !addrs.is_empty()),
    }
    if let Some(want) = gateway {
        seen.expect("default gateway", want.clone(), list(&routes), routes.iter().any(|r| r == want));
    }
    if let Some(want) = dns {
        seen.expect("DNS server", want.clone(), list(&resolvers), resolvers.iter().any(|r| r == want));
    }
    if let Some(want) = dhcp {
        // The lease is the outcome a "by DHCP" criterion names: an address
        // set by hand, even the right one, is not.
        let leased_ok = match address {
            Some(a) => leased.iter().any(|l| l == a),
            None => !leased.is_empty(),
        };
        let shown = if leased.is_empty() { "none".to_string() } else { list(&leased) };
        let (expected, ok) = if *want { ("by DHCP", leased_ok) } else { ("set by hand", !leased_ok) };
        seen.expect("address leased", expected, shown, ok);
    }
    Ok(())
}

/// Four lines of words: addresses, default gateways, DNS servers, addresses leased by DHCP.
fn four_lists(stdout: &str) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let mut lines = stdout.lines().map(words);
    let mut next = || lines.next().unwrap_or_default();
    (next(), next(), next(), next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_config_reads_four_lines_of_words() {
        let (addrs, routes, dns, leased) = four_lists("10.20.1.50 172.18.0.3 \n10.20.1.1 \n10.20.1.10 \n10.20.1.50 \n");
        assert_eq!(addrs, ["10.20.1.50", "172.18.0.3"]);
        assert_eq!(routes, ["10.20.1.1"]);
        assert_eq!(dns, ["10.20.1.10"]);
        assert_eq!(leased, ["10.20.1.50"]);
        // An address set by hand is on the first line only.
        let none: Vec<String> = vec![];
        assert_eq!(four_lists("10.20.1.50\n\n"), (vec!["10.20.1.50".to_string()], none.clone(), none.clone(), none));
    }
}
