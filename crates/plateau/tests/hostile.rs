//! A hostile or clumsy candidate (c01, root on their machines) cannot hurt
//! another (c02) or the exam's clock. On one platform of the small scenario
//! with small limits, c01 fork-bombs their workstation, exhausts their
//! router's memory, floods their DHCP server's console log then kills its
//! init (the container stops), fills their "internet" node's disk past its
//! budget and fork-bombs it as an unprivileged user, and replaces `pkill`
//! and `nft` by programs that hang. Throughout,
//! c02's access answers within 5 s and the host keeps memory to spare; at
//! the deadline both are halted within seconds and snapshotted; c02's
//! grade of record is what it was before; c01's events and replaced
//! programs are on the record.
//!
//! Needs a Docker engine; in CI (`CI=true`) a missing engine is a failure.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exam, Snapshots, root, sh};
use serde_json::Value;

const LIMITS: &str = "\n[limits]\nmemory = \"256m\"\npids = 256\nlog_size = \"1m\"\nlog_files = 1\ndisk = \"64m\"\n";

/// How long the SSH banner of a candidate's access takes to arrive.
fn banner_within(port: u16) -> Duration {
    let started = Instant::now();
    let mut stream =
        TcpStream::connect_timeout(&format!("127.0.0.1:{port}").parse().unwrap(), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"SSH-2.0");
    started.elapsed()
}

fn memory_available_mib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker").args(["inspect", "-f", format, container]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// c02's access answers quickly and the host keeps memory to spare.
fn others_unharmed(what: &str) {
    let took = banner_within(33902);
    assert!(took < Duration::from_secs(5), "during {what}: c02's access took {took:?}");
    let free = memory_available_mib();
    assert!(free > 1024, "during {what}: the host has {free} MiB available");
}

