//! `fault list|inject|revert`: the scenario's faults and the built-in ones,
//! run through the grader's access (never as the candidate), recorded with
//! the checks they break, and audited.

use anyhow::Result;
use clap::{Args, Subcommand};
use plateau_exam::{Injection, Pick, when_to_unix};

use crate::platform_cmds::StateArgs;
use crate::render::Render;
use crate::status;

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
        FaultAction::Inject(t) => {
            let ctx = t.state.session(&t.session)?;
            let pick = match (t.fault, t.random) {
                (Some(f), _) => Pick::Named(f),
                (None, Some(k)) => Pick::Random(k),
                (None, None) => anyhow::bail!("name the fault to inject, or give --random K"),
            };
            let at = t.at.as_deref().map(when_to_unix).transpose()?;
            let injection = Injection { pick, at, node: t.node, params: t.params };
            let outcomes = ctx.inject(t.candidate.as_deref(), &injection, &Render::lines()).await?;
            Ok(if outcomes.iter().any(|o| o.result.is_err()) { status::INVALID } else { status::OK })
        }
        FaultAction::Revert(t) => {
            let ctx = t.state.session(&t.session)?;
            let Some(fault) = t.fault else {
                anyhow::bail!("name the fault to revert (`plateau fault list` shows those present)")
            };
            let outcomes = ctx.revert(t.candidate.as_deref(), &fault, &Render::lines()).await?;
            Ok(if outcomes.iter().any(|o| o.result.is_err()) { status::INVALID } else { status::OK })
        }
    }
}

fn list(t: Target) -> Result<u8> {
    let catalogue = t.state.session(&t.session)?.fault_catalogue()?;
    println!("faults of the scenario:");
    for (id, title, breaks) in &catalogue.scenario {
        println!("  {id:<22} {title}  (breaks: {})", breaks.join(", "));
    }
    println!("built-in faults (`--node N`, parameters as `--param KEY=VALUE`):");
    for (id, params, what) in catalogue.builtin {
        println!("  {id:<22} {what}  {params}");
    }
    for (candidate, f) in &catalogue.present {
        let ticket = f.ticket.map(|t| format!("; ticket #{t}")).unwrap_or_default();
        println!("{candidate}: {} present since {} (breaks: {}{ticket})", f.fault, f.injected_at, f.breaks.join(", "));
    }
    Ok(status::OK)
}
