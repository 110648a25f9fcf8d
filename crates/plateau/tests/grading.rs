//! Grading on the real engine: two candidates of the small scenario, one
//! configures everything through their own SSH access (`plateau solve`), the other touches
//! nothing; `plateau grade` tells them apart with evidence, the reports say
//! so, and a hung target ends as `error` without holding up the others.
//!
//! Needs a Docker engine; in CI (`CI=true`) a missing engine is a failure.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Exam, plans};
use serde_json::Value;

const CHECKS: [&str; 5] = ["dhcp-scope", "dhcp-reservation", "ws-address", "ws-internet", "router-ssh-blocked"];

fn lan(plan: &Value) -> &Value {
    plan["networks"].as_array().unwrap().iter().find(|n| n["id"] == "lan").unwrap()
}

fn grade(exam: &Exam) -> Vec<Value> {
    serde_json::from_str(&exam.ok(&["grade", "--session", &exam.session, "--json"])).unwrap()
}

fn check<'a>(grade: &'a Value, id: &str) -> &'a Value {
    grade["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id}"))
}

fn statuses(grade: &Value) -> Vec<(String, String)> {
    CHECKS.iter().map(|id| (id.to_string(), check(grade, id)["status"].as_str().unwrap().to_string())).collect()
}

#[test]
fn the_configured_candidate_passes_the_untouched_one_fails_with_evidence_and_reports_say_so() {
    let Some(exam) = Exam::new("grade") else { return };
    exam.up("2", "33000");
    let plans = plans(&exam);

    // c01 works through their access: the scenario's reference solution is
    // typed in their SSH session (published port, candidate account).
    let solved = exam.ok(&["solve", "--session", &exam.session, "--candidate", "c01"]);
    assert!(solved.contains("c01: reference solution applied"), "{solved}");

    let grades = grade(&exam);
    assert_eq!(grades.len(), 2);
    let (good, untouched) = (&grades[0], &grades[1]);
    assert_eq!(good["id"], "c01");
    let everything_passes: Vec<(String, String)> = CHECKS.iter().map(|c| (c.to_string(), "pass".to_string())).collect();
    assert_eq!(statuses(good), everything_passes, "{}", serde_json::to_string_pretty(good).unwrap());
    assert_eq!(good["score"], 20.0);
    let everything_fails: Vec<(String, String)> = CHECKS.iter().map(|c| (c.to_string(), "fail".to_string())).collect();
    assert_eq!(statuses(untouched), everything_fails, "{}", serde_json::to_string_pretty(untouched).unwrap());
    assert_eq!(untouched["score"], 0.0);

    // Evidence: what was sent, from where, what came back, what was compared.
    let scope = check(good, "dhcp-scope");
    let action = &scope["evidence"]["actions"][0];
    assert_eq!(action["from"], "controller");
    assert!(action["sent"].as_str().unwrap().starts_with("DHCPDISCOVER on br-"), "{action}");
    let gateway = lan(&plans[0])["gateway"].as_str().unwrap();
    assert!(action["output"].as_str().unwrap().contains(&format!("router {gateway}")), "{action}");
    let reservation = check(good, "dhcp-reservation");
    let reserved = reservation["evidence"]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["what"] == "offered address")
        .unwrap();
    assert_eq!(reserved["ok"], true);
    // A container node is read through the engine, not through its own sshd.
    let internet = check(good, "ws-internet");
    assert_eq!(internet["evidence"]["actions"][0]["from"], format!("docker exec {}", exam.container("c01", "ws")));
    let blocked = check(untouched, "router-ssh-blocked");
    let assertion = &blocked["evidence"]["assertions"][0];
    assert_eq!((assertion["expected"].as_str(), assertion["actual"].as_str()), (Some("denied"), Some("open")));
    // The solved router drops SSH: no answer, told apart from a refusal.
    let dropped = &check(good, "router-ssh-blocked")["evidence"]["assertions"][0];
    assert_eq!(dropped["actual"], "filtered (no answer)", "{dropped}");
    let no_offer = check(untouched, "dhcp-scope");
    assert_eq!(no_offer["evidence"]["assertions"][0]["actual"], "no offer");

    // Criteria: every criterion of the scenario's blocks is in the grid.
    let criteria = good["criteria"].as_array().unwrap();
    let cp72 = criteria.iter().find(|c| c["criterion"] == "CP7.2").unwrap();
    assert_eq!(
        (cp72["framework"].as_str(), cp72["competence"].as_str(), cp72["verdict"].as_str()),
        (Some("tai-2023"), Some("CP7"), Some("met"))
    );
    let untouched_cp72 = untouched["criteria"].as_array().unwrap().iter().find(|c| c["criterion"] == "CP7.2").unwrap();
    assert_eq!(untouched_cp72["verdict"], "not-met");
    assert!(criteria.iter().any(|c| c["verdict"] == "jury-only"), "criteria no platform shows are left to the jury");

    // The jury overrides one criterion; the automatic verdict stays beside it.
    exam.ok(&[
        "override",
        "--session",
        &exam.session,
        "--candidate",
        "c02",
        "--criterion",
        "CP7.2",
        "--verdict",
        "partial",
        "--comment",
        "a expliqué la réservation à l'oral",
        "--by",
        "Mme Durand",
    ]);

    // Reports: JSON, the grid, CSV, JUnit.
    let out_dir = exam.state.path().join("report");
    let written = exam.ok(&["report", "--session", &exam.session, "--out", out_dir.to_str().unwrap()]);
    assert_eq!(written.lines().count(), 5, "{written}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!((report["kind"].as_str(), report["version"].as_u64()), (Some("plateau.report"), Some(1)));
    let c02 = &report["candidates"][1];
    for key in ["id", "score", "max_score", "checks", "criteria"] {
        assert!(!c02[key].is_null(), "report.json lacks `{key}`");
    }
    let jury = c02["criteria"].as_array().unwrap().iter().find(|c| c["criterion"] == "CP7.2").unwrap();
    assert_eq!((jury["verdict"].as_str(), jury["jury"]["verdict"].as_str()), (Some("not-met"), Some("partial")));
    assert_eq!(jury["jury"]["by"], "Mme Durand");

    let grid = std::fs::read_to_string(out_dir.join("grille-c02.html")).unwrap();
    for text in [
        "Grille d'évaluation",
        "Technicien d&#39;assistance en informatique",
        "CP7.2",
        "non acquis",
        "partiellement acquis",
        "a expliqué la réservation à l&#39;oral",
        "Signatures du jury",
        "no offer",
        "0 / 20",
    ] {
        assert!(grid.contains(text), "the grid lacks «{text}»");
    }
    let csv = std::fs::read_to_string(out_dir.join("session.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * CHECKS.len(), "{csv}");
    assert!(csv.lines().any(|l| l.contains(",c01,") && l.contains(",dhcp-scope,pass,6,6,")), "{csv}");
    assert!(csv.lines().any(|l| l.contains(",c02,") && l.contains(",dhcp-scope,fail,0,6,")), "{csv}");
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"<testsuite name="c01" tests="5" failures="0" errors="0""#), "{junit}");
    assert!(junit.contains(r#"<testsuite name="c02" tests="5" failures="5" errors="0""#), "{junit}");

    // Same platform state, same result.
    let again = grade(&exam);
    assert_eq!(statuses(&again[0]), statuses(good));
    assert_eq!(statuses(&again[1]), statuses(untouched));

    // Practice mode: a live table for the trainer, and each candidate finds
    // their own results at home.
    let live = exam.ok(&["watch", "--session", &exam.session, "--rounds", "1", "--practice"]);
    assert!(live.contains("20 / 20") && live.contains("0 / 20"), "{live}");
    let home = Command::new("docker")
        .args(["exec", &exam.container("c01", "ws"), "cat", "/home/technicien/plateau-resultats.txt"])
        .output()
        .unwrap();
    let home = String::from_utf8_lossy(&home.stdout);
    assert!(home.contains("[OK   ] Le poste accède à internet") && home.contains("Score : 20 / 20"), "{home}");

    // A trainer breaks c01's DHCP; grading shows the fault's checks fail and
    // the fault unrepaired. c01 repairs through their own access (the
    // solution again restarts Kea), and grading sees the repair.
    exam.ok(&["fault", "inject", "dhcp-stopped", "--session", &exam.session, "--candidate", "c01"]);
    let broken = grade(&exam);
    let expected: Vec<(String, String)> = CHECKS
        .iter()
        .map(|c| (c.to_string(), if c.starts_with("dhcp-") { "fail" } else { "pass" }.to_string()))
        .collect();
    assert_eq!(statuses(&broken[0]), expected);
    assert_eq!(
        (broken[0]["faults"][0]["id"].as_str(), broken[0]["faults"][0]["repaired"].as_bool()),
        (Some("dhcp-stopped"), Some(false))
    );
    exam.ok(&["solve", "--session", &exam.session, "--candidate", "c01"]);
    let repaired = grade(&exam);
    assert_eq!(statuses(&repaired[0]), everything_passes);
    assert_eq!(repaired[0]["faults"][0]["repaired"], true);

    // Everything above is in the audit log; editing one entry is detected.
    let verified = exam.ok(&["audit", "verify", "--session", &exam.session]);
    assert!(verified.contains("chain intact"), "{verified}");
    let log = exam.ok(&["audit", "show", "--session", &exam.session]);
    for action in ["up", "solve", "grade", "override", "report", "fault.inject"] {
        assert!(log.contains(&format!(" {action} ")), "no `{action}` in the audit log:\n{log}");
    }
    let db = rusqlite::Connection::open(exam.state.path().join("state.db")).unwrap();
    db.execute("UPDATE audit SET detail = replace(detail, '\"partial\"', '\"met\"') WHERE action = 'override'", [])
        .unwrap();
    let tampered = exam.plateau(&["audit", "verify", "--session", &exam.session]);
    assert_eq!(tampered.status.code(), Some(1));
    let said = String::from_utf8_lossy(&tampered.stdout);
    assert!(said.contains(": edited") && said.contains("tampered"), "{said}");

    // A target that hangs: c01's workstation freezes. Its checks end as
    // `error`, saying why; the rest of c01 and all of c02 are graded.
    let frozen = exam.container("c01", "ws");
    common::freeze(&frozen);
    let started = Instant::now();
    let hung = grade(&exam);
    let took = started.elapsed();
    assert!(Command::new("docker").args(["unpause", &frozen]).status().unwrap().success());
    let c01 = statuses(&hung[0]);
    assert_eq!(
        c01.iter().filter(|(_, s)| s == "error").map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["ws-address", "ws-internet"]
    );
    assert_eq!(c01.iter().filter(|(_, s)| s == "pass").count(), 3, "{c01:?}");
    let error = check(&hung[0], "ws-address")["evidence"]["error"].as_str().unwrap().to_string();
    assert!(error.contains("paused"), "{error}");
    assert_eq!(statuses(&hung[1]), everything_fails);
    assert!(took < Duration::from_secs(30), "grading with a hung target took {took:?}");

    // The sender of c01's firewall check loses its network: its SSH probe
    // gets no answer, as from a firewall that drops it, but nothing it should
    // reach answers either. The denial proves nothing: `error`, not a pass.
    let sender = exam.container("c01", "internet");
    let networks = Command::new("docker")
        .args(["inspect", "-f", "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}", &sender])
        .output()
        .unwrap();
    for network in String::from_utf8_lossy(&networks.stdout).split_whitespace() {
        let cut = Command::new("docker").args(["network", "disconnect", network, &sender]).status().unwrap();
        assert!(cut.success(), "disconnect {sender} from {network}");
    }
    let cut = grade(&exam);
    let firewall = check(&cut[0], "router-ssh-blocked");
    assert_eq!(firewall["status"], "error", "{firewall}");
    let why = firewall["evidence"]["error"].as_str().unwrap();
    assert!(why.contains("does not reach its control"), "{why}");
    assert_eq!(check(&cut[1], "router-ssh-blocked")["status"], "fail", "c02 is graded as before");
}

/// A machine Plateau did not create, reached with its own address and
/// credentials, as an exam centre's existing PCs are.
struct Existing {
    name: String,
    _removed_on_drop: common::Container,
}

impl Existing {
    fn start(tag: &str) -> Existing {
        let name = format!("plateau-test-existing-{}-{tag}", std::process::id());
        let run = Command::new("docker")
            .args(["run", "-d", "--name", &name, "--hostname", "poste-17", "plateau/workstation:latest"])
            .output()
            .unwrap();
        // Removed on drop even when it was created but did not start.
        let existing = Existing { _removed_on_drop: common::Container(name.clone()), name };
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        existing.exec("for i in $(seq 100); do test -f /run/plateau-ready && exit 0; sleep 0.1; done; exit 1");
        existing.exec("useradd -m -s /bin/bash inspecteur && echo 'inspecteur:Insp-2026!' | chpasswd");
        existing
    }

    fn exec(&self, script: &str) {
        let out = Command::new("docker").args(["exec", &self.name, "sh", "-c", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn address(&self) -> String {
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

#[test]
fn an_existing_machine_is_graded_over_ssh_with_its_own_credentials_and_its_host_key_pinned() {
    let Some(exam) = Exam::new("static") else { return };
    let pc = Existing::start("pc");
    let address = pc.address();
    let scenario = exam.state.path().join("existing.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"[scenario]
id = "parc-existant"
title = "Postes existants du centre"
version = "1.0.0"
framework = "tai-2023"
blocks = ["CCP2"]

[[nodes]]
id = "pc"
role = "workstation"
backend = "static"
address = "{address}"
grader = {{ via = "ssh", user = "inspecteur", password = "Insp-2026!" }}

[[checks]]
id = "ssh-open"
title = "Le poste accepte les connexions d'administration"
criteria = ["CP4.1"]
kind = "tcp_port"
host = "{address}"
port = 22

[[checks]]
id = "debian"
title = "Le système installé est Debian 12"
criteria = ["CP4.1"]
kind = "file_contains"
node = "pc"
path = "/etc/os-release"
pattern = "bookworm"

[[checks]]
id = "hostname"
title = "Le poste est nommé selon la convention"
criteria = ["CP4.1"]
kind = "command"
node = "pc"
run = "hostname"
stdout_contains = "poste-"

[[checks]]
id = "office"
title = "La suite bureautique est installée"
criteria = ["CP4.2"]
kind = "package_installed"
node = "pc"
package = "libreoffice-writer"
"#
        ),
    )
    .unwrap();
    let path = scenario.to_str().unwrap();
    exam.ok(&["up", path, "--session", &exam.session, "-n", "1", "--port-base", "33500"]);
    assert_eq!(exam.leftovers(), 0, "nothing is created for machines Plateau does not own");

    let grades = grade(&exam);
    let ids = ["ssh-open", "debian", "hostname", "office"];
    let got: Vec<&str> = ids.iter().map(|id| check(&grades[0], id)["status"].as_str().unwrap()).collect();
    assert_eq!(got, ["pass", "pass", "pass", "fail"], "{}", serde_json::to_string_pretty(&grades[0]).unwrap());
    let from = check(&grades[0], "debian")["evidence"]["actions"][0]["from"].as_str().unwrap().to_string();
    assert_eq!(from, format!("ssh inspecteur@{address}:22"));

    assert_eq!(grades[0]["integrity"], serde_json::json!([]), "a machine as installed shows nothing");
    // ...read with the machine's own dpkg, which its root user controls: the
    // grid says that silence is no proof, and that nothing is put back.
    let unverified = grades[0]["unverified"].as_array().unwrap();
    assert!(
        unverified.iter().any(|u| u["node"] == "pc" && u["why"].as_str().unwrap().contains("its root user controls")),
        "{unverified:?}"
    );

    // Without an image to compare with, the package manager's record is the
    // reference: a program changed on the machine is on the grid, and the
    // checks that ran there prove nothing.
    pc.exec("cp /usr/bin/hostname /tmp/h && printf '#!/bin/sh\\necho poste-01\\n' > /usr/bin/hostname");
    let bent = grade(&exam);
    assert_eq!(check(&bent[0], "hostname")["status"], "error", "{}", serde_json::to_string_pretty(&bent[0]).unwrap());
    let listed = bent[0]["integrity"][0]["changes"].as_array().unwrap();
    // (dpkg names files as packaged: /bin/hostname, which /usr/bin/hostname is since the /usr merge.)
    let hostname = |c: &&serde_json::Value| c["path"].as_str().unwrap().ends_with("/bin/hostname");
    assert!(listed.iter().filter(hostname).any(|c| c["change"] == "modified"), "{listed:?}");
    pc.exec("cp /tmp/h /usr/bin/hostname");

    // A function in the grader account's start-up file (bash reads it for a
    // command over SSH) is not what the grader's command runs.
    pc.exec("sed -i \"1i dpkg-query() { echo 'install ok installed 1:7.4'; }\" /home/inspecteur/.bashrc");
    let shadowed = grade(&exam);
    let office = check(&shadowed[0], "office");
    assert_eq!(office["status"], "fail", "{office}");

    // The key seen first is pinned: a machine that now presents another one
    // (reinstalled, or an impostor at its address) is not graded.
    pc.exec("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && plateau-service restart sshd");
    let again = grade(&exam);
    let debian = check(&again[0], "debian");
    assert_eq!(debian["status"], "error");
    assert!(debian["evidence"]["error"].as_str().unwrap().contains("host key"), "{debian}");
    assert_eq!(check(&again[0], "ssh-open")["status"], "pass");
}