fn statuses(exam: &Exam, candidate: &str) -> Vec<(String, String)> {
    let out = exam.ok(&["grade", "--session", &exam.session, "--candidate", candidate, "--json"]);
    let grades: Value = serde_json::from_str(&out).unwrap();
    grades[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn one_candidate_cannot_hurt_the_others_or_the_clock() {
    let Some(exam) = Exam::new("hostile") else { return };
    let _snapshots = Snapshots(exam.session.clone());
    let scenario = exam.state.path().join("tai-small-limited.toml");
    let text = std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap() + LIMITS;
    std::fs::write(&scenario, text).unwrap();
    let scenario = scenario.display().to_string();
    exam.ok(&["up", &scenario, "--session", &exam.session, "-n", "2", "--port-base", "33900"]);
    exam.ok(&["solve", "--session", &exam.session, "--candidate", "c02"]);
    let before = statuses(&exam, "c02");
    assert!(before.iter().all(|(_, s)| s == "pass"), "c02 solved: {before:?}");

    let ws = exam.container("c01", "ws");
    let router = exam.container("c01", "router");
    let dhcp = exam.container("c01", "dhcp");
    let internet = exam.container("c01", "internet");
    // The limits are in force before anything is tried (a missing one fails here, not the host).
    let cgroup = |c: &str, file: &str| {
        String::from_utf8_lossy(&sh(c, &format!("cat /sys/fs/cgroup/{file}")).stdout).trim().to_string()
    };
    assert_eq!(cgroup(&ws, "pids/pids.max"), "256");
    assert_eq!(cgroup(&router, "memory/memory.limit_in_bytes"), (256u64 << 20).to_string());
    assert_eq!(inspect(&dhcp, "{{index .HostConfig.LogConfig.Config \"max-size\"}}"), (1u64 << 20).to_string());

    exam.ok(&["exam", "start", "--session", &exam.session, "--duration", "150s"]);
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut supervisor = exam
        .command(&["exam", "run", "--session", &exam.session])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second supervisor is refused while the first runs.
    std::thread::sleep(Duration::from_secs(2));
    let second = exam.plateau(&["exam", "run", "--session", &exam.session]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("supervised already"));

    // The tools the freeze calls, replaced by programs that hang.
    let hang = "printf '#!/bin/sh\\nexec sleep 600\\n' > /tmp/hang && chmod +x /tmp/hang";
    assert!(sh(&ws, &format!("{hang} && cp /tmp/hang /usr/bin/pkill")).status.success());
    assert!(sh(&router, &format!("{hang} && cp /tmp/hang \"$(command -v nft)\"")).status.success());

    // A fork bomb as root on the workstation.
    Command::new("docker").args(["exec", "-d", &ws, "sh", "-c", "b() { b | b & }; b"]).status().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    others_unharmed("the fork bomb");
    // c02 graded while the bomb runs: every check still proves its outcome
    // (a grader starved by another candidate would say `error`).
    assert_eq!(statuses(&exam, "c02"), before, "c02 graded during c01's fork bomb");

    // A memory hog on the router: the kernel ends it inside the node.
    let hog = sh(&router, "head -c 1G /dev/zero | tail > /dev/null");
    assert!(!hog.status.success(), "the hog ran to its end");
    others_unharmed("the memory hog");

    // A console log flood, then the node's init killed: the container stops.
    sh(&dhcp, "timeout 5 yes > /proc/1/fd/1");
    let log = inspect(&dhcp, "{{.LogPath}}");
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert!(size <= 2 << 20, "the console log grew to {size} bytes");
    sh(&dhcp, "pkill -9 -f 'sleep infinity'");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inspect(&dhcp, "{{.State.Running}}"), "false", "the node stopped with its init");
    others_unharmed("the log flood");

    // The disk filled past the budget, and a fork bomb as an unprivileged
    // user on the same node: the supervisor stops the node (it measures
    // every 20 s, and measuring takes the engine seconds on a busy host):
    // paused, or killed when the bomb keeps the freezer from pausing it.
    sh(&internet, "dd if=/dev/zero of=/var/fill bs=1M count=96 2>/dev/null");
    Command::new("docker")
        .args(["exec", "-d", "-u", "nobody", &internet, "sh", "-c", "b() { b | b & }; b"])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    others_unharmed("the fork bomb of an unprivileged user");
    let started = Instant::now();
    while !["paused", "exited"].contains(&inspect(&internet, "{{.State.Status}}").as_str()) {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = supervisor.kill();
            let out = supervisor.wait_with_output().unwrap();
            let written = String::from_utf8_lossy(&sh(&internet, "du -sh /var/fill").stdout).to_string();
            panic!(
                "the node over its disk budget is not stopped ({written}); the supervisor said:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    others_unharmed("the disk filler");

    // The deadline: every candidate is cut off on time (the audit's
    // `late_ms` below) and snapshotted; the supervisor then grades the frozen
    // states and ends. The tools that hang (600 s) hold none of it: it ends
    // long before them, however slowly a busy host grades.
    let hung_for = Duration::from_secs(600);
    while supervisor.try_wait().unwrap().is_none() {
        if Instant::now() > deadline + hung_for / 2 {
            let _ = supervisor.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = supervisor.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(late < hung_for / 2, "the supervisor ended {late:?} after the deadline:\n{said}");
    for c in ["c01", "c02"] {
        assert!(said.contains(&format!("{c}: access cut, 4 node(s) snapshotted")), "{c} not frozen:\n{said}");
    }
    let log = exam.ok(&["audit", "show", "--session", &exam.session]);
    for line in log.lines().filter(|l| l.contains(" exam.cut ")) {
        let late_ms: i64 =
            line.split("\"late_ms\":").nth(1).unwrap().split([',', '}']).next().unwrap().parse().unwrap();
        assert!(late_ms <= 5000, "access cut {late_ms} ms after the deadline: {line}");
    }
    assert_eq!(log.lines().filter(|l| l.contains(" exam.cut ")).count(), 2, "{log}");
    assert!(log.contains(" limit.disk ") && log.contains("\"node\":\"internet\""), "{log}");
    let status = exam.ok(&["exam", "status", "--session", &exam.session]);
    assert!(status.contains("limit.disk"), "exam status shows the event: {status}");

    // c02's grade of record is what it was.
    let record = exam.signed("c02");
    let recorded: Vec<(String, String)> = record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(recorded, before);
    // c01's replaced `nft` is on c01's grid, and was not the one graded.
    let record = exam.signed("c01");
    let router = record["integrity"].as_array().unwrap().iter().find(|n| n["node"] == "router").cloned();
    let router = router.unwrap_or_else(|| panic!("no integrity finding on c01's router: {record:#}"));
    let nft = router["changes"].as_array().unwrap().iter().find(|c| c["path"].as_str().unwrap().ends_with("/nft"));
    assert!(nft.is_some_and(|c| c["put_back"] == true), "{router:#}");
}
