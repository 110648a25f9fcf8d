//! `up`, `status`, `down`, `reset`, `shell`, `access`: candidate platforms on Docker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use plateau_engine::platform::{CandidateUp, Engine, Session};
use plateau_scenario::{CandidatePlan, Scenario};
use plateau_state::{CandidateRecord, SessionRecord, Store};
use sha2::{Digest, Sha256};

use serde_json::json;

use crate::{audit_cmds, scenario_cmds, sheet, status};

/// Where the session database and generated files live.
#[derive(Args, Clone)]
pub struct StateArgs {
    /// Session database (SQLite).
    #[arg(long, env = "PLATEAU_STATE", default_value = ".plateau/state.db")]
    pub(crate) state: PathBuf,
}

#[derive(Args)]
pub struct UpArgs {
    /// The scenario file.
    #[arg(value_name = "SCENARIO")]
    file: PathBuf,
    /// Session name: names every container and network (letters, digits, `-`).
    #[arg(long)]
    session: String,
    /// Number of candidates (named c01, c02, ...).
    #[arg(long, short = 'n', conflicts_with = "roster", required_unless_present = "roster")]
    candidates: Option<usize>,
    /// CSV file of candidates with the columns `id` and `name`.
    #[arg(long, value_name = "CSV")]
    roster: Option<PathBuf>,
    /// Seed of the per-candidate variants; defaults to the session name.
    #[arg(long)]
    seed: Option<String>,
    /// Candidate i's SSH access is published on host port BASE + i.
    #[arg(long, default_value_t = 22000)]
    port_base: u16,
    /// Host name or address printed on the access sheets.
    #[arg(long, default_value = "127.0.0.1")]
    access_host: String,
    /// Containers created or started at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
pub struct SessionArgs {
    #[arg(long)]
    session: String,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Only this session (all sessions of the database otherwise).
    #[arg(long)]
    session: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
pub struct CandidateArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
pub struct ShellArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    /// The node to open a shell on, e.g. `ws`.
    node: String,
}

#[derive(Args)]
pub struct AccessArgs {
    #[command(subcommand)]
    action: AccessAction,
}

#[derive(Subcommand)]
enum AccessAction {
    /// Let the candidate(s) in.
    Open(SomeCandidates),
    /// Cut the candidate(s) off (their platform keeps running).
    Close(SomeCandidates),
}

/// A session, and one of its candidates or all of them.
#[derive(Args)]
pub(crate) struct SomeCandidates {
    #[arg(long)]
    pub(crate) session: String,
    /// One candidate; all of the session when omitted.
    #[arg(long)]
    pub(crate) candidate: Option<String>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

fn valid_session_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 24
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("session name `{name}`: use 1 to 24 lowercase letters, digits or `-` (it names containers and networks)");
    }
    Ok(())
}

pub(crate) fn scenario_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Docker gives every network its own subnet: two candidates cannot share one.
fn check_distinct_subnets(plans: &[CandidatePlan]) -> Result<()> {
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    for p in plans {
        for n in &p.networks {
            if let Some((other, net)) = seen.insert(n.subnet.to_string(), (p.candidate.id.clone(), n.id.clone())) {
                bail!(
                    "candidates {other} and {} both get {} (network `{net}`/`{}`): Docker cannot give two networks one subnet; \
                     make the subnet a variant, e.g. `{} = {{ subnet_in = \"10.30.0.0/16\", prefix = 24 }}`",
                    p.candidate.id,
                    n.subnet,
                    n.id,
                    n.id
                );
            }
        }
    }
    Ok(())
}

