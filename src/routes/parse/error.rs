//! Syntax errors: one pest error becomes one [`Diagnostic`] in words.
//!
//! "expected a duration such as `250ms` or `8s`, found `three`": the
//! alternatives come from [`describe`], the found token is the text at the
//! error position up to whitespace, and a hint is added where one helps
//! (a misspelt keyword, a duration without its unit, an unclosed string).

use super::SourceMap;
use crate::routes::diag::{did_you_mean, Diagnostic};
use crate::routes::grammar::{describe, Rule};
use crate::routes::source::{FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

/// How many alternatives a message lists before "…".
const MAX_ALTERNATIVES: usize = 4;

/// The longest found-token shown.
const MAX_TOKEN: usize = 30;

/// The diagnostic for `err`, which pest raised on `text[offset..]`; `map`
/// takes offsets in `text` to offsets in the file.
pub fn syntax_error(
    err: &Error<Rule>,
    file: FileId,
    text: &str,
    offset: usize,
    map: &SourceMap,
) -> Diagnostic {
    let pos = offset
        + match err.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let pos = floor_boundary(text, pos);
    let token = token_at(text, pos);
    let span = Span::new(file, map.start(pos), map.end(pos, pos + token.len()));
    let found = if token.is_empty() {
        "end of input".to_string()
    } else {
        format!("`{token}`")
    };
    let (positives, negatives) = match &err.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => (positives.clone(), negatives.clone()),
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error(span, message.clone());
        }
    };
    if positives.is_empty() {
        let what = negatives.first().map(|r| describe(*r)).unwrap_or("this");
        return Diagnostic::error(
            span,
            format!("unexpected {found}: {what} is not allowed here"),
        );
    }
    let phrases = phrases(&positives);
    let message = format!("expected {}, found {found}", join_or(&phrases));
    Diagnostic::error(span, message)
        .label(format!(
            "expected {}",
            phrases.first().map_or("something else", |p| p.as_str())
        ))
        .maybe_hint(hint(&positives, token, text, pos))
}

/// The phrases of the expected rules, deduplicated, items collapsed into one.
fn phrases(positives: &[Rule]) -> Vec<String> {
    let items = [
        Rule::file,
        Rule::provider_item,
        Rule::policy_item,
        Rule::route_item,
        Rule::gateway_item,
    ];
    let mut out: Vec<String> = Vec::new();
    for rule in positives {
        let phrase = if items.contains(rule) {
            describe(Rule::item)
        } else {
            describe(*rule)
        };
        if !out.iter().any(|p| p == phrase) {
            out.push(phrase.to_string());
        }
    }
    out
}

/// `a`, `a or b`, `a, b or c`; more than [`MAX_ALTERNATIVES`] end in "or …".
fn join_or(phrases: &[String]) -> String {
    let shown = &phrases[..phrases.len().min(MAX_ALTERNATIVES)];
    match (shown, phrases.len() > MAX_ALTERNATIVES) {
        ([], _) => "something else".to_string(),
        ([one], false) => one.clone(),
        (_, true) => format!("{} or something else", shown.join(", ")),
        ([init @ .., last], false) => format!("{} or {last}", init.join(", ")),
    }
}

/// The text at `pos` up to whitespace (at most [`MAX_TOKEN`] characters).
fn token_at(text: &str, pos: usize) -> &str {
    let rest = &text[pos..];
    let mut end = 0;
    for (i, c) in rest.char_indices() {
        if c.is_whitespace() || i >= MAX_TOKEN {
            break;
        }
        end = i + c.len_utf8();
    }
    &rest[..end]
}

fn floor_boundary(text: &str, pos: usize) -> usize {
    let mut p = pos.min(text.len());
    while !text.is_char_boundary(p) {
        p -= 1;
    }
    p
}

/// A hint for the common mistakes.
fn hint(positives: &[Rule], token: &str, text: &str, pos: usize) -> Option<String> {
    if token.starts_with('"') && !text[pos + 1..].lines().next().unwrap_or("").contains('"') {
        return Some("this string is not closed: strings end with `\"` on the same line".into());
    }
    let word: String = token
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let keywords: Vec<&str> = positives
        .iter()
        .flat_map(|r| keywords_of(*r))
        .copied()
        .collect();
    if !word.is_empty() && !keywords.contains(&word.as_str()) {
        if let Some(h) = did_you_mean(&word, keywords.iter().copied()) {
            return Some(h);
        }
    }
    let is_number = !word.is_empty() && word.chars().all(|c| c.is_ascii_digit() || c == '.');
    if positives.contains(&Rule::duration) && is_number {
        return Some(format!(
            "a duration needs a unit: `{word}ms`, `{word}s`, `{word}m`, `{word}h` or `{word}d`"
        ));
    }
    if positives.contains(&Rule::string) && word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some(format!("quote it: `\"{word}\"`"));
    }
    if positives.contains(&Rule::percent) && is_number {
        return Some(format!("weights are percentages: `{word}%`"));
    }
    if positives.contains(&Rule::compare_op) && token.starts_with('=') {
        return Some("compare with `==`".into());
    }
    None
}

/// The keywords a rule starts with, for "did you mean" hints.
fn keywords_of(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::file
        | Rule::provider_item
        | Rule::policy_item
        | Rule::route_item
        | Rule::gateway_item => &["provider", "policy", "route", "gateway"],
        Rule::jitter_mode => &["full", "equal", "none"],
        Rule::rate_unit => &["rpm", "rpd", "tpm", "tpd"],
        Rule::kw_else => &["else"],
        Rule::kw_with => &["with"],
        Rule::kw_on => &["on"],
        Rule::kw_per => &["per"],
        Rule::kw_attempt => &["attempt"],
        Rule::kw_total => &["total"],
        Rule::kw_first => &["first"],
        Rule::kw_byte => &["byte"],
        Rule::kw_failures => &["failures"],
        Rule::kw_in => &["in"],
        Rule::kw_or => &["or"],
        Rule::kw_and => &["and"],
        Rule::kw_not => &["not"],
        Rule::kw_matches => &["matches"],
        Rule::kw_contains => &["contains"],
        Rule::kw_input => &["input"],
        Rule::kw_output => &["output"],
        Rule::kw_cached => &["cached"],
        Rule::kw_secret => &["secret"],
        Rule::kw_env => &["env"],
        Rule::field => &["model", "endpoint", "key", "header", "metadata", "param"],
        _ => &[],
    }
}
