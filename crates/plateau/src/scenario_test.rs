//! `plateau scenario test FILE` (prove a scenario grades right: the work is
//! `plateau_exam::scenario_test`) and `plateau scenario coverage FILE`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use plateau_exam::TestRequest;

use crate::render::Render;
use crate::{scenario_cmds, status};

#[derive(Args)]
pub struct ScenarioArgs {
    #[command(subcommand)]
    action: ScenarioAction,
}

#[derive(Subcommand)]
enum ScenarioAction {
    /// Provision one candidate and check that the scenario grades right:
    /// untouched fails, solved passes, each fault breaks exactly its checks.
    Test(TestArgs),
    /// Print which criteria of the framework the checks evidence and which
    /// are left to the jury (Markdown), computed from the scenario file.
    Coverage(scenario_cmds::CoverageArgs),
}

#[derive(Args)]
struct TestArgs {
    #[arg(value_name = "SCENARIO")]
    file: PathBuf,
    /// Host port of the test candidate's SSH access.
    #[arg(long, default_value_t = 45001)]
    port: u16,
    /// Also write the matrix as Markdown to this file.
    #[arg(long, value_name = "FILE")]
    matrix: Option<PathBuf>,
    /// Leave the platform up afterwards (for a look with `plateau shell`).
    #[arg(long)]
    keep: bool,
    /// Seed of the test candidate's variants (another draw of the
    /// scenario's variables: addresses, names, passwords).
    #[arg(long, default_value = plateau_exam::SCENARIO_TEST_SEED)]
    seed: String,
    /// Session database; a temporary one by default.
    #[arg(long, env = "PLATEAU_STATE")]
    state: Option<PathBuf>,
}

pub async fn scenario(args: ScenarioArgs) -> Result<u8> {
    match args.action {
        ScenarioAction::Test(args) => test(args).await,
        ScenarioAction::Coverage(args) => scenario_cmds::coverage(args),
    }
}

async fn test(args: TestArgs) -> Result<u8> {
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read scenario {}", args.file.display()))?;
    let file_name = args.file.display().to_string();
    let request = TestRequest {
        file_name: file_name.clone(),
        text,
        port: args.port,
        keep: args.keep,
        seed: args.seed.clone(),
        state: args.state.clone(),
        actor: "scenario-test".into(),
    };
    let report = plateau_exam::scenario_test(request, &Render::lines_to_stderr()).await?;
    print!("{}", report.matrix);
    if let Some(path) = &args.matrix {
        std::fs::write(path, &report.matrix).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.unexpected.is_empty() {
        for cell in &report.unexpected {
            eprintln!("  {cell}");
        }
        eprintln!(
            "{file_name}: {} unexpected cell(s) (marked `!`): the scenario would grade someone wrongly",
            report.unexpected.len()
        );
        return Ok(status::INVALID);
    }
    println!("{file_name}: grades right in every state ({} states × {} checks)", report.states, report.checks);
    Ok(status::OK)
}
