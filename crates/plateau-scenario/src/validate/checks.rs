//! Rules of the checks: criteria that exist, nodes and networks they name,
//! kinds placed where they can run (read from each kind's `KindSpec`).

use super::*;

/// Every criterion id names one of the framework's criteria; one outside
/// the blocks the scenario grades is said (it would vanish from the grid).
pub(super) fn known_criteria(
    ids: &[String],
    path: &str,
    framework: Option<&Framework>,
    blocks: &[String],
    sink: &mut Sink<'_>,
) {
    let Some(framework) = framework else { return };
    for (i, id) in ids.iter().enumerate() {
        // Said once the blocks themselves are right (else `unknown-block` says it).
        let blocks_known = blocks.iter().all(|b| framework.block(b).is_some());
        if let Some(found) = framework.criterion(id)
            && blocks_known
            && !blocks.is_empty()
            && !blocks.contains(&found.block.id)
        {
            sink.warn(
                &format!("{path}.criteria[{i}]"),
                "criterion-outside-blocks",
                format!(
                    "`{id}` belongs to block `{}`, which this scenario does not grade ({}): \
                     it will be on no grid and in no coverage table",
                    found.block.id,
                    blocks.join(", ")
                ),
                "outside the graded blocks",
                Some(format!(
                    "add `{}` to `scenario.blocks`, or name a criterion of the graded blocks",
                    found.block.id
                )),
            );
        }
        if framework.criterion(id).is_none() {
            let known = framework.criteria().map(|c| c.criterion.id.as_str());
            sink.at(
                &format!("{path}.criteria[{i}]"),
                "unknown-criterion",
                format!("`{}` has no criterion `{id}`", framework.id),
                "unknown criterion",
                Some(suggest(id, known, "criteria")),
            );
        }
    }
}

/// What a check may name: the file's nodes, networks (those with a DHCP
/// pool), the framework and the blocks graded.
pub(super) struct Names<'a> {
    pub nodes: &'a HashMap<&'a str, &'a Node>,
    pub networks: &'a HashSet<&'a str>,
    pub pools: &'a HashSet<&'a str>,
    pub framework: Option<&'a Framework>,
    pub blocks: &'a [String],
}

