//! VPN: a tunnel and what answers through it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct VpnTunnel {
    pub interface: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Kind for VpnTunnel {
    const SPEC: KindSpec =
        KindSpec { name: "vpn_tunnel", runs: Runs::OnNode, roles: &[], os: &[Os::Linux, Os::Windows], tools: &["wg"] };
}