pub async fn up(args: UpArgs) -> Result<u8> {
    valid_session_name(&args.session)?;
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read scenario {}", args.file.display()))?;
    let scenario = match Scenario::parse(&args.file.display().to_string(), &text) {
        Ok(s) => s,
        Err(report) => {
            eprint!("{}", report.render(scenario_cmds::color()));
            return Ok(status::INVALID);
        }
    };
    let candidates = scenario_cmds::candidates(args.roster.as_deref(), args.candidates)?;
    let store = Store::open(&args.state.state)?;
    let record = SessionRecord {
        name: args.session.clone(),
        scenario_file: args.file.display().to_string(),
        scenario_hash: scenario_hash(&text),
        seed: args.seed.clone().unwrap_or_else(|| args.session.clone()),
    };
    store.ensure_session(&record)?;
    let plans = match scenario.plan(&record.seed, &candidates) {
        Ok(p) => p,
        Err(report) => {
            eprint!("{}", report.render(scenario_cmds::color()));
            return Ok(status::INVALID);
        }
    };
    check_distinct_subnets(&plans)?;
    // Decisions are recorded before anything is created: a crash mid-way
    // re-runs into the same plans, ports and passwords.
    let records: Vec<CandidateRecord> = plans
        .into_iter()
        .map(|plan| CandidateRecord {
            id: plan.candidate.id.clone(),
            ssh_port: args.port_base + plan.candidate.index as u16 + 1,
            plan,
        })
        .collect();
    for r in &records {
        store.put_candidate(&args.session, r)?;
    }
    let engine = Engine::connect(args.concurrency).await?;
    let session = engine_session(&store, record.clone())?;
    let results = up_all(&engine, &session, &records).await;
    let out_dir = args.state.state.parent().unwrap_or(Path::new(".")).join(&args.session);
    let mut failed = 0;
    for (r, result) in records.iter().zip(results) {
        match result {
            Ok(up) => {
                pin_host_keys(&store, &args.session, &up)?;
                let counts = summarize(&up);
                audit_cmds::record(&store, &args.session, "up", json!({ "candidate": up.candidate, "nodes": counts }))?;
                println!(
                    "{:<10} ready in {:>5.1} s  {counts}  ssh -p {} {}",
                    up.candidate, up.seconds, r.ssh_port, args.access_host
                );
                sheet::write(&out_dir, &scenario, &args.session, &args.access_host, r)?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("{:<10} FAILED: {e}", r.id);
            }
        }
    }
    println!("access sheets: {}", out_dir.join("access").display());
    if failed > 0 {
        eprintln!("{failed} candidate(s) failed; fix the cause and re-run `plateau up` (it converges)");
        return Ok(status::INVALID);
    }
    Ok(status::OK)
}

/// The engine's view of a recorded session, with the grader's public key
/// (the key pair is made on first use and kept in the database).
pub(crate) fn engine_session(store: &Store, record: SessionRecord) -> Result<Session> {
    let private = store.grader_key(&record.name, plateau_grade::executor::generate_key)?;
    let public = plateau_grade::executor::public_key_line(&private).map_err(anyhow::Error::msg)?;
    Ok(Session { name: record.name, scenario_hash: record.scenario_hash, grader_key: Some(public) })
}

/// Remember the SSH host keys the nodes have now, so the grader can tell them from impostors.
pub(crate) fn pin_host_keys(store: &Store, session: &str, up: &CandidateUp) -> Result<()> {
    for node in up.nodes.iter().filter(|n| !n.host_keys.is_empty()) {
        store.put_host_keys(session, &up.candidate, &node.node, &node.host_keys)?;
    }
    Ok(())
}

/// Every candidate in parallel; one failing does not stop the others.
async fn up_all(engine: &Engine, session: &Session, records: &[CandidateRecord]) -> Vec<Result<CandidateUp>> {
    let bar = indicatif::ProgressBar::new(records.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} candidates ready {elapsed}").expect("template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, r) in records.iter().enumerate() {
        let (engine, session, plan, port) = (engine.clone(), session.clone(), r.plan.clone(), r.ssh_port);
        tasks.spawn(async move { (i, engine.up_candidate(&session, &plan, port).await) });
    }
    let mut results: Vec<Option<Result<CandidateUp>>> = (0..records.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.expect("candidate task panicked");
        bar.inc(1);
        results[i] = Some(result.map_err(anyhow::Error::from));
    }
    bar.finish_and_clear();
    results.into_iter().map(|r| r.expect("every task reported")).collect()
}

fn summarize(up: &CandidateUp) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for n in &up.nodes {
        let key = plateau_scenario::model::token(&n.outcome);
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, c)) => *c += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.iter().map(|(k, c)| format!("{c} {k}")).collect::<Vec<_>>().join(", ")
}

