//! The YAML front end: the same statements as `.route` files, in YAML.
//!
//! serde_yaml reads the structure (`providers`, `policies`, `routes`,
//! `gateway`; each block a mapping from statement keyword to the rest of the
//! statement). Each statement is rebuilt as text (`keyword value`, list
//! values joined the way the statement expects) and parsed with the
//! grammar's statement entry rule, so it means exactly what the `.route`
//! form means.
//!
//! Spans point into the YAML file: serde_yaml gives no positions, so
//! [`locate`] finds each key by walking the lines by indentation and each
//! value's text on its line (or the `- item` lines under it), and a
//! [`SourceMap`] takes offsets in the rebuilt text back to the file.
//! Limitation: this is exact for block-style YAML as written in
//! docs/routes.md; a value whose text is not in the file as is (quoted with
//! escapes, folded, spread over lines, reached through an anchor) points at
//! its key instead. A value starting with `"` must be quoted as a whole in
//! YAML (`price: '"gpt-4o" input 2.5 output 10'`).

mod locate;

use crate::routes::ast::{self, Block, Item};
use crate::routes::diag::{did_you_mean, Diagnostic};
use crate::routes::parse::{parse_fragment, Fragment, FragmentKind, SourceMap};
use crate::routes::source::{FileId, Span, Spanned};
use locate::{KeyPos, Locator};
use serde_yaml::{Mapping, Value};

const SECTIONS: [&str; 4] = ["providers", "policies", "routes", "gateway"];

/// Statements that may appear several times: a list is one statement per item.
/// (A `breaker` list is one statement: its items are joined with `, `.)
const REPEATED: [&str; 4] = ["header", "alias", "price", "limit"];

/// Statements whose value is one string: a bare value is quoted for them
/// (`base: https://x` is `base "https://x"`).
const QUOTED: [&str; 3] = ["base", "api_version", "region"];

/// Parses one YAML route file. Never panics; reports every broken statement.
pub fn parse_yaml(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    let mut r = Reader {
        file,
        locator: Locator::new(text),
        items: Vec::new(),
        diags: Vec::new(),
        broken: Vec::new(),
    };
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Null) => {}
        Ok(Value::Mapping(top)) => r.top(&top),
        Ok(_) => {
            let d = Diagnostic::error(Span::new(file, 0, 0), "a YAML route file must be a mapping")
                .hint("start with `providers:`, `policies:`, `routes:` or `gateway:`");
            r.diags.push(d);
        }
        Err(e) => r.diags.push(yaml_error(file, text, &e)),
    }
    (ast::File { items: r.items, broken: r.broken }, r.diags)
}

fn yaml_error(file: FileId, text: &str, e: &serde_yaml::Error) -> Diagnostic {
    let at = e.location().map_or(0, |l| l.index()).min(text.len());
    let message = e.to_string();
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => &message,
    };
    // An error at the end of the file points at its end, not one past it.
    Diagnostic::error(
        Span::new(file, at, (at + 1).min(text.len())),
        format!("invalid YAML: {message}"),
    )
}

/// Text of a scalar key or value (`None` for lists and mappings).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Tagged(t) => scalar(&t.value),
        Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

struct Reader<'a> {
    file: FileId,
    locator: Locator<'a>,
    items: Vec<Item>,
    diags: Vec<Diagnostic>,
    /// Blocks not read (in an unknown section), as `(keyword, name)`.
    broken: Vec<(String, String)>,
}

