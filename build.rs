//! Compiles the route files into the plan the Worker embeds.
//!
//! The route-language front end is plain Rust in `src/routes/` (with the plan
//! types in `src/plan/`); this build script compiles those same modules in,
//! so `cargo build` — and with it `wrangler deploy` — fails with the same
//! diagnostics as `yard check` when a route file has a mistake. The plan is
//! written to `$OUT_DIR/plan.json`; `src/edge` includes it.
//!
//! `SWITCHYARD_ROUTES` names other route files or directories
//! (`:`-separated) than the default `routes/`.

#![allow(dead_code, unused_imports)]

#[path = "src/plan/mod.rs"]
mod plan;
#[path = "src/keyed.rs"]
mod keyed;
#[path = "src/seq.rs"]
mod seq;
#[path = "src/wire.rs"]
mod wire;
#[path = "src/routes/mod.rs"]
mod routes;

use std::path::PathBuf;

fn main() {
    for watched in ["routes", "grammar", "src/routes", "src/plan", "src/wire.rs", "src/keyed.rs"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=SWITCHYARD_ROUTES");
    let paths: Vec<PathBuf> = std::env::var("SWITCHYARD_ROUTES")
        .unwrap_or_else(|_| "routes".into())
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let sources = match routes::load::read(&paths) {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot read the route files: {e}")),
    };
    let compiled = routes::compile_sources(&sources, &routes::Options::default());
    for d in compiled.diagnostics.iter().filter(|d| !d.is_error()) {
        for line in routes::diag::render(d, &sources, false).lines() {
            println!("cargo:warning={line}");
        }
    }
    let Some(plan) = compiled.plan else {
        fail(&routes::diag::render_all(&compiled.diagnostics, &sources, false));
    };
    if plan.routes.is_empty() {
        fail("the route files define no route: the gateway would answer every request with 404");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("plan.json");
    let json = serde_json::to_string(&plan).expect("a plan always serializes");
    if let Err(e) = std::fs::write(&out, json) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("\nroute files: {message}");
    std::process::exit(1);
}
