//! The application layer's operations on the in-memory runtime: what a
//! trainer or a jury would see (grades, faults, the clock, the audit log),
//! without Docker. The real engine's end-to-end tests live in `crates/plateau/tests`.

use std::sync::{Arc, Mutex};

use plateau_engine::platform::{ChangeKind, FsChange};
use plateau_engine::{Engine, ExecOutput, MemoryEngine, Op};
use plateau_exam::{
    FaultDone, FaultEffect, Injection, PhaseState, Pick, Role, Roster, SessionCtx, Silent, Status, UpRequest, Workspace,
};

const SCENARIO: &str = include_str!("memory.toml");

/// What the in-memory platform answers: smbd runs unless stopped; the
/// candidate's notes say `fait` once written.
#[derive(Default)]
struct Platform {
    smbd_stopped: bool,
    notes_written: bool,
    /// The fault's steps run but change nothing (a platform set up otherwise).
    ignore_faults: bool,
}

fn out(exit_code: i64, stdout: &str) -> ExecOutput {
    ExecOutput { exit_code, stdout: stdout.into(), stderr: String::new() }
}

fn engine(platform: Arc<Mutex<Platform>>) -> MemoryEngine {
    MemoryEngine::answering(move |_container, command| {
        let mut p = platform.lock().unwrap();
        if command.contains("plateau-service stop smbd") {
            p.smbd_stopped = !p.ignore_faults;
            out(0, "")
        } else if command.contains("plateau-service start smbd") {
            p.smbd_stopped = false;
            out(0, "")
        } else if command.contains("def=/etc/plateau/services/") {
            // The service check looks for a process running smbd's program.
            out(
                0,
                if p.smbd_stopped {
                    "stopped (no process runs /usr/sbin/smbd)\n"
                } else {
                    "running (/usr/sbin/smbd, pid 7)\n"
                },
            )
        } else if command.contains("notes.txt") {
            if p.notes_written { out(0, "1:fait\n") } else { out(1, "") }
        } else {
            out(127, "")
        }
    })
}

struct Exam {
    _dir: tempfile::TempDir,
    workspace: Workspace,
    memory: MemoryEngine,
    platform: Arc<Mutex<Platform>>,
}

fn up_request(dir: &tempfile::TempDir, candidates: usize) -> UpRequest {
    UpRequest {
        file_name: dir.path().join("gone.toml").display().to_string(),
        text: SCENARIO.into(),
        session: "mem".into(),
        roster: Roster::Numbered(candidates),
        seed: None,
        port_base: 40000,
        access_host: "exam.example".into(),
        gateway: None,
    }
}

impl Exam {
    async fn up(candidates: usize) -> Exam {
        let dir = tempfile::tempdir().unwrap();
        let platform = Arc::new(Mutex::new(Platform::default()));
        let memory = engine(platform.clone());
        let workspace =
            Workspace::new(dir.path().join("state.db"), "trainer").with_engine(Engine::Memory(memory.clone()));
        // The file is gone after `up`: later operations read the stored text.
        let report = workspace.up(up_request(&dir, candidates), &Silent).await.unwrap();
        assert_eq!(report.failed(), 0, "{:?}", report.candidates);
        Exam { _dir: dir, workspace, memory, platform }
    }

    fn session(&self) -> SessionCtx {
        self.workspace.session("mem").unwrap()
    }

    fn actions(&self) -> Vec<String> {
        self.workspace.audit_log("mem").unwrap().into_iter().map(|e| e.action).collect()
    }
}

fn statuses(grade: &plateau_exam::CandidateGrade) -> Vec<(&str, Status)> {
    grade.checks.iter().map(|c| (c.id.as_str(), c.status)).collect()
}

#[tokio::test]
async fn up_records_the_session_and_hands_each_candidate_a_sheet() {
    let exam = Exam::up(2).await;
    let sheets = exam.workspace.session_dir("mem").join("access");
    let sheet = std::fs::read_to_string(sheets.join("c02.md")).unwrap();
    assert!(sheet.contains("ssh -p 40002 technicien@exam.example"), "{sheet}");
    assert!(sheet.contains("Partagez le dossier."), "the brief is on the sheet: {sheet}");
    assert_eq!(exam.memory.state().containers.len(), 4, "2 candidates × 2 nodes");
    assert_eq!(exam.actions(), ["up", "up"]);
    // The scenario file is gone; the session still opens from the stored text.
    assert_eq!(exam.session().scenario.id(), "memory");
}

