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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exam, Running, Snapshots, Ssh, free_port, root, statuses, wait_for_port};

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
/// A shell that could not connect (CI once saw the guest's SSH close a
/// connection before its banner just after a restore said it was ready) is
/// tried again for a minute, then named: an empty answer is never taken for
/// the guest's.
fn in_guest(exam: &Exam, script: &str) -> String {
    let start = Instant::now();
    loop {
        let mut shell = exam
            .command(&["shell", "--session", &exam.session, "--candidate", "c01", "ws"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        shell.stdin.take().unwrap().write_all(format!("{script}\nexit\n").as_bytes()).unwrap();
        let out = shell.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        let unconnected =
            ["kex_exchange_identification", "Connection closed", "Connection reset", "Connection refused"];
        if out.status.success() || !unconnected.iter().any(|u| said.contains(u)) {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the trainer's shell into the guest never connected: {said}"
        );
        eprintln!("the trainer's shell did not connect, again in 2 s: {}", said.trim());
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The VM's screen as the seat gateway gets it: the engine runs the node's
/// `plateau-desktop` (QEMU's VNC socket) and carries RFB both ways; no
/// password, since only the engine reaches the socket.
struct Screen {
    child: std::process::Child,
    width: u16,
    height: u16,
}

impl Screen {
    fn open(container: &str) -> Screen {
        use std::io::Read;
        let mut child = Command::new("docker")
            .args(["exec", "-i", container, "plateau-desktop", "technicien"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut version = [0u8; 12];
        child.stdout.as_mut().unwrap().read_exact(&mut version).unwrap();
        assert_eq!(&version, b"RFB 003.008\n", "not an RFB server");
        let mut screen = Screen { child, width: 0, height: 0 };
        screen.send(&version);
        let types = screen.read(1)[0] as usize;
        assert!(screen.read(types).contains(&1), "QEMU's VNC asks for no password on its socket");
        screen.send(&[1]);
        assert_eq!(screen.read(4), [0, 0, 0, 0], "security handshake");
        screen.send(&[1]); // shared: a trainer may look at the same time
        let init = screen.read(24);
        screen.width = u16::from_be_bytes([init[0], init[1]]);
        screen.height = u16::from_be_bytes([init[2], init[3]]);
        assert_eq!(init[4], 32, "QEMU's default pixel format is 32 bits");
        let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        screen.read(name_len);
        screen.send(&[2, 0, 0, 1, 0, 0, 0, 0]); // raw encoding only
        screen
    }

    fn send(&mut self, bytes: &[u8]) {
        self.child.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    }

    fn read(&mut self, n: usize) -> Vec<u8> {
        use std::io::Read;
        let mut buf = vec![0u8; n];
        self.child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
        buf
    }

    /// How many colours the whole screen shows now (one: nothing drawn).
    fn colours(&mut self) -> usize {
        let [w0, w1] = self.width.to_be_bytes();
        let [h0, h1] = self.height.to_be_bytes();
        self.send(&[3, 0, 0, 0, 0, 0, w0, w1, h0, h1]);
        let mut seen = std::collections::HashSet::new();
        loop {
            match self.read(1)[0] {
                0 => break,
                2 => continue, // a bell
                3 => {
                    let head = self.read(7);
                    self.read(u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize);
                }
                other => panic!("RFB message {other} not asked for"),
            }
        }
        let rects = self.read(3);
        for _ in 0..u16::from_be_bytes([rects[1], rects[2]]) {
            let head = self.read(12);
            let (w, h) = (u16::from_be_bytes([head[4], head[5]]), u16::from_be_bytes([head[6], head[7]]));
            for pixel in self.read(w as usize * h as usize * 4).chunks(4) {
                seen.insert(pixel.to_vec());
            }
        }
        seen.len()
    }

    /// Keys pressed and released as a keyboard does (US layout, the guest's
    /// console keymap; shifted for capitals), `\n` as Return.
    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let shifted = c.is_ascii_uppercase();
            let keysym = if c == '\n' { 0xff0d } else { c as u32 };
            if shifted {
                self.key(0xffe1, true);
            }
            self.key(keysym, true);
            self.key(keysym, false);
            if shifted {
                self.key(0xffe1, false);
            }
        }
    }

    fn key(&mut self, keysym: u32, down: bool) {
        let mut event = vec![4, down as u8, 0, 0];
        event.extend_from_slice(&keysym.to_be_bytes());
        self.send(&event);
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until c01's guest's first console shows `text` (read from the
/// console's own memory, `/dev/vcs1`, by the trainer's shell).
fn until_on_screen(exam: &Exam, text: &str, seconds: u64) {
    let start = Instant::now();
    loop {
        let screen = in_guest(exam, "cat /dev/vcs1; echo");
        if screen.contains(text) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(seconds), "`{text}` never on the VM's screen: {screen}");
        std::thread::sleep(Duration::from_secs(1));
    }
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
    // Through the seat gateway (its sheet, its console account).
    let ssh_port = free_port();
    let gateway = format!("127.0.0.1:{ssh_port}");
    let again = exam.ok(&[
        "up",
        SCENARIO,
        "--session",
        &exam.session,
        "-n",
        "1",
        "--port-base",
        PORT_BASE,
        "--ssh-gateway",
        &gateway,
    ]);
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
    // The candidate's SSH through the seat gateway is a shell in the guest
    // (SSH with a PTY, as their account, through the engine's tunnel),
    // recorded on the controller, and cut by the freeze.
    let sheet = std::fs::read_to_string(exam.state.path().join(&exam.session).join("access/c01.md")).unwrap();
    let row = sheet.lines().find(|l| l.starts_with("| Mot de passe |")).unwrap();
    let password = row.split('`').nth(1).unwrap().to_string();
    // The candidate's account on the machines (the console's is the one above).
    let machine = sheet.lines().find(|l| l.starts_with("Votre compte sur les machines")).unwrap();
    let machine_password = machine.split('`').nth(3).unwrap().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let serve = exam.command(&["serve", "--listen", &listen, "--ssh", &gateway]).stdout(Stdio::null()).spawn();
    let _console = Running(serve.unwrap());
    wait_for_port(ssh_port, "the SSH gateway");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut by_ssh = runtime.block_on(Ssh::connect(ssh_port, "c01", &password)).unwrap();
    runtime.block_on(async {
        by_ssh.send("echo $(hostname)-dans-la-vm $(cat /sys/class/dmi/id/sys_vendor)\n").await;
        by_ssh.until("pc-c01-dans-la-vm QEMU", 60).await;
    });
    // The desktop of a VM is its own screen (QEMU's VNC, on a socket in the
    // node's container): a login there, and what the candidate types on it
    // is typed in the guest, as their account.
    let mut screen = Screen::open(&ws);
    until_on_screen(&exam, "login:", 120);
    assert!(screen.colours() >= 2, "the login prompt is not drawn on the screen the gateway carries");
    screen.type_text("technicien\n");
    until_on_screen(&exam, "Password:", 30);
    screen.type_text(&format!("{machine_password}\n"));
    until_on_screen(&exam, "technicien@pc-c01", 60);
    screen.type_text("touch /tmp/par-l-ecran\n");
    let start = Instant::now();
    while !in_guest(&exam, "stat -c %U /tmp/par-l-ecran 2>/dev/null").contains("technicien") {
        assert!(start.elapsed() < Duration::from_secs(30), "what was typed on the VM's screen never ran");
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(screen);
    in_guest(&exam, &format!("echo 'changed at the last minute' > /root/last-change; {BEND}"));
    let frozen_out = exam.ok(&["exam", "freeze", "--session", &exam.session]);
    assert!(frozen_out.contains("c01"), "{frozen_out}");
    runtime.block_on(by_ssh.until_closed(20));
    let recordings = exam.state.path().join(&exam.session).join("recordings/c01");
    let recorded: Vec<String> =
        std::fs::read_dir(&recordings).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    assert!(recorded.iter().any(|r| r.contains("pc-c01-dans-la-vm")), "the VM's shell recorded: {recorded:?}");
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
    let container = common::Container(name.clone());
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
    drop(container);
    let _ = Command::new("docker").args(["rmi", "-f", "plateau/vm-plateau-test-disk:latest"]).output();
    let tags = Command::new("docker").args(["images", "-q", "plateau/vm-plateau-test-disk"]).output().unwrap();
    for id in String::from_utf8_lossy(&tags.stdout).lines() {
        let _ = Command::new("docker").args(["rmi", "-f", id]).output();
    }
    assert!(status.contains("\"running\": true"), "QEMU runs the imported disk: {status}");
    assert!(args.contains("-boot c") && args.contains("e1000") && args.contains("hostfwd=tcp::5985-:5985"), "{args}");
    assert!(!args.contains("-kernel"), "an imported disk boots from itself: {args}");
}
