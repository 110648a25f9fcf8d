//! A second, real Docker engine behind mutual TLS, set up the way the README
//! tells a centre to: `plateau engines certs`, dockerd started with the flags
//! it prints, the entry it prints in the site file. `plateau engines list`
//! then reaches both engines; another centre's client is refused.
//!
//! The second dockerd runs in a network namespace of its own, reached over a
//! veth pair (link-local addresses), has no bridge and touches no firewall;
//! it holds no container and is stopped, its namespace and folders removed,
//! when the test ends, pass or fail.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

fn plateau(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plateau")).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

/// The second engine's host: a network namespace joined to this host by a
/// veth pair (169.254.237.0/30 and on, one per test). In its own namespace,
/// because a dockerd without a bridge deletes the `docker0` it finds, and
/// this host's engine needs its own.
const ENGINE_SIDE: &str = "169.254.237.2";

/// The namespace, and the dockerd of its own (own data, exec root,
/// containerd) in it; stopped and removed on drop, pass or fail.
struct SecondEngine {
    netns: String,
    dockerd: Option<Child>,
    /// dockerd's arguments and log, to start it again.
    args: Vec<String>,
    log: std::path::PathBuf,
}

impl SecondEngine {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        // nsenter, not `ip netns exec`: that one mounts a /sys of its own,
        // without the cgroups dockerd needs.
        let dockerd = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg("dockerd")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd is installed beside the engine");
        self.dockerd = Some(dockerd);
    }

    /// As a server that goes down: dockerd and every container of it stop.
    fn stop(&mut self) {
        if let Some(mut dockerd) = self.dockerd.take() {
            // SIGTERM: dockerd stops its containers and its own containerd before it exits.
            let _ = Command::new("kill").arg(dockerd.id().to_string()).status();
            let _ = dockerd.wait();
        }
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        self.stop();
        // A dockerd stopped mid-way leaves its namespace files mounted
        // under its exec root: they keep the namespace, its veth and its
        // address alive for the next run. Unmounted first.
        let root = self.log.parent().unwrap().display().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for point in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|p| p.starts_with(&root)) {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A second engine behind mutual TLS in a namespace of its own, set up as
/// the README tells a centre: `plateau engines certs --host ENGINE`, dockerd
/// with the flags it prints, its site file entry; `subnet` is the /30's
/// third byte from 169.254.237.0 (each test its own). With `firewall`, the
/// engine manages iptables in its namespace as a server's engine does.
/// Returns the engine (stopped on drop), the site file (this host's engine
/// first), and the engine's own socket (for the test's direct checks).
fn second_engine(dir: &Path, first: u8, firewall: bool) -> (SecondEngine, String, String) {
    let (host_side, engine_side) = (format!("169.254.237.{}", first + 1), format!("169.254.237.{}", first + 2));
    let made = plateau(dir, &["engines", "certs", "--host", &engine_side]);
    let said = String::from_utf8_lossy(&made.stdout).to_string();
    assert!(made.status.success(), "{said}{}", String::from_utf8_lossy(&made.stderr));

    let pid = std::process::id();
    let root = dir.join("engine");
    let mut engine = SecondEngine {
        netns: format!("plateau-e2e-{pid}-{first}"),
        dockerd: None,
        args: Vec::new(),
        log: root.join("dockerd.log"),
    };
    let (host_veth, engine_veth) = (format!("pe{pid}-{first}h"), format!("pe{pid}-{first}n"));
    ip(&["netns", "add", &engine.netns]);
    ip(&["link", "add", &host_veth, "type", "veth", "peer", "name", &engine_veth, "netns", &engine.netns]);
    ip(&["addr", "add", &format!("{host_side}/30"), "dev", &host_veth]);
    ip(&["link", "set", &host_veth, "up"]);
    for args in [
        vec!["addr", "add", &format!("{engine_side}/30"), "dev", &engine_veth],
        vec!["link", "set", &engine_veth, "up"],
        vec!["link", "set", "lo", "up"],
    ] {
        ip(&[&["-n", &engine.netns][..], &args[..]].concat());
    }

    // dockerd with the flags `engines certs` printed, the server folder copied.
    let flags = said.lines().find(|l| l.trim_start().starts_with("--tlsverify")).expect(&said).trim().to_string();
    let flags = flags.replace("/etc/docker/plateau", &dir.join("certs").join(&engine_side).display().to_string());
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("daemon.json"), "{}").unwrap(); // not this host's /etc/docker/daemon.json
    let firewall = if firewall { "--iptables=true" } else { "--iptables=false" };
    let at = |name: &str| root.join(name).display().to_string();
    engine.args = [
        "--config-file",
        &at("daemon.json"),
        "--data-root",
        &at("data"),
        "--exec-root",
        &at("exec"),
        "--pidfile",
        &at("dockerd.pid"),
        "--bridge=none",
        "--storage-driver",
        "vfs",
        firewall,
        "--ip6tables=false",
        "-H",
        &format!("unix://{}", at("docker.sock")),
    ]
    .into_iter()
    .map(str::to_string)
    .chain(flags.split_whitespace().map(str::to_string))
    .collect();
    engine.start();

    let entry: String =
        said.lines().skip_while(|l| !l.contains("[[engines]]")).map(|l| l.trim().to_string() + "\n").collect();
    let site = format!("[[engines]]\nid = \"here\"\nurl = \"unix:///var/run/docker.sock\"\n\n{entry}");
    std::fs::write(dir.join("plateau.toml"), &site).unwrap();
    (engine, entry, format!("unix://{}", root.join("docker.sock").display()))
}

/// Until every engine of the site answers (a dockerd takes a few seconds).
fn listed_when_ready(dir: &Path) -> Value {
    let started = Instant::now();
    loop {
        let out = plateau(dir, &["engines", "list", "--json"]);
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
        if out.status.success() || started.elapsed() > Duration::from_secs(120) {
            return listed;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_remote_engine_set_up_from_engines_certs_is_listed_and_a_stranger_is_refused() {
    if !plateau_tests::engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let docker0 = || Command::new("ip").args(["link", "show", "docker0"]).output().unwrap().status.success();
    let had_docker0 = docker0();
    let (engine, entry, _) = second_engine(dir.path(), 0, false);
    let root = dir.path().join("engine");
    let site = std::fs::read_to_string(dir.path().join("plateau.toml")).unwrap();
    let listed = listed_when_ready(dir.path());
    let log = std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default();
    let remote = &listed[1];
    assert_eq!(remote["id"], "169-254-237-2", "{site}");
    assert_eq!(remote["unreachable"], Value::Null, "{listed:#}\n{log}");
    assert_eq!(remote["address"], format!("tcp://{ENGINE_SIDE}:2376 (TLS)"));
    assert!(remote["version"].as_str().is_some_and(|v| !v.is_empty()), "{listed:#}");
    assert_eq!((remote["containers"].as_u64(), remote["images"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(listed[0]["unreachable"], Value::Null, "{listed:#}");

    // Another centre's client certificate, even beside this centre's CA, is
    // refused by the engine: only the centre's own client drives it.
    let stranger = tempfile::tempdir().unwrap();
    assert!(plateau(stranger.path(), &["engines", "certs", "--host", ENGINE_SIDE]).status.success());
    let mixed = dir.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::copy(dir.path().join("certs/client/ca.pem"), mixed.join("ca.pem")).unwrap();
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(stranger.path().join("certs/client").join(file), mixed.join(file)).unwrap();
    }
    std::fs::write(dir.path().join("stranger.toml"), entry.replace("certs/client", "mixed")).unwrap();
    let out = plateau(dir.path(), &["engines", "list", "--site", "stranger.toml"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("1 engine(s) unreachable"), "{table}");
    // ... while the engine itself is still up for the centre's own client.
    let again = plateau(dir.path(), &["engines", "list"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stdout));
    // The second engine left this host's engine its default bridge.
    drop(engine);
    assert_eq!(docker0(), had_docker0, "this host's docker0 was removed by the second engine");
}

fn docker_on(socket: &str, args: &[&str]) -> String {
    let out = Command::new("docker").arg("-H").arg(socket).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Firewall rules tagged for a session, in a network namespace (`None`: this host's).
fn rules(netns: Option<&str>, session: &str) -> usize {
    let mut cmd = Command::new("nsenter");
    if let Some(netns) = netns {
        cmd.arg(format!("--net=/var/run/netns/{netns}"));
    }
    let out = cmd.arg("iptables-save").output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&format!("plateau:{session}:"))).count()
}

/// A centre with two engines: the roster places one candidate on each; each
/// platform is whole on its own engine (images sent there, its firewall
/// rules set there by the helper), nothing crosses between them; each is
/// graded where it stands (the far one's probes sent on its host); when the
/// second engine goes down mid-exam, only its candidate is unknown, and `up`
/// converges once it is back; the freeze snapshots each where it stands; the
/// archive holds both engines' snapshots, `down` leaves neither engine
/// anything of the session, and an appeal restores a platform on the other
/// engine with the grade of record's verdicts.
#[test]
fn candidates_on_two_engines_each_stay_whole_on_their_own() {
    if !plateau_tests::engine_available() {
        return;
    }
    // Dropped in reverse: the exam's `down` runs while both engines and the
    // site file are still there.
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, _, remote) = second_engine(dir.path(), 4, true);
    let mut exam = common::Exam::new("eng").expect("the engine is available");
    let listed = listed_when_ready(dir.path());
    assert_eq!(listed[1]["unreachable"], Value::Null, "{listed:#}");
    let far = listed[1]["id"].as_str().unwrap().to_string();
    exam.site = Some(dir.path().join("plateau.toml"));
    let session = exam.session.clone();
    let roster = dir.path().join("salle.csv");
    std::fs::write(&roster, format!("id,name,engine\nc01,Alice,here\nc02,Bob,{far}\n")).unwrap();
    let scenario = exam.scenario("scenarios/tai-small.toml", |t| t);
    let up = |exam: &common::Exam| {
        exam.ok(&[
            "up",
            &scenario,
            "--session",
            &session,
            "--roster",
            &roster.display().to_string(),
            "--port-base",
            "34700",
        ])
    };
    let said = up(&exam);
    // c02's entry is published on its engine's host, and their sheet says so.
    let c02_line = said.lines().find(|l| l.starts_with("c02")).unwrap_or_default();
    assert!(c02_line.ends_with(&format!("ssh -p 34702 169.254.237.6  on {far}")), "{said}");
    let sheets = said.lines().find_map(|l| l.strip_prefix("access sheets: ")).expect(&said);
    let sheet = std::fs::read_to_string(Path::new(sheets).join("c02.md")).unwrap();
    assert!(sheet.contains("169.254.237.6") && !sheet.contains("127.0.0.1"), "{sheet}");

    let placed = |exam: &common::Exam| -> Vec<(String, String, String)> {
        let out = exam.plateau(&["status", "--session", &session, "--json"]);
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let mut seen: Vec<(String, String, String)> = rows
            .iter()
            .filter(|r| r["node"] == "ws")
            .map(|r| {
                (
                    r["candidate"].as_str().unwrap().into(),
                    r["engine"].as_str().unwrap().into(),
                    r["state"].as_str().unwrap().into(),
                )
            })
            .collect();
        seen.sort();
        seen
    };
    assert_eq!(
        placed(&exam),
        [("c01".into(), "here".into(), "running".into()), ("c02".into(), far.clone(), "running".into())]
    );
    // `doctor` examines both engines, the far one through its own API.
    let doctor: Vec<Value> = serde_json::from_str(&exam.ok(&["doctor", "--json"])).unwrap();
    let found = |report: &Value, name: &str| {
        let finding = report["findings"].as_array().unwrap().iter().find(|f| f["name"] == name).cloned();
        finding.map(|f| (f["available"].clone(), f["detail"].as_str().unwrap_or_default().to_string()))
    };
    assert_eq!(
        doctor.iter().map(|r| r["engine"].clone()).collect::<Vec<_>>(),
        [Value::from("here"), Value::from(far.as_str())]
    );
    assert_eq!(found(&doctor[1], "NET_ADMIN"), Some((Value::Bool(true), "ok".into())), "{:#}", doctor[1]);
    let disk = found(&doctor[1], "free disk").unwrap_or_default().1;
    assert!(disk.contains("free under"), "the far engine's disk, read there: {disk}");

    // The far engine holds c02's platform and its helper, nothing of c01's;
    // c02's firewall rules are on its own host, not here.
    let there = docker_on(&remote, &["ps", "--format", "{{.Names}}"]);
    assert!(there.contains(&exam.container("c02", "ws")) && there.contains("plateau-helper"), "{there}");
    assert!(!there.contains(&exam.container("c01", "ws")), "{there}");
    assert!(rules(Some(&engine.netns), &session) > 0, "c02's bridges are isolated on their host");
    let here_rules = Command::new("iptables-save").output().unwrap();
    assert!(!String::from_utf8_lossy(&here_rules.stdout).contains(&format!("plateau:{session}:c02")));
    // Nothing crosses between the engines: c02's router does not reach c01's.
    let plans = common::plans(&exam);
    let c01_router = common::address(&plans[0], "router", "lan");
    let probe = Command::new("docker")
        .args(["-H", &remote, "exec", &exam.container("c02", "router"), "ping", "-c", "1", "-W", "2", &c01_router])
        .output()
        .unwrap();
    assert!(!probe.status.success(), "c02 reached c01's router at {c01_router}");

    // Each graded where it stands: c02 solved through its access on the far
    // engine, its DHCP probes sent on its own bridges there by the
    // controller's agent in the helper; c01 untouched, probed from here.
    exam.ok(&["solve", "--session", &session, "--candidate", "c02"]);
    let grades: Vec<Value> = serde_json::from_str(&exam.ok(&["grade", "--session", &session, "--json"])).unwrap();
    let grade_of = |id: &str| grades.iter().find(|g| g["id"] == id).unwrap_or_else(|| panic!("{id} graded"));
    let (c01, c02) = (grade_of("c01"), grade_of("c02"));
    assert_eq!(c02["score"].as_f64(), c02["max_score"].as_f64(), "c02 solved: {}", common::not_passed(c02));
    let probed_from = |grade: &Value, check: &str| {
        let found = grade["checks"].as_array().unwrap().iter().find(|c| c["id"] == check).unwrap();
        (found["status"].as_str().unwrap().to_string(), found["evidence"]["actions"][0]["from"].clone())
    };
    assert_eq!(
        probed_from(c02, "dhcp-reservation"),
        ("pass".to_string(), Value::from(format!("controller's agent beside engine `{far}`")))
    );
    assert_eq!(probed_from(c01, "dhcp-reservation"), ("fail".to_string(), Value::from("controller")));

    exam.ok(&["exam", "start", "--session", &session, "--duration", "1h"]);
    // The far engine's server goes down: its candidate is unknown, the other's is not.
    engine.stop();
    let out = exam.plateau(&["status", "--session", &session]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        placed(&exam),
        [("c01".into(), "here".into(), "running".into()), ("c02".into(), far.clone(), "unreachable".into())]
    );
    // Back: `up` converges, c02's nodes started again where they were.
    engine.start();
    listed_when_ready(dir.path());
    let again = up(&exam);
    assert!(again.lines().any(|l| l.starts_with("c02") && l.contains("started")), "{again}");
    // ... and their access open again: their phase runs.
    let rows: Vec<Value> = serde_json::from_str(&exam.ok(&["status", "--session", &session, "--json"])).unwrap();
    let relay = rows.iter().find(|r| r["candidate"] == "c02" && r["node"] == "access").expect("c02's relay");
    assert_eq!(relay["state"], "running", "{relay}");
    assert_eq!(
        placed(&exam),
        [("c01".into(), "here".into(), "running".into()), ("c02".into(), far.clone(), "running".into())]
    );

    // The freeze snapshots each platform on its own engine.
    let frozen = exam.plateau(&["exam", "freeze", "--session", &session]);
    let said = String::from_utf8_lossy(&frozen.stdout).to_string() + &String::from_utf8_lossy(&frozen.stderr);
    let snapshots = |socket: &str| {
        docker_on(socket, &["images", "-q", "--filter", &format!("label=org.plateau.session={session}")])
            .lines()
            .count()
    };
    assert!(snapshots(&remote) > 0, "c02's snapshots are on its engine: {said}");
    let here_snapshots = common::Snapshots(session.clone());
    assert!(!here_snapshots.ids().is_empty(), "c01's snapshots are on this host's engine: {said}");

    // The appeals archive holds what both engines froze; `down` then
    // leaves neither engine a snapshot of the session.
    let record = exam.signed("c01");
    assert_eq!(record["basis"]["kind"], "record");
    let file = dir.path().join("appel.tar").display().to_string();
    exam.ok(&["archive", "create", "--session", &session, "--out", &file]);
    let verified = exam.ok(&["archive", "verify", &file]);
    assert!(verified.lines().any(|l| l.starts_with("ok") && l.contains("snapshots")), "{verified}");
    exam.ok(&["down", "--session", &session]);
    assert_eq!(docker_on(&remote, &["ps", "-aq"]).lines().count(), 0, "the far engine keeps nothing, helper included");
    assert_eq!(rules(Some(&engine.netns), &session), 0);
    assert_eq!(exam.leftovers(), 0);
    assert_eq!((snapshots(&remote), here_snapshots.ids().len()), (0, 0), "snapshots kept in the archive only");

    // An appeal heard where the other engine is: c01's frozen platform,
    // frozen on this host, restored from the archive on the far engine,
    // grades as its grade of record did.
    let restored = exam.ok(&["archive", "restore", &file, "--candidate", "c01", "--engine", &far]);
    assert!(restored.contains("restored from the archive and graded again"), "{restored}");
    let there = docker_on(&remote, &["ps", "--format", "{{.Names}}"]);
    assert!(there.contains(&exam.container("c01", "ws")), "c01 restored on the far engine: {there}");
    let again = exam.signed("c01");
    assert_eq!(again["basis"]["kind"], "record");
    assert_eq!(common::statuses(&again), common::statuses(&record), "{}", common::not_passed(&again));
    assert_eq!(again["score"], record["score"]);
    exam.ok(&["down", "--session", &session]);
    assert_eq!(docker_on(&remote, &["ps", "-aq"]).lines().count(), 0);
    assert_eq!(snapshots(&remote), 0, "the appeal's images go with its `down`");
    assert_eq!(exam.leftovers(), 0);
}

/// A VM node on the far engine: its image (QEMU and the guest's disk) sent
/// there, its accelerator asked of that host, its guest graded through that
/// engine's tunnel, untouched then solved.
#[test]
fn a_vm_node_on_another_hosts_engine_boots_there_and_is_graded_through_its_tunnel() {
    if !plateau_tests::engine_available() {
        return;
    }
    let built = Command::new(env!("CARGO_BIN_EXE_plateau"))
        .args(["images", "build", "--vm", "workstation"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(built.status.success(), "vm image: {}", String::from_utf8_lossy(&built.stderr));
    let dir = tempfile::tempdir().unwrap();
    let (_engine, _, remote) = second_engine(dir.path(), 8, true);
    let mut exam = common::Exam::new("engvm").expect("the engine is available");
    let listed = listed_when_ready(dir.path());
    let far = listed[1]["id"].as_str().unwrap().to_string();
    exam.site = Some(dir.path().join("plateau.toml"));
    let session = exam.session.clone();
    let roster = dir.path().join("salle.csv");
    std::fs::write(&roster, format!("id,name,engine\nc01,Alice,{far}\n")).unwrap();
    let scenario = common::root().join("scenarios/tai-2023-vm.toml").display().to_string();
    let roster = roster.display().to_string();
    exam.ok(&["up", &scenario, "--session", &session, "--roster", &roster, "--port-base", "34900"]);

    // The guest runs on the far engine, from the image sent there, with
    // the accelerator that host runs guests with: KVM when a kernel boots
    // with it there (tried here by hand; this kind of machine has a
    // /dev/kvm that runs no guest), else TCG.
    let ws = exam.container("c01", "ws");
    let there = docker_on(&remote, &["inspect", "-f", "{{.Config.Image}} {{.State.Status}}", &ws]);
    assert_eq!(there.trim(), "plateau/vm-workstation:latest running");
    let kernel_boots_with_kvm = Command::new("docker")
        .args(["-H", &remote, "run", "--rm", "--network", "none", "--device", "/dev/kvm"])
        .args(["plateau/vm-workstation", "sh", "-c"])
        .arg(
            "timeout 15 qemu-system-x86_64 -accel kvm -m 128 -display none -vga none -nodefaults -no-reboot \
             -kernel /vm/vmlinuz -append 'console=ttyS0 panic=-1' -serial file:/tmp/console; \
             grep -q 'Kernel panic' /tmp/console",
        )
        .status()
        .unwrap()
        .success();
    let accel = docker_on(&remote, &["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", &ws]);
    let expected = if kernel_boots_with_kvm { "PLATEAU_VM_ACCEL=kvm" } else { "PLATEAU_VM_ACCEL=tcg" };
    assert!(accel.lines().any(|l| l == expected), "{expected}: {accel}");

    // Untouched, the grader reads the guest through the far engine: its
    // checks fail (no lease yet), none is the grader's `error`.
    let grade = |exam: &common::Exam| -> Value {
        serde_json::from_str::<Value>(&exam.ok(&["grade", "--session", &session, "--json"])).unwrap()[0].clone()
    };
    let untouched = grade(&exam);
    let on_ws: Vec<(String, String)> = common::statuses(&untouched)
        .into_iter()
        .filter(|(id, _)| ["ws-address", "ws-domain", "ws-internet"].contains(&id.as_str()))
        .collect();
    assert_eq!(
        on_ws,
        [("ws-address", "fail"), ("ws-domain", "fail"), ("ws-internet", "fail")]
            .map(|(id, s)| (id.to_string(), s.to_string())),
        "{}",
        common::not_passed(&untouched)
    );
    // Solved through the candidate's access on that host: full marks.
    exam.ok(&["solve", "--session", &session, "--candidate", "c01"]);
    let solved = grade(&exam);
    assert_eq!(solved["score"].as_f64(), solved["max_score"].as_f64(), "{}", common::not_passed(&solved));

    exam.ok(&["down", "--session", &session]);
    assert_eq!(docker_on(&remote, &["ps", "-aq"]).lines().count(), 0, "the far engine keeps nothing");
}
