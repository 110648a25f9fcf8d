//! The `plateau` command: a thin layer over the library crates.

mod archive_cmds;
mod audit_cmds;
mod console_cmds;
mod engine_cmds;
mod exam_cmds;
mod fault_cmds;
mod grade_cmds;
mod image_cmds;
mod platform_cmds;
mod render;
mod scenario_cmds;
mod scenario_test;
mod timings;
mod watch_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Plateau: provision, grade and report hands-on IT exams.
///
/// Start with `plateau validate scenarios/tai-small.toml`, then
/// `plateau plan scenarios/tai-small.toml --candidates 3`.
#[derive(Parser)]
#[command(name = "plateau", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print where the command's time went (each step of `up`, `grade`,
    /// `reset`, the freeze: times run, total, mean, max) on stderr.
    #[arg(long, global = true)]
    timings: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenario files and report every problem with its line and column.
    ///
    /// Exits 0 when every file is valid, 1 when one is not, 2 on usage errors.
    Validate(scenario_cmds::ValidateArgs),
    /// Show what would be built for each candidate: variables, networks, addresses.
    Plan(scenario_cmds::PlanArgs),
    /// Prove a scenario grades right: `plateau scenario test FILE`.
    Scenario(scenario_test::ScenarioArgs),
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
    /// The role reference: what each role's machines have (programs,
    /// services, files) and which checks run on them (Markdown).
    Roles(scenario_cmds::RolesArgs),
    /// List the competence frameworks, or show one with its criteria.
    Frameworks(scenario_cmds::FrameworksArgs),
    /// Build and list the role images (offline: Debian packages only).
    Images(image_cmds::ImagesArgs),
    /// Provision (or reconcile) every candidate's platform of a session.
    Up(platform_cmds::UpArgs),
    /// Show each candidate's nodes, engine by engine: state and health.
    ///
    /// Exits 1 when an engine that holds candidates cannot be reached.
    Status(platform_cmds::StatusArgs),
    /// Remove every container and network of a session (and nothing else).
    Down(platform_cmds::SessionArgs),
    /// Give one candidate a fresh platform.
    Reset(platform_cmds::CandidateArgs),
    /// Apply the scenario's reference solution through a candidate's own access (trainers, tests).
    Solve(platform_cmds::CandidateArgs),
    /// Open an interactive shell on a candidate's node (trainers).
    Shell(platform_cmds::ShellArgs),
    /// Open or close candidates' access to their platform.
    Access(platform_cmds::AccessArgs),
    /// Verify every candidate's platform and grade it per criterion (stored in the session database).
    Grade(grade_cmds::GradeArgs),
    /// Grade every candidate again and again and show progress live (trainers, practice).
    Watch(watch_cmd::WatchArgs),
    /// Write the reports of the latest grades: JSON, the jury's HTML grid, CSV, JUnit.
    Report(grade_cmds::ReportArgs),
    /// Record a jury's decision on a criterion, beside the automatic verdict.
    Override(grade_cmds::OverrideArgs),
    /// Run the exam's clock: start, status, extend, freeze, and the supervisor that freezes on time.
    Exam(exam_cmds::ExamArgs),
    /// Inject or revert the scenario's faults on candidates' platforms.
    Fault(fault_cmds::FaultArgs),
    /// Show or verify the session's hash-chained audit log.
    Audit(audit_cmds::AuditArgs),
    /// The appeals archive of a session: create (and free the engine's
    /// snapshots), verify offline, restore one candidate.
    Archive(archive_cmds::ArchiveArgs),
    /// Serve the web console (operators, trainers, juries) on 127.0.0.1:8080.
    Serve(console_cmds::ServeArgs),
    /// Manage the console's accounts.
    Accounts(console_cmds::AccountsArgs),
    /// The centre's Docker engines (site file `plateau.toml`): list them,
    /// make the certificates a remote engine needs.
    Engines(engine_cmds::EnginesArgs),
    /// Show what each Docker engine of the site allows and which scenario
    /// features work there (this host's engine without a site file).
    ///
    /// Exits 1 when an engine cannot be reached.
    Doctor {
        /// The site file (default: `plateau.toml` here; without one, this
        /// host's engine alone).
        #[arg(long, env = "PLATEAU_SITE")]
        site: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Send one in-network probe from here and print what it saw (JSON):
    /// what the helper beside another host's engine runs for the grader.
    #[command(hide = true)]
    Probe {
        /// The probe's own time limit, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// The probe, as the grader sends it (JSON).
        request: String,
    },
}