pub(super) fn check_rules(check: &Check, path: &str, names: &Names<'_>, sink: &mut Sink<'_>) {
    let Names { nodes, networks, pools, framework, blocks } = *names;
    if check.criteria.is_empty() {
        sink.at(
            &format!("{path}.criteria"),
            "no-criterion",
            format!("check `{}` evidences no criterion", check.id),
            "empty",
            Some("add the critère de performance it shows, e.g. `criteria = [\"CP7.2\"]`".into()),
        );
    }
    known_criteria(&check.criteria, path, framework, blocks, sink);
    if let Some(t) = &check.timeout {
        duration(t, &format!("{path}.timeout"), sink);
    }
    let kind = check.kind.name();
    if let Some(from) = &check.from {
        let fpath = format!("{path}.from");
        if check.kind.runs() == Runs::OnNode {
            sink.at_key(
                &fpath,
                "from-on-node-check",
                format!("`{kind}` runs on its node; `from` is for network probes"),
                "not used",
                Some("remove `from`, or set `node`".into()),
            );
        } else if reference(from, &fpath, "node", nodes, sink) {
            let origin = nodes[from.as_str()];
            tools_found(kind, check.kind.spec().tools, from, origin, "is sent with", &fpath, sink);
            if origin.backend != Backend::Container {
                sink.at(
                    &fpath,
                    "probe-origin",
                    format!(
                        "probes are sent from containers Plateau runs; `{from}` is a {} machine",
                        token(&origin.backend)
                    ),
                    "not a container",
                    Some("send the probe from a `probe` node, or omit `from` to send it from the controller".into()),
                );
            }
        }
    }
    match (&check.node, check.kind.runs()) {
        (None, Runs::OnNode) => sink.at(
            path,
            "missing-node",
            format!("`{kind}` check `{}` needs a `node` to run on", check.id),
            "here",
            Some("add `node = \"<node id>\"`".into()),
        ),
        (Some(id), _) => {
            let npath = format!("{path}.node");
            if reference(id, &npath, "node", nodes, sink) && check.kind.runs() == Runs::OnNode {
                let node = nodes[id.as_str()];
                needs_grader(node, &npath, sink);
                let roles = check.kind.required_roles();
                let right_role = roles.is_empty() || roles.contains(&node.role);
                if !right_role {
                    let want: Vec<String> = roles.iter().map(token).collect();
                    sink.at(
                        &npath,
                        "check-on-wrong-role",
                        format!("`{kind}` runs on a {} node; `{id}` is a {}", want.join(" or "), token(&node.role)),
                        "wrong role",
                        Some("point `node` at the right machine".into()),
                    );
                }
                if !check.kind.supports(node.os) {
                    sink.at(
                        &npath,
                        "check-on-wrong-os",
                        format!("`{kind}` cannot run on `{id}` ({})", token(&node.os)),
                        "unsupported here",
                        Some("use a `command` check with the OS's own tool".into()),
                    );
                }
                if right_role {
                    tools_found(kind, check.kind.spec().tools, id, node, "runs", &npath, sink);
                }
                match &check.kind {
                    CheckKind::Command(c) => {
                        let what = format!("check `{}`", check.id);
                        super::programs::programs_found(&c.run, node, &what, &format!("{path}.run"), sink);
                    }
                    CheckKind::ServiceRunning(s) => service_known(&s.service, node, &format!("{path}.service"), sink),
                    CheckKind::Ticket(t) if right_role => super::helpdesk::ticket_known(t, node, path, sink),
                    CheckKind::Asset(a) if right_role => super::helpdesk::asset_known(a, node, path, sink),
                    _ => {}
                }
            }
        }
        (None, Runs::Probe) => {
            let needs_origin = matches!(check.kind, CheckKind::SmbAccess { .. })
                || matches!(check.kind, CheckKind::IppPrinter(crate::checks::print::IppPrinter { test_job: true, .. }));
            if check.from.is_none() && needs_origin {
                sink.at(
                    path,
                    "probe-needs-origin",
                    format!("`{kind}` check `{}` is sent with a client tool from a node", check.id),
                    "here",
                    Some("add `from = \"<probe or workstation node>\"`".into()),
                );
            }
        }
    }
    if let CheckKind::Reach(reach) = &check.kind {
        reach_rules(reach, path, sink);
    }
    if let CheckKind::Document(document) = &check.kind
        && !document.path.starts_with('/')
    {
        sink.at(
            &format!("{path}.path"),
            "relative-path",
            format!("`{}` is read where the brief says to put it: a path from the root", document.path),
            "not absolute",
            Some(format!("e.g. `/home/technicien/{}`", document.path.trim_start_matches("./"))),
        );
    }
    if let CheckKind::HttpGet(crate::checks::network::HttpGet { served_by: Some(server), .. }) = &check.kind {
        let spath = format!("{path}.served_by");
        if reference(server, &spath, "node", nodes, sink)
            && !matches!(nodes[server.as_str()].role, Role::Internet | Role::WebServer)
        {
            sink.at(
                &spath,
                "served-by-unlogged",
                format!("`{server}` keeps no log of the pages it serves: only `internet` and `web-server` nodes do"),
                "not a web server",
                Some(
                    "name the node whose web server must answer (`internet` or `web-server`), or remove `served_by`"
                        .into(),
                ),
            );
        }
    }
    if let CheckKind::FileContains(crate::checks::system::FileContains { pattern, .. }) = &check.kind {
        // A variable stands for a literal; grep -E's word boundaries are the
        // one common ERE form the parser does not know.
        let mut portable = pattern.replace("\\<", "\\b").replace("\\>", "\\b");
        while let Some((start, end)) =
            portable.find("{{").and_then(|s| portable[s..].find("}}").map(|e| (s, s + e + 2)))
        {
            portable.replace_range(start..end, "x");
        }
        if let Err(e) = regex_syntax::Parser::new().parse(&portable) {
            let why = e.to_string().lines().last().unwrap_or_default().trim().trim_start_matches("error: ").to_string();
            sink.at(
                &format!("{path}.pattern"),
                "bad-regex",
                format!("`{pattern}` is not a regular expression: {why}"),
                "invalid",
                Some("an extended regular expression as `grep -E` reads it; escape `.`, `(`, `[` to match them".into()),
            );
        }
    }
    if let CheckKind::DhcpOffer(crate::checks::dhcp::DhcpOffer { network, mac, .. }) = &check.kind {
        if reference(network, &format!("{path}.network"), "network", networks, sink)
            && !pools.contains(network.as_str())
        {
            sink.at(
                &format!("{path}.network"),
                "offer-without-pool",
                format!("`{network}` has no `dhcp_pool`: the scenario plans no DHCP service there"),
                "no pool",
                Some(format!(
                    "add the range the candidate's server hands out to network `{network}`, e.g. `dhcp_pool = [100, 199]`"
                )),
            );
        }
        if let Some(mac) = mac {
            check_mac(mac, &format!("{path}.mac"), sink);
        }
    }
}

