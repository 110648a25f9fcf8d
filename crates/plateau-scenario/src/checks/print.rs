//! Printing: a network printer, a print queue on a workstation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct IppPrinter {
    pub uri: String,
    #[serde(default)]
    pub test_job: bool,
}

impl Kind for IppPrinter {
    const SPEC: KindSpec = KindSpec {
        name: "ipp_printer",
        runs: Runs::Probe,
        roles: &[],
        os: &[Os::Linux, Os::Windows],
        tools: &["ipptool"],
    };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct PrinterInstalled {
    pub queue: String,
}

impl Kind for PrinterInstalled {
    const SPEC: KindSpec = KindSpec {
        name: "printer_installed",
        runs: Runs::OnNode,
        roles: &[],
        os: &[Os::Linux, Os::Windows],
        tools: &["lpstat"],
    };
}
