//! The route language against its fixtures, one file per case:
//!
//! - `tests/routes/invalid/*`: each file must fail; its rendered diagnostics
//!   must equal the snapshot next to it (`<file>.stderr`);
//! - `tests/routes/valid/*` (files, or directories compiled as one plan):
//!   each must compile without errors; its plan must equal `<name>.plan.json`
//!   and its warnings `<name>.stderr` (absent when there are none);
//! - `tests/routes/twins/NAME.route` and `NAME.yaml` must compile to the
//!   same plan (same hash);
//! - `routes/` and `routes/examples/` must compile without errors.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test --test routes` rewrites the snapshots;
//! review the diff before committing it.

#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use switchyard::routes::{self, diag, load, Options};

fn update() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some()
}

fn entries(dir: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || load::is_route_file(p))
        .collect();
    found.sort();
    found
}

/// Compares `actual` with the snapshot at `path` (or writes it).
fn snapshot(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if update() {
        if actual.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, actual).unwrap();
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{} differs (UPDATE_SNAPSHOTS=1 to accept)\n--- expected\n{expected}--- actual\n{actual}",
            path.display()
        ));
    }
}

fn compile(paths: &[PathBuf]) -> (routes::Compiled, String) {
    let sources = load::read(paths).unwrap();
    let compiled = routes::compile_sources(&sources, &Options::default());
    let rendered = diag::render_all(&compiled.diagnostics, &sources, false);
    (compiled, rendered)
}

fn with_extension(path: &Path, ext: &str) -> PathBuf {
    PathBuf::from(format!("{}.{ext}", path.display()))
}

#[test]
fn invalid_files_report_their_mistakes() {
    let mut failures = Vec::new();
    let files = entries("tests/routes/invalid");
    assert!(files.len() >= 40, "only {} invalid fixtures", files.len());
    for file in files {
        let (compiled, rendered) = compile(std::slice::from_ref(&file));
        if !compiled.has_errors() {
            failures.push(format!("{} compiled without errors", file.display()));
        }
        assert!(compiled.plan.is_none(), "{}: a plan despite errors", file.display());
        snapshot(&with_extension(&file, "stderr"), &rendered, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn valid_files_compile_to_their_plans() {
    let mut failures = Vec::new();
    let cases = entries("tests/routes/valid");
    assert!(!cases.is_empty());
    for case in cases {
        let (compiled, rendered) = compile(std::slice::from_ref(&case));
        let Some(plan) = compiled.plan else {
            failures.push(format!("{} did not compile:\n{rendered}", case.display()));
            continue;
        };
        let json = serde_json::to_string_pretty(&plan).unwrap() + "\n";
        snapshot(&with_extension(&case, "plan.json"), &json, &mut failures);
        snapshot(&with_extension(&case, "stderr"), &rendered, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn yaml_and_route_twins_compile_to_the_same_plan() {
    let files = entries("tests/routes/twins");
    let routes: Vec<&PathBuf> = files.iter().filter(|p| p.extension().is_some_and(|e| e == "route")).collect();
    assert!(!routes.is_empty());
    for route in routes {
        let yaml = route.with_extension("yaml");
        let (a, ra) = compile(std::slice::from_ref(route));
        let (b, rb) = compile(std::slice::from_ref(&yaml));
        let (a, b) = (a.plan.unwrap_or_else(|| panic!("{ra}")), b.plan.unwrap_or_else(|| panic!("{rb}")));
        assert_eq!(a.hash, b.hash, "{} and its YAML twin differ", route.display());
        assert_eq!(a.providers, b.providers);
        assert_eq!(a.models, b.models);
        let strip = |p: &switchyard::plan::RoutingPlan| {
            p.routes.iter().map(|r| (r.name.clone(), r.when.clone(), r.targets.clone(), r.cache, r.limits.clone())).collect::<Vec<_>>()
        };
        assert_eq!(strip(&a), strip(&b));
    }
}

#[test]
fn shipped_routes_and_examples_compile() {
    for dir in ["routes", "routes/examples"] {
        let (compiled, rendered) = compile(&[PathBuf::from(dir)]);
        assert!(compiled.plan.is_some(), "{dir}:\n{rendered}");
    }
}
