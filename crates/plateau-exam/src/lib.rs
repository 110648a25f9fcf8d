//! Plateau's application layer: every exam operation, once, for the CLI and
//! the web console.
//!
//! Start from a [`Workspace`] (where the session database lives and who
//! acts). Operations that create or list sessions are `Workspace` methods
//! (`up`, `down`, `status`, the audit log); everything else acts on one
//! recorded session through a [`SessionCtx`] (`workspace.session(name)`),
//! which holds the database, the session record, the scenario as stored at
//! `up`, and the engine. Each operation returns typed results and reports
//! long work through a [`Progress`]; every change is audited here.

mod accounts;
mod archive;
mod audit;
mod clock;
mod context;
mod engines;
mod error;
mod faults;
mod freeze;
pub mod gateway;
mod grading;
mod images;
mod limits;
mod pdf;
mod placing;
mod platform;
mod progress;
mod room;
mod scenario_test;
mod sheet;
mod solve;
mod watch;

pub use accounts::{Account, Role, SignedIn};
pub use archive::{Archived, ArchivedCandidate, Finding, Manifest, Restored, Verification};
pub use audit::Verified;
pub use clock::{JURY, PREPARATION, PhaseRow, PhaseState, Started, SupervisorLock, at, parse_duration};
pub use context::{SessionCtx, Workspace, scenario_hash};
pub use engines::{SITE_FILE, doctor, load_site, make_certs, overview};
pub use error::{Error, Result};
pub use faults::{FaultCatalogue, FaultDone, FaultOutcome, Injection, Pick, describe, when_to_unix};
pub use freeze::{FreezeFailure, FreezeReport, Frozen};
pub use grading::{Format, Graded};
pub use images::{ImageRow, build_images, build_vm_image, import_vm_image, list_images, prune_images};
pub use limits::{DiskEvent, LimitEvent};
pub use plateau_engine::platform::NodeStatus;
pub use plateau_engine::site::{Overview, Site};
/// The agent's side of a probe sent beside another host's engine (`plateau probe`).
pub use plateau_grade::prober::answer as answer_probe;
pub use plateau_state::LOCAL_ENGINE;
pub use platform::{CandidateReady, GuestShell, NodeRow, Roster, ShellWay, UNREACHABLE, UpReport, UpRequest};
pub use progress::{Event, Progress, Recorded, Silent};
pub use room::{EngineNodes, FaultSeen, GradeSummary, Seat};
pub use scenario_test::{SCENARIO_TEST_SEED, TestReport, TestRequest, scenario_test};
pub use solve::Solved;
pub use watch::Round;

/// Types callers need to read results, without depending on the crates below.
pub use plateau_images::ImageState;
pub use plateau_report::Report;
pub use plateau_results::{CandidateGrade, CheckResult, FaultEffect, GradeKind, Status, Verdict, verdict_token};
pub use plateau_state::{AuditEntry, Breach, GatewayAddress};

/// The web console runs operations in spawned tasks: their futures must be `Send`
/// (no database guard held across an `.await`). A compile-time check.
#[cfg(test)]
#[allow(dead_code, clippy::let_underscore_future)]
mod operations_are_send {
    use super::*;

    fn send<T: Send>(_: T) {}

    fn every_async_operation(ws: &Workspace, ctx: &SessionCtx, injection: &Injection, up: UpRequest) {
        send(ws.up(up, &Silent));
        send(ws.down("s"));
        send(ws.status(None));
        send(ctx.reset("c01"));
        send(ctx.set_access(None, true));
        send(ctx.solve("c01", &Silent));
        send(ctx.grade(None, 1, &Silent));
        send(ctx.inject(None, injection, &Silent));
        send(ctx.revert(None, "f", &Silent));
        send(ctx.inject_due(&Silent));
        send(ctx.start(None));
        send(ctx.open_jury("c01", None));
        send(ctx.freeze_now(None, &Silent));
        send(ctx.supervise(&Silent));
        send(ctx.restore("c01", None));
        send(ctx.watch_round(true));
        send(ctx.enforce_disk(&Silent));
        send(ctx.resume_node("c01", "ws", "r"));
    }
}
