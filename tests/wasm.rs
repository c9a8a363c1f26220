//! The gateway's pure logic compiled to wasm32, the target the Worker runs
//! on, and run under Node by wasm-bindgen's test runner: the same answers as
//! on the host (hashing, the chat check, the answer check, error bodies,
//! plan parsing and route selection with regex-lite).
//! Run by `make test`; `cargo test` on the host compiles this file to nothing.
#![cfg(target_arch = "wasm32")]

use switchyard::auth::{hash_key, KeyRing};
use switchyard::error::{Fault, GatewayError};
use switchyard::plan::select::{Facts, KeyFacts, Router};
use switchyard::plan::{pick_chain, Condition, Field, RoutingPlan};
use switchyard::{chat, sse, upstream};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn sha256_matches_the_host() {
    assert_eq!(
        hash_key("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let ring = KeyRing::parse(&format!("app:{}", hash_key("sy-key"))).unwrap();
    assert_eq!(ring.verify("sy-key").unwrap().name, "app");
    assert!(ring.verify("sy-kez").is_none());
}

#[wasm_bindgen_test]
fn chat_check_matches_the_host() {
    let summary = chat::inspect(
        br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
    )
    .unwrap();
    assert_eq!(
        (
            summary.model.as_str(),
            summary.stream,
            summary.message_count
        ),
        ("m", true, 1)
    );
    let error = chat::inspect(br#"{"model":"m","messages":"hi"}"#).unwrap_err();
    assert_eq!(error.status(), 400);
    assert!(
        error.message.contains("`messages` to be an array"),
        "{}",
        error.message
    );
}

#[wasm_bindgen_test]
fn answer_check_and_error_bodies() {
    assert!(upstream::check_json_body(br#"{"ok":true}"#).is_ok());
    assert_eq!(
        upstream::check_json_body(br#"{"ok":"#).unwrap_err().kind(),
        "upstream_malformed"
    );
    let event = sse::error_event(&GatewayError::new(Fault::UpstreamIncomplete, "cut"));
    assert!(event.contains(r#""code":"upstream_incomplete""#), "{event}");
}

#[wasm_bindgen_test]
fn the_default_plan_routes_on_wasm32() {
    let mut plan = RoutingPlan::from_json(include_str!("plans/default.json")).unwrap();
    let mut gpt = plan.routes[0].clone();
    gpt.name = "gpt".into();
    gpt.when = Some(Condition::Matches {
        field: Field::Model,
        pattern: "^gpt-4".into(),
    });
    plan.routes.insert(0, gpt);
    let router = Router::new(plan).unwrap();
    let no_headers = |_: &str| None;
    let facts = |model| Facts {
        model,
        endpoint: "chat",
        key: KeyFacts {
            name: "k",
            tags: &[],
        },
        header: &no_headers,
        metadata: None,
        params: None,
    };
    assert_eq!(router.select(&facts("gpt-4o")).unwrap().name, "gpt");
    let route = router.select(&facts("mock-small")).unwrap();
    assert_eq!(route.name, "default");
    assert_eq!(pick_chain(&route.targets, &mut || 0.5).len(), 1);
}

#[wasm_bindgen_test]
fn metrics_batches_merge_and_render_on_wasm32() {
    use switchyard::metrics::counters::Counters;
    use switchyard::metrics::record::{nano_usd, Outcome, Record};
    use switchyard::metrics::render;
    let record = Record {
        at_ms: 1_700_000_000_000,
        route: "r".into(),
        target: "p:m".into(),
        key: "app".into(),
        status: 200,
        outcome: Some(Outcome::Success),
        latency_ms: 42,
        cost_nano: nano_usd(Some("0.0015")),
        trail: "[]".into(),
        ..Record::default()
    };
    let mut batch = Counters::default();
    batch.add(&record);
    batch.add(&record);
    let mut totals = Counters::decode(&Counters::default().encode());
    totals.merge(Counters::decode(&batch.encode()));
    assert_eq!(totals, batch);
    let json = render::json(&totals, record.at_ms, &[], &[]);
    assert!(json.contains("\"requests\":2,"), "{json}");
    assert!(json.contains("\"cost_usd\":0.003,"), "{json}");
    assert!(render::prometheus(&totals, &[]).contains("outcome=\"success\",error=\"\"} 2\n"));
}
