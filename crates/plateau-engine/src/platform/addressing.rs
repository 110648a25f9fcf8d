//! Where things are: the controller's address for a node and link into a
//! network, free addresses for parking, the engine's gateway.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::query_parameters::InspectContainerOptions;
use plateau_scenario::CandidatePlan;

use crate::Error;

use super::*;

impl DockerEngine {
    /// Where the controller reaches a node's container: its address on the
    /// candidate's access link when it has one (stable whatever the candidate
    /// does to the node's own interfaces), else its first network address.
    pub async fn address(&self, session: &Session, candidate: &str, node: &str) -> Result<Ipv4Addr, Error> {
        let name = session.container_name(candidate, node);
        let networks = self
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| Error::Node { container: name.clone(), message: e.to_string() })?
            .network_settings
            .and_then(|s| s.networks)
            .unwrap_or_default();
        let link = session.network_name(candidate, "access-link");
        let address = |n: &bollard::models::EndpointSettings| n.ip_address.as_deref().and_then(|a| a.parse().ok());
        networks
            .get(&link)
            .and_then(address)
            .or_else(|| {
                let mut all: Vec<_> = networks.iter().collect();
                all.sort_by(|a, b| a.0.cmp(b.0));
                all.into_iter().find_map(|(_, n)| address(n))
            })
            .ok_or_else(|| Error::Node { container: name, message: "has no network address".into() })
    }

    /// The host interface of a candidate network (the controller's link into
    /// it, where DHCP probes are sent).
    pub async fn link(&self, session: &Session, candidate: &str, network: &str) -> Result<String, Error> {
        self.bridge(&session.network_name(candidate, network)).await
    }
}

/// Free addresses of a network from the top down: not used by the plan
/// (statics, gateway, DNS) and not in its DHCP pool.
pub(super) fn free_addresses(plan: &CandidatePlan, network: &str) -> Result<impl Iterator<Item = Ipv4Addr>, Error> {
    let net = plan.network(network).ok_or_else(|| Error::Plan(format!("no network {network}")))?;
    let mut used: Vec<Ipv4Addr> = plan
        .nodes
        .iter()
        .flat_map(|n| n.interfaces.iter())
        .filter(|i| i.network == network)
        .filter_map(|i| i.address)
        .collect();
    used.extend(net.gateway);
    used.extend(net.dns);
    let pool = net.dhcp_pool;
    let hosts: Vec<Ipv4Addr> = net.subnet.hosts().collect();
    Ok(hosts.into_iter().rev().filter(move |a| !used.contains(a) && !pool.is_some_and(|[f, l]| (f..=l).contains(a))))
}

/// The engine's own address on a candidate network (the bridge's gateway,
/// which routes nowhere on internal networks): the highest free address.
pub(super) fn engine_gateway(plan: &CandidatePlan, network: &str) -> Result<Ipv4Addr, Error> {
    free_addresses(plan, network)?
        .next()
        .ok_or_else(|| Error::Plan(format!("network {network} has no free address left for the engine's bridge")))
}

/// Parking addresses for DHCP interfaces, per node, below the engine's gateway.
pub(super) fn parking_addresses(plan: &CandidatePlan) -> Result<HashMap<String, Vec<Ipv4Addr>>, Error> {
    let mut free: HashMap<&str, Vec<Ipv4Addr>> = HashMap::new();
    for net in &plan.networks {
        free.insert(&net.id, free_addresses(plan, &net.id)?.skip(1).collect());
    }
    let mut out: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    for node in &plan.nodes {
        for iface in node.interfaces.iter().filter(|i| i.address.is_none()) {
            let pool = free
                .get_mut(iface.network.as_str())
                .ok_or_else(|| Error::Plan(format!("no network {}", iface.network)))?;
            if pool.is_empty() {
                return Err(Error::Plan(format!("network {} has no free address to park {}", iface.network, node.id)));
            }
            out.entry(node.id.clone()).or_default().push(pool.remove(0));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tai-small's plan for one candidate: lan has a gateway at .254, DNS on
    /// wan, a pool .100–.199, statics dhcp .2 and router .254; ws takes DHCP.
    fn plan() -> CandidatePlan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/tai-small.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let scenario = plateau_scenario::Scenario::parse("tai-small.toml", &text).unwrap();
        scenario.plan("seed", &plateau_scenario::Candidate::numbered(1)).unwrap().remove(0)
    }

    #[test]
    fn the_engine_takes_the_highest_address_the_plan_leaves_free() {
        let plan = plan();
        let lan = plan.network("lan").unwrap();
        let gateway = engine_gateway(&plan, "lan").unwrap();
        // .254 is the router (the plan's gateway): the engine gets .253.
        assert_eq!(gateway.octets()[3], 253, "{gateway} in {}", lan.subnet);
        let [first, last] = lan.dhcp_pool.unwrap();
        let free: Vec<Ipv4Addr> = free_addresses(&plan, "lan").unwrap().collect();
        assert!(free.iter().all(|a| !(first..=last).contains(a)), "the DHCP pool is never handed out");
        assert!(!free.contains(&lan.gateway.unwrap()));
    }

    #[test]
    fn a_dhcp_interface_is_parked_below_the_engines_address_outside_the_pool() {
        let plan = plan();
        let parking = parking_addresses(&plan).unwrap();
        assert_eq!(parking.keys().collect::<Vec<_>>(), ["ws"], "only ws takes its address by DHCP");
        let parked = parking["ws"][0];
        assert_eq!(parked.octets()[3], 252);
        assert_ne!(parked, engine_gateway(&plan, "lan").unwrap());
    }
}
