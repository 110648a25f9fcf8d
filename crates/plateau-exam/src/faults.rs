//! Faults: the scenario's and the built-in ones, run through the grader's
//! access (never as the candidate), recorded with the checks they break, and
//! audited. Scheduled faults are injected on time by the supervisor.

use std::collections::BTreeMap;
use std::time::Duration;

use plateau_grade::checks::sh;
use plateau_grade::generic::generic_fault;
use plateau_grade::steps::run_steps;
use plateau_results::{CandidateGrade, Status};
use plateau_scenario::model::{Request, Step};
use plateau_state::{ActiveFault, CandidateRecord, ScheduledFault};
use serde_json::json;

use crate::clock::now;
use crate::context::SessionCtx;
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;

/// Which faults to inject.
#[derive(Debug, Clone)]
pub enum Pick {
    /// A fault of the scenario, or a built-in one (which then needs `node`).
    Named(String),
    /// This many of the scenario's faults, drawn at random per candidate.
    Random(usize),
}

/// A request to inject faults.
#[derive(Debug, Clone)]
pub struct Injection {
    pub pick: Pick,
    /// Inject later, at this Unix time (the supervisor does it).
    pub at: Option<i64>,
    /// The node a built-in fault applies to.
    pub node: Option<String>,
    /// A built-in fault's parameters.
    pub params: Vec<(String, String)>,
}

/// What happened to one fault on one candidate's platform.
#[derive(Debug)]
pub struct FaultOutcome {
    pub candidate: String,
    pub fault: String,
    pub result: std::result::Result<FaultDone, String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum FaultDone {
    /// Injected as `id` (a built-in's id names its target, e.g.
    /// `stop-service:kea-dhcp4@dhcp`); the checks it breaks (declared, or
    /// measured for a built-in).
    Injected {
        id: String,
        breaks: Vec<String>,
        /// The ticket its user's request opened in the help desk's tool.
        ticket: Option<u64>,
    },
    Scheduled {
        at: i64,
    },
    Reverted,
}

/// The faults of a session: the scenario's, the built-ins, those present.
pub struct FaultCatalogue {
    /// `(id, title, breaks)` of the scenario's faults.
    pub scenario: Vec<(String, String, Vec<String>)>,
    /// `(id, parameters, what it does)` of the built-in faults.
    pub builtin: &'static [(&'static str, &'static str, &'static str)],
    /// `(candidate, fault)` present now.
    pub present: Vec<(String, ActiveFault)>,
    /// Faults to inject later, not injected yet.
    pub scheduled: Vec<ScheduledFault>,
}

