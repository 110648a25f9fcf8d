//! Semantic validation: the rules that need the whole file.
//!
//! Every rule reports at the path of the offending value; `SpanIndex` turns
//! the path into a place in the source. Rules never stop at the first problem.

use std::collections::{HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::framework::{self, Framework};
use crate::model::*;
use crate::shape::{SpanIndex, suggest};

mod checks;
mod helpdesk;
mod nodes;
mod programs;
mod variables;

use checks::{Names, check_rules, known_criteria};
pub(crate) use nodes::check_mac;
use nodes::{needs_grader, node_rules};
use variables::{templates, variant};

/// Collects diagnostics located by path.
pub(crate) struct Sink<'a> {
    pub spans: &'a SpanIndex,
    /// The file's text, to point inside a long string.
    pub source: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl Sink<'_> {
    pub fn at(&mut self, path: &str, code: &'static str, message: String, label: &str, hint: Option<String>) {
        let mut d = Diagnostic::new(code, message).at(self.spans.value(path), label);
        d.hint = hint;
        self.diagnostics.push(d);
    }

    /// A warning: the file is still used.
    pub fn warn(&mut self, path: &str, code: &'static str, message: String, label: &str, hint: Option<String>) {
        let mut d = Diagnostic::new(code, message).at(self.spans.value(path), label);
        d.hint = hint;
        d.severity = crate::diag::Severity::Warning;
        self.diagnostics.push(d);
    }

    /// Whether an error (not a warning) was found.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == crate::diag::Severity::Error)
    }

    /// Like `at`, pointing at `needle` inside the value when it is there
    /// (a `{{name}}` in a many-line brief or solution, not the whole text).
    pub fn at_within(
        &mut self,
        path: &str,
        needle: &str,
        code: &'static str,
        message: String,
        label: &str,
        hint: Option<String>,
    ) {
        let span =
            self.spans.value(path).map(|span| match self.source.get(span.clone()).and_then(|text| text.find(needle)) {
                Some(at) => span.start + at..span.start + at + needle.len(),
                None => span,
            });
        let mut d = Diagnostic::new(code, message).at(span, label);
        d.hint = hint;
        self.diagnostics.push(d);
    }

    pub fn at_key(&mut self, path: &str, code: &'static str, message: String, label: &str, hint: Option<String>) {
        let mut d = Diagnostic::new(code, message).at(self.spans.key(path), label);
        d.hint = hint;
        self.diagnostics.push(d);
    }
}

