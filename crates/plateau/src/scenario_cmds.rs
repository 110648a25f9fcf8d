//! `validate`, `plan`, `schema`, `frameworks`: commands that only read scenarios.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use plateau_scenario::model::token;
use plateau_scenario::{CandidatePlan, Report, Scenario, framework};
use serde_json::json;

use crate::status;

#[derive(Args)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true, value_name = "SCENARIO")]
    files: Vec<PathBuf>,
    /// Print the diagnostics as JSON (file, line, column, code, message, hint).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The scenario file.
    #[arg(value_name = "SCENARIO", required_unless_present = "session", conflicts_with = "session")]
    file: Option<PathBuf>,
    /// Number of candidates (named c01, c02, ...).
    #[arg(long, short = 'n', conflicts_with = "roster", required_unless_present_any = ["roster", "session"])]
    candidates: Option<usize>,
    /// CSV file of candidates with the columns `id` and `name`.
    #[arg(long, value_name = "CSV")]
    roster: Option<PathBuf>,
    /// Session seed: the same seed always draws the same variants (a
    /// preview: a session's passwords are drawn with its secret too).
    #[arg(long, default_value = "0")]
    seed: String,
    /// The plans a session's `up` made, as recorded (its passwords too):
    /// instead of a scenario file.
    #[arg(long, conflicts_with_all = ["candidates", "roster"])]
    session: Option<String>,
    #[command(flatten)]
    state: crate::platform_cmds::StateArgs,
    /// Print the full plans as JSON.
    #[arg(long)]
    json: bool,
    /// Also print each candidate's brief (the cahier des charges, their values filled in).
    #[arg(long)]
    brief: bool,
}

#[derive(Args)]
pub struct CoverageArgs {
    #[arg(value_name = "SCENARIO")]
    file: PathBuf,
    /// Write the table to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct FrameworksArgs {
    /// Show this framework's blocks, competences and criteria.
    id: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read scenario {}", path.display()))
}

/// Read and validate one scenario; the report on failure.
pub fn load(path: &Path) -> Result<Result<Scenario, Report>> {
    let text = read(path)?;
    Ok(Scenario::parse(&path.display().to_string(), &text))
}

/// Read and validate one scenario; on failure, print its diagnostics and
/// give `None` (the command then exits with `status::INVALID`).
fn load_or_report(path: &Path) -> Result<Option<Scenario>> {
    Ok(load(path)?.map_err(|report| eprint!("{}", report.render(color()))).ok())
}

