//! The scenario file as written by an exam designer: a faithful image of the TOML.
//!
//! These types are *raw*: they accept anything that has the right shape. The
//! rules that need the whole file (references, addresses, points) live in
//! `validate`, which turns a `ScenarioFile` into a trusted `Scenario`.
//! The JSON Schema printed by `plateau schema` is derived from these types, and
//! the structural checker (`shape`) walks the TOML against that same schema, so
//! the editor's completion and our own diagnostics never disagree.

use std::collections::BTreeMap;

pub use crate::checks::backup::BackupTool;
pub use crate::checks::network::{PortState, RecordType};
pub use crate::checks::smb::Access;
pub use crate::checks::wifi::WifiSecurity;
pub use crate::checks::{CheckKind, Kind, KindSpec, Runs};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Plateau scenario: one candidate platform, its brief, its checks and faults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// What this scenario is and which competence framework it evidences.
    pub scenario: Meta,
    /// The phases of the exam, in order (preparatory, jury, ...).
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Named values usable as `{{name}}` in any text field. A table value is a
    /// per-candidate variant drawn deterministically from the session seed.
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// The addressing plan.
    #[serde(default)]
    pub networks: Vec<Network>,
    /// The machines of one candidate platform.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// How the candidate reaches their platform.
    pub candidate: Option<CandidateAccess>,
    /// The brief (cahier des charges) handed to the candidate.
    pub brief: Option<Brief>,
    /// The checks that grade the platform, each evidencing a criterion.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Faults a trainer or jury can inject and revert.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The reference solution: steps an expert candidate would take, run
    /// through the candidate's own access.
    #[serde(default)]
    pub solution: Vec<Step>,
    /// How check results roll up into verdicts on competences and blocks.
    #[serde(default)]
    pub grading: Grading,
    /// Resource limits of every node (each node may override them).
    #[serde(default)]
    pub limits: crate::limits::Limits,
}

/// Thresholds of the roll-up: a competence (or block) is met when its checks
/// earned at least this share of their points.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grading {
    /// Share of points (0 to 1) for any competence or block.
    #[serde(default = "half")]
    pub threshold: f64,
    /// Per competence or block id, e.g. `{ CP7 = 0.75 }`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// Criteria of the scenario's blocks this exam does not examine (an exam
    /// without VPN or Wi-Fi: `["CP8.3", "CP8.4"]`): the grid says so instead
    /// of leaving them to the jury.
    #[serde(default)]
    pub not_examined: Vec<String>,
    /// What the platform keeps for the jury to judge a criterion on, per
    /// criterion id, in the grid's language: `{ "CP9.5" = "le compte rendu
    /// remis et les tickets des pannes" }`. A criterion no check evidences
    /// and without material is the jury's own observation.
    #[serde(default)]
    pub material: BTreeMap<String, String>,
}

impl Default for Grading {
    fn default() -> Self {
        Grading { threshold: half(), thresholds: BTreeMap::new(), not_examined: Vec::new(), material: BTreeMap::new() }
    }
}

impl Grading {
    pub fn threshold_of(&self, unit: &str) -> f64 {
        self.thresholds.get(unit).copied().unwrap_or(self.threshold)
    }
}

fn half() -> f64 {
    0.5
}

/// Scenario metadata.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Stable identifier, e.g. `tai-small`.
    pub id: String,
    /// Title shown to candidates and juries.
    pub title: String,
    /// Version of this scenario, e.g. `1.0.0`.
    pub version: String,
    /// Competence framework id, e.g. `tai-2023` (see `plateau frameworks`).
    pub framework: String,
    /// Blocks (CCP) of the framework this scenario covers, e.g. `["CCP3"]`.
    #[serde(default)]
    pub blocks: Vec<String>,
    /// Language of the brief and of the jury's grid (BCP 47 tag).
    #[serde(default = "default_language")]
    pub language: String,
    /// Sum of the points of all checks, stated so a typo in one check shows.
    pub total_points: Option<u32>,
    /// Free text for the exam centre.
    pub description: Option<String>,
}

fn default_language() -> String {
    "fr".into()
}

/// One phase of the exam.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub id: String,
    pub kind: PhaseKind,
    /// Duration such as `3h`, `40min` or `1h 30min`.
    pub duration: String,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    /// The candidate configures the platform alone, from the brief.
    Preparatory,
    /// The jury asks for interventions; faults are injected here.
    Jury,
    /// Technical interview, no platform access needed.
    Interview,
    /// Questionnaire (e.g. in English), no platform access needed.
    Questionnaire,
}

/// A variable: a plain text value, or a variant drawn per candidate.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Variable {
    /// A fixed value (may itself use `{{other}}`).
    Value(String),
    /// A value drawn per candidate; set exactly one generator.
    Variant(Variant),
}

