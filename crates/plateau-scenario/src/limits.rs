//! Resource limits of a node: what one candidate's machines may take from
//! the host (memory, processes, CPU, log, disk), so that a fork bomb or a
//! filled disk on one platform never reaches the others. Defaults come
//! from the role (`RoleSpec::memory`) and fixed values below; a scenario's
//! `[limits]` table overrides them for every node, a node's `limits` for itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Role;
use crate::validate::Sink;

/// Limits as written in a scenario. Sizes use Docker's units: `512m`, `1g`
/// (k, m, g are KiB, MiB, GiB; a bare number is bytes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory the node may use, e.g. `512m`.
    pub memory: Option<String>,
    /// Swap on top of `memory` (`0`: none).
    pub swap: Option<String>,
    /// Processes and threads at once (a fork bomb stops there).
    pub pids: Option<u32>,
    /// Share of CPU cores, e.g. `0.5`.
    pub cpus: Option<f64>,
    /// Size of one file of the node's console log, before rotation.
    pub log_size: Option<String>,
    /// Rotated console log files kept.
    pub log_files: Option<u32>,
    /// What the node may write to its own disk (its writable layer), e.g. `1g`:
    /// the supervisor pauses a node over it.
    pub disk: Option<String>,
}

/// The limits in force on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLimits {
    pub memory: u64,
    pub swap: u64,
    pub pids: u32,
    /// Thousandths of a CPU core.
    pub cpu_millis: u32,
    pub log_size: u64,
    pub log_files: u32,
    pub disk: u64,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The bounds `limit_rules` enforces.
const MEMORY: (u64, u64) = (32 * MIB, 64 * GIB);
const PIDS: (u32, u32) = (64, 65_536);
const CPUS: (f64, f64) = (0.05, 64.0);
const LOG_SIZE: (u64, u64) = (64 * 1024, GIB);
const LOG_FILES: (u32, u32) = (1, 20);
const DISK: (u64, u64) = (16 * MIB, 1024 * GIB);

impl NodeLimits {
    /// The role's defaults.
    pub fn of_role(role: Role) -> NodeLimits {
        NodeLimits {
            memory: role.spec().memory,
            swap: 0,
            pids: 1024,
            cpu_millis: 1000,
            log_size: 10 * MIB,
            log_files: 2,
            disk: role.spec().disk,
        }
    }

    /// The role's defaults, then the scenario's `[limits]`, then the node's.
    /// Values were validated: an unreadable one keeps the default.
    pub fn resolve(role: Role, layers: &[&Limits]) -> NodeLimits {
        let mut out = NodeLimits::of_role(role);
        for l in layers {
            let size = |v: &Option<String>| v.as_deref().and_then(parse_size);
            out.memory = size(&l.memory).unwrap_or(out.memory);
            out.swap = size(&l.swap).unwrap_or(out.swap);
            out.pids = l.pids.unwrap_or(out.pids);
            out.cpu_millis = l.cpus.map_or(out.cpu_millis, |c| (c * 1000.0).round() as u32);
            out.log_size = size(&l.log_size).unwrap_or(out.log_size);
            out.log_files = l.log_files.unwrap_or(out.log_files);
            out.disk = size(&l.disk).unwrap_or(out.disk);
        }
        out
    }

    /// "512 MiB, 1024 pids, 1 CPU, disk 1 GiB".
    pub fn describe(&self) -> String {
        let swap = if self.swap > 0 { format!(" + {} swap", show_size(self.swap)) } else { String::new() };
        format!(
            "{}{swap}, {} pids, {} CPU, disk {}",
            show_size(self.memory),
            self.pids,
            f64::from(self.cpu_millis) / 1000.0,
            show_size(self.disk)
        )
    }
}

/// A size in Docker's units (`512m`, `1g`, `64k`, `1024`), in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let text = text.strip_suffix('b').unwrap_or(&text);
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit() && *c != '.') {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let factor = match unit.trim() {
        "" => 1,
        "k" => 1 << 10,
        "m" => MIB,
        "g" => GIB,
        _ => return None,
    };
    let value: f64 = digits.parse().ok()?;
    (value >= 0.0).then_some((value * factor as f64) as u64)
}

