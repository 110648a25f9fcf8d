//! Rules of variables and templates: variant generators, the `{{names}}`
//! each text may use, and cycles between variables.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde_json::Value;

use super::*;
use crate::vars::{self, template_refs};

pub(super) fn variant(v: &Variant, path: &str, sink: &mut Sink<'_>) {
    let generators = [
        v.pick.is_some(),
        v.subnet_in.is_some(),
        v.mac_prefix.is_some(),
        v.password.is_some(),
        v.range.is_some(),
        v.wireguard_keypair == Some(true),
    ];
    let count = generators.iter().filter(|g| **g).count();
    if count != 1 {
        sink.at(
            path,
            "variant-generator",
            format!("variant `{}` needs exactly one generator, has {count}", path.trim_start_matches("variables.")),
            "here",
            Some(
                "set one of `pick`, `subnet_in` (with `prefix`), `mac_prefix`, `password`, `range`, \
                 `wireguard_keypair = true`"
                    .into(),
            ),
        );
        return;
    }
    if v.prefix.is_some() && v.subnet_in.is_none() {
        sink.at(
            &format!("{path}.prefix"),
            "variant-generator",
            "`prefix` goes with `subnet_in`".into(),
            "unused",
            None,
        );
    }
    if let Some(values) = &v.pick
        && values.is_empty()
    {
        sink.at(
            &format!("{path}.pick"),
            "variant-empty",
            "`pick` has no value to pick".into(),
            "empty",
            Some("list at least as many values as candidates in a room".into()),
        );
    }
    if let Some(block) = &v.subnet_in {
        match block.parse::<Ipv4Net>() {
            Err(_) => sink.at(
                &format!("{path}.subnet_in"),
                "bad-subnet",
                format!("`{block}` is not an IPv4 subnet"),
                "not a subnet",
                Some("write it as `10.20.0.0/16`".into()),
            ),
            Ok(net) => match v.prefix {
                None => sink.at(
                    path,
                    "variant-generator",
                    "`subnet_in` needs `prefix`".into(),
                    "here",
                    Some("add e.g. `prefix = 24`".into()),
                ),
                Some(p) if vars::subnet_count(net, p).is_none() || p > 30 => sink.at(
                    &format!("{path}.prefix"),
                    "bad-prefix",
                    format!("cannot carve /{p} subnets out of {net}"),
                    "bad prefix",
                    Some(format!("use a prefix between {} and 30", net.prefix_len())),
                ),
                Some(_) => {}
            },
        }
    }
    if let Some(prefix) = &v.mac_prefix {
        let parts: Vec<&str> = prefix.split(':').collect();
        if parts.len() > 5 || parts.iter().any(|p| p.len() != 2 || u8::from_str_radix(p, 16).is_err()) {
            sink.at(
                &format!("{path}.mac_prefix"),
                "bad-mac",
                format!("`{prefix}` is not a MAC prefix"),
                "bad prefix",
                Some("write 1 to 5 hex bytes, e.g. `02:50:00`".into()),
            );
        }
    }
    if let Some(len) = v.password
        && !(8..=64).contains(&len)
    {
        sink.at(
            &format!("{path}.password"),
            "bad-password-length",
            format!("a {len}-character password"),
            "length",
            Some("use 8 to 64 characters".into()),
        );
    }
    if let Some([low, high]) = v.range
        && low > high
    {
        sink.at(
            &format!("{path}.range"),
            "bad-range",
            format!("range [{low}, {high}] is empty"),
            "empty",
            Some("write `[low, high]` with low <= high".into()),
        );
    }
}

