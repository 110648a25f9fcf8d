//! Subnets that overlap: two networks of one plan, or networks of two
//! candidates (every candidate's networks are bridges on the same engines).

use crate::model::ScenarioFile;
use crate::plan::{CandidatePlan, PlannedNetwork};
use crate::validate::Sink;

/// Two networks of one candidate's plan must not overlap.
pub(crate) fn overlaps(networks: &[PlannedNetwork], file: &ScenarioFile, sink: &mut Sink<'_>) {
    for (i, a) in networks.iter().enumerate() {
        for b in &networks[..i] {
            if a.subnet.contains(&b.subnet.network()) || b.subnet.contains(&a.subnet.network()) {
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
            let clash = seen.iter().find(|(c, other)| {
                *c != plan.candidate.id
                    && (net.subnet.contains(&other.subnet.network()) || other.subnet.contains(&net.subnet.network()))
            });
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