pub fn validate(args: ValidateArgs) -> Result<u8> {
    let mut code = status::OK;
    let mut results = Vec::new();
    for path in &args.files {
        match load(path)? {
            Ok(scenario) => {
                let file = scenario.file();
                let points: u32 = file.checks.iter().map(|c| c.points).sum();
                let warnings = scenario.warnings();
                if args.json {
                    results.push(json!({ "file": path, "valid": true, "diagnostics": warnings.located() }));
                } else {
                    eprint!("{}", warnings.render(color()));
                    println!(
                        "ok: {} ({} {}: {} nodes, {} checks, {} points, {} faults)",
                        path.display(),
                        scenario.id(),
                        file.scenario.version,
                        file.nodes.len(),
                        file.checks.len(),
                        points,
                        file.faults.len()
                    );
                }
            }
            Err(report) => {
                code = status::INVALID;
                if args.json {
                    results.push(json!({ "file": path, "valid": false, "diagnostics": report.located() }));
                } else {
                    eprint!("{}", report.render(color()));
                    let n = report.diagnostics.len();
                    eprintln!("error: {}: {n} problem{}", path.display(), if n == 1 { "" } else { "s" });
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(code)
}

pub fn plan(args: PlanArgs) -> Result<u8> {
    let (scenario, seed, plans) = match (&args.session, &args.file) {
        (Some(session), _) => {
            let ctx = args.state.session(session)?;
            let plans = ctx.candidates()?.into_iter().map(|c| c.plan).collect();
            (ctx.scenario.as_ref().clone(), ctx.record.seed.clone(), plans)
        }
        (None, Some(file)) => {
            let Some(scenario) = load_or_report(file)? else { return Ok(status::INVALID) };
            let candidates = crate::platform_cmds::roster(args.roster.as_deref(), args.candidates)?.candidates()?;
            match scenario.plan(&args.seed, &candidates) {
                Ok(plans) => (scenario, args.seed.clone(), plans),
                Err(report) => {
                    eprint!("{}", report.render(color()));
                    return Ok(status::INVALID);
                }
            }
        }
        (None, None) => unreachable!("clap requires a scenario or a session"),
    };
    if args.json {
        let out = json!({ "scenario": scenario.id(), "seed": seed, "candidates": plans });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{} — seed {:?}, {} candidate(s)\n", scenario.file().scenario.title, seed, plans.len());
        for p in &plans {
            print_plan(p);
            if let (true, Some(brief)) = (args.brief, &p.brief) {
                println!("### Brief of {}\n\n{}\n", p.candidate.id, brief.trim_end());
            }
        }
    }
    Ok(status::OK)
}

fn print_plan(p: &CandidatePlan) {
    println!("## {} — {}", p.candidate.id, p.candidate.name);
    if !p.variables.is_empty() {
        let vars: Vec<String> = p.variables.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        println!("variables: {}", vars.join(", "));
    }
    let mut nets = crate::render::table(&["network", "subnet", "gateway", "dns", "dhcp pool"]);
    for n in &p.networks {
        let opt = |a: Option<std::net::Ipv4Addr>| a.map_or("-".to_string(), |a| a.to_string());
        let pool = n.dhcp_pool.map_or("-".to_string(), |[a, b]| format!("{a} – {b}"));
        nets.add_row([n.id.clone(), n.subnet.to_string(), opt(n.gateway), opt(n.dns), pool]);
    }
    println!("{nets}");
    let mut nodes = crate::render::table(&["node", "hostname", "role", "image", "addresses", "limits"]);
    for n in &p.nodes {
        let addrs: Vec<String> = n
            .interfaces
            .iter()
            .map(|i| match i.address {
                Some(a) => format!("{}: {a}/{}", i.network, i.prefix),
                None => format!("{}: dhcp", i.network),
            })
            .chain(n.address.iter().map(|a| format!("static: {a}")))
            .collect();
        nodes.add_row([
            n.id.clone(),
            n.hostname.clone(),
            token(&n.role),
            n.image.clone(),
            addrs.join(", "),
            n.limits().describe(),
        ]);
    }
    println!("{nodes}");
    for a in &p.access {
        println!("access: {} via {} as {} / {}", a.node, token(&a.via), a.user, a.password);
    }
    println!();
}

pub fn schema() -> Result<u8> {
    println!("{}", serde_json::to_string_pretty(&plateau_scenario::schema())?);
    Ok(status::OK)
}

#[derive(Args)]
pub struct RolesArgs {
    /// One role only (`domain-controller`, `workstation`, ...).
    role: Option<String>,
}

pub fn roles(args: RolesArgs) -> Result<u8> {
    let role = match &args.role {
        Some(name) => Some(
            plateau_scenario::model::Role::ALL
                .iter()
                .copied()
                .find(|r| plateau_scenario::model::token(r) == *name)
                .with_context(|| {
                    let known: Vec<String> =
                        plateau_scenario::model::Role::ALL.iter().map(plateau_scenario::model::token).collect();
                    format!("unknown role `{name}` (roles: {})", known.join(", "))
                })?,
        ),
        None => None,
    };
    print!("{}", plateau_scenario::roles::reference(role));
    Ok(status::OK)
}

pub fn frameworks(args: FrameworksArgs) -> Result<u8> {
    let selected: Vec<&framework::Framework> = match &args.id {
        Some(id) => vec![framework::get(id).with_context(|| {
            let known: Vec<&str> = framework::all().iter().map(|f| f.id.as_str()).collect();
            format!("unknown framework `{id}` (known: {})", known.join(", "))
        })?],
        None => framework::all().iter().collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&selected)?);
        return Ok(status::OK);
    }
    for f in selected {
        let criteria = f.criteria().count();
        println!(
            "{} — {} ({}): {} competences, {} criteria",
            f.id,
            f.title,
            f.reference,
            f.competences().count(),
            criteria
        );
        if args.id.is_some() {
            for b in &f.blocks {
                println!("\n{} {}", b.id, b.title);
                for c in &b.competences {
                    println!("  {} {}", c.id, c.title);
                    for k in &c.criteria {
                        println!("    {:<7} {}", k.id, k.text);
                    }
                }
            }
        }
    }
    Ok(status::OK)
}

pub fn coverage(args: CoverageArgs) -> Result<u8> {
    let Some(scenario) = load_or_report(&args.file)? else { return Ok(status::INVALID) };
    let table = coverage_markdown(&scenario, &args.file);
    match &args.output {
        Some(path) => std::fs::write(path, table).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{table}"),
    }
    Ok(status::OK)
}

/// The coverage table of a scenario: every criterion of its blocks, with the
/// checks that evidence it or what the jury judges it on; then its faults
/// and what they break.
fn coverage_markdown(scenario: &Scenario, path: &Path) -> String {
    use std::fmt::Write as _;
    let file = scenario.file();
    let framework = scenario.framework();
    let rows = scenario.coverage();
    let mut out = String::new();
    let _ = writeln!(out, "# Coverage of `{}` {}\n", scenario.id(), file.scenario.version);
    let _ = writeln!(
        out,
        "Generated by `plateau scenario coverage {}`: do not edit by hand.\n\nFramework: {} ({}). Blocks: {}.\n",
        path.display(),
        framework.title,
        framework.reference,
        file.scenario.blocks.join(", ")
    );
    let _ = writeln!(out, "| criterion | critère de performance | evidence |\n| --- | --- | --- |");
    let mut competence = "";
    for row in &rows {
        if row.criterion.competence.id != competence {
            competence = &row.criterion.competence.id;
            let _ = writeln!(
                out,
                "| **{}** | **{}** ({}) | |",
                competence, row.criterion.competence.title, row.criterion.block.id
            );
        }
        let mut evidence = if row.not_examined {
            "not examined in this exam".to_string()
        } else if row.jury_only() {
            match row.material {
                Some(material) => format!("jury, on: {material}"),
                None => "jury's own observation".to_string(),
            }
        } else {
            let checks = row.checks.iter().map(|(id, points)| format!("`{id}` ({points} pts)")).collect::<Vec<_>>();
            match row.material {
                Some(material) => format!("{}; the jury's material: {material}", checks.join(", ")),
                None => checks.join(", "),
            }
        };
        if row.faults.len() > 1 && row.faults.len() == file.faults.len() {
            let _ = write!(evidence, "; judged on every fault of the jury phase");
        } else if !row.faults.is_empty() {
            let faults = row.faults.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            let _ = write!(evidence, "; judged on the faults {faults}");
        }
        let _ = writeln!(out, "| {} | {} | {} |", row.criterion.criterion.id, row.criterion.criterion.text, evidence);
    }
    let checked = rows.iter().filter(|r| !r.checks.is_empty()).count();
    let jury = rows.iter().filter(|r| r.jury_only()).count();
    let on_material = rows.iter().filter(|r| r.jury_only() && r.material.is_some()).count();
    let _ = write!(
        out,
        "\n{checked} of {} criteria are evidenced by checks; {jury} are for the jury to judge \
         ({on_material} on material the platform keeps, {} on the jury's own observation)",
        rows.len(),
        jury - on_material,
    );
    let not_examined = rows.len() - checked - jury;
    let _ = writeln!(
        out,
        "{}.",
        if not_examined > 0 { format!("; {not_examined} are not examined in this exam") } else { String::new() }
    );
    if !file.faults.is_empty() {
        let _ = writeln!(
            out,
            "\n## Faults for the jury phase\n\n| fault | title | checks that fail while it is present |\n| --- | --- | --- |"
        );
        for fault in &file.faults {
            let breaks = fault.breaks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "| `{}` | {} | {} |", fault.id, fault.title, breaks);
        }
    }
    out
}
