//! Shared by the end-to-end tests of the `plateau` command: a session of the
//! small scenario on the real engine, with its own database.
#![allow(dead_code)] // each test crate uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use plateau_tests::engine_available;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every node's disk budget in a test (tests write little): `exam start`
/// refuses a session whose budgets, twice, do not fit the engine's free
/// disk, and a CI machine may have a few GiB free.
pub const TEST_DISK_BUDGET: &str = "\n[limits]\ndisk = \"128m\"\n";

/// A session of the small scenario, with its own database; removed on drop.
pub struct Exam {
    pub session: String,
    pub state: tempfile::TempDir,
    /// The site file every command reads (`--site`), when not this host's engine alone.
    pub site: Option<PathBuf>,
}

impl Exam {
    pub fn new(tag: &str) -> Option<Exam> {
        if !engine_available() {
            return None;
        }
        let build =
            Command::new(env!("CARGO_BIN_EXE_plateau")).args(["images", "build"]).current_dir(root()).output().unwrap();
        assert!(build.status.success(), "images: {}", String::from_utf8_lossy(&build.stderr));
        Some(Exam {
            session: format!("t{}-{tag}", std::process::id() % 100_000),
            state: tempfile::tempdir().unwrap(),
            site: None,
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plateau"));
        cmd.args(args)
            .current_dir(root())
            .env("PLATEAU_STATE", self.state.path().join("state.db"))
            .env("NO_COLOR", "1");
        if let Some(site) = &self.site {
            cmd.env("PLATEAU_SITE", site);
        }
        cmd
    }

    pub fn plateau(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.plateau(args);
        assert!(
            out.status.success(),
            "plateau {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn up(&self, candidates: &str, port_base: &str) -> String {
        self.ok(&[
            "up",
            "scenarios/tai-small.toml",
            "--session",
            &self.session,
            "-n",
            candidates,
            "--port-base",
            port_base,
        ])
    }

    /// The grade a jury signs for a candidate (their grade of record once
    /// frozen), as the report writes it.
    pub fn signed(&self, candidate: &str) -> serde_json::Value {
        let out = self.state.path().join(format!("report-{candidate}"));
        let out = out.display().to_string();
        self.ok(&["report", "--session", &self.session, "--candidate", candidate, "--format", "json", "--out", &out]);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{out}/report.json")).unwrap()).unwrap();
        report["candidates"][0].clone()
    }

    /// A regrade with its reason (an appeal, after `exam restore`): the
    /// candidate's new grade.
    pub fn regrade(&self, candidate: &str, reason: &str) -> serde_json::Value {
        let args = ["grade", "--session", &self.session, "--candidate", candidate, "--regrade", reason, "--json"];
        serde_json::from_str::<serde_json::Value>(&self.ok(&args)).unwrap()[0].clone()
    }

    /// A project scenario as a test runs it, written into this exam's state:
    /// `edit`ed, and with every node's disk budget at `TEST_DISK_BUDGET`
    /// unless the edit sets `[limits]` itself. Its path, for `up`.
    pub fn scenario(&self, project_scenario: &str, edit: impl FnOnce(String) -> String) -> String {
        let text = edit(std::fs::read_to_string(root().join(project_scenario)).unwrap());
        let text = if text.contains("\n[limits]\n") { text } else { text + TEST_DISK_BUDGET };
        let name = Path::new(project_scenario).file_name().unwrap();
        let path = self.state.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    pub fn container(&self, candidate: &str, node: &str) -> String {
        format!("plateau-{}-{candidate}-{node}", self.session)
    }

    pub fn status(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["status", "--session", &self.session, "--json"])).unwrap()
    }

    /// Labelled objects of this session left on the engine, and its host
    /// firewall rules (tagged `plateau:SESSION:CANDIDATE`).
    pub fn leftovers(&self) -> usize {
        let label = format!("label=org.plateau.session={}", self.session);
        let count = |args: &[&str]| {
            let out = Command::new("docker").args(args).output().unwrap();
            String::from_utf8_lossy(&out.stdout).lines().count()
        };
        let tag = format!("plateau:{}:", self.session);
        let rules = Command::new("iptables-save").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let rules = rules.unwrap_or_default().lines().filter(|l| l.contains(&tag)).count();
        count(&["ps", "-aq", "--filter", &label]) + count(&["network", "ls", "-q", "--filter", &label]) + rules
    }
}

impl Drop for Exam {
    fn drop(&mut self) {
        let _ = self.plateau(&["down", "--session", &self.session]);
    }
}

/// Snapshot images of a session; removed on drop (they outlive `down` on purpose).
pub struct Snapshots(pub String);

impl Snapshots {
    pub fn ids(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args([
                "images",
                "-q",
                "--filter",
                &format!("label=org.plateau.session={}", self.0),
                "--filter",
                "label=org.plateau.snapshot",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }
}

impl Drop for Snapshots {
    fn drop(&mut self) {
        // Restored containers run from the snapshots: they go first (the
        // session's own teardown runs after this guard).
        let label = format!("label=org.plateau.session={}", self.0);
        let out = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output().unwrap();
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        for id in self.ids() {
            let _ = Command::new("docker").args(["rmi", "-f", &id]).output();
        }
    }
}

pub fn sh(container: &str, script: &str) -> Output {
    Command::new("docker").args(["exec", container, "sh", "-c", script]).output().unwrap()
}

pub fn eventually(container: &str, script: &str, seconds: u64, what: &str) -> String {
    let start = Instant::now();
    loop {
        let out = sh(container, script);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(seconds), "{what}: not within {seconds} s: {text}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Pauses a container as a hung machine would be. The cgroup freezer may
/// refuse on a loaded host ("unable to freeze"): the test's subject is the
/// hung target, not the freezer, so a refusal is asked again for 20 s.
pub fn freeze(container: &str) {
    let start = Instant::now();
    loop {
        let out = Command::new("docker").args(["pause", container]).output().unwrap();
        if out.status.success() {
            return;
        }
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(start.elapsed() < Duration::from_secs(20), "docker pause {container}: {said}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The candidates' plans as the session's `up` recorded them.
pub fn plans(exam: &Exam) -> Vec<serde_json::Value> {
    let out = exam.ok(&["plan", "--session", &exam.session, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["candidates"].as_array().unwrap().clone()
}

pub fn address(plan: &serde_json::Value, node: &str, network: &str) -> String {
    let node = plan["nodes"].as_array().unwrap().iter().find(|n| n["id"] == node).unwrap();
    let iface = node["interfaces"].as_array().unwrap().iter().find(|i| i["network"] == network).unwrap();
    iface["address"].as_str().unwrap().to_string()
}

/// Each check of a grade with its status, in the grade's order.
pub fn statuses(grade: &serde_json::Value) -> Vec<(String, String)> {
    let checks = grade["checks"].as_array().unwrap();
    checks.iter().map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string())).collect()
}

/// The checks of a grade that did not pass, whole (evidence included): what
/// a failed assertion on a score shows, short enough to be read in a CI log.
pub fn not_passed(grade: &serde_json::Value) -> String {
    let checks = grade["checks"].as_array().unwrap();
    let shown: Vec<_> = checks.iter().filter(|c| c["status"] != "pass").collect();
    serde_json::to_string_pretty(&shown).unwrap()
}

/// A child process stopped when the test ends.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A container a test ran itself with `docker run`, removed when the test
/// ends, pass or fail (also one that was created but failed to start).
pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what} does not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A candidate's SSH session through the gateway (a real SSH client, russh).
pub struct Ssh {
    channel: russh::Channel<russh::client::Msg>,
    pub seen: String,
    _handle: russh::client::Handle<AnyHostKey>,
}

pub struct AnyHostKey;
impl russh::client::Handler for AnyHostKey {
    type Error = russh::Error;
    async fn check_server_key(&mut self, _: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

impl Ssh {
    /// Signed in with a PTY and a shell; `Err` when the password is refused.
    pub async fn connect(port: u16, user: &str, password: &str) -> Result<Ssh, String> {
        let config = std::sync::Arc::new(russh::client::Config::default());
        let mut handle =
            russh::client::connect(config, ("127.0.0.1", port), AnyHostKey).await.map_err(|e| e.to_string())?;
        let auth = handle.authenticate_password(user, password).await.map_err(|e| e.to_string())?;
        if !auth.success() {
            return Err(format!("{user}: refused"));
        }
        let channel = handle.channel_open_session().await.map_err(|e| e.to_string())?;
        channel.request_pty(true, "xterm", 100, 30, 0, 0, &[]).await.map_err(|e| e.to_string())?;
        channel.request_shell(true).await.map_err(|e| e.to_string())?;
        Ok(Ssh { channel, seen: String::new(), _handle: handle })
    }

    pub async fn send(&mut self, keys: &str) {
        self.channel.data(keys.replace('\n', "\r").as_bytes()).await.unwrap();
    }

    /// Read until `text` shows; fail the test after `seconds`.
    pub async fn until(&mut self, text: &str, seconds: u64) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !self.seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.channel.wait()).await {
                Ok(Some(russh::ChannelMsg::Data { data })) => self.seen.push_str(&String::from_utf8_lossy(&data)),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the SSH session ended before {text:?}: {}", self.seen),
                Err(_) => panic!("{text:?} never showed over SSH in {seconds} s: {}", self.seen),
            }
        }
    }

    /// Wait until the gateway closes the session; fail the test after `seconds`.
    pub async fn until_closed(&mut self, seconds: u64) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.channel.wait()).await {
                Ok(Some(russh::ChannelMsg::Close) | None) => return,
                Ok(Some(russh::ChannelMsg::Data { data })) => self.seen.push_str(&String::from_utf8_lossy(&data)),
                Ok(Some(_)) => {}
                Err(_) => panic!("the SSH session still open after {seconds} s: {}", self.seen),
            }
        }
    }
}