pub(crate) fn validate(file: &ScenarioFile, sink: &mut Sink<'_>) {
    let framework = check_framework(file, sink);
    unique_ids(file, sink);
    let mut nodes: HashMap<&str, &Node> = HashMap::new();
    for node in &file.nodes {
        nodes.entry(node.id.as_str()).or_insert(node);
    }
    let networks: HashSet<&str> = file.networks.iter().map(|n| n.id.as_str()).collect();
    let checks: HashSet<&str> = file.checks.iter().map(|c| c.id.as_str()).collect();
    // Networks where the scenario plans a DHCP service.
    let pools: HashSet<&str> = file.networks.iter().filter(|n| n.dhcp_pool.is_some()).map(|n| n.id.as_str()).collect();

    for (i, phase) in file.phases.iter().enumerate() {
        duration(&phase.duration, &format!("phases[{i}].duration"), sink);
    }
    if file.phases.iter().filter(|p| p.kind == PhaseKind::Preparatory).count() > 1 {
        sink.at(
            "phases",
            "phases",
            "more than one preparatory phase".into(),
            "here",
            Some("keep one `kind = \"preparatory\"` phase".into()),
        );
    }
    grading_rules(&file.grading, framework, sink);
    not_examined_rules(file, framework, sink);
    crate::limits::limit_rules(&file.limits, "limits", sink);
    for (name, variable) in &file.variables {
        if let Variable::Variant(v) = variable {
            variant(v, &format!("variables.{name}"), sink);
        }
    }
    for (i, node) in file.nodes.iter().enumerate() {
        node_rules(node, &format!("nodes[{i}]"), &nodes, &networks, sink);
        crate::limits::limit_rules(&node.limits, &format!("nodes[{i}].limits"), sink);
    }
    if let Some(candidate) = &file.candidate {
        if candidate.access.is_empty() {
            sink.at(
                "candidate.access",
                "no-access",
                "the candidate has no way into the platform".into(),
                "empty",
                Some("add `{ node = \"ws\", via = \"ssh\", user = \"...\" }`".into()),
            );
        }
        for (i, entry) in candidate.access.iter().enumerate() {
            reference(&entry.node, &format!("candidate.access[{i}].node"), "node", &nodes, sink);
            // Said here rather than handing out an SSH relay the sheet would call RDP.
            if entry.via == CandidateVia::Rdp {
                sink.at(
                    &format!("candidate.access[{i}].via"),
                    "rdp-access",
                    format!("RDP access to `{}` is not carried: the candidate's relay speaks SSH only", entry.node),
                    "not yet",
                    Some("use `via = \"ssh\"` (a Windows machine: its OpenSSH server), or give the candidate a Linux node to work from".into()),
                );
            }
        }
    }
    let candidate_nodes: HashSet<&str> =
        file.candidate.iter().flat_map(|c| c.access.iter().map(|a| a.node.as_str())).collect();

    let names = Names { nodes: &nodes, networks: &networks, pools: &pools, framework, blocks: &file.scenario.blocks };
    let mut total = 0u64;
    for (i, check) in file.checks.iter().enumerate() {
        total += u64::from(check.points);
        check_rules(check, &format!("checks[{i}]"), &names, sink);
    }
    if let Some(declared) = file.scenario.total_points
        && u64::from(declared) != total
    {
        sink.at(
            "scenario.total_points",
            "points-mismatch",
            format!("the checks add up to {total} points, not {declared}"),
            "declared total",
            Some(format!("set `total_points = {total}` or change the checks' points")),
        );
    }
    for (i, fault) in file.faults.iter().enumerate() {
        let path = format!("faults[{i}]");
        if fault.breaks.is_empty() {
            sink.at(
                &format!("{path}.breaks"),
                "fault-breaks-nothing",
                format!("fault `{}` breaks no check", fault.id),
                "empty",
                Some("list the check ids that must fail while the fault is present".into()),
            );
        }
        for (j, id) in fault.breaks.iter().enumerate() {
            reference(id, &format!("{path}.breaks[{j}]"), "check", &checks, sink);
        }
        known_criteria(&fault.criteria, &path, framework, &file.scenario.blocks, sink);
        if let Some(request) = &fault.request {
            helpdesk::request_known(request, &format!("{path}.request"), &nodes, sink);
        }
        for (part, steps) in [("inject", &fault.inject), ("revert", &fault.revert)] {
            if steps.is_empty() {
                sink.at(
                    &format!("{path}.{part}"),
                    "empty-steps",
                    format!("fault `{}` has no `{part}` step", fault.id),
                    "empty",
                    None,
                );
            }
            for (j, step) in steps.iter().enumerate() {
                let step_path = format!("{path}.{part}[{j}].node");
                if reference(&step.node, &step_path, "node", &nodes, sink) {
                    needs_grader(nodes[step.node.as_str()], &step_path, sink);
                    let what = format!("fault `{}` ({part})", fault.id);
                    programs::programs_found(
                        &step.run,
                        nodes[step.node.as_str()],
                        &what,
                        &format!("{path}.{part}[{j}].run"),
                        sink,
                    );
                }
            }
        }
    }
    if file.solution.is_empty() && !file.checks.is_empty() {
        sink.warn(
            "scenario",
            "no-solution",
            "the scenario has no reference solution: `plateau scenario test` cannot show its checks pass when the work is done".into(),
            "here",
            Some("add `[[solution]]` steps, typed through the candidate's own access as an expert candidate would".into()),
        );
    }
    for (i, step) in file.solution.iter().enumerate() {
        let path = format!("solution[{i}].node");
        if !reference(&step.node, &path, "node", &nodes, sink) {
            continue;
        }
        let node = nodes[step.node.as_str()];
        programs::programs_found(&step.run, node, "the reference solution", &format!("solution[{i}].run"), sink);
        if !candidate_nodes.contains(step.node.as_str()) {
            sink.at(
                &path,
                "solution-outside-access",
                format!("the reference solution runs on `{}`, which the candidate cannot reach", step.node),
                "not a candidate node",
                Some("the solution must use the candidate's own access: add the node to `candidate.access` or work from a candidate node".into()),
            );
        }
    }
    templates(file, sink);
}

fn check_framework(file: &ScenarioFile, sink: &mut Sink<'_>) -> Option<&'static Framework> {
    let id = &file.scenario.framework;
    let Some(framework) = framework::get(id) else {
        let known = framework::all().iter().map(|f| f.id.as_str());
        sink.at(
            "scenario.framework",
            "unknown-framework",
            format!("unknown framework `{id}`"),
            "unknown",
            Some(suggest(id, known, "known frameworks")),
        );
        return None;
    };
    for (i, block) in file.scenario.blocks.iter().enumerate() {
        if framework.block(block).is_none() {
            let known = framework.blocks.iter().map(|b| b.id.as_str());
            sink.at(
                &format!("scenario.blocks[{i}]"),
                "unknown-block",
                format!("`{id}` has no block `{block}`"),
                "unknown block",
                Some(suggest(block, known, "blocks")),
            );
        }
    }
    Some(framework)
}

fn unique_ids(file: &ScenarioFile, sink: &mut Sink<'_>) {
    let lists: [(&str, Vec<&str>); 5] = [
        ("phases", file.phases.iter().map(|x| x.id.as_str()).collect()),
        ("networks", file.networks.iter().map(|x| x.id.as_str()).collect()),
        ("nodes", file.nodes.iter().map(|x| x.id.as_str()).collect()),
        ("checks", file.checks.iter().map(|x| x.id.as_str()).collect()),
        ("faults", file.faults.iter().map(|x| x.id.as_str()).collect()),
    ];
    for (list, ids) in lists {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            let path = format!("{list}[{i}].id");
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                sink.at(
                    &path,
                    "bad-id",
                    format!("`{id}` is not a valid id"),
                    "bad id",
                    Some("use letters, digits, `-` and `_` only".into()),
                );
            }
            if let Some(first) = seen.insert(id, i) {
                sink.at(
                    &path,
                    "duplicate-id",
                    format!("duplicate id `{id}` in `{list}`"),
                    "used again here",
                    Some(format!("`{list}[{first}]` already has this id; ids must be unique")),
                );
            }
        }
    }
}

