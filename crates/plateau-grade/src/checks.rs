//! The check catalogue: how each kind of check looks at a platform. A check
//! runs commands on nodes through their executors, or sends probes from the
//! controller or from a node, and compares what it saw with what the scenario
//! expects. Every action and comparison is kept as evidence.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use plateau_scenario::model::{Access, BackupTool, Check, CheckKind, PortState, RecordType, WifiSecurity};

use crate::executor::{ExecError, Execute, Executor, Output, Shell};
use crate::probe;
use crate::result::{Action, Assertion, excerpt, millis};

/// Where a check's commands and probes go: one candidate's platform.
pub trait Reach: Sync {
    /// The executor of a node (its grader access).
    fn node(&self, id: &str) -> Option<&Executor>;
    /// The first node of a role (to find the domain controller).
    fn node_of_role(&self, role: plateau_scenario::model::Role) -> Option<&str>;
    /// The controller's link into a candidate network: the host interface
    /// DHCP probes are sent on.
    fn link(&self, network: &str) -> Option<&str>;
}

/// What one evaluation saw.
#[derive(Debug)]
pub struct Seen {
    pub actions: Vec<Action>,
    pub assertions: Vec<Assertion>,
    since: Instant,
}

impl Default for Seen {
    fn default() -> Self {
        Seen { actions: Vec::new(), assertions: Vec::new(), since: Instant::now() }
    }
}

const OUTPUT_LIMIT: usize = 2048;

impl Seen {
    fn expect(&mut self, what: &str, expected: impl Into<String>, actual: impl Into<String>, ok: bool) {
        self.assertions.push(Assertion { what: what.into(), expected: expected.into(), actual: actual.into(), ok });
    }

    fn probe(&mut self, sent: String, output: String) {
        self.actions.push(Action {
            from: "controller".into(),
            sent,
            exit_code: None,
            output: excerpt(&output, OUTPUT_LIMIT),
            duration_ms: millis(self.since.elapsed()),
        });
    }

    /// Start timing a probe (its action is recorded by `probe`).
    fn start(&mut self) {
        self.since = Instant::now();
    }

    async fn run(&mut self, on: &Executor, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        let started = Instant::now();
        let out = on.run(command, timeout).await;
        let duration_ms = millis(started.elapsed());
        let (exit_code, output) = match &out {
            Ok(o) => (Some(o.exit_code), format!("{}{}", o.stdout, o.stderr)),
            Err(e) => (None, e.to_string()),
        };
        self.actions.push(Action {
            from: on.describe(),
            sent: command.to_string(),
            exit_code,
            output: excerpt(&output, OUTPUT_LIMIT),
            duration_ms,
        });
        out
    }
}

/// Why a check could not be evaluated (its status is then `error`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unable {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{0}")]
    Probe(String),
    #[error("{0}")]
    Setup(String),
}

