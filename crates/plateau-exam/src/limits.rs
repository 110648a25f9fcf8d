//! What one candidate may take from the host. Memory, processes, CPU and
//! the console log are bounded by the engine at creation; disk is not (no
//! quota on this storage driver), so the supervisor measures what each node
//! wrote and pauses a node over its budget: the event is audited and shown,
//! and the trainer decides (`resume_node`).

use plateau_engine::Hold;
use plateau_scenario::limits::show_size;
use serde_json::json;

use crate::context::SessionCtx;
use crate::error::{Result, refuse};
use crate::progress::Progress;

/// A node over its disk budget, paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskEvent {
    pub candidate: String,
    pub node: String,
    pub bytes: u64,
    pub budget: u64,
}

/// A limit event on the record (from the audit log).
#[derive(Debug, Clone)]
pub struct LimitEvent {
    pub at: String,
    pub candidate: String,
    /// `limit.disk` (paused) or `limit.resume` (the trainer let it go on).
    pub action: String,
    pub detail: String,
}

/// Free disk an exam needs: every node's budget twice (what the candidates
/// write, and the snapshots of it at the freeze), and a margin.
pub(crate) fn disk_needed(budgets: u64) -> u64 {
    2 * budgets + (1 << 30)
}

impl SessionCtx {
    /// Stop every node that wrote more than its disk budget (paused, or
    /// killed when the freezer cannot pause it); a node that is not running
    /// writes nothing and is left to the trainer. One node that cannot be
    /// stopped is said, and never keeps the others from being checked.
    pub async fn enforce_disk(&self, progress: &dyn Progress) -> Result<Vec<DiskEvent>> {
        let mut events = Vec::new();
        for id in self.engine_ids()? {
            match self.engine_on(&id).await {
                Ok(engine) => events.extend(self.enforce_disk_on(&engine, progress).await?),
                Err(e) => progress.warn(format!("engine `{id}`: its nodes' disks cannot be measured: {e}")),
            }
        }
        Ok(events)
    }

    /// `enforce_disk` on the nodes the session has on one engine.
    async fn enforce_disk_on(
        &self,
        engine: &plateau_engine::Engine,
        progress: &dyn Progress,
    ) -> Result<Vec<DiskEvent>> {
        let candidates = self.candidates()?;
        let held: Vec<(String, String)> = engine
            .status(self.name(), None)
            .await?
            .into_iter()
            .filter(|n| n.state != "running")
            .map(|n| (n.candidate, n.node))
            .collect();
        let mut events = Vec::new();
        for usage in engine.disk_usage(self.name()).await? {
            let Some(node) = candidates
                .iter()
                .find(|c| c.id == usage.candidate)
                .and_then(|c| c.plan.nodes.iter().find(|n| n.id == usage.node))
            else {
                continue;
            };
            // A VM writes into its own disk, which its size bounds: filling
            // it (a `fill-disk` fault, a clumsy candidate) harms no one else.
            if node.backend == plateau_scenario::model::Backend::Vm {
                continue;
            }
            let budget = node.limits().disk;
            if usage.bytes <= budget || held.contains(&(usage.candidate.clone(), usage.node.clone())) {
                continue;
            }
            let how = match engine.hold(&self.engine_session()?, &usage.candidate, &usage.node).await {
                Ok(Hold::Paused) => "paused",
                Ok(Hold::Killed) => "stopped (it could not be paused)",
                Err(e) => {
                    progress.warn(format!(
                        "{}: {} is over its disk budget and could not be stopped: {e}",
                        usage.candidate, usage.node
                    ));
                    continue;
                }
            };
            self.audit(
                "limit.disk",
                json!({ "candidate": usage.candidate, "node": usage.node, "bytes": usage.bytes, "budget": budget, "held": how }),
            )?;
            progress.warn(format!(
                "{}: {} wrote {} (budget {}): {how}; `plateau exam resume` when decided",
                usage.candidate,
                usage.node,
                show_size(usage.bytes),
                show_size(budget)
            ));
            events.push(DiskEvent { candidate: usage.candidate, node: usage.node, bytes: usage.bytes, budget });
        }
        Ok(events)
    }

    /// Let a held node run again (the trainer's decision, with why).
    pub async fn resume_node(&self, candidate: &str, node: &str, reason: &str) -> Result<()> {
        if reason.trim().is_empty() {
            refuse!("say why the node may go on (`--reason`): it is on the record");
        }
        let record = self.candidate(candidate)?;
        if record.plan.node(node).is_none() {
            refuse!("{candidate} has no node `{node}`");
        }
        self.engine_for(&record).await?.release(&self.engine_session()?, candidate, node).await?;
        self.audit("limit.resume", json!({ "candidate": candidate, "node": node, "reason": reason }))?;
        Ok(())
    }

    /// The session's limit events, oldest first.
    pub fn limit_events(&self) -> Result<Vec<LimitEvent>> {
        Ok(limit_events_in(self.db().audit_log(self.name())?))
    }

    /// Refuse to start an exam an engine's disk cannot hold; each engine's
    /// free space (the least of them, if known).
    pub(crate) async fn check_free_disk(&self) -> Result<Option<u64>> {
        let candidates = self.candidates()?;
        let mut least: Option<u64> = None;
        let ids = self.engine_ids()?;
        let several = ids.len() > 1;
        for id in ids {
            let budgets: u64 = candidates
                .iter()
                .filter(|c| c.engine == id)
                .flat_map(|c| c.plan.nodes.iter())
                .map(|n| n.limits().disk)
                .sum();
            let needed = disk_needed(budgets);
            let engine = if several { format!("engine `{id}`") } else { "the engine".to_string() };
            match self.engine_on(&id).await?.free_disk().await? {
                Some(free) if free < needed => refuse!(
                    "{engine}'s disk has {} free; the session needs {} there (its nodes' disk budgets, {}, \
                     twice: what candidates write and its snapshots, plus 1 GiB): free space, or lower `[limits] disk`",
                    show_size(free),
                    show_size(needed),
                    show_size(budgets)
                ),
                Some(free) => least = Some(least.map_or(free, |l| l.min(free))),
                None => {}
            }
        }
        Ok(least)
    }
}

/// The limit events among a session's audit entries, oldest first.
pub(crate) fn limit_events_in(audit: Vec<plateau_state::AuditEntry>) -> Vec<LimitEvent> {
    audit
        .into_iter()
        .filter(|e| e.action.starts_with("limit."))
        .map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            LimitEvent {
                at: e.at,
                candidate: detail["candidate"].as_str().unwrap_or_default().to_string(),
                action: e.action,
                detail: e.detail,
            }
        })
        .collect()
}
