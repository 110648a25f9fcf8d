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

/// A session of the small scenario, with its own database; removed on drop.
pub struct Exam {
    pub session: String,
    pub state: tempfile::TempDir,
}

impl Exam {
    pub fn new(tag: &str) -> Option<Exam> {
        if !engine_available() {
            return None;
        }
        let build =
            Command::new(env!("CARGO_BIN_EXE_plateau")).args(["images", "build"]).current_dir(root()).output().unwrap();
        assert!(build.status.success(), "images: {}", String::from_utf8_lossy(&build.stderr));
        Some(Exam { session: format!("t{}-{tag}", std::process::id() % 100_000), state: tempfile::tempdir().unwrap() })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plateau"));
        cmd.args(args)
            .current_dir(root())
            .env("PLATEAU_STATE", self.state.path().join("state.db"))
            .env("NO_COLOR", "1");
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

    pub fn container(&self, candidate: &str, node: &str) -> String {
        format!("plateau-{}-{candidate}-{node}", self.session)
    }

    pub fn status(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["status", "--session", &self.session, "--json"])).unwrap()
    }

    /// Labelled objects of this session left on the engine.
    pub fn leftovers(&self) -> usize {
        let label = format!("label=org.plateau.session={}", self.session);
        let count = |args: &[&str]| {
            let out = Command::new("docker").args(args).output().unwrap();
            String::from_utf8_lossy(&out.stdout).lines().count()
        };
        count(&["ps", "-aq", "--filter", &label]) + count(&["network", "ls", "-q", "--filter", &label])
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

/// The candidate's plan, from `plateau plan` with the session's seed (its name).
pub fn plans(exam: &Exam, n: &str) -> Vec<serde_json::Value> {
    let out = exam.ok(&["plan", "scenarios/tai-small.toml", "-n", n, "--seed", &exam.session, "--json"]);
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
