//! `fault list|inject|revert`: the scenario's faults and the built-in ones,
//! run through the grader's access (never as the candidate), recorded with
//! the checks they break, and audited.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use plateau_engine::platform::Engine;
use plateau_grade::generic::generic_fault;
use plateau_grade::grade::Platform;
use plateau_grade::result::{CandidateGrade, Status};
use plateau_grade::steps::run_steps;
use plateau_grade::targets::platform;
use plateau_scenario::Scenario;
use plateau_state::{ActiveFault, CandidateRecord, ScheduledFault, SessionRecord, Store};
use serde_json::json;

use crate::grade_cmds::{credentials, grade_all, load_scenario};
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
    /// A fault of the scenario, or a built-in (`plateau fault list`); to
    /// revert, the id `inject` printed.
    #[arg(required_unless_present = "random")]
    fault: Option<String>,
    /// Inject later, at this time: `+10min` from now, or an RFC 3339 time
    /// (`exam run` injects it; the candidate notices nothing before).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Inject this many of the scenario's faults, drawn at random per candidate.
    #[arg(long, value_name = "K", conflicts_with = "fault")]
    random: Option<usize>,
    /// The node a built-in fault applies to.
    #[arg(long)]
    node: Option<String>,
    /// A built-in fault's parameter, e.g. `--param service=kea-dhcp4`.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    params: Vec<(String, String)>,
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

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
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
    println!("faults of the scenario:");
    for f in &first.plan.faults {
        println!("  {:<22} {}  (breaks: {})", f.id, f.title, f.breaks.join(", "));
    }
    println!("built-in faults (`--node N`, parameters as `--param KEY=VALUE`):");
    for (id, params, what) in plateau_grade::generic::GENERIC {
        println!("  {id:<22} {what}  {params}");
    }
    for c in &candidates {
        for f in store.active_faults(&t.session, &c.id)? {
            println!("{}: {} present since {} (breaks: {})", c.id, f.fault, f.injected_at, f.breaks.join(", "));
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
    let session = engine_session(&store, record.clone())?;
    let scenario = Arc::new(load_scenario(&record)?);
    let params: BTreeMap<String, String> = t.params.iter().cloned().collect();
    let mut failed = 0;
    for candidate in &candidates {
        let reach = platform(&engine, &session, &candidate.plan, &credentials(&store, &t.session, candidate)?)
            .await
            .map_err(anyhow::Error::msg)?;
        let verb = if inject { "inject" } else { "revert" };
        let faults: Vec<String> = match (&t.fault, t.random) {
            (Some(f), _) => vec![f.clone()],
            (None, Some(k)) if inject => {
                use rand::seq::IndexedRandom;
                let ids: Vec<String> = candidate.plan.faults.iter().map(|f| f.id.clone()).collect();
                ids.sample(&mut rand::rng(), k.min(ids.len())).cloned().collect()
            }
            _ => bail!("name the fault to revert (`plateau fault list` shows those present)"),
        };
        for fault in &faults {
            if let (true, Some(when)) = (inject, &t.at) {
                let at = when_to_unix(when)?;
                let scheduled = ScheduledFault {
                    id: 0,
                    candidate: candidate.id.clone(),
                    fault: fault.clone(),
                    node: t.node.clone(),
                    params: t.params.clone(),
                    at,
                };
                store.schedule_fault(&t.session, &scheduled)?;
                audit_cmds::record(
                    &store,
                    &t.session,
                    "fault.schedule",
                    json!({ "candidate": candidate.id, "fault": fault, "at": at }),
                )?;
                println!("{}: {fault} scheduled (injected by `plateau exam run`)", candidate.id);
                continue;
            }
            let outcome = if inject {
                inject_one(&store, &record, &scenario, candidate, &reach, fault, t.node.as_deref(), &params).await
            } else {
                revert_one(&store, &t.session, candidate, &reach, fault).await
            };
            match outcome {
                Ok(message) => println!("{}: {message}", candidate.id),
                Err(e) => {
                    failed += 1;
                    eprintln!("{}: cannot {verb} {fault}: {e:#}", candidate.id);
                }
            }
        }
    }
    Ok(if failed > 0 { status::INVALID } else { status::OK })
}

async fn inject_one(
    store: &Store,
    record: &SessionRecord,
    scenario: &Arc<Scenario>,
    candidate: &CandidateRecord,
    reach: &Platform,
    wanted: &str,
    node: Option<&str>,
    params: &BTreeMap<String, String>,
) -> Result<String> {
    let session_name = record.name.as_str();
    let scenario_fault = candidate.plan.faults.iter().find(|f| f.id == wanted).cloned();
    let (fault, measured) = match scenario_fault {
        Some(f) => (f, false),
        None => {
            let Some(node_id) = node else {
                bail!("`{wanted}` is not a fault of the scenario; a built-in fault needs `--node`")
            };
            let node =
                candidate.plan.node(node_id).ok_or_else(|| anyhow::anyhow!("the platform has no node `{node_id}`"))?;
            (generic_fault(wanted, node, params).map_err(anyhow::Error::msg)?, true)
        }
    };
    if store.active_faults(session_name, &candidate.id)?.iter().any(|a| a.fault == fault.id) {
        bail!("{} is already present", fault.id);
    }
    // A built-in fault's checks are measured: those that passed before and fail after.
    let before = if measured { Some(grade_one(store, record, scenario, candidate).await?) } else { None };
    run_steps(reach, &fault.inject, Duration::from_secs(60)).await.map_err(anyhow::Error::msg)?;
    let breaks = match before {
        Some(before) => {
            let after = grade_one(store, record, scenario, candidate).await?;
            let passed = |g: &CandidateGrade, id: &str| g.checks.iter().any(|c| c.id == id && c.status == Status::Pass);
            before
                .checks
                .iter()
                .filter(|c| passed(&before, &c.id) && !passed(&after, &c.id))
                .map(|c| c.id.clone())
                .collect()
        }
        None => fault.breaks.clone(),
    };
    store.fault_injected(
        session_name,
        &candidate.id,
        &ActiveFault {
            fault: fault.id.clone(),
            title: fault.title.clone(),
            breaks: breaks.clone(),
            revert: fault.revert.clone(),
            injected_at: String::new(),
        },
    )?;
    audit_cmds::record(
        store,
        session_name,
        "fault.inject",
        json!({ "candidate": candidate.id, "fault": fault.id, "breaks": breaks }),
    )?;
    Ok(format!(
        "injected {} (breaks: {})",
        fault.id,
        if breaks.is_empty() { "no check".into() } else { breaks.join(", ") }
    ))
}

async fn revert_one(
    store: &Store,
    session: &str,
    candidate: &CandidateRecord,
    reach: &Platform,
    id: &str,
) -> Result<String> {
    let active = store.active_faults(session, &candidate.id)?;
    let Some(fault) = active.iter().find(|a| a.fault == id) else {
        let present: Vec<&str> = active.iter().map(|a| a.fault.as_str()).collect();
        bail!("{id} is not present (present: {})", if present.is_empty() { "none".into() } else { present.join(", ") })
    };
    run_steps(reach, &fault.revert, Duration::from_secs(60)).await.map_err(anyhow::Error::msg)?;
    store.fault_reverted(session, &candidate.id, id)?;
    audit_cmds::record(store, session, "fault.revert", json!({ "candidate": candidate.id, "fault": id }))?;
    Ok(format!("reverted {id}"))
}

/// `+10min` from now, or an RFC 3339 time, as Unix seconds.
fn when_to_unix(text: &str) -> Result<i64> {
    let now = std::time::SystemTime::now();
    let at = match text.strip_prefix('+') {
        Some(rel) => now + humantime::parse_duration(rel).map_err(|e| anyhow::anyhow!("`{text}`: {e}"))?,
        None => humantime::parse_rfc3339_weak(text)
            .map_err(|e| anyhow::anyhow!("`{text}` is not `+DURATION` or an RFC 3339 time: {e}"))?,
    };
    Ok(at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

/// Inject the scheduled faults that are due (called by `exam run`).
pub(crate) async fn inject_due(store: &Store, session_name: &str) -> Result<()> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let due: Vec<ScheduledFault> = store.pending_faults(session_name)?.into_iter().filter(|f| f.at <= now).collect();
    if due.is_empty() {
        return Ok(());
    }
    let record = store.session(session_name)?;
    let scenario = Arc::new(load_scenario(&record)?);
    let engine = Engine::connect(1).await?;
    let session = engine_session(store, record.clone())?;
    for f in due {
        let candidate = store.candidate(session_name, &f.candidate)?;
        let reach = platform(&engine, &session, &candidate.plan, &credentials(store, session_name, &candidate)?)
            .await
            .map_err(anyhow::Error::msg)?;
        let params: BTreeMap<String, String> = f.params.iter().cloned().collect();
        match inject_one(store, &record, &scenario, &candidate, &reach, &f.fault, f.node.as_deref(), &params).await {
            Ok(message) => println!("{}: {message} (scheduled)", f.candidate),
            Err(e) => eprintln!("{}: cannot inject scheduled {}: {e:#}", f.candidate, f.fault),
        }
        store.scheduled_fault_done(f.id)?;
    }
    Ok(())
}

async fn grade_one(
    store: &Store,
    record: &SessionRecord,
    scenario: &Arc<Scenario>,
    candidate: &CandidateRecord,
) -> Result<CandidateGrade> {
    let mut graded = grade_all(store, record.clone(), scenario.clone(), std::slice::from_ref(candidate), 1).await?;
    graded.remove(0).1.map_err(anyhow::Error::msg)
}
