//! Tests of the YAML front end.

use super::*;
use crate::routes::ast::*;
use crate::routes::diag::render;
use crate::routes::parse::{parse_file, tests::without_spans, tests::EXAMPLE};
use crate::routes::source::{SourceFile, Sources};

/// The example of docs/routes.md in the YAML form.
const EXAMPLE_YAML: &str = r#"providers:
  openai:
    kind: openai
    keys: [secret OPENAI_KEY_1, secret OPENAI_KEY_2]   # rotated before falling back
    limit: 500 rpm, 200k tpm
    price: '"gpt-4o" input 2.50 output 10.00 cached 1.25'
  claude:
    kind: anthropic
    keys: [secret ANTHROPIC_KEY]
  local:
    kind: ollama
    base: http://127.0.0.1:11434/v1

policies:
  standard:
    attempts: 3
    retry: on [429, 5xx, timeout, connect]
    backoff: exponential 250ms..8s jitter
    timeout: 20s per attempt, 60s total
    breaker: 5 failures in 30s, cooldown 15s

routes:
  smart:
    when: model == "smart" or header("x-tier") == "pro"
    use: standard
    cache: 1h
    limit: 60 rpm per key
    try:
      - openai:gpt-4o
      - claude:claude-sonnet-4-5
      - local:llama3.1 with standard { attempts 1 }
  cheap:
    when: model in ["cheap", "gpt-4o-mini"]
    split: 70% openai:gpt-4o-mini, 30% local:llama3.1
  everything:          # no `when`: the default route
    try: openai:{model}
"#;

/// The YAML example of docs/routes.md as written there.
const DOC_YAML: &str = r#"providers:
  openai:
    kind: openai
    keys: [secret OPENAI_KEY_1, secret OPENAI_KEY_2]
    limit: 500 rpm, 200k tpm
policies:
  standard:
    attempts: 3
    retry: on [429, 5xx, timeout, connect]
    backoff: exponential 250ms..8s jitter
routes:
  smart:
    when: model == "smart" or header("x-tier") == "pro"
    use: standard
    try:
      - openai:gpt-4o
      - claude:claude-sonnet-4-5
"#;

fn ok(text: &str) -> File {
    let (file, diags) = parse_yaml(0, text);
    assert!(diags.is_empty(), "{text}: {diags:?}");
    file
}

fn at(text: &str, span: Span) -> &str {
    &text[span.start as usize..span.end as usize]
}

fn errors(text: &str) -> Vec<String> {
    let (_, diags) = parse_yaml(0, text);
    let sources = Sources::new(vec![SourceFile::new("t.yaml", text)]);
    diags.iter().map(|d| render(d, &sources, false)).collect()
}

#[test]
fn the_example_means_the_same_in_both_forms() {
    let from_yaml = ok(EXAMPLE_YAML);
    let (from_route, diags) = parse_file(0, EXAMPLE);
    assert!(diags.is_empty());
    assert_eq!(without_spans(&from_yaml), without_spans(&from_route));
}

#[test]
fn the_documented_yaml_parses() {
    let file = ok(DOC_YAML);
    assert_eq!(file.items.len(), 3);
    let Item::Route(smart) = &file.items[2] else {
        panic!()
    };
    let RouteStmt::Targets(t) = &smart.stmts[2].node else {
        panic!()
    };
    assert!(matches!(&t.node, Target::Chain(c) if c.len() == 2));
}

#[test]
fn spans_point_into_the_yaml_file() {
    let text = EXAMPLE_YAML;
    let file = ok(text);
    let Item::Provider(openai) = &file.items[0] else {
        panic!()
    };
    assert_eq!(at(text, openai.name.span), "openai");
    assert!(at(text, openai.span).starts_with("openai:\n    kind: openai"));
    assert!(at(text, openai.span).ends_with("cached 1.25'"));
    let ProviderStmt::Keys(keys) = &openai.stmts[1].node else {
        panic!()
    };
    assert_eq!(at(text, keys[1].span), "OPENAI_KEY_2");
    let ProviderStmt::Limit(limit) = &openai.stmts[2].node else {
        panic!()
    };
    assert_eq!(at(text, limit.items[1].0.span), "200k");
    assert_eq!(at(text, openai.stmts[2].span), "limit: 500 rpm, 200k tpm");
    let ProviderStmt::Price { model, .. } = &openai.stmts[3].node else {
        panic!()
    };
    assert_eq!(at(text, model.span), "\"gpt-4o\"");
    let Item::Provider(local) = &file.items[2] else {
        panic!()
    };
    let ProviderStmt::Base(BaseExpr::Url(url)) = &local.stmts[1].node else {
        panic!()
    };
    assert_eq!(url.node, "http://127.0.0.1:11434/v1");
    assert_eq!(at(text, url.span), "http://127.0.0.1:11434/v1");

    let Item::Route(smart) = &file.items[4] else {
        panic!()
    };
    let RouteStmt::When(cond) = &smart.stmts[0].node else {
        panic!()
    };
    assert_eq!(
        at(text, cond.span),
        r#"model == "smart" or header("x-tier") == "pro""#
    );
    let RouteStmt::Targets(t) = &smart.stmts[4].node else {
        panic!()
    };
    let Target::Chain(steps) = &t.node else {
        panic!()
    };
    assert_eq!(at(text, steps[1].span), "claude:claude-sonnet-4-5");
    let Target::Step(last) = &steps[2].node else {
        panic!()
    };
    assert_eq!(
        at(text, last.with.as_ref().unwrap().inline[0].span),
        "attempts 1"
    );
    assert_eq!(at(text, t.span), "openai:gpt-4o\n      - claude:claude-sonnet-4-5\n      - local:llama3.1 with standard { attempts 1 }");
}

