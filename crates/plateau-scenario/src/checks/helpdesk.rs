//! The service desk's tool (the `helpdesk` role, Request Tracker): a
//! request's ticket, as the tool's own API tells it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::{Os, Role};

/// A user's request was handled in the tool: its ticket qualified (queue,
/// priority), taken, its actions documented and its status reached *through
/// the tool* (the ticket's history says who did it and when; a status written
/// into the database behind the tool's back proves nothing).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Ticket {
    /// Words of the request's subject (any case): which ticket.
    pub subject: String,
    /// The ticket's number, when it is known: one the tool was seeded with,
    /// or the one a fault's user call opened (Plateau sets it then). Only
    /// that ticket counts, whatever else has the subject.
    pub number: Option<u64>,
    /// The address of the user who made the request, when several tickets
    /// could have that subject.
    pub requestor: Option<String>,
    /// The queue the ticket must be in: where it was qualified, or escalated.
    pub queue: Option<String>,
    /// The lowest priority that counts as qualified (Request Tracker: 0–100,
    /// "Moyenne" is 50).
    pub min_priority: Option<u32>,
    /// A technician must have taken it (its owner).
    #[serde(default)]
    pub owned: bool,
    /// The status it must have reached: `resolved` (the default), `rejected`
    /// or `stalled`, set by a technician in the tool (its history shows
    /// who); `open` for a request escalated and still being worked (the
    /// tool opens a ticket itself at a technician's first reply).
    #[serde(default = "resolved")]
    pub status: String,
    /// Actions documented: at least this many comments or replies with text,
    /// written by a technician (not the requester, not the grader).
    #[serde(default = "one")]
    pub actions: u32,
}

fn resolved() -> String {
    "resolved".into()
}

fn one() -> u32 {
    1
}

impl Kind for Ticket {
    const SPEC: KindSpec =
        KindSpec { name: "ticket", runs: Runs::OnNode, roles: &[Role::Helpdesk], os: &[Os::Linux], tools: &["curl"] };
}

/// A machine recorded in the tool's asset register as the brief asks:
/// its name, in the catalog, with the fields an inventory holds (serial
/// number, MAC address, user, location), recorded *through the tool*
/// (its history shows a technician created it; an asset written into the
/// database behind the tool's back proves nothing).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Asset {
    /// The asset's name (any case), e.g. the machine's host name.
    pub name: String,
    /// The catalog it must be in (the seeded register is "Parc informatique").
    pub catalog: Option<String>,
    /// Fields and the value each must hold: compared without regard to
    /// case or surrounding spaces; a MAC address in any usual notation.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// Fields that must hold something, whatever it is (a serial number
    /// the grader cannot know).
    #[serde(default)]
    pub filled: Vec<String>,
    /// The status it must have (`in-use`: assigned to its user), when the
    /// brief asks for one.
    pub status: Option<String>,
}

/// The asset register a `helpdesk` node is seeded with unless its
/// environment says otherwise (`PLATEAU_HELPDESK_CATALOG`,
/// `PLATEAU_HELPDESK_ASSET_FIELDS`; `images/helpdesk/initialdata.pl`).
pub const CATALOG: &str = "Parc informatique";
pub const ASSET_FIELDS: &str = "Numéro de série,Adresse MAC,Utilisateur,Emplacement";

impl Kind for Asset {
    const SPEC: KindSpec =
        KindSpec { name: "asset", runs: Runs::OnNode, roles: &[Role::Helpdesk], os: &[Os::Linux], tools: &["curl"] };
}

#[cfg(test)]
mod tests {
    /// The validator's defaults are the image's.
    #[test]
    fn the_default_register_is_the_images() {
        let seeding = concat!(env!("CARGO_MANIFEST_DIR"), "/../../images/helpdesk/initialdata.pl");
        let seeding = std::fs::read_to_string(seeding).unwrap();
        assert!(seeding.contains(&format!("|| '{}'", super::CATALOG)), "the catalog");
        assert!(seeding.contains(&format!("|| '{}'", super::ASSET_FIELDS)), "the asset fields");
    }
}
