//! What a node was running at the deadline, read while it is paused, and
//! what its re-created copy must bring back before it is graded.
//!
//! A sidecar of the role's own image joins the paused node's network and
//! process namespaces and prints what the kernel says ([`READ`]): the
//! processes (`/proc/PID/exe`, whoever started them), the node's own service
//! definitions and pid files (through `/proc/1/root`), its links, IPv4
//! addresses and routes. Nothing of the candidate's runs to answer. Those
//! facts become a plan for `plateau-init` ([`Deadline::runtime_file`]):
//! exactly the services that ran, the addresses and routes as they were
//! (interfaces found by MAC), the WireGuard interfaces that were up brought
//! up again from their configuration; and notes for what cannot come back.

/// The sidecar's script: sections of raw facts, parsed by [`Deadline::read`].
pub(super) const READ: &str = r#"R=/proc/1/root
echo '== proc'
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$pid" = $$ ] && continue
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  ppid=$(awk '/^PPid:/ {print $2}' "$p/status" 2>/dev/null)
  printf '%s\t%s\t%s\t%s\n' "$pid" "${ppid:-0}" "$exe" "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null | cut -c1-200)"
done
echo '== services'
for def in "$R"/etc/plateau/services/*; do
  [ -f "$def" ] || continue
  name=${def##*/}
  prog=$(awk '{print $1; exit}' "$def")
  kind=binary
  [ "$(head -c 2 "$R$prog" 2>/dev/null)" = '#!' ] && kind=script
  printf '%s\t%s\t%s\t%s\n' "$name" "$prog" "$(cat "$R/run/plateau/$name.pid" 2>/dev/null)" "$kind"
done
echo '== autostart'
cat "$R/etc/plateau/autostart" 2>/dev/null
echo '== link'
ip -o link show
echo '== addr'
ip -o -4 addr show
echo '== route'
ip -4 route show table main
echo '== resolv'
cat "$R/etc/resolv.conf"
"#;

/// Programs that are the node's own plumbing, never a candidate's service.
const PLUMBING: &[&str] = &["docker-init", "tini", "sleep", "sh", "dash", "bash", "dhclient", "wireguard-go"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub cmdline: String,
}

/// A service definition of the node's (`/etc/plateau/services/NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Service {
    pub name: String,
    /// Its first word.
    pub program: String,
    /// The pid its pid file names.
    pub pid: Option<u32>,
    /// The program is a script (`#!`): its process runs an interpreter, or
    /// whatever the script `exec`s.
    pub script: bool,
}

/// A node's state at the deadline, as the kernel showed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Deadline {
    pub processes: Vec<Process>,
    /// The node's own service definitions.
    pub services: Vec<Service>,
    /// Services listed to start at boot, in order.
    pub autostart: Vec<String>,
    /// `(name, MAC)` of the Ethernet links.
    pub ethernet: Vec<(String, String)>,
    /// `ip -o -4 addr show` lines.
    pub addresses: Vec<String>,
    /// `ip -4 route show table main` lines.
    pub routes: Vec<String>,
    /// `/etc/resolv.conf`: the engine's bind mount, which no snapshot keeps
    /// (a re-created node gets the engine's again). `/etc/hosts` is not
    /// brought back: nothing in a brief needs it, and names the candidate
    /// pinned there (a site mapped to a server of theirs) would then outlive
    /// the deadline into the grade of record.
    pub resolv: Vec<String>,
}

