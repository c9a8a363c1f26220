//! Unit tests for route selection and chain picking.

use super::*;
use crate::plan::{
    Backoff, BackoffShape, BalanceMode, Balanced, Base, Branch, Jitter, ModelRef, Policy, Provider, ProviderKind, FORMAT,
};
use serde_json::json;

fn policy() -> Policy {
    Policy {
        attempts: 1,
        retry_on: vec![],
        fallback_on: vec![],
        backoff: Backoff {
            shape: BackoffShape::Constant,
            base_ms: 100,
            cap_ms: 100,
            jitter: Jitter::None,
        },
        retry_after_cap_ms: None,
        attempt_timeout_ms: 1000,
        first_byte_timeout_ms: None,
        total_timeout_ms: 1000,
        breaker: None,
    }
}

fn step(provider: usize, model: &str) -> Node {
    Node::Step(Step {
        provider,
        model: ModelRef::Fixed(model.into()),
        policy: 0,
    })
}

fn route(name: &str, when: Option<Condition>) -> Route {
    Route {
        name: name.into(),
        when,
        cache: None,
        limits: vec![],
        targets: step(0, name),
        source: format!("test.route:{name}"),
    }
}

fn plan(routes: Vec<Route>) -> RoutingPlan {
    RoutingPlan {
        format: FORMAT,
        hash: "test".into(),
        sources: vec![],
        subrequest_cap: 50,
        policies: vec![policy()],
        providers: vec![Provider {
            name: "p".into(),
            kind: ProviderKind::OpenaiCompatible,
            base: Base::Url("http://p/v1".into()),
            keys: vec![],
            headers: vec![],
            limits: vec![],
            aliases: vec![],
            prices: vec![],
            api_version: None,
            region: None,
        }],
        routes,
        models: vec![],
    }
}

fn router(routes: Vec<Route>) -> Router {
    Router::new(plan(routes)).unwrap()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn cmp(field: Field, op: CompareOp, value: Value) -> Condition {
    Condition::Compare { field, op, value }
}

fn model_is(m: &str) -> Condition {
    cmp(Field::Model, CompareOp::Eq, text(m))
}

fn no_headers(_: &str) -> Option<String> {
    None
}

/// Facts for a request for `model` with nothing else.
fn facts(model: &str) -> Facts<'_> {
    Facts {
        model,
        endpoint: "chat",
        key: KeyFacts {
            name: "app",
            tags: &[],
        },
        header: &no_headers,
        metadata: None,
        params: None,
    }
}

fn selected(router: &Router, facts: &Facts<'_>) -> Option<String> {
    router.select(facts).map(|r| r.name.clone())
}

/// Whether a single condition holds for `facts`.
fn holds(condition: Condition, facts: &Facts<'_>) -> bool {
    router(vec![route("r", Some(condition))])
        .select(facts)
        .is_some()
}

fn object(value: serde_json::Value) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => panic!("not an object"),
    }
}

#[test]
fn first_matching_route_wins_in_order() {
    let r = router(vec![
        route("a", Some(model_is("x"))),
        route("b", Some(model_is("x"))),
        route("c", Some(model_is("y"))),
    ]);
    assert_eq!(selected(&r, &facts("x")).as_deref(), Some("a"));
    assert_eq!(selected(&r, &facts("y")).as_deref(), Some("c"));
}

#[test]
fn no_match_without_a_default_route_is_none() {
    let r = router(vec![route("a", Some(model_is("x")))]);
    assert!(r.select(&facts("z")).is_none());
}

#[test]
fn default_route_matches_anything_after_the_others() {
    let r = router(vec![
        route("a", Some(model_is("x"))),
        route("default", None),
    ]);
    assert_eq!(selected(&r, &facts("x")).as_deref(), Some("a"));
    assert_eq!(selected(&r, &facts("anything")).as_deref(), Some("default"));
}

#[test]
fn in_is_equals_any() {
    let c = || Condition::In {
        field: Field::Model,
        values: vec![text("a"), text("b")],
    };
    assert!(holds(c(), &facts("b")));
    assert!(!holds(c(), &facts("c")));
    assert!(!holds(
        Condition::In {
            field: Field::Model,
            values: vec![]
        },
        &facts("a")
    ));
}

