//! Where `up` puts each candidate's platform: the site's engines read (what
//! they hold, what is left), then `plateau_engine::placement` decides.

use std::collections::{BTreeMap, BTreeSet};

use plateau_engine::Engine;
use plateau_engine::placement::{self, Demand, Room};
use plateau_engine::site::{Address, EngineSpec};
use plateau_scenario::model::Backend;
use plateau_scenario::{Candidate, CandidatePlan};
use plateau_state::CandidateRecord;

use crate::context::Workspace;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// The relay every candidate's access goes through.
const ACCESS_IMAGE: &str = "plateau/access:latest";

/// The label an engine carries when its host runs VMs with KVM.
const KVM: &str = "kvm";

/// The engines `up` may use: each reachable one connected.
pub(crate) struct Engines {
    pub connected: BTreeMap<String, Engine>,
    /// `(engine, why)` for each that cannot be reached.
    pub unreachable: Vec<(String, String)>,
}

impl Workspace {
    pub(crate) async fn engines(&self) -> Engines {
        let mut engines = Engines { connected: BTreeMap::new(), unreachable: Vec::new() };
        for (id, engine) in self.connect_all().await {
            match engine {
                Ok(engine) => {
                    engines.connected.insert(id, engine);
                }
                Err(e) => engines.unreachable.push((id, e.to_string())),
            }
        }
        engines
    }

    /// Each candidate's engine: the roster's pins followed. `placed` are the engines recorded at an
    /// earlier `up` (they stay); `session` is the one placed, whose own
    /// platforms do not count as taken. Unreachable engines take no new
    /// platform; a pin or a need no engine meets is refused with why.
    pub(crate) async fn place(
        &self,
        session: &str,
        candidates: &[Candidate],
        plans: &[CandidatePlan],
        placed: &BTreeMap<String, String>,
        engines: &Engines,
    ) -> Result<BTreeMap<String, String>> {
        if engines.connected.is_empty() {
            let why: Vec<String> = engines.unreachable.iter().map(|(id, why)| format!("`{id}`: {why}")).collect();
            return Err(Error::Refused(format!("no engine can be reached: {}", why.join("; "))));
        }
        let store = self.store()?;
        // Memory taken on each engine by the other sessions of this database.
        let mut used: BTreeMap<String, u64> = BTreeMap::new();
        for other in store.sessions()?.into_iter().filter(|s| s != session) {
            for c in store.candidates(&other)? {
                *used.entry(c.engine.clone()).or_default() += declared_memory(&c.plan);
            }
        }
        let specs: Vec<EngineSpec> = self
            .site
            .engines
            .iter()
            .map(|spec| EngineSpec { drain: spec.drain || !engines.connected.contains_key(&spec.id), ..spec.clone() })
            .collect();
        let mut rooms = Vec::new();
        for spec in &specs {
            let memory = match (spec.memory, engines.connected.get(&spec.id)) {
                (Some(memory), _) => memory,
                (None, Some(engine)) => engine.memory_total().await?.unwrap_or(u64::MAX),
                (None, None) => 0,
            };
            rooms.push(Room { spec, memory, used: used.get(&spec.id).copied().unwrap_or(0) });
        }
        let kvm_somewhere = specs.iter().any(|s| s.labels.iter().any(|l| l == KVM));
        let demands: Vec<Demand> = plans
            .iter()
            .map(|plan| Demand {
                candidate: plan.candidate.id.clone(),
                memory: declared_memory(plan),
                // VMs run without KVM too (slowly): they need it only
                // where the centre says some engine has it.
                needs: if kvm_somewhere && plan.nodes.iter().any(|n| n.backend == Backend::Vm) {
                    vec![KVM.to_string()]
                } else {
                    Vec::new()
                },
                pinned: candidates.iter().find(|c| c.id == plan.candidate.id).and_then(|c| c.engine.clone()),
                placed: placed.get(&plan.candidate.id).cloned(),
            })
            .collect();
        placement::place(&rooms, &demands).map_err(|unplaced| {
            let mut said: Vec<String> = unplaced.iter().map(|u| format!("{}: {}", u.candidate, u.why)).collect();
            said.extend(engines.unreachable.iter().map(|(id, why)| format!("(engine `{id}` is unreachable: {why})")));
            Error::Refused(format!("some candidates cannot be placed:\n  {}", said.join("\n  ")))
        })
    }
}

impl Workspace {
    /// Send every engine of the site file the images its platforms need
    /// (and its helper's), from this host's engine, where it lacks them.
    pub(crate) async fn send_images(
        &self,
        records: &[CandidateRecord],
        engines: &Engines,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut needed: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for r in records {
            let remote = self.site.engines.iter().any(|e| e.id == r.engine && e.address != Address::Default);
            let Some(Engine::Docker(_)) = engines.connected.get(&r.engine) else { continue };
            if !remote {
                continue;
            }
            let images = needed.entry(&r.engine).or_default();
            // A VM node's image (QEMU and the guest's disk) goes like the others.
            for node in &r.plan.nodes {
                images.insert(if node.image.contains(':') {
                    node.image.clone()
                } else {
                    format!("{}:latest", node.image)
                });
            }
            if !r.plan.access.is_empty() {
                images.insert(ACCESS_IMAGE.into());
            }
            images.insert(plateau_engine::HELPER_IMAGE.into());
        }
        if needed.is_empty() {
            return Ok(());
        }
        let source = Engine::connect(self.concurrency).await?;
        for (id, images) in needed {
            let images: Vec<String> = images.into_iter().collect();
            let sent = source.send_images(&engines.connected[id], &images).await?;
            if !sent.is_empty() {
                progress.note(format!("engine `{id}`: sent {} image(s) from this host's engine", sent.len()));
            }
        }
        Ok(())
    }
}

/// What a platform declares it may use: the sum of its nodes' memory limits.
fn declared_memory(plan: &CandidatePlan) -> u64 {
    plan.nodes.iter().map(|n| n.limits().memory).sum()
}