/// Quote for POSIX sh.
pub fn sh(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Quote for PowerShell.
pub fn ps(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Evaluate one check once. `Ok` carries the comparisons (pass or fail);
/// `Err` means the grader could not look.
pub async fn evaluate(check: &Check, reach: &impl Reach, timeout: Duration, seen: &mut Seen) -> Result<(), Unable> {
    let node = |id: &Option<String>| -> Result<&Executor, Unable> {
        let id = id.as_deref().ok_or_else(|| Unable::Setup(format!("check `{}` names no node", check.id)))?;
        reach.node(id).ok_or_else(|| Unable::Setup(format!("node `{id}` has no grader access")))
    };
    let from = match &check.from {
        Some(id) => Some(node(&Some(id.clone()))?),
        None => None,
    };
    match &check.kind {
        CheckKind::TcpPort { host, port, expect } => {
            let state = match from {
                Some(on) => {
                    let out =
                        seen.run(on, &format!("nc -z -v -w {} {} {port}", secs(timeout), sh(host)), timeout).await?;
                    if out.exit_code == 0 {
                        probe::Port::Open
                    } else if out.stderr.contains("refused") {
                        probe::Port::Closed
                    } else {
                        probe::Port::Filtered
                    }
                }
                None => {
                    seen.start();
                    let state = probe::tcp(host, *port, timeout).await.map_err(Unable::Probe)?;
                    seen.probe(format!("TCP connect {host}:{port}"), state.to_string());
                    state
                }
            };
            let ok = match expect {
                PortState::Open => state == probe::Port::Open,
                PortState::Closed => state != probe::Port::Open,
            };
            let expected = match expect {
                PortState::Open => "open",
                PortState::Closed => "closed or filtered",
            };
            seen.expect(&format!("port {port} of {host}"), expected, state.to_string(), ok);
        }
        CheckKind::Ping { host, reachable } => {
            let command = format!("ping -c 1 -W {} {}", secs(timeout), sh(host));
            let answered = match from {
                Some(on) => seen.run(on, &command, timeout).await?.exit_code == 0,
                None => {
                    seen.start();
                    let (ok, output) = probe::ping(host, timeout).await.map_err(Unable::Probe)?;
                    seen.probe(command, output);
                    ok
                }
            };
            seen.expect(&format!("{host} answers ping"), yes_no(*reachable), yes_no(answered), answered == *reachable);
        }
        CheckKind::HttpGet { url, status, contains } => {
            let (code, body) = match from.or(node(&check.node).ok()) {
                Some(on) if on.shell() == Shell::Posix => {
                    let out = seen
                        .run(on, &format!("curl -sS -m {} -w '\\n%{{http_code}}' {}", secs(timeout), sh(url)), timeout)
                        .await?;
                    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", out.stdout.as_str()));
                    (code.trim().parse::<u16>().unwrap_or(0), body.to_string())
                }
                Some(on) => {
                    let script = format!(
                        "try {{ $r = Invoke-WebRequest -UseBasicParsing -TimeoutSec {} {}; $r.Content; $r.StatusCode }} catch {{ ''; 0 }}",
                        secs(timeout),
                        ps(url)
                    );
                    let out = seen.run(on, &script, timeout).await?;
                    let text = out.stdout.trim_end();
                    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
                    (code.trim().parse::<u16>().unwrap_or(0), body.to_string())
                }
                None => {
                    seen.start();
                    let (code, body) = probe::http_get(url, timeout).await.map_err(Unable::Probe)?;
                    seen.probe(format!("GET {url}"), format!("HTTP {code}\n{body}"));
                    (code, body)
                }
            };
            let shown = if code == 0 { "no answer".to_string() } else { code.to_string() };
            seen.expect("HTTP status", status.to_string(), shown, code == *status);
            if let Some(text) = contains {
                seen.expect("page contains", text.clone(), excerpt(body.trim(), 80), body.contains(text.as_str()));
            }
        }
        CheckKind::DnsRecord { name, record, server, expect } => {
            let answers = match from {
                Some(on) => {
                    let at = server.as_ref().map(|s| format!("@{} ", sh(s))).unwrap_or_default();
                    let command = format!(
                        "dig +short +time={} +tries=1 {at}{} {}",
                        secs(timeout),
                        sh(name),
                        record_name(*record)
                    );
                    let out = seen.run(on, &command, timeout).await?;
                    // 9: no server answered, which the client sees as no answer.
                    if out.exit_code != 0 && out.exit_code != 9 {
                        return Err(Unable::Probe(format!("dig failed: {}", out.stderr.trim())));
                    }
                    out.stdout
                        .lines()
                        .filter(|l| !l.starts_with(";;"))
                        .map(|l| l.trim().trim_end_matches('.').to_string())
                        .collect::<Vec<_>>()
                }
                None => {
                    let server = server
                        .as_deref()
                        .ok_or_else(|| Unable::Setup("a DNS probe from the controller needs `server`".to_string()))?;
                    seen.start();
                    let reply = probe::dns(server, name, *record, timeout).await.map_err(Unable::Probe)?;
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
                None => {
                    seen.expect(&format!("{} {name}", record_name(*record)), "an answer", actual, !answers.is_empty())
                }
            }
        }
        CheckKind::DhcpOffer { network, mac, address, router, dns } => {
            let offer = match from {
                Some(on) => {
                    let mut args = vec!["broadcast-dhcp-discover.timeout=3s".to_string()];
                    if let Some(mac) = mac {
                        args.push(format!("broadcast-dhcp-discover.mac={mac}"));
                    }
                    let command =
                        format!("nmap -sU -Pn --script broadcast-dhcp-discover --script-args {}", sh(&args.join(",")));
                    let out = seen.run(on, &command, timeout).await?;
                    probe::parse_nmap_offer(&out.stdout)
                }
                None => {
                    let link = reach
                        .link(network)
                        .ok_or_else(|| Unable::Setup(format!("the controller has no link into network `{network}`")))?;
                    let mac = match mac {
                        Some(m) => probe::parse_mac(m).map_err(Unable::Setup)?,
                        None => probe::probe_mac(&check.id),
                    };
                    seen.start();
                    let offer = probe::dhcp_discover(link, mac, timeout).await.map_err(Unable::Probe)?;
                    seen.probe(
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
            if let Some(want) = router {
                let got = offer.routers.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(", ");
                seen.expect(
                    "router option",
                    want.clone(),
                    or_none(got),
                    offer.routers.iter().any(|r| same_ip(want, *r)),
                );
            }
            if let Some(want) = dns {
                let got = offer.dns.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(", ");
                seen.expect("DNS option", want.clone(), or_none(got), offer.dns.iter().any(|r| same_ip(want, *r)));
            }
        }
        CheckKind::SmbAccess { share, user, password, expect, write } => {
            let on = from.ok_or_else(|| Unable::Setup("an SMB probe needs `from` (a node with smbclient)".into()))?;
            let commands = if *write { "put /etc/hostname .plateau-probe; rm .plateau-probe" } else { "ls" };
            let command =
                format!("smbclient {} -U {} -c {} 2>&1", sh(share), sh(&format!("{user}%{password}")), sh(commands));
            let out = seen.run(on, &command, timeout).await?;
            let granted = out.exit_code == 0 && !out.stdout.contains("NT_STATUS_");
            // Only the server's own refusal proves the rights: a share or a
            // server that is not there refuses everyone.
            let refused = out.stdout.contains("NT_STATUS_ACCESS_DENIED");
            let what = if *write { format!("{user} writes to {share}") } else { format!("{user} reads {share}") };
            let got = match (granted, refused) {
                (true, _) => "allowed".to_string(),
                (false, true) => "denied (NT_STATUS_ACCESS_DENIED)".to_string(),
                (false, false) => format!("failed: {}", excerpt(out.stdout.trim(), 120)),
            };
            match expect {
                Access::Allowed => seen.expect(&what, "allowed", got, granted),
                Access::Denied => seen.expect(&what, "denied (NT_STATUS_ACCESS_DENIED)", got, refused && !granted),
            }
        }
        CheckKind::IppPrinter { uri, test_job } => {
            let state = match from {
                Some(on) => {
                    let out =
                        seen.run(on, &format!("ipptool -tv {} get-printer-attributes.test", sh(uri)), timeout).await?;
                    (out.exit_code == 0).then(|| "answers".to_string())
                }
                None => {
                    seen.start();
                    let attrs = probe::ipp_printer(uri, timeout).await.map_err(Unable::Probe)?;
                    seen.probe(format!("IPP Get-Printer-Attributes {uri}"), format!("{attrs:?}"));
                    attrs.map(|a| a.state)
                }
            };
            seen.expect("printer answers IPP", "yes", state.clone().unwrap_or_else(|| "no".into()), state.is_some());
            if *test_job {
                let on = from.ok_or_else(|| Unable::Setup("a test job needs `from` (a node with ipptool)".into()))?;
                let out = seen.run(on, &format!("ipptool -tv {} print-job.test", sh(uri)), timeout).await?;
                seen.expect("test job accepted", "yes", yes_no(out.exit_code == 0), out.exit_code == 0);
            }
        }
        _ => return on_node(check, node(&check.node)?, reach, timeout, seen).await,
    }
    Ok(())
}

/// Checks that read a node's own state through its executor.
async fn on_node(
    check: &Check,
    on: &Executor,
    reach: &impl Reach,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<(), Unable> {
    let windows = on.shell() == Shell::PowerShell;
    match &check.kind {
        CheckKind::IpConfig { address, gateway, dns } => {
            let (addrs, routes, resolvers) = if windows {
                let out = seen
                    .run(
                        on,
                        "(Get-NetIPAddress -AddressFamily IPv4 | Where-Object { $_.IPAddress -ne '127.0.0.1' }).IPAddress -join ' '; \
                         (Get-NetRoute -DestinationPrefix 0.0.0.0/0 -ErrorAction SilentlyContinue).NextHop -join ' '; \
                         (Get-DnsClientServerAddress -AddressFamily IPv4).ServerAddresses -join ' '",
                        timeout,
                    )
                    .await?;
                let mut lines = out.stdout.lines().map(|l| words(l));
                (lines.next().unwrap_or_default(), lines.next().unwrap_or_default(), lines.next().unwrap_or_default())
            } else {
                let out = seen
                    .run(
                        on,
                        "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | tr '\\n' ' '; echo; \
                         ip -4 route show default | awk '{print $3}' | tr '\\n' ' '; echo; \
                         awk '/^nameserver/ {print $2}' /etc/resolv.conf | tr '\\n' ' '; echo",
                        timeout,
                    )
                    .await?;
                let mut lines = out.stdout.lines().map(|l| words(l));
                (lines.next().unwrap_or_default(), lines.next().unwrap_or_default(), lines.next().unwrap_or_default())
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
        }
        CheckKind::ServiceRunning { service } => {
            let command = if windows {
                format!("(Get-Service -Name {}).Status", ps(service))
            } else {
                let s = sh(service);
                format!(
                    "if command -v plateau-service >/dev/null && plateau-service status {s} >/dev/null 2>&1; then echo running; \
                     elif command -v systemctl >/dev/null && systemctl is-active --quiet {s} 2>/dev/null; then echo running; \
                     elif pgrep -x {s} >/dev/null; then echo running; else echo stopped; fi"
                )
            };
            let out = seen.run(on, &command, timeout).await?;
            let state = out.stdout.trim().to_lowercase();
            seen.expect(&format!("service {service}"), "running", or_none(state.clone()), state == "running");
        }
        CheckKind::PackageInstalled { package } => {
            let out = seen
                .run(on, &format!("dpkg-query -W -f='${{Status}} ${{Version}}' {} 2>&1", sh(package)), timeout)
                .await?;
            let ok = out.exit_code == 0 && out.stdout.starts_with("install ok installed");
            seen.expect(&format!("package {package}"), "installed", out.stdout.trim().to_string(), ok);
        }
        CheckKind::FileContains { path, pattern, present, ignore_case } => {
            let command = if windows {
                format!(
                    "Select-String -Path {} -Pattern {}{} | Select-Object -First 3 | ForEach-Object {{ $_.Line }}",
                    ps(path),
                    ps(pattern),
                    if *ignore_case { "" } else { " -CaseSensitive" }
                )
            } else {
                // A file that is not there holds no line: a verdict, not an error.
                format!(
                    "test -e {p} || {{ echo 'no such file' >&2; exit 1; }}; grep -E{} -n -m 3 -e {} {p}",
                    if *ignore_case { " -i" } else { "" },
                    sh(pattern),
                    p = sh(path)
                )
            };
            let out = seen.run(on, &command, timeout).await?;
            if !windows && out.exit_code > 1 {
                return Err(Unable::Probe(format!("cannot read {path}: {}", out.stderr.trim())));
            }
            let found = !out.stdout.trim().is_empty();
            let expected =
                if *present { format!("a line matching /{pattern}/") } else { format!("no line matching /{pattern}/") };
            seen.expect(path, expected, or_none(out.stdout.trim().to_string()), found == *present);
        }
        CheckKind::Command { run, exit_code, stdout_contains } => {
            let out = seen.run(on, run, timeout).await?;
            seen.expect(
                "exit code",
                exit_code.to_string(),
                out.exit_code.to_string(),
                out.exit_code == i64::from(*exit_code),
            );
            if let Some(text) = stdout_contains {
                seen.expect(
                    "output contains",
                    text.clone(),
                    excerpt(out.stdout.trim(), 200),
                    out.stdout.contains(text.as_str()),
                );
            }
        }
        CheckKind::PrinterInstalled { queue } => {
            let command = if windows {
                format!("(Get-Printer -Name {} -ErrorAction SilentlyContinue).Name", ps(queue))
            } else {
                format!("lpstat -v {q} 2>&1 && lpstat -p {q} 2>&1", q = sh(queue))
            };
            let out = seen.run(on, &command, timeout).await?;
            let ok = out.exit_code == 0 && !out.stdout.trim().is_empty() && !out.stdout.contains("Invalid destination");
            seen.expect(&format!("print queue {queue}"), "installed", or_none(out.stdout.trim().to_string()), ok);
            // A paused queue holds every job: installed is not enough to print.
            if ok && !windows {
                let paused = out.stdout.contains(" disabled");
                seen.expect(
                    &format!("print queue {queue}"),
                    "enabled",
                    if paused { "paused" } else { "enabled" },
                    !paused,
                );
            }
        }
        CheckKind::AdUser { user, exists, enabled, member_of } => {
            let out = seen.run(on, &format!("samba-tool user show {} 2>&1", sh(user)), timeout).await?;
            let found = out.exit_code == 0 && out.stdout.contains("sAMAccountName");
            seen.expect(&format!("account {user}"), present_absent(*exists), present_absent(found), found == *exists);
            if found {
                if let Some(want) = enabled {
                    let uac = field(&out.stdout, "userAccountControl").and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                    let is_enabled = uac & 0x2 == 0;
                    let shown = |b: bool| if b { "enabled" } else { "disabled" };
                    seen.expect(&format!("account {user}"), shown(*want), shown(is_enabled), is_enabled == *want);
                }
                for group in member_of {
                    let groups: Vec<&str> = out.stdout.lines().filter_map(|l| l.strip_prefix("memberOf: ")).collect();
                    let ok =
                        groups.iter().any(|dn| dn.to_lowercase().starts_with(&format!("cn={},", group.to_lowercase())));
                    seen.expect(&format!("{user} member of"), group.clone(), or_none(groups.join("; ")), ok);
                }
            }
        }
        CheckKind::AdPasswordPolicy { min_length, complexity } => {
            let out = seen.run(on, "samba-tool domain passwordsettings show", timeout).await?;
            if let Some(want) = min_length {
                let got = colon_field(&out.stdout, "Minimum password length").and_then(|v| v.parse::<u32>().ok());
                seen.expect(
                    "minimum password length",
                    format!("≥ {want}"),
                    got.map_or("?".into(), |g| g.to_string()),
                    got.is_some_and(|g| g >= *want),
                );
            }
            if let Some(want) = complexity {
                let got = colon_field(&out.stdout, "Password complexity").unwrap_or_default();
                seen.expect(
                    "password complexity",
                    if *want { "on" } else { "off" },
                    or_none(got.clone()),
                    (got == "on") == *want,
                );
            }
        }
        CheckKind::DomainJoined { computer } => {
            // The trust, seen from the machine itself...
            let trust = if windows {
                seen.run(on, "if (Test-ComputerSecureChannel) { 'ok' } else { 'broken' }", timeout).await?.stdout.trim()
                    == "ok"
            } else {
                seen.run(on, "wbinfo -t 2>&1", timeout).await?.exit_code == 0
            };
            seen.expect("trust with the domain", "works", if trust { "works" } else { "broken" }, trust);
            // ...and its account, seen from the domain controller.
            let dc = reach
                .node_of_role(plateau_scenario::model::Role::DomainController)
                .and_then(|id| reach.node(id))
                .ok_or_else(|| Unable::Setup("no domain controller with grader access in the platform".into()))?;
            let name = format!("{}$", computer.trim_end_matches('$'));
            let out = seen.run(dc, &format!("samba-tool computer show {} 2>&1", sh(&name)), timeout).await?;
            let found = out.exit_code == 0;
            seen.expect(&format!("computer account {name}"), "present", present_absent(found), found);
        }
        CheckKind::WifiAp { ssid, security, min_key_length, allowed_macs, hidden } => {
            let out = seen.run(on, "cat /etc/hostapd/hostapd.conf", timeout).await?;
            if out.exit_code != 0 {
                return Err(Unable::Probe("cannot read /etc/hostapd/hostapd.conf".into()));
            }
            let conf = |key: &str| field_eq(&out.stdout, key);
            seen.expect("SSID", ssid.clone(), conf("ssid").unwrap_or_default(), conf("ssid").as_deref() == Some(ssid));
            if let Some(want) = security {
                let (wpa, mgmt) = (conf("wpa").unwrap_or_default(), conf("wpa_key_mgmt").unwrap_or_default());
                let ok = match want {
                    WifiSecurity::Wpa2 => wpa == "2" && mgmt.split_whitespace().any(|m| m == "WPA-PSK"),
                    WifiSecurity::Wpa3 => wpa == "2" && mgmt.split_whitespace().all(|m| m == "SAE"),
                    WifiSecurity::Wpa2Wpa3 => {
                        wpa == "2" && mgmt.contains("SAE") && mgmt.split_whitespace().any(|m| m == "WPA-PSK")
                    }
                };
                let want = plateau_scenario::model::token(want);
                seen.expect("security", want, format!("wpa={wpa} wpa_key_mgmt={mgmt}"), ok);
            }
            if let Some(want) = min_key_length {
                let len = conf("wpa_passphrase").map_or(0, |k| k.chars().count() as u32);
                seen.expect("key length", format!("≥ {want}"), len.to_string(), len >= *want);
            }
            if !allowed_macs.is_empty() {
                let acl = conf("macaddr_acl").unwrap_or_default();
                seen.expect("MAC filtering", "macaddr_acl=1", format!("macaddr_acl={acl}"), acl == "1");
                let file = conf("accept_mac_file").unwrap_or_default();
                let listed = if file.is_empty() {
                    String::new()
                } else {
                    seen.run(on, &format!("cat {}", sh(&file)), timeout).await?.stdout.to_lowercase()
                };
                for mac in allowed_macs {
                    let ok = listed.lines().any(|l| l.trim() == mac.to_lowercase());
                    seen.expect("allowed MAC", mac.clone(), if ok { "listed" } else { "missing" }, ok);
                }
            }
            if let Some(want) = hidden {
                let got = conf("ignore_broadcast_ssid").is_some_and(|v| v != "0");
                seen.expect("hidden SSID", yes_no(*want), yes_no(got), got == *want);
            }
        }
        CheckKind::VpnTunnel { interface, host, port } => {
            if let Some(iface) = interface {
                let out = seen.run(on, &format!("wg show {} latest-handshakes 2>&1", sh(iface)), timeout).await?;
                let shaken = out.exit_code == 0
                    && out.stdout.lines().any(|l| l.split_whitespace().nth(1).is_some_and(|t| t != "0"));
                seen.expect(
                    &format!("tunnel {iface}"),
                    "handshake done",
                    if shaken { "handshake done" } else { "no handshake" },
                    shaken,
                );
            }
            let (command, what) = match port {
                Some(p) => {
                    (format!("nc -z -w {} {} {p}", secs(timeout), sh(host)), format!("{host}:{p} through the tunnel"))
                }
                None => (format!("ping -c 1 -W {} {}", secs(timeout), sh(host)), format!("{host} through the tunnel")),
            };
            let ok = seen.run(on, &command, timeout).await?.exit_code == 0;
            seen.expect(&what, "reachable", if ok { "reachable" } else { "unreachable" }, ok);
        }
        CheckKind::BackupRestore { tool, repository, path, password } => {
            let target = "/tmp/.plateau-restore";
            let restore = match tool {
                BackupTool::Restic => format!(
                    "RESTIC_PASSWORD={} restic -r {} restore latest --target {target} --include {} >/dev/null",
                    sh(password.as_deref().unwrap_or("")),
                    sh(repository),
                    sh(path)
                ),
                BackupTool::Borg => format!(
                    "cd {target} && BORG_PASSPHRASE={} borg extract {}::$(BORG_PASSPHRASE={} borg list --last 1 --short {}) {}",
                    sh(password.as_deref().unwrap_or("")),
                    sh(repository),
                    sh(password.as_deref().unwrap_or("")),
                    sh(repository),
                    sh(path.trim_start_matches('/'))
                ),
                BackupTool::Tar => {
                    format!("tar -xf {} -C {target} {}", sh(repository), sh(path.trim_start_matches('/')))
                }
            };
            let command = format!(
                "rm -rf {target}; mkdir -p {target}; {restore} 2>&1 || echo RESTORE-FAILED; \
                 sha256sum {p} {target}{p} 2>&1; rm -rf {target}",
                p = sh(path)
            );
            let out = seen.run(on, &command, timeout).await?;
            let sums: Vec<&str> =
                out.stdout.lines().filter(|l| l.len() > 64 && l.as_bytes()[64] == b' ').map(|l| &l[..64]).collect();
            let restored = !out.stdout.contains("RESTORE-FAILED") && sums.len() == 2;
            seen.expect("restore", "succeeds", if restored { "succeeded" } else { "failed" }, restored);
            if restored {
                seen.expect("restored file's SHA-256", sums[0], sums[1], sums[0] == sums[1]);
            }
        }
        CheckKind::TcpPort { .. }
        | CheckKind::Ping { .. }
        | CheckKind::HttpGet { .. }
        | CheckKind::DnsRecord { .. }
        | CheckKind::DhcpOffer { .. }
        | CheckKind::SmbAccess { .. }
        | CheckKind::IppPrinter { .. } => unreachable!("probes are evaluated in `evaluate`"),
    }
    Ok(())
}

/// The wait given to a tool run on a node (`nc -w`, `curl -m`, `ping -W`):
/// a second less than the grader's own limit, so the tool's verdict
/// ("refused", "timed out") arrives before the grader gives up on the command.
fn secs(d: Duration) -> u64 {
    d.as_secs().saturating_sub(1).max(1)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn present_absent(b: bool) -> &'static str {
    if b { "present" } else { "absent" }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "none".into() } else { s }
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn list(items: &[String]) -> String {
    or_none(items.join(", "))
}

fn same_ip(want: &str, got: Ipv4Addr) -> bool {
    want.trim().parse::<Ipv4Addr>().is_ok_and(|w| w == got)
}

fn record_name(record: RecordType) -> &'static str {
    match record {
        RecordType::A => "A",
        RecordType::Aaaa => "AAAA",
        RecordType::Cname => "CNAME",
        RecordType::Ptr => "PTR",
        RecordType::Srv => "SRV",
        RecordType::Mx => "MX",
    }
}

/// `key: value` (LDIF) lines.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}: ")).map(|v| v.trim().to_string()))
}

/// `Label: value` lines with free spacing (`samba-tool` tables).
fn colon_field(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == label).then(|| v.trim().to_string())
    })
}

/// `key=value` lines (hostapd.conf), ignoring comments.
fn field_eq(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(ps("it's"), "'it''s'");
    }

    #[test]
    fn config_fields_ignore_comments() {
        let conf = "#ssid=old\nssid=Agence\nwpa=2\n";
        assert_eq!(field_eq(conf, "ssid").as_deref(), Some("Agence"));
        assert_eq!(colon_field("Minimum password length: 7\n", "Minimum password length").as_deref(), Some("7"));
    }
}