/// Through the seat gateway: each candidate's sheet gives the console and
/// the SSH gateway with a console account of their own, never the relay's
/// direct (unrecorded) command; a re-run prints the same password.
#[tokio::test]
async fn up_through_the_gateway_gives_each_candidate_a_console_account_on_their_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let workspace =
        Workspace::new(dir.path().join("state.db"), "centre").with_engine(Engine::Memory(engine(Arc::default())));
    let gateway = plateau_exam::GatewayAddress {
        console: Some("https://exam.example:8443".into()),
        ssh: Some("exam.example:2222".into()),
    };
    let request = || UpRequest { gateway: Some(gateway.clone()), ..up_request(&dir, 2) };
    workspace.up(request(), &Silent).await.unwrap();
    let sheets = workspace.session_dir("mem").join("access");
    let sheet = |c: &str| std::fs::read_to_string(sheets.join(format!("{c}.md"))).unwrap();
    let first = sheet("c02");
    assert!(first.contains("<https://exam.example:8443>"), "{first}");
    assert!(first.contains("`ssh -p 2222 c02@exam.example`"), "{first}");
    assert!(!first.contains("ssh -p 40002"), "the relay's direct way in: {first}");
    assert!(first.contains("Votre compte sur les machines"), "{first}");
    // The password on the sheet signs c02 in, as c02 and nobody else.
    let password = |sheet: &str| {
        let row = sheet.lines().find(|l| l.starts_with("| Mot de passe |")).unwrap().to_string();
        row.split('`').nth(1).unwrap().to_string()
    };
    let account = workspace.check_password("c02", &password(&first)).unwrap().expect("c02 signs in");
    assert_eq!((account.role, account.candidates.clone()), (Role::Candidate, vec!["c02".to_string()]));
    assert_ne!(password(&first), password(&sheet("c01")));
    workspace.up(request(), &Silent).await.unwrap();
    assert_eq!(sheet("c02"), first, "a re-run hands out the same sheet");
}

#[tokio::test]
async fn subnets_are_drawn_around_the_networks_another_session_holds() {
    let dir = tempfile::tempdir().unwrap();
    let memory = engine(Arc::default());
    let workspace = Workspace::new(dir.path().join("state.db"), "centre").with_engine(Engine::Memory(memory.clone()));
    let scenario = plateau_scenario::Scenario::parse("memory.toml", SCENARIO).unwrap();
    let alone = scenario.plan("mem", &plateau_scenario::Candidate::numbered(2)).unwrap();
    let lan = |plan: &plateau_scenario::CandidatePlan| plan.networks[0].subnet;
    // Another session on the engine holds what c01 would have drawn.
    let held =
        plateau_scenario::TakenSubnet { subnet: lan(&alone[0]), holder: "network `x` of session `matin`".into() };
    memory.state().held = vec![held.clone()];
    let report = workspace.up(up_request(&dir, 2), &Silent).await.unwrap();
    assert_eq!(report.failed(), 0, "{:?}", report.candidates);
    let stored = workspace.session("mem").unwrap().candidates().unwrap();
    assert_ne!(lan(&stored[0].plan), held.subnet, "c01 drew another subnet");
    assert_eq!(lan(&stored[1].plan), lan(&alone[1]), "c02 kept its own");

    // A room whose whole range is held cannot be drawn around: refused
    // before anything is made, at the network's line, with the holder named.
    memory.state().held = vec![plateau_scenario::TakenSubnet {
        subnet: "10.0.0.0/8".parse().unwrap(),
        holder: "Docker network `wide`".into(),
    }];
    let refused = workspace.up(UpRequest { session: "soir".into(), ..up_request(&dir, 1) }, &Silent).await;
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("Docker network `wide` (10.0.0.0/8), already on the engine"), "{message}");
    assert!(message.contains("subnet = \"{{lan}}\""), "points at the line: {message}");
    assert!(!memory.state().containers.keys().any(|c| c.contains("-soir-")), "nothing made");
}

#[tokio::test]
async fn host_keys_are_pinned_when_a_node_is_made_not_when_a_kept_one_shows_others() {
    let exam = Exam::up(1).await;
    let pinned = || {
        let store = plateau_state::Store::open(&exam._dir.path().join("state.db")).unwrap();
        store.host_keys("mem", "c01", "ws").unwrap()
    };
    let made = pinned();
    assert_eq!(made.len(), 1, "pinned at `up`: {made:?}");
    // Root on the node, the candidate rewrites its keys; a re-run `up`
    // (the node is kept) does not take theirs.
    let container = "plateau-mem-c01-ws".to_string();
    exam.memory.state().host_keys.insert(container, vec!["ssh-ed25519 forged-by-the-candidate".into()]);
    exam.workspace.up(up_request(&exam._dir, 1), &Silent).await.unwrap();
    assert_eq!(pinned(), made, "a kept node keeps the keys pinned at its creation");
    // A reset makes the node anew: its new keys are pinned.
    exam.session().reset("c01").await.unwrap();
    let renewed = pinned();
    assert!(renewed != made && !renewed[0].contains("forged"), "{renewed:?}");
}

#[tokio::test]
async fn grades_come_from_the_platform_and_are_stored_and_audited() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    let graded = ctx.grade(None, 4, &Silent).await.unwrap();
    let grade = graded[0].1.as_ref().unwrap();
    assert_eq!(statuses(grade), [("share-up", Status::Pass), ("notes", Status::Fail)]);
    assert_eq!((grade.score, grade.max_score), (3.0, 4));

    exam.platform.lock().unwrap().notes_written = true;
    let graded = ctx.grade(Some("c01"), 4, &Silent).await.unwrap();
    assert_eq!(graded[0].1.as_ref().unwrap().score, 4.0);
    let report = ctx.report(None).unwrap();
    assert_eq!(report.candidates[0].score, 4.0, "the report shows the latest grade");
    assert_eq!(exam.actions(), ["up", "grade", "grade", "report"]);
    assert_eq!(report.audit_head.as_deref(), Some(exam.workspace.verify_audit("mem", None).unwrap().head.as_str()));
}

