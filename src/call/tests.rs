//! Unit tests for building upstream calls from plan steps.

use super::*;
use crate::plan::ProviderKind;
use serde_json::Value;
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

fn chat(model: &str) -> Inbound<'_> {
    Inbound::new(Dialect::OpenAi, Operation::Chat, model, BODY, false)
}

/// `prepare` with the key number 0 for an OpenAI chat request for `model`.
fn call(plan: &RoutingPlan, step: &Step, model: &str, var: Lookup<'_>, secret: Lookup<'_>) -> Result<Call, GatewayError> {
    prepare(plan, step, Some(0), &chat(model), 0, var, secret)
}

#[test]
fn the_default_plan_passes_the_model_through_with_the_key() {
    let plan = default_plan();
    let vars = lookup(&[("UPSTREAM_BASE_URL", "http://127.0.0.1:9/v1/")]);
    let secrets = lookup(&[("PROVIDER_API_KEY", "sk-p")]);
    let sent = call(&plan, &first_step(&plan), "mock-small", &vars, &secrets).unwrap();
    let call = sent;
    assert_eq!(call.url, "http://127.0.0.1:9/v1/chat/completions");
    assert_eq!(
        call.headers,
        [
            ("content-type".to_string(), "application/json".to_string()),
            ("authorization".to_string(), "Bearer sk-p".to_string())
        ]
    );
    assert_eq!(call.body, BODY, "unchanged");
    assert!(!call.translate);
    assert_eq!(call.secrets, ["sk-p"]);
    assert_eq!(call.provider, "upstream");
}

#[test]
fn a_missing_base_var_names_the_var() {
    let plan = default_plan();
    let e = call(
        &plan,
        &first_step(&plan),
        "m",
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
    let e = call(
        &plan,
        &first_step(&plan),
        "m",
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
        let e = call(&plan, &first_step(&plan), "m", &vars, &secrets).unwrap_err();
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
    let sent = call(&plan, &step, "smart", &none, &none).unwrap();
    let headers = sent.headers.len();
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["model"], "gpt-4o");
    assert_eq!(sent["x"], 1);
    assert_eq!(sent["messages"][0]["content"], "hi");
    assert_eq!(headers, 1, "no keys: no authorization header");
    // The same model as asked: the body is not touched.
    assert_eq!(call(&plan, &step, "gpt-4o", &none, &none).unwrap().body, BODY);
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
    let sent = call(&plan, &first_step(&plan), "m", &vars, &secrets).unwrap();
    assert!(sent.headers.contains(&("x-org".into(), "acme".into())));
    assert!(sent.headers.contains(&("x-token".into(), "tok-1".into())));
    assert_eq!(sent.secret_refs(), ["sk-p", "tok-1"]);
    let e = call(
        &plan,
        &first_step(&plan),
        "m",
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
fn another_wire_format_is_translated_from_the_canonical_request() {
    let mut plan = default_plan();
    plan.providers[0].kind = ProviderKind::Anthropic;
    plan.providers[0].base = Base::Url("http://h/v1".into());
    let mut step = first_step(&plan);
    step.model = ModelRef::Fixed("claude-x".into());
    let all = lookup(&[("PROVIDER_API_KEY", "sk-ant")]);
    let sent = call(&plan, &step, "m", &all, &all).unwrap();
    assert!(sent.translate);
    assert_eq!(sent.adapter, Adapter::Anthropic);
    assert_eq!(sent.url, "http://h/v1/messages");
    assert!(sent.headers.contains(&("x-api-key".into(), "sk-ant".into())));
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["model"], "claude-x");
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(sent.secrets, ["sk-ant"]);
}

#[test]
fn a_client_body_that_cannot_be_translated_is_a_400_for_every_try() {
    let mut plan = default_plan();
    plan.providers[0].kind = ProviderKind::Anthropic;
    plan.providers[0].base = Base::Url("http://h/v1".into());
    let all = lookup(&[("PROVIDER_API_KEY", "k")]);
    let inbound = Inbound::new(Dialect::OpenAi, Operation::Chat, "m", br#"{"model":"m","messages":[{"role":7}]}"#, false);
    for _ in 0..2 {
        let e = prepare(&plan, &first_step(&plan), Some(0), &inbound, 0, &all, &all).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn composite_keys_are_redacted_part_by_part() {
    assert_eq!(key_parts("sk-1"), ["sk-1"]);
    assert_eq!(
        key_parts("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG:x"),
        ["AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG:x", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG"]
    );
}

#[test]
fn a_step_outside_the_plan_is_an_internal_error() {
    let plan = default_plan();
    let mut step = first_step(&plan);
    step.provider = 7;
    let all = lookup(&[]);
    assert_eq!(
        call(&plan, &step, "m", &all, &all)
            .unwrap_err()
            .kind(),
        "internal_error"
    );
}