pub async fn status(args: StatusArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let sessions = match args.session {
        Some(s) => vec![s],
        None => store.sessions()?,
    };
    let engine = Engine::connect(1).await?;
    let mut all = Vec::new();
    for session in &sessions {
        let ports: HashMap<String, u16> =
            store.candidates(session).unwrap_or_default().into_iter().map(|c| (c.id, c.ssh_port)).collect();
        for node in engine.status(session, None).await? {
            all.push((session.clone(), ports.get(&node.candidate).copied(), node));
        }
    }
    if args.json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|(s, port, n)| serde_json::json!({ "session": s, "ssh_port": port, "candidate": n.candidate, "node": n.node, "container": n.container, "state": n.state, "health": n.health }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(status::OK);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header([
        "session",
        "candidate",
        "ssh port",
        "node",
        "state",
        "health",
    ]);
    for (s, port, n) in &all {
        table.add_row([
            s.clone(),
            n.candidate.clone(),
            port.map_or("-".into(), |p| p.to_string()),
            n.node.clone(),
            n.state.clone(),
            n.health.clone(),
        ]);
    }
    println!("{table}");
    Ok(status::OK)
}

pub async fn down(args: SessionArgs) -> Result<u8> {
    let engine = Engine::connect(1).await?;
    let removed = engine.down(&args.session, None).await?;
    // The engine's labels decide what goes; the database may be gone already.
    if let Ok(store) = Store::open(&args.state.state) {
        store.remove_session(&args.session)?;
        audit_cmds::record(
            &store,
            &args.session,
            "down",
            json!({ "containers": removed.containers, "networks": removed.networks }),
        )?;
    }
    println!(
        "session {}: removed {} container(s), {} network(s), {} host firewall rule(s)",
        args.session, removed.containers, removed.networks, removed.rules
    );
    Ok(status::OK)
}

pub async fn reset(args: CandidateArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let record = store.session(&args.session)?;
    let candidate = store.candidate(&args.session, &args.candidate)?;
    let engine = Engine::connect(8).await?;
    let started = std::time::Instant::now();
    engine.down(&args.session, Some(&args.candidate)).await?;
    let session = engine_session(&store, record)?;
    let up = engine.up_candidate(&session, &candidate.plan, candidate.ssh_port).await?;
    pin_host_keys(&store, &args.session, &up)?;
    audit_cmds::record(&store, &args.session, "reset", json!({ "candidate": up.candidate }))?;
    println!("{}: fresh platform in {:.1} s ({})", up.candidate, started.elapsed().as_secs_f64(), summarize(&up));
    Ok(status::OK)
}

/// Apply the scenario's reference solution to a candidate's platform, typed
/// through the candidate's own access (their published SSH entry), as an
/// expert candidate would: nothing is written behind the grader's back.
pub async fn solve(args: CandidateArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let candidate = store.candidate(&args.session, &args.candidate)?;
    Ok(if apply_solution(&store, &args.session, &candidate).await? { status::OK } else { status::INVALID })
}

/// Type the reference solution in the candidate's session; `false` when a
/// step failed (its output is printed).
pub(crate) async fn apply_solution(store: &Store, session: &str, candidate: &CandidateRecord) -> Result<bool> {
    use plateau_grade::executor::{Execute, SshAuth, SshExecutor};
    let plan = &candidate.plan;
    let Some(entry) = plan.access.first() else { bail!("the scenario gives candidates no access to work through") };
    if plan.solution.is_empty() {
        bail!("the scenario has no `[[solution]]`");
    }
    let pinned = store.host_keys(session, &candidate.id, &entry.node)?;
    let ssh = SshExecutor::new(
        "127.0.0.1",
        candidate.ssh_port,
        entry.user.clone(),
        SshAuth::Password(entry.password.clone()),
        &pinned,
    );
    for (i, step) in plan.solution.iter().enumerate() {
        let command = solution_command(plan, entry, step).with_context(|| format!("solution step {}", i + 1))?;
        let out = ssh
            .run(&command, std::time::Duration::from_secs(300))
            .await
            .with_context(|| format!("solution step {} through {}'s access", i + 1, candidate.id))?;
        print!("{}", out.stdout);
        eprint!("{}", out.stderr);
        if out.exit_code != 0 {
            eprintln!("solution step {} on {} ended with exit code {}", i + 1, step.node, out.exit_code);
            return Ok(false);
        }
    }
    ssh.close().await;
    audit_cmds::record(store, session, "solve", json!({ "candidate": candidate.id, "steps": plan.solution.len() }))?;
    println!("{}: reference solution applied ({} step(s))", candidate.id, plan.solution.len());
    Ok(true)
}

/// What the candidate types in their session on the entry node to run one
/// step of the reference solution as root (with their own sudo): on the entry
/// node itself, or on another node over SSH with that node's candidate account.
fn solution_command(
    plan: &plateau_scenario::CandidatePlan,
    entry: &plateau_scenario::PlannedAccess,
    step: &plateau_scenario::model::Step,
) -> Result<String> {
    use plateau_grade::checks::sh;
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
        bail!("it runs on `{}`, where the candidate has no account (add it to `[candidate] access`)", step.node)
    };
    let Some(address) = reachable_address(plan, &entry.node, &step.node) else {
        bail!("`{}` has no static address the candidate can reach from `{}`", step.node, entry.node)
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
fn reachable_address(plan: &plateau_scenario::CandidatePlan, from: &str, to: &str) -> Option<std::net::Ipv4Addr> {
    let on = |id: &str| plan.node(id).map(|n| n.interfaces.clone()).unwrap_or_default();
    let from_networks: Vec<String> = on(from).into_iter().map(|i| i.network).collect();
    let targets = on(to);
    targets.iter().filter(|i| from_networks.contains(&i.network)).chain(targets.iter()).find_map(|i| i.address)
}

pub fn shell(args: ShellArgs) -> Result<u8> {
    let session = Session { name: args.session, scenario_hash: String::new(), grader_key: None };
    let container = session.container_name(&args.candidate, &args.node);
    // An interactive TTY is the docker client's job; Plateau only names the container.
    let status = std::process::Command::new("docker")
        .args(["exec", "-it", &container, "sh", "-c", "command -v bash >/dev/null && exec bash -l || exec sh -l"])
        .status()
        .context("cannot run the docker client (is it installed?)")?;
    Ok(if status.success() { status::OK } else { status::INVALID })
}

pub async fn access(args: AccessArgs) -> Result<u8> {
    let (target, open) = match args.action {
        AccessAction::Open(t) => (t, true),
        AccessAction::Close(t) => (t, false),
    };
    let store = Store::open(&target.state.state)?;
    let record = store.session(&target.session)?;
    let ids: Vec<String> = match &target.candidate {
        Some(c) => vec![store.candidate(&target.session, c)?.id],
        None => store.candidates(&target.session)?.into_iter().map(|c| c.id).collect(),
    };
    let engine = Engine::connect(1).await?;
    let session = engine_session(&store, record)?;
    for id in &ids {
        engine.set_access(&session, id, open).await?;
        let action = if open { "access.open" } else { "access.close" };
        audit_cmds::record(&store, &target.session, action, json!({ "candidate": id }))?;
        println!("{id}: access {}", if open { "open" } else { "closed" });
    }
    Ok(status::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> plateau_scenario::CandidatePlan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/tai-2023-ccp3.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = plateau_scenario::Scenario::parse("tai-2023-ccp3.toml", &text).unwrap();
        scenario.plan("seed", &plateau_scenario::Candidate::numbered(1)).unwrap().remove(0)
    }

    #[test]
    fn a_solution_step_is_typed_in_the_candidates_session_as_root_through_sudo() {
        let plan = plan();
        let entry = &plan.access[0];
        let on = |node: &str| plateau_scenario::model::Step { node: node.into(), run: "echo step".into() };

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
        let err = solution_command(&plan, entry, &on("internet")).unwrap_err().to_string();
        assert!(err.contains("no account") && err.contains("candidate] access"), "{err}");
    }
}
