//! Subnets that overlap: two networks of one plan, or networks of two
//! candidates (every candidate's networks are bridges on the same engines).

use ipnet::Ipv4Net;

use crate::model::ScenarioFile;
use crate::plan::{CandidatePlan, PlannedNetwork};
use crate::validate::Sink;
use crate::vars::overlap;

/// A subnet another network holds on the engine, and who holds it (said in
/// the error when the scenario's own subnet overlaps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenSubnet {
    pub subnet: Ipv4Net,
    pub holder: String,
}

/// Two networks of one candidate's plan must not overlap.
pub(crate) fn overlaps(networks: &[PlannedNetwork], file: &ScenarioFile, sink: &mut Sink<'_>) {
    for (i, a) in networks.iter().enumerate() {
        for b in &networks[..i] {
            if overlap(&a.subnet, &b.subnet) {
                let index = file.networks.iter().position(|n| n.id == a.id).unwrap_or(i);
                sink.at(
                    &format!("networks[{index}].subnet"),
                    "overlapping-subnets",
                    format!("{} (`{}`) overlaps {} (`{}`)", a.subnet, a.id, b.subnet, b.id),
                    "overlaps another network",
                    Some("give every network its own subnet".into()),
                );
            }
        }
    }
}

/// Every candidate's networks are bridges on the same engines: two that
/// overlap cannot both be made (`up` would fail on the second). Said here,
/// with the candidates named, before anything is created.
pub(crate) fn across_candidates(plans: &[CandidatePlan], file: &ScenarioFile, sink: &mut Sink<'_>) {
    const SHOWN: usize = 10;
    let mut seen: Vec<(&str, &PlannedNetwork)> = Vec::new();
    let mut found = 0;
    for plan in plans {
        for net in &plan.networks {
            let clash = seen.iter().find(|(c, other)| *c != plan.candidate.id && overlap(&net.subnet, &other.subnet));
            if let Some((other_candidate, other)) = clash {
                found += 1;
                if found <= SHOWN {
                    let index = file.networks.iter().position(|n| n.id == net.id).unwrap_or(0);
                    sink.at(
                        &format!("networks[{index}].subnet"),
                        "subnets-collide",
                        format!(
                            "candidate `{}`'s `{}` ({}) overlaps candidate `{other_candidate}`'s `{}` ({}): \
                             the engine cannot make both",
                            plan.candidate.id, net.id, net.subnet, other.id, other.subnet
                        ),
                        "drawn for several candidates",
                        Some(
                            "draw subnets from a range with room for every candidate and every network \
                             (a larger `subnet_in`), and give each network its own `subnet_in`"
                                .into(),
                        ),
                    );
                }
            }
            seen.push((&plan.candidate.id, net));
        }
    }
    if found > SHOWN {
        sink.at(
            "networks",
            "subnets-collide",
            format!("{} more collisions between candidates' subnets", found - SHOWN),
            "here",
            None,
        );
    }
}

/// A subnet written in the file (or a range too full to draw around them)
/// that overlaps a network already on the engine: the engine would refuse
/// it when `up` came to it, after other candidates were made.
pub(crate) fn clear_of(plans: &[CandidatePlan], taken: &[TakenSubnet], file: &ScenarioFile, sink: &mut Sink<'_>) {
    for plan in plans {
        for net in &plan.networks {
            if let Some(held) = taken.iter().find(|t| overlap(&t.subnet, &net.subnet)) {
                let index = file.networks.iter().position(|n| n.id == net.id).unwrap_or(0);
                sink.at(
                    &format!("networks[{index}].subnet"),
                    "subnet-in-use",
                    format!(
                        "candidate `{}`'s `{}` ({}) overlaps {} ({}), already on the engine",
                        plan.candidate.id, net.id, net.subnet, held.holder, held.subnet
                    ),
                    "taken on the engine",
                    Some(
                        "draw this network's subnet from a range with room (`subnet_in`), or remove the other \
                         network first (`plateau down SESSION` for another session's)"
                            .into(),
                    ),
                );
            }
        }
    }
}
