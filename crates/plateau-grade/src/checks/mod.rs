//! How each kind of check looks at a platform. A check runs commands on
//! nodes through their executors, or sends probes from the controller or from
//! a node, and compares what it saw with what the scenario expects. Every
//! action and comparison is kept as evidence.
//!
//! One module per domain, as in the catalogue (`plateau_scenario::checks`):
//! each kind's evaluation and the parsers of what its tools print, with
//! their tests. `evaluate` dispatches with an exhaustive match: a kind added
//! to the catalogue does not compile until it is evaluated here.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use plateau_scenario::model::{Access, BackupTool, Check, CheckKind, PortState, RecordType, Role, WifiSecurity};

use crate::probe;
use crate::prober::Prober;

use crate::executor::{ExecError, Execute, Executor, Output, Shell};
use crate::result::{Action, Assertion, excerpt, millis};

mod addressing;
mod backup;
mod dhcp;
mod directory;
mod document;
mod helpdesk;
mod network;
mod print;
mod smb;
mod system;
mod vpn;
mod wifi;

/// Where a check's commands and probes go: one candidate's platform.
pub trait Reach: Sync {
    /// The executor of a node (its grader access).
    fn node(&self, id: &str) -> Option<&Executor>;
    /// The node that answers for the domain (its role's spec says so).
    fn directory(&self) -> Option<&str>;
    /// A node's role.
    fn role(&self, id: &str) -> Option<Role>;
    /// The controller's link into a candidate network: the host interface
    /// DHCP probes are sent on.
    fn link(&self, network: &str) -> Option<&str>;
    /// Where the controller's probes into the platform's networks go from.
    fn prober(&self) -> &Prober;
}

/// What one evaluation saw.
#[derive(Debug)]
pub struct Seen {
    pub actions: Vec<Action>,
    pub assertions: Vec<Assertion>,
    since: Instant,
}

impl Default for Seen {
    fn default() -> Self {
        Seen { actions: Vec::new(), assertions: Vec::new(), since: Instant::now() }
    }
}

const OUTPUT_LIMIT: usize = 2048;

impl Seen {
    pub(crate) fn expect(&mut self, what: &str, expected: impl Into<String>, actual: impl Into<String>, ok: bool) {
        self.assertions.push(Assertion { what: what.into(), expected: expected.into(), actual: actual.into(), ok });
    }

    pub(crate) fn probe(&mut self, prober: &Prober, sent: String, output: String) {
        self.actions.push(Action {
            from: prober.describe(),
            sent,
            exit_code: None,
            output: excerpt(&output, OUTPUT_LIMIT),
            duration_ms: millis(self.since.elapsed()),
        });
    }

    /// Start timing a probe (its action is recorded by `probe`).
    pub(crate) fn start(&mut self) {
        self.since = Instant::now();
    }

    pub(crate) async fn run(&mut self, on: &Executor, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        self.record(on, command, on.run(command, timeout)).await
    }

    /// Run a command that mostly waits on the network (`ping`, `nc`,
    /// `curl`): an untouched platform's waits out its limit, and an engine
    /// runs more of those at once than commands that compute.
    pub(crate) async fn run_waiting(
        &mut self,
        on: &Executor,
        command: &str,
        timeout: Duration,
    ) -> Result<Output, ExecError> {
        self.record(on, command, plateau_engine::queued::waiting_on_the_network(on.run(command, timeout))).await
    }

    async fn record(
        &mut self,
        on: &Executor,
        command: &str,
        run: impl std::future::Future<Output = Result<Output, ExecError>>,
    ) -> Result<Output, ExecError> {
        let started = Instant::now();
        let out = run.await;
        let duration_ms = millis(started.elapsed());
        let (exit_code, output) = match &out {
            Ok(o) => (Some(o.exit_code), format!("{}{}", o.stdout, o.stderr)),
            Err(e) => (None, e.to_string()),
        };
        self.actions.push(Action {
            from: on.describe(),
            sent: command.to_string(),
            exit_code,
            output: excerpt(&output, OUTPUT_LIMIT),
            duration_ms,
        });
        out
    }
}

