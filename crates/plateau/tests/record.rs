//! The grade of record of the full TAI exam, on the real engine: a
//! candidate who did everything the brief asks gets, for the platform as it
//! stood at the deadline, the grade they get live — 100 / 100 — with the
//! VPN brought up by hand (`wg-quick up`, working when time was up, not
//! made a service: the brief asks the router to survive a restart, and only
//! the router). A platform re-created again from the same snapshots (an
//! appeal) grades the same. The compte rendu handed in counts as it stood
//! at the deadline: its hash of record is the one written before the cut,
//! whatever is done to the live machine after it.
//!
//! Needs a Docker engine; in CI (`CI=true`) a missing engine is a failure.

mod common;

use common::{Exam, Snapshots, eventually, not_passed, sh, statuses};

#[test]
fn a_solved_full_exam_is_graded_of_record_as_it_stood_at_the_deadline() {
    let Some(exam) = Exam::new("record") else { return };
    let _snapshots = Snapshots(exam.session.clone());
    let session = exam.session.as_str();
    let scenario = exam.scenario("scenarios/tai-2023-full.toml", |text| text);
    exam.ok(&["up", &scenario, "--session", session, "-n", "1", "--port-base", "34300"]);
    exam.ok(&["solve", "--session", session, "--candidate", "c01"]);
    // The VPN as a technician may leave it: up by hand, no service kept.
    for node in ["vpn", "nomade"] {
        let container = exam.container("c01", node);
        let out = sh(
            &container,
            "/usr/local/sbin/plateau-service stop wg0; /usr/local/sbin/plateau-service disable wg0; \
             rm /etc/plateau/services/wg0; ip link show wg0 || wg-quick up wg0",
        );
        assert!(out.status.success(), "{node}: {}", String::from_utf8_lossy(&out.stderr));
    }
    eventually(&exam.container("c01", "nomade"), "ping -c 1 -W 1 10.99.0.1", 30, "the tunnel up by hand");

    let live: serde_json::Value = serde_json::from_str(&exam.ok(&["grade", "--session", session, "--json"])).unwrap();
    let live = &live[0];
    assert_eq!(
        (live["score"].as_f64(), live["max_score"].as_u64()),
        (Some(100.0), Some(100)),
        "live: {}",
        not_passed(live)
    );

    let ws = exam.container("c01", "ws");
    let written = sh(&ws, "sha256sum /home/technicien/compte-rendu.md");
    let written = String::from_utf8_lossy(&written.stdout).split_whitespace().next().unwrap_or_default().to_string();
    assert_eq!(written.len(), 64, "the solution wrote the compte rendu");

    exam.ok(&["exam", "start", "--session", session, "--duration", "1h"]);
    exam.ok(&["exam", "freeze", "--session", session]);
    // Written on the live machine after the cut (when it still runs): not the document of record.
    let _ = sh(&ws, "echo 'Ajouté après la fin de l épreuve.' >> /home/technicien/compte-rendu.md");
    let record = exam.signed("c01");
    let handed_in = |grade: &serde_json::Value| {
        let check = grade["checks"].as_array().unwrap().iter().find(|c| c["id"] == "compte-rendu").unwrap().clone();
        check["evidence"]["assertions"][0]["actual"].as_str().unwrap_or_default().to_string()
    };
    assert!(handed_in(&record).contains(&written), "the deadline's compte rendu ({written}): {}", handed_in(&record));
    assert_eq!(record["basis"]["kind"], "record");
    let failing: Vec<(String, String)> = statuses(&record).into_iter().filter(|(_, s)| s != "pass").collect();
    assert_eq!(failing, vec![], "of record as live: {}", not_passed(&record));
    assert_eq!((record["score"].as_f64(), record["max_score"].as_u64()), (Some(100.0), Some(100)));
    assert_eq!(record["basis"]["failure"], serde_json::Value::Null);

    // An appeal re-creates the same state again: the same verdicts.
    exam.ok(&["exam", "restore", "--session", session, "--candidate", "c01"]);
    let again = exam.regrade("c01", "recours");
    assert_eq!(statuses(&again), statuses(&record));
    assert!(handed_in(&again).contains(&written), "{}", handed_in(&again));
}