#[tokio::test]
async fn a_fault_breaks_its_checks_and_the_candidates_repair_shows_in_the_grade() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    let inject = Injection { pick: Pick::Named("smbd-stopped".into()), at: None, node: None, params: vec![] };
    let outcomes = ctx.inject(Some("c01"), &inject, &Silent).await.unwrap();
    assert_eq!(
        outcomes[0].result,
        Ok(FaultDone::Injected { id: "smbd-stopped".into(), breaks: vec!["share-up".into()], ticket: None })
    );
    let again = ctx.inject(Some("c01"), &inject, &Silent).await.unwrap();
    assert!(again[0].result.as_ref().unwrap_err().contains("already present"), "{again:?}");

    let grade = ctx.grade(None, 1, &Silent).await.unwrap().remove(0).1.unwrap();
    assert_eq!(grade.checks[0].status, Status::Fail);
    assert_eq!(grade.faults[0].effect(), FaultEffect::Present, "{:?}", grade.faults);

    // The candidate repairs it their own way: the grade notices.
    exam.platform.lock().unwrap().smbd_stopped = false;
    let grade = ctx.grade(None, 1, &Silent).await.unwrap().remove(0).1.unwrap();
    assert_eq!(grade.faults[0].effect(), FaultEffect::Repaired, "{:?}", grade.faults);

    let reverted = ctx.revert(Some("c01"), "smbd-stopped", &Silent).await.unwrap();
    assert_eq!(reverted[0].result, Ok(FaultDone::Reverted));
    let commands: Vec<String> = exam.memory.state().execs.iter().map(|(_, c)| c.clone()).collect();
    assert!(commands.contains(&"plateau-service stop smbd".to_string()), "{commands:?}");
    assert!(commands.contains(&"plateau-service start smbd".to_string()), "{commands:?}");
    // The injection's own grade saw its effect.
    assert_eq!(exam.actions(), ["up", "grade", "fault.inject", "grade", "grade", "fault.revert"]);
}

#[tokio::test]
async fn a_fault_whose_effect_was_never_seen_is_not_called_repaired() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    // The candidate's platform answers as if the fault had done nothing:
    // its check passes right after the injection, and at every grade.
    exam.platform.lock().unwrap().ignore_faults = true;
    let inject = Injection { pick: Pick::Named("smbd-stopped".into()), at: None, node: None, params: vec![] };
    ctx.inject(Some("c01"), &inject, &Silent).await.unwrap();
    let grade = ctx.grade(None, 1, &Silent).await.unwrap().remove(0).1.unwrap();
    assert_eq!(grade.checks[0].status, Status::Pass);
    assert_eq!(grade.faults[0].effect(), FaultEffect::NotObserved, "{:?}", grade.faults);
    let seat = ctx.room_with(&Default::default()).unwrap().remove(0);
    assert_eq!(seat.faults[0].effect, FaultEffect::NotObserved, "the trainer's page says so too");
}

#[tokio::test]
async fn freezing_cuts_access_snapshots_every_node_and_grades_the_frozen_state() {
    let exam = Exam::up(2).await;
    let ctx = exam.session();
    ctx.start(Some("1h")).await.unwrap();
    assert!(ctx.start(None).await.is_err(), "a second start is refused");
    assert_eq!(exam.memory.state().open.len(), 2);

    let report = ctx.freeze_now(None, &Silent).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.frozen.len(), 2);
    for f in &report.frozen {
        assert_eq!(f.snapshots.len(), 2, "{f:?}");
        assert_eq!(f.grade, Some(Ok((3.0, 4))), "{f:?}");
    }
    assert!(exam.memory.state().open.is_empty(), "access is cut");
    assert!(ctx.phases().unwrap().iter().all(|p| matches!(p.state, PhaseState::Frozen { .. })));
    assert!(ctx.freeze_now(None, &Silent).await.is_err(), "nothing left to freeze");

    // The jury phase reopens one candidate's access, on its own clock.
    ctx.open_jury("c01", Some("20min")).await.unwrap();
    assert_eq!(exam.memory.state().open.len(), 1);
}

#[tokio::test]
async fn the_supervisor_freezes_at_the_deadline_and_injects_scheduled_faults() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    let soon = plateau_exam::when_to_unix("+1s").unwrap();
    let inject = Injection { pick: Pick::Named("smbd-stopped".into()), at: Some(soon), node: None, params: vec![] };
    let scheduled = ctx.inject(None, &inject, &Silent).await.unwrap();
    assert_eq!(scheduled[0].result, Ok(FaultDone::Scheduled { at: soon }));
    assert!(!exam.platform.lock().unwrap().smbd_stopped, "nothing happens before its time");
    ctx.start(Some("2s")).await.unwrap();

    let started = std::time::Instant::now();
    ctx.supervise(&Silent).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "frozen before the deadline");
    assert!(exam.platform.lock().unwrap().smbd_stopped, "the scheduled fault was injected");
    assert!(matches!(ctx.phases().unwrap()[0].state, PhaseState::Frozen { .. }));
    let actions = exam.actions();
    for action in ["fault.schedule", "exam.start", "fault.inject", "exam.freeze", "grade"] {
        assert!(actions.iter().any(|a| a == action), "no {action} in {actions:?}");
    }
}