/// Which `{{names}}` a text may use, by where it stands.
pub(super) fn templates(file: &ScenarioFile, sink: &mut Sink<'_>) {
    let variables: HashSet<&str> = file.variables.keys().map(String::as_str).collect();
    let keypairs: HashSet<&str> = file
        .variables
        .iter()
        .filter(|(_, v)| matches!(v, Variable::Variant(Variant { wireguard_keypair: Some(true), .. })))
        .map(|(name, _)| name.as_str())
        .collect();
    let network_attrs = ["subnet", "gateway", "dns", "prefix", "netmask", "pool_start", "pool_end"];
    let node_nets: HashMap<&str, Vec<&str>> =
        file.nodes.iter().map(|n| (n.id.as_str(), n.interfaces.iter().map(|i| i.network.as_str()).collect())).collect();
    let networks: HashSet<&str> = file.networks.iter().map(|n| n.id.as_str()).collect();

    let json = serde_json::to_value(file).unwrap_or(Value::Null);
    let mut strings = Vec::new();
    collect_strings(&json, String::new(), &mut strings);
    for (path, text) in strings {
        let refs = match template_refs(&text) {
            Ok(refs) => refs,
            Err(_) => {
                sink.at(
                    &path,
                    "unclosed-template",
                    "`{{` is not closed".into(),
                    "unclosed",
                    Some("close it with `}}`".into()),
                );
                continue;
            }
        };
        // Variables and the addressing plan are computed first: variables may
        // only use variables, a network also the networks listed before it.
        let in_network = path
            .strip_prefix("networks[")
            .and_then(|rest| rest.split(']').next())
            .and_then(|i| i.parse::<usize>().ok());
        let early = path.starts_with("variables.") || in_network.is_some();
        let visible = |net: &str| match in_network {
            Some(i) => file.networks[..i.min(file.networks.len())].iter().any(|n| n.id == net),
            None => !early && networks.contains(net),
        };
        for r in refs {
            let name = r.name.as_str();
            let parts: Vec<&str> = name.split('.').collect();
            let known = match parts.as_slice() {
                [v] => variables.contains(v),
                [v, "private" | "public"] => keypairs.contains(v),
                ["candidate", "id" | "name" | "number"] => true,
                ["net", net, attr] => visible(net) && network_attrs.contains(attr),
                ["net", net, "host", n] => visible(net) && (n.parse::<u32>().is_ok() || variables.contains(n)),
                ["node", node, attr] if !early => node_nets
                    .get(node)
                    .is_some_and(|nets| *attr == "address" || *attr == "hostname" || nets.contains(attr)),
                _ => false,
            };
            // A name of the right shape that misses one thing: say which.
            let cause = match parts.as_slice() {
                _ if known || early => None,
                ["node", node, attr] => match node_nets.get(node) {
                    None => {
                        Some((format!("there is no node `{node}`"), suggest(node, node_nets.keys().copied(), "nodes")))
                    }
                    Some(nets) if networks.contains(attr) => Some((
                        format!("node `{node}` has no interface on `{attr}`"),
                        format!(
                            "its networks: {}; or add an interface on `{attr}` to `{node}`",
                            nets.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                    Some(_) => Some((
                        format!("`{attr}` is neither a network nor `address`/`hostname`"),
                        suggest(attr, networks.iter().copied(), "networks"),
                    )),
                },
                ["net", net, ..] if !networks.contains(net) => {
                    Some((format!("there is no network `{net}`"), suggest(net, networks.iter().copied(), "networks")))
                }
                ["net", _, "host", n] => {
                    Some((format!("host number `{n}` is neither a number nor a variable"), "write `host.10`".into()))
                }
                ["net", _, attr] => Some((
                    format!("a network has no `{attr}`"),
                    format!("a network has {}", network_attrs.map(|a| format!("`{a}`")).join(", ")),
                )),
                _ => None,
            };
            if let Some((why, hint)) = cause {
                sink.at_within(
                    &path,
                    &text[r.range.clone()],
                    "unknown-variable",
                    format!("`{{{{{name}}}}}`: {why}"),
                    "unknown",
                    Some(hint),
                );
                continue;
            }
            if !known {
                let mut names: Vec<&str> = variables.iter().copied().collect();
                names.sort();
                let hint = if early && matches!(parts.first(), Some(&"net" | &"node")) {
                    "variables may only use variables and `candidate.*`; a network also the networks listed before it"
                        .to_string()
                } else {
                    format!(
                        "{}; built-ins: `candidate.id|name|number`, `net.<network>.{}|host.<N>`, `node.<node>.address|hostname|<network>`",
                        suggest(name, names.into_iter(), "variables"),
                        network_attrs.join("|")
                    )
                };
                sink.at_within(
                    &path,
                    &text[r.range.clone()],
                    "unknown-variable",
                    format!("`{{{{{name}}}}}` names no variable"),
                    "unknown variable",
                    Some(hint),
                );
            }
        }
    }
    variable_cycles(file, sink);
}

fn collect_strings(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                collect_strings(v, child, out);
            }
        }
        _ => {}
    }
}

pub(super) fn variable_cycles(file: &ScenarioFile, sink: &mut Sink<'_>) {
    let deps: BTreeMap<&str, Vec<String>> = file
        .variables
        .iter()
        .map(|(name, v)| {
            let uses = match v {
                Variable::Value(text) => template_refs(text).unwrap_or_default().into_iter().map(|r| r.name).collect(),
                Variable::Variant(_) => Vec::new(),
            };
            (name.as_str(), uses)
        })
        .collect();
    for start in deps.keys() {
        let mut stack = vec![(*start, vec![start.to_string()])];
        let mut seen = HashSet::new();
        'search: while let Some((at, trail)) = stack.pop() {
            for next in deps.get(at).into_iter().flatten() {
                if next == start {
                    // Report each loop once, at its first member.
                    if trail.iter().any(|t| t.as_str() < *start) {
                        break 'search;
                    }
                    let cycle = [trail.clone(), vec![next.clone()]].concat().join(" -> ");
                    sink.at(
                        &format!("variables.{start}"),
                        "variable-cycle",
                        format!("variables refer to each other in a loop: {cycle}"),
                        "part of a loop",
                        Some("give one of them a plain value".into()),
                    );
                    break 'search;
                }
                if seen.insert(next.clone()) && deps.contains_key(next.as_str()) {
                    stack.push((next.as_str(), [trail.clone(), vec![next.clone()]].concat()));
                }
            }
        }
    }
}
