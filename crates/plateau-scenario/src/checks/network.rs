//! Network kinds: ports, reachability, web pages, DNS records, a node's IP configuration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct TcpPort {
    pub host: String,
    pub port: u16,
    /// `open` (a connection is accepted) or `closed` (refused or no answer:
    /// filtered). `closed` also passes when the sender has no network at
    /// all: grade a firewall rule with a positive control beside it.
    #[serde(default)]
    pub expect: PortState,
}

impl Kind for TcpPort {
    const SPEC: KindSpec =
        KindSpec { name: "tcp_port", runs: Runs::Probe, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["nc"] };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Ping {
    pub host: String,
    #[serde(default = "crate::model::yes")]
    pub reachable: bool,
}

impl Kind for Ping {
    const SPEC: KindSpec =
        KindSpec { name: "ping", runs: Runs::Probe, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["ping"] };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Reach {
    /// What the sender must, or must not, get to.
    pub targets: Vec<ReachTarget>,
    /// Something the sender reaches whatever the rules graded (its own
    /// gateway, a public site): proves it has a network when every graded
    /// target is a denial. Not graded itself.
    pub control: Option<ReachTarget>,
}

impl Kind for Reach {
    const SPEC: KindSpec =
        KindSpec { name: "reach", runs: Runs::Probe, roles: &[], os: &[Os::Linux], tools: &["nc", "ping", "curl"] };
}

/// One destination of a `reach` check: `host` with `port` (TCP), `host`
/// with `protocol = "icmp"`, or a `url`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReachTarget {
    pub host: Option<String>,
    /// The TCP port (required for `tcp`).
    pub port: Option<u16>,
    #[serde(default)]
    pub protocol: Protocol,
    /// An HTTP(S) address: allowed when any HTTP answer comes back.
    pub url: Option<String>,
    /// `allowed`: a connection (TCP), an echo reply (ICMP) or an HTTP answer
    /// gets through; `denied`: it does not (refused or no answer, told apart
    /// in the evidence).
    #[serde(default)]
    pub expect: Reachability,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    #[default]
    Tcp,
    Icmp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reachability {
    /// It gets through.
    #[default]
    Allowed,
    /// It does not (refused, or dropped).
    Denied,
}

impl ReachTarget {
    /// `tcp 10.0.0.1:445`, `icmp 10.0.0.1`, `http://…`.
    pub fn describe(&self) -> String {
        match (&self.url, &self.host, self.protocol, self.port) {
            (Some(url), ..) => url.clone(),
            (None, Some(host), Protocol::Icmp, _) => format!("icmp {host}"),
            (None, Some(host), Protocol::Tcp, Some(port)) => format!("tcp {host}:{port}"),
            (None, Some(host), Protocol::Tcp, None) => format!("tcp {host}"),
            (None, None, ..) => "nothing".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct HttpGet {
    pub url: String,
    #[serde(default = "http_ok")]
    pub status: u16,
    pub contains: Option<String>,
    /// The node whose web server must have answered (an `internet` or a
    /// `web-server` node, which log every request): the grader also asks
    /// for a one-off path the same way and finds it in that server's log,
    /// so a page served by another server on the way (a local copy, a name
    /// pinned in `/etc/hosts`, a copy on the router) does not pass.
    pub served_by: Option<String>,
}

impl Kind for HttpGet {
    const SPEC: KindSpec =
        KindSpec { name: "http_get", runs: Runs::Probe, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["curl"] };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct DnsRecord {
    pub name: String,
    #[serde(default)]
    pub record: RecordType,
    pub server: Option<String>,
    /// The value the record must have (an address for `A`, a name for
    /// `PTR`/`CNAME`, …); any answer passes when absent.
    pub expect: Option<String>,
}

impl Kind for DnsRecord {
    const SPEC: KindSpec =
        KindSpec { name: "dns_record", runs: Runs::Probe, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["dig"] };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct IpConfig {
    pub address: Option<String>,
    pub gateway: Option<String>,
    pub dns: Option<String>,
    /// `true`: the address (or some address) was leased by DHCP, as the
    /// system shows it (a dynamic address); `false`: the address is set by
    /// hand, not leased.
    pub dhcp: Option<bool>,
}

impl Kind for IpConfig {
    const SPEC: KindSpec =
        KindSpec { name: "ip_config", runs: Runs::OnNode, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["ip"] };
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PortState {
    /// A connection is accepted.
    #[default]
    Open,
    /// Refused by the host, or no answer (filtered).
    Closed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordType {
    #[default]
    A,
    Aaaa,
    Cname,
    Ptr,
    Srv,
    Mx,
}

fn http_ok() -> u16 {
    200
}
