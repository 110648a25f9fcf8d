//! Wi-Fi: an access point's configuration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::{Os, Role};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct WifiAp {
    pub ssid: String,
    pub security: Option<WifiSecurity>,
    pub min_key_length: Option<u32>,
    #[serde(default)]
    pub allowed_macs: Vec<String>,
    pub hidden: Option<bool>,
}

impl Kind for WifiAp {
    const SPEC: KindSpec =
        KindSpec { name: "wifi_ap", runs: Runs::OnNode, roles: &[Role::AccessPoint], os: &[Os::Linux], tools: &[] };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WifiSecurity {
    Wpa2,
    Wpa3,
    Wpa2Wpa3,
}
