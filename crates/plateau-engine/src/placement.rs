//! Which engine each candidate's platform goes to. A platform stays whole on
//! one engine (a candidate's LAN is a bridge of that engine: DHCP does not
//! cross hosts). A platform already placed stays where it is (a re-run of
//! `up` converges; a drained engine keeps what it has); one the roster pins
//! goes there or is refused with why; any other goes, largest first, to the
//! eligible engine with the most memory free: capacity is what the nodes'
//! limits declare, and spreading halves each engine's start storm and what
//! losing one engine costs.

use std::collections::BTreeMap;

use crate::site::EngineSpec;

/// What one candidate's platform asks of an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub candidate: String,
    /// The sum of its nodes' memory limits (bytes).
    pub memory: u64,
    /// Labels the engine must carry (e.g. `kvm` for VM nodes).
    pub needs: Vec<String>,
    /// The engine the roster names for this candidate.
    pub pinned: Option<String>,
    /// The engine it was placed on before (stored at `up`).
    pub placed: Option<String>,
}

/// An engine as placement sees it.
#[derive(Debug, Clone)]
pub struct Room<'a> {
    pub spec: &'a EngineSpec,
    /// Memory Plateau may place there (the site file's, else the engine's).
    pub memory: u64,
    /// Memory already taken by platforms of other sessions.
    pub used: u64,
}

/// A candidate that could not be placed, and why (with what to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    pub candidate: String,
    pub why: String,
}

