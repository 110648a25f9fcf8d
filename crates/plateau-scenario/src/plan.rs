//! Expansion of a validated scenario for one candidate: variants drawn,
//! templates rendered, addresses computed and checked.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits::{Limits, NodeLimits};
use crate::model::*;
use crate::validate::{Sink, check_mac};
use crate::vars::{self, Candidate};

/// Everything needed to build and grade one candidate's platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CandidatePlan {
    pub candidate: PlannedCandidate,
    pub variables: BTreeMap<String, String>,
    pub networks: Vec<PlannedNetwork>,
    pub nodes: Vec<PlannedNode>,
    pub access: Vec<PlannedAccess>,
    pub brief: Option<String>,
    pub checks: Vec<Check>,
    pub faults: Vec<Fault>,
    pub solution: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedCandidate {
    pub id: String,
    pub name: String,
    pub index: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedNetwork {
    pub id: String,
    pub subnet: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Option<Ipv4Addr>,
    pub dhcp_pool: Option<[Ipv4Addr; 2]>,
    pub candidate_reaches: bool,
    pub internet: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedNode {
    pub id: String,
    pub role: Role,
    pub image: String,
    /// The candidate has a desktop on it in the browser (its image has one).
    #[serde(default)]
    pub desktop: bool,
    pub backend: Backend,
    pub os: Os,
    pub hostname: String,
    pub address: Option<String>,
    pub interfaces: Vec<PlannedInterface>,
    pub capabilities: Vec<Capability>,
    pub depends_on: Vec<String>,
    pub grader: Option<PlannedGrader>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Resource limits in force; `None` in plans stored before limits existed.
    #[serde(default)]
    pub limits: Option<NodeLimits>,
}

impl PlannedNode {
    /// The limits in force: the plan's, or the role's defaults for older plans.
    pub fn limits(&self) -> NodeLimits {
        self.limits.unwrap_or_else(|| NodeLimits::of_role(self.role))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedInterface {
    pub network: String,
    /// Static address; `None` when the interface uses DHCP.
    pub address: Option<Ipv4Addr>,
    pub prefix: u8,
    pub dhcp: bool,
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedGrader {
    pub via: Via,
    pub user: Option<String>,
    pub password: Option<String>,
    pub port: Option<u16>,
    #[serde(default)]
    pub login: WinrmLogin,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedAccess {
    pub node: String,
    pub via: CandidateVia,
    pub user: String,
    pub password: String,
}

impl CandidatePlan {
    pub fn node(&self, id: &str) -> Option<&PlannedNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn network(&self, id: &str) -> Option<&PlannedNetwork> {
        self.networks.iter().find(|n| n.id == id)
    }
}

/// The image a node runs: its own, or its role's.
pub fn image_for(node: &Node) -> String {
    let prefix = if node.backend == Backend::Vm { "vm-" } else { "" };
    // A VM's desktop is its own screen (QEMU's VNC): the same guest image.
    let role_image = match node.role.spec().desktop_image {
        Some(desktop) if node.desktop && node.backend == Backend::Container => desktop,
        _ => node.role.image_name(),
    };
    node.image.clone().unwrap_or_else(|| format!("plateau/{prefix}{role_image}"))
}

pub(crate) fn expand(
    file: &ScenarioFile,
    seed: &str,
    candidate: &Candidate,
    around: vars::Around,
    sink: &mut Sink<'_>,
) -> Option<CandidatePlan> {
    let before = sink.diagnostics.len();
    let variables = variables(file, seed, candidate, around);
    let early = |name: &str| lookup_candidate(candidate, name).or_else(|| variables.get(name).cloned());

    let mut networks = Vec::new();
    for (i, net) in file.networks.iter().enumerate() {
        // A network may use the networks listed before it.
        let planned = {
            let lookup = |name: &str| early(name).or_else(|| lookup_net(&networks, name, &early));
            network(net, &format!("networks[{i}]"), &lookup, sink)
        };
        if let Some(n) = planned {
            networks.push(n);
        }
    }
    crate::subnets::overlaps(&networks, file, sink);

    let mut nodes = Vec::new();
    for (i, node) in file.nodes.iter().enumerate() {
        // A static address may be written with the network's host numbers (`{{net.lan.host.ap_host}}`).
        let lookup = |name: &str| early(name).or_else(|| lookup_net(&networks, name, &early));
        nodes.push(planned_node(node, &file.limits, &format!("nodes[{i}]"), &networks, &lookup, sink));
    }
    static_addresses(&nodes, &networks, file, sink);
    if sink.diagnostics.len() > before {
        return None;
    }

    let full =
        |name: &str| early(name).or_else(|| lookup_net(&networks, name, &early)).or_else(|| lookup_node(&nodes, name));
    let mut access = Vec::new();
    for (i, entry) in file.candidate.iter().flat_map(|c| c.access.iter()).enumerate() {
        let path = format!("candidate.access[{i}]");
        let user = text(&entry.user, &format!("{path}.user"), &full, sink);
        let password = match &entry.password {
            Some(p) => text(p, &format!("{path}.password"), &full, sink),
            None => {
                let generated = Variant { password: Some(12), ..Default::default() };
                vars::draw(&generated, seed, &format!("access.{}", entry.node), candidate, around)
            }
        };
        access.push(PlannedAccess { node: entry.node.clone(), via: entry.via, user, password });
    }
    let brief = file.brief.as_ref().map(|b| text(&b.markdown, "brief.markdown", &full, sink));
    let checks = render_list(&file.checks, "checks", &full, sink);
    let faults = render_list(&file.faults, "faults", &full, sink);
    let solution = render_list(&file.solution, "solution", &full, sink);
    if sink.diagnostics.len() > before {
        return None;
    }
    Some(CandidatePlan {
        candidate: PlannedCandidate { id: candidate.id.clone(), name: candidate.name.clone(), index: candidate.index },
        variables,
        networks,
        nodes,
        access,
        brief,
        checks,
        faults,
        solution,
    })
}

fn lookup_candidate(candidate: &Candidate, name: &str) -> Option<String> {
    match name {
        "candidate.id" => Some(candidate.id.clone()),
        "candidate.name" => Some(candidate.name.clone()),
        "candidate.number" => Some((candidate.index + 1).to_string()),
        _ => None,
    }
}

fn lookup_net(networks: &[PlannedNetwork], name: &str, early: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let rest = name.strip_prefix("net.")?;
    let (id, attr) = rest.split_once('.')?;
    let net = networks.iter().find(|n| n.id == id)?;
    if let Some(n) = attr.strip_prefix("host.") {
        let n: u32 = n.parse().ok().or_else(|| early(n)?.parse().ok())?;
        let addr = Ipv4Addr::from(u32::from(net.subnet.network()).checked_add(n)?);
        return (n > 0 && net.subnet.contains(&addr) && addr != net.subnet.broadcast()).then(|| addr.to_string());
    }
    match attr {
        "subnet" => Some(net.subnet.to_string()),
        "prefix" => Some(net.subnet.prefix_len().to_string()),
        "netmask" => Some(net.subnet.netmask().to_string()),
        "gateway" => net.gateway.map(|a| a.to_string()),
        "dns" => net.dns.map(|a| a.to_string()),
        "pool_start" => net.dhcp_pool.map(|p| p[0].to_string()),
        "pool_end" => net.dhcp_pool.map(|p| p[1].to_string()),
        _ => None,
    }
}

fn lookup_node(nodes: &[PlannedNode], name: &str) -> Option<String> {
    let rest = name.strip_prefix("node.")?;
    let (id, attr) = rest.split_once('.')?;
    let node = nodes.iter().find(|n| n.id == id)?;
    match attr {
        "hostname" => Some(node.hostname.clone()),
        "address" => {
            node.interfaces.iter().find_map(|i| i.address).map(|a| a.to_string()).or_else(|| node.address.clone())
        }
        net => node.interfaces.iter().find(|i| i.network == net)?.address.map(|a| a.to_string()),
    }
}

/// Variables in dependency order; validation has ruled out unknown names and loops.
fn variables(file: &ScenarioFile, seed: &str, candidate: &Candidate, around: vars::Around) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (name, v) in &file.variables {
        if let Variable::Variant(spec) = v {
            values.insert(name.clone(), vars::draw(spec, seed, name, candidate, around));
            if spec.wireguard_keypair == Some(true) {
                let (private, public) = vars::wireguard_keypair(seed, name, candidate, around);
                values.insert(format!("{name}.private"), private);
                values.insert(format!("{name}.public"), public);
            }
        }
    }
    let mut pending: Vec<(&String, &String)> = file
        .variables
        .iter()
        .filter_map(|(n, v)| match v {
            Variable::Value(text) => Some((n, text)),
            Variable::Variant(_) => None,
        })
        .collect();
    while !pending.is_empty() {
        let count = pending.len();
        pending.retain(|(name, text)| {
            let lookup = |n: &str| lookup_candidate(candidate, n).or_else(|| values.get(n).cloned());
            match vars::render(text, &lookup) {
                Ok(value) => {
                    values.insert((*name).clone(), value);
                    false
                }
                Err(_) => true,
            }
        });
        if pending.len() == count {
            break;
        }
    }
    values
}

fn text(template: &str, path: &str, lookup: &dyn Fn(&str) -> Option<String>, sink: &mut Sink<'_>) -> String {
    match vars::render(template, lookup) {
        Ok(s) => s,
        Err(name) => {
            let (why, hint) = unresolved(&name, lookup);
            let needle = format!("{{{{{name}}}}}");
            let message = format!("`{needle}` has no value here: {why}");
            sink.at_within(path, &needle, "unresolved-variable", message, "no value", Some(hint));
            String::new()
        }
    }
}

/// Why a well-formed name has no value for this candidate (validation has
/// ruled out names that cannot exist).
fn unresolved(name: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["net", net, "host", n] => {
            let subnet = lookup(&format!("net.{net}.subnet")).unwrap_or_default();
            let hosts = subnet.parse::<ipnet::Ipv4Net>().map_or(0, |s| s.hosts().count());
            (
                format!("host `{n}` is outside `{net}` ({subnet}, hosts 1 to {hosts})"),
                format!("use a host number from 1 to {hosts}, or a larger subnet"),
            )
        }
        ["net", net, attr] => (
            format!("`{net}` has no `{attr}`"),
            format!("set `{}` on network `{net}`", if attr.starts_with("pool") { "dhcp_pool" } else { attr }),
        ),
        ["node", node, net] if !matches!(*net, "address" | "hostname") => (
            format!("`{node}` takes its address on `{net}` by DHCP"),
            "a node reached by DHCP has no static address to refer to; give it `host = N`, or use a variable".into(),
        ),
        _ => {
            ("it is computed later than this text".into(), "use it in checks, faults, the brief or the solution".into())
        }
    }
}

fn render_value(value: &mut Value, path: String, lookup: &dyn Fn(&str) -> Option<String>, sink: &mut Sink<'_>) {
    match value {
        Value::String(s) if s.contains("{{") => *s = text(s, &path, lookup, sink),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                render_value(item, format!("{path}[{i}]"), lookup, sink);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                render_value(v, format!("{path}.{k}"), lookup, sink);
            }
        }
        _ => {}
    }
}

fn render_list<T: Serialize + DeserializeOwned>(
    items: &[T],
    list: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink<'_>,
) -> Vec<T> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut value = serde_json::to_value(item).expect("model types serialize to JSON");
            render_value(&mut value, format!("{list}[{i}]"), lookup, sink);
            // Rendering replaces strings with strings: the shape cannot change.
            serde_json::from_value(value).expect("a rendered item keeps its shape")
        })
        .collect()
}

