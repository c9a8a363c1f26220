//! The `.route` front end: text in, an [`ast::File`] and diagnostics out.
//!
//! pest parses with `grammar/routes.pest`; [`convert`] turns the pairs into
//! the AST, [`error`] turns a pest error into one diagnostic in words.
//!
//! Recovery: the file is cut before every line that begins (column 1) with
//! `provider`, `policy`, `route` or `gateway`, and each piece is parsed on
//! its own, so a syntax error costs only the item it is in and every broken
//! item is reported in one run. Parentheses deeper than [`MAX_DEPTH`] are
//! refused before pest runs (it recurses on them).
//!
//! [`parse_fragment`] parses one statement, condition or target (the YAML
//! front end uses it) with a [`SourceMap`] that takes offsets in the
//! fragment's text to offsets in the file.

mod convert;
mod error;

use crate::routes::ast::{self, Cond, GatewayStmt, PolicyStmt, ProviderStmt, RouteStmt, Target};
use crate::routes::diag::Diagnostic;
use crate::routes::grammar::{RouteParser, Rule};
use crate::routes::source::{FileId, Span, Spanned};
use convert::Conv;
use pest::Parser;

pub use convert::{count_value, duration_ms, MAX_DEPTH};

/// Takes offsets in a parsed text to offsets in its file: a list of
/// segments, each starting at `from` in the text. An exact segment maps
/// offset by offset; an approximate one (text that could not be located in
/// the file) maps all of itself onto `to..to + width`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceMap {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    from: usize,
    to: usize,
    exact: bool,
    width: usize,
}

impl SourceMap {
    /// The text starts at `base` in the file.
    pub fn offset(base: usize) -> SourceMap {
        let mut map = SourceMap::default();
        map.exact(0, base);
        map
    }

    /// From `from` on, the text is the file's text at `to` onwards.
    /// Segments are pushed in increasing `from`.
    pub fn exact(&mut self, from: usize, to: usize) {
        self.segments.push(Segment {
            from,
            to,
            exact: true,
            width: 0,
        });
    }

    /// From `from` on, the text stands for the file's `to..to + width`.
    pub fn approx(&mut self, from: usize, to: usize, width: usize) {
        self.segments.push(Segment {
            from,
            to,
            exact: false,
            width,
        });
    }

    fn segment(&self, offset: usize) -> Option<&Segment> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.from <= offset)
            .or(self.segments.first())
    }

    /// The file offset of text offset `offset` (a start).
    pub fn start(&self, offset: usize) -> usize {
        match self.segment(offset) {
            Some(s) if s.exact => s.to + offset.saturating_sub(s.from),
            Some(s) => s.to,
            None => offset,
        }
    }

    /// The file offset of the end of the text range `start..end`.
    pub fn end(&self, start: usize, end: usize) -> usize {
        if end <= start {
            return self.start(start);
        }
        match self.segment(end - 1) {
            Some(s) if s.exact => s.to + end.saturating_sub(s.from),
            Some(s) => s.to + s.width,
            None => end,
        }
    }
}

/// Parses one `.route` file. Never panics; reports every broken item.
pub fn parse_file(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    let mut out = ast::File::default();
    let mut diags = Vec::new();
    let whole = SourceMap::offset(0);
    for (start, end) in chunks(text) {
        let chunk = &text[start..end];
        if let Some(at) = too_deep(chunk) {
            diags.push(depth_error(file, start + at));
            continue;
        }
        match RouteParser::parse(Rule::file, chunk) {
            Ok(mut pairs) => {
                let map = SourceMap::offset(start);
                let mut conv = Conv::new(file, &map);
                if let Some(p) = pairs.next() {
                    out.items.extend(conv.file(&p));
                }
                diags.extend(conv.diags);
            }
            Err(e) => {
                diags.push(error::syntax_error(&e, file, text, start, &whole));
                out.broken.extend(item_header(chunk));
            }
        }
    }
    (out, diags)
}

/// `(keyword, name)` of the item a piece starts with, if it says.
fn item_header(chunk: &str) -> Option<(String, String)> {
    let line = chunk.lines().find(|l| starts_item(l))?;
    let mut words = line.split(|c: char| c.is_whitespace() || c == '{').filter(|w| !w.is_empty());
    let keyword = words.next()?;
    let name = if keyword == "gateway" { "" } else { words.next()? };
    Some((keyword.to_string(), name.to_string()))
}