/// Why a check could not be evaluated (its status is then `error`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unable {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{0}")]
    Probe(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Grader(#[from] crate::Error),
}

/// Quote for POSIX sh.
pub fn sh(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Quote for PowerShell.
pub fn ps(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// What a kind's evaluation works with: the check, the platform, the time
/// limit of one command, and the node probes are sent from (if not the controller).
pub(crate) struct Cx<'a, R> {
    pub check: &'a Check,
    pub reach: &'a R,
    pub timeout: Duration,
    pub from: Option<&'a Executor>,
}

/// Where a probe goes from: a node (its own tools), or the controller's side.
#[derive(Clone, Copy)]
pub(crate) enum Sender<'a> {
    Node(&'a Executor),
    Controller(&'a Prober),
}

impl<'a, R: Reach> Cx<'a, R> {
    /// The check's sender: its `from` node, else the controller.
    pub fn sender(&self) -> Sender<'a> {
        self.sender_or(self.from)
    }

    /// `node`, else the controller.
    pub fn sender_or(&self, node: Option<&'a Executor>) -> Sender<'a> {
        match node {
            Some(on) => Sender::Node(on),
            None => Sender::Controller(self.reach.prober()),
        }
    }

    /// The executor of the node the check looks at.
    pub fn node(&self) -> Result<&'a Executor, Unable> {
        let id = self
            .check
            .node
            .as_deref()
            .ok_or_else(|| Unable::Setup(format!("check `{}` names no node", self.check.id)))?;
        self.reach.node(id).ok_or_else(|| Unable::Setup(format!("node `{id}` has no grader access")))
    }
}

/// Evaluate one check once. `Ok` carries the comparisons (pass or fail);
/// `Err` means the grader could not look.
pub async fn evaluate(check: &Check, reach: &impl Reach, timeout: Duration, seen: &mut Seen) -> Result<(), Unable> {
    let from = match &check.from {
        Some(id) => Some(reach.node(id).ok_or_else(|| Unable::Setup(format!("node `{id}` has no grader access")))?),
        None => None,
    };
    let cx = Cx { check, reach, timeout, from };
    match &check.kind {
        CheckKind::TcpPort(k) => network::tcp_port(k, &cx, seen).await,
        CheckKind::Reach(k) => network::reach(k, &cx, seen).await,
        CheckKind::Ping(k) => network::ping(k, &cx, seen).await,
        CheckKind::HttpGet(k) => network::http_get(k, &cx, seen).await,
        CheckKind::DnsRecord(k) => network::dns_record(k, &cx, seen).await,
        CheckKind::DhcpOffer(k) => dhcp::dhcp_offer(k, &cx, seen).await,
        CheckKind::IpConfig(k) => addressing::ip_config(k, &cx, seen).await,
        CheckKind::AdUser(k) => directory::ad_user(k, &cx, seen).await,
        CheckKind::AdPasswordPolicy(k) => directory::ad_password_policy(k, &cx, seen).await,
        CheckKind::DomainJoined(k) => directory::domain_joined(k, &cx, seen).await,
        CheckKind::SmbAccess(k) => smb::smb_access(k, &cx, seen).await,
        CheckKind::IppPrinter(k) => print::ipp_printer(k, &cx, seen).await,
        CheckKind::PrinterInstalled(k) => print::printer_installed(k, &cx, seen).await,
        CheckKind::WifiAp(k) => wifi::wifi_ap(k, &cx, seen).await,
        CheckKind::VpnTunnel(k) => vpn::vpn_tunnel(k, &cx, seen).await,
        CheckKind::BackupRestore(k) => backup::backup_restore(k, &cx, seen).await,
        CheckKind::ServiceRunning(k) => system::service_running(k, &cx, seen).await,
        CheckKind::PackageInstalled(k) => system::package_installed(k, &cx, seen).await,
        CheckKind::FileContains(k) => system::file_contains(k, &cx, seen).await,
        CheckKind::Command(k) => system::command(k, &cx, seen).await,
        CheckKind::Ticket(k) => helpdesk::ticket(k, &cx, seen).await,
        CheckKind::Asset(k) => helpdesk::asset(k, &cx, seen).await,
        CheckKind::Document(k) => document::document(k, &cx, seen).await,
    }
}

/// The wait given to a tool run on a node (`nc -w`, `curl -m`, `ping -W`):
/// a second less than the check's timeout. The grader waits longer for the
/// command (`executor::START_ALLOWANCE` more), so the tool's verdict
/// ("refused", "timed out") arrives before the grader gives up on it.
pub(super) fn secs(d: Duration) -> u64 {
    d.as_secs().saturating_sub(1).max(1)
}

pub(super) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub(super) fn present_absent(b: bool) -> &'static str {
    if b { "present" } else { "absent" }
}

pub(super) fn or_none(s: String) -> String {
    if s.is_empty() { "none".into() } else { s }
}

pub(super) fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

pub(super) fn list(items: &[String]) -> String {
    or_none(items.join(", "))
}

pub(super) fn same_ip(want: &str, got: Ipv4Addr) -> bool {
    want.trim().parse::<Ipv4Addr>().is_ok_and(|w| w == got)
}

pub(super) fn record_name(record: RecordType) -> &'static str {
    match record {
        RecordType::A => "A",
        RecordType::Aaaa => "AAAA",
        RecordType::Cname => "CNAME",
        RecordType::Ptr => "PTR",
        RecordType::Srv => "SRV",
        RecordType::Mx => "MX",
    }
}

/// `key: value` (LDIF) lines.
pub(super) fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}: ")).map(|v| v.trim().to_string()))
}

/// `Label: value` lines with free spacing (`samba-tool` tables).
pub(super) fn colon_field(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == label).then(|| v.trim().to_string())
    })
}

/// `key=value` lines (hostapd.conf), ignoring comments. The last one wins,
/// as in the daemon: a key repeated further down overrides the first.
pub(super) fn field_eq(text: &str, key: &str) -> Option<String> {
    text.lines()
        .rev()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(ps("it's"), "'it''s'");
    }

    #[test]
    fn config_fields_ignore_comments() {
        let conf = "#ssid=old\nssid=Agence\nwpa=2\n";
        assert_eq!(field_eq(conf, "ssid").as_deref(), Some("Agence"));
        assert_eq!(colon_field("Minimum password length: 7\n", "Minimum password length").as_deref(), Some("7"));
    }
}