/// Generators of per-candidate values. Exactly one must be set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Pick one of these values.
    pub pick: Option<Vec<String>>,
    /// Carve a subnet of length `prefix` out of this block, e.g. `10.20.0.0/16`.
    pub subnet_in: Option<String>,
    /// Prefix length of the carved subnet (with `subnet_in`).
    pub prefix: Option<u8>,
    /// A MAC address starting with this prefix, e.g. `02:50:00`.
    pub mac_prefix: Option<String>,
    /// A password of this many characters (letters, digits, one symbol).
    pub password: Option<u8>,
    /// A whole number between the two bounds, inclusive.
    pub range: Option<[i64; 2]>,
    /// A WireGuard key pair (X25519, base64), drawn per candidate:
    /// `{{name.private}}` and `{{name.public}}` (`{{name}}` is the public key).
    pub wireguard_keypair: Option<bool>,
}

/// A network of the addressing plan.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub id: String,
    /// CIDR, e.g. `192.168.10.0/24` or `{{lan}}`.
    pub subnet: String,
    /// Default gateway: a host number in the subnet (`254`) or an address.
    pub gateway: Option<HostRef>,
    /// DHCP pool `[first, last]`: host numbers or addresses.
    pub dhcp_pool: Option<[HostRef; 2]>,
    /// DNS server announced on this network (host number or address).
    pub dns: Option<HostRef>,
    /// Whether the candidate may reach this network from their platform.
    #[serde(default = "yes")]
    pub candidate_reaches: bool,
    /// This network stands for the internet (the `internet` role lives here).
    #[serde(default)]
    pub internet: bool,
    pub description: Option<String>,
}

pub(crate) fn yes() -> bool {
    true
}

/// An address within a network: a host number (`10` is the 10th address of
/// the subnet) or a literal address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum HostRef {
    Host(u32),
    Address(String),
}

/// A machine of the platform.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub id: String,
    pub role: Role,
    /// Image to run; defaults to the role's image (`plateau/<role>`).
    pub image: Option<String>,
    /// The candidate also gets a desktop on it in the browser (Xfce,
    /// Firefox ESR): the role's desktop image (a workstation's only).
    #[serde(default)]
    pub desktop: bool,
    #[serde(default)]
    pub backend: Backend,
    /// Operating system family; defaults to linux.
    #[serde(default)]
    pub os: Os,
    /// Host name inside the platform; defaults to the id.
    pub hostname: Option<String>,
    /// Management address of a `static` or `vm` machine that Plateau does not create.
    pub address: Option<String>,
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Extra kernel capabilities the node needs.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Nodes that must be healthy before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// How the grader reaches this node.
    pub grader: Option<GraderAccess>,
    /// Settings passed to the node's role as environment variables (may use
    /// `{{variables}}`), e.g. the domain controller's seeded accounts.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// This node's resource limits, over the scenario's `[limits]`.
    #[serde(default)]
    pub limits: crate::limits::Limits,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    DomainController,
    DhcpServer,
    Router,
    VpnServer,
    AccessPoint,
    Workstation,
    FileServer,
    Printer,
    /// The help desk's ticketing and asset tool (Request Tracker).
    Helpdesk,
    /// A company's web server (nginx): an intranet, a site published
    /// through the router.
    WebServer,
    /// Stand-in for the outside world: DNS, HTTP, a public-looking address.
    Internet,
    /// The grader's probe inside a candidate network.
    Probe,
}

/// The name of an enum value as written in scenario files (`domain-controller`).
pub fn token<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::DomainController,
        Role::DhcpServer,
        Role::Router,
        Role::VpnServer,
        Role::AccessPoint,
        Role::Workstation,
        Role::FileServer,
        Role::Printer,
        Role::Helpdesk,
        Role::WebServer,
        Role::Internet,
        Role::Probe,
    ];

    /// The role's behaviour, from the one table (`roles`).
    pub fn spec(self) -> &'static crate::roles::RoleSpec {
        crate::roles::spec(self)
    }

    /// The name of the role image under `images/`.
    pub fn image_name(self) -> &'static str {
        self.spec().image
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// A container Plateau creates from a role image.
    #[default]
    Container,
    /// A virtual machine Plateau creates from the role's VM image
    /// (`plateau images build --vm ROLE`), or from the centre's own disk
    /// image (`image`, e.g. Windows); graded over SSH or WinRM.
    Vm,
    /// An existing machine, reached at `address`.
    Static,
}