/// `+10min` from now, or an RFC 3339 time, as Unix seconds.
pub fn when_to_unix(text: &str) -> Result<i64> {
    let at = match text.strip_prefix('+') {
        Some(rel) => {
            let d = humantime::parse_duration(rel).map_err(|e| Error::Refused(format!("`{text}`: {e}")))?;
            return Ok(now() + d.as_secs() as i64);
        }
        None => humantime::parse_rfc3339_weak(text)
            .map_err(|e| Error::Refused(format!("`{text}` is not `+DURATION` or an RFC 3339 time: {e}")))?,
    };
    Ok(at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

impl SessionCtx {
    pub fn fault_catalogue(&self) -> Result<FaultCatalogue> {
        let candidates = self.candidates()?;
        let Some(first) = candidates.first() else { refuse!("session `{}` has no candidates", self.name()) };
        let mut present = Vec::new();
        for c in &candidates {
            for f in self.db().active_faults(self.name(), &c.id)? {
                present.push((c.id.clone(), f));
            }
        }
        Ok(FaultCatalogue {
            scenario: first.plan.faults.iter().map(|f| (f.id.clone(), f.title.clone(), f.breaks.clone())).collect(),
            builtin: plateau_grade::generic::GENERIC,
            present,
            scheduled: self.db().pending_faults(self.name())?,
        })
    }

    /// Inject faults into one candidate's platform or every one (now, or
    /// scheduled); a failure on one does not stop the others.
    pub async fn inject(
        &self,
        only: Option<&str>,
        injection: &Injection,
        progress: &dyn Progress,
    ) -> Result<Vec<FaultOutcome>> {
        let params: BTreeMap<String, String> = injection.params.iter().cloned().collect();
        let mut outcomes = Vec::new();
        for candidate in self.some_candidates(only)? {
            let faults: Vec<String> = match &injection.pick {
                Pick::Named(f) => vec![f.clone()],
                Pick::Random(k) => {
                    use rand::seq::IndexedRandom;
                    let ids: Vec<String> = candidate.plan.faults.iter().map(|f| f.id.clone()).collect();
                    ids.sample(&mut rand::rng(), (*k).min(ids.len())).cloned().collect()
                }
            };
            for fault in faults {
                let result = match injection.at {
                    Some(at) => self.schedule(&candidate, &fault, injection, at),
                    None => self.inject_one(&candidate, &fault, injection.node.as_deref(), &params).await,
                };
                let outcome =
                    FaultOutcome { candidate: candidate.id.clone(), fault, result: result.map_err(|e| e.to_string()) };
                report(progress, &outcome);
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }

    fn schedule(&self, candidate: &CandidateRecord, fault: &str, injection: &Injection, at: i64) -> Result<FaultDone> {
        let scheduled = ScheduledFault {
            id: 0,
            candidate: candidate.id.clone(),
            fault: fault.to_string(),
            node: injection.node.clone(),
            params: injection.params.clone(),
            at,
        };
        self.db().schedule_fault(self.name(), &scheduled)?;
        self.audit("fault.schedule", json!({ "candidate": candidate.id, "fault": fault, "at": at }))?;
        Ok(FaultDone::Scheduled { at })
    }

    async fn inject_one(
        &self,
        candidate: &CandidateRecord,
        wanted: &str,
        node: Option<&str>,
        params: &BTreeMap<String, String>,
    ) -> Result<FaultDone> {
        let scenario_fault = candidate.plan.faults.iter().find(|f| f.id == wanted).cloned();
        let (fault, measured) = match scenario_fault {
            Some(f) => (f, false),
            None => {
                let Some(node_id) = node else {
                    refuse!("`{wanted}` is not a fault of the scenario; a built-in fault needs `--node`")
                };
                let Some(node) = candidate.plan.node(node_id) else { refuse!("the platform has no node `{node_id}`") };
                (generic_fault(wanted, node, params)?, true)
            }
        };
        if self.db().active_faults(self.name(), &candidate.id)?.iter().any(|a| a.fault == fault.id) {
            refuse!("{} is already present", fault.id);
        }
        let reach = self.reach(candidate).await?;
        // A built-in fault's checks are measured: those that passed before and
        // fail after. A scenario's fault declares them; the grade after its
        // injection says whether its effect is seen on this platform. Only a
        // fault seen can later be called repaired.
        let before = if measured { Some(self.grade_one(candidate).await?) } else { None };
        run_steps(&reach, &fault.inject, Duration::from_secs(60)).await?;
        // The user's call comes once the fault is there, as in a help desk.
        // A call that fails leaves the fault in place: it is recorded all the
        // same (so `fault revert` can repair it), and the failure is said.
        let call = match &fault.request {
            Some(request) => Some(open_ticket(&reach, request).await),
            None => None,
        };
        let ticket = call.as_ref().and_then(|c| c.as_ref().ok().copied());
        let after = self.grade_one(candidate).await?;
        let (breaks, observed) = match before {
            Some(before) => {
                let breaks = newly_failing(&before, &after);
                let observed = !breaks.is_empty();
                (breaks, observed)
            }
            None => {
                let passes = |id: &String| after.checks.iter().any(|c| &c.id == id && c.status == Status::Pass);
                (fault.breaks.clone(), !fault.breaks.iter().all(passes))
            }
        };
        self.db().fault_injected(
            self.name(),
            &candidate.id,
            &ActiveFault {
                fault: fault.id.clone(),
                title: fault.title.clone(),
                breaks: breaks.clone(),
                revert: fault.revert.clone(),
                injected_at: String::new(),
                observed,
                ticket,
            },
        )?;
        self.audit(
            "fault.inject",
            json!({ "candidate": candidate.id, "fault": fault.id, "breaks": breaks, "observed": observed, "ticket": ticket }),
        )?;
        if let Some(Err(why)) = call {
            refuse!(
                "{} is injected (`plateau fault revert {}` repairs it), but its user's call opened no ticket: {why}",
                fault.id,
                fault.id
            );
        }
        Ok(FaultDone::Injected { id: fault.id, breaks, ticket })
    }

    /// Repair a present fault as the scenario says, on one candidate or all.
    pub async fn revert(&self, only: Option<&str>, id: &str, progress: &dyn Progress) -> Result<Vec<FaultOutcome>> {
        let mut outcomes = Vec::new();
        for candidate in self.some_candidates(only)? {
            let result = self.revert_one(&candidate, id).await.map_err(|e| e.to_string());
            let outcome = FaultOutcome { candidate: candidate.id.clone(), fault: id.to_string(), result };
            report(progress, &outcome);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn revert_one(&self, candidate: &CandidateRecord, id: &str) -> Result<FaultDone> {
        let active = self.db().active_faults(self.name(), &candidate.id)?;
        let Some(fault) = active.iter().find(|a| a.fault == id) else {
            let present: Vec<&str> = active.iter().map(|a| a.fault.as_str()).collect();
            refuse!(
                "{id} is not present (present: {})",
                if present.is_empty() { "none".into() } else { present.join(", ") }
            )
        };
        let reach = self.reach(candidate).await?;
        run_steps(&reach, &fault.revert, Duration::from_secs(60)).await?;
        self.db().fault_reverted(self.name(), &candidate.id, id)?;
        self.audit("fault.revert", json!({ "candidate": candidate.id, "fault": id }))?;
        Ok(FaultDone::Reverted)
    }

    /// Inject the scheduled faults that are due (the supervisor calls this).
    pub async fn inject_due(&self, progress: &dyn Progress) -> Result<Vec<FaultOutcome>> {
        let due: Vec<ScheduledFault> =
            self.db().pending_faults(self.name())?.into_iter().filter(|f| f.at <= now()).collect();
        let mut outcomes = Vec::new();
        for f in due {
            let candidate = self.candidate(&f.candidate)?;
            let params: BTreeMap<String, String> = f.params.iter().cloned().collect();
            let result = self.inject_one(&candidate, &f.fault, f.node.as_deref(), &params).await;
            self.db().scheduled_fault_done(f.id)?;
            let outcome =
                FaultOutcome { candidate: f.candidate, fault: f.fault, result: result.map_err(|e| e.to_string()) };
            report(progress, &outcome);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// Checks that passed before and do not after.
fn newly_failing(before: &CandidateGrade, after: &CandidateGrade) -> Vec<String> {
    let passed = |g: &CandidateGrade, id: &str| g.checks.iter().any(|c| c.id == id && c.status == Status::Pass);
    before.checks.iter().filter(|c| passed(before, &c.id) && !passed(after, &c.id)).map(|c| c.id.clone()).collect()
}

fn report(progress: &dyn Progress, outcome: &FaultOutcome) {
    let FaultOutcome { candidate, fault, result } = outcome;
    match result {
        Ok(done) => progress.done(format!("{candidate}: {}", describe(fault, done))),
        Err(e) => progress.warn(format!("{candidate}: {fault}: {e}")),
    }
}

/// "injected F (breaks: a, b; ticket #7)", "F scheduled (…)", "reverted F".
pub fn describe(fault: &str, done: &FaultDone) -> String {
    match done {
        FaultDone::Injected { id, breaks, ticket } => {
            let broken = if breaks.is_empty() { "no check".into() } else { breaks.join(", ") };
            let opened = ticket.map(|t| format!("; ticket #{t}")).unwrap_or_default();
            format!("injected {id} (breaks: {broken}{opened})")
        }
        FaultDone::Scheduled { .. } => format!("{fault} scheduled (injected by `plateau exam run`)"),
        FaultDone::Reverted => format!("reverted {fault}"),
    }
}

/// Open the user's call as a ticket on the help desk node (its
/// `plateau-request`, as the grader); the ticket's number, or why not.
pub(crate) async fn open_ticket(
    reach: &impl plateau_grade::checks::Reach,
    request: &Request,
) -> std::result::Result<u64, String> {
    let words: Vec<String> =
        [&request.queue, &request.from, &request.subject, &request.text].iter().map(|w| sh(w)).collect();
    let step = Step { node: request.node.clone(), run: format!("plateau-request {}", words.join(" ")) };
    let opened = run_steps(reach, &[step], Duration::from_secs(60)).await.map_err(|e| e.to_string())?;
    let said = opened.first().map(|a| a.output.as_str()).unwrap_or_default();
    ticket_number(said).ok_or_else(|| format!("the tool named no ticket: {}", said.trim()))
}

/// The ticket number `plateau-request` printed (its last line of digits).
fn ticket_number(output: &str) -> Option<u64> {
    output.lines().rev().find_map(|line| line.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticket_opened_is_read_from_the_tools_answer() {
        assert_eq!(ticket_number("7\n"), Some(7));
        assert_eq!(ticket_number("warning: slow\n12\n"), Some(12));
        assert_eq!(ticket_number("plateau-request: `x`: 400 Bad Request"), None);
    }

    #[test]
    fn an_injection_names_the_ticket_it_opened() {
        let done =
            FaultDone::Injected { id: "printer-paused".into(), breaks: vec!["ws-printer".into()], ticket: Some(5) };
        assert_eq!(describe("printer-paused", &done), "injected printer-paused (breaks: ws-printer; ticket #5)");
    }
}
