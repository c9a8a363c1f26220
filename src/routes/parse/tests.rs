//! Tests of the `.route` front end.

use super::*;
use crate::routes::ast::*;
use crate::routes::diag::render;
use crate::routes::source::{SourceFile, Sources};

/// The example at the top of docs/routes.md.
pub(crate) const EXAMPLE: &str = r#"provider openai {
  kind openai
  keys [secret OPENAI_KEY_1, secret OPENAI_KEY_2]   # rotated before falling back
  limit 500 rpm, 200k tpm
  price "gpt-4o" input 2.50 output 10.00 cached 1.25
}
provider claude { kind anthropic  keys [secret ANTHROPIC_KEY] }
provider local  { kind ollama  base "http://127.0.0.1:11434/v1" }

policy standard {
  attempts 3
  retry on [429, 5xx, timeout, connect]
  backoff exponential 250ms..8s jitter
  timeout 20s per attempt, 60s total
  breaker 5 failures in 30s, cooldown 15s
}

route smart {
  when model == "smart" or header("x-tier") == "pro"
  use standard
  cache 1h
  limit 60 rpm per key
  try openai:gpt-4o
  else claude:claude-sonnet-4-5
  else local:llama3.1 with standard { attempts 1 }
}

route cheap {
  when model in ["cheap", "gpt-4o-mini"]
  split 70% openai:gpt-4o-mini, 30% local:llama3.1
}

route everything {          # no `when`: the default route
  try openai:{model}
}
"#;

/// The Debug rendering of `value` with every `Span { … }` replaced by `_`:
/// compares trees regardless of where they were written.
pub(crate) fn without_spans<T: std::fmt::Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        out.push('_');
        rest = &rest[i..];
        rest = &rest[rest.find('}').map_or(rest.len(), |j| j + 1)..];
    }
    out.push_str(rest);
    out
}

fn ok(text: &str) -> File {
    let (file, diags) = parse_file(0, text);
    assert!(diags.is_empty(), "{text}: {diags:?}");
    file
}

fn errors(text: &str) -> Vec<String> {
    let (_, diags) = parse_file(0, text);
    let sources = Sources::new(vec![SourceFile::new("t.route", text)]);
    diags.iter().map(|d| render(d, &sources, false)).collect()
}

fn at(text: &str, span: Span) -> &str {
    &text[span.start as usize..span.end as usize]
}

fn provider(stmts: &str) -> Vec<ProviderStmt> {
    match ok(&format!("provider p {{\n{stmts}\n}}")).items.remove(0) {
        Item::Provider(b) => b.stmts.into_iter().map(|s| s.node).collect(),
        other => panic!("{other:?}"),
    }
}

fn policy(stmts: &str) -> Vec<PolicyStmt> {
    match ok(&format!("policy p {{\n{stmts}\n}}")).items.remove(0) {
        Item::Policy(b) => b.stmts.into_iter().map(|s| s.node).collect(),
        other => panic!("{other:?}"),
    }
}

fn route(stmts: &str) -> Vec<RouteStmt> {
    match ok(&format!("route r {{\n{stmts}\n}}")).items.remove(0) {
        Item::Route(b) => b.stmts.into_iter().map(|s| s.node).collect(),
        other => panic!("{other:?}"),
    }
}

fn when(cond: &str) -> String {
    match route(&format!("when {cond}")).remove(0) {
        RouteStmt::When(c) => without_spans(&c.node),
        other => panic!("{other:?}"),
    }
}