impl Backend {
    /// Whether Plateau creates the node on the engine (and removes it).
    pub fn created(self) -> bool {
        self != Backend::Static
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Os {
    #[default]
    Linux,
    Windows,
}

/// A network interface of a node. Set exactly one of `host`, `address`, `dhcp`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Network id.
    pub network: String,
    /// Static address as a host number of the network's subnet.
    pub host: Option<u32>,
    /// Static address written out (may use variables).
    pub address: Option<String>,
    /// The interface takes its address from the candidate's DHCP server.
    #[serde(default)]
    pub dhcp: bool,
    /// Fixed MAC address (e.g. for a DHCP reservation).
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Capability {
    #[serde(rename = "NET_ADMIN")]
    NetAdmin,
    #[serde(rename = "NET_RAW")]
    NetRaw,
    #[serde(rename = "SYS_ADMIN")]
    SysAdmin,
    #[serde(rename = "SYS_TIME")]
    SysTime,
    /// The `/dev/net/tun` device (VPN).
    #[serde(rename = "TUN")]
    Tun,
}

/// How the grader (or a trainer) reaches a node. A node Plateau creates (a
/// container) is always reached through the engine, whatever `via` says;
/// `via` and the credentials serve machines Plateau did not create.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraderAccess {
    pub via: Via,
    pub user: Option<String>,
    pub password: Option<String>,
    /// WinRM over HTTPS on 5986 (else HTTP on 5985, NTLM sealing each message).
    pub port: Option<u16>,
    /// How the grader logs in over WinRM: `ntlm` (the default), or `basic`
    /// where a centre configured it, over HTTPS only (the password travels
    /// in every request).
    #[serde(default)]
    pub login: WinrmLogin,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WinrmLogin {
    #[default]
    Ntlm,
    Basic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// SSH (any Linux machine Plateau did not create).
    Ssh,
    /// WS-Management (Windows).
    Winrm,
    /// Through the container engine (what every container node gets).
    Exec,
}

/// The candidate's ways into the platform.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateAccess {
    pub access: Vec<CandidateEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateEntry {
    /// The node the candidate works on.
    pub node: String,
    pub via: CandidateVia,
    /// Login name (may use variables).
    pub user: String,
    /// Password; generated per candidate when omitted.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateVia {
    Ssh,
    Rdp,
}

/// The brief handed to the candidate, in Markdown, with `{{variables}}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    pub markdown: String,
}

/// A check: one verifiable fact about the platform, evidencing criteria.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Check {
    pub id: String,
    /// What a jury reads in the grid.
    pub title: String,
    /// Criterion ids of the framework, e.g. `CP7.2`.
    pub criteria: Vec<String>,
    #[serde(default = "one")]
    pub points: u32,
    /// The node the check looks at (shell checks run there).
    pub node: Option<String>,
    /// For network probes: the node the probe is sent from (default: the
    /// controller, outside the candidate's reach).
    pub from: Option<String>,
    /// Per-attempt time limit, e.g. `5s`.
    pub timeout: Option<String>,
    /// Extra attempts before a failure is final.
    #[serde(default)]
    pub retries: u32,
    /// Give a share of the points for each expectation met (instead of all or nothing).
    #[serde(default)]
    pub partial: bool,
    /// What the check verifies, and its parameters.
    #[serde(flatten)]
    pub kind: CheckKind,
}

fn one() -> u32 {
    1
}

/// A fault a trainer or jury injects to test troubleshooting (CP3).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub id: String,
    /// Short name shown to the trainer.
    pub title: String,
    /// What the fault does and what the candidate should find.
    pub description: Option<String>,
    /// Steps that break the platform (run with the grader's access).
    pub inject: Vec<Step>,
    /// Steps that repair it.
    pub revert: Vec<Step>,
    /// Checks that must fail while the fault is present.
    pub breaks: Vec<String>,
    /// Criteria the jury judges while the candidate repairs it (e.g. CP3.3):
    /// shown in the coverage table beside the criteria no check evidences.
    #[serde(default)]
    pub criteria: Vec<String>,
    /// The user's call that reports it: a ticket opened in the help desk's
    /// tool once the fault is in place; the fault's record keeps its number.
    pub request: Option<Request>,
}

/// A user's request arriving at the service desk (a `helpdesk` node).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The `helpdesk` node whose tool takes it.
    pub node: String,
    /// The queue it arrives in.
    pub queue: String,
    /// The user's address.
    pub from: String,
    pub subject: String,
    /// The user's words.
    pub text: String,
}

impl Fault {
    /// The intervention's ticket, as the grader reads it once the fault's
    /// user call opened ticket `number`: resolved by a technician in the
    /// tool, with at least one action written down (whatever queue it went
    /// to: escalating is handling it too). Worth no points: the jury grades
    /// the intervention; this is its evidence.
    pub fn ticket_check(&self, number: u64) -> Option<Check> {
        let request = self.request.as_ref()?;
        Some(Check {
            id: format!("{}:ticket", self.id),
            title: request.subject.clone(),
            criteria: Vec::new(),
            points: 0,
            node: Some(request.node.clone()),
            from: None,
            timeout: None,
            retries: 0,
            partial: false,
            kind: CheckKind::Ticket(crate::checks::helpdesk::Ticket {
                subject: request.subject.clone(),
                number: Some(number),
                requestor: None,
                queue: None,
                min_priority: None,
                owned: false,
                status: "resolved".into(),
                actions: 1,
            }),
        })
    }
}

/// A command run on a node.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub node: String,
    /// Shell command (POSIX sh on Linux, PowerShell on Windows).
    pub run: String,
}
