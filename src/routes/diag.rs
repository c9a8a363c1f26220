//! Diagnostics: every mistake in the route files, as a value.
//!
//! The front end never stops at the first problem and never panics: each
//! stage pushes [`Diagnostic`]s and carries on. [`render`] prints one the way
//! `rustc` does: the message, `file:line:col`, the source line, a caret under
//! the span, and a hint.

use super::source::{Sources, Span};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the route files.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    /// Short text printed after the carets.
    pub label: Option<String>,
    /// What to do about it ("did you mean `openai`?").
    pub hint: Option<String>,
    /// Other places that explain this one ("first defined here").
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            hint: None,
            related: Vec::new(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint only when there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub fn related(mut self, span: Span, note: impl Into<String>) -> Self {
        self.related.push((span, note.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Orders diagnostics by file, then position, so output is stable.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.file, a.span.start, a.severity).cmp(&(b.span.file, b.span.start, b.severity))
    });
}

/// Renders one diagnostic; `color` adds ANSI colours for a terminal.
pub fn render(d: &Diagnostic, sources: &Sources, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let (word, code) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}{}", paint(code, word), paint("1", &format!(": {}", d.message)));
    snippet(&mut out, sources, d.span, d.label.as_deref(), code, &paint);
    for (span, note) in &d.related {
        snippet(&mut out, sources, *span, Some(note), "1;34", &paint);
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "   {} {hint}", paint("1;36", "= hint:"));
    }
    out
}

/// Renders all diagnostics, a blank line between them, and a summary line.
pub fn render_all(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&render(d, sources, color));
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors + warnings > 0 {
        let _ = writeln!(
            out,
            "{} error{}, {} warning{}",
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        );
    }
    out
}

fn snippet(
    out: &mut String,
    sources: &Sources,
    span: Span,
    label: Option<&str>,
    code: &str,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let start = sources.position(span.file, span.start);
    let line = sources.line_text(span.file, span.start);
    let number = start.line.to_string();
    let arrow = " ".repeat(number.len() + 1);
    let pad = " ".repeat(number.len() + 2);
    let _ = writeln!(out, "{arrow}{} {}", paint("1;34", "-->"), sources.location(span));
    let _ = writeln!(out, "{pad}{}", paint("1;34", "|"));
    let _ = writeln!(out, " {} {line}", paint("1;34", &format!("{number} |")));
    // Carets: from the start column to the span's end on the same line (at least one).
    let end = sources.position(span.file, span.end);
    let line_chars = line.chars().count();
    let width = if end.line == start.line {
        end.col.saturating_sub(start.col).max(1)
    } else {
        (line_chars + 1).saturating_sub(start.col).max(1)
    };
    let indent: String = line
        .chars()
        .take(start.col - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let carets = "^".repeat(width);
    let label = label.map(|l| format!(" {l}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "{pad}{} {indent}{}",
        paint("1;34", "|"),
        paint(code, &format!("{carets}{label}"))
    );
}

/// The closest candidate to `word` if it is a plausible typo of it.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::source::SourceFile;

    #[test]
    fn renders_location_line_caret_and_hint() {
        let sources = Sources::new(vec![SourceFile::new(
            "routes/x.route",
            "route a {\n  try opnai:gpt-4o\n}\n",
        )]);
        let start = "route a {\n  try ".len();
        let d = Diagnostic::error(Span::new(0, start, start + 5), "unknown provider `opnai`")
            .label("no provider has this name")
            .hint("did you mean `openai`?");
        assert_eq!(
            render(&d, &sources, false),
            "error: unknown provider `opnai`\n  --> routes/x.route:2:7\n   |\n 2 |   try opnai:gpt-4o\n   |       ^^^^^ no provider has this name\n   = hint: did you mean `openai`?\n"
        );
    }

    #[test]
    fn suggestions_are_close_matches_only() {
        assert_eq!(
            did_you_mean("opnai", ["openai", "anthropic"]).as_deref(),
            Some("did you mean `openai`?")
        );
        assert_eq!(did_you_mean("zzz", ["openai"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
