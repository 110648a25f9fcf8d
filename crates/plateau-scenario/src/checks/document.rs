//! What the candidate hands in: a *compte rendu*, a procedure, an
//! addressing plan, written as a file on one of their machines.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::Os;

/// A document the candidate wrote, where the brief says to put it: present,
/// long enough to say something, with the sections the brief names. The
/// evidence keeps its SHA-256 and its beginning; graded of record, it is
/// the document as it stood at the deadline (read from the frozen node).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Document {
    /// Where the brief asks for it (an absolute path on the node).
    pub path: String,
    /// Sections it must hold: a line that begins with the name (any case),
    /// after a heading's `#`, a list's mark or a number, e.g. `## Tests
    /// réalisés`, `Tests réalisés :`, `2. Tests réalisés`.
    #[serde(default)]
    pub sections: Vec<String>,
    /// The fewest words that count as a document (a title alone is not one).
    #[serde(default = "thirty")]
    pub min_words: u32,
}

fn thirty() -> u32 {
    30
}

impl Kind for Document {
    const SPEC: KindSpec = KindSpec { name: "document", runs: Runs::OnNode, roles: &[], os: &[Os::Linux], tools: &[] };
}
