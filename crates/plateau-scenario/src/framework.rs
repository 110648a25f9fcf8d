//! Competence frameworks (référentiels) as data: blocks, competences, criteria.
//!
//! The files under `frameworks/` are written from the regulatory texts and
//! compiled in, so every binary knows every framework without a data directory.

use serde::{Deserialize, Serialize};

/// A certification's competence framework.
#[derive(Debug, Clone, Serialize)]
pub struct Framework {
    pub id: String,
    pub title: String,
    pub reference: String,
    pub language: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Block {
    pub id: String,
    pub title: String,
    pub competences: Vec<Competence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Competence {
    pub id: String,
    pub title: String,
    pub criteria: Vec<Criterion>,
}

/// A *critère de performance*: the statement a jury checks.
#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    /// `<competence>.<n>`, n counting from 1 in the order of the text.
    pub id: String,
    pub text: String,
}

/// Where a criterion sits in its framework.
#[derive(Debug, Clone, Copy)]
pub struct CriterionRef<'f> {
    pub block: &'f Block,
    pub competence: &'f Competence,
    pub criterion: &'f Criterion,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFramework {
    id: String,
    title: String,
    reference: String,
    language: String,
    blocks: Vec<RawBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    id: String,
    title: String,
    competences: Vec<RawCompetence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompetence {
    id: String,
    title: String,
    criteria: Vec<String>,
}

const SOURCES: [(&str, &str); 3] = [
    ("tai-2023", include_str!("../frameworks/tai-2023.toml")),
    ("tai-2018", include_str!("../frameworks/tai-2018.toml")),
    ("catic", include_str!("../frameworks/catic.toml")),
];

impl Framework {
    fn from_raw(raw: RawFramework) -> Framework {
        let blocks = raw
            .blocks
            .into_iter()
            .map(|b| Block {
                id: b.id,
                title: b.title,
                competences: b
                    .competences
                    .into_iter()
                    .map(|c| Competence {
                        criteria: c
                            .criteria
                            .into_iter()
                            .enumerate()
                            .map(|(i, text)| Criterion { id: format!("{}.{}", c.id, i + 1), text })
                            .collect(),
                        id: c.id,
                        title: c.title,
                    })
                    .collect(),
            })
            .collect();
        Framework { id: raw.id, title: raw.title, reference: raw.reference, language: raw.language, blocks }
    }

    pub fn competences(&self) -> impl Iterator<Item = (&Block, &Competence)> {
        self.blocks.iter().flat_map(|b| b.competences.iter().map(move |c| (b, c)))
    }

    pub fn criteria(&self) -> impl Iterator<Item = CriterionRef<'_>> {
        self.competences().flat_map(|(block, competence)| {
            competence.criteria.iter().map(move |criterion| CriterionRef { block, competence, criterion })
        })
    }

    pub fn criterion(&self, id: &str) -> Option<CriterionRef<'_>> {
        self.criteria().find(|c| c.criterion.id == id)
    }

    pub fn block(&self, id: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.id == id)
    }
}

/// Whether a scenario evidencing `blocks` (none listed: all of them) puts
/// every criterion of `block` on its grid, jury-only ones included.
pub fn block_in_scope(blocks: &[String], block: &str) -> bool {
    blocks.is_empty() || blocks.iter().any(|b| b == block)
}

/// Every framework Plateau knows, in a fixed order.
pub fn all() -> &'static [Framework] {
    static ALL: std::sync::OnceLock<Vec<Framework>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, text)| {
                // The files are compiled in and covered by tests: a parse error is a build defect.
                let raw: RawFramework =
                    toml::from_str(text).unwrap_or_else(|e| panic!("framework {name} is malformed: {e}"));
                Framework::from_raw(raw)
            })
            .collect()
    })
}

pub fn get(id: &str) -> Option<&'static Framework> {
    all().iter().find(|f| f.id == id)
}
