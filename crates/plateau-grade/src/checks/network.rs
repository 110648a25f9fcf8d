//! Network kinds: ports, reachability, web pages, DNS records, a node's IP configuration.

use plateau_scenario::checks::network::{
    DnsRecord, HttpGet, IpConfig, Ping, Protocol, Reach as ReachCheck, ReachTarget, Reachability, TcpPort,
};

use super::*;

pub(super) async fn tcp_port(kind: &TcpPort, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let TcpPort { host, port, expect } = kind;
    let state = tcp_state(host, *port, cx.from, cx.timeout, seen).await?;
    let ok = match expect {
        PortState::Open => state == probe::Port::Open,
        PortState::Closed => state != probe::Port::Open,
    };
    let expected = match expect {
        PortState::Open => "open",
        PortState::Closed => "closed or filtered",
    };
    seen.expect(&format!("port {port} of {host}"), expected, state.to_string(), ok);
    Ok(())
}

/// A TCP connection to `host:port`, from a node (`nc`) or from the controller.
async fn tcp_state(
    host: &str,
    port: u16,
    from: Option<&Executor>,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<probe::Port, Unable> {
    Ok(match from {
        Some(on) => {
            let out = seen.run(on, &format!("nc -z -v -w {} {} {port}", secs(timeout), sh(host)), timeout).await?;
            nc_port_state(out.exit_code, &out.stderr)
        }
        None => {
            seen.start();
            let state = probe::tcp(host, port, timeout).await?;
            seen.probe(format!("TCP connect {host}:{port}"), state.to_string());
            state
        }
    })
}

pub(super) async fn ping(kind: &Ping, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let Ping { host, reachable } = kind;
    let answered = echo(host, cx.from, cx.timeout, seen).await?;
    seen.expect(&format!("{host} answers ping"), yes_no(*reachable), yes_no(answered), answered == *reachable);
    Ok(())
}

/// Whether `host` answers one echo request, from a node or from the controller.
async fn echo(host: &str, from: Option<&Executor>, timeout: Duration, seen: &mut Seen) -> Result<bool, Unable> {
    let command = format!("ping -c 1 -W {} {}", secs(timeout), sh(host));
    Ok(match from {
        Some(on) => seen.run(on, &command, timeout).await?.exit_code == 0,
        None => {
            seen.start();
            let (ok, output) = probe::ping(host, timeout).await?;
            seen.probe(command, output);
            ok
        }
    })
}

/// A firewall's rules as the sender sees them, each denial backed by a
/// positive control. When the `control` does not answer, the sender may have
/// no network at all, so nothing is proven: `error`. Without a control, the
/// allowed targets play its part: when none answers, they fail and the
/// denials are left unproven — never a pass.
pub(super) async fn reach(kind: &ReachCheck, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let mut outcomes = Vec::new();
    for target in &kind.targets {
        outcomes.push(reach_one(target, cx.from, cx.timeout, seen).await?);
    }
    if let Some(control) = &kind.control {
        let (reached, how) = reach_one(control, cx.from, cx.timeout, seen).await?;
        if !reached {
            return Err(Unable::Probe(format!(
                "the sender does not reach its control ({}: {how}): its denials prove nothing",
                control.describe()
            )));
        }
    }
    let allowed = |t: &ReachTarget| t.expect == Reachability::Allowed;
    let proven = kind.control.is_some() || kind.targets.iter().zip(&outcomes).any(|(t, (got, _))| allowed(t) && *got);
    for (target, (got, how)) in kind.targets.iter().zip(&outcomes) {
        let expected = if allowed(target) { "allowed" } else { "denied" };
        let (shown, ok) = match (allowed(target), proven) {
            (false, false) => (format!("unproven: the sender reached nothing it should ({how})"), false),
            _ => (how.clone(), *got == allowed(target)),
        };
        seen.expect(&target.describe(), expected, shown, ok);
    }
    Ok(())
}

/// Whether one target gets through, and how it answered (`open`,
/// `closed (refused)`, `filtered (no answer)`, `echo reply`, `HTTP 200`).
async fn reach_one(
    target: &ReachTarget,
    from: Option<&Executor>,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<(bool, String), Unable> {
    match (&target.url, &target.host, target.protocol, target.port) {
        (Some(url), ..) => {
            let (code, _) = http(url, from, timeout, seen).await?;
            Ok(if code == 0 { (false, "no HTTP answer".into()) } else { (true, format!("HTTP {code}")) })
        }
        (None, Some(host), Protocol::Icmp, _) => {
            let answered = echo(host, from, timeout, seen).await?;
            Ok((answered, if answered { "echo reply" } else { "no echo reply" }.into()))
        }
        (None, Some(host), Protocol::Tcp, Some(port)) => {
            let state = tcp_state(host, port, from, timeout, seen).await?;
            Ok((state == probe::Port::Open, state.to_string()))
        }
        _ => Err(Unable::Setup(format!("`reach` target {} names no destination", target.describe()))),
    }
}

/// A GET of `url` from a node (curl, or PowerShell on Windows) or from the
/// controller: the status (0: no answer) and the page.
async fn http(url: &str, from: Option<&Executor>, timeout: Duration, seen: &mut Seen) -> Result<(u16, String), Unable> {
    Ok(match from {
        Some(on) if on.shell() == Shell::Posix => {
            let command = format!("curl -sS -m {} -w '\\n%{{http_code}}' {}", secs(timeout), sh(url));
            body_and_status(&seen.run(on, &command, timeout).await?.stdout)
        }
        Some(on) => {
            let script = format!(
                "try {{ $r = Invoke-WebRequest -UseBasicParsing -TimeoutSec {} {}; $r.Content; $r.StatusCode }} catch {{ ''; 0 }}",
                secs(timeout),
                ps(url)
            );
            body_and_status(seen.run(on, &script, timeout).await?.stdout.trim_end())
        }
        None => {
            seen.start();
            let (code, body) = probe::http_get(url, timeout).await?;
            seen.probe(format!("GET {url}"), format!("HTTP {code}\n{body}"));
            (code, body)
        }
    })
}

pub(super) async fn http_get(kind: &HttpGet, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let HttpGet { url, status, contains } = kind;
    let (code, body) = http(url, cx.from.or(cx.node().ok()), cx.timeout, seen).await?;
    let shown = if code == 0 { "no answer".to_string() } else { code.to_string() };
    seen.expect("HTTP status", status.to_string(), shown, code == *status);
    if let Some(text) = contains {
        seen.expect("page contains", text.clone(), excerpt(body.trim(), 80), body.contains(text.as_str()));
    }
    Ok(())
}

pub(super) async fn dns_record(kind: &DnsRecord, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let DnsRecord { name, record, server, expect } = kind;
    let timeout = cx.timeout;
    let from = cx.from;
    let answers = match from {
        Some(on) => {
            let at = server.as_ref().map(|s| format!("@{} ", sh(s))).unwrap_or_default();
            let command =
                format!("dig +short +time={} +tries=1 {at}{} {}", secs(timeout), sh(name), record_name(*record));
            let out = seen.run(on, &command, timeout).await?;
            // 9: no server answered, which the client sees as no answer.
            if out.exit_code != 0 && out.exit_code != 9 {
                return Err(Unable::Probe(format!("dig failed: {}", out.stderr.trim())));
            }
            dig_answers(&out.stdout)
        }
        None => {
            let server = server
                .as_deref()
                .ok_or_else(|| Unable::Setup("a DNS probe from the controller needs `server`".to_string()))?;
            seen.start();
            let reply = probe::dns(server, name, *record, timeout).await?;
            let shown = reply.failure.clone().unwrap_or_else(|| reply.records.join("\n"));
            seen.probe(format!("DNS {} {name} @{server}", record_name(*record)), shown);
            reply.records
        }
    };
    let actual = if answers.is_empty() { "no answer".to_string() } else { answers.join(", ") };
    match expect {
        Some(want) => {
            let ok = answers.iter().any(|a| a.eq_ignore_ascii_case(want.trim_end_matches('.')));
            seen.expect(&format!("{} {name}", record_name(*record)), want.clone(), actual, ok);
        }
        None => seen.expect(&format!("{} {name}", record_name(*record)), "an answer", actual, !answers.is_empty()),
    }
    Ok(())
}

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

/// `nc -z -v`: connected, refused by the host, or no answer at all.
fn nc_port_state(exit_code: i64, stderr: &str) -> probe::Port {
    if exit_code == 0 {
        probe::Port::Open
    } else if stderr.contains("refused") {
        probe::Port::Closed
    } else {
        probe::Port::Filtered
    }
}

/// A page followed by its status code on the last line (curl's `-w`, or
/// the PowerShell script's last output); status 0 when there is none.
fn body_and_status(text: &str) -> (u16, String) {
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
    (code.trim().parse::<u16>().unwrap_or(0), body.to_string())
}

/// `dig +short`: one answer per line, without the trailing dot; `;;` lines
/// are dig's own complaints.
fn dig_answers(stdout: &str) -> Vec<String> {
    stdout.lines().filter(|l| !l.starts_with(";;")).map(|l| l.trim().trim_end_matches('.').to_string()).collect()
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
    fn nc_tells_open_refused_and_filtered() {
        let check =
            |exit: i64, stderr: &str, expect: probe::Port| assert_eq!(nc_port_state(exit, stderr), expect, "{stderr}");
        check(0, "Connection to 10.0.0.1 80 port [tcp/http] succeeded!", probe::Port::Open);
        check(1, "nc: connect to 10.0.0.1 port 81 (tcp) failed: Connection refused", probe::Port::Closed);
        check(1, "nc: connect to 10.0.0.1 port 80 (tcp) timed out: Operation now in progress", probe::Port::Filtered);
        check(1, "nc: getaddrinfo for host \"nope\" port 80: Name or service not known", probe::Port::Filtered);
    }

    #[test]
    fn the_status_code_is_the_last_line() {
        let check =
            |text: &str, code: u16, body: &str| assert_eq!(body_and_status(text), (code, body.to_string()), "{text:?}");
        check("<h1>Agence</h1>\n200", 200, "<h1>Agence</h1>");
        check("line one\nline two\n404", 404, "line one\nline two");
        check("\n000", 0, "");
        check("200", 200, "");
        check("", 0, "");
    }

    #[test]
    fn dig_answers_drop_complaints_and_trailing_dots() {
        let check = |out: &str, expect: &[&str]| assert_eq!(dig_answers(out), expect, "{out:?}");
        check("10.20.1.10\n", &["10.20.1.10"]);
        check("dc.agence.lan.\n10.20.1.10\n", &["dc.agence.lan", "10.20.1.10"]);
        check(";; communications error to 10.20.1.10#53: timed out\n;; no servers could be reached\n", &[]);
        check("", &[]);
    }

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