fn target(stmt: &str) -> String {
    match route(stmt).remove(0) {
        RouteStmt::Targets(t) => without_spans(&t.node),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_documented_example_parses() {
    let file = ok(EXAMPLE);
    assert_eq!(file.items.len(), 7);
    let Item::Route(smart) = &file.items[4] else {
        panic!()
    };
    assert_eq!(smart.name.node, "smart");
    assert_eq!(at(EXAMPLE, smart.name.span), "smart");
    assert!(
        at(EXAMPLE, smart.span).starts_with("route smart {")
            && at(EXAMPLE, smart.span).ends_with('}')
    );
    assert_eq!(smart.stmts.len(), 5);
    let RouteStmt::Targets(t) = &smart.stmts[4].node else {
        panic!()
    };
    assert_eq!(
        at(EXAMPLE, t.span),
        "openai:gpt-4o\n  else claude:claude-sonnet-4-5\n  else local:llama3.1 with standard { attempts 1 }"
    );
    let Target::Chain(steps) = &t.node else {
        panic!()
    };
    let Target::Step(last) = &steps[2].node else {
        panic!()
    };
    assert_eq!(last.model.node, ModelExpr::Named("llama3.1".into()));
    let with = last.with.as_ref().unwrap();
    assert_eq!(at(EXAMPLE, with.span), "with standard { attempts 1 }");
    assert_eq!(at(EXAMPLE, with.inline[0].span), "attempts 1");
    assert!(matches!(file.items[0], Item::Provider(_)));
}

#[test]
fn provider_statements() {
    let stmts = provider(
        r#"kind openai-compatible
base env API_BASE
base "https://x"
keys []
header "X-A" = "v\"1"
header "X-B" = secret TOKEN
limit 500 rpm, 1.5m tpd per key
alias fast = "gpt-4o-mini"
price "m" input 2.50 output 10
api_version "2024-10-21"
region "us-east-1""#,
    );
    let s = without_spans(&stmts);
    for part in [
        r#"Kind(Spanned { node: "openai-compatible""#,
        r#"Base(Env(Spanned { node: "API_BASE""#,
        r#"Base(Url(Spanned { node: "https://x""#,
        "Keys([])",
        r#"Header { name: Spanned { node: "X-A", span: _ }, value: Text(Spanned { node: "v\"1""#,
        r#"value: Secret(Spanned { node: "TOKEN""#,
        r#"Limit(LimitExpr { items: [(Spanned { node: 500.0, span: _ }, Spanned { node: "rpm", span: _ }), (Spanned { node: 1500000.0, span: _ }, Spanned { node: "tpd", span: _ })], scope: Some(Spanned { node: "key""#,
        r#"Alias { alias: Spanned { node: "fast", span: _ }, model: Spanned { node: "gpt-4o-mini""#,
        "input: Spanned { node: 2.5, span: _ }, output: Spanned { node: 10.0, span: _ }, cached: None",
        r#"ApiVersion(Spanned { node: "2024-10-21""#,
        r#"Region(Spanned { node: "us-east-1""#,
    ] {
        assert!(s.contains(part), "{part}\nnot in\n{s}");
    }
}

#[test]
fn policy_statements() {
    let s = without_spans(&policy(
        "use standard\nattempts 0\nfallback on [context_length]\nbackoff constant 1s\n\
         backoff linear 100ms..2s jitter equal\nretry_after up to 30s\nretry_after ignore\n\
         timeout 20s per attempt, 5s first byte, 60s total\n\
         breaker 50% failures in 60s min 20 requests, cooldown 30s, probes 2\nbreaker off",
    ));
    for part in [
        r#"Use(Spanned { node: "standard""#,
        "Attempts(Spanned { node: 0.0",
        r#"FallbackOn([Spanned { node: Class("context_length")"#,
        r#"shape: Spanned { node: "constant", span: _ }, base: Spanned { node: 1000.0, span: _ }, cap: None, jitter: None"#,
        r#"base: Spanned { node: 100.0, span: _ }, cap: Some(Spanned { node: 2000.0, span: _ }), jitter: Some(Spanned { node: "equal""#,
        "RetryAfter(Some(Spanned { node: 30000.0",
        "RetryAfter(None)",
        "Timeout([Spanned { node: PerAttempt(Spanned { node: 20000.0, span: _ }), span: _ }, Spanned { node: FirstByte(Spanned { node: 5000.0, span: _ }), span: _ }, Spanned { node: Total(Spanned { node: 60000.0",
        "Rate { percent: Spanned { node: 50.0, span: _ }, window: Spanned { node: 60000.0, span: _ }, min_requests: Some(Spanned { node: 20.0",
        "Cooldown(Spanned { node: 30000.0", "Probes(Spanned { node: 2.0", "Breaker([Spanned { node: Off",
    ] {
        assert!(s.contains(part), "{part}\nnot in\n{s}");
    }
    let s = without_spans(&policy(
        "retry on [429, 5xx]\nbackoff exponential 250ms..8s jitter\nbreaker 5 failures in 1.5m",
    ));
    assert!(
        s.contains(
            r#"RetryOn([Spanned { node: Status(429.0), span: _ }, Spanned { node: Class("5xx")"#
        ),
        "{s}"
    );
    assert!(s.contains(r#"jitter: Some(Spanned { node: "full""#), "{s}");
    assert!(
        s.contains(
            "Failures { count: Spanned { node: 5.0, span: _ }, window: Spanned { node: 90000.0"
        ),
        "{s}"
    );
}

#[test]
fn durations_and_counts() {
    assert_eq!(duration_ms("250ms"), Some(250.0));
    assert_eq!(duration_ms("1.5s"), Some(1500.0));
    assert_eq!(duration_ms("2m"), Some(120_000.0));
    assert_eq!(duration_ms("1h"), Some(3_600_000.0));
    assert_eq!(duration_ms("1d"), Some(86_400_000.0));
    assert_eq!(count_value("200k"), Some(200_000.0));
    assert_eq!(count_value("1.5m"), Some(1_500_000.0));
    assert_eq!(count_value("7"), Some(7.0));
}

#[test]
fn route_statements() {
    let s = without_spans(&route(
        "cache 1h sampled\ncache off\nlimit 60 rpm per route\nuse fast",
    ));
    assert!(
        s.contains("Cache(Ttl { ttl: Spanned { node: 3600000.0, span: _ }, sampled: true })"),
        "{s}"
    );
    assert!(s.contains("Cache(Off)"), "{s}");
    assert!(s.contains(r#"scope: Some(Spanned { node: "route""#), "{s}");
    assert!(s.contains(r#"Use(Spanned { node: "fast""#), "{s}");
}

#[test]
fn targets() {
    assert_eq!(
        target("try local:\"llama3.1:8b\""),
        r#"Step(StepExpr { provider: Spanned { node: "local", span: _ }, model: Spanned { node: Named("llama3.1:8b"), span: _ }, with: None })"#
    );
    assert!(target("try a:{model}").contains("model: Spanned { node: Request"));
    let t = target("try a:x with { timeout 5s per attempt }");
    assert!(
        t.contains("with: Some(WithExpr { policy: None, inline: [Spanned { node: Timeout"),
        "{t}"
    );
    let t = target("try a:x with p");
    assert!(
        t.contains(
            r#"with: Some(WithExpr { policy: Some(Spanned { node: "p", span: _ }), inline: []"#
        ),
        "{t}"
    );
    let t = target("try (split 50% a:x, 50% b:y) else c:z");
    assert!(
        t.starts_with("Chain([Spanned { node: Split([(Spanned { node: 50.0"),
        "{t}"
    );
    let t = target("split 70% (a:x else b:y), 30% c:z");
    assert!(
        t.starts_with("Split([(Spanned { node: 70.0, span: _ }, Spanned { node: Chain(["),
        "{t}"
    );
    assert_eq!(target("try (a:x)"), target("try a:x"));
}

#[test]
fn target_spans() {
    let text = "route r {\n  split 70% (a:x else b:y), 30% c:z\n}";
    let Item::Route(r) = ok(text).items.remove(0) else {
        panic!()
    };
    assert_eq!(
        at(text, r.stmts[0].span),
        "split 70% (a:x else b:y), 30% c:z"
    );
    let RouteStmt::Targets(t) = &r.stmts[0].node else {
        panic!()
    };
    assert_eq!(at(text, t.span), "70% (a:x else b:y), 30% c:z");
    let Target::Split(branches) = &t.node else {
        panic!()
    };
    assert_eq!(at(text, branches[0].0.span), "70%");
    assert_eq!(at(text, branches[0].1.span), "a:x else b:y");
    assert_eq!(at(text, branches[1].1.span), "c:z");
}

#[test]
fn conditions() {
    assert_eq!(
        when(r#"model == "smart""#),
        r#"Compare { field: Spanned { node: Model, span: _ }, op: Spanned { node: "==", span: _ }, value: Spanned { node: Text("smart"), span: _ } }"#
    );
    assert!(when(r#"model not in ["c"]"#).contains("negated: true"));
    assert!(when(r#"model in ["a", "b"]"#).contains(r#"negated: false, values: [Spanned { node: Text("a"), span: _ }, Spanned { node: Text("b")"#));
    assert!(when(r#"model matches /^gpt\/4/"#).contains(r#"pattern: Spanned { node: "^gpt/4""#));
    assert!(when(r#"endpoint == "chat""#).contains("Endpoint"));
    assert!(when(r#"header("x-team") != null"#).contains(r#"Header("x-team")"#));
    assert!(when(r#"header("x-team") != null"#).contains("Null"));
    assert!(when(r#"metadata("team") == "search""#).contains(r#"Metadata("team")"#));
    assert!(when(r#"key.name == "ci""#).contains("KeyName"));
    assert!(when(r#"key.tags contains "beta""#).contains(
        r#"Contains { field: Spanned { node: KeyTags, span: _ }, value: Spanned { node: "beta""#
    ));
    assert!(when(r#"param("stream") == true"#).contains("Bool(true)"));
    assert!(when(r#"param("max_tokens") > 4000"#)
        .contains(r#"op: Spanned { node: ">", span: _ }, value: Spanned { node: Number(4000.0)"#));
    // `and` binds tighter than `or`; `not` applies to one term.
    let c = when(r#"not model == "a" or endpoint == "b" and key.name == "c""#);
    assert!(
        c.starts_with("Or([Spanned { node: Not(Spanned { node: Compare"),
        "{c}"
    );
    assert!(c.contains("Spanned { node: And(["), "{c}");
    let c = when(r#"(model == "a" or model == "b") and not (endpoint == "c")"#);
    assert!(c.starts_with("And([Spanned { node: Or(["), "{c}");
}

#[test]
fn condition_spans() {
    let text = "route r {\n  when not model == \"a\" and key.tags contains \"x\"\n}";
    let Item::Route(r) = ok(text).items.remove(0) else {
        panic!()
    };
    let RouteStmt::When(c) = &r.stmts[0].node else {
        panic!()
    };
    assert_eq!(
        at(text, c.span),
        "not model == \"a\" and key.tags contains \"x\""
    );
    let Cond::And(parts) = &c.node else { panic!() };
    assert_eq!(at(text, parts[0].span), "not model == \"a\"");
    let Cond::Contains { field, value } = &parts[1].node else {
        panic!()
    };
    assert_eq!(at(text, field.span), "key.tags");
    assert_eq!(at(text, value.span), "\"x\"");
}

#[test]
fn gateway_and_unknown_statements() {
    let text =
        "gateway {\n  subrequests 50\n  subrequest 3\n}\nroute r { tyr a:b  when model == \"x\" }";
    let file = ok(text);
    let Item::Gateway(g) = &file.items[0] else {
        panic!()
    };
    assert_eq!(g.name.node, "");
    assert_eq!(at(text, g.name.span), "gateway");
    assert!(matches!(
        g.stmts[0].node,
        GatewayStmt::Subrequests(Spanned { node: 50.0, .. })
    ));
    let GatewayStmt::Unknown(u) = &g.stmts[1].node else {
        panic!()
    };
    assert_eq!(at(text, u.keyword.span), "subrequest");
    assert_eq!(at(text, g.stmts[1].span), "subrequest 3");
    // An unknown statement runs to the end of its line (or a `}`).
    let Item::Route(r) = &file.items[1] else {
        panic!()
    };
    assert_eq!(r.stmts.len(), 1);
    assert_eq!(at(text, r.stmts[0].span), "tyr a:b  when model == \"x\"");
}

#[test]
fn keywords_are_whole_words() {
    let file = ok("provider providers { kind kinds }\nroute routes { try providers:x }");
    let Item::Provider(p) = &file.items[0] else {
        panic!()
    };
    assert_eq!(p.name.node, "providers");
    assert!(matches!(&p.stmts[0].node, ProviderStmt::Kind(k) if k.node == "kinds"));
    // `providers` at the top level is not the keyword `provider`.
    let e = errors("providers x { }");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("error: expected an item (`provider`, `policy`, `route` or `gateway`), found `providers`"), "{}", e[0]);
    // A statement keyword that continues (`retry_after` vs `retry`, `keysx`) is an unknown word.
    assert!(matches!(
        &policy("retry_after ignore")[0],
        PolicyStmt::RetryAfter(None)
    ));
    assert!(matches!(
        &provider("keysx [secret A]")[0],
        ProviderStmt::Unknown(_)
    ));
}

#[test]
fn syntax_errors_in_words_at_the_right_place() {
    let e = errors("policy p {\n  attempts 3\n  timeout three per attempt\n}\n");
    assert_eq!(
        e,
        ["error: expected a duration such as `250ms` or `8s`, found `three`\n  --> t.route:3:11\n   |\n 3 |   timeout three per attempt\n   |           ^^^^^ expected a duration such as `250ms` or `8s`\n"]
    );
    let e = errors("policy p {\n  backoff exponential 250..8s\n}");
    assert!(
        e[0].contains("found `250..8s`") && e[0].contains("--> t.route:2:23"),
        "{}",
        e[0]
    );
    assert!(e[0].contains("hint: a duration needs a unit"), "{}", e[0]);
    let e = errors("provder openai { kind openai }");
    assert!(e[0].contains("hint: did you mean `provider`?"), "{}", e[0]);
    let e = errors("policy p {\n  timeout 20s per atempt\n}");
    assert!(e[0].contains("--> t.route:2:19"), "{}", e[0]);
    assert!(e[0].contains("did you mean `attempt`?"), "{}", e[0]);
    let e = errors("provider p {\n  base \"http://x\n}");
    assert!(e[0].contains("this string is not closed"), "{}", e[0]);
    let e = errors("provider p {\n  kind openai\n");
    assert!(
        e[0].contains(
            "expected `}` or a provider statement such as `kind` or `keys`, found end of input"
        ),
        "{}",
        e[0]
    );
}

#[test]
fn recovery_reports_every_broken_item() {
    let text = "provider a {\n  kind openai\n  limit lots rpm\n}\n\nroute ok { try a:x }\n\npolicy p {\n  attempts many\n}\nroute last { try a:y }\n";
    let (file, diags) = parse_file(0, text);
    assert_eq!(diags.len(), 2, "{diags:?}");
    let sources = Sources::new(vec![SourceFile::new("t.route", text)]);
    assert_eq!(sources.location(diags[0].span), "t.route:3:9");
    assert_eq!(sources.location(diags[1].span), "t.route:9:12");
    let names: Vec<&str> = file
        .items
        .iter()
        .map(|i| match i {
            Item::Route(b) => b.name.node.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(names, ["ok", "last"]);
    // A missing `}` is reported where the next item starts.
    let e = errors("provider a {\n  kind openai\nroute r { try a:x }\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("found `route`") && e[0].contains("t.route:3:1"),
        "{}",
        e[0]
    );
}

#[test]
fn garbage_does_not_panic() {
    let deep_parens = format!(
        "route r {{ when {}model == \"x\"{} }}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let deep_targets = format!(
        "route r {{ try {}a:x{} }}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let many_nots = format!("route r {{ when {} model == \"x\" }}", "not ".repeat(5_000));
    let inputs = [
        String::new(),
        "\u{0}\u{1}\u{ff}\u{fffd}ÿ€".into(),
        "provider".into(),
        "provider a {".into(),
        "provider a { base \"unterminated".into(),
        "# only a comment without newline".into(),
        "route r { when model matches /unterminated }".into(),
        "route r { try a:x with { attempts 1 ".into(),
        "}}}}{{{{".into(),
        "route r { split 70% }".into(),
        "provider p { limit 99999999999999999999999999999999999k rpm }".into(),
        "policy p { attempts -1 }".into(),
        "gateway { subrequests 1e5 }".into(),
        "route\u{0} r {".into(),
        "é".repeat(1000),
        deep_parens,
        deep_targets,
        many_nots,
    ];
    for input in &inputs {
        let (_, diags) = parse_file(0, input);
        let sources = Sources::new(vec![SourceFile::new("t.route", input.as_str())]);
        for d in &diags {
            render(d, &sources, false);
        }
    }
    let e = errors(&format!(
        "route r {{ try {}a:x{} }}",
        "(".repeat(100),
        ")".repeat(100)
    ));
    assert!(e[0].contains("nested more than 64 deep"), "{}", e[0]);
    let (_, d) = parse_file(
        0,
        &format!("route r {{ when {} model == \"x\" }}", "not ".repeat(100)),
    );
    assert!(d[0].message.contains("`not`s in a row"));
}

#[test]
fn fragments_map_spans() {
    let mut map = SourceMap::default();
    map.approx(0, 100, 4);
    map.exact(5, 200);
    let (f, d) = parse_fragment(FragmentKind::RouteStmt, 3, "when model == \"x\"", &map);
    assert!(d.is_empty());
    let Some(Fragment::RouteStmt(s)) = f else {
        panic!()
    };
    assert_eq!(s.span, Span::new(3, 100, 212));
    let RouteStmt::When(c) = s.node else { panic!() };
    assert_eq!(c.span, Span::new(3, 200, 212));
    let (f, d) = parse_fragment(
        FragmentKind::Target,
        0,
        "split 50% a:x, 50% b:y",
        &SourceMap::offset(10),
    );
    assert!(
        d.is_empty()
            && matches!(
                f,
                Some(Fragment::Target(Spanned {
                    node: Target::Split(_),
                    ..
                }))
            )
    );
    let (f, d) = parse_fragment(FragmentKind::Cond, 0, "model ==", &SourceMap::offset(10));
    assert!(f.is_none());
    assert_eq!(d[0].span, Span::new(0, 18, 18));
    assert!(
        d[0].message.starts_with("expected a value"),
        "{}",
        d[0].message
    );
}

#[test]
fn hints_for_common_mistakes() {
    let e = errors("route r {\n  when model = \"x\"\n}");
    assert!(
        e[0].contains("found `=`") && e[0].contains("hint: compare with `==`"),
        "{}",
        e[0]
    );
    let e = errors("route r { split 70 a:x }");
    assert!(
        e[0].contains("hint: weights are percentages: `70%`"),
        "{}",
        e[0]
    );
    let e = errors("route r { when header(x) == 1 }");
    assert!(e[0].contains("hint: quote it: `\"x\"`"), "{}", e[0]);
    // A dangling `else` is a syntax error, not an unknown statement.
    let e = errors("route r {\n  try a:x else\n}");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("found `}`") && e[0].contains("t.route:3:1"),
        "{}",
        e[0]
    );
}