fn network(
    net: &Network,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink<'_>,
) -> Option<PlannedNetwork> {
    let spath = format!("{path}.subnet");
    let subnet_text = text(&net.subnet, &spath, lookup, sink);
    let subnet: Ipv4Net = match subnet_text.parse() {
        Ok(s) => s,
        Err(_) => {
            sink.at(
                &spath,
                "bad-subnet",
                format!("`{subnet_text}` is not an IPv4 subnet"),
                "not a subnet",
                Some("write it as `192.168.10.0/24`".into()),
            );
            return None;
        }
    };
    if subnet.network() != subnet.addr() {
        sink.at(
            &spath,
            "bad-subnet",
            format!("`{subnet}` has host bits set"),
            "not a network address",
            Some(format!("did you mean `{}`?", subnet.trunc())),
        );
        return None;
    }
    // The DNS server may live elsewhere (a resolver across the router).
    let dns = match &net.dns {
        Some(HostRef::Address(t)) => {
            let t = text(t, &format!("{path}.dns"), lookup, sink);
            match t.parse::<Ipv4Addr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    sink.at(
                        &format!("{path}.dns"),
                        "bad-address",
                        format!("`{t}` is not an IPv4 address"),
                        "not an address",
                        Some("write it as `192.168.10.53`, or give a host number".into()),
                    );
                    None
                }
            }
        }
        Some(d) => host_address(d, subnet, &format!("{path}.dns"), lookup, sink),
        None => None,
    };
    let mut address = |r: &HostRef, field: &str| host_address(r, subnet, &format!("{path}.{field}"), lookup, sink);
    let gateway = net.gateway.as_ref().and_then(|g| address(g, "gateway"));
    let dhcp_pool = match &net.dhcp_pool {
        Some([a, b]) => {
            let first = address(a, "dhcp_pool[0]");
            let last = address(b, "dhcp_pool[1]");
            match (first, last) {
                (Some(f), Some(l)) if f <= l => Some([f, l]),
                (Some(f), Some(l)) => {
                    sink.at(
                        &format!("{path}.dhcp_pool"),
                        "bad-pool",
                        format!("the pool starts at {f} after it ends at {l}"),
                        "reversed",
                        Some("write `[first, last]`".into()),
                    );
                    None
                }
                _ => None,
            }
        }
        None => None,
    };
    Some(PlannedNetwork {
        id: net.id.clone(),
        subnet,
        gateway,
        dns,
        dhcp_pool,
        candidate_reaches: net.candidate_reaches,
        internet: net.internet,
    })
}