#[tokio::test]
async fn a_grade_that_cannot_reach_the_platform_is_reported_not_fatal() {
    let exam = Exam::up(2).await;
    exam.memory.fail(Op::Exec, "c02");
    let graded = exam.session().grade(None, 4, &Silent).await.unwrap();
    assert_eq!(graded[0].1.as_ref().unwrap().score, 3.0, "c01 is graded");
    let c02 = graded[1].1.as_ref().unwrap();
    assert!(c02.checks.iter().all(|c| c.status == Status::Error), "c02 could not be looked at: {c02:?}");
}

#[tokio::test]
async fn a_frozen_state_that_cannot_be_graded_stands_as_such_never_as_a_live_grade() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    exam.platform.lock().unwrap().notes_written = true;
    let live = ctx.grade(None, 1, &Silent).await.unwrap().remove(0).1.unwrap();
    assert!(live.score > 0.0);
    ctx.start(Some("1h")).await.unwrap();
    exam.memory.fail(Op::Restore, "c01");
    let report = ctx.freeze_now(None, &Silent).await.unwrap();
    assert!(matches!(report.frozen[0].grade, Some(Err(_))), "{report:?}");
    let signed = ctx.signed_grade("c01").unwrap().unwrap();
    let basis = signed.basis.clone().unwrap();
    assert_eq!(basis.kind, plateau_exam::GradeKind::Record, "not the live grade");
    assert!(basis.failure.as_deref().unwrap_or_default().contains("not re-created"), "{basis:?}");
    assert_eq!(signed.score, 0.0);
    assert!(signed.checks.iter().all(|c| c.status == Status::Error), "{:?}", signed.checks);
    let seat = ctx.room_with(&Default::default()).unwrap().remove(0);
    assert!(seat.grade.unwrap().failure.is_some(), "the room says so");
    let grid = plateau_report::grid(&ctx.report(Some("c01")).unwrap(), &signed);
    assert!(grid.contains("Note de référence non produite"), "the grid says so");
}

#[tokio::test]
async fn one_candidates_failed_snapshot_never_stops_the_others_and_is_retried() {
    let exam = Exam::up(3).await;
    let ctx = exam.session();
    ctx.start(Some("1h")).await.unwrap();
    exam.memory.fail(Op::Snapshot, "c02");
    exam.memory.fail(Op::CutAccess, "c03");

    let report = ctx.freeze_now(None, &Silent).await.unwrap();
    let frozen: Vec<&str> = report.frozen.iter().map(|f| f.candidate.as_str()).collect();
    assert_eq!(frozen, ["c01"]);
    let failed: Vec<(&str, &str)> = report.failed.iter().map(|f| (f.candidate.as_str(), f.step)).collect();
    assert_eq!(failed, [("c03", "cut"), ("c02", "snapshot")]);
    // c02 is cut off all the same: its access is closed while its snapshot waits.
    let open: Vec<String> = exam.memory.state().open.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(open, ["c03"], "only the candidate whose cut failed may still be in");
    let states: Vec<PhaseState> = ctx.phases().unwrap().into_iter().map(|p| p.state).collect();
    assert!(matches!(states[0], PhaseState::Frozen { .. }), "{states:?}");
    assert!(matches!(states[1], PhaseState::Cut { .. }), "{states:?}");
    assert!(matches!(states[2], PhaseState::Running { .. }), "frozen early by hand, not cut: {states:?}");

    // Once the engine works again, the freeze resumes where it was.
    exam.memory.heal(Op::Snapshot, "c02");
    exam.memory.heal(Op::CutAccess, "c03");
    let report = ctx.freeze_now(None, &Silent).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.frozen.iter().map(|f| f.candidate.as_str()).collect::<Vec<_>>(), ["c02", "c03"]);
    let actions = exam.actions();
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("exam.cut"), 3, "each candidate is cut once: {actions:?}");
    assert_eq!(count("exam.freeze"), 3, "{actions:?}");
    assert_eq!(count("exam.freeze-failed"), 2, "{actions:?}");
}

#[tokio::test]
async fn a_second_supervisor_is_refused_with_the_first_ones_pid() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    ctx.start(Some("1h")).await.unwrap();
    let _held = ctx.supervisor_lock().unwrap();
    let err = exam.session().supervise(&Silent).await.unwrap_err().to_string();
    assert!(err.contains("supervised already") && err.contains(&std::process::id().to_string()), "{err}");
    drop(_held);
    assert!(exam.session().supervisor_lock().is_ok(), "the lock goes with its holder");
}

#[tokio::test]
async fn a_node_over_its_disk_budget_is_paused_once_and_the_trainer_decides() {
    let exam = Exam::up(2).await;
    let ctx = exam.session();
    // srv is a file server: 512 MiB unless the scenario says otherwise.
    exam.memory.state().disk.insert("plateau-mem-c01-srv".into(), 600 << 20);
    exam.memory.state().disk.insert("plateau-mem-c02-srv".into(), 100 << 20);
    let events = ctx.enforce_disk(&Silent).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].candidate.as_str(), events[0].node.as_str()), ("c01", "srv"));
    assert_eq!(events[0].budget, 512 << 20);
    assert!(exam.memory.state().paused.contains("plateau-mem-c01-srv"));
    assert!(ctx.enforce_disk(&Silent).await.unwrap().is_empty(), "a paused node is left to the trainer");

    assert!(ctx.resume_node("c01", "srv", " ").await.is_err(), "a resume says why");
    ctx.resume_node("c01", "srv", "the candidate's backup, expected").await.unwrap();
    assert!(exam.memory.state().paused.is_empty());
    let events: Vec<(String, String)> =
        ctx.limit_events().unwrap().into_iter().map(|e| (e.candidate, e.action)).collect();
    assert_eq!(events, [("c01".into(), "limit.disk".into()), ("c01".into(), "limit.resume".into())]);
}

