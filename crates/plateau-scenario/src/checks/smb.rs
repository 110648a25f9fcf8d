//! File shares: who may read or write.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct SmbAccess {
    pub share: String,
    pub user: String,
    pub password: String,
    #[serde(default)]
    pub expect: Access,
    #[serde(default)]
    pub write: bool,
}

impl Kind for SmbAccess {
    const SPEC: KindSpec = KindSpec {
        name: "smb_access",
        runs: Runs::Probe,
        roles: &[],
        os: &[Os::Linux, Os::Windows],
        tools: &["smbclient"],
    };
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    #[default]
    Allowed,
    Denied,
}