/// A host number or an address, which must be a usable host of `subnet`.
fn host_address(
    r: &HostRef,
    subnet: Ipv4Net,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink<'_>,
) -> Option<Ipv4Addr> {
    let hosts = (1u64 << (32 - subnet.prefix_len())).saturating_sub(2);
    let addr = match r {
        HostRef::Host(n) => {
            if *n == 0 || u64::from(*n) > hosts {
                sink.at(
                    path,
                    "host-outside-subnet",
                    format!("host number {n} is not in {subnet}"),
                    "outside the subnet",
                    Some(format!("use a host number from 1 to {hosts}")),
                );
                return None;
            }
            Ipv4Addr::from(u32::from(subnet.network()) + n)
        }
        HostRef::Address(t) => {
            let t = text(t, path, lookup, sink);
            match t.parse::<Ipv4Addr>() {
                Ok(a) => a,
                Err(_) => {
                    sink.at(
                        path,
                        "bad-address",
                        format!("`{t}` is not an IPv4 address"),
                        "not an address",
                        Some("write e.g. `192.168.10.1`, or a host number like `1`".into()),
                    );
                    return None;
                }
            }
        }
    };
    if !subnet.contains(&addr) || addr == subnet.network() || (subnet.prefix_len() < 31 && addr == subnet.broadcast()) {
        sink.at(
            path,
            "address-outside-subnet",
            format!("{addr} is not a host address of {subnet}"),
            "outside the subnet",
            Some(format!(
                "use an address between {} and {}",
                subnet.hosts().next().unwrap_or(subnet.addr()),
                subnet.hosts().last().unwrap_or(subnet.addr())
            )),
        );
        return None;
    }
    Some(addr)
}