#[tokio::test]
async fn an_exam_does_not_start_on_a_disk_that_cannot_hold_it() {
    let exam = Exam::up(2).await;
    let ctx = exam.session();
    // 2 candidates × (512 + 512 MiB) budgets, twice, + 1 GiB = 5 GiB.
    exam.memory.state().free_disk = Some(4 << 30);
    let err = ctx.start(Some("1h")).await.unwrap_err().to_string();
    assert!(err.contains("4 GiB free") && err.contains("needs 5 GiB"), "{err}");
    assert!(ctx.phases().unwrap().is_empty(), "nothing started");
    exam.memory.state().free_disk = Some(6 << 30);
    ctx.start(Some("1h")).await.unwrap();
}

#[tokio::test]
async fn the_room_starts_on_time_when_one_candidates_access_cannot_open() {
    let exam = Exam::up(3).await;
    let ctx = exam.session();
    ctx.set_access(None, false).await.unwrap();
    exam.memory.fail(Op::Open, "c02");
    let started = ctx.start(Some("1h")).await.unwrap();
    assert_eq!(started.candidates, 3);
    assert_eq!(started.not_open.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["c02"]);
    assert_eq!(ctx.phases().unwrap().len(), 3, "everyone's clock runs");
    let open: Vec<String> = exam.memory.state().open.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(open, ["c01", "c03"]);
}

fn change(path: &str, kind: ChangeKind) -> FsChange {
    FsChange { path: path.into(), kind }
}

#[tokio::test]
async fn a_program_the_candidate_replaced_makes_the_live_checks_on_that_node_undecided() {
    let exam = Exam::up(1).await;
    exam.platform.lock().unwrap().notes_written = true;
    exam.memory.state().changes.insert(
        "plateau-mem-c01-ws".into(),
        vec![change("/usr/bin/grep", ChangeKind::Modified), change("/etc/hosts", ChangeKind::Modified)],
    );
    let grade = exam.session().grade(None, 1, &Silent).await.unwrap().remove(0).1.unwrap();
    // The notes check ran `grep` on ws: its pass proves nothing now.
    assert_eq!(statuses(&grade), [("share-up", Status::Pass), ("notes", Status::Error)]);
    assert!(grade.checks[1].evidence.error.as_deref().unwrap().contains("/usr/bin/grep"), "{:?}", grade.checks[1]);
    assert_eq!(grade.integrity.len(), 1, "only ws changed what the grader trusts: {:?}", grade.integrity);
    let listed: Vec<&str> = grade.integrity[0].changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(listed, ["/usr/bin/grep"], "the candidate's expected work is not listed");
}

#[tokio::test]
async fn the_grade_of_record_reads_the_frozen_state_and_a_regrade_stands_beside_it() {
    let exam = Exam::up(1).await;
    let ctx = exam.session();
    ctx.start(Some("1h")).await.unwrap();
    exam.memory.state().changes.insert(
        "plateau-mem-c01-ws".into(),
        vec![change("/usr/bin/grep", ChangeKind::Modified), change("/etc/ld.so.preload", ChangeKind::Added)],
    );
    let report = ctx.freeze_now(None, &Silent).await.unwrap();
    assert_eq!(report.frozen[0].grade, Some(Ok((3.0, 4))), "{report:?}");
    // Every node was halted, and the grading platform got the role's own
    // grep and an empty preload list before it started.
    assert_eq!(
        exam.memory.state().put_back,
        [("plateau-mem-c01-ws".to_string(), vec!["/etc/ld.so.preload".to_string(), "/usr/bin/grep".to_string()])]
    );
    let record = ctx.grade_of_record("c01").unwrap().unwrap();
    let basis = record.basis.clone().unwrap();
    assert_eq!(basis.kind, plateau_results::GradeKind::Record);
    assert_eq!(basis.snapshots.len(), 2);
    assert!(basis.cut_at.is_some());
    assert!(record.checks.iter().all(|c| c.status != Status::Error), "the programs were put back: {record:?}");
    assert!(record.integrity[0].changes.iter().all(|c| c.put_back && c.seen == "at the deadline"));

    // Asking for a grade of a frozen candidate is refused; the whole session skips them.
    let refused = ctx.grade(Some("c01"), 1, &Silent).await.unwrap_err().to_string();
    assert!(refused.contains("--regrade"), "{refused}");
    assert!(ctx.grade(None, 1, &Silent).await.unwrap().is_empty());

    // An appeal: the frozen state graded again, beside the first.
    exam.platform.lock().unwrap().notes_written = true;
    assert!(ctx.regrade("c01", " ", &Silent).await.is_err(), "a regrade needs a reason");
    let again = ctx.regrade("c01", "la vérification des notes était erronée", &Silent).await.unwrap();
    assert_eq!(again.score, 4.0);
    let report = ctx.report(None).unwrap();
    let shown = &report.candidates[0];
    assert_eq!(shown.score, 3.0, "the grade of record stays in place");
    assert_eq!(shown.regrades.len(), 1);
    assert_eq!((shown.regrades[0].score, shown.regrades[0].by.as_str()), (4.0, "trainer"));
    let grid = plateau_report::grid(&report, shown);
    assert!(
        grid.contains("note de référence") && grid.contains("Intégrité") && grid.contains("/usr/bin/grep"),
        "{grid}"
    );
}

