//! The exam room at a glance: for each candidate, what an operator or a
//! trainer watches (clock, access, nodes, last grade, faults, limit
//! events). One read of the database and one of the engine; the console
//! renders it and pushes it to the browser when it changes.

use plateau_engine::platform::NodeStatus;
use plateau_results::{FaultEffect, GradeKind, Status};
use plateau_state::ActiveFault;

use crate::clock::{PREPARATION, PhaseRow};
use crate::context::SessionCtx;
use crate::error::Result;
use crate::limits::LimitEvent;

/// Each engine of a session and what it reports of the session's nodes;
/// `None` when it could not be asked.
pub type EngineNodes = std::collections::BTreeMap<String, Option<Vec<NodeStatus>>>;

/// One candidate as the room shows them.
#[derive(Debug, Clone)]
pub struct Seat {
    pub id: String,
    pub name: String,
    /// The engine their platform is on (the site file's id).
    pub engine: String,
    /// The latest phase (preparation, then the jury's), if started.
    pub phase: Option<PhaseRow>,
    /// Extra time granted, in seconds (every `extend` on the record).
    pub extra: i64,
    /// Whether the candidate's access is open; `None` when their engine
    /// could not be asked.
    pub access_open: Option<bool>,
    /// `(node, state, health)` as the engine reports them.
    pub nodes: Vec<(String, String, String)>,
    pub grade: Option<GradeSummary>,
    pub faults: Vec<FaultSeen>,
    pub limits: Vec<LimitEvent>,
}

/// The candidate's latest grade, in brief.
#[derive(Debug, Clone)]
pub struct GradeSummary {
    pub at: String,
    pub score: f64,
    pub max_score: u32,
    pub kind: GradeKind,
    /// Why a frozen state could not be graded (its grade is not one).
    pub failure: Option<String>,
    /// `(check id, title, status)`.
    pub checks: Vec<(String, String, Status)>,
}

/// A fault present on a candidate's platform.
#[derive(Debug, Clone)]
pub struct FaultSeen {
    pub fault: ActiveFault,
    /// Where it stands in the last grade taken since it was injected
    /// (`Present` before any).
    pub effect: FaultEffect,
    /// Its ticket's grade in the help desk's tool, in that grade (`Pass`:
    /// handled), when its user's call opened one.
    pub ticket: Option<plateau_results::Status>,
}

impl SessionCtx {
    /// The room now. Each engine is asked once; the candidates of one that
    /// cannot be have their access and nodes unknown, and the rest is still shown.
    pub async fn room(&self) -> Result<Vec<Seat>> {
        let nodes = self.engine_nodes().await?;
        self.room_with(&nodes)
    }

    /// Every node of the session as each of its engines reports them
    /// (relays included), all engines at once.
    pub async fn engine_nodes(&self) -> Result<EngineNodes> {
        let ids = self.engine_ids()?;
        let asked = ids.iter().map(|id| async move {
            let engine = self.engine_on(id).await.ok()?;
            engine.status(self.name(), None).await.ok()
        });
        let answers = futures_util::future::join_all(asked).await;
        Ok(ids.into_iter().zip(answers).collect())
    }

    /// The room with the engines' reports already in hand (a console with
    /// many viewers asks them once for all of them).
    pub fn room_with(&self, nodes: &EngineNodes) -> Result<Vec<Seat>> {
        let phases = self.phases()?;
        // One read of the audit log: extensions and limit events both come from it.
        let audit = self.db().audit_log(self.name())?;
        let limits = crate::limits::limit_events_in(audit.clone());
        let mut seats = Vec::new();
        for candidate in self.candidates()? {
            let id = candidate.id.clone();
            let extra = audit
                .iter()
                .filter(|e| e.action == "exam.extend")
                .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).ok())
                .filter(|d| d["candidate"] == id.as_str())
                .filter_map(|d| d["seconds"].as_i64())
                .sum();
            let (access_open, own) = match nodes.get(&candidate.engine).and_then(Option::as_ref) {
                Some(all) => {
                    let own: Vec<_> = all.iter().filter(|n| n.candidate == id).collect();
                    let access = own.iter().find(|n| n.node == plateau_engine::platform::ACCESS_NODE);
                    let open = access.is_some_and(|a| a.state == "running");
                    let nodes = own
                        .iter()
                        .filter(|n| n.node != plateau_engine::platform::ACCESS_NODE)
                        .map(|n| (n.node.clone(), n.state.clone(), n.health.clone()))
                        .collect();
                    (Some(open), nodes)
                }
                None => (None, Vec::new()),
            };
            let latest = self.grade_of_record(&id)?;
            // The grade says whether each fault present when it ran was repaired.
            let faults = self
                .db()
                .active_faults(self.name(), &id)?
                .into_iter()
                .map(|fault| {
                    let seen = latest.as_ref().and_then(|g| g.faults.iter().find(|f| f.id == fault.fault));
                    let seen = seen.filter(|f| f.injected_at == fault.injected_at);
                    let effect = seen.map_or(FaultEffect::Present, |f| f.effect());
                    let ticket = seen.and_then(|f| f.ticket.as_ref()).map(|t| t.status);
                    FaultSeen { fault, effect, ticket }
                })
                .collect();
            let grade = latest.map(|g| GradeSummary {
                kind: g.basis.as_ref().map_or(GradeKind::Live, |b| b.kind),
                failure: g.basis.as_ref().and_then(|b| b.failure.clone()),
                checks: g.checks.iter().map(|c| (c.id.clone(), c.title.clone(), c.status)).collect(),
                at: g.started_at,
                score: g.score,
                max_score: g.max_score,
            });
            seats.push(Seat {
                phase: phases
                    .iter()
                    .filter(|p| p.deadline.candidate == id)
                    .max_by_key(|p| p.deadline.phase != PREPARATION)
                    .cloned(),
                limits: limits.iter().filter(|l| l.candidate == id).cloned().collect(),
                name: candidate.plan.candidate.name,
                engine: candidate.engine,
                id,
                extra,
                access_open,
                nodes: own,
                grade,
                faults,
            });
        }
        Ok(seats)
    }
}
