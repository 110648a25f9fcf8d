//! Plateau's scenario model: parse a scenario's TOML text, validate it into a
//! [`Scenario`] the rest of Plateau trusts, and expand it per candidate.
//!
//! This crate does no I/O: it reads the text it is given and returns values.

pub mod checks;
pub mod coverage;
pub mod diag;
pub mod framework;
pub mod limits;
pub mod model;
mod plan;
pub mod roles;
mod shape;
mod subnets;
mod validate;
pub mod vars;

use serde::Deserialize;

pub use checks::Runs;
pub use coverage::CriterionCoverage;
pub use diag::{Diagnostic, Report};
pub use plan::{
    CandidatePlan, PlannedAccess, PlannedCandidate, PlannedGrader, PlannedInterface, PlannedNetwork, PlannedNode,
    image_for,
};
pub use subnets::TakenSubnet;
pub use vars::Candidate;

use crate::shape::SpanIndex;
use crate::validate::Sink;

/// The seed used to validate templated values when no session seed exists yet.
const SAMPLE_SEED: &str = "plateau-validate";

/// A scenario that passed every check: references resolve, addresses fit,
/// points add up, and it expands for a sample candidate.
#[derive(Debug, Clone)]
pub struct Scenario {
    file: model::ScenarioFile,
    framework: &'static framework::Framework,
    file_name: String,
    source: String,
    spans: SpanIndex,
    /// What validation noticed without refusing the file.
    warnings: Report,
}

impl Scenario {
    /// Parse and validate `source`; on failure, every problem found.
    pub fn parse(file_name: &str, source: &str) -> Result<Scenario, Report> {
        let report = |mut diagnostics: Vec<Diagnostic>| {
            diagnostics.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
            Report { file_name: file_name.to_string(), source: source.to_string(), diagnostics }
        };
        let (root, errors) = toml::de::DeTable::parse_recoverable(source);
        if !errors.is_empty() {
            return Err(report(errors.iter().map(syntax).collect()));
        }
        let spans = SpanIndex::build(&root);
        let structural = shape::check(&root, schema());
        if !structural.is_empty() {
            return Err(report(structural));
        }
        let file = match model::ScenarioFile::deserialize(toml::de::Deserializer::from(root)) {
            Ok(f) => f,
            // The shape check mirrors serde's rules; this is the safety net.
            Err(e) => {
                return Err(report(vec![Diagnostic::new("invalid", e.message().to_string()).at(e.span(), "here")]));
            }
        };
        let mut sink = Sink { spans: &spans, source, diagnostics: Vec::new() };
        validate::validate(&file, &mut sink);
        if !sink.has_errors() {
            let sample = Candidate { id: "sample".into(), name: "Sample".into(), index: 0, engine: None };
            plan::expand(&file, SAMPLE_SEED, &sample, vars::Around::default(), &mut sink);
        }
        if sink.has_errors() {
            return Err(report(sink.diagnostics));
        }
        let framework = framework::get(&file.scenario.framework).expect("validated framework");
        let warnings = report(sink.diagnostics);
        Ok(Scenario { file, framework, file_name: file_name.to_string(), source: source.to_string(), spans, warnings })
    }

    /// What validation noticed without refusing the file (may be empty).
    pub fn warnings(&self) -> &Report {
        &self.warnings
    }

    pub fn file(&self) -> &model::ScenarioFile {
        &self.file
    }

    pub fn framework(&self) -> &'static framework::Framework {
        self.framework
    }

    pub fn id(&self) -> &str {
        &self.file.scenario.id
    }

    /// Each candidate's platform for a session seed. The same seed and
    /// candidates always give the same plans.
    pub fn plan(&self, seed: &str, candidates: &[Candidate]) -> Result<Vec<CandidatePlan>, Report> {
        self.plan_around(seed, "", candidates, &[])
    }

    /// `plan` on an engine where other networks hold `taken`: drawn subnets
    /// keep clear of them (the same seed, candidates and taken subnets give
    /// the same plans), and a subnet written in the file that overlaps one
    /// is an error at its line. `secret` (the session's) goes into the
    /// passwords and keys drawn, and nothing else.
    pub fn plan_around(
        &self,
        seed: &str,
        secret: &str,
        candidates: &[Candidate],
        taken: &[TakenSubnet],
    ) -> Result<Vec<CandidatePlan>, Report> {
        let subnets: Vec<ipnet::Ipv4Net> = taken.iter().map(|t| t.subnet).collect();
        let around = vars::Around { taken: &subnets, candidates: candidates.len(), secret };
        let mut sink = Sink { spans: &self.spans, source: &self.source, diagnostics: Vec::new() };
        let mut plans = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let before = sink.diagnostics.len();
            if let Some(p) = plan::expand(&self.file, seed, candidate, around, &mut sink) {
                plans.push(p);
            }
            for d in &mut sink.diagnostics[before..] {
                d.message = format!("candidate `{}`: {}", candidate.id, d.message);
            }
        }
        subnets::across_candidates(&plans, &self.file, &mut sink);
        subnets::clear_of(&plans, taken, &self.file, &mut sink);
        if sink.diagnostics.is_empty() {
            Ok(plans)
        } else {
            Err(Report {
                file_name: self.file_name.clone(),
                source: self.source.clone(),
                diagnostics: sink.diagnostics,
            })
        }
    }
}

fn syntax(e: &toml::de::Error) -> Diagnostic {
    Diagnostic::new("syntax", e.message().trim().to_string())
        .at(e.span(), "here")
        .hint("see https://toml.io for the TOML syntax")
}

/// The JSON Schema of the scenario format (what `plateau schema` prints),
/// generated once: every parse walks it.
pub fn schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = serde_json::to_value(schemars::schema_for!(model::ScenarioFile)).expect("schema is JSON");
        schema["title"] = "Plateau scenario".into();
        schema
    })
}

/// Read a roster: CSV with a header line and at least the columns `id` and
/// `name`; an `engine` column places candidates on engines of the site file.
pub fn parse_roster(file_name: &str, text: &str) -> Result<Vec<Candidate>, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("{file_name}: {e}"))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id_col), Some(name_col)) = (column("id"), column("name")) else {
        return Err(format!(
            "{file_name}:1: the header must name the columns `id` and `name` (found: {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        ));
    };
    // Optional: the engine (site file id) a candidate's platform must go to.
    let engine_col = column("engine");
    let mut candidates: Vec<Candidate> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| format!("{file_name}:{line}: {e}"))?;
        let id = record.get(id_col).unwrap_or_default().to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!(
                "{file_name}:{line}: candidate id `{id}` must be letters, digits, `-` or `_` (it names containers)"
            ));
        }
        if candidates.iter().any(|c| c.id == id) {
            return Err(format!("{file_name}:{line}: candidate id `{id}` appears twice"));
        }
        let engine = engine_col.and_then(|col| record.get(col)).filter(|e| !e.is_empty()).map(str::to_string);
        candidates.push(Candidate { id, name: record.get(name_col).unwrap_or_default().to_string(), index, engine });
    }
    if candidates.is_empty() {
        return Err(format!("{file_name}: the roster lists no candidate"));
    }
    Ok(candidates)
}
