//! Built-in faults usable on any scenario's node: what breaks most often on
//! a real site. Each is a pair of shell steps (inject, revert) run through
//! the grader's access; what was there before is saved on the node under
//! /var/lib/plateau/faults so the revert puts back exactly that.

use crate::Error;
use std::collections::BTreeMap;

use plateau_scenario::PlannedNode;
use plateau_scenario::model::{Backend, Fault, Step};
use plateau_scenario::roles::Accounts;

use crate::checks::sh;

/// The built-in faults: id, parameters, what it does.
pub const GENERIC: &[(&str, &str, &str)] = &[
    ("stop-service", "service=NAME", "stops a service (the candidate must find it and start it)"),
    ("no-gateway", "", "removes the node's default route"),
    ("wrong-dns", "", "points the node's resolver at an address where no DNS answers"),
    ("cut-link", "interface=eth0", "takes a network interface down"),
    ("lock-user", "user=NAME", "locks an account (in the domain on a domain controller)"),
    ("block-port", "port=N", "drops TCP connections to a port, to the node and through it (needs nft)"),
    (
        "fill-disk",
        "size=SIZE",
        "fills the disk (machines: all but 1 MiB of /var by default; containers: `size` required)",
    ),
    ("skew-clock", "by=2h", "moves the clock (machines with their own clock only)"),
];

const SAVED: &str = "/var/lib/plateau/faults";

