//! `fault list|inject|revert`: the scenario's faults, run through the
//! grader's access (never as the candidate), recorded and audited.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use plateau_engine::platform::Engine;
use plateau_grade::steps::run_steps;
use plateau_grade::targets::platform;
use plateau_state::{CandidateRecord, Store};
use serde_json::json;

use crate::grade_cmds::credentials;
use crate::platform_cmds::{StateArgs, engine_session};
use crate::{audit_cmds, status};

#[derive(Args)]
pub struct FaultArgs {
    #[command(subcommand)]
    action: FaultAction,
}

#[derive(Subcommand)]
enum FaultAction {
    /// The scenario's faults, and which are present on each candidate's platform.
    List(Target),
    /// Break a candidate's platform (for the jury phase or practice).
    Inject(FaultTarget),
    /// Repair it as the scenario says (a candidate's own repair shows in `grade`).
    Revert(FaultTarget),
}

#[derive(Args)]
struct Target {
    #[arg(long)]
    session: String,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
struct FaultTarget {
    /// Fault id (see `plateau fault list`).
    fault: String,
    #[arg(long)]
    session: String,
    /// One candidate.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    candidate: Option<String>,
    /// Every candidate of the session.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub async fn fault(args: FaultArgs) -> Result<u8> {
    match args.action {
        FaultAction::List(t) => list(t),
        FaultAction::Inject(t) => apply(t, true).await,
        FaultAction::Revert(t) => apply(t, false).await,
    }
}

fn list(t: Target) -> Result<u8> {
    let store = Store::open(&t.state.state)?;
    let candidates = store.candidates(&t.session)?;
    let Some(first) = candidates.first() else { bail!("session `{}` has no candidates", t.session) };
    for f in &first.plan.faults {
        let present: Vec<String> = candidates
            .iter()
            .filter(|c| store.active_faults(&t.session, &c.id).is_ok_and(|a| a.iter().any(|(id, _)| id == &f.id)))
            .map(|c| c.id.clone())
            .collect();
        println!("{:<20} {}  (breaks: {})", f.id, f.title, f.breaks.join(", "));
        if !present.is_empty() {
            println!("{:<20} present on: {}", "", present.join(", "));
        }
    }
    Ok(status::OK)
}

async fn apply(t: FaultTarget, inject: bool) -> Result<u8> {
    let store = Store::open(&t.state.state)?;
    let record = store.session(&t.session)?;
    let candidates: Vec<CandidateRecord> = match &t.candidate {
        Some(c) => vec![store.candidate(&t.session, c)?],
        None => store.candidates(&t.session)?,
    };
    let engine = Engine::connect(1).await?;
    let session = engine_session(&store, record)?;
    let mut failed = 0;
    for candidate in &candidates {
        let Some(fault) = candidate.plan.faults.iter().find(|f| f.id == t.fault) else {
            let known: Vec<&str> = candidate.plan.faults.iter().map(|f| f.id.as_str()).collect();
            bail!("the scenario has no fault `{}` (it has: {})", t.fault, known.join(", "));
        };
        let reach = platform(&engine, &session, &candidate.plan, &credentials(&store, &t.session, candidate)?)
            .await
            .map_err(anyhow::Error::msg)?;
        let steps = if inject { &fault.inject } else { &fault.revert };
        let verb = if inject { "inject" } else { "revert" };
        match run_steps(&reach, steps, std::time::Duration::from_secs(60)).await {
            Ok(_) => {
                if inject {
                    store.fault_injected(&t.session, &candidate.id, &fault.id)?;
                } else {
                    store.fault_reverted(&t.session, &candidate.id, &fault.id)?;
                }
                audit_cmds::record(
                    &store,
                    &t.session,
                    &format!("fault.{verb}"),
                    json!({ "candidate": candidate.id, "fault": fault.id }),
                )?;
                println!("{}: {} {}", candidate.id, if inject { "injected" } else { "reverted" }, fault.id);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: cannot {verb} {}: {e}", candidate.id, fault.id);
            }
        }
    }
    Ok(if failed > 0 { status::INVALID } else { status::OK })
}
