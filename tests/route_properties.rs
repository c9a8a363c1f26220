//! Property: whatever bytes a route file holds, the front end returns a
//! result — a plan or diagnostics that render — and never panics or hangs.
//!
//! Inputs are the valid fixtures mutated at random (bytes deleted, inserted,
//! swapped; tokens of the language spliced in; lines duplicated or
//! dropped) and pure token soup, from fixed seeds so a failure reproduces.
//! Coverage-guided fuzzing of the same entry point: see `tests/fuzz/`.

#![cfg(not(target_arch = "wasm32"))]

use switchyard::plan::{RoutingPlan, Router};
use switchyard::routes::{self, diag, Options, SourceFile, Sources};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "provider", "policy", "route", "gateway", "{", "}", "(", ")", "[", "]", ",", ":", "=", "..", "%",
    "kind", "openai", "base", "env", "keys", "secret", "header", "limit", "rpm", "tpm", "per", "key",
    "alias", "price", "input", "output", "cached", "api_version", "region", "use", "attempts", "retry",
    "on", "fallback", "backoff", "exponential", "linear", "constant", "jitter", "retry_after", "up", "to",
    "ignore", "timeout", "attempt", "first", "byte", "total", "breaker", "failures", "in", "cooldown",
    "probes", "off", "min", "requests", "when", "cache", "sampled", "try", "else", "split", "with",
    "model", "endpoint", "key.name", "key.tags", "header(\"x\")", "metadata(\"t\")", "param(\"stream\")",
    "==", "!=", "<", ">=", "and", "or", "not", "matches", "contains", "/a+/", "/(/", "\"s\"", "\"",
    "{model}", "250ms", "8s", "1h", "0s", "-1s", "200k", "3", "0", "-2", "1.5", "70%", "0%", "#", "\n",
    "null", "true", "false", "providers:", "routes:", "  - ", "try: ", "  when: ", "\t", "é", "\u{0}",
];

fn check(name: &str, text: &str) {
    let sources = Sources::new(vec![SourceFile::new(name, text)]);
    let compiled = routes::compile_sources(&sources, &Options::default());
    let rendered = diag::render_all(&compiled.diagnostics, &sources, true);
    match &compiled.plan {
        Some(plan) => {
            assert!(!compiled.has_errors());
            let json = serde_json::to_string(plan).unwrap();
            let back = RoutingPlan::from_json(&json).unwrap();
            assert_eq!(&back, plan);
            Router::new(back).unwrap_or_else(|e| panic!("a compiled plan must route: {e}\n{text}"));
        }
        None => assert!(compiled.has_errors(), "no plan and no error for:\n{text}"),
    }
    for d in &compiled.diagnostics {
        assert!(!d.message.is_empty());
        for span in std::iter::once(&d.span).chain(d.related.iter().map(|(s, _)| s)) {
            assert!(span.start <= span.end && span.end as usize <= text.len(), "a span outside the file: {d:?}\n{text}");
        }
    }
    assert!(compiled.diagnostics.is_empty() || !rendered.is_empty());
}

fn seeds() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["tests/routes/valid", "tests/routes/twins", "routes/examples"] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if routes::load::is_route_file(&p) {
                out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no seed files");
    out
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(12)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let spaced = format!(" {token} ");
                bytes.splice(at..at, spaced.bytes());
            }
            2 => bytes.insert(at, rng.next() as u8),
            3 if bytes.len() > 2 => {
                let a = rng.below(bytes.len());
                let b = rng.below(bytes.len());
                bytes.swap(a, b);
            }
            4 => {
                // Duplicate or drop a line.
                let s = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    if rng.below(2) == 0 {
                        lines.insert(i, lines[i]);
                    } else {
                        lines.remove(i);
                    }
                }
                bytes = lines.join("\n").into_bytes();
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, token.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_route_files_always_give_a_result() {
    let seeds = seeds();
    let mut rng = Rng(0x5EED_0001);
    for i in 0..3000 {
        let (name, text) = &seeds[i % seeds.len()];
        let mutated = mutate(&mut rng, text);
        check(name, &mutated);
    }
}

#[test]
fn token_soup_always_gives_a_result() {
    let mut rng = Rng(0x5EED_0002);
    for i in 0..1500 {
        let n = rng.below(60);
        let text: Vec<&str> = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        let name = if i % 3 == 0 { "soup.yaml" } else { "soup.route" };
        check(name, &text.join(" "));
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("route r {{ when {}model == \"a\"{} try p:m }}", "(".repeat(5000), ")".repeat(5000));
    check("deep.route", &deep);
    let deep_targets = format!("provider p {{ kind openai }}\nroute r {{ try {}p:m{} }}", "(".repeat(5000), ")".repeat(5000));
    check("deep.route", &deep_targets);
}

/// Found by `cargo fuzz run yaml_file` (tests/fuzz): a YAML syntax error at
/// the very end of the file got the span `len..len + 1`, one byte past it.
#[test]
fn yaml_errors_at_the_end_of_the_file_point_inside_it() {
    check("eof.yaml", "routes:\n  r:\n    when: model == \"a\"\n  bedrock      - openai:gpt-4o\n");
    check("eof.yaml", "a: b\n c");
    check("eof.yaml", "providers:\n  openai:\n    kind: openai\nroutes:\n  r:\n    when: model == \"a\"\n  bedrock      - openai:gpt-4o\n      - anthropic:claude-sonnet-4-5\n");
}