fn planned_node(
    node: &Node,
    limits: &Limits,
    path: &str,
    networks: &[PlannedNetwork],
    lookup: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink<'_>,
) -> PlannedNode {
    let mut interfaces = Vec::new();
    for (i, iface) in node.interfaces.iter().enumerate() {
        let ipath = format!("{path}.interfaces[{i}]");
        let Some(net) = networks.iter().find(|n| n.id == iface.network) else { continue };
        let address = match (&iface.host, &iface.address) {
            (Some(h), _) => host_address(&HostRef::Host(*h), net.subnet, &format!("{ipath}.host"), lookup, sink),
            (None, Some(a)) => {
                host_address(&HostRef::Address(a.clone()), net.subnet, &format!("{ipath}.address"), lookup, sink)
            }
            (None, None) => None,
        };
        let mac = iface.mac.as_ref().map(|m| text(m, &format!("{ipath}.mac"), lookup, sink).to_lowercase());
        if let Some(m) = &mac {
            check_mac(m, &format!("{ipath}.mac"), sink);
        }
        interfaces.push(PlannedInterface {
            network: net.id.clone(),
            address,
            prefix: net.subnet.prefix_len(),
            dhcp: iface.dhcp,
            mac,
        });
    }
    let grader = node.grader.as_ref().map(|g| PlannedGrader {
        via: g.via,
        user: g.user.as_ref().map(|u| text(u, &format!("{path}.grader.user"), lookup, sink)),
        password: g.password.as_ref().map(|p| text(p, &format!("{path}.grader.password"), lookup, sink)),
        port: g.port,
        login: g.login,
    });
    PlannedNode {
        id: node.id.clone(),
        role: node.role,
        image: image_for(node),
        desktop: node.desktop,
        backend: node.backend,
        os: node.os,
        hostname: node
            .hostname
            .as_ref()
            .map_or_else(|| node.id.clone(), |h| text(h, &format!("{path}.hostname"), lookup, sink)),
        address: node.address.as_ref().map(|a| text(a, &format!("{path}.address"), lookup, sink)),
        interfaces,
        capabilities: node.capabilities.clone(),
        depends_on: node.depends_on.clone(),
        grader,
        env: node.env.iter().map(|(k, v)| (k.clone(), text(v, &format!("{path}.env.{k}"), lookup, sink))).collect(),
        limits: Some(NodeLimits::resolve(node.role, &[&desktop_limits(node), limits, &node.limits])),
    }
}

