//! `up`, `status`, `down`, `reset`, `solve`, `shell`, `access`: candidate platforms.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use plateau_exam::{GatewayAddress, Roster, SessionCtx, ShellWay, Solved, UpRequest, Workspace};

use crate::render::Render;
use crate::status;

/// Where the session database and generated files live.
#[derive(Args, Clone)]
pub struct StateArgs {
    /// Session database (SQLite).
    #[arg(long, env = "PLATEAU_STATE", default_value = ".plateau/state.db")]
    pub(crate) state: PathBuf,
    /// The centre's site file: the engines platforms are placed on
    /// (default: `plateau.toml` here; without one, this host's engine).
    #[arg(long, env = "PLATEAU_SITE")]
    pub(crate) site: Option<PathBuf>,
}

impl StateArgs {
    pub(crate) fn workspace(&self) -> Result<Workspace> {
        let site = plateau_exam::load_site(self.site.as_deref())?;
        Ok(Workspace::new(&self.state, actor()).with_site(site, Default::default()))
    }

    pub(crate) fn session(&self, name: &str) -> Result<SessionCtx> {
        Ok(self.workspace()?.session(name)?)
    }
}

/// Who acts: `PLATEAU_ACTOR`, else the OS user.
fn actor() -> String {
    std::env::var("PLATEAU_ACTOR")
        .or_else(|_| std::env::var("SUDO_USER"))
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "plateau".into())
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
    /// Host name or address printed on the access sheets (candidates on a
    /// remote engine of the site file get that engine's own host).
    #[arg(long, default_value = "127.0.0.1")]
    access_host: String,
    /// Candidates come in through the seat gateway (`plateau serve`), every
    /// session recorded: the console's address as candidates type it. Each
    /// candidate gets a console account (their id, a password on their
    /// sheet), and the relays are published on the host's loopback only.
    #[arg(long, value_name = "URL")]
    console: Option<String>,
    /// The SSH gateway's address as candidates type it (`plateau serve --ssh`), with `--console` or alone.
    #[arg(long, value_name = "HOST:PORT")]
    ssh_gateway: Option<String>,
    /// Containers booting at once (from creation to their ready mark), per engine.
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
    /// The node to open a shell on, e.g. `ws` (on a VM node: its guest, over SSH).
    node: String,
    #[command(flatten)]
    state: StateArgs,
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

/// The roster named on the command line.
pub(crate) fn roster(file: Option<&std::path::Path>, count: Option<usize>) -> Result<Roster> {
    Ok(match (file, count) {
        (Some(path), _) => Roster::Csv {
            name: path.display().to_string(),
            text: std::fs::read_to_string(path).with_context(|| format!("cannot read roster {}", path.display()))?,
        },
        (None, Some(n)) => Roster::Numbered(n),
        (None, None) => anyhow::bail!("give --candidates N or --roster FILE"),
    })
}

pub async fn up(args: UpArgs) -> Result<u8> {
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read scenario {}", args.file.display()))?;
    let request = UpRequest {
        file_name: args.file.display().to_string(),
        text,
        session: args.session.clone(),
        roster: roster(args.roster.as_deref(), args.candidates)?,
        seed: args.seed,
        port_base: args.port_base,
        access_host: args.access_host.clone(),
        gateway: (args.console.is_some() || args.ssh_gateway.is_some())
            .then(|| GatewayAddress { console: args.console.clone(), ssh: args.ssh_gateway.clone() }),
    };
    let workspace = args.state.workspace()?.with_concurrency(args.concurrency);
    let report = workspace.up(request, &Render::bar_only()).await?;
    for c in &report.candidates {
        // Said only where a site file names engines.
        let on = if c.engine == plateau_exam::LOCAL_ENGINE { String::new() } else { format!("  on {}", c.engine) };
        match &c.outcome {
            Ok((seconds, counts)) => {
                println!(
                    "{:<10} ready in {seconds:>5.1} s  {counts}  ssh -p {} {}{on}",
                    c.id, c.ssh_port, c.access_host
                )
            }
            Err(e) => eprintln!("{:<10} FAILED: {e}", c.id),
        }
    }
    println!("access sheets: {}", report.sheets.display());
    if report.failed() > 0 {
        eprintln!("{} candidate(s) failed; fix the cause and re-run `plateau up` (it converges)", report.failed());
        return Ok(status::INVALID);
    }
    Ok(status::OK)
}