#[test]
fn ne_holds_for_other_values_and_other_types() {
    assert!(holds(
        cmp(Field::Model, CompareOp::Ne, text("x")),
        &facts("y")
    ));
    assert!(!holds(
        cmp(Field::Model, CompareOp::Ne, text("x")),
        &facts("x")
    ));
    assert!(holds(
        cmp(Field::Model, CompareOp::Ne, Value::Number(1.0)),
        &facts("1")
    ));
}

#[test]
fn headers_are_case_insensitive_and_absent_ones_are_null() {
    let lookup = |name: &str| (name == "x-tier").then(|| "pro".to_string());
    let with = Facts {
        header: &lookup,
        ..facts("m")
    };
    // The plan names the header in mixed case; the lookup sees lower case.
    let tier = || cmp(Field::Header("X-Tier".into()), CompareOp::Eq, text("pro"));
    assert!(holds(tier(), &with));
    assert!(!holds(tier(), &facts("m")));
    let team_absent = || cmp(Field::Header("x-team".into()), CompareOp::Eq, Value::Null);
    assert!(holds(team_absent(), &with));
    let tier_present = cmp(Field::Header("x-tier".into()), CompareOp::Ne, Value::Null);
    assert!(holds(tier_present, &with));
}

#[test]
fn numbers_compare_as_f64_and_only_with_numbers() {
    let params = object(json!({"max_tokens": 5000, "temperature": 0.5, "name": "5000"}));
    let f = Facts {
        params: Some(&params),
        ..facts("m")
    };
    let p = |name: &str| Field::Param(name.into());
    assert!(holds(
        cmp(p("max_tokens"), CompareOp::Gt, Value::Number(4000.0)),
        &f
    ));
    assert!(holds(
        cmp(p("max_tokens"), CompareOp::Ge, Value::Number(5000.0)),
        &f
    ));
    assert!(!holds(
        cmp(p("max_tokens"), CompareOp::Lt, Value::Number(5000.0)),
        &f
    ));
    assert!(holds(
        cmp(p("temperature"), CompareOp::Le, Value::Number(0.5)),
        &f
    ));
    assert!(holds(
        cmp(p("max_tokens"), CompareOp::Eq, Value::Number(5000.0)),
        &f
    ));
    // Text is not a number, however it looks; a missing field is not either.
    assert!(!holds(
        cmp(p("name"), CompareOp::Gt, Value::Number(1.0)),
        &f
    ));
    assert!(!holds(
        cmp(p("name"), CompareOp::Eq, Value::Number(5000.0)),
        &f
    ));
    assert!(!holds(
        cmp(p("missing"), CompareOp::Lt, Value::Number(1.0)),
        &f
    ));
    assert!(!holds(cmp(Field::Model, CompareOp::Lt, text("z")), &f));
}

#[test]
fn missing_params_and_json_null_are_null() {
    let params = object(json!({"user": null, "stream": true}));
    let f = Facts {
        params: Some(&params),
        ..facts("m")
    };
    let p = |name: &str| Field::Param(name.into());
    assert!(holds(cmp(p("user"), CompareOp::Eq, Value::Null), &f));
    assert!(holds(cmp(p("absent"), CompareOp::Eq, Value::Null), &f));
    assert!(holds(
        cmp(p("stream"), CompareOp::Eq, Value::Bool(true)),
        &f
    ));
    assert!(!holds(cmp(p("stream"), CompareOp::Eq, Value::Null), &f));
    // Without a parsed body every param is null.
    assert!(holds(
        cmp(p("stream"), CompareOp::Eq, Value::Null),
        &facts("m")
    ));
}

#[test]
fn lists_and_objects_equal_no_literal() {
    let params = object(json!({"stop": ["a"], "tools": {}}));
    let f = Facts {
        params: Some(&params),
        ..facts("m")
    };
    for name in ["stop", "tools"] {
        let field = || Field::Param(name.into());
        assert!(!holds(cmp(field(), CompareOp::Eq, Value::Null), &f));
        assert!(!holds(cmp(field(), CompareOp::Eq, text("a")), &f));
        assert!(holds(cmp(field(), CompareOp::Ne, Value::Null), &f));
    }
}