/// Type a line into a terminal and wait for the shell's next prompt.
async fn enter(
    terminal: &plateau_exam::gateway::LiveTerminal,
    output: &mut tokio::sync::broadcast::Receiver<Arc<Vec<u8>>>,
    line: &str,
) {
    terminal.send(plateau_exam::gateway::Keys::Typed(format!("{line}\r").into_bytes())).await;
    let mut seen = String::new();
    while !(seen.contains(line) && seen.ends_with("$ ")) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), output.recv()).await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_gateway_records_a_terminal_and_the_jury_sees_what_was_typed_during_a_fault() {
    let exam = Exam::up(1).await;
    let ctx = Arc::new(exam.session());
    let gateway = plateau_exam::gateway::Gateway::default();
    // Two tabs opened at once: one shell, one recording.
    let (terminal, other) =
        tokio::join!(gateway.open(&ctx, "c01", "ws", (80, 24)), gateway.open(&ctx, "c01", "ws", (80, 24)));
    let terminal = terminal.unwrap();
    assert!(Arc::ptr_eq(&terminal, &other.unwrap()), "two tabs share the shell");
    let (_, mut output) = terminal.attach();
    enter(&terminal, &mut output, "ls").await;
    // Times are kept to the millisecond: each step in a millisecond of its own.
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
    tick().await;
    let inject = Injection { pick: Pick::Named("smbd-stopped".into()), at: None, node: None, params: vec![] };
    ctx.inject(Some("c01"), &inject, &Silent).await.unwrap();
    tick().await;
    enter(&terminal, &mut output, "plateau-service start smbd").await;
    tick().await;
    ctx.revert(Some("c01"), "smbd-stopped", &Silent).await.unwrap();
    tick().await;
    enter(&terminal, &mut output, "echo fini").await;

    let timeline = ctx.timeline("c01").unwrap();
    assert_eq!(timeline.len(), 1);
    let lines: Vec<(&str, &str)> = timeline[0].lines.iter().map(|l| (l.node.as_str(), l.line.as_str())).collect();
    assert_eq!(lines, [("ws", "$ plateau-service start smbd")], "only what was typed while the fault was on");
    assert_eq!(timeline[0].fault, "smbd-stopped");
    // The rest is the preparatory work, under the block whose checks read ws.
    let preparation = ctx.preparation("c01").unwrap();
    let blocks: Vec<(&str, &[String])> = preparation.iter().map(|b| (b.block.as_str(), &b.nodes[..])).collect();
    assert_eq!(blocks, [("CCP3", &["srv".to_string(), "ws".to_string()][..])]);
    let lines: Vec<&str> = preparation[0].lines.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(lines, ["$ ls", "$ echo fini"], "outside the fault's time");
    // The report (JSON) carries it too.
    ctx.grade(None, 1, &Silent).await.unwrap();
    let report: serde_json::Value = serde_json::from_str(&ctx.report(Some("c01")).unwrap().to_json()).unwrap();
    let lines = &report["interventions"]["c01"][0]["lines"];
    assert_eq!(lines[0]["line"], "$ plateau-service start smbd", "{report}");
    assert_eq!(report["preparation"]["c01"][0]["lines"][0]["line"], "$ ls", "{report}");

    // A viewer who comes back finds the same shell, its screen first.
    let again = gateway.open(&ctx, "c01", "ws", (80, 24)).await.unwrap();
    assert!(Arc::ptr_eq(&terminal, &again), "the same shell after a reconnection");
    let (backlog, _) = again.attach();
    assert!(String::from_utf8_lossy(&backlog).contains("echo fini"));

    // The access is cut: the terminal ends with it, a new one is refused.
    let mut ended = terminal.ended();
    ctx.set_access(Some("c01"), false).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(2), ended.wait_for(|e| *e)).await.unwrap().unwrap();
    let refused = gateway.open(&ctx, "c01", "ws", (80, 24)).await.err().unwrap();
    assert!(refused.to_string().contains("access is closed"), "{refused}");

    let recording = std::fs::read_to_string(&terminal.recording).unwrap();
    let header: serde_json::Value = serde_json::from_str(recording.lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "asciicast v2: {recording}");
    assert!(recording.contains("plateau-service start smbd"), "{recording}");
    let actions = exam.actions();
    assert!(actions.contains(&"terminal.open".to_string()) && actions.contains(&"terminal.close".to_string()));
}

