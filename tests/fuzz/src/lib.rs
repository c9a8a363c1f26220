//! What every fuzz target checks: one route file, whatever its bytes, goes
//! through the whole front end (parse or YAML, compile, render) and comes
//! out as a plan or as errors — never a panic, never both, never neither.

pub mod inbound;

use switchyard::plan::{Router, RoutingPlan};
use switchyard::routes::{self, compile::content_hash, diag, Options, SourceFile, Sources};

/// Compiles `data` (lossily decoded as UTF-8) as the one file `name` and
/// asserts the front end's contract. Panics (a fuzz finding) when it breaks.
pub fn check(name: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let sources = Sources::new(vec![SourceFile::new(name, text.as_str())]);
    let compiled = routes::compile_sources(&sources, &Options::default());

    // Rendering never panics, with or without colour, and says something
    // whenever there is something to say.
    let plain = diag::render_all(&compiled.diagnostics, &sources, false);
    let _ = diag::render_all(&compiled.diagnostics, &sources, true);
    assert!(compiled.diagnostics.is_empty() || !plain.is_empty());

    // Every diagnostic has a message and a span inside the file.
    for d in &compiled.diagnostics {
        assert!(!d.message.is_empty(), "a diagnostic without a message");
        for span in std::iter::once(&d.span).chain(d.related.iter().map(|(s, _)| s)) {
            assert_eq!(span.file, 0, "a span in a file that does not exist: {d:?}");
            assert!(span.start <= span.end, "a backwards span: {d:?}");
            assert!(span.end as usize <= text.len(), "a span past the end of the file: {d:?}");
        }
    }

    match &compiled.plan {
        Some(plan) => {
            assert!(!compiled.has_errors(), "a plan next to errors");
            // The plan survives its stored form (embedded or in KV) …
            let json = serde_json::to_string(plan).expect("a plan serializes");
            let back = RoutingPlan::from_json(&json).expect("a compiled plan reads back");
            assert_eq!(&back, plan, "the plan changed through JSON");
            // … its hash is the hash of what it says …
            assert_eq!(content_hash(&back), plan.hash, "the content hash does not match the plan");
            // … and the Worker can route with it.
            if let Err(e) = Router::new(back) {
                panic!("a compiled plan must route: {e}");
            }
        }
        None => assert!(compiled.has_errors(), "no plan and no error"),
    }
}
