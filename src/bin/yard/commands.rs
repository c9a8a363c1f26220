//! The five `yard` commands. Each reads the route files, compiles them, and
//! prints diagnostics to standard error (in colour on a terminal); output a
//! command produces goes to standard output.

use crate::args::{Command, Request, Verb};
use crate::{describe, expect};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use switchyard::plan::{pick_chain, Facts, KeyFacts, Router, RoutingPlan, KV_BINDING, KV_KEY};
use switchyard::routes::{self, diag, Options};

pub fn run(c: Command) -> ExitCode {
    let color = c.color.unwrap_or_else(|| std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    let sources = match routes::load::read(&c.paths) {
        Ok(s) if s.files().is_empty() => {
            eprintln!("yard: no route files (*.route, *.yaml) in {}", show_paths(&c));
            return ExitCode::from(2);
        }
        Ok(s) => s,
        Err(e) => {
            eprintln!("yard: {e}");
            return ExitCode::from(2);
        }
    };
    let compiled = routes::compile_sources(&sources, &Options { subrequest_cap: c.subrequest_cap });
    eprint!("{}", diag::render_all(&compiled.diagnostics, &sources, color));
    let Some(plan) = compiled.plan else {
        return ExitCode::FAILURE;
    };
    match c.verb {
        Verb::Check => {
            eprintln!(
                "{} route file{} ok: {} provider{}, {} route{}, plan {}",
                sources.files().len(),
                plural(sources.files().len()),
                plan.providers.len(),
                plural(plan.providers.len()),
                plan.routes.len(),
                plural(plan.routes.len()),
                &plan.hash[..12]
            );
            ExitCode::SUCCESS
        }
        Verb::Compile => write_plan(&plan, c.output.as_deref()),
        Verb::Explain => explain(&plan, &c.request),
        Verb::Publish => publish(&plan, &c),
        Verb::Test => expect::run(&plan, &c.paths, &sources),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn show_paths(c: &Command) -> String {
    c.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn plan_json(plan: &RoutingPlan) -> String {
    serde_json::to_string_pretty(plan).expect("a plan always serializes") + "\n"
}

fn write_plan(plan: &RoutingPlan, output: Option<&std::path::Path>) -> ExitCode {
    let json = plan_json(plan);
    let written = match output {
        None => std::io::stdout().write_all(json.as_bytes()),
        Some(path) => std::fs::write(path, json),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yard: cannot write the plan: {e}");
            ExitCode::from(2)
        }
    }
}

/// Which route a described request takes, and why.
fn explain(plan: &RoutingPlan, r: &Request) -> ExitCode {
    let router = match Router::new(plan.clone()) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("yard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (params, metadata) = match (json_params(&r.params), json_object(r.metadata.as_deref())) {
        (Ok(p), Ok(m)) => (p, m),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("yard: {e}");
            return ExitCode::from(2);
        }
    };
    let model = r.model.clone().unwrap_or_default();
    let headers: Vec<(String, String)> = r.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let facts = Facts {
        model: &model,
        endpoint: r.endpoint.as_deref().unwrap_or("chat"),
        key: KeyFacts { name: r.key.as_deref().unwrap_or(""), tags: &r.tags },
        header: &header,
        metadata: metadata.as_ref(),
        params: Some(&params),
    };
    let mut out = String::new();
    for (name, matched, reason) in router.explain(&facts) {
        out.push_str(&format!("{} {name}: {reason}\n", if matched { "✔" } else { "✘" }));
        if matched {
            break;
        }
    }
    match router.select(&facts) {
        None => {
            out.push_str(&format!("\nno route matches: the gateway answers 404 model_not_found for `{model}`\n"));
            print!("{out}");
            ExitCode::FAILURE
        }
        Some(route) => {
            out.push_str(&format!("\nroute `{}` ({})\n", route.name, route.source));
            if let Some(cache) = route.cache {
                out.push_str(&format!("  cache {}ms{}\n", cache.ttl_ms, if cache.sampled { " sampled" } else { "" }));
            }
            out.push_str("  targets, in the order they are tried:\n");
            out.push_str(&describe::tree(plan, &route.targets, &model));
            let mut first = || 0.0;
            let chain: Vec<String> = pick_chain(&route.targets, &mut first).iter().map(|s| describe::step_for(plan, s, &model)).collect();
            out.push_str(&format!("  first pick (the first branch of every split): {}\n", chain.join(" → ")));
            print!("{out}");
            ExitCode::SUCCESS
        }
    }
}

fn json_params(pairs: &[(String, String)]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        // A value that is not JSON is taken as text: `--param user=alice`.
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.clone()));
        map.insert(k.clone(), value);
    }
    Ok(map)
}

fn json_object(text: Option<&str>) -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
    match text {
        None => Ok(None),
        Some(t) => match serde_json::from_str(t) {
            Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
            _ => Err(format!("--metadata takes a JSON object, not `{t}`")),
        },
    }
}

/// Writes the plan to a file and hands it to `wrangler kv key put`.
fn publish(plan: &RoutingPlan, c: &Command) -> ExitCode {
    let path = c.output.clone().unwrap_or_else(|| std::path::PathBuf::from("build/plan.json"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    if write_plan(plan, Some(&path)) != ExitCode::SUCCESS {
        return ExitCode::from(2);
    }
    let place = if c.remote { "--remote" } else { "--local" };
    let args = ["wrangler", "kv", "key", "put", "--binding", KV_BINDING, KV_KEY, "--path"];
    let shown = format!("npx {} {} {place}", args.join(" "), path.display());
    if c.dry_run {
        println!("{shown}");
        return ExitCode::SUCCESS;
    }
    eprintln!("yard: {shown}");
    match std::process::Command::new("npx").args(args).arg(&path).arg(place).status() {
        Ok(status) if status.success() => {
            eprintln!("yard: published plan {} ({} routes)", &plan.hash[..12], plan.routes.len());
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("yard: cannot run npx: {e}");
            ExitCode::from(2)
        }
    }
}