/// The fault `kind` on `node` with `params`, as scenario faults are written.
pub fn generic_fault(kind: &str, node: &PlannedNode, params: &BTreeMap<String, String>) -> Result<Fault, Error> {
    let param = |name: &str| {
        params.get(name).cloned().ok_or_else(|| Error::Fault(format!("`{kind}` needs `--param {name}=...`")))
    };
    let id = |detail: &str| {
        if detail.is_empty() { format!("{kind}@{}", node.id) } else { format!("{kind}:{detail}@{}", node.id) }
    };
    let (fault_id, title, inject, revert) = match kind {
        "stop-service" => {
            let service = param("service")?;
            let s = sh(&service);
            (
                id(&service),
                format!("Service {service} arrêté sur {}", node.hostname),
                format!("plateau-service stop {s} 2>/dev/null || systemctl stop {s} || service {s} stop"),
                format!("plateau-service start {s} 2>/dev/null || systemctl start {s} || service {s} start"),
            )
        }
        "no-gateway" => (
            id(""),
            format!("Passerelle absente sur {}", node.hostname),
            format!("mkdir -p {SAVED} && ip -4 route show default > {SAVED}/gateway && ip -4 route del default"),
            format!("while read -r route; do ip -4 route replace $route; done < {SAVED}/gateway"),
        ),
        "wrong-dns" => (
            id(""),
            format!("Résolution DNS défaillante sur {}", node.hostname),
            // TEST-NET-1 (RFC 5737): routes nowhere, answers nothing.
            format!(
                "mkdir -p {SAVED} && cp /etc/resolv.conf {SAVED}/resolv.conf && echo 'nameserver 192.0.2.53' > /etc/resolv.conf"
            ),
            format!("cat {SAVED}/resolv.conf > /etc/resolv.conf"),
        ),
        "cut-link" => {
            let interface = params.get("interface").cloned().unwrap_or_else(|| "eth0".into());
            let i = sh(&interface);
            (
                id(&interface),
                format!("Lien {interface} coupé sur {}", node.hostname),
                format!("ip link set dev {i} down"),
                format!("ip link set dev {i} up"),
            )
        }
        "lock-user" => {
            let user = param("user")?;
            let u = sh(&user);
            let (inject, revert) = if node.role.spec().accounts == Accounts::Directory {
                (format!("samba-tool user disable {u}"), format!("samba-tool user enable {u}"))
            } else {
                (format!("usermod -L {u}"), format!("usermod -U {u}"))
            };
            (id(&user), format!("Compte {user} verrouillé"), inject, revert)
        }
        "block-port" => {
            let port: u16 =
                param("port")?.parse().map_err(|_| Error::Fault("`port` must be a TCP port number".to_string()))?;
            (
                id(&port.to_string()),
                format!("Port {port} bloqué sur {}", node.hostname),
                // To the node, and through it when it routes (a router's forward path).
                format!(
                    "nft add table inet plateau_fault_{port} && \
                     nft add chain inet plateau_fault_{port} input '{{ type filter hook input priority -10; }}' && \
                     nft add chain inet plateau_fault_{port} forward '{{ type filter hook forward priority -10; }}' && \
                     nft add rule inet plateau_fault_{port} input tcp dport {port} drop && \
                     nft add rule inet plateau_fault_{port} forward tcp dport {port} drop"
                ),
                format!("nft delete table inet plateau_fault_{port}"),
            )
        }
        "fill-disk" => {
            let size = match params.get("size") {
                Some(s) => sh(s),
                None if node.backend == Backend::Container => {
                    return Err(Error::Fault(format!(
                        "`{}` is a container: its disk is the host's, so filling it would fill the host; give `--param size=...` for a bounded amount",
                        node.id
                    )));
                }
                // All the free space of /var but 1 MiB.
                None => "$(( $(df -k --output=avail /var | tail -1) - 1024 ))K".to_string(),
            };
            (
                id(""),
                format!("Disque plein sur {}", node.hostname),
                format!("mkdir -p {SAVED} && fallocate -l {size} {SAVED}/fill"),
                format!("rm -f {SAVED}/fill"),
            )
        }
        "skew-clock" => {
            if node.backend == Backend::Container {
                return Err(Error::Fault(format!(
                    "`{}` is a container: containers share the host's clock, so skewing it would skew the host; use it on VMs and machines",
                    node.id
                )));
            }
            let by = params.get("by").cloned().unwrap_or_else(|| "2 hours".into());
            (
                id(""),
                format!("Horloge décalée sur {}", node.hostname),
                format!("date -s {}", sh(&format!("+{by}"))),
                format!("date -s {}", sh(&format!("-{by}"))),
            )
        }
        other => {
            let known: Vec<&str> = GENERIC.iter().map(|(k, _, _)| *k).collect();
            return Err(Error::Fault(format!(
                "no fault `{other}` in the scenario or built in (built-ins: {})",
                known.join(", ")
            )));
        }
    };
    Ok(Fault {
        id: fault_id,
        title,
        description: None,
        inject: vec![Step { node: node.id.clone(), run: inject }],
        revert: vec![Step { node: node.id.clone(), run: revert }],
        breaks: Vec::new(),
        criteria: Vec::new(),
        request: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plateau_scenario::model::Role;

    fn node(backend: Backend) -> PlannedNode {
        PlannedNode {
            id: "ws".into(),
            role: Role::Workstation,
            image: "plateau/workstation".into(),
            desktop: false,
            backend,
            os: plateau_scenario::model::Os::Linux,
            hostname: "pc-c01".into(),
            address: None,
            interfaces: vec![],
            capabilities: vec![],
            depends_on: vec![],
            grader: None,
            env: BTreeMap::new(),
            limits: None,
        }
    }

    #[test]
    fn every_built_in_builds_or_says_what_it_needs() {
        let params: BTreeMap<String, String> =
            [("service", "sshd"), ("user", "technicien"), ("port", "22"), ("size", "10M")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
        for (kind, _, _) in GENERIC.iter().filter(|(k, _, _)| *k != "skew-clock") {
            let fault = generic_fault(kind, &node(Backend::Container), &params).unwrap();
            assert!(fault.id.ends_with("@ws") && !fault.inject[0].run.is_empty() && !fault.revert[0].run.is_empty());
        }
        let err = generic_fault("stop-service", &node(Backend::Container), &BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("--param service="), "{err}");
        assert!(
            generic_fault("skew-clock", &node(Backend::Container), &params)
                .unwrap_err()
                .to_string()
                .contains("host's clock")
        );
        assert!(generic_fault("skew-clock", &node(Backend::Static), &params).is_ok());
        assert!(
            generic_fault("fill-disk", &node(Backend::Container), &BTreeMap::new())
                .unwrap_err()
                .to_string()
                .contains("host")
        );
        assert!(
            generic_fault("melt-cpu", &node(Backend::Container), &params)
                .unwrap_err()
                .to_string()
                .contains("built-ins: stop-service")
        );
    }
}