#[test]
fn metadata_fields() {
    let meta = parse_metadata(Some(r#"{"team":"search","tier":2}"#)).unwrap();
    let f = Facts {
        metadata: Some(&meta),
        ..facts("m")
    };
    let team = || {
        cmp(
            Field::Metadata("team".into()),
            CompareOp::Eq,
            text("search"),
        )
    };
    assert!(holds(team(), &f));
    assert!(holds(
        cmp(
            Field::Metadata("tier".into()),
            CompareOp::Ge,
            Value::Number(2.0)
        ),
        &f
    ));
    assert!(!holds(team(), &facts("m")));
}

#[test]
fn invalid_metadata_is_absent() {
    assert!(parse_metadata(None).is_none());
    assert!(parse_metadata(Some("not json")).is_none());
    assert!(parse_metadata(Some("[1,2]")).is_none());
    assert!(parse_metadata(Some(r#""text""#)).is_none());
    assert_eq!(parse_metadata(Some("{}")).unwrap().len(), 0);
}

#[test]
fn contains_is_substring_on_text_and_membership_on_tags() {
    let tags = vec!["beta".to_string(), "internal".to_string()];
    let f = Facts {
        key: KeyFacts {
            name: "ci-runner",
            tags: &tags,
        },
        ..facts("gpt-4o-mini")
    };
    let contains = |field: Field, value: &str| Condition::Contains {
        field,
        value: value.into(),
    };
    assert!(holds(contains(Field::KeyTags, "beta"), &f));
    assert!(
        !holds(contains(Field::KeyTags, "bet"), &f),
        "whole tags only"
    );
    assert!(holds(contains(Field::Model, "4o-mi"), &f));
    assert!(holds(contains(Field::KeyName, "ci"), &f));
    assert!(
        !holds(contains(Field::Header("x".into()), ""), &f),
        "null contains nothing"
    );
}

#[test]
fn key_name_and_endpoint() {
    let f = facts("m");
    assert!(holds(cmp(Field::KeyName, CompareOp::Eq, text("app")), &f));
    assert!(holds(cmp(Field::Endpoint, CompareOp::Eq, text("chat")), &f));
    assert!(!holds(
        cmp(Field::Endpoint, CompareOp::Eq, text("embeddings")),
        &f
    ));
}

#[test]
fn matches_uses_the_compiled_regex_on_text_only() {
    let re = |field: Field| Condition::Matches {
        field,
        pattern: "^gpt-4".into(),
    };
    assert!(holds(re(Field::Model), &facts("gpt-4o")));
    assert!(!holds(re(Field::Model), &facts("o-gpt-4")));
    let params = object(json!({"n": 4}));
    let f = Facts {
        params: Some(&params),
        ..facts("gpt-4")
    };
    assert!(!holds(re(Field::Param("n".into())), &f));
    assert!(!holds(re(Field::KeyTags), &f));
}

#[test]
fn an_invalid_regex_refuses_the_plan_naming_the_route() {
    let error = Router::new(plan(vec![route(
        "bad",
        Some(Condition::Matches {
            field: Field::Model,
            pattern: "(".into(),
        }),
    )]))
    .unwrap_err();
    assert!(
        error.contains("route `bad`") && error.contains("/(/"),
        "{error}"
    );
}

#[test]
fn all_any_not_combine() {
    let c = Condition::Any(vec![
        Condition::All(vec![
            model_is("a"),
            cmp(Field::KeyName, CompareOp::Eq, text("app")),
        ]),
        Condition::Not(Box::new(cmp(Field::Endpoint, CompareOp::Eq, text("chat")))),
    ]);
    assert!(holds(c.clone(), &facts("a")));
    assert!(!holds(c, &facts("b")));
    assert!(
        holds(Condition::All(vec![]), &facts("x")),
        "an empty `all` holds"
    );
    assert!(
        !holds(Condition::Any(vec![]), &facts("x")),
        "an empty `any` fails"
    );
}

#[test]
fn uses_params_and_metadata_are_noticed() {
    let plain = router(vec![route("a", Some(model_is("x")))]);
    assert!(!plain.uses_params() && !plain.uses_metadata());
    let nested = router(vec![route(
        "a",
        Some(Condition::Not(Box::new(Condition::Any(vec![
            cmp(
                Field::Param("stream".into()),
                CompareOp::Eq,
                Value::Bool(true),
            ),
            cmp(Field::Metadata("t".into()), CompareOp::Eq, Value::Null),
        ])))),
    )]);
    assert!(nested.uses_params() && nested.uses_metadata());
}

#[test]
fn explain_says_why_for_every_route() {
    let r = router(vec![
        route("smart", Some(model_is("smart"))),
        route(
            "either",
            Some(Condition::Any(vec![
                model_is("a"),
                cmp(Field::Header("x-tier".into()), CompareOp::Eq, text("pro")),
            ])),
        ),
        route("default", None),
    ]);
    let lines = r.explain(&facts("gpt-4o"));
    assert_eq!(lines.len(), 3);
    assert_eq!((lines[0].0, lines[0].1), ("smart", false));
    assert_eq!(lines[0].2, r#"model == "smart" fails: model is "gpt-4o""#);
    assert_eq!((lines[1].0, lines[1].1), ("either", false));
    assert!(
        lines[1].2.contains(r#"header("x-tier") is null"#),
        "{}",
        lines[1].2
    );
    assert_eq!((lines[2].0, lines[2].1), ("default", true));
    let lines = r.explain(&facts("smart"));
    assert!(lines[0].1 && lines[0].2.contains("holds"), "{:?}", lines[0]);
}

fn fixed(step: &Step) -> &str {
    match &step.model {
        ModelRef::Fixed(m) => m,
        ModelRef::Request => "{model}",
    }
}

fn split(branches: Vec<(f64, Node)>) -> Node {
    Node::Split(
        branches
            .into_iter()
            .map(|(weight, node)| Branch { weight, node })
            .collect(),
    )
}

#[test]
fn chains_concatenate_in_order() {
    let tree = Node::Chain(vec![
        step(0, "a"),
        Node::Chain(vec![step(0, "b"), step(0, "c")]),
        step(0, "d"),
    ]);
    let steps = pick_chain(&tree, &mut || panic!("no split, no random number"));
    let models: Vec<&str> = steps.into_iter().map(fixed).collect();
    assert_eq!(models, ["a", "b", "c", "d"]);
}

#[test]
fn a_split_picks_one_branch_by_weight() {
    let tree = split(vec![(70.0, step(0, "a")), (30.0, step(0, "b"))]);
    let pick = |r: f64| fixed(pick_chain(&tree, &mut || r)[0]).to_string();
    assert_eq!(pick(0.0), "a");
    assert_eq!(pick(0.69), "a");
    assert_eq!(pick(0.70), "b");
    assert_eq!(pick(0.999_999), "b");
    assert_eq!(
        pick_chain(&tree, &mut || 0.5).len(),
        1,
        "the other branch is not tried"
    );
}

#[test]
fn split_frequencies_follow_the_weights() {
    let tree = split(vec![(25.0, step(0, "a")), (75.0, step(0, "b"))]);
    let mut n = 0u32;
    let mut next = || {
        n += 1;
        f64::from(n % 1000) / 1000.0
    };
    let a = (0..1000)
        .filter(|_| fixed(pick_chain(&tree, &mut next)[0]) == "a")
        .count();
    assert_eq!(a, 250);
}

#[test]
fn nested_splits_and_chains() {
    // try (split 50% a, 50% (b else c)) else d
    let tree = Node::Chain(vec![
        split(vec![
            (50.0, step(0, "a")),
            (50.0, Node::Chain(vec![step(0, "b"), step(0, "c")])),
        ]),
        step(0, "d"),
    ]);
    let models = |r: f64| -> Vec<String> {
        pick_chain(&tree, &mut || r)
            .into_iter()
            .map(|s| fixed(s).to_string())
            .collect()
    };
    assert_eq!(models(0.1), ["a", "d"]);
    assert_eq!(models(0.9), ["b", "c", "d"]);
}

#[test]
fn plans_from_json_route_like_built_ones() {
    let json = serde_json::to_string(&plan(vec![
        route("a", Some(model_is("x"))),
        route("default", None),
    ]))
    .unwrap();
    let r = Router::new(RoutingPlan::from_json(&json).unwrap()).unwrap();
    assert_eq!(selected(&r, &facts("x")).as_deref(), Some("a"));
    assert_eq!(r.plan().routes.len(), 2);
}

#[test]
fn a_step_naming_a_missing_provider_refuses_the_plan() {
    let mut bad = route("bad", None);
    bad.targets = Node::Chain(vec![step(0, "a"), step(3, "b")]);
    let error = Router::new(plan(vec![bad])).unwrap_err();
    assert!(
        error.contains("route `bad`") && error.contains("#3"),
        "{error}"
    );
}

/// The model index never changes the answer: `select` picks the first
/// route `explain` (a full scan) says holds, for routes that pin the model
/// in every way the index understands, and some that do not.
#[test]
fn model_index_agrees_with_a_full_scan() {
    let model_in = |ms: &[&str]| Condition::In {
        field: Field::Model,
        values: ms.iter().map(|m| text(m)).collect(),
    };
    let endpoint_is = |e: &str| cmp(Field::Endpoint, CompareOp::Eq, text(e));
    let r = router(vec![
        route("eq", Some(model_is("a"))),
        route("in", Some(model_in(&["b", "c", "b"]))),
        route("and", Some(Condition::All(vec![endpoint_is("chat"), model_is("d")]))),
        route("or", Some(Condition::Any(vec![model_is("e"), model_in(&["f"])]))),
        route("open-or", Some(Condition::Any(vec![model_is("g"), endpoint_is("embeddings")]))),
        route("not", Some(Condition::Not(Box::new(model_is("h"))))),
        route("ne", Some(cmp(Field::Model, CompareOp::Ne, text("x")))),
        route("number", Some(cmp(Field::Model, CompareOp::Eq, Value::Number(1.0)))),
        route("empty-any", Some(Condition::Any(vec![]))),
        route("empty-all", Some(Condition::All(vec![]))),
        route("late", Some(model_is("a"))),
        route("default", None),
    ]);
    for model in ["a", "b", "c", "d", "e", "f", "g", "h", "x", "1", ""] {
        let f = facts(model);
        let scan = r.explain(&f).into_iter().find(|(_, held, _)| *held).map(|(n, _, _)| n.to_string());
        assert_eq!(selected(&r, &f), scan, "model {model:?}");
    }
}

fn balanced(mode: BalanceMode, branches: Vec<Node>) -> Node {
    Node::Balanced(Balanced { mode, branches })
}

fn loads<'t>(table: &'t [(&'t str, u32, Option<f64>)]) -> impl FnMut(&Step) -> TargetLoad + 't {
    move |s: &Step| {
        let (_, in_flight, latency_ms) = table.iter().find(|(m, _, _)| *m == fixed(s)).copied().unwrap_or(("", 0, None));
        TargetLoad { in_flight, latency_ms }
    }
}

#[test]
fn least_busy_picks_the_branch_whose_first_target_has_the_fewest_in_flight() {
    let tree = balanced(BalanceMode::LeastBusy, vec![Node::Chain(vec![step(0, "a"), step(0, "z")]), step(0, "b"), step(0, "c")]);
    let mut load = loads(&[("a", 3, None), ("b", 1, None), ("c", 2, None)]);
    let steps = pick_chain_by_load(&tree, &mut || 0.0, &mut load);
    assert_eq!(steps.into_iter().map(fixed).collect::<Vec<_>>(), ["b"]);
    let mut load = loads(&[("a", 0, None), ("b", 1, None), ("c", 2, None)]);
    let steps = pick_chain_by_load(&tree, &mut || 0.0, &mut load);
    assert_eq!(steps.into_iter().map(fixed).collect::<Vec<_>>(), ["a", "z"], "the whole branch");
}

#[test]
fn lowest_latency_tries_unmeasured_targets_first_and_breaks_ties_at_random() {
    let tree = balanced(BalanceMode::LowestLatency, vec![step(0, "a"), step(0, "b"), step(0, "c")]);
    let mut load = loads(&[("a", 0, Some(80.0)), ("b", 0, Some(20.0)), ("c", 0, Some(50.0))]);
    assert_eq!(fixed(pick_chain_by_load(&tree, &mut || 0.0, &mut load)[0]), "b");
    let mut load = loads(&[("a", 0, Some(80.0)), ("b", 0, Some(20.0)), ("c", 0, None)]);
    assert_eq!(fixed(pick_chain_by_load(&tree, &mut || 0.0, &mut load)[0]), "c", "not measured yet");
    // Nothing known: a tie of three, the random number decides.
    assert_eq!(fixed(pick_chain(&tree, &mut || 0.0)[0]), "a");
    assert_eq!(fixed(pick_chain(&tree, &mut || 0.5)[0]), "b");
    assert_eq!(fixed(pick_chain(&tree, &mut || 0.99)[0]), "c");
}

#[test]
fn the_candidates_are_the_first_target_of_each_balanced_branch() {
    let tree = Node::Chain(vec![
        balanced(BalanceMode::LeastBusy, vec![Node::Chain(vec![step(0, "a"), step(0, "z")]), step(0, "b")]),
        step(0, "c"),
    ]);
    let names: Vec<&str> = balanced_candidates(&tree).into_iter().map(fixed).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(balanced_candidates(&step(0, "a")).is_empty());
}
