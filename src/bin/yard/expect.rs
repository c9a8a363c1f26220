//! `yard test`: route expectations in `*.expect.yaml` files next to the
//! route files.
//!
//! ```yaml
//! - name: pro users get the smart route      # optional
//!   request:
//!     model: smart
//!     headers: { x-tier: pro }               # also: key, tags, endpoint, params, metadata
//!   route: smart                             # or `none`: no route matches
//!   first: openai:gpt-4o                     # optional: the first target tried
//!   chain: [openai:gpt-4o, claude:claude-sonnet-4-5]   # optional: every target, in order
//! ```
//!
//! Splits count with their first branch, so expectations are deterministic.

use crate::describe::step_for;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use switchyard::plan::{pick_chain, Facts, KeyFacts, Router, RoutingPlan};
use switchyard::routes::{load, Sources};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    request: Req,
    route: String,
    first: Option<String>,
    chain: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Req {
    model: String,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The expectation files that belong to `paths`.
fn expect_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        let dir = if path.is_dir() { path.as_path() } else { path.parent().unwrap_or(Path::new(".")) };
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| load::is_expect_file(p)).collect();
            found.sort();
            for f in found {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// Runs every case; prints one line per case and a summary.
pub fn run(plan: &RoutingPlan, paths: &[PathBuf], _sources: &Sources) -> ExitCode {
    let router = match Router::new(plan.clone()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("yard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = expect_files(paths);
    if files.is_empty() {
        eprintln!("yard: no route tests (*.expect.yaml) next to the route files");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("yard: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let cases: Vec<Case> = match serde_yaml::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                let at = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
                eprintln!("yard: {}{at}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        for (i, case) in cases.iter().enumerate() {
            let label = case.name.clone().unwrap_or_else(|| format!("case {} (model `{}`)", i + 1, case.request.model));
            match check(plan, &router, case) {
                Ok(()) => {
                    passed += 1;
                    println!("ok   {}: {label}", file.display());
                }
                Err(why) => {
                    failed += 1;
                    println!("FAIL {}: {label}\n     {why}", file.display());
                }
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check(plan: &RoutingPlan, router: &Router, case: &Case) -> Result<(), String> {
    let r = &case.request;
    let headers: Vec<(String, String)> = r.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let facts = Facts {
        model: &r.model,
        endpoint: r.endpoint.as_deref().unwrap_or("chat"),
        key: KeyFacts { name: r.key.as_deref().unwrap_or(""), tags: &r.tags },
        header: &header,
        metadata: r.metadata.as_ref(),
        params: Some(&r.params),
    };
    let route = router.select(&facts);
    let got = route.map_or("none", |r| r.name.as_str());
    if got != case.route {
        return Err(format!("expected route `{}`, got `{got}`", case.route));
    }
    let Some(route) = route else { return Ok(()) };
    let mut first_branch = || 0.0;
    let chain: Vec<String> = pick_chain(&route.targets, &mut first_branch).iter().map(|s| step_for(plan, s, &r.model)).collect();
    if let Some(first) = &case.first {
        if chain.first() != Some(first) {
            return Err(format!("expected first target `{first}`, got `{}`", chain.first().map_or("none", |s| s.as_str())));
        }
    }
    if let Some(expected) = &case.chain {
        if &chain != expected {
            return Err(format!("expected chain [{}], got [{}]", expected.join(", "), chain.join(", ")));
        }
    }
    Ok(())
}
