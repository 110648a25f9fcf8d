//! Grading one candidate: every check run with its own time limit and
//! retries, checks of one candidate in parallel (bounded), then the roll-up
//! onto the framework's criteria, competences and blocks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plateau_scenario::CandidatePlan;
use plateau_scenario::framework::Framework;
use plateau_scenario::model::{Check, Grading, Role};

use crate::checks::{Reach, Seen, evaluate};
use crate::executor::Executor;
use crate::result::*;

/// Time limit of one attempt when the check names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Checks of one candidate in flight at once: below sshd's 10 sessions per
/// connection, since several checks often look at the same node.
pub const CHECKS_IN_FLIGHT: usize = 8;

/// One candidate's platform as the grader reaches it.
pub struct Platform {
    pub roles: Vec<(String, Role)>,
    pub executors: HashMap<String, Executor>,
    /// Host interface of each candidate network (DHCP probes).
    pub links: HashMap<String, String>,
    /// The engine's tunnels into VM guests, open while the platform is graded.
    pub forwards: Vec<plateau_engine::platform::Forward>,
    /// Where probes into its networks go from.
    pub prober: crate::prober::Prober,
}

impl Platform {
    /// Host keys seen on first contact with nodes that had none pinned (machines
    /// Plateau did not provision): `(node, key)`, to pin from now on.
    pub fn first_seen_keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .executors
            .iter()
            .filter_map(|(node, e)| match e {
                Executor::Ssh(ssh) => ssh.first_seen_key().map(|k| (node.clone(), k)),
                _ => None,
            })
            .collect();
        keys.sort();
        keys
    }
}

impl Reach for Platform {
    fn node(&self, id: &str) -> Option<&Executor> {
        self.executors.get(id)
    }

    fn directory(&self) -> Option<&str> {
        self.roles.iter().find(|(_, r)| r.spec().directory).map(|(id, _)| id.as_str())
    }

    fn role(&self, id: &str) -> Option<Role> {
        self.roles.iter().find(|(node, _)| node == id).map(|(_, role)| *role)
    }

    fn link(&self, network: &str) -> Option<&str> {
        self.links.get(network).map(String::as_str)
    }

    fn prober(&self) -> &crate::prober::Prober {
        &self.prober
    }
}

