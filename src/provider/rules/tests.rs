use super::*;
use serde_json::json;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("tests pass objects"),
    }
}

#[test]
fn reasoning_families_match_and_others_do_not() {
    for model in [
        "o1",
        "o1-mini",
        "o1-2024-12-17",
        "o3",
        "o3-mini",
        "o3-pro",
        "o4-mini",
        "o4-mini-2025-04-16",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-5.1",
        "GPT-5",
        "openai/o3-mini",
    ] {
        assert_eq!(actions_for(model), REASONING, "{model}");
    }
    for model in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "o1x",
        "gpt-50",
        "gpt-5-chat-latest",
        "mock-small",
        "llama-3.1-70b",
        "",
        "o",
    ] {
        assert_ne!(actions_for(model), REASONING, "{model}");
    }
    assert!(actions_for("gpt-5-chat-latest").is_empty());
    assert!(rule_for("gpt-4o").is_none());
}

#[test]
fn reasoning_rule_renames_max_tokens_and_drops_sampling() {
    let mut p = object(json!({
        "model": "o3", "max_tokens": 100, "temperature": 0.2, "top_p": 1,
        "presence_penalty": 0.5, "frequency_penalty": 0, "seed": 7
    }));
    assert!(apply(actions_for("o3"), &mut p));
    assert_eq!(
        Value::Object(p),
        json!({"model": "o3", "max_completion_tokens": 100, "top_p": 1, "frequency_penalty": 0, "seed": 7})
    );
}

#[test]
fn defaults_and_nulls_are_kept_and_nothing_is_a_change() {
    let mut p = object(
        json!({"model": "o1", "temperature": 1.0, "top_p": null, "max_completion_tokens": 5}),
    );
    let before = p.clone();
    assert!(!apply(actions_for("o1"), &mut p));
    assert_eq!(p, before);
}

#[test]
fn both_token_fields_keep_the_new_one() {
    let mut p = object(json!({"max_tokens": 1, "max_completion_tokens": 2}));
    assert!(apply(actions_for("gpt-5"), &mut p));
    assert_eq!(Value::Object(p), json!({"max_completion_tokens": 2}));
}

#[test]
fn a_non_number_where_a_default_is_required_is_dropped() {
    let mut p = object(json!({"temperature": "hot"}));
    assert!(apply(actions_for("o4-mini"), &mut p));
    assert!(p.is_empty());
}

#[test]
fn drop_and_rename_actions() {
    let mut p = object(json!({"seed": 3, "user": "u", "stream_options": {"include_usage": true}}));
    let actions = [
        Action::Rename("seed", "random_seed"),
        Action::Drop("stream_options"),
        Action::Drop("absent"),
    ];
    assert!(apply(&actions, &mut p));
    assert_eq!(Value::Object(p), json!({"random_seed": 3, "user": "u"}));
}

#[test]
fn every_rule_explains_itself_and_has_patterns() {
    for rule in RULES {
        assert!(!rule.models.is_empty());
        assert!(!rule.why.is_empty());
        for pattern in rule.models {
            assert_eq!(
                pattern.to_ascii_lowercase(),
                *pattern,
                "patterns are lower case"
            );
            assert!(
                !pattern[..pattern.len().saturating_sub(1)].contains('*'),
                "only a trailing *"
            );
        }
    }
}
