//! DHCP: a server's offer on a candidate network.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct DhcpOffer {
    pub network: String,
    pub mac: Option<String>,
    pub address: Option<String>,
    /// `[first, last]`: the offered address lies in this range (the
    /// brief's pool), both ends included.
    pub pool: Option<[String; 2]>,
    pub router: Option<String>,
    pub dns: Option<String>,
}

impl Kind for DhcpOffer {
    const SPEC: KindSpec =
        KindSpec { name: "dhcp_offer", runs: Runs::Probe, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["nmap"] };
}