pub async fn status(args: StatusArgs) -> Result<u8> {
    let rows = args.state.workspace()?.status(args.session.as_deref()).await?;
    let lost = rows.iter().any(|r| r.node.state == plateau_exam::UNREACHABLE);
    let exit = if lost { status::INVALID } else { status::OK };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(exit);
    }
    let mut table = crate::render::table(&["session", "engine", "candidate", "ssh port", "node", "state", "health"]);
    for r in &rows {
        table.add_row([
            r.session.clone(),
            r.engine.clone(),
            r.node.candidate.clone(),
            r.ssh_port.map_or("-".into(), |p| p.to_string()),
            r.node.node.clone(),
            r.node.state.clone(),
            r.node.health.clone(),
        ]);
    }
    println!("{table}");
    if lost {
        eprintln!("some engines cannot be reached: their candidates' nodes are unknown (see `plateau engines list`)");
    }
    Ok(exit)
}

pub async fn down(args: SessionArgs) -> Result<u8> {
    let removed = args.state.workspace()?.down(&args.session).await?;
    println!(
        "session {}: removed {} container(s), {} network(s), {} host firewall rule(s)",
        args.session, removed.containers, removed.networks, removed.rules
    );
    if removed.snapshots > 0 {
        println!("session {}: removed {} snapshot image(s), kept in its archive", args.session, removed.snapshots);
    }
    for left in &removed.networks_left {
        eprintln!("warning: network {left} (left on the engine; restarting dockerd clears a stale endpoint)");
    }
    Ok(status::OK)
}

pub async fn reset(args: CandidateArgs) -> Result<u8> {
    let (seconds, counts) = args.state.session(&args.session)?.reset(&args.candidate).await?;
    println!("{}: fresh platform in {seconds:.1} s ({counts})", args.candidate);
    Ok(status::OK)
}

pub async fn solve(args: CandidateArgs) -> Result<u8> {
    let ctx = args.state.session(&args.session)?;
    match ctx.solve(&args.candidate, &Render::bar_only().verbose(true)).await? {
        Solved::Applied { steps } => {
            println!("{}: reference solution applied ({steps} step(s))", args.candidate);
            Ok(status::OK)
        }
        Solved::StepFailed { step, node, exit_code, .. } => {
            // Its output went by above, as every step's does.
            eprintln!("solution step {step} on {node} ended with exit code {exit_code}");
            Ok(status::INVALID)
        }
    }
}

pub async fn shell(args: ShellArgs) -> Result<u8> {
    let way = args.state.session(&args.session)?.shell(&args.candidate, &args.node).await?;
    // An interactive TTY is the docker or ssh client's job; Plateau names the
    // container, or holds the tunnel to a VM's guest while the client runs.
    let status = match &way {
        ShellWay::Container(container) => std::process::Command::new("docker")
            .args(["exec", "-it", container, "sh", "-c", "command -v bash >/dev/null && exec bash -l || exec sh -l"])
            .status()
            .context("cannot run the docker client (is it installed?)")?,
        ShellWay::Guest(guest) => {
            let option = |name: &str, value: &std::path::Path| format!("{name}={}", value.display());
            // The guest is the candidate's (root): none of the operator's
            // own SSH configuration, agent or X display goes along.
            let mut ssh = tokio::process::Command::new("ssh");
            ssh.args(["-F", "/dev/null", "-a", "-x", "-t", "-p", &guest.port.to_string(), "-i"])
                .arg(&guest.identity)
                .args(["-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o"])
                .arg(option("UserKnownHostsFile", &guest.known_hosts))
                .args(["-o", &format!("HostKeyAlias={}", guest.alias), "root@127.0.0.1"]);
            ssh.status().await.context("cannot run the ssh client (install openssh-client)")?
        }
    };
    Ok(if status.success() { status::OK } else { status::INVALID })
}

pub async fn access(args: AccessArgs) -> Result<u8> {
    let (target, open) = match args.action {
        AccessAction::Open(t) => (t, true),
        AccessAction::Close(t) => (t, false),
    };
    let ids = target.state.session(&target.session)?.set_access(target.candidate.as_deref(), open).await?;
    for id in ids {
        println!("{id}: access {}", if open { "open" } else { "closed" });
    }
    Ok(status::OK)
}
