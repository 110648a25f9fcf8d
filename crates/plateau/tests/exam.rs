//! The exam's clock on the real engine, with the preparatory phase shortened
//! to seconds: start, the candidate works through their access, the
//! supervisor is killed and restarted mid-phase, the deadline passes, the
//! candidate is cut off (open session and new connections), every node is
//! snapshotted, the frozen state is graded, and a platform re-created from
//! the snapshots grades the same.
//!
//! Needs a Docker engine; in CI (`CI=true`) a missing engine is a failure.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Exam, Snapshots, plans, statuses};
use plateau_grade::executor::{Execute, SshAuth, SshExecutor};

fn banner(port: u16) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&format!("127.0.0.1:{port}").parse().unwrap(), Duration::from_secs(3)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn the_deadline_freezes_the_candidate_even_across_a_controller_restart() {
    let Some(exam) = Exam::new("clock") else { return };
    let snapshots = Snapshots(exam.session.clone());
    exam.up("1", "33700");
    let password = plans(&exam)[0]["access"][0]["password"].as_str().unwrap().to_string();

    let started = Instant::now();
    exam.ok(&["exam", "start", "--session", &exam.session, "--duration", "25s"]);
    let status = exam.ok(&["exam", "status", "--session", &exam.session]);
    assert!(status.contains("c01") && status.contains("left"), "{status}");

    // The candidate works through their access during the phase.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let candidate = SshExecutor::new("127.0.0.1", 33701, "technicien", SshAuth::Password(password), &[]);
    let out = runtime
        .block_on(candidate.run("echo travail > ~/notes.txt && cat ~/notes.txt", Duration::from_secs(20)))
        .unwrap();
    assert_eq!(out.stdout.trim(), "travail");
    exam.ok(&["solve", "--session", &exam.session, "--candidate", "c01"]);

    // The supervisor dies mid-phase and is started again: the stored deadline holds.
    let mut first = exam.command(&["exam", "run", "--session", &exam.session]).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        exam.ok(&["exam", "status", "--session", &exam.session]).contains("left"),
        "not frozen before the deadline"
    );
    let second = exam.command(&["exam", "run", "--session", &exam.session]).output().unwrap();
    let waited = started.elapsed();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(waited >= Duration::from_secs(25), "frozen before the deadline ({waited:?})");
    assert!(waited < Duration::from_secs(75), "frozen too late ({waited:?})");
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("c01: access cut, 4 node(s) snapshotted") && said.contains("frozen state graded"), "{said}");

    // Cut off: the open session can do nothing more, and new connections fail.
    let after = runtime.block_on(candidate.run("cat ~/notes.txt", Duration::from_secs(5)));
    assert!(after.is_err(), "the candidate's open session still works: {after:?}");
    assert_eq!(banner(33701), None, "the candidate's access still answers");
    assert!(exam.ok(&["exam", "status", "--session", &exam.session]).contains("frozen at"));

    // Every node is kept for appeals, and the frozen state's grade is stored and logged.
    assert_eq!(snapshots.ids().len(), 4);
    let frozen = exam.signed("c01");
    assert_eq!(frozen["score"], 20.0, "{}", serde_json::to_string_pretty(&frozen).unwrap());
    assert_eq!(frozen["basis"]["kind"], "record", "the grade of record is the frozen state's");
    assert_eq!(frozen["basis"]["snapshots"].as_array().unwrap().len(), 4);
    // A later grade of a frozen candidate is refused without a reason.
    let refused = exam.plateau(&["grade", "--session", &exam.session, "--candidate", "c01"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--regrade"), "{refused:?}");

    // An appeal: the platform is re-created from the snapshots and regraded,
    // with the same result, shown beside the grade of record.
    let restored = exam.ok(&["exam", "restore", "--session", &exam.session, "--candidate", "c01"]);
    assert!(restored.contains("restored from snapshot freeze-"), "{restored}");
    assert_eq!(banner(33701), None, "a restored platform keeps the candidate out");
    let regraded = exam.regrade("c01", "recours du candidat");
    assert_eq!(statuses(&regraded), statuses(&frozen), "{}", serde_json::to_string_pretty(&regraded).unwrap());
    let signed = exam.signed("c01");
    assert_eq!(signed["basis"]["kind"], "record");
    assert_eq!(signed["regrades"][0]["reason"], "recours du candidat");

    // The jury phase: access again, on its own clock, closed on time.
    exam.ok(&["exam", "open-jury", "--session", &exam.session, "--candidate", "c01", "--duration", "5s"]);
    assert_eq!(banner(33701).as_deref(), Some("SSH-2.0"), "the candidate works in front of the jury");
    let jury = exam.command(&["exam", "run", "--session", &exam.session]).output().unwrap();
    assert!(String::from_utf8_lossy(&jury.stdout).contains("every candidate is frozen"));
    assert_eq!(banner(33701), None, "access closes at the end of the jury phase");

    let log = exam.ok(&["audit", "show", "--session", &exam.session]);
    for action in [" exam.start ", " solve ", " exam.freeze ", " exam.restore ", " exam.open-jury ", " grade "] {
        assert!(log.contains(action), "{log}");
    }
    assert!(exam.ok(&["audit", "verify", "--session", &exam.session]).contains("chain intact"));
}