/// `/usr/sbin/x` and `/sbin/x` are one program on a merged-/usr system.
fn same_program(exe: &str, program: &str) -> bool {
    let plain = |p: &str| p.strip_prefix("/usr").unwrap_or(p).to_string();
    !program.is_empty() && plain(exe) == plain(program)
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_shell(program: &str) -> bool {
    matches!(base(program), "sh" | "dash" | "bash")
}

impl Deadline {
    /// Parse what [`READ`] printed.
    pub fn read(text: &str) -> Deadline {
        let mut out = Deadline::default();
        let mut section = "";
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("== ") {
                section = match name.trim() {
                    "proc" => "proc",
                    "services" => "services",
                    "autostart" => "autostart",
                    "link" => "link",
                    "addr" => "addr",
                    "route" => "route",
                    "resolv" => "resolv",
                    _ => "",
                };
                continue;
            }
            match section {
                "proc" => {
                    let mut fields = line.splitn(4, '\t');
                    let (Some(pid), Some(ppid), Some(exe)) = (fields.next(), fields.next(), fields.next()) else {
                        continue;
                    };
                    let (Ok(pid), Ok(ppid)) = (pid.parse(), ppid.parse()) else { continue };
                    let cmdline = fields.next().unwrap_or_default().trim().to_string();
                    out.processes.push(Process { pid, ppid, exe: exe.to_string(), cmdline });
                }
                "services" => {
                    let mut fields = line.split('\t');
                    let (Some(name), Some(program)) = (fields.next(), fields.next()) else { continue };
                    let pid = fields.next().and_then(|p| p.trim().parse().ok());
                    let script = fields.next().is_some_and(|k| k.trim() == "script");
                    out.services.push(Service { name: name.to_string(), program: program.to_string(), pid, script });
                }
                "autostart" => {
                    let name = line.trim();
                    if !name.is_empty() && !name.starts_with('#') {
                        out.autostart.push(name.to_string());
                    }
                }
                "link" => {
                    // `2: eth0@if99: <...> ... \    link/ether 02:42:... brd ...`
                    let name = line.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string());
                    let mac = line.split("link/ether ").nth(1).and_then(|r| r.split_whitespace().next());
                    if let (Some(name), Some(mac)) = (name, mac) {
                        out.ethernet.push((name, mac.to_string()));
                    }
                }
                "addr" => out.addresses.push(line.to_string()),
                "route" if !line.trim().is_empty() => out.routes.push(line.trim().to_string()),
                "resolv" => out.resolv.push(line.to_string()),
                _ => {}
            }
        }
        out
    }

    fn alive(&self, pid: u32) -> Option<&Process> {
        self.processes.iter().find(|p| p.pid == pid)
    }

    /// Whether a process runs a program: its executable, or the script its
    /// interpreter runs.
    fn runs(process: &Process, program: &str) -> bool {
        same_program(&process.exe, program) || process.cmdline.split_whitespace().take(2).any(|w| w == program)
    }

    /// The services that ran at the deadline, in the order the node starts
    /// them: a process runs the definition's program (whoever started it),
    /// or the process its pid file names is alive and runs it (a definition
    /// that is a shell line or a script, which may `exec` another program:
    /// alive suffices).
    pub fn running_services(&self) -> Vec<String> {
        let running = |s: &Service| {
            let by_program = !is_shell(&s.program) && self.processes.iter().any(|p| Self::runs(p, &s.program));
            let loose = s.script || is_shell(&s.program);
            let by_pid = s.pid.and_then(|pid| self.alive(pid)).is_some_and(|p| loose || Self::runs(p, &s.program));
            (by_program || by_pid).then(|| s.name.clone())
        };
        let mut names: Vec<String> = self.services.iter().filter_map(running).collect();
        let rank = |n: &String| self.autostart.iter().position(|a| a == n).unwrap_or(usize::MAX);
        names.sort_by_key(|n| rank(n));
        names
    }

    /// WireGuard interfaces that were up (a `wireguard-go IFNAME` process).
    pub fn wireguard(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .processes
            .iter()
            .filter(|p| base(&p.exe) == "wireguard-go")
            .filter_map(|p| p.cmdline.split_whitespace().nth(1).map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The Ethernet links (by MAC) a DHCP client ran for (`dhclient … IFNAME`).
    pub fn dhcp_clients(&self) -> Vec<String> {
        let mut macs: Vec<String> = self
            .processes
            .iter()
            .filter(|p| base(&p.exe) == "dhclient")
            .flat_map(|p| p.cmdline.split_whitespace().filter_map(|w| self.mac_of(w)).collect::<Vec<_>>())
            .collect();
        macs.sort();
        macs.dedup();
        macs
    }

    /// Whether a link held an address from a DHCP server (the kernel marks
    /// it `dynamic`: it has a lifetime).
    fn leased(&self, mac: &str) -> bool {
        self.addresses.iter().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.contains(&"dynamic") && words.get(1).and_then(|dev| self.mac_of(dev)).as_deref() == Some(mac)
        })
    }

    fn mac_of(&self, dev: &str) -> Option<String> {
        self.ethernet.iter().find(|(name, _)| name == dev).map(|(_, mac)| mac.clone())
    }

    /// Whether a process runs a program of the node's service definitions.
    fn defined(&self, process: &Process) -> bool {
        self.services.iter().any(|s| Self::runs(process, &s.program))
    }

    /// Whether one of a process's ancestors is a service's daemon (a DC's
    /// `samba` starts `smbd` and `winbindd`): it is that service's. An SSH
    /// session is not the SSH service's.
    fn spawned_by_service(&self, process: &Process) -> bool {
        let mut ppid = process.ppid;
        for _ in 0..64 {
            let Some(parent) = self.alive(ppid).filter(|p| p.pid != 1) else { return false };
            if self.defined(parent) && base(&parent.exe) != "sshd" {
                return true;
            }
            ppid = parent.ppid;
        }
        false
    }

    /// Programs that ran and that no definition of the node's names: they
    /// are not started again (nothing says how). Helpers a daemon starts on
    /// demand (`/usr/libexec`, `/usr/lib`) and what a service's pid file
    /// names are that service's.
    pub fn strays(&self) -> Vec<String> {
        let helper = |exe: &str| exe.starts_with("/usr/libexec/") || exe.starts_with("/usr/lib/");
        let named = |p: &Process| self.services.iter().any(|s| s.pid == Some(p.pid));
        let mut strays: Vec<String> = self
            .processes
            .iter()
            .filter(|p| p.pid != 1 && !PLUMBING.contains(&base(&p.exe)) && !helper(&p.exe))
            .filter(|p| !self.defined(p) && !named(p))
            .filter(|p| !self.spawned_by_service(p))
            .map(|p| format!("{} ({})", p.exe, p.cmdline))
            .collect();
        strays.sort();
        strays.dedup_by(|a, b| a.split(' ').next() == b.split(' ').next());
        strays
    }

    /// The plan `plateau-init` follows when the node is re-created (see
    /// `images/base/overlay/usr/local/sbin/plateau-init`): one instruction
    /// a line, interfaces named by their MAC. `network`: the node could
    /// change its addresses and routes (it has NET_ADMIN), so they come
    /// back as they were; without it they are the engine's, set again.
    pub fn runtime_file(&self, network: bool) -> String {
        let mut out = String::from("# Plateau: the node as it stood at the deadline\n");
        for line in &self.resolv {
            out.push_str(&format!("resolv {line}\n"));
        }
        if network {
            self.network_lines(&mut out);
        }
        // A client that held no lease at the deadline is not started again:
        // the link had no address by DHCP then, and must not get one after.
        for mac in self.dhcp_clients().into_iter().filter(|mac| network && self.leased(mac)) {
            out.push_str(&format!("dhclient {mac}\n"));
        }
        for name in self.running_services() {
            out.push_str(&format!("service {name}\n"));
        }
        for name in self.wireguard() {
            out.push_str(&format!("wireguard {name}\n"));
        }
        out
    }

    fn network_lines(&self, out: &mut String) {
        let mac_of = |dev: &str| self.mac_of(dev);
        for (_, mac) in &self.ethernet {
            out.push_str(&format!("link {mac}\n"));
        }
        for line in &self.addresses {
            // `98: eth0    inet 10.0.0.5/24 brd ... scope global dynamic eth0\       valid_lft 86341sec preferred_lft 86341sec`
            let words: Vec<&str> = line.split_whitespace().collect();
            let (Some(dev), Some(at)) = (words.get(1), words.iter().position(|w| *w == "inet")) else { continue };
            let (Some(mac), Some(cidr)) = (mac_of(dev), words.get(at + 1)) else { continue };
            let lifetime = |key: &str| {
                let value = words.iter().position(|w| *w == key).and_then(|i| words.get(i + 1)).copied();
                value.unwrap_or("forever").trim_end_matches("sec").to_string()
            };
            out.push_str(&format!("addr {mac} {cidr} {} {}\n", lifetime("valid_lft"), lifetime("preferred_lft")));
        }
        for route in &self.routes {
            let words: Vec<&str> = route.split_whitespace().collect();
            let Some(i) = words.iter().position(|w| *w == "dev") else { continue };
            // Routes of the kernel's own (an address's subnet) come back with the address.
            if words.windows(2).any(|w| w == ["proto", "kernel"]) {
                continue;
            }
            let Some(mac) = words.get(i + 1).and_then(|dev| mac_of(dev)) else { continue };
            let spec: Vec<&str> =
                words.iter().enumerate().filter(|(j, _)| *j != i && *j != i + 1).map(|(_, w)| *w).collect();
            out.push_str(&format!("route {mac} {}\n", spec.join(" ")));
        }
    }

    /// What the re-created node will not have, for the grid.
    pub fn notes(&self, node: &str) -> Vec<String> {
        let unleased = self.dhcp_clients().into_iter().filter(|mac| !self.leased(mac)).map(|mac| {
            format!("{node}: the DHCP client of {mac} held no lease at the deadline: graded without an address by DHCP")
        });
        let strays = self
            .strays()
            .into_iter()
            .map(|s| format!("{node}: a program ran at the deadline that no service defines, not started again: {s}"));
        unleased.chain(strays).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read off a paused workstation of the full exam: cupsd and sshd from
    /// their definitions, the VPN's service (a shell line whose pid file
    /// names its `sleep`), wireguard-go for wg0, dnsmasq started by hand,
    /// winbind defined but stopped, an address typed by hand.
    const NOMADE: &str = "== proc\n\
        1\t0\t/usr/sbin/docker-init\t/sbin/docker-init -- /usr/local/sbin/plateau-init\n\
        8\t1\t/usr/bin/sleep\tsleep infinity\n\
        22\t1\t/usr/sbin/sshd\tsshd: /usr/sbin/sshd -D -e [listener] 0 of 10-100 startups\n\
        34\t1\t/usr/sbin/cupsd\t/usr/sbin/cupsd -f\n\
        46\t1\t/usr/bin/sleep\tsleep infinity\n\
        62\t1\t/usr/bin/wireguard-go\twireguard-go wg0\n\
        66\t1\t/usr/sbin/dhclient\tdhclient -nw eth0\n\
        70\t1\t/usr/sbin/dnsmasq\tdnsmasq -k\n\
        == services\n\
        cups\t/usr/sbin/cupsd\t34\tbinary\n\
        sshd\t/usr/sbin/sshd\t22\tbinary\n\
        wg0\t/bin/sh\t46\tbinary\n\
        winbind\t/usr/sbin/winbindd\t\tbinary\n\
        == autostart\nsshd\ncups\nwg0\nwinbind\n\
        == link\n\
        1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n\
        2: wg0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1420 qdisc pfifo_fast state UNKNOWN mode DEFAULT group default qlen 500\\    link/none \n\
        98: eth0@if99: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default \\    link/ether 02:42:64:48:5f:32 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n\
        == addr\n\
        1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
        2: wg0    inet 10.99.0.2/24 scope global wg0\\       valid_lft forever preferred_lft forever\n\
        98: eth0    inet 100.72.95.50/24 brd 100.72.95.255 scope global eth0\\       valid_lft forever preferred_lft forever\n\
        98: eth0    inet 10.20.1.77/24 brd 10.20.1.255 scope global dynamic eth0\\       valid_lft 86341sec preferred_lft 86341sec\n\
        == route\n\
        default via 100.72.95.254 dev eth0 \n\
        10.40.198.0/24 dev wg0 scope link \n\
        10.99.0.0/24 dev wg0 proto kernel scope link src 10.99.0.2 \n\
        100.72.95.0/24 dev eth0 proto kernel scope link src 100.72.95.50 \n\
        192.168.50.0/24 via 100.72.95.1 dev eth0 \n\
        == resolv\nnameserver 10.20.1.10\nsearch agence.lan\n";

    #[test]
    fn the_services_that_ran_whoever_started_them() {
        let d = Deadline::read(NOMADE);
        assert_eq!(d.running_services(), ["sshd", "cups", "wg0"], "winbind is defined and stopped: it stays so");
        assert_eq!(d.wireguard(), ["wg0"]);
        assert_eq!(d.strays(), ["/usr/sbin/dnsmasq (dnsmasq -k)"]);
    }

    #[test]
    fn a_pid_file_proves_nothing_without_its_program() {
        // The candidate points kea's pid file at a process that is not kea.
        let d = Deadline::read(
            "== proc\n8\t1\t/usr/bin/sleep\tsleep infinity\n== services\nkea-dhcp4\t/usr/sbin/kea-dhcp4\t8\tbinary\n",
        );
        assert!(d.running_services().is_empty());
        // Kea started by hand, no pid file: it ran.
        let d = Deadline::read(
            "== proc\n9\t0\t/usr/sbin/kea-dhcp4\tkea-dhcp4 -c /etc/kea/kea-dhcp4.conf\n== services\nkea-dhcp4\t/usr/sbin/kea-dhcp4\t\tbinary\n",
        );
        assert_eq!(d.running_services(), ["kea-dhcp4"]);
        // /sbin and /usr/sbin are one directory.
        let d = Deadline::read("== proc\n9\t1\t/usr/sbin/sshd\tsshd\n== services\nsshd\t/sbin/sshd\t\tbinary\n");
        assert_eq!(d.running_services(), ["sshd"]);
    }

    #[test]
    fn the_runtime_file_names_interfaces_by_mac_and_leaves_the_kernels_routes() {
        let file = Deadline::read(NOMADE).runtime_file(true);
        let expected = "# Plateau: the node as it stood at the deadline\n\
            resolv nameserver 10.20.1.10\n\
            resolv search agence.lan\n\
            link 02:42:64:48:5f:32\n\
            addr 02:42:64:48:5f:32 100.72.95.50/24 forever forever\n\
            addr 02:42:64:48:5f:32 10.20.1.77/24 86341 86341\n\
            route 02:42:64:48:5f:32 default via 100.72.95.254\n\
            route 02:42:64:48:5f:32 192.168.50.0/24 via 100.72.95.1\n\
            dhclient 02:42:64:48:5f:32\n\
            service sshd\nservice cups\nservice wg0\n\
            wireguard wg0\n";
        assert_eq!(file, expected);
        // A node without NET_ADMIN could change none of it: the engine's stand.
        let file = Deadline::read(NOMADE).runtime_file(false);
        assert!(!file.contains("addr ") && !file.contains("route ") && file.contains("service cups"), "{file}");
    }

    #[test]
    fn a_script_service_runs_what_it_execs() {
        // The printer's service is a script that `exec`s ippeveprinter.
        let d = Deadline::read(
            "== proc\n20\t1\t/usr/sbin/ippeveprinter\tippeveprinter -k Imprimante\n\
             21\t1\t/usr/lib/cups/notifier/dbus\tdbus\n\
             == services\nippeveprinter\t/usr/local/sbin/plateau-printer\t20\tscript\n",
        );
        assert_eq!(d.running_services(), ["ippeveprinter"]);
        assert!(d.strays().is_empty(), "{:?}", d.strays());
        // The same script run by its interpreter, with no pid file.
        let d = Deadline::read(
            "== proc\n20\t1\t/usr/bin/dash\tsh /usr/local/sbin/plateau-printer\n\
             == services\nippeveprinter\t/usr/local/sbin/plateau-printer\t\tscript\n",
        );
        assert_eq!(d.running_services(), ["ippeveprinter"]);
    }

    #[test]
    fn a_services_own_children_are_not_strays() {
        // A DC: samba starts smbd and winbindd; the candidate's shell in an
        // SSH session started a daemon that stayed.
        let d = Deadline::read(
            "== proc\n1\t0\t/usr/sbin/docker-init\tdocker-init\n5\t1\t/usr/sbin/samba\tsamba -F\n\
             6\t5\t/usr/sbin/smbd\tsmbd -D\n7\t5\t/usr/sbin/winbindd\twinbindd -D\n\
             9\t1\t/usr/sbin/sshd\tsshd: listener\n10\t9\t/usr/sbin/sshd\tsshd: root@pts/0\n\
             11\t10\t/usr/bin/bash\t-bash\n12\t11\t/usr/sbin/dnsmasq\tdnsmasq\n\
             == services\nsamba\t/usr/sbin/samba\t5\tbinary\nsshd\t/usr/sbin/sshd\t9\tbinary\n",
        );
        assert_eq!(d.running_services(), ["samba", "sshd"]);
        assert_eq!(d.strays(), ["/usr/sbin/dnsmasq (dnsmasq)"]);
    }

    #[test]
    fn a_dhcp_client_that_held_no_lease_at_the_deadline_does_not_lease_after_it() {
        // The same workstation, its lease gone (its DHCP server answered no one).
        let unleased: String = NOMADE.lines().filter(|l| !l.contains("dynamic")).map(|l| format!("{l}\n")).collect();
        let d = Deadline::read(&unleased);
        assert!(!d.runtime_file(true).contains("dhclient"), "{}", d.runtime_file(true));
        let notes = d.notes("ws");
        assert!(notes[0].contains("held no lease at the deadline"), "{notes:?}");
    }

    #[test]
    fn strays_are_named_for_the_grid() {
        let notes = Deadline::read(NOMADE).notes("nomade");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("nomade: a program ran at the deadline that no service defines"), "{notes:?}");
    }
}
