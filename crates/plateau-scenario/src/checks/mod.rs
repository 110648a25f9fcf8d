//! The check catalogue: every kind of check, what it takes and what it needs.
//!
//! One home per kind: its parameters and its [`KindSpec`] (where it runs, on
//! which roles and operating systems) live in the module of its domain; how
//! it is evaluated lives in the grader's module of the same name
//! (`plateau-grade/src/checks/`). A new kind is a struct with its `Kind`
//! impl and one line in [`catalogue!`] below; the grader's exhaustive
//! dispatch then fails to compile until the kind is evaluated there too.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Os, Role};

pub mod backup;
pub mod dhcp;
pub mod directory;
pub mod document;
pub mod helpdesk;
pub mod network;
pub mod print;
pub mod smb;
pub mod system;
pub mod vpn;
pub mod wifi;

/// Where a kind of check looks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// A command on `node`, through the grader's access to it.
    OnNode,
    /// Network traffic sent from `from` (or the controller) towards a target.
    Probe,
}

/// What the catalogue knows of a kind, for validation and the docs.
#[derive(Debug, PartialEq, Eq)]
pub struct KindSpec {
    /// The `kind = "..."` of scenario files.
    pub name: &'static str,
    pub runs: Runs,
    /// Roles a node must have for the kind to make sense there (any when empty).
    pub roles: &'static [Role],
    /// Operating systems the kind has an implementation for.
    pub os: &'static [Os],
    /// Programs it runs on a Linux node: the node it checks (`OnNode`), or
    /// the node it is sent from (`Probe` with `from`). Validation finds them
    /// in the node's role (`RoleSpec::has_tool`).
    pub tools: &'static [&'static str],
}

/// A kind of check: its parameters are the implementing type.
pub trait Kind {
    const SPEC: KindSpec;
}

macro_rules! catalogue {
    ($($(#[doc = $doc:literal])* $variant:ident($ty:ty),)*) => {
        /// The check catalogue. `kind` selects the check; the other keys are its parameters.
        #[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum CheckKind {
            $($(#[doc = $doc])* $variant($ty),)*
        }

        impl CheckKind {
            /// Every kind's spec, in catalogue order.
            pub const ALL: &'static [&'static KindSpec] = &[$(&<$ty as Kind>::SPEC,)*];

            pub fn spec(&self) -> &'static KindSpec {
                match self {
                    $(CheckKind::$variant(_) => &<$ty as Kind>::SPEC,)*
                }
            }
        }
    };
}

catalogue! {
    /// A TCP port is open (or closed) as seen from `from`.
    TcpPort(network::TcpPort),
    /// ICMP reachability from `from`.
    Ping(network::Ping),
    /// A firewall's rules as a sender sees them: each target (host and port,
    /// ICMP, or a URL) `allowed` or `denied`, sent from `from` (else from the
    /// controller). A denial counts only once the sender reached something it
    /// should: a `control` that does not answer makes the check `error`;
    /// without one, allowed targets that all fail leave the denials unproven.
    Reach(network::Reach),
    /// An HTTP(S) URL answers, as seen from `node` (a client machine, e.g. the
    /// workstation), from `from`, or else from the controller.
    HttpGet(network::HttpGet),
    /// A DNS record resolves to the expected value.
    DnsRecord(network::DnsRecord),
    /// A DHCP server answers on `network`, optionally for a given MAC
    /// (reservation) with the expected address and options.
    DhcpOffer(dhcp::DhcpOffer),
    /// The node's own IP configuration.
    IpConfig(network::IpConfig),
    /// An Active Directory user exists (or not), is enabled, is in groups.
    AdUser(directory::AdUser),
    /// The domain's password policy.
    AdPasswordPolicy(directory::AdPasswordPolicy),
    /// `computer` has an account in the domain and its trust works.
    DomainJoined(directory::DomainJoined),
    /// A user can (or cannot) read or write a share.
    SmbAccess(smb::SmbAccess),
    /// A network printer accepts jobs (and optionally prints a test page).
    IppPrinter(print::IppPrinter),
    /// A print queue is installed on the node.
    PrinterInstalled(print::PrinterInstalled),
    /// Wi-Fi access point configuration (hostapd).
    WifiAp(wifi::WifiAp),
    /// A VPN tunnel is up and `host` answers on `port` through it.
    VpnTunnel(vpn::VpnTunnel),
    /// A backup exists and restoring it reproduces the file's content.
    BackupRestore(backup::BackupRestore),
    ServiceRunning(system::ServiceRunning),
    PackageInstalled(system::PackageInstalled),
    /// A file matches (or not) a regular expression.
    FileContains(system::FileContains),
    /// Escape hatch: a command with typed expectations.
    Command(system::Command),
    /// A user's request handled in the service desk's tool (the `helpdesk`
    /// role): qualified, documented and resolved through the tool.
    Ticket(helpdesk::Ticket),
    /// A machine recorded in the service desk's asset register with the
    /// fields the brief asks for, through the tool.
    Asset(helpdesk::Asset),
    /// A document the candidate hands in (a compte rendu, a procedure):
    /// present where the brief says, with its sections; its hash kept.
    Document(document::Document),
}

impl CheckKind {
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    pub fn runs(&self) -> Runs {
        self.spec().runs
    }

    /// How many probes it sends one after the other, each allowed the
    /// check's timeout (a `reach` check: one per target and control).
    pub fn probes(&self) -> u32 {
        match self {
            CheckKind::Reach(r) => (r.targets.len() + usize::from(r.control.is_some())).max(1) as u32,
            // The page, then a one-off path asked the same way and the witness's log read.
            CheckKind::HttpGet(h) if h.served_by.is_some() => 3,
            _ => 1,
        }
    }

    /// Roles a node must have for this kind to make sense there.
    pub fn required_roles(&self) -> &'static [Role] {
        self.spec().roles
    }

    /// Whether the kind has an implementation for this operating system.
    pub fn supports(&self, os: Os) -> bool {
        self.spec().os.contains(&os)
    }

    /// The spec of a kind named in a scenario file.
    pub fn named(name: &str) -> Option<&'static KindSpec> {
        CheckKind::ALL.iter().copied().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each spec's name is the tag serde reads: the schema's `kind` constants,
    /// in catalogue order.
    #[test]
    fn spec_names_are_the_kind_tags() {
        let schema = schemars::schema_for!(CheckKind);
        let tags: Vec<String> = schema.as_value()["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["properties"]["kind"]["const"].as_str().unwrap().to_string())
            .collect();
        let names: Vec<&str> = CheckKind::ALL.iter().map(|s| s.name).collect();
        assert_eq!(tags, names);
    }
}
