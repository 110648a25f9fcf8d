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
    /// `allowed`: the user lists the share (and writes to it with `write`);
    /// `denied`: the server answers `NT_STATUS_ACCESS_DENIED` — any other
    /// failure (wrong password, no such share, no server) is not a denial.
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
    /// The user gets in (and writes, with `write`).
    #[default]
    Allowed,
    /// The server refuses this user (`NT_STATUS_ACCESS_DENIED`).
    Denied,
}