/// Every candidate's engine, or every candidate that has none.
pub fn place(rooms: &[Room<'_>], demands: &[Demand]) -> Result<BTreeMap<String, String>, Vec<Unplaced>> {
    let mut free: Vec<i128> = rooms.iter().map(|r| i128::from(r.memory) - i128::from(r.used)).collect();
    let index = |id: &str| rooms.iter().position(|r| r.spec.id == id);
    let mut placed = BTreeMap::new();
    let mut unplaced = Vec::new();
    let mut refuse = |candidate: &str, why: String| unplaced.push(Unplaced { candidate: candidate.into(), why });

    // What is already placed stays, and takes its room first.
    for d in demands {
        let Some(id) = &d.placed else { continue };
        match index(id) {
            Some(i) => {
                free[i] -= i128::from(d.memory);
                placed.insert(d.candidate.clone(), id.clone());
            }
            None => refuse(
                &d.candidate,
                format!(
                    "its platform is on engine `{id}`, which the site file no longer lists: put it back, or `down` the session"
                ),
            ),
        }
    }
    let mut rest: Vec<&Demand> = demands.iter().filter(|d| d.placed.is_none()).collect();
    rest.sort_by(|a, b| b.memory.cmp(&a.memory).then(a.candidate.cmp(&b.candidate)));
    for d in rest {
        let lacks =
            |room: &Room<'_>| d.needs.iter().filter(|n| !room.spec.labels.contains(n)).cloned().collect::<Vec<_>>();
        let choice = match &d.pinned {
            Some(id) => match index(id) {
                None => Err(format!("the roster places it on engine `{id}`, which the site file does not list")),
                Some(i) if rooms[i].spec.drain => {
                    Err(format!("the roster places it on engine `{id}`, which is drained (`drain = true`)"))
                }
                Some(i) if !lacks(&rooms[i]).is_empty() => Err(format!(
                    "the roster places it on engine `{id}`, which lacks the label(s) {} its machines need",
                    lacks(&rooms[i]).join(", ")
                )),
                Some(i) if free[i] < i128::from(d.memory) => Err(format!(
                    "the roster places it on engine `{id}`, which has {} free for the {} its platform declares",
                    gib(free[i]),
                    gib(i128::from(d.memory))
                )),
                Some(i) => Ok(i),
            },
            None => {
                let eligible = (0..rooms.len()).filter(|&i| !rooms[i].spec.drain && lacks(&rooms[i]).is_empty());
                let best = eligible.clone().max_by(|&a, &b| free[a].cmp(&free[b]).then(b.cmp(&a)));
                match best {
                    Some(i) if free[i] >= i128::from(d.memory) => Ok(i),
                    Some(i) => Err(format!(
                        "no engine has the {} its platform declares (most free: `{}` with {}); add an engine to the \
                         site file, or lower the scenario's memory limits",
                        gib(i128::from(d.memory)),
                        rooms[i].spec.id,
                        gib(free[i])
                    )),
                    None if d.needs.is_empty() => Err("every engine of the site file is drained".into()),
                    None => Err(format!(
                        "no engine that is not drained has the label(s) {} its machines need",
                        d.needs.join(", ")
                    )),
                }
            }
        };
        match choice {
            Ok(i) => {
                free[i] -= i128::from(d.memory);
                placed.insert(d.candidate.clone(), rooms[i].spec.id.clone());
            }
            Err(why) => refuse(&d.candidate, why),
        }
    }
    if unplaced.is_empty() { Ok(placed) } else { Err(unplaced) }
}

fn gib(bytes: i128) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::Address;

    const GIB: u64 = 1 << 30;

    /// `engines`: `id:GiB[:label][:drain]`, `used` GiB each; `demands`:
    /// `candidate:GiB[:needs][@pinned][=placed]`. What placement says, one
    /// line per candidate.
    fn check(engines: &[&str], demands: &[&str], expect: &str) {
        let parsed: Vec<(EngineSpec, u64, u64)> = engines
            .iter()
            .map(|e| {
                let parts: Vec<&str> = e.split(':').collect();
                let used = parts.iter().find_map(|p| p.strip_prefix("used")).map_or(0, |u| u.parse::<u64>().unwrap());
                let labels = parts[2..].iter().filter(|p| **p != "drain" && !p.starts_with("used"));
                let spec = EngineSpec {
                    id: parts[0].into(),
                    address: Address::Default,
                    memory: None,
                    cpus: None,
                    labels: labels.map(|p| p.to_string()).collect(),
                    drain: parts.contains(&"drain"),
                };
                (spec, parts[1].parse::<u64>().unwrap() * GIB, used * GIB)
            })
            .collect();
        let rooms: Vec<Room<'_>> =
            parsed.iter().map(|(spec, memory, used)| Room { spec, memory: *memory, used: *used }).collect();
        let demands: Vec<Demand> = demands
            .iter()
            .map(|d| {
                let (d, placed) = d.split_once('=').map_or((*d, None), |(d, p)| (d, Some(p.to_string())));
                let (d, pinned) = d.split_once('@').map_or((d, None), |(d, p)| (d, Some(p.to_string())));
                let parts: Vec<&str> = d.split(':').collect();
                Demand {
                    candidate: parts[0].into(),
                    memory: parts[1].parse::<u64>().unwrap() * GIB,
                    needs: parts[2..].iter().map(|p| p.to_string()).collect(),
                    pinned,
                    placed,
                }
            })
            .collect();
        let got = match place(&rooms, &demands) {
            Ok(placed) => placed.iter().map(|(c, e)| format!("{c} -> {e}")).collect::<Vec<_>>().join("\n"),
            Err(unplaced) => {
                unplaced.iter().map(|u| format!("{}: {}", u.candidate, u.why)).collect::<Vec<_>>().join("\n")
            }
        };
        assert_eq!(got, expect.trim(), "\n{got}");
    }

    #[test]
    fn platforms_spread_by_free_memory_largest_first() {
        check(&["a:8", "b:8"], &["c01:3", "c02:3", "c03:3", "c04:3"], "c01 -> a\nc02 -> b\nc03 -> a\nc04 -> b");
        // Another session's platforms already on `a`.
        check(&["a:8:used6", "b:8"], &["c01:3", "c02:3"], "c01 -> b\nc02 -> b");
        // The large platform first: then both fit.
        check(&["a:4", "b:6"], &["c01:2", "c02:5"], "c01 -> a\nc02 -> b");
    }

    #[test]
    fn what_is_placed_stays_even_on_a_drained_engine() {
        check(&["a:8:drain", "b:8"], &["c01:3=a", "c02:3"], "c01 -> a\nc02 -> b");
        check(
            &["b:8"],
            &["c01:3=a"],
            "c01: its platform is on engine `a`, which the site file no longer lists: put it back, or `down` the session",
        );
    }

    #[test]
    fn labels_and_the_roster_are_followed_or_refused_with_why() {
        check(&["a:16", "b:8:kvm"], &["c01:3:kvm", "c02:3"], "c01 -> b\nc02 -> a");
        check(
            &["a:16", "b:8"],
            &["c01:3:kvm"],
            "c01: no engine that is not drained has the label(s) kvm its machines need",
        );
        check(&["a:16", "b:8"], &["c01:3@b", "c02:3"], "c01 -> b\nc02 -> a");
        check(
            &["a:16", "b:8:drain"],
            &["c01:3@b"],
            "c01: the roster places it on engine `b`, which is drained (`drain = true`)",
        );
        check(&["a:16"], &["c01:3@z"], "c01: the roster places it on engine `z`, which the site file does not list");
        check(
            &["a:2"],
            &["c01:3@a"],
            "c01: the roster places it on engine `a`, which has 2.0 GiB free for the 3.0 GiB its platform declares",
        );
    }

    #[test]
    fn a_room_that_does_not_fit_says_where_the_most_room_is() {
        check(
            &["a:4", "b:5"],
            &["c01:4", "c02:4", "c03:4"],
            "c03: no engine has the 4.0 GiB its platform declares (most free: `b` with 1.0 GiB); add an engine to the \
             site file, or lower the scenario's memory limits",
        );
        check(&["a:8:drain"], &["c01:1"], "c01: every engine of the site file is drained");
    }
}
