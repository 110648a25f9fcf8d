//! A VM node beside containers, end to end on the real engine: the
//! workstation of `tai-2023-vm` is a QEMU guest booted from the role's VM
//! image (software emulation on hosts without a working KVM). One platform
//! serves every step, in order: an `up` killed during the guest's boot and
//! run again, grading over SSH through the engine before and after the
//! reference solution (typed through the candidate's own access into the
//! VM), the built-in faults that only a machine with its own clock and disk
//! takes, freeze and restore with the same grade, and a `down` that leaves
//! nothing.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Exam, Snapshots, root, statuses};

const SCENARIO: &str = "scenarios/tai-2023-vm.toml";
const PORT_BASE: &str = "34200";

fn status_of(grade: &serde_json::Value, check: &str) -> String {
    statuses(grade).into_iter().find(|(id, _)| id == check).map(|(_, s)| s).unwrap_or_default()
}

fn grade(exam: &Exam) -> serde_json::Value {
    let out = exam.ok(&["grade", "--session", &exam.session, "--json"]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

/// A root candidate's ways to bend the grader's programs on their VM.
const BEND: &str = "echo '#!/bin/sh' > /usr/local/bin/curl; echo 'echo ok; echo 200' >> /usr/local/bin/curl; \
                    chmod +x /usr/local/bin/curl; echo 'wbinfo() { echo trust; }' >> /root/.bashrc; \
                    echo /usr/lib/plateau-bent.so > /etc/ld.so.preload";

/// `(path, seen, put back)` of each change a grade's integrity section names on ws.
fn integrity_paths(grade: &serde_json::Value) -> Vec<(String, String, bool)> {
    let nodes = grade["integrity"].as_array().cloned().unwrap_or_default();
    let ws =
        nodes.iter().filter(|n| n["node"] == "ws").flat_map(|n| n["changes"].as_array().cloned().unwrap_or_default());
    ws.map(|c| {
        (
            c["path"].as_str().unwrap_or_default().to_string(),
            c["seen"].as_str().unwrap_or_default().to_string(),
            c["put_back"].as_bool().unwrap_or_default(),
        )
    })
    .collect()
}

/// What a script prints in c01's guest, run by a trainer's `plateau shell`.
fn in_guest(exam: &Exam, script: &str) -> String {
    let mut shell = exam
        .command(&["shell", "--session", &exam.session, "--candidate", "c01", "ws"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    shell.stdin.take().unwrap().write_all(format!("{script}\nexit\n").as_bytes()).unwrap();
    String::from_utf8_lossy(&shell.wait_with_output().unwrap().stdout).into_owned()
}

/// The host PID of the QEMU process that runs a VM node's guest.
fn qemu_pid(container: &str) -> u32 {
    let out = Command::new("docker").args(["top", container, "-eo", "pid,comm"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line =
        text.lines().find(|l| l.contains("qemu-system")).unwrap_or_else(|| panic!("no QEMU in {container}: {text}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_vm_workstation_boots_is_graded_over_ssh_freezes_restores_and_leaves_nothing() {
    let Some(exam) = Exam::new("vm") else { return };
    let build = Command::new(env!("CARGO_BIN_EXE_plateau"))
        .args(["images", "build", "--vm", "workstation"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(build.status.success(), "vm image: {}", String::from_utf8_lossy(&build.stderr));
    let snapshots = Snapshots(exam.session.clone());

    // An `up` killed while the guest boots; run again, it converges.
    let ws = exam.container("c01", "ws");
    let mut first = exam
        .command(&["up", SCENARIO, "--session", &exam.session, "-n", "1", "--port-base", PORT_BASE])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !Command::new("docker").args(["inspect", &ws]).output().unwrap().status.success() {
        assert!(started.elapsed() < Duration::from_secs(300), "the VM node was never created");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    Command::new("kill").args(["-9", &first.id().to_string()]).status().unwrap();
    first.wait().unwrap();
    let again = exam.ok(&["up", SCENARIO, "--session", &exam.session, "-n", "1", "--port-base", PORT_BASE]);
    assert!(again.contains("c01"), "{again}");
    let image = Command::new("docker").args(["inspect", "-f", "{{.Config.Image}}", &ws]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&image.stdout).trim(), "plateau/vm-workstation:latest");
    let nodes = exam.status();
    assert!(nodes.iter().any(|n| n["node"] == "ws" && n["state"] == "running"), "{nodes:?}");

    // The same session brought up from another state database (the first
    // one lost, or another operator's): its grader key is not the one the
    // guest let in. Refused, with the way out, rather than a platform
    // whose every check would be the grader's error.
    let other = tempfile::tempdir().unwrap();
    let elsewhere = exam
        .command(&["up", SCENARIO, "--session", &exam.session, "-n", "1", "--port-base", PORT_BASE])
        .env("PLATEAU_STATE", other.path().join("state.db"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&elsewhere.stdout).into_owned() + &String::from_utf8_lossy(&elsewhere.stderr);
    assert!(!elsewhere.status.success(), "{said}");
    assert!(said.contains("made by another state database") && said.contains("plateau down"), "{said}");

    // A hostile candidate, root on the untouched VM, bends what the grader
    // may run: a `curl` stand-in that answers "200", a `.bashrc` function
    // for `wbinfo`, a preload list. Nothing passes on them: the grader logs
    // in with `/bin/sh` and the system's programs first, and a node whose
    // programs or loader were changed is not believed (`error`), each
    // change named in its integrity section.
    in_guest(&exam, BEND);
    let bent = grade(&exam);
    assert_eq!(status_of(&bent, "ws-internet"), "error", "{}", serde_json::to_string_pretty(&bent).unwrap());
    assert!(statuses(&bent).iter().all(|(_, s)| s != "pass"), "{}", serde_json::to_string_pretty(&bent).unwrap());
    let listed = integrity_paths(&bent);
    for path in ["/usr/local/bin/curl", "/root/.bashrc", "/etc/ld.so.preload"] {
        assert!(
            listed.iter().any(|(p, seen, _)| p == path && seen == "live"),
            "{path} not named: {}",
            serde_json::to_string_pretty(&bent).unwrap()
        );
    }
    in_guest(&exam, "rm /usr/local/bin/curl /etc/ld.so.preload; cp /usr/share/base-files/dot.bashrc /root/.bashrc");

    // Untouched: the VM has no address on the LAN (no DHCP server answers
    // yet), and the grader still reads it, over SSH through the engine:
    // its checks fail, they are not `error`.
    let untouched = grade(&exam);
    for check in ["ws-address", "ws-domain", "ws-internet"] {
        assert_eq!(
            status_of(&untouched, check),
            "fail",
            "{check}: {}",
            serde_json::to_string_pretty(&untouched).unwrap()
        );
    }

    // The reference solution, typed through the candidate's SSH access into
    // the VM: the guest takes its reserved lease from the candidate's Kea
    // and joins the container DC's domain.
    exam.ok(&["solve", "--session", &exam.session, "--candidate", "c01"]);
    let solved = grade(&exam);
    assert_eq!(solved["score"], 20.0, "{}", serde_json::to_string_pretty(&solved).unwrap());

    // A trainer's `plateau shell` on the VM node is a shell in the guest
    // (its own kernel command line), not in the QEMU container around it.
    let text = in_guest(&exam, "hostname; grep -o 'plateau.nic=[^ ]*' /proc/cmdline");
    assert!(text.contains("pc-c01") && text.contains("plateau.nic="), "{text}");

    // Its own clock and disk: the built-in faults refused on containers run
    // in the guest, and come back out. A machine three hours off the
    // domain's clock cannot prove its trust with the domain (Kerberos);
    // a disk with 64 MiB less breaks nothing the scenario grades.
    let failing = |grade: &serde_json::Value| -> Vec<String> {
        statuses(grade).into_iter().filter(|(_, s)| s != "pass").map(|(id, _)| id).collect()
    };
    for (fault, param, breaks) in [("skew-clock", "by=3 hours", vec!["ws-domain"]), ("fill-disk", "size=64M", vec![])] {
        let injected = exam.ok(&[
            "fault",
            "inject",
            fault,
            "--node",
            "ws",
            "--param",
            param,
            "--session",
            &exam.session,
            "--candidate",
            "c01",
        ]);
        let id = injected.split_whitespace().nth(2).unwrap().to_string();
        assert_eq!(failing(&grade(&exam)), breaks, "{fault} on the VM: {injected}");
        exam.ok(&["fault", "revert", &id, "--session", &exam.session, "--candidate", "c01"]);
    }
    assert_eq!(failing(&grade(&exam)), Vec::<String>::new(), "after reverting the faults");

    // Frozen (the guest synced by SysRq, QMP stop, then paused and committed) and restored from the
    // snapshot: the guest boots from its own disk as the candidate left it.
    // The candidate's last change, seconds before the deadline, is still in
    // the guest's page cache: the freeze has the guest write it to its disk.
    exam.ok(&["exam", "start", "--session", &exam.session, "--duration", "1h"]);
    // The same bending at the deadline: the grade of record's guest boots
    // with its initrd's put-back (the role's disk beside the candidate's),
    // so the real programs grade it, as solved as it was.
    in_guest(&exam, &format!("echo 'changed at the last minute' > /root/last-change; {BEND}"));
    let frozen_out = exam.ok(&["exam", "freeze", "--session", &exam.session]);
    assert!(frozen_out.contains("c01"), "{frozen_out}");
    let frozen = exam.signed("c01");
    assert_eq!(frozen["basis"]["kind"], "record");
    assert_eq!(statuses(&frozen), statuses(&solved), "{}", serde_json::to_string_pretty(&frozen).unwrap());
    let listed = integrity_paths(&frozen);
    for (path, put_back) in [("/usr/local/bin/curl", true), ("/etc/ld.so.preload", true), ("/root/.bashrc", false)] {
        assert!(
            listed.iter().any(|(p, seen, done)| p == path && seen == "at the deadline" && *done == put_back),
            "{path} (put back: {put_back}) not named at the deadline: {listed:?}"
        );
    }
    exam.ok(&["exam", "restore", "--session", &exam.session, "--candidate", "c01"]);
    assert!(
        in_guest(&exam, "cat /root/last-change").contains("changed at the last minute"),
        "the guest's last write is not on the disk of record"
    );
    let regraded = exam.regrade("c01", "recours");
    assert_eq!(statuses(&regraded), statuses(&frozen), "{}", serde_json::to_string_pretty(&regraded).unwrap());

    // `down` leaves no container, QEMU or overlay behind: the guest's taps
    // and overlay lived in its node's container (network namespace and
    // layer), so they go with it; snapshots go with their guard.
    let qemu = qemu_pid(&ws);
    exam.ok(&["down", "--session", &exam.session]);
    assert!(!std::path::Path::new(&format!("/proc/{qemu}")).exists(), "QEMU (pid {qemu}) still runs after `down`");
    assert_eq!(exam.leftovers(), 0, "containers or networks left");
    drop(snapshots);
}

/// The Windows path as far as it runs here: a centre's disk (this one boots
/// nothing) is imported once, by content, and its VM boots from its disk
/// with the devices a Windows installer knows, WinRM's port forwarded.
#[test]
fn a_centres_own_disk_is_imported_once_and_booted_from_its_disk() {
    let Some(_exam) = Exam::new("import") else { return };
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("centre.raw");
    std::fs::write(&disk, vec![0u8; 16 << 20]).unwrap();
    let import = || {
        let out = Command::new(env!("CARGO_BIN_EXE_plateau"))
            .args(["images", "import-vm", "plateau-test-disk"])
            .arg(&disk)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = import();
    assert!(first.contains("plateau/vm-plateau-test-disk:") && first.contains("imported"), "{first}");
    let second = import();
    assert!(second.contains("already imported"), "the same disk is not imported twice: {second}");

    let name = format!("plateau-test-disk-{}", std::process::id());
    let run = Command::new("docker")
        .args(["run", "-d", "--name", &name, "--label", "org.plateau.owner=plateau-test", "--cap-add", "NET_ADMIN"])
        .args(["--device", "/dev/net/tun", "-e", "PLATEAU_VM_ACCEL=tcg", "plateau/vm-plateau-test-disk:latest"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let qmp = r#"printf '%s' '{"execute":"qmp_capabilities"}{"execute":"query-status"}' | socat -t 2 - UNIX-CONNECT:/run/vm/qmp.sock"#;
    let started = Instant::now();
    let status = loop {
        let out = Command::new("docker").args(["exec", &name, "sh", "-c", qmp]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("\"status\"") || started.elapsed() > Duration::from_secs(60) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let args = Command::new("docker").args(["exec", &name, "ps", "-eo", "args"]).output().unwrap();
    let args = String::from_utf8_lossy(&args.stdout).into_owned();
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    let _ = Command::new("docker").args(["rmi", "-f", "plateau/vm-plateau-test-disk:latest"]).output();
    let tags = Command::new("docker").args(["images", "-q", "plateau/vm-plateau-test-disk"]).output().unwrap();
    for id in String::from_utf8_lossy(&tags.stdout).lines() {
        let _ = Command::new("docker").args(["rmi", "-f", id]).output();
    }
    assert!(status.contains("\"running\": true"), "QEMU runs the imported disk: {status}");
    assert!(args.contains("-boot c") && args.contains("e1000") && args.contains("hostfwd=tcp::5985-:5985"), "{args}");
    assert!(!args.contains("-kernel"), "an imported disk boots from itself: {args}");
}