fn duration(text: &str, path: &str, sink: &mut Sink<'_>) -> Option<std::time::Duration> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Some(d),
        _ => {
            sink.at(
                path,
                "bad-duration",
                format!("`{text}` is not a duration"),
                "not a duration",
                Some("write e.g. `3h`, `40min`, `1h 30min` or `5s`".into()),
            );
            None
        }
    }
}

/// Reports a dangling reference; true when `id` names something that exists.
fn reference<V>(id: &str, path: &str, what: &str, known: &impl KnownIds<V>, sink: &mut Sink<'_>) -> bool {
    if known.has(id) {
        return true;
    }
    sink.at(
        path,
        "unknown-reference",
        format!("no {what} has id `{id}`"),
        &format!("unknown {what}"),
        Some(suggest(id, known.ids().into_iter(), &format!("{what}s"))),
    );
    false
}

trait KnownIds<V> {
    fn has(&self, id: &str) -> bool;
    fn ids(&self) -> Vec<&str>;
}

impl<V> KnownIds<V> for HashMap<&str, V> {
    fn has(&self, id: &str) -> bool {
        self.contains_key(id)
    }
    fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys().copied().collect();
        ids.sort();
        ids
    }
}

impl KnownIds<()> for HashSet<&str> {
    fn has(&self, id: &str) -> bool {
        self.contains(id)
    }
    fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.iter().copied().collect();
        ids.sort();
        ids
    }
}

/// Thresholds are shares, and name competences or blocks of the framework.
fn grading_rules(grading: &Grading, framework: Option<&Framework>, sink: &mut Sink<'_>) {
    let share = |value: f64, path: &str, sink: &mut Sink<'_>| {
        if !(0.0..=1.0).contains(&value) {
            sink.at(
                path,
                "bad-threshold",
                format!("threshold {value} is not a share of points"),
                "not between 0 and 1",
                Some("write e.g. `0.5` for half the points".into()),
            );
        }
    };
    share(grading.threshold, "grading.threshold", sink);
    for (unit, value) in &grading.thresholds {
        let path = format!("grading.thresholds.{unit}");
        share(*value, &path, sink);
        if let Some(framework) = framework {
            let known: Vec<&str> = framework
                .blocks
                .iter()
                .flat_map(|b| std::iter::once(b.id.as_str()).chain(b.competences.iter().map(|c| c.id.as_str())))
                .collect();
            if !known.contains(&unit.as_str()) {
                sink.at_key(
                    &path,
                    "unknown-unit",
                    format!("`{}` has no competence or block `{unit}`", framework.id),
                    "unknown",
                    Some(suggest(unit, known.into_iter(), "competences and blocks")),
                );
            }
        }
    }
}

/// Criteria the exam does not examine are criteria of the framework, and no
/// check evidences them (the grid cannot say both). Material for the jury
/// names a criterion of the framework the exam examines, and says something.
fn not_examined_rules(file: &ScenarioFile, framework: Option<&Framework>, sink: &mut Sink<'_>) {
    let Some(framework) = framework else { return };
    let unknown = |id: &str, path: &str, sink: &mut Sink<'_>| {
        let known = framework.criteria().map(|c| c.criterion.id.as_str());
        sink.at(
            path,
            "unknown-criterion",
            format!("`{}` has no criterion `{id}`", framework.id),
            "unknown criterion",
            Some(suggest(id, known, "criteria")),
        );
    };
    for (id, material) in &file.grading.material {
        let path = format!("grading.material.{id}");
        if framework.criterion(id).is_none() {
            unknown(id, &path, sink);
        } else if file.grading.not_examined.contains(id) {
            sink.at(
                &path,
                "material-not-examined",
                format!("`{id}` is marked not examined, and has material for the jury"),
                "not examined",
                Some(format!("remove `{id}` from `grading.not_examined`, or from `grading.material`")),
            );
        } else if material.trim().is_empty() {
            sink.at(
                &path,
                "empty-material",
                format!("the material for `{id}` is empty"),
                "empty",
                Some("say what the jury judges it on, e.g. \"les tickets des pannes\"".into()),
            );
        }
    }
    for (i, id) in file.grading.not_examined.iter().enumerate() {
        let path = format!("grading.not_examined[{i}]");
        if framework.criterion(id).is_none() {
            unknown(id, &path, sink);
        } else if let Some(check) = file.checks.iter().find(|c| c.criteria.contains(id)) {
            sink.at(
                &path,
                "examined-criterion",
                format!("`{id}` is marked not examined, and check `{}` evidences it", check.id),
                "evidenced by a check",
                Some(format!("remove `{id}` from `grading.not_examined`, or from the check's `criteria`")),
            );
        }
    }
}