/// A desktop (X server, Xfce, Firefox) needs more than its role's defaults.
fn desktop_limits(node: &Node) -> Limits {
    match node.desktop {
        true => {
            Limits { memory: Some(crate::roles::DESKTOP_MEMORY.to_string()), pids: Some(4096), ..Default::default() }
        }
        false => Limits::default(),
    }
}

/// Two static addresses on one network must differ, and none may sit in the DHCP pool.
fn static_addresses(nodes: &[PlannedNode], networks: &[PlannedNetwork], file: &ScenarioFile, sink: &mut Sink<'_>) {
    let mut taken: BTreeMap<(String, Ipv4Addr), String> = BTreeMap::new();
    for (n, node) in nodes.iter().enumerate() {
        for (i, iface) in node.interfaces.iter().enumerate() {
            let Some(addr) = iface.address else { continue };
            let field = if file.nodes[n].interfaces[i].host.is_some() { "host" } else { "address" };
            let path = format!("nodes[{n}].interfaces[{i}].{field}");
            if let Some(other) = taken.insert((iface.network.clone(), addr), node.id.clone()) {
                sink.at(
                    &path,
                    "duplicate-address",
                    format!("{addr} is already `{other}`'s address on `{}`", iface.network),
                    "address taken",
                    Some("give each node its own address".into()),
                );
            }
            let pool = networks.iter().find(|net| net.id == iface.network).and_then(|net| net.dhcp_pool);
            if let Some([first, last]) = pool
                && (first..=last).contains(&addr)
            {
                sink.at(
                    &path,
                    "static-in-dhcp-pool",
                    format!("{addr} of `{}` is inside the DHCP pool {first}–{last} of `{}`", node.id, iface.network),
                    "inside the DHCP pool",
                    Some("move the static address out of the pool, or shrink the pool".into()),
                );
            }
        }
    }
}
