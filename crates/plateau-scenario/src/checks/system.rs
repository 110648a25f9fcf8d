//! A node's own state: services, packages, files, and the `command` escape hatch.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct ServiceRunning {
    pub service: String,
}

impl Kind for ServiceRunning {
    const SPEC: KindSpec =
        KindSpec { name: "service_running", runs: Runs::OnNode, roles: &[], os: &[Os::Linux, Os::Windows], tools: &[] };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct PackageInstalled {
    pub package: String,
}

impl Kind for PackageInstalled {
    const SPEC: KindSpec = KindSpec {
        name: "package_installed",
        runs: Runs::OnNode,
        roles: &[],
        os: &[Os::Linux],
        tools: &["dpkg-query"],
    };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct FileContains {
    pub path: String,
    /// An extended regular expression (`grep -E`) a line must match.
    pub pattern: String,
    #[serde(default = "crate::model::yes")]
    pub present: bool,
    /// Match letters in either case (e.g. a MAC address written by hand).
    #[serde(default)]
    pub ignore_case: bool,
}

impl Kind for FileContains {
    const SPEC: KindSpec =
        KindSpec { name: "file_contains", runs: Runs::OnNode, roles: &[], os: &[Os::Linux], tools: &[] };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Command {
    pub run: String,
    #[serde(default)]
    pub exit_code: i32,
    /// Text the output must contain.
    pub stdout_contains: Option<String>,
    /// Text the output must not contain.
    pub stdout_not_contains: Option<String>,
}

impl Kind for Command {
    const SPEC: KindSpec =
        KindSpec { name: "command", runs: Runs::OnNode, roles: &[], os: &[Os::Linux, Os::Windows], tools: &[] };
}
