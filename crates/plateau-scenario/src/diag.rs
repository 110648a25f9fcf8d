//! Diagnostics: every problem found in a scenario file, with where and how to fix it.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

/// An error stops the file; a warning is said, and the file is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, e.g. `unknown-key`, for documentation and tooling.
    pub code: &'static str,
    pub message: String,
    /// Byte range in the source; `None` when the problem has no place (empty file).
    pub span: Option<Range<usize>>,
    /// Short text printed under the caret.
    pub label: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            hint: None,
        }
    }

    pub fn at(mut self, span: Option<Range<usize>>, label: impl Into<String>) -> Self {
        self.span = span;
        self.label = label.into();
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// All problems of one file, with the text they point into.
#[derive(Debug, Clone)]
pub struct Report {
    pub file_name: String,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// A diagnostic located as line and column (1-based), for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct LocatedDiagnostic<'a> {
    pub file: &'a str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    #[serde(flatten)]
    pub diagnostic: &'a Diagnostic,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// 1-based line and column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    pub fn located(&self) -> Vec<LocatedDiagnostic<'_>> {
        self.diagnostics
            .iter()
            .map(|d| {
                let (line, column) = match &d.span {
                    Some(span) => {
                        let (l, c) = self.line_column(span.start);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                LocatedDiagnostic { file: &self.file_name, line, column, diagnostic: d }
            })
            .collect()
    }

    /// Human-readable rendering: `error[code]: message`, `--> file:line:col`,
    /// the source line with a caret, and the hint.
    pub fn render(&self, color: bool) -> String {
        let bytes = if color {
            let mut w = termcolor::Ansi::new(Vec::new());
            self.emit_all(&mut w);
            w.into_inner()
        } else {
            let mut w = termcolor::NoColor::new(Vec::new());
            self.emit_all(&mut w);
            w.into_inner()
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn emit_all(&self, writer: &mut dyn termcolor::WriteColor) {
        let file = SimpleFile::new(&self.file_name, &self.source);
        let config = term::Config::default();
        for d in &self.diagnostics {
            let cs = match d.severity {
                Severity::Error => CsDiagnostic::error(),
                Severity::Warning => CsDiagnostic::warning(),
            };
            let mut cs = cs.with_code(d.code).with_message(&d.message);
            let mut notes = Vec::new();
            match &d.span {
                Some(span) => cs = cs.with_labels(vec![Label::primary((), span.clone()).with_message(&d.label)]),
                None => notes.push(format!("in {}", self.file_name)),
            }
            if let Some(hint) = &d.hint {
                notes.push(format!("help: {hint}"));
            }
            cs = cs.with_notes(notes);
            // Spans come from this very source, so emitting into memory cannot fail.
            let _ = term::emit(writer, &config, &file, &cs);
        }
    }
}