/// Bytes as a person reads them: `512 MiB`, `1 GiB`, `1.5 GiB`.
pub fn show_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", GIB), ("MiB", MIB), ("KiB", 1 << 10)] {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 { format!("{value} {unit}") } else { format!("{value:.1} {unit}") };
        }
    }
    format!("{bytes} B")
}

/// Limits a container can run with and the host can afford.
pub(crate) fn limit_rules(limits: &Limits, path: &str, sink: &mut Sink<'_>) {
    let sizes = [
        ("memory", &limits.memory, MEMORY, "the role's services need room; a platform's nodes share the host"),
        ("swap", &limits.swap, (0, MEMORY.1), "swap beyond memory"),
        ("log_size", &limits.log_size, LOG_SIZE, "one console log file"),
        ("disk", &limits.disk, DISK, "what a node may write"),
    ];
    for (key, value, (low, high), what) in sizes {
        let Some(text) = value else { continue };
        let kpath = format!("{path}.{key}");
        match parse_size(text) {
            None => sink.at(
                &kpath,
                "bad-size",
                format!("`{text}` is not a size"),
                "not a size",
                Some("write a number with k, m or g (KiB, MiB, GiB), e.g. `512m`".into()),
            ),
            Some(bytes) if bytes < low || bytes > high => sink.at(
                &kpath,
                "limit-out-of-range",
                format!("{key} = {} is outside {} – {} ({what})", show_size(bytes), show_size(low), show_size(high)),
                "out of range",
                None,
            ),
            Some(_) => {}
        }
    }
    let counts = [("pids", limits.pids, PIDS, "processes"), ("log_files", limits.log_files, LOG_FILES, "log files")];
    for (key, value, (low, high), what) in counts {
        if let Some(n) = value.filter(|n| *n < low || *n > high) {
            sink.at(
                &format!("{path}.{key}"),
                "limit-out-of-range",
                format!("{key} = {n} is outside {low} – {high} {what}"),
                "out of range",
                None,
            );
        }
    }
    if let Some(c) = limits.cpus.filter(|c| !(CPUS.0..=CPUS.1).contains(c)) {
        sink.at(
            &format!("{path}.cpus"),
            "limit-out-of-range",
            format!("cpus = {c} is outside {} – {} cores", CPUS.0, CPUS.1),
            "out of range",
            Some("a share of the host's cores, e.g. `0.5`".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_reads_them() {
        let check = |text: &str, expect: Option<u64>| assert_eq!(parse_size(text), expect, "{text}");
        check("512m", Some(512 * MIB));
        check("1g", Some(GIB));
        check("1.5G", Some(GIB + GIB / 2));
        check("64k", Some(65_536));
        check("64kb", Some(65_536));
        check("2048", Some(2048));
        check("0", Some(0));
        check("lots", None);
        check("12t", None);
        check("-1m", None);
    }

    #[test]
    fn a_node_overrides_the_scenario_which_overrides_the_role() {
        let scenario = Limits { memory: Some("768m".into()), pids: Some(256), ..Limits::default() };
        let node = Limits { memory: Some("2g".into()), cpus: Some(0.5), ..Limits::default() };
        let dc = NodeLimits::resolve(Role::DomainController, &[&scenario, &node]);
        assert_eq!((dc.memory, dc.pids, dc.cpu_millis), (2 * GIB, 256, 500));
        let ws = NodeLimits::resolve(Role::Workstation, &[&scenario]);
        assert_eq!(ws.memory, 768 * MIB);
        assert_eq!(NodeLimits::resolve(Role::Probe, &[]), NodeLimits::of_role(Role::Probe));
        assert_eq!(dc.describe(), "2 GiB, 256 pids, 0.5 CPU, disk 512 MiB");
    }
}
