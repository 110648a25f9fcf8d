//! The reference solution, typed through the candidate's own access (their
//! published SSH entry) as an expert candidate would: nothing is written
//! behind the grader's back.

use std::time::Duration;

use plateau_grade::checks::sh;
use plateau_grade::executor::{Execute, SshAuth, SshExecutor};
use plateau_scenario::model::Step;
use plateau_scenario::{CandidatePlan, PlannedAccess};
use plateau_state::CandidateRecord;
use serde_json::json;

use crate::context::SessionCtx;
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;

/// How applying a solution ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Solved {
    /// Every step ran; how many.
    Applied { steps: usize },
    /// Step `step` (1-based) on `node` ended with `exit_code`; the last
    /// lines it wrote (its error, most often).
    StepFailed { step: usize, node: String, exit_code: i64, said: String },
}

impl SessionCtx {
    /// Type the scenario's reference solution in a candidate's session. Each
    /// step's output goes to `progress` as it comes back.
    pub async fn solve(&self, candidate: &str, progress: &dyn Progress) -> Result<Solved> {
        let candidate = self.candidate(candidate)?;
        self.apply_solution(&candidate, progress).await
    }

    pub(crate) async fn apply_solution(&self, candidate: &CandidateRecord, progress: &dyn Progress) -> Result<Solved> {
        let plan = &candidate.plan;
        let Some(entry) = plan.access.first() else {
            refuse!("the scenario gives candidates no access to work through")
        };
        if plan.solution.is_empty() {
            refuse!("the scenario has no `[[solution]]`");
        }
        let pinned = self.db().host_keys(&self.record.name, &candidate.id, &entry.node)?;
        // Their entry is published on their engine's host.
        let engine = self.engine_for(candidate).await?;
        let ssh = SshExecutor::new(
            engine.published_on(),
            candidate.ssh_port,
            entry.user.clone(),
            SshAuth::Password(entry.password.clone()),
            &pinned,
        );
        progress.stage("solution steps", plan.solution.len());
        for (i, step) in plan.solution.iter().enumerate() {
            let command = solution_command(plan, entry, step)
                .map_err(|e| Error::Refused(format!("solution step {}: {e}", i + 1)))?;
            let out = ssh.run(&command, Duration::from_secs(300)).await.map_err(|e| {
                plateau_grade::Error::Step(format!("solution step {} through {}'s access: {e}", i + 1, candidate.id))
            })?;
            for line in out.stdout.lines().chain(out.stderr.lines()) {
                progress.event(crate::Event::Output { line: line.to_string() });
            }
            if out.exit_code != 0 {
                ssh.close().await;
                let lines: Vec<&str> = out.stdout.lines().chain(out.stderr.lines()).collect();
                let said = lines[lines.len().saturating_sub(8)..].join("\n");
                return Ok(Solved::StepFailed { step: i + 1, node: step.node.clone(), exit_code: out.exit_code, said });
            }
            progress.done(format!("step {} on {}", i + 1, step.node));
        }
        progress.event(crate::Event::StageEnd);
        ssh.close().await;
        self.audit("solve", json!({ "candidate": candidate.id, "steps": plan.solution.len() }))?;
        Ok(Solved::Applied { steps: plan.solution.len() })
    }
}

/// What the candidate types in their session on the entry node to run one
/// step of the reference solution as root (with their own sudo): on the entry
/// node itself, or on another node over SSH with that node's candidate account.
fn solution_command(plan: &CandidatePlan, entry: &PlannedAccess, step: &Step) -> Result<String, String> {
    let as_root = |password: &str, file: &str| {
        format!("echo {} | sudo -S -p '' sh {file}; rc=$?; rm -f {file}; exit $rc", sh(password))
    };
    let file = "/tmp/.plateau-solution-step";
    if step.node == entry.node {
        return Ok(format!(
            "cat > {file} <<'PLATEAU_STEP'\n{}\nPLATEAU_STEP\n{}",
            step.run,
            as_root(&entry.password, file)
        ));
    }
    let Some(access) = plan.access.iter().find(|a| a.node == step.node) else {
        return Err(format!(
            "it runs on `{}`, where the candidate has no account (add it to `[candidate] access`)",
            step.node
        ));
    };
    let Some(address) = reachable_address(plan, &entry.node, &step.node) else {
        return Err(format!("`{}` has no static address the candidate can reach from `{}`", step.node, entry.node));
    };
    let ssh = format!(
        "sshpass -p {} ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR {}@{address}",
        sh(&access.password),
        access.user
    );
    Ok(format!(
        "{ssh} {} <<'PLATEAU_STEP'\n{}\nPLATEAU_STEP\n{ssh} {}",
        sh(&format!("cat > {file}")),
        step.run,
        sh(&as_root(&access.password, file))
    ))
}

/// A static address of `to` on a network `from` is on, else its first one.
fn reachable_address(plan: &CandidatePlan, from: &str, to: &str) -> Option<std::net::Ipv4Addr> {
    let on = |id: &str| plan.node(id).map(|n| n.interfaces.clone()).unwrap_or_default();
    let from_networks: Vec<String> = on(from).into_iter().map(|i| i.network).collect();
    let targets = on(to);
    targets.iter().filter(|i| from_networks.contains(&i.network)).chain(targets.iter()).find_map(|i| i.address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> CandidatePlan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/tai-2023-ccp3.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = plateau_scenario::Scenario::parse("tai-2023-ccp3.toml", &text).unwrap();
        scenario.plan("seed", &plateau_scenario::Candidate::numbered(1)).unwrap().remove(0)
    }

    #[test]
    fn a_solution_step_is_typed_in_the_candidates_session_as_root_through_sudo() {
        let plan = plan();
        let entry = &plan.access[0];
        let on = |node: &str| Step { node: node.into(), run: "echo step".into() };

        let here = solution_command(&plan, entry, &on(&entry.node)).unwrap();
        assert!(here.contains("\necho step\nPLATEAU_STEP\n"), "{here}");
        assert!(here.contains("sudo -S"), "{here}");
        assert!(!here.contains("sshpass"), "{here}");

        // Another node: over SSH from the entry node, to its address on a shared network.
        let dhcp = plan.node("dhcp").unwrap().interfaces[0].address.unwrap();
        let there = solution_command(&plan, entry, &on("dhcp")).unwrap();
        assert!(there.contains(&format!("technicien@{dhcp}")), "{there}");
        assert_eq!(there.matches("sshpass").count(), 2, "copy the step, then run it: {there}");

        // A node where the candidate has no account is refused with the fix.
        let err = solution_command(&plan, entry, &on("internet")).unwrap_err();
        assert!(err.contains("no account") && err.contains("candidate] access"), "{err}");
    }
}
