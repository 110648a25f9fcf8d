//! Structural checking: walk the parsed TOML against the scenario's JSON Schema
//! and report every unknown key, wrong type, bad value and missing key at once.
//!
//! serde stops at the first error; exam designers want them all, each with its
//! place. The schema is the one `plateau schema` prints, so what the editor
//! proposes and what the validator accepts are one and the same.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{Map, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::Diagnostic;

/// Byte spans of every key and value in the document, by path
/// (`nodes[2].interfaces[0].host`), so that later passes can point at them.
#[derive(Debug, Default, Clone)]
pub struct SpanIndex {
    values: HashMap<String, Range<usize>>,
    keys: HashMap<String, Range<usize>>,
}

impl SpanIndex {
    pub fn build(root: &Spanned<DeTable<'_>>) -> Self {
        let mut index = SpanIndex::default();
        index.values.insert(String::new(), root.span());
        index.add_table(root.get_ref(), "");
        index
    }

    fn add_table(&mut self, table: &DeTable<'_>, path: &str) {
        for (key, value) in table {
            let child = join(path, key.get_ref());
            self.keys.insert(child.clone(), key.span());
            self.add_value(value, child);
        }
    }

    fn add_value(&mut self, value: &Spanned<DeValue<'_>>, path: String) {
        match value.get_ref() {
            DeValue::Table(t) => self.add_table(t, &path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.add_value(item, format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
        self.values.insert(path, value.span());
    }

    /// The span of the value at `path`, or of its nearest ancestor that exists.
    pub fn value(&self, path: &str) -> Option<Range<usize>> {
        let mut p = path;
        loop {
            if let Some(s) = self.values.get(p) {
                return Some(s.clone());
            }
            p = parent(p)?;
        }
    }

    /// The span of the key at `path` (falls back to the value, then ancestors).
    pub fn key(&self, path: &str) -> Option<Range<usize>> {
        self.keys.get(path).cloned().or_else(|| self.value(path))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Check `root` against `schema`; returns every structural problem.
pub fn check(root: &Spanned<DeTable<'_>>, schema: &Value) -> Vec<Diagnostic> {
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    let mut walker = Walker { defs, diagnostics: Vec::new() };
    walker.object(schema, root.get_ref(), root.span(), "");
    walker.diagnostics
}

struct Walker<'s> {
    defs: &'s Map<String, Value>,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Walker<'s> {
    fn resolve(&self, mut schema: &'s Value) -> &'s Value {
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix("#/$defs/").and_then(|name| self.defs.get(name)) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn value(&mut self, schema: &'s Value, value: &Spanned<DeValue<'_>>, path: &str) {
        let schema = self.resolve(schema);
        let alternatives = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array);
        if let Some(branches) = alternatives
            && schema.get("properties").is_none()
        {
            self.alternatives(branches, value, path);
            return;
        }
        if let Some(types) = json_types(schema)
            && !types.iter().any(|t| type_matches(t, value.get_ref()))
        {
            self.diagnostics.push(wrong_type(path, &types, value));
            return;
        }
        if let Some(allowed) = string_values(schema) {
            self.string_value(&allowed, value, path);
            return;
        }
        match value.get_ref() {
            DeValue::Integer(i) => self.integer(schema, i, value.span(), path),
            DeValue::Array(items) => {
                let count = items.len() as u64;
                let min = schema.get("minItems").and_then(Value::as_u64);
                let max = schema.get("maxItems").and_then(Value::as_u64);
                if min.is_some_and(|m| count < m) || max.is_some_and(|m| count > m) {
                    let want = match (min, max) {
                        (Some(a), Some(b)) if a == b => format!("exactly {a}"),
                        (Some(a), Some(b)) => format!("{a} to {b}"),
                        (Some(a), None) => format!("at least {a}"),
                        (None, Some(b)) => format!("at most {b}"),
                        (None, None) => unreachable!("checked above"),
                    };
                    self.diagnostics.push(
                        Diagnostic::new(
                            "wrong-length",
                            format!("`{}` needs {want} items, found {count}", display(path)),
                        )
                        .at(Some(value.span()), format!("{count} items")),
                    );
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.value(item_schema, item, &format!("{path}[{i}]"));
                    }
                }
            }
            DeValue::Table(table) => self.object(schema, table, value.span(), path),
            _ => {}
        }
    }

    fn integer(&mut self, schema: &Value, i: &toml::de::DeInteger<'_>, span: Range<usize>, path: &str) {
        let Ok(n) = i128::from_str_radix(i.as_str().replace('_', "").trim_start_matches('+'), i.radix()) else {
            return;
        };
        let min = schema.get("minimum").and_then(Value::as_i64).map(i128::from);
        let max = schema.get("maximum").and_then(Value::as_i64).map(i128::from);
        let max = max.or(match schema.get("format").and_then(Value::as_str) {
            Some("uint8") => Some(u8::MAX.into()),
            Some("uint16") => Some(u16::MAX.into()),
            Some("uint32") => Some(u32::MAX.into()),
            Some("int32") => Some(i32::MAX.into()),
            _ => None,
        });
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            let range =
                format!("{}..={}", min.map_or("".into(), |m| m.to_string()), max.map_or("".into(), |m| m.to_string()));
            self.diagnostics.push(
                Diagnostic::new("out-of-range", format!("`{}` is {n}, outside {range}", display(path)))
                    .at(Some(span), "out of range"),
            );
        }
    }

    fn string_value(&mut self, allowed: &[&str], value: &Spanned<DeValue<'_>>, path: &str) {
        let Some(s) = value.get_ref().as_str() else {
            self.diagnostics.push(wrong_type(path, &["string"], value));
            return;
        };
        if !allowed.contains(&s) {
            let mut d = Diagnostic::new("unknown-value", format!("`{}` cannot be `{s}`", display(path)))
                .at(Some(value.span()), "unknown value");
            d = d.hint(suggest(s, allowed.iter().copied(), "one of"));
            self.diagnostics.push(d);
        }
    }

    /// A value that may take several shapes (`anyOf`/`oneOf` without properties).
    fn alternatives(&mut self, branches: &'s [Value], value: &Spanned<DeValue<'_>>, path: &str) {
        let resolved: Vec<&'s Value> = branches.iter().map(|b| self.resolve(b)).collect();
        // An enum of names split over several branches (some documented): one set.
        if resolved.iter().all(|b| string_values(b).is_some()) {
            let allowed: Vec<&str> = resolved.iter().flat_map(|b| string_values(b).unwrap_or_default()).collect();
            self.string_value(&allowed, value, path);
            return;
        }
        let mut matching_type = None;
        for branch in &resolved {
            if json_types(branch).is_some_and(|t| t == ["null"]) {
                continue;
            }
            let mut sub = Walker { defs: self.defs, diagnostics: Vec::new() };
            sub.value(branch, value, path);
            if sub.diagnostics.is_empty() {
                return;
            }
            let type_ok = json_types(branch).is_none_or(|t| t.iter().any(|t| type_matches(t, value.get_ref())));
            if type_ok && matching_type.is_none() {
                matching_type = Some(sub.diagnostics);
            }
        }
        match matching_type {
            Some(diags) => self.diagnostics.extend(diags),
            None => {
                let types: Vec<&str> =
                    resolved.iter().filter_map(|b| json_types(b)).flatten().filter(|t| *t != "null").collect();
                self.diagnostics.push(wrong_type(path, &types, value));
            }
        }
    }

    fn object(&mut self, schema: &'s Value, table: &DeTable<'_>, span: Range<usize>, path: &str) {
        let schema = self.resolve(schema);
        let mut properties: Vec<(&'s String, &'s Value)> =
            schema.get("properties").and_then(Value::as_object).map(|p| p.iter().collect()).unwrap_or_default();
        let mut required: Vec<&'s str> = str_list(schema.get("required"));

        // Internally tagged enums flattened into the table: pick the branch by its tag.
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let branches: Vec<&'s Value> = branches.iter().map(|b| self.resolve(b)).collect();
            if let Some((tag, tags)) = discriminator(&branches) {
                match table.get(tag) {
                    None => {
                        self.diagnostics.push(
                            Diagnostic::new("missing-key", format!("missing key `{tag}` in `{}`", display(path)))
                                .at(Some(span.clone()), format!("`{tag}` is needed here"))
                                .hint(format!("add `{tag} = \"...\"`, one of: {}", tags.join(", "))),
                        );
                        // Without a tag the other keys cannot be judged.
                        return;
                    }
                    Some(v) => match v.get_ref().as_str() {
                        Some(name) if tags.contains(&name) => {
                            let branch = branches[tags.iter().position(|t| *t == name).unwrap_or(0)];
                            if let Some(props) = branch.get("properties").and_then(Value::as_object) {
                                properties.extend(props.iter());
                            }
                            required.extend(str_list(branch.get("required")));
                        }
                        _ => {
                            self.string_value(&tags, v, &join(path, tag));
                            return;
                        }
                    },
                }
            }
        }

        let open = schema.get("additionalProperties").filter(|a| a.is_object());
        for (key, value) in table {
            let name = key.get_ref().as_ref();
            let child = join(path, name);
            match properties.iter().find(|(p, _)| p.as_str() == name) {
                Some((_, prop)) => self.value(prop, value, &child),
                None => match open {
                    Some(item) => self.value(item, value, &child),
                    None => {
                        let known = properties.iter().map(|(p, _)| p.as_str());
                        let place =
                            if path.is_empty() { "the scenario".to_string() } else { format!("`{}`", display(path)) };
                        self.diagnostics.push(
                            Diagnostic::new("unknown-key", format!("unknown key `{name}` in {place}"))
                                .at(Some(key.span()), "unknown key")
                                .hint(suggest(name, known, "allowed keys")),
                        );
                    }
                },
            }
        }
        for key in required {
            if !table.contains_key(key) {
                let place = if path.is_empty() { "the scenario".to_string() } else { format!("`{}`", display(path)) };
                self.diagnostics.push(
                    Diagnostic::new("missing-key", format!("missing key `{key}` in {place}"))
                        .at(Some(span.clone()), format!("`{key}` is needed here"))
                        .hint(format!("add `{key} = ...`")),
                );
            }
        }
    }
}

/// The tag of an internally tagged enum: a property every branch fixes with `const`.
fn discriminator<'s>(branches: &[&'s Value]) -> Option<(&'s str, Vec<&'s str>)> {
    let first = branches.first()?.get("properties")?.as_object()?;
    first.iter().find_map(|(name, _)| {
        let tags: Option<Vec<&str>> =
            branches.iter().map(|b| b.get("properties")?.get(name)?.get("const")?.as_str()).collect();
        tags.map(|t| (name.as_str(), t))
    })
}

fn json_types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn string_values(schema: &Value) -> Option<Vec<&str>> {
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        return Some(vec![c]);
    }
    schema.get("enum").and_then(Value::as_array).map(|e| e.iter().filter_map(Value::as_str).collect())
}