impl Reader<'_> {
    fn span(&self, key: Option<KeyPos>) -> Span {
        key.map_or(Span::new(self.file, 0, 0), |k| {
            Span::new(self.file, k.start, k.end)
        })
    }

    fn top(&mut self, top: &Mapping) {
        for (k, v) in top {
            let name = scalar(k).unwrap_or_default();
            let key = self.locator.key(&[&name]);
            match name.as_str() {
                "gateway" => {
                    if let Some(b) =
                        self.block(&[&name], key, v, FragmentKind::GatewayStmt, String::new())
                    {
                        self.items.push(Item::Gateway(b.map_stmts(|f| match f {
                            Fragment::GatewayStmt(s) => Some(s),
                            _ => None,
                        })));
                    }
                }
                "providers" | "policies" | "routes" => self.section(&name, key, v),
                _ => {
                    let suggestion = did_you_mean(&name, SECTIONS);
                    let d = Diagnostic::error(self.span(key), format!("unknown section `{name}`"))
                        .label("not a section of a route file")
                        .hint(suggestion.clone().unwrap_or_else(|| {
                            "sections are `providers`, `policies`, `routes` and `gateway`".into()
                        }));
                    self.diags.push(d);
                    // What it holds is not checked: keep references to it quiet.
                    let meant = SECTIONS.iter().find(|s| {
                        suggestion.as_deref().is_some_and(|h| h.contains(&format!("`{s}`")))
                    });
                    if let (Some(section), Value::Mapping(blocks)) = (meant, v) {
                        let keyword = match *section {
                            "providers" => "provider",
                            "policies" => "policy",
                            "routes" => "route",
                            _ => "gateway",
                        };
                        for k in blocks.keys() {
                            if let Some(n) = k.as_str() {
                                self.broken.push((keyword.to_string(), n.to_string()));
                            }
                        }
                    }
                }
            }
        }
    }

    /// `providers:` / `policies:` / `routes:`: names to blocks.
    fn section(&mut self, section: &str, key: Option<KeyPos>, v: &Value) {
        let Value::Mapping(blocks) = v else {
            if !v.is_null() {
                let d = Diagnostic::error(
                    self.span(key),
                    format!("`{section}` must map names to their statements"),
                )
                .hint(format!(
                    "write `{section}:` then each name indented under it"
                ));
                self.diags.push(d);
            }
            return;
        };
        let kind = match section {
            "providers" => FragmentKind::ProviderStmt,
            "policies" => FragmentKind::PolicyStmt,
            _ => FragmentKind::RouteStmt,
        };
        for (name, body) in blocks {
            let name = scalar(name).unwrap_or_default();
            let path = [section, name.as_str()];
            let key = self.locator.key(&path);
            let Some(b) = self.block(&path, key, body, kind, name.clone()) else {
                continue;
            };
            self.items.push(match kind {
                FragmentKind::ProviderStmt => Item::Provider(b.map_stmts(|f| match f {
                    Fragment::ProviderStmt(s) => Some(s),
                    _ => None,
                })),
                FragmentKind::PolicyStmt => Item::Policy(b.map_stmts(|f| match f {
                    Fragment::PolicyStmt(s) => Some(s),
                    _ => None,
                })),
                _ => Item::Route(b.map_stmts(|f| match f {
                    Fragment::RouteStmt(s) => Some(s),
                    _ => None,
                })),
            });
        }
    }

    /// One block: a mapping from statement keyword to the rest of the statement.
    fn block(
        &mut self,
        path: &[&str],
        key: Option<KeyPos>,
        body: &Value,
        kind: FragmentKind,
        name: String,
    ) -> Option<Block<Fragment>> {
        let span = key.map_or(self.span(None), |k| {
            Span::new(self.file, k.start, self.locator.block_end(&k))
        });
        let mut block = Block {
            name: Spanned::new(name, self.span(key)),
            span,
            stmts: Vec::new(),
        };
        let stmts = match body {
            Value::Mapping(m) => m,
            Value::Null => return Some(block),
            _ => {
                let d = Diagnostic::error(
                    self.span(key),
                    format!(
                        "`{}` must map statement keywords to their values",
                        path.join(".")
                    ),
                )
                .hint("write each statement as `keyword: rest of the statement`");
                self.diags.push(d);
                return None;
            }
        };
        for (kw, value) in stmts {
            let kw = scalar(kw).unwrap_or_default();
            let mut full: Vec<&str> = path.to_vec();
            full.push(&kw);
            let key = self.locator.key(&full);
            for (text, map) in self.statements(&kw, key, value) {
                let (fragment, diags) = parse_fragment(kind, self.file, &text, &map);
                self.diags.extend(diags);
                if let Some(f) = fragment {
                    let span = fragment_span(&f);
                    block.stmts.push(Spanned::new(f, span));
                }
            }
        }
        Some(block)
    }

    /// The statement texts for `kw: value`, each with its source map.
    fn statements(
        &mut self,
        kw: &str,
        key: Option<KeyPos>,
        value: &Value,
    ) -> Vec<(String, SourceMap)> {
        let items: Vec<Value> = match value {
            Value::Sequence(s) => s.clone(),
            other => vec![other.clone()],
        };
        let mut texts = Vec::new();
        for v in &items {
            match scalar(v) {
                Some(t) => texts.push(t),
                None => {
                    let d = Diagnostic::error(
                        self.span(key),
                        format!("`{kw}` takes text or a list of texts"),
                    )
                    .hint("nested lists and mappings are not statements");
                    self.diags.push(d);
                    return Vec::new();
                }
            }
        }
        let spots = match key {
            Some(k) => self.locator.values(&k, &texts),
            None => vec![None; texts.len()],
        };
        let is_list = matches!(value, Value::Sequence(_));
        let pieces: Vec<(String, Option<usize>)> = texts.into_iter().zip(spots).collect();
        let quote = match pieces.as_slice() {
            [(piece, _)] => {
                let bare = !(piece.starts_with('"') || kw == "base" && piece.starts_with("env "));
                QUOTED.contains(&kw) && !is_list && bare
            }
            _ => false,
        };
        let (open, sep, close) = match kw {
            _ if quote => ("\"", "", "\""),
            "try" => ("", " else ", ""),
            "keys" if is_list => ("[", ", ", "]"),
            "retry" | "fallback" if is_list => ("on [", ", ", "]"),
            _ => ("", ", ", ""),
        };
        if is_list && REPEATED.contains(&kw) {
            return pieces
                .into_iter()
                .map(|p| self.statement(kw, key, "", "", "", &[p]))
                .collect();
        }
        vec![self.statement(kw, key, open, sep, close, &pieces)]
    }

    /// `kw open item sep item … close`, mapped into the file.
    fn statement(
        &self,
        kw: &str,
        key: Option<KeyPos>,
        open: &str,
        sep: &str,
        close: &str,
        pieces: &[(String, Option<usize>)],
    ) -> (String, SourceMap) {
        let (at, width) = key.map_or((0, 0), |k| (k.start, k.end - k.start));
        let mut map = SourceMap::default();
        let mut text = String::new();
        match key {
            Some(k) => map.exact(0, k.start),
            None => map.approx(0, at, width),
        }
        text.push_str(kw);
        text.push(' ');
        // Synthetic text (brackets, added quotes) stands for the key, or for
        // the edge of the value it wraps when there is one value.
        let single = match pieces {
            [(piece, Some(spot))] => Some((*spot, *spot + piece.len())),
            _ => None,
        };
        if !open.is_empty() {
            match single {
                Some((start, _)) => map.approx(text.len(), start, 0),
                None => map.approx(text.len(), at, width),
            }
            text.push_str(open);
        }
        let quoting = open == "\"";
        for (i, (piece, spot)) in pieces.iter().enumerate() {
            if i > 0 {
                text.push_str(sep);
            }
            let piece = match quoting {
                true => piece.replace('\\', "\\\\").replace('"', "\\\""),
                false => piece.clone(),
            };
            match spot {
                Some(s) if piece.len() == pieces[i].0.len() => map.exact(text.len(), *s),
                _ => map.approx(text.len(), at, width),
            }
            text.push_str(&piece);
        }
        if !close.is_empty() {
            match single {
                Some((_, end)) => map.approx(text.len(), end, 0),
                None => map.approx(text.len(), at, width),
            }
            text.push_str(close);
        }
        (text, map)
    }
}

fn fragment_span(f: &Fragment) -> Span {
    match f {
        Fragment::ProviderStmt(s) => s.span,
        Fragment::PolicyStmt(s) => s.span,
        Fragment::RouteStmt(s) => s.span,
        Fragment::GatewayStmt(s) => s.span,
        Fragment::Cond(s) => s.span,
        Fragment::Target(s) => s.span,
    }
}

impl Block<Fragment> {
    /// The same block with its fragments unwrapped to statements of one kind.
    fn map_stmts<S>(self, f: impl Fn(Fragment) -> Option<Spanned<S>>) -> Block<S> {
        Block {
            name: self.name,
            span: self.span,
            stmts: self.stmts.into_iter().filter_map(|s| f(s.node)).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