/// Byte ranges of the pieces parsed on their own: cut before every line
/// that starts with an item keyword.
fn chunks(text: &str) -> Vec<(usize, usize)> {
    let mut cuts = vec![0];
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if line_start > 0 && starts_item(line) {
            cuts.push(line_start);
        }
        line_start += line.len();
    }
    cuts.push(text.len());
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

fn starts_item(line: &str) -> bool {
    ["provider", "policy", "route", "gateway"].iter().any(|kw| {
        line.strip_prefix(kw).is_some_and(|rest| {
            !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    })
}

/// The offset of the first `(` nested deeper than [`MAX_DEPTH`], outside
/// strings, regexes and comments (approximately: a `/` starts a regex only
/// after `matches`).
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            if c == '\n' || (c == q && !escaped) {
                quote = None;
            }
            escaped = c == '\\' && !escaped;
            continue;
        }
        match c {
            '#' => comment = true,
            '"' => quote = Some('"'),
            '/' if text[..i].trim_end().ends_with("matches") => quote = Some('/'),
            '(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn depth_error(file: FileId, at: usize) -> Diagnostic {
    Diagnostic::error(
        Span::new(file, at, at + 1),
        format!("parentheses nested more than {MAX_DEPTH} deep"),
    )
    .hint("split the condition or the target into simpler parts")
}

/// What [`parse_fragment`] parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentKind {
    ProviderStmt,
    PolicyStmt,
    RouteStmt,
    GatewayStmt,
    Cond,
    Target,
}

/// One parsed fragment.
#[derive(Debug, Clone, PartialEq)]
pub enum Fragment {
    ProviderStmt(Spanned<ProviderStmt>),
    PolicyStmt(Spanned<PolicyStmt>),
    RouteStmt(Spanned<RouteStmt>),
    GatewayStmt(Spanned<GatewayStmt>),
    Cond(Spanned<Cond>),
    Target(Spanned<Target>),
}

/// Parses one statement (`keyword rest…`), condition or target, with spans
/// taken through `map` into `file`. `None` when it does not parse (the
/// diagnostics say why).
pub fn parse_fragment(
    kind: FragmentKind,
    file: FileId,
    text: &str,
    map: &SourceMap,
) -> (Option<Fragment>, Vec<Diagnostic>) {
    if let Some(at) = too_deep(text) {
        return (None, vec![depth_error(file, map.start(at))]);
    }
    let rule = match kind {
        FragmentKind::ProviderStmt => Rule::provider_stmt_entry,
        FragmentKind::PolicyStmt => Rule::policy_stmt_entry,
        FragmentKind::RouteStmt => Rule::route_stmt_entry,
        FragmentKind::GatewayStmt => Rule::gateway_stmt_entry,
        FragmentKind::Cond => Rule::cond_entry,
        FragmentKind::Target => Rule::target_entry,
    };
    let entry = match RouteParser::parse(rule, text) {
        Ok(mut pairs) => match pairs.next() {
            Some(p) => p,
            None => return (None, Vec::new()),
        },
        Err(e) => return (None, vec![error::syntax_error(&e, file, text, 0, map)]),
    };
    let mut conv = Conv::new(file, map);
    let inner = entry
        .clone()
        .into_inner()
        .find(|p| p.as_rule() != Rule::EOI);
    let fragment = inner.and_then(|p| match kind {
        FragmentKind::ProviderStmt => conv.provider_stmt(&p).map(Fragment::ProviderStmt),
        FragmentKind::PolicyStmt => conv.policy_stmt(&p).map(Fragment::PolicyStmt),
        FragmentKind::RouteStmt => conv.route_stmt(&p).map(Fragment::RouteStmt),
        FragmentKind::GatewayStmt => conv.gateway_stmt(&p).map(Fragment::GatewayStmt),
        FragmentKind::Cond => conv.cond(&p).map(Fragment::Cond),
        FragmentKind::Target => {
            let mut parts = conv.target_parts(&entry)?;
            (parts.len() == 1)
                .then(|| parts.pop())
                .flatten()
                .map(Fragment::Target)
        }
    });
    (fragment, conv.diags)
}

#[cfg(test)]
pub(crate) mod tests;
