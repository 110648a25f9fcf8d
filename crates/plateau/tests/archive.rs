//! The appeals archive on the real engine: a frozen session is archived
//! into one file that verifies offline (and says so when a grade in it was
//! edited, or with another centre's key), `down` then leaves no snapshot
//! behind, and an appeal brings the candidate's frozen platform back from
//! the archive alone and grades it as the grade of record did.
//!
//! Needs a Docker engine; in CI (`CI=true`) a missing engine is a failure.

mod common;

use std::process::Command;

use common::{Exam, Snapshots, statuses};

#[test]
fn an_archived_session_verifies_offline_frees_its_snapshots_and_restores_for_an_appeal() {
    let Some(exam) = Exam::new("archive") else { return };
    let snapshots = Snapshots(exam.session.clone());
    let session = exam.session.as_str();
    exam.up("1", "34600");
    exam.ok(&["solve", "--session", session, "--candidate", "c01"]);
    exam.ok(&["exam", "start", "--session", session, "--duration", "1h"]);
    exam.ok(&["exam", "freeze", "--session", session]);
    let record = exam.signed("c01");
    assert_eq!(record["basis"]["kind"], "record");
    assert!(!snapshots.ids().is_empty(), "the freeze made snapshots");

    let file = exam.state.path().join("appeals").join(format!("{session}.tar"));
    let file = file.to_str().unwrap();
    let created = exam.ok(&["archive", "create", "--session", session, "--out", file]);
    assert!(created.contains("archived in"), "{created}");
    // The frozen platform is still there (paused): its snapshots go with `down`.
    assert!(created.contains("removed with `plateau down`"), "{created}");

    let verified = exam.ok(&["archive", "verify", file]);
    for what in ["seal", "files", "audit", "report", "snapshots"] {
        assert!(verified.lines().any(|l| l.starts_with("ok") && l.contains(what)), "{what}: {verified}");
    }

    // A grade edited in the archive is found, and so is another centre's key.
    let edited = exam.state.path().join("edited");
    std::fs::create_dir(&edited).unwrap();
    let tar = |args: &[&str]| {
        let out = Command::new("tar").args(args).current_dir(&edited).output().unwrap();
        assert!(out.status.success(), "tar {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    tar(&["-xf", file]);
    let report = edited.join("report/report.json");
    let text = std::fs::read_to_string(&report).unwrap();
    let changed = text.replacen("\"pass\"", "\"fail\"", 1);
    assert_ne!(changed, text, "the report has a verdict to edit");
    std::fs::write(&report, changed).unwrap();
    tar(&["-cf", "../edited.tar", "."]);
    let edited_file = exam.state.path().join("edited.tar");
    let out = exam.plateau(&["archive", "verify", edited_file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("FAIL files") && said.contains("report/report.json"), "{said}");
    let other_key = exam.state.path().join("other.key");
    std::fs::write(&other_key, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    let out = exam.plateau(&["archive", "verify", file, "--key", other_key.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("FAIL seal") && said.contains("FAIL audit"), "{said}");

    let down = exam.ok(&["down", "--session", session]);
    assert!(down.contains("snapshot image(s), kept in its archive"), "{down}");
    assert_eq!(snapshots.ids(), Vec::<String>::new(), "the engine keeps no snapshot of an archived session");
    assert_eq!(exam.leftovers(), 0);

    // The appeal: from the archive alone (`down` removed the session's
    // plans and the engine its snapshots), the same verdicts.
    let restored = exam.ok(&["archive", "restore", file, "--candidate", "c01"]);
    assert!(restored.contains("restored from the archive and graded again"), "{restored}");
    let again = exam.signed("c01");
    assert_eq!(again["basis"]["kind"], "record");
    assert_eq!(statuses(&again), statuses(&record), "{again:#}");
    assert_eq!(again["score"], record["score"]);
    exam.ok(&["down", "--session", session]);
    assert_eq!(snapshots.ids(), Vec::<String>::new());
}
