//! Backups that really restore.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct BackupRestore {
    pub tool: BackupTool,
    pub repository: String,
    pub path: String,
    pub password: Option<String>,
}

impl Kind for BackupRestore {
    const SPEC: KindSpec =
        KindSpec { name: "backup_restore", runs: Runs::OnNode, roles: &[], os: &[Os::Linux], tools: &["restic"] };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BackupTool {
    Restic,
    Borg,
    Tar,
}