#[tokio::test]
async fn a_desktop_viewer_who_only_looks_sends_it_nothing_and_every_viewer_is_cut_with_the_access() {
    let exam = Exam::up(1).await;
    let ctx = Arc::new(exam.session());
    // The in-memory desktop sends back what reaches it.
    let connect = async |look_only: bool| {
        let desktop = ctx.open_desktop("c01", "ws", look_only).await.unwrap();
        let (to_desktop, from_viewer) = tokio::sync::mpsc::channel(16);
        let (to_viewer, from_desktop) = tokio::sync::mpsc::channel(16);
        let run = tokio::spawn(desktop.run(from_viewer, to_viewer));
        (to_desktop, from_desktop, run)
    };
    let reached = async |from_desktop: &mut tokio::sync::mpsc::Receiver<Vec<u8>>, wanted: usize| {
        let mut got = Vec::new();
        while got.len() < wanted {
            let wait = tokio::time::timeout(std::time::Duration::from_secs(2), from_desktop.recv());
            got.extend(wait.await.expect("the desktop answers").unwrap());
        }
        got
    };
    let greeting = b"RFB 003.008\n".to_vec();
    let mut viewer = greeting.clone();
    viewer.extend([1u8, 0]); // security None, not shared
    let update = [3u8, 0, 0, 0, 0, 0, 5, 0, 4, 0];
    let key = [4u8, 1, 0, 0, 0, 0, 0, 0x61];
    let (look, mut looked, watching) = connect(true).await;
    for message in [&viewer[..], &key, &update] {
        look.send(message.to_vec()).await.unwrap();
    }
    let mut expected = greeting.clone();
    expected.extend(b"RFB 003.008\n\x01\x01");
    expected.extend(update);
    assert_eq!(reached(&mut looked, expected.len()).await, expected, "shared; no key reached the desktop");

    let (own, mut seen, working) = connect(false).await;
    for message in [&viewer[..], &key] {
        own.send(message.to_vec()).await.unwrap();
    }
    let mut expected = greeting.clone();
    expected.extend(&viewer);
    expected.extend(key);
    assert_eq!(reached(&mut seen, expected.len()).await, expected, "the candidate's keys reach it");

    // A node without a desktop has none to open.
    let refused = ctx.open_desktop("c01", "srv", false).await.err().unwrap();
    assert!(refused.to_string().contains("has no desktop"), "{refused}");
    // The access is cut: both connections end, a new one is refused.
    ctx.set_access(Some("c01"), false).await.unwrap();
    for run in [watching, working] {
        let why = tokio::time::timeout(std::time::Duration::from_secs(2), run).await.unwrap().unwrap();
        assert_eq!(why, "the access was cut");
    }
    let refused = ctx.open_desktop("c01", "ws", false).await.err().unwrap();
    assert!(refused.to_string().contains("access is closed"), "{refused}");
    let actions = exam.actions();
    assert_eq!(actions.iter().filter(|a| *a == "desktop.close").count(), 2, "{actions:?}");
}

/// A centre with two engines: each candidate's platform whole on one of
/// them, spread by the memory its nodes declare; every verb goes to the
/// engine that holds the candidate; losing one engine costs only its own
/// candidates, and the session stays on record until that engine is back.
#[tokio::test]
async fn with_two_engines_each_platform_is_whole_on_one_and_every_verb_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let site_text = |b_url: &str| {
        format!(
            "[[engines]]\nid = \"salle-a\"\nurl = \"unix:///nonexistent/a.sock\"\nmemory = \"16g\"\n\n\
             [[engines]]\nid = \"salle-b\"\nurl = \"{b_url}\"\nmemory = \"16g\"\n"
        )
    };
    let site = |b_url: &str| plateau_exam::Site::parse("plateau.toml", &site_text(b_url), dir.path()).unwrap();
    let (a, b) = (engine(Arc::default()), engine(Arc::default()));
    let runtimes = |with_b: bool| {
        let mut r = std::collections::BTreeMap::from([("salle-a".to_string(), Engine::Memory(a.clone()))]);
        if with_b {
            r.insert("salle-b".to_string(), Engine::Memory(b.clone()));
        }
        r
    };
    let state = dir.path().join("state.db");
    let both = Workspace::new(&state, "centre").with_site(site("unix:///nonexistent/b.sock"), runtimes(true));
    let report = both.up(up_request(&dir, 3), &Silent).await.unwrap();
    let placed: Vec<(&str, &str)> = report.candidates.iter().map(|c| (c.id.as_str(), c.engine.as_str())).collect();
    assert_eq!(placed, [("c01", "salle-a"), ("c02", "salle-b"), ("c03", "salle-a")]);
    let holds = |m: &MemoryEngine| -> Vec<String> { m.state().containers.keys().cloned().collect() };
    assert_eq!(holds(&a), ["plateau-mem-c01-srv", "plateau-mem-c01-ws", "plateau-mem-c03-srv", "plateau-mem-c03-ws"]);
    assert_eq!(holds(&b), ["plateau-mem-c02-srv", "plateau-mem-c02-ws"]);

    // A re-run converges: nobody moves, whatever the memory left says now.
    let again = both.up(up_request(&dir, 3), &Silent).await.unwrap();
    assert_eq!(
        again.candidates.iter().map(|c| c.engine.as_str()).collect::<Vec<_>>(),
        ["salle-a", "salle-b", "salle-a"]
    );

    // Grading, the clock and the freeze go to each candidate's own engine.
    let ctx = both.session("mem").unwrap();
    b.state().execs.clear();
    let graded = ctx.grade(Some("c02"), 4, &Silent).await.unwrap();
    assert_eq!(graded[0].1.as_ref().unwrap().score, 3.0);
    assert!(b.state().execs.iter().all(|(container, _)| container.starts_with("plateau-mem-c02-")));
    assert!(!b.state().execs.is_empty(), "c02 is graded on salle-b");
    ctx.start(Some("1h")).await.unwrap();
    assert_eq!((a.state().open.len(), b.state().open.len()), (2, 1));

    // salle-b is lost: its candidate's seat says so, the others' do not.
    let without_b = Workspace::new(&state, "centre").with_site(site("unix:///nonexistent/b.sock"), runtimes(false));
    let ctx = without_b.session("mem").unwrap();
    let seats = ctx.room().await.unwrap();
    let seen: Vec<(&str, &str, Option<bool>)> =
        seats.iter().map(|s| (s.id.as_str(), s.engine.as_str(), s.access_open)).collect();
    assert_eq!(seen, [("c01", "salle-a", Some(true)), ("c02", "salle-b", None), ("c03", "salle-a", Some(true))]);
    let graded = ctx.grade(None, 4, &Silent).await.unwrap();
    assert!(graded[0].1.is_ok() && graded[2].1.is_ok(), "{graded:?}");
    let lost = graded[1].1.as_ref().unwrap_err().to_string();
    assert!(lost.contains("engine `salle-b`") && lost.contains("not reachable"), "{lost}");
    // The freeze cuts and snapshots salle-a's candidates; c02's waits for its engine.
    let frozen = ctx.freeze_now(None, &Silent).await.unwrap();
    let ids = |v: Vec<String>| v;
    assert_eq!(ids(frozen.frozen.iter().map(|f| f.candidate.clone()).collect()), ["c01", "c03"]);
    assert_eq!(ids(frozen.failed.iter().map(|f| f.candidate.clone()).collect()), ["c02"]);
    assert_eq!(a.state().snapshots.len(), 4);

    // `down` removes what salle-a holds and keeps the session on record.
    let refused = without_b.down("mem").await.unwrap_err().to_string();
    assert!(refused.contains("still on record") && refused.contains("salle-b"), "{refused}");
    assert!(a.state().containers.is_empty());
    assert!(without_b.session("mem").is_ok(), "the session is still on record");
    // Once salle-b is back, `down` finishes.
    both.down("mem").await.unwrap();
    assert!(b.state().containers.is_empty());
    assert!(both.session("mem").is_err());
}