fn str_list(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn type_matches(json_type: &str, value: &DeValue<'_>) -> bool {
    match json_type {
        "string" => value.is_str(),
        "integer" => value.is_integer(),
        "number" => value.is_integer() || value.is_float(),
        "boolean" => value.is_bool(),
        "array" => value.is_array(),
        "object" => value.is_table(),
        _ => false,
    }
}

fn toml_type_name(json_type: &str) -> &str {
    match json_type {
        "object" => "table",
        "number" => "number",
        other => other,
    }
}

fn wrong_type(path: &str, expected: &[&str], value: &Spanned<DeValue<'_>>) -> Diagnostic {
    let mut names: Vec<&str> = expected.iter().filter(|t| **t != "null").map(|t| toml_type_name(t)).collect();
    names.dedup();
    let hint = match names.as_slice() {
        ["string"] => "put the value in quotes: \"...\"",
        ["integer"] => "write a whole number, without quotes",
        ["boolean"] => "write `true` or `false`",
        ["array"] => "write a list: `[\"a\", \"b\"]`",
        ["table"] => "write a table: `{ key = \"value\" }` or a `[section]`",
        _ => "see `plateau schema` for the expected shape",
    };
    let expected = names.join(" or ");
    let found = match value.get_ref() {
        DeValue::Table(_) => "table",
        v => v.type_str(),
    };
    let found = with_article(found);
    Diagnostic::new("wrong-type", format!("`{}` should be {}, found {found}", display(path), with_article(&expected)))
        .at(Some(value.span()), format!("expected {expected}"))
        .hint(hint)
}

fn with_article(name: &str) -> String {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) { format!("an {name}") } else { format!("a {name}") }
}

/// The path as a reader writes it; the top level is "the scenario".
fn display(path: &str) -> &str {
    if path.is_empty() { "<top level>" } else { path }
}

/// "did you mean `x`?" when a known name is close, else the list of names.
pub(crate) fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>, list_label: &str) -> String {
    let known: Vec<&str> = known.collect();
    let best = known
        .iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(name, k) + 0.1 * strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score >= 0.65)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None if known.is_empty() => "remove it".to_string(),
        None => format!("{list_label}: {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
    }
}
