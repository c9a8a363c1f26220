//! Route-language benchmarks (native): compiling a generated 1,000-route
//! file, and selecting the route for a request in a 100-route plan.
//!
//! `cargo bench --bench routes` (or `make bench-routes`). Each figure is the
//! median of several timed batches; targets: compile ≤ 5 ms, select ≤ 2 µs.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(not(target_arch = "wasm32"))]
#[path = "timing.rs"]
mod timing;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::timing::median;
    use std::hint::black_box;
    use switchyard::plan::{Facts, KeyFacts, Router};
    use switchyard::routes::{compile_sources, Options, SourceFile, Sources};

    /// A route file with `n` routes of the usual shapes: model lists, header
    /// and parameter conditions, chains, splits, inline policies.
    fn generate(n: usize) -> String {
        let mut s = String::new();
        for p in 0..8 {
            s.push_str(&format!(
                "provider p{p} {{\n  kind openai\n  keys [secret KEY_{p}_A, secret KEY_{p}_B]\n  limit 500 rpm, 200k tpm\n  price \"m{p}\" input 2.50 output 10.00\n}}\n"
            ));
        }
        for q in 0..4 {
            s.push_str(&format!(
                "policy pol{q} {{\n  attempts {}\n  retry on [429, 5xx, timeout]\n  backoff exponential 250ms..8s jitter\n  timeout 20s per attempt, 60s total\n  breaker 5 failures in 30s, cooldown 15s\n}}\n",
                q + 1
            ));
        }
        for r in 0..n {
            let (a, b, c) = (r % 8, (r + 3) % 8, (r + 5) % 8);
            let when = match r % 4 {
                0 => format!("model == \"model-{r}\""),
                1 => format!("model in [\"model-{r}\", \"alias-{r}\"]"),
                2 => format!("model == \"model-{r}\" and header(\"x-tier\") == \"pro\""),
                _ => format!("model == \"model-{r}\" or (param(\"max_tokens\") > {r} and key.tags contains \"t{r}\")"),
            };
            let targets = match r % 3 {
                0 => format!("try p{a}:m{a} with pol{} else p{b}:m{b} else p{c}:{{model}}", r % 4),
                1 => format!("split 70% p{a}:m{a}, 30% (p{b}:m{b} else p{c}:m{c})"),
                _ => format!("try p{a}:m{a} with pol1 {{ attempts 2  timeout 5s per attempt }} else p{b}:m{b}"),
            };
            s.push_str(&format!("route r{r} {{\n  when {when}\n  cache 1h\n  {targets}\n}}\n"));
        }
        s.push_str("route fallback { try p0:{model} }\n");
        s
    }


    pub fn main() {
        let text = generate(1000);
        let sources = Sources::new(vec![SourceFile::new("generated.route", text.clone())]);
        let compiled = compile_sources(&sources, &Options::default());
        assert!(compiled.plan.is_some(), "the generated file must compile");
        let compile = median(15, 3, || {
            black_box(compile_sources(black_box(&sources), &Options::default()));
        });
        // The plainest shape: one model per route, one target.
        let mut plain = String::from("provider p { kind openai }\n");
        for r in 0..1000 {
            plain.push_str(&format!("route r{r} {{ when model == \"model-{r}\"  try p:m{r} }}\n"));
        }
        let plain_sources = Sources::new(vec![SourceFile::new("plain.route", plain.clone())]);
        assert!(compile_sources(&plain_sources, &Options::default()).plan.is_some());
        let compile_plain = median(15, 3, || {
            black_box(compile_sources(black_box(&plain_sources), &Options::default()));
        });

        let small = Sources::new(vec![SourceFile::new("generated.route", generate(100))]);
        let plan = compile_sources(&small, &Options::default()).plan.expect("100 routes compile");
        let router = Router::new(plan).expect("routable");
        let no_header = |_: &str| None;
        let params = serde_json::Map::new();
        let tags: Vec<String> = Vec::new();
        let facts = |model: &'static str| Facts {
            model,
            endpoint: "chat",
            key: KeyFacts { name: "bench", tags: &tags },
            header: &no_header,
            metadata: None,
            params: Some(&params),
        };
        let first = median(21, 20_000, || {
            black_box(router.select(black_box(&facts("model-0"))));
        });
        let middle = median(21, 20_000, || {
            black_box(router.select(black_box(&facts("model-50"))));
        });
        let last = median(21, 20_000, || {
            black_box(router.select(black_box(&facts("nothing-matches"))));
        });

        println!("| benchmark | median | target |");
        println!("|---|---:|---:|");
        println!("| compile a 1,000-route file ({} KiB) | {:.2} ms | ≤ 5 ms |", text.len() / 1024, compile.as_secs_f64() * 1e3);
        println!(
            "| compile 1,000 one-line routes ({} KiB) | {:.2} ms | ≤ 5 ms |",
            plain.len() / 1024,
            compile_plain.as_secs_f64() * 1e3
        );
        println!("| select, 100-route plan, first route matches | {:.3} µs | ≤ 2 µs |", first.as_secs_f64() * 1e6);
        println!("| select, 100-route plan, route 50 matches | {:.3} µs | ≤ 2 µs |", middle.as_secs_f64() * 1e6);
        println!("| select, 100-route plan, only the default matches | {:.3} µs | ≤ 2 µs |", last.as_secs_f64() * 1e6);
    }
}