/// The roster's `engine` column pins a candidate; a pin the site cannot
/// honour is refused before anything is created, naming the candidate.
#[tokio::test]
async fn the_roster_pins_candidates_to_engines_or_says_why_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let site = plateau_exam::Site::parse(
        "plateau.toml",
        "[[engines]]\nid = \"salle-a\"\nurl = \"unix:///x/a.sock\"\n\n[[engines]]\nid = \"salle-b\"\nurl = \"unix:///x/b.sock\"\n",
        dir.path(),
    )
    .unwrap();
    let (a, b) = (engine(Arc::default()), engine(Arc::default()));
    let runtimes = std::collections::BTreeMap::from([
        ("salle-a".to_string(), Engine::Memory(a.clone())),
        ("salle-b".to_string(), Engine::Memory(b.clone())),
    ]);
    let workspace = Workspace::new(dir.path().join("state.db"), "centre").with_site(site, runtimes);
    let roster = |text: &str| UpRequest {
        roster: Roster::Csv { name: "salle.csv".into(), text: text.into() },
        ..up_request(&dir, 1)
    };
    let refused = workspace.up(roster("id,name,engine\nalice,Alice,salle-z\n"), &Silent).await.unwrap_err();
    assert!(refused.to_string().contains("alice: the roster places it on engine `salle-z`"), "{refused}");
    assert!(a.state().containers.is_empty() && b.state().containers.is_empty(), "nothing was created");
    let report = workspace.up(roster("id,name,engine\nalice,Alice,salle-b\nbob,Bob,\n"), &Silent).await.unwrap();
    let placed: Vec<(&str, &str)> = report.candidates.iter().map(|c| (c.id.as_str(), c.engine.as_str())).collect();
    assert_eq!(placed, [("alice", "salle-b"), ("bob", "salle-a")]);
}

/// An engine that restarted mid-exam stopped the relays: a re-run of `up`
/// opens again the access of every candidate whose phase runs, on the
/// record, but never one a trainer closed by hand.
#[tokio::test]
async fn up_mid_exam_reopens_the_access_the_engine_lost_but_not_one_a_trainer_closed() {
    let exam = Exam::up(2).await;
    let ctx = exam.session();
    ctx.start(Some("1h")).await.unwrap();
    ctx.set_access(Some("c02"), false).await.unwrap();
    // The engine restarts: every relay stops.
    exam.memory.state().open.clear();
    let report = exam.workspace.up(up_request(&exam._dir, 2), &Silent).await.unwrap();
    assert_eq!(report.failed(), 0);
    let open: Vec<String> = exam.memory.state().open.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(open, ["c01"], "c02's access was closed by hand and stays so");
    let reopened = exam.workspace.audit_log("mem").unwrap().into_iter().filter(|e| e.action == "access.open").count();
    assert_eq!(reopened, 1, "the reopening is on the record");
}