/// Run one check: up to `1 + retries` attempts, each within its time limit.
pub async fn run_check(check: &Check, reach: &impl Reach) -> CheckResult {
    let timeout = check.timeout.as_deref().and_then(|t| humantime::parse_duration(t).ok()).unwrap_or(DEFAULT_TIMEOUT);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let at = now_rfc3339();
        let started = Instant::now();
        let mut seen = Seen::default();
        // The limit also bounds a check that runs several commands; one
        // that sends a probe per target may wait out each of them.
        let budget = timeout * (check.kind.probes() + 1) + Duration::from_secs(1);
        // Time its commands queued for the engine's turns (a room graded
        // at once) is not the check's.
        let outcome = match plateau_engine::queued::within(budget, evaluate(check, reach, timeout, &mut seen)).await {
            Some(outcome) => outcome.map_err(|e| e.to_string()),
            None => Err(format!("no result within {} ms", budget.as_millis())),
        };
        let duration_ms = millis(started.elapsed());
        let met = seen.assertions.iter().filter(|a| a.ok).count();
        let status = match &outcome {
            Err(_) => Status::Error,
            Ok(()) if met == seen.assertions.len() && met > 0 => Status::Pass,
            Ok(()) => Status::Fail,
        };
        if status == Status::Pass || attempts > check.retries {
            let points = match status {
                Status::Pass => f64::from(check.points),
                Status::Fail if check.partial && !seen.assertions.is_empty() => {
                    f64::from(check.points) * met as f64 / seen.assertions.len() as f64
                }
                _ => 0.0,
            };
            return CheckResult {
                id: check.id.clone(),
                title: check.title.clone(),
                kind: check.kind.name().to_string(),
                criteria: check.criteria.clone(),
                status,
                points: (points * 100.0).round() / 100.0,
                max_points: check.points,
                evidence: Evidence {
                    actions: seen.actions,
                    assertions: seen.assertions,
                    error: outcome.err(),
                    at,
                    duration_ms,
                    attempts,
                },
            };
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Grade one candidate's platform.
pub async fn grade(
    plan: &CandidatePlan,
    framework: &Framework,
    blocks: &[String],
    grading: &Grading,
    reach: &impl Reach,
) -> CandidateGrade {
    let started_at = now_rfc3339();
    let started = Instant::now();
    // Futures made up front by a named `async fn`: a closure returning an
    // async block trips the compiler's `Send` inference in spawned tasks.
    let pending: Vec<_> = plan.checks.iter().enumerate().map(|(i, check)| numbered(i, check, reach)).collect();
    let mut checks: Vec<(usize, CheckResult)> =
        futures_util::stream::iter(pending).buffer_unordered(CHECKS_IN_FLIGHT).collect().await;
    checks.sort_by_key(|(i, _)| *i);
    let checks: Vec<CheckResult> = checks.into_iter().map(|(_, c)| c).collect();
    assemble(plan, framework, blocks, grading, checks, started_at, started.elapsed())
}

/// The grade of a platform the grader could not look at at all (a frozen
/// state that could not be re-created): every check `error`, with why. It
/// is stored as what it is, never replaced by another grade.
pub fn unable(
    plan: &CandidatePlan,
    framework: &Framework,
    blocks: &[String],
    grading: &Grading,
    why: &str,
) -> CandidateGrade {
    let at = now_rfc3339();
    let checks = plan
        .checks
        .iter()
        .map(|check| CheckResult {
            id: check.id.clone(),
            title: check.title.clone(),
            kind: check.kind.name().to_string(),
            criteria: check.criteria.clone(),
            status: Status::Error,
            points: 0.0,
            max_points: check.points,
            evidence: Evidence {
                actions: vec![],
                assertions: vec![],
                error: Some(why.to_string()),
                at: at.clone(),
                duration_ms: 0.0,
                attempts: 0,
            },
        })
        .collect();
    assemble(plan, framework, blocks, grading, checks, at, Duration::ZERO)
}

fn assemble(
    plan: &CandidatePlan,
    framework: &Framework,
    blocks: &[String],
    grading: &Grading,
    checks: Vec<CheckResult>,
    started_at: String,
    took: Duration,
) -> CandidateGrade {
    let rolled = roll_up(framework, blocks, grading, &checks);
    CandidateGrade {
        id: plan.candidate.id.clone(),
        name: plan.candidate.name.clone(),
        score: score(&checks),
        max_score: checks.iter().map(|c| c.max_points).sum(),
        started_at,
        duration_ms: took.as_millis() as u64,
        checks,
        criteria: rolled.criteria,
        competences: rolled.competences,
        blocks: rolled.blocks,
        faults: Vec::new(),
        basis: None,
        integrity: Vec::new(),
        unverified: Vec::new(),
        regrades: Vec::new(),
    }
}

fn score(checks: &[CheckResult]) -> f64 {
    (checks.iter().map(|c| c.points).sum::<f64>() * 100.0).round() / 100.0
}

/// How long a platform just re-created from snapshots may take to settle.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(120);
/// How long a live grade looks again at the checks it could not look at: a
/// loaded host (a room graded at once, other work beside it) makes a
/// command outlast its limit now and then, which is no verdict.
pub const LIVE_SETTLE_LIMIT: Duration = Duration::from_secs(10);
const SETTLE_PAUSE: Duration = Duration::from_secs(5);

/// A platform just re-created from its snapshots is still starting (a
/// domain member's winbind looking for its DC, a daemon loading its
/// configuration): the checks whose grader could not look (`error`) are run
/// again after a pause, until they can or `limit` has passed. A pass or a
/// fail stands: only "could not look" is retried, so waiting can never make
/// a platform look better than it is, only let it be seen.
pub async fn settle(
    plan: &CandidatePlan,
    framework: &Framework,
    blocks: &[String],
    grading: &Grading,
    reach: &impl Reach,
    grade: &mut CandidateGrade,
    limit: Duration,
) {
    let started = Instant::now();
    loop {
        let errored: Vec<usize> =
            grade.checks.iter().enumerate().filter(|(_, c)| c.status == Status::Error).map(|(i, _)| i).collect();
        if errored.is_empty() || started.elapsed() + SETTLE_PAUSE > limit {
            break;
        }
        tokio::time::sleep(SETTLE_PAUSE).await;
        let again: Vec<_> = errored
            .iter()
            .filter_map(|&i| {
                plan.checks.iter().find(|c| c.id == grade.checks[i].id).map(|check| numbered(i, check, reach))
            })
            .collect();
        let results: Vec<(usize, CheckResult)> =
            futures_util::stream::iter(again).buffer_unordered(CHECKS_IN_FLIGHT).collect().await;
        for (i, mut result) in results {
            result.evidence.attempts += grade.checks[i].evidence.attempts;
            grade.checks[i] = result;
        }
    }
    let rolled = roll_up(framework, blocks, grading, &grade.checks);
    grade.score = score(&grade.checks);
    grade.criteria = rolled.criteria;
    grade.competences = rolled.competences;
    grade.blocks = rolled.blocks;
    grade.duration_ms += started.elapsed().as_millis() as u64;
}

/// A fault still injected, as the grader needs it.
#[derive(Debug, Clone)]
pub struct Injected {
    pub id: String,
    pub title: String,
    /// The checks it breaks.
    pub breaks: Vec<String>,
    pub injected_at: String,
    /// One of its checks was seen not passing since it was injected.
    pub observed: bool,
}

/// The state of the faults still injected: observed when one of its
/// checks was seen not passing since the injection (before, or in this
/// grade); repaired when observed and every one of them passes now. A fault
/// that breaks no check is never observed, so never "repaired".
pub fn fault_states(active: &[Injected], checks: &[CheckResult]) -> Vec<FaultState> {
    let passes = |id: &String| checks.iter().any(|c| &c.id == id && c.status == Status::Pass);
    active
        .iter()
        .map(|f| {
            let observed = !f.breaks.is_empty() && (f.observed || !f.breaks.iter().all(passes));
            FaultState {
                id: f.id.clone(),
                title: f.title.clone(),
                injected_at: f.injected_at.clone(),
                checks: f.breaks.clone(),
                observed,
                repaired: observed && f.breaks.iter().all(passes),
                ticket: None,
            }
        })
        .collect()
}

async fn numbered(i: usize, check: &Check, reach: &impl Reach) -> (usize, CheckResult) {
    use tracing::Instrument;
    (i, run_check(check, reach).instrument(tracing::info_span!("check", kind = check.kind.spec().name)).await)
}

pub struct RolledUp {
    pub criteria: Vec<CriterionResult>,
    pub competences: Vec<UnitResult>,
    pub blocks: Vec<UnitResult>,
}

/// Criteria of the scenario's blocks (jury-only ones too, so the grid is
/// complete) and any other criterion a check names; each with its verdict.
pub fn roll_up(framework: &Framework, blocks: &[String], grading: &Grading, checks: &[CheckResult]) -> RolledUp {
    let mut by_criterion: BTreeMap<&str, Vec<&CheckResult>> = BTreeMap::new();
    for check in checks {
        for criterion in &check.criteria {
            by_criterion.entry(criterion.as_str()).or_default().push(check);
        }
    }
    let mut criteria = Vec::new();
    let mut competences = Vec::new();
    let mut block_results = Vec::new();
    for block in &framework.blocks {
        let in_scope = plateau_scenario::framework::block_in_scope(blocks, &block.id);
        let mut block_checks: BTreeSet<&str> = BTreeSet::new();
        for competence in &block.competences {
            let mut competence_checks: BTreeSet<&str> = BTreeSet::new();
            for criterion in &competence.criteria {
                let evidencing = by_criterion.get(criterion.id.as_str()).cloned().unwrap_or_default();
                if !in_scope && evidencing.is_empty() {
                    continue;
                }
                competence_checks.extend(evidencing.iter().map(|c| c.id.as_str()));
                criteria.push(CriterionResult {
                    framework: framework.id.clone(),
                    block: block.id.clone(),
                    competence: competence.id.clone(),
                    criterion: criterion.id.clone(),
                    text: criterion.text.clone(),
                    checks: evidencing.iter().map(|c| c.id.clone()).collect(),
                    verdict: if grading.not_examined.contains(&criterion.id) {
                        Verdict::NotExamined
                    } else {
                        criterion_verdict(&evidencing)
                    },
                    material: grading.material.get(&criterion.id).cloned(),
                    jury: None,
                });
            }
            if in_scope || !competence_checks.is_empty() {
                competences.push(unit(&competence.id, &competence.title, &competence_checks, checks, grading));
            }
            block_checks.extend(competence_checks);
        }
        if in_scope || !block_checks.is_empty() {
            block_results.push(unit(&block.id, &block.title, &block_checks, checks, grading));
        }
    }
    RolledUp { criteria, competences, blocks: block_results }
}

fn criterion_verdict(evidencing: &[&CheckResult]) -> Verdict {
    if evidencing.is_empty() {
        Verdict::JuryOnly
    } else if evidencing.iter().all(|c| c.status == Status::Pass) {
        Verdict::Met
    } else if evidencing.iter().any(|c| c.status == Status::Error) {
        Verdict::Undetermined
    } else if evidencing.iter().any(|c| c.points > 0.0) {
        Verdict::Partial
    } else {
        Verdict::NotMet
    }
}

fn unit(id: &str, title: &str, ids: &BTreeSet<&str>, checks: &[CheckResult], grading: &Grading) -> UnitResult {
    let included: Vec<&CheckResult> = checks.iter().filter(|c| ids.contains(c.id.as_str())).collect();
    let points: f64 = included.iter().map(|c| c.points).sum();
    let max_points: u32 = included.iter().map(|c| c.max_points).sum();
    let threshold = grading.threshold_of(id);
    let share = if max_points == 0 { 0.0 } else { points / f64::from(max_points) };
    let verdict = if included.is_empty() {
        Verdict::JuryOnly
    } else if share + 1e-9 >= threshold {
        Verdict::Met
    } else if included.iter().any(|c| c.status == Status::Error) {
        // An error could tip it: the jury decides.
        Verdict::Undetermined
    } else if points > 0.0 {
        Verdict::Partial
    } else {
        Verdict::NotMet
    };
    UnitResult {
        id: id.to_string(),
        title: title.to_string(),
        points: (points * 100.0).round() / 100.0,
        max_points,
        threshold,
        verdict,
    }
}

/// Attach the jury's decisions to a grade's criteria (the automatic verdict stays).
/// Checks that ran a command on a node whose programs the candidate
/// changed (and the grader could not put back) prove nothing: each becomes
/// an `error` naming why, and the grade is rolled up again. `suspects`:
/// `(how the node was reached, why)`, as the evidence's `from` says it.
pub fn distrust(
    grade: &mut CandidateGrade,
    suspects: &[(String, String)],
    framework: &Framework,
    blocks: &[String],
    grading: &Grading,
) {
    if suspects.is_empty() {
        return;
    }
    let mut changed = false;
    for check in &mut grade.checks {
        let why = suspects.iter().find(|(from, _)| check.evidence.actions.iter().any(|a| &a.from == from));
        if let Some((_, why)) = why
            && check.status != Status::Error
        {
            check.status = Status::Error;
            check.points = 0.0;
            check.evidence.error = Some(why.clone());
            changed = true;
        }
    }
    if changed {
        let rolled = roll_up(framework, blocks, grading, &grade.checks);
        grade.criteria = rolled.criteria;
        grade.competences = rolled.competences;
        grade.blocks = rolled.blocks;
        grade.score = (grade.checks.iter().map(|c| c.points).sum::<f64>() * 100.0).round() / 100.0;
    }
}

pub fn apply_overrides(grade: &mut CandidateGrade, overrides: &[(String, Override)]) {
    for (criterion, decision) in overrides {
        if let Some(c) = grade.criteria.iter_mut().find(|c| &c.criterion == criterion) {
            c.jury = Some(decision.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plateau_results::FaultEffect;

    fn result(id: &str, criteria: &[&str], status: Status, points: f64, max: u32) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            kind: "command".into(),
            criteria: criteria.iter().map(|c| c.to_string()).collect(),
            status,
            points,
            max_points: max,
            evidence: Evidence {
                actions: vec![],
                assertions: vec![],
                error: None,
                at: String::new(),
                duration_ms: 0.0,
                attempts: 1,
            },
        }
    }

    #[test]
    fn a_fault_is_repaired_only_once_its_effect_was_seen() {
        let fault = |breaks: &[&str], observed: bool| Injected {
            id: "f".into(),
            title: "f".into(),
            breaks: breaks.iter().map(|b| b.to_string()).collect(),
            injected_at: String::new(),
            observed,
        };
        let passing = [result("a", &[], Status::Pass, 1.0, 1)];
        let failing = [result("a", &[], Status::Fail, 0.0, 1)];
        let effect = |f: Injected, checks: &[CheckResult]| fault_states(&[f], checks)[0].effect();
        // A fault that breaks no check: `all()` of nothing is no repair.
        assert_eq!(effect(fault(&[], false), &passing), FaultEffect::NotObserved);
        assert_eq!(effect(fault(&[], true), &passing), FaultEffect::NotObserved);
        // Its checks never seen failing: nothing was repaired.
        assert_eq!(effect(fault(&["a"], false), &passing), FaultEffect::NotObserved);
        // Seen failing now, or before: present, then repaired.
        assert_eq!(effect(fault(&["a"], false), &failing), FaultEffect::Present);
        assert_eq!(effect(fault(&["a"], true), &failing), FaultEffect::Present);
        assert_eq!(effect(fault(&["a"], true), &passing), FaultEffect::Repaired);
    }

    /// Verdicts of the criteria, competences and blocks named in `show`.
    fn check(checks: &[CheckResult], grading: Grading, show: &[&str], expect: &[&str]) {
        let framework = plateau_scenario::framework::get("tai-2023").unwrap();
        let rolled = roll_up(framework, &["CCP3".to_string()], &grading, checks);
        let mut got = Vec::new();
        for id in show {
            let verdict = rolled
                .criteria
                .iter()
                .find(|c| c.criterion == *id)
                .map(|c| c.verdict)
                .or_else(|| rolled.competences.iter().chain(&rolled.blocks).find(|u| u.id == *id).map(|u| u.verdict))
                .unwrap_or_else(|| panic!("{id} is not in the roll-up"));
            got.push(format!("{id}={}", verdict_token(verdict)));
        }
        assert_eq!(got, expect);
    }

    #[test]
    fn criteria_follow_their_checks_and_units_their_thresholds() {
        let checks = [
            result("a", &["CP7.2"], Status::Pass, 4.0, 4),
            result("b", &["CP7.2", "CP7.4"], Status::Fail, 0.0, 6),
            result("c", &["CP8.2"], Status::Error, 0.0, 3),
            result("d", &["CP7.1"], Status::Pass, 4.0, 4),
        ];
        check(
            &checks,
            Grading::default(),
            &["CP7.1", "CP7.2", "CP7.4", "CP8.2", "CP7.3", "CP7", "CP8", "CP9", "CCP3"],
            &[
                "CP7.1=met",
                "CP7.2=partial",
                "CP7.4=not-met",
                "CP8.2=undetermined",
                "CP7.3=jury-only",
                "CP7=met", // 8 of 14 points, threshold one half
                "CP8=undetermined",
                "CP9=jury-only",
                "CCP3=undetermined", // 8 of 17: below half, and the error could tip it
            ],
        );
        let strict = Grading { threshold: 0.5, thresholds: [("CP7".to_string(), 0.75)].into(), ..Grading::default() };
        check(&checks, strict, &["CP7"], &["CP7=partial"]);
        // An exam without VPN or Wi-Fi: those criteria are not the jury's to judge.
        let without = Grading { not_examined: vec!["CP8.3".into(), "CP8.4".into()], ..Grading::default() };
        check(
            &checks,
            without,
            &["CP8.3", "CP8.4", "CP8.5", "CP8"],
            &["CP8.3=not-examined", "CP8.4=not-examined", "CP8.5=jury-only", "CP8=undetermined"],
        );
    }

    #[test]
    fn criteria_outside_the_scenario_blocks_appear_only_when_evidenced() {
        let framework = plateau_scenario::framework::get("tai-2023").unwrap();
        let rolled = roll_up(
            framework,
            &["CCP3".to_string()],
            &Grading::default(),
            &[result("w", &["CP4.4"], Status::Pass, 1.0, 1)],
        );
        assert!(rolled.criteria.iter().any(|c| c.criterion == "CP4.4"));
        assert!(!rolled.criteria.iter().any(|c| c.criterion == "CP4.1"));
        assert!(!rolled.criteria.iter().any(|c| c.competence == "CP1"));
    }
}