/// Exit statuses shared by every command.
pub(crate) mod status {
    pub const OK: u8 = 0;
    /// The input was read and is wrong (invalid scenario, failed check).
    pub const INVALID: u8 = 1;
    /// The command could not run as asked (bad arguments, unreadable file).
    pub const USAGE: u8 = 2;
}

#[tokio::main]
async fn main() -> ExitCode {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let cli = Cli::parse();
    let timings = cli.timings.then(timings::Timings::new);
    // Only Plateau's own spans are timed: the libraries' are not steps.
    let ours = tracing_subscriber::filter::Targets::new().with_target("plateau", tracing::Level::INFO);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(EnvFilter::from_env("PLATEAU_LOG")),
        )
        .with(timings.clone().map(|t| t.with_filter(ours)))
        .init();
    let result = match cli.command {
        Command::Validate(args) => scenario_cmds::validate(args),
        Command::Plan(args) => scenario_cmds::plan(args),
        Command::Schema => scenario_cmds::schema(),
        Command::Roles(args) => scenario_cmds::roles(args),
        Command::Scenario(args) => scenario_test::scenario(args).await,
        Command::Frameworks(args) => scenario_cmds::frameworks(args),
        Command::Images(args) => image_cmds::images(args).await,
        Command::Engines(args) => engine_cmds::engines(args).await,
        Command::Doctor { site, json } => engine_cmds::doctor(site, json).await,
        Command::Probe { timeout_ms, request } => {
            let timeout = std::time::Duration::from_millis(timeout_ms);
            println!("{}", plateau_exam::answer_probe(&request, timeout).await);
            Ok(status::OK)
        }
        Command::Up(args) => platform_cmds::up(args).await,
        Command::Status(args) => platform_cmds::status(args).await,
        Command::Down(args) => platform_cmds::down(args).await,
        Command::Reset(args) => platform_cmds::reset(args).await,
        Command::Shell(args) => platform_cmds::shell(args).await,
        Command::Solve(args) => platform_cmds::solve(args).await,
        Command::Access(args) => platform_cmds::access(args).await,
        Command::Audit(args) => audit_cmds::audit(args),
        Command::Archive(args) => archive_cmds::archive(args).await,
        Command::Serve(args) => console_cmds::serve(args).await,
        Command::Accounts(args) => console_cmds::accounts(args),
        Command::Exam(args) => exam_cmds::exam(args).await,
        Command::Fault(args) => fault_cmds::fault(args).await,
        Command::Grade(args) => grade_cmds::grade_cmd(args).await,
        Command::Watch(args) => watch_cmd::watch(args).await,
        Command::Report(args) => grade_cmds::report_cmd(args),
        Command::Override(args) => grade_cmds::override_cmd(args),
    };
    if let Some(timings) = timings {
        eprintln!("{}", timings.render());
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => match e.downcast_ref() {
            // An invalid scenario: its diagnostics, as `validate` shows them.
            Some(plateau_exam::Error::Invalid(report)) => {
                eprint!("{}", report.render(scenario_cmds::color()));
                ExitCode::from(status::INVALID)
            }
            _ => {
                eprintln!("error: {e:#}");
                ExitCode::from(status::USAGE)
            }
        },
    }
}
