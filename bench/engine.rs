//! Execution-engine overhead (native): route selection, target-tree walk
//! and one engine run against a world that answers at once, per request.
//!
//! `cargo bench --bench engine` (or `make bench-engine`). Target: ≤ 5 µs
//! per request, I/O excluded. Also timed: a run whose first target fails
//! (503, retried once, then the fallback answers), to show what the
//! engine's own bookkeeping costs on the failure path.

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
    use futures::executor::block_on;
    use std::hint::black_box;
    use switchyard::engine::{run, Effects, Sent, Try};
    use switchyard::plan::{pick_chain, Facts, KeyFacts, Router};
    use switchyard::routes::{compile_sources, Options, SourceFile, Sources};

    /// Answers every try at once: 200, or `fail_first` failures of 503 first.
    struct Instant200 {
        now: u64,
        fail_first: u32,
    }

    impl Effects for Instant200 {
        type Body = ();
        async fn send(&mut self, _: &Try<'_>) -> Sent<()> {
            if self.fail_first > 0 {
                self.fail_first -= 1;
                return Sent::Answer { status: 503, retry_after_ms: None, error: Some(String::new()), body: () };
            }
            Sent::Answer { status: 200, retry_after_ms: None, error: None, body: () }
        }
        async fn sleep(&mut self, ms: u64) {
            self.now += ms;
        }
        fn now_ms(&self) -> u64 {
            self.now
        }
        fn random(&mut self) -> f64 {
            0.5
        }
    }

    fn plan_source(routes: usize) -> String {
        let mut s = String::from(
            "provider a { kind openai  keys [secret A1, secret A2] }\nprovider b { kind groq  keys [secret B] }\n\
             policy default { attempts 2  backoff constant 10ms }\n",
        );
        for r in 0..routes {
            s.push_str(&format!(
                "route r{r} {{ when model == \"model-{r}\" or header(\"x-route\") == \"r{r}\"  try a:m{r} else b:m{r} }}\n"
            ));
        }
        s
    }


    pub fn main() {
        let sources = Sources::new(vec![SourceFile::new("engine.route", plan_source(100))]);
        let plan = compile_sources(&sources, &Options::default()).plan.expect("the bench plan compiles");
        let router = Router::new(plan).expect("routable");
        let headers = |_: &str| None;
        let tags: Vec<String> = Vec::new();
        let request = |fail_first: u32| {
            let facts = Facts {
                model: "model-50",
                endpoint: "chat",
                key: KeyFacts { name: "bench", tags: &tags },
                header: &headers,
                metadata: None,
                params: None,
            };
            let route = router.select(&facts).expect("route 50 matches");
            let chain = pick_chain(&route.targets, &mut || 0.5);
            let mut world = Instant200 { now: 0, fail_first };
            block_on(run(router.plan(), &chain, &mut world)).is_ok()
        };
        assert!(request(0) && request(2));
        let healthy = median(21, 20_000, || {
            black_box(request(black_box(0)));
        });
        let failing = median(21, 20_000, || {
            black_box(request(black_box(2)));
        });
        println!("| engine, per request (100-route plan, route 50) | median | target |");
        println!("|---|---:|---:|");
        println!("| select + plan walk + run, healthy target | {:.3} µs | ≤ 5 µs |", healthy.as_secs_f64() * 1e6);
        println!("| same, first target 503 twice then fallback (3 tries) | {:.3} µs | (report) |", failing.as_secs_f64() * 1e6);
    }
}