#[test]
fn lists_join_per_statement() {
    let text = "policies:\n  p:\n    retry: [429, 5xx]\n    fallback:\n      - context_length\n    breaker:\n      - 5 failures in 30s\n      - cooldown 15s\n    timeout: [20s per attempt, 60s total]\nroutes:\n  r:\n    split:\n      - 70% a:x\n      - 30% b:y\nproviders:\n  p:\n    header:\n      - '\"X-A\" = \"1\"'\n      - '\"X-B\" = secret B'\n    alias: [fast = \"m\"]\n";
    let file = ok(text);
    let s = without_spans(&file);
    assert!(
        s.contains(
            "RetryOn([Spanned { node: Status(429.0), span: _ }, Spanned { node: Class(\"5xx\")"
        ),
        "{s}"
    );
    assert!(
        s.contains("FallbackOn([Spanned { node: Class(\"context_length\")"),
        "{s}"
    );
    // A breaker list is one statement: its items joined with `, `.
    assert_eq!(s.matches("Breaker(").count(), 1, "{s}");
    assert!(s.contains("Breaker([Spanned { node: Failures"), "{s}");
    assert!(s.contains("}, Spanned { node: Cooldown("), "{s}");
    assert!(s.contains("Timeout([Spanned { node: PerAttempt(Spanned { node: 20000.0, span: _ }), span: _ }, Spanned { node: Total"), "{s}");
    assert!(s.contains("Split([(Spanned { node: 70.0"), "{s}");
    assert_eq!(s.matches("Header {").count(), 2, "{s}");
    assert!(s.contains("Alias { alias: Spanned { node: \"fast\""), "{s}");
    // Document order: policies, then routes, then providers.
    assert!(matches!(file.items[0], Item::Policy(_)) && matches!(file.items[2], Item::Provider(_)));
    let Item::Route(r) = &file.items[1] else {
        panic!()
    };
    let RouteStmt::Targets(t) = &r.stmts[0].node else {
        panic!()
    };
    let Target::Split(b) = &t.node else { panic!() };
    assert_eq!(at(text, b[1].1.span), "b:y");
    assert_eq!(at(text, b[1].0.span), "30%");
}

#[test]
fn gateway_and_scalars() {
    let text = "gateway:\n  subrequests: 50\nroutes:\n  r:\n    cache: off\n    when: param(\"stream\") == true\n";
    let file = ok(text);
    let Item::Gateway(g) = &file.items[0] else {
        panic!()
    };
    assert_eq!(g.name.node, "");
    assert_eq!(at(text, g.name.span), "gateway");
    assert!(
        matches!(&g.stmts[0].node, GatewayStmt::Subrequests(n) if n.node == 50.0 && at(text, n.span) == "50")
    );
    let Item::Route(r) = &file.items[1] else {
        panic!()
    };
    assert!(matches!(r.stmts[0].node, RouteStmt::Cache(CacheExpr::Off)));
}

#[test]
fn mistakes_are_reported_in_the_yaml_file() {
    let text = "providers:\n  a:\n    kind: openai\n    knd: x\nroutess:\n  r: {}\npolicies:\n  p:\n    attempts: three\n    backoff: exponential 250..8s\n";
    let (file, diags) = parse_yaml(0, text);
    // The unknown statement is kept for the compiler.
    let Item::Provider(a) = &file.items[0] else {
        panic!()
    };
    assert!(
        matches!(&a.stmts[1].node, ProviderStmt::Unknown(u) if at(text, u.keyword.span) == "knd")
    );
    let e = errors(text);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].starts_with("error: unknown section `routess`\n  --> t.yaml:5:1"),
        "{}",
        e[0]
    );
    assert!(e[0].contains("did you mean `routes`?"), "{}", e[0]);
    assert!(
        e[1].starts_with(
            "error: expected a number such as `3` or `2.5`, found `three`\n  --> t.yaml:9:15"
        ),
        "{}",
        e[1]
    );
    assert!(
        e[2].contains("--> t.yaml:10:26") && e[2].contains("a duration needs a unit"),
        "{}",
        e[2]
    );
    let _ = diags;
}

#[test]
fn yaml_syntax_errors_and_odd_shapes() {
    let e = errors("routes:\n  r:\n    try: a:x\n   bad: [\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("error: invalid YAML"), "{}", e[0]);
    assert!(e[0].contains("t.yaml:4:"), "{}", e[0]);
    for text in ["", "42", "- a\n- b", "routes: 3", "routes:\n  r: [1]", "routes:\n  r:\n    try: {a: b}", "gateway:\n  subrequests:", "\u{0}\u{1}", "routes:\n  r:\n    when: ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((model == \"x\"))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\n"] {
        let (_, diags) = parse_yaml(0, text);
        let sources = Sources::new(vec![SourceFile::new("t.yaml", text)]);
        for d in &diags {
            render(d, &sources, false);
        }
    }
}

/// Pieces of both forms shuffled by a small deterministic generator: neither
/// front end may panic, whatever the order.
#[test]
fn shuffled_pieces_do_not_panic() {
    const PIECES: [&str; 32] = [
        "provider",
        "route",
        "policy",
        "gateway",
        "routes:",
        "providers:",
        "  ",
        "\n",
        "- ",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "'",
        "#",
        "/",
        "\\",
        "try",
        "else",
        "split",
        "70%",
        "a:x",
        "when",
        "model",
        "==",
        "1.5m",
        "é",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..(seed % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            text.push(' ');
        }
        seed = seed.wrapping_add(1);
        let sources = Sources::new(vec![SourceFile::new("t.yaml", text.as_str())]);
        for diags in [parse_yaml(0, &text).1, parse_file(0, &text).1] {
            for d in &diags {
                render(d, &sources, false);
            }
        }
    }
}
