//! What a help desk check names is in the tool as the scenario seeds it:
//! a ticket's queue among the node's queues, an asset's catalog and fields
//! those of its register. A name the node's environment draws from a
//! variable is left to the run.

use super::Sink;
use crate::checks::helpdesk::{ASSET_FIELDS, Asset, CATALOG, Ticket};
use crate::model::{Node, Request, Role};
use std::collections::HashMap;

/// The names of a comma-separated list of the node's environment, or its
/// default; `None` when the scenario templates it.
fn seeded(node: &Node, variable: &str, default: &str) -> Option<Vec<String>> {
    let value = node.env.get(variable).map(String::as_str).filter(|v| !v.trim().is_empty()).unwrap_or(default);
    if value.contains("{{") {
        return None;
    }
    Some(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

/// What is unknown: a queue, a catalog, an asset field.
struct Named {
    code: &'static str,
    what: &'static str,
    variable: &'static str,
}

const QUEUE: Named = Named { code: "unknown-queue", what: "queue", variable: "PLATEAU_HELPDESK_QUEUES" };
const CATALOG_NAMED: Named = Named { code: "unknown-catalog", what: "catalog", variable: "PLATEAU_HELPDESK_CATALOG" };
const FIELD: Named =
    Named { code: "unknown-asset-field", what: "asset field", variable: "PLATEAU_HELPDESK_ASSET_FIELDS" };

fn unknown(name: &str, among: &[String], named: &Named, node: &Node, path: &str, sink: &mut Sink<'_>) {
    let Named { code, what, variable } = named;
    if among.iter().any(|n| n.eq_ignore_ascii_case(name.trim())) || name.contains("{{") {
        return;
    }
    let listed: Vec<String> = among.iter().map(|n| format!("`{n}`")).collect();
    sink.at(
        path,
        code,
        format!("`{}` has no {what} `{name}`: the check could never pass", node.id),
        &format!("not a seeded {what}"),
        Some(format!("name one of {} or add it to the node's `{variable}`", listed.join(", "))),
    );
}

pub(super) fn ticket_known(ticket: &Ticket, node: &Node, path: &str, sink: &mut Sink<'_>) {
    if let Some(queue) = &ticket.queue {
        queue_known(queue, node, &format!("{path}.queue"), sink);
    }
}

fn queue_known(queue: &str, node: &Node, path: &str, sink: &mut Sink<'_>) {
    let Some(mut queues) = seeded(node, QUEUE.variable, "") else { return };
    // Request Tracker's own queue is always there.
    queues.push("General".into());
    unknown(queue, &queues, &QUEUE, node, path, sink);
}

/// A fault's request goes to a help desk node's tool, in one of its queues.
pub(super) fn request_known(request: &Request, path: &str, nodes: &HashMap<&str, &Node>, sink: &mut Sink<'_>) {
    let npath = format!("{path}.node");
    if !super::reference(&request.node, &npath, "node", nodes, sink) {
        return;
    }
    let node = nodes[request.node.as_str()];
    if node.role != Role::Helpdesk {
        sink.at(
            &npath,
            "request-not-to-helpdesk",
            format!("a user's request goes to the help desk's tool; `{}` is a {}", node.id, node.role.image_name()),
            "not a helpdesk node",
            Some("name the scenario's `helpdesk` node".into()),
        );
        return;
    }
    super::needs_grader(node, &npath, sink);
    queue_known(&request.queue, node, &format!("{path}.queue"), sink);
}

pub(super) fn asset_known(asset: &Asset, node: &Node, path: &str, sink: &mut Sink<'_>) {
    if let (Some(catalog), Some(catalogs)) = (&asset.catalog, seeded(node, CATALOG_NAMED.variable, CATALOG)) {
        unknown(catalog, &catalogs, &CATALOG_NAMED, node, &format!("{path}.catalog"), sink);
    }
    let Some(fields) = seeded(node, FIELD.variable, ASSET_FIELDS) else { return };
    for name in asset.fields.keys() {
        unknown(name, &fields, &FIELD, node, &format!("{path}.fields.{name}"), sink);
    }
    for (i, name) in asset.filled.iter().enumerate() {
        unknown(name, &fields, &FIELD, node, &format!("{path}.filled[{i}]"), sink);
    }
}
