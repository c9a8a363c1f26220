//! The `yard` command line, run as a user runs it: exit codes, what goes to
//! standard output and standard error, and that `explain` / `test` /
//! `compile` agree with the library.

#![cfg(not(target_arch = "wasm32"))]

use std::process::{Command, Output};

fn yard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yard")).args(args).output().expect("yard runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_passes_on_the_shipped_routes_and_fails_with_every_mistake() {
    let ok = yard(&["check", "routes", "--color", "never"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stderr).contains("ok:"));

    let bad = yard(&["check", "tests/routes/invalid/many-mistakes.route", "--color", "never"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert_eq!(err.matches("error:").count(), 6, "{err}");
    assert!(err.contains("tests/routes/invalid/many-mistakes.route:4:34"), "{err}");
    assert!(err.contains("did you mean `openai`?"), "{err}");
    assert!(!err.contains('\x1b'), "no colour when piped");

    let colour = yard(&["check", "tests/routes/invalid/many-mistakes.route", "--color", "always"]);
    assert!(text(&colour.stderr).contains("\x1b[1;31merror"));
}

#[test]
fn compile_writes_a_plan_the_worker_can_read() {
    let out = yard(&["compile", "routes/examples"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = switchyard::plan::RoutingPlan::from_json(&text(&out.stdout)).expect("a plan");
    assert_eq!(plan.format, switchyard::plan::FORMAT);
    assert_eq!(plan.routes.last().map(|r| r.name.as_str()), Some("passthrough"));
    assert!(plan.models.contains(&"smart".to_string()));
    switchyard::plan::Router::new(plan).expect("routable");
}

#[test]
fn explain_names_the_route_and_the_whole_chain() {
    let out = yard(&["explain", "routes/examples", "--model", "gpt-4o-mini", "--header", "X-Tier=pro"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("route `smart`"), "{s}");
    let (a, b, c) = (
        s.find("openai:gpt-4o").unwrap(),
        s.find("claude:claude-sonnet-4-5").unwrap(),
        s.find("local:llama3.1").unwrap(),
    );
    assert!(a < b && b < c, "chain in order:\n{s}");
    assert!(s.contains("attempts 3") && s.contains("attempts 1"), "effective policies shown:\n{s}");

    let none = yard(&["explain", "tests/routes/valid/warnings.route", "--model", "zzz"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stdout).contains("no route matches"));
}

#[test]
fn route_tests_run_and_report_failures() {
    let ok = yard(&["test", "routes/examples"]);
    assert!(ok.status.success(), "{}{}", text(&ok.stdout), text(&ok.stderr));
    assert!(text(&ok.stdout).contains("8 passed, 0 failed"), "{}", text(&ok.stdout));

    let dir = std::env::temp_dir().join(format!("yard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.route"), "provider p { kind openai }\nroute a { when model == \"a\"  try p:x }\n").unwrap();
    std::fs::write(
        dir.join("r.expect.yaml"),
        "- request: { model: a }\n  route: a\n  first: p:y\n- request: { model: b }\n  route: none\n",
    )
    .unwrap();
    let bad = yard(&["test", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let s = text(&bad.stdout);
    assert!(s.contains("expected first target `p:y`, got `p:x`"), "{s}");
    assert!(s.contains("1 passed, 1 failed"), "{s}");
}

#[test]
fn publish_dry_run_prints_the_wrangler_command() {
    let plan = std::env::temp_dir().join(format!("yard-plan-{}.json", std::process::id()));
    let out = yard(&["publish", "routes", "--dry-run", "-o", plan.to_str().unwrap(), "--remote"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("wrangler kv key put --binding ROUTES plan --path") && s.ends_with("--remote\n"), "{s}");
    assert!(switchyard::plan::RoutingPlan::from_json(&std::fs::read_to_string(&plan).unwrap()).is_ok());
    std::fs::remove_file(plan).unwrap();
}

#[test]
fn usage_mistakes_exit_2() {
    assert_eq!(yard(&["explain", "routes"]).status.code(), Some(2));
    assert_eq!(yard(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(yard(&["check", "no/such/dir"]).status.code(), Some(2));
}

#[test]
fn keys_create_dry_run_prints_the_record_and_the_secret_once() {
    let out = yard(&["keys", "create", "--name", "team-a", "--tag", "beta", "--model", "gpt-4o*", "--budget", "10usd/day", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let mut lines = s.lines();
    let command = lines.next().unwrap();
    let secret = lines.next().unwrap();
    assert!(secret.starts_with("sy-") && secret.len() == 67, "{s}");
    // The record is stored under the key's hash; the key itself is nowhere in the command.
    let hash = switchyard::auth::hash_key(secret);
    assert!(command.starts_with(&format!("npx wrangler kv key put --binding KEYS {hash} ")), "{command}");
    assert!(command.ends_with(" --local") && !command.contains(secret), "{command}");
    let json = command.split('\'').nth(1).unwrap();
    let record = switchyard::keys::KeyRecord::from_json(json.as_bytes()).expect("a record");
    assert_eq!((record.name.as_str(), record.tags.as_slice()), ("team-a", &["beta".to_string()][..]));
    assert_eq!(record.budget.map(|b| b.limit_micros), Some(10_000_000));
    assert!(record.revoked_ms.is_none() && record.created_ms > 0);
    assert!(text(&out.stderr).contains("dry run"));
}

#[test]
fn keys_list_and_revoke_dry_runs_and_mistakes() {
    let list = yard(&["keys", "list", "--remote", "--dry-run"]);
    assert!(list.status.success());
    assert_eq!(text(&list.stdout), "npx wrangler kv key list --binding KEYS --remote\n");
    let revoke = yard(&["keys", "revoke", "--name", "team-a", "--dry-run"]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    assert!(text(&revoke.stdout).contains("\"revoked_ms\":"), "{}", text(&revoke.stdout));
    assert_eq!(yard(&["keys", "create"]).status.code(), Some(2));
    assert_eq!(yard(&["keys", "create", "--name", "a b"]).status.code(), Some(2));
    assert_eq!(yard(&["keys", "create", "--name", "a", "--budget", "10usd/week"]).status.code(), Some(2));
    assert_eq!(yard(&["keys", "rotate"]).status.code(), Some(2));
}