/// The programs a check needs are on the machine it runs on or is sent
/// from, as the role reference says (machines Plateau creates from its
/// Linux images only: of others, Plateau knows nothing).
fn tools_found(kind: &str, tools: &[&str], id: &str, node: &Node, how: &str, path: &str, sink: &mut Sink<'_>) {
    if node.backend != Backend::Container || node.os != Os::Linux {
        return;
    }
    let spec = node.role.spec();
    for tool in tools.iter().filter(|t| !spec.has_tool(t)) {
        let with: Vec<String> =
            Role::ALL.iter().filter(|r| r.spec().has_tool(tool)).map(|r| format!("`{}`", token(r))).collect();
        sink.at(
            path,
            "check-tool-missing",
            format!("`{kind}` {how} `{tool}`, and `{id}` (a {}) has no `{tool}`", token(&node.role)),
            "no such program here",
            Some(format!(
                "use a node whose role has it ({}); `plateau roles` lists each role's tools",
                with.join(", ")
            )),
        );
    }
}

/// A service a check looks for is one the node's role defines (Plateau's
/// images: what `plateau-service` manages); others' are unknown to Plateau.
fn service_known(service: &str, node: &Node, path: &str, sink: &mut Sink<'_>) {
    if node.backend == Backend::Static || node.os != Os::Linux || node.image.is_some() {
        return;
    }
    let services = node.role.spec().services;
    if services.iter().any(|(name, _)| *name == service) {
        return;
    }
    let names: Vec<String> = services.iter().map(|(name, _)| format!("`{name}`")).collect();
    sink.warn(
        path,
        "unknown-service",
        format!("`{}` (a {}) has no service `{service}`", node.id, token(&node.role)),
        "not a service of this role",
        Some(format!("its services: {} (`plateau roles`)", names.join(", "))),
    );
}

/// A `reach` target names one destination; a denial needs a positive control.
fn reach_rules(reach: &crate::checks::network::Reach, path: &str, sink: &mut Sink<'_>) {
    use crate::checks::network::{Protocol, Reachability};
    let control = reach.control.iter().map(|c| (format!("{path}.control"), c));
    let targets = reach.targets.iter().enumerate().map(|(i, t)| (format!("{path}.targets[{i}]"), t));
    for (tpath, target) in targets.chain(control) {
        let problem = match (&target.url, &target.host, target.protocol, target.port) {
            (Some(_), Some(_), ..) => Some("give a `url` or a `host`, not both"),
            (Some(_), None, Protocol::Icmp, _) | (Some(_), None, _, Some(_)) => {
                Some("a `url` carries its own scheme and port")
            }
            (None, None, ..) => Some("say where: `host` (with `port`, or `protocol = \"icmp\"`) or `url`"),
            (None, Some(_), Protocol::Tcp, None) => Some("a TCP target needs a `port`"),
            (None, Some(_), Protocol::Icmp, Some(_)) => Some("ICMP has no port"),
            _ => None,
        };
        if let Some(fix) = problem {
            sink.at(
                &tpath,
                "reach-target",
                format!("`reach` target {}: {fix}", target.describe()),
                "here",
                Some(fix.into()),
            );
        }
    }
    if reach.control.as_ref().is_some_and(|c| c.expect == Reachability::Denied) {
        sink.at(
            &format!("{path}.control"),
            "reach-control",
            "a control is something the sender must reach".into(),
            "denied",
            Some("remove `expect` from the control".into()),
        );
    }
    let positive = reach.control.is_some() || reach.targets.iter().any(|t| t.expect == Reachability::Allowed);
    if !positive {
        sink.at(
            &format!("{path}.targets"),
            "reach-needs-control",
            "every target is a denial: a sender with no network at all would pass".into(),
            "only denials",
            Some("add an allowed target, or a `control` the sender always reaches (e.g. its gateway)".into()),
        );
    }
}
