//! Fuel, output size and recursion bounds: each is its own error, never a hang or a crash.

use promptd_template::{EngineOptions, Limits, Prompt, TemplateError};
use serde_json::{Map, json};

use crate::vars;

fn with_limits(text: &str, limits: Limits) -> Prompt {
    let opts = EngineOptions {
        limits,
        ..EngineOptions::default()
    };
    Prompt::parse(text, &opts).unwrap_or_else(|e| panic!("{e}"))
}

fn limit_of(e: TemplateError) -> &'static str {
    match e {
        TemplateError::LimitExceeded { limit, .. } => limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn the_defaults_are_documented_values() {
    let d = Limits::default();
    assert_eq!(d.fuel, 200_000);
    assert_eq!(d.max_output_bytes, 1024 * 1024);
    assert_eq!(d.recursion, 100);
    assert_eq!(d.max_bytes, 16 * 1024 * 1024);
    assert!(!EngineOptions::default().escape_html);
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let p = with_limits(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        Limits::default(),
    );
    assert_eq!(limit_of(p.render(&Map::new()).unwrap_err()), "fuel");
}

#[test]
fn a_typical_prompt_needs_little_fuel() {
    let p = with_limits(
        "System: You help {{ name }}.\nUser: {% for i in items %}{{ i }}, {% endfor %}",
        Limits {
            fuel: 500,
            ..Limits::default()
        },
    );
    let out = p
        .render(&vars(json!({"name": "Ada", "items": [1, 2, 3, 4, 5]})))
        .unwrap();
    assert_eq!(out.len(), 2);
}

#[test]
fn a_huge_string_is_stopped_before_it_is_built() {
    let p = with_limits("{{ 'x' * 100000000 }}", Limits::default());
    let limit = limit_of(p.render(&Map::new()).unwrap_err());
    assert_eq!(limit, "template_max_bytes");
}

#[test]
fn printed_values_are_capped_at_the_output_limit() {
    let p = with_limits(
        "{{ s }}{{ s }}",
        Limits {
            max_output_bytes: 10,
            ..Limits::default()
        },
    );
    assert_eq!(
        p.render(&vars(json!({"s": "123456"}))).unwrap_err().kind(),
        "limit_exceeded"
    );
    assert!(p.render(&vars(json!({"s": "12345"}))).is_ok());
}

#[test]
fn repeated_template_text_is_capped_at_the_output_limit() {
    let p = with_limits(
        "{% for i in range(20) %}0123456789{% endfor %}",
        Limits {
            max_output_bytes: 100,
            ..Limits::default()
        },
    );
    assert_eq!(
        limit_of(p.render(&Map::new()).unwrap_err()),
        "max_output_bytes"
    );
}

#[test]
fn a_self_recursive_macro_hits_the_recursion_limit() {
    let p = with_limits(
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        Limits::default(),
    );
    assert_eq!(limit_of(p.render(&Map::new()).unwrap_err()), "recursion");
}

#[test]
fn a_limit_error_says_which_setting_to_raise() {
    let p = with_limits(
        "{% for i in range(99999) %}{% endfor %}",
        Limits {
            fuel: 10,
            ..Limits::default()
        },
    );
    let text = p.render(&Map::new()).unwrap_err().to_string();
    assert!(
        text.contains("fuel limit") && text.contains("template_fuel"),
        "{text}"
    );
}

#[test]
fn printing_a_deeply_nested_value_terminates() {
    let mut v = json!(1);
    for _ in 0..100 {
        v = json!([v]);
    }
    let out = crate::render("User: {{ v }}", json!({"v": v}));
    assert!(out[0].content.contains("..."), "{}", out[0].content);
}
