//! Unit tests for building upstream calls from plan steps.

use super::*;
use crate::plan::{ExtraHeader, Node, RoutingPlan};
use std::collections::HashMap;

const DEFAULT_PLAN: &str = include_str!("../../tests/plans/default.json");

fn default_plan() -> RoutingPlan {
    RoutingPlan::from_json(DEFAULT_PLAN).unwrap()
}

fn first_step(plan: &RoutingPlan) -> Step {
    match &plan.routes[0].targets {
        Node::Step(step) => step.clone(),
        other => panic!("not a step: {other:?}"),
    }
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const BODY: &[u8] = br#"{"model":"mock-small","messages":[{"role":"user","content":"hi"}],"x":1}"#;

#[test]
fn the_default_plan_passes_the_model_through_with_the_key() {
    let plan = default_plan();
    let vars = lookup(&[("UPSTREAM_BASE_URL", "http://127.0.0.1:9/v1/")]);
    let secrets = lookup(&[("PROVIDER_API_KEY", "sk-p")]);
    let call = prepare(
        &plan,
        &first_step(&plan),
        "mock-small",
        BODY,
        &vars,
        &secrets,
    )
    .unwrap();
    assert_eq!(call.url, "http://127.0.0.1:9/v1/chat/completions");
    assert_eq!(
        call.headers,
        [
            ("content-type".to_string(), "application/json".to_string()),
            ("authorization".to_string(), "Bearer sk-p".to_string())
        ]
    );
    assert!(
        matches!(call.body, Cow::Borrowed(b) if b == BODY),
        "unchanged, not copied"
    );
    assert_eq!(call.secrets, ["sk-p"]);
    assert_eq!(call.provider, "upstream");
}

#[test]
fn a_missing_base_var_names_the_var() {
    let plan = default_plan();
    let e = prepare(
        &plan,
        &first_step(&plan),
        "m",
        BODY,
        &lookup(&[]),
        &lookup(&[("PROVIDER_API_KEY", "k")]),
    )
    .unwrap_err();
    assert_eq!((e.status(), e.kind()), (500, "misconfigured"));
    assert!(
        e.message.contains("UPSTREAM_BASE_URL") && e.message.contains("not set"),
        "{}",
        e.message
    );
    let e = prepare(
        &plan,
        &first_step(&plan),
        "m",
        BODY,
        &lookup(&[("UPSTREAM_BASE_URL", "ftp://x")]),
        &lookup(&[("PROVIDER_API_KEY", "k")]),
    )
    .unwrap_err();
    assert!(
        e.message.contains("UPSTREAM_BASE_URL") && e.message.contains("http://"),
        "{}",
        e.message
    );
}

#[test]
fn a_missing_or_blank_secret_names_the_secret_not_a_value() {
    let plan = default_plan();
    let vars = lookup(&[("UPSTREAM_BASE_URL", "http://h/v1")]);
    for secrets in [lookup(&[]), lookup(&[("PROVIDER_API_KEY", "  ")])] {
        let e = prepare(&plan, &first_step(&plan), "m", BODY, &vars, &secrets).unwrap_err();
        assert_eq!(e.status(), 500);
        assert!(
            e.message.contains("secret PROVIDER_API_KEY"),
            "{}",
            e.message
        );
    }
}

#[test]
fn a_fixed_model_rewrites_the_body_and_keeps_the_rest() {
    let mut plan = default_plan();
    plan.providers[0].base = Base::Url("https://api.example/v1".into());
    plan.providers[0].keys.clear();
    let mut step = first_step(&plan);
    step.model = ModelRef::Fixed("gpt-4o".into());
    let none = lookup(&[]);
    let call = prepare(&plan, &step, "smart", BODY, &none, &none).unwrap();
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["model"], "gpt-4o");
    assert_eq!(sent["x"], 1);
    assert_eq!(sent["messages"][0]["content"], "hi");
    assert_eq!(call.headers.len(), 1, "no keys: no authorization header");
    // The same model as asked: the body is not touched.
    let call = prepare(&plan, &step, "gpt-4o", BODY, &none, &none).unwrap();
    assert!(matches!(call.body, Cow::Borrowed(_)));
}

#[test]
fn extra_headers_with_secrets_are_sent_and_redacted() {
    let mut plan = default_plan();
    plan.providers[0].headers = vec![
        ExtraHeader {
            name: "X-Org".into(),
            value: HeaderValue::Text("acme".into()),
        },
        ExtraHeader {
            name: "x-token".into(),
            value: HeaderValue::Secret("ORG_TOKEN".into()),
        },
    ];
    let vars = lookup(&[("UPSTREAM_BASE_URL", "http://h/v1")]);
    let secrets = lookup(&[("PROVIDER_API_KEY", "sk-p"), ("ORG_TOKEN", "tok-1")]);
    let call = prepare(&plan, &first_step(&plan), "m", BODY, &vars, &secrets).unwrap();
    assert!(call.headers.contains(&("x-org".into(), "acme".into())));
    assert!(call.headers.contains(&("x-token".into(), "tok-1".into())));
    assert_eq!(call.secret_refs(), ["sk-p", "tok-1"]);
    let e = prepare(
        &plan,
        &first_step(&plan),
        "m",
        BODY,
        &vars,
        &lookup(&[("PROVIDER_API_KEY", "sk-p")]),
    )
    .unwrap_err();
    assert!(
        e.message.contains("ORG_TOKEN") && !e.message.contains("sk-p"),
        "{}",
        e.message
    );
}

#[test]
fn kinds_that_do_not_speak_openai_are_refused_clearly() {
    let mut plan = default_plan();
    plan.providers[0].kind = ProviderKind::Anthropic;
    let all = lookup(&[
        ("UPSTREAM_BASE_URL", "http://h/v1"),
        ("PROVIDER_API_KEY", "k"),
    ]);
    let e = prepare(&plan, &first_step(&plan), "m", BODY, &all, &all).unwrap_err();
    assert_eq!(e.status(), 500);
    assert!(
        e.message
            .contains("provider kind `anthropic` is not supported yet"),
        "{}",
        e.message
    );
}

#[test]
fn a_step_outside_the_plan_is_an_internal_error() {
    let plan = default_plan();
    let mut step = first_step(&plan);
    step.provider = 7;
    let all = lookup(&[]);
    assert_eq!(
        prepare(&plan, &step, "m", BODY, &all, &all)
            .unwrap_err()
            .kind(),
        "internal_error"
    );
}
