//! `input.schema`: types, required and optional variables.

use promptd_template::{FieldType, TemplateError};
use serde_json::json;

use crate::{parse, parse_err, render, render_err};

const PROMPT: &str = "---\ninput:\n  schema:\n    name: string\n    age: integer\n    score?: number\n---\nUser: {{ name }} {{ age }} {{ score }}";

#[test]
fn all_missing_required_variables_are_reported_together() {
    match render_err(PROMPT, json!({})) {
        TemplateError::MissingVariables { names } => assert_eq!(names, ["name", "age"]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_variables_are_reported_before_wrong_types() {
    let e = render_err(PROMPT, json!({"age": "x"}));
    assert_eq!(e.kind(), "missing_variables");
}

#[test]
fn a_wrong_type_reads_like_litellms_message() {
    let e = render_err(PROMPT, json!({"name": "a", "age": "old"}));
    assert!(
        e.to_string()
            .starts_with("Invalid type for field 'age': expected integer, got string"),
        "{e}"
    );
}

#[test]
fn an_optional_field_may_be_absent_but_is_checked_when_given() {
    assert_eq!(
        render(PROMPT, json!({"name": "a", "age": 3}))[0].content,
        "a 3"
    );
    let e = render_err(PROMPT, json!({"name": "a", "age": 3, "score": "high"}));
    assert!(
        matches!(e, TemplateError::VariableType { ref name, .. } if name == "score"),
        "{e:?}"
    );
}

#[test]
fn number_accepts_integers_and_floats_but_not_booleans() {
    assert!(
        parse(PROMPT)
            .render(&crate::vars(json!({"name": "a", "age": 1, "score": 1})))
            .is_ok()
    );
    assert!(
        parse(PROMPT)
            .render(&crate::vars(json!({"name": "a", "age": 1, "score": 1.5})))
            .is_ok()
    );
    let e = render_err(PROMPT, json!({"name": "a", "age": 1, "score": true}));
    assert!(
        e.to_string().contains("expected number, got boolean"),
        "{e}"
    );
}

#[test]
fn the_schema_is_exposed_in_file_order() {
    let p = parse(PROMPT);
    let fields: Vec<(&str, FieldType, bool)> = p
        .input_schema()
        .iter()
        .map(|f| (f.name.as_str(), f.ty, f.required))
        .collect();
    assert_eq!(
        fields,
        [
            ("name", FieldType::String, true),
            ("age", FieldType::Integer, true),
            ("score", FieldType::Number, false)
        ]
    );
}

#[test]
fn an_unknown_type_lists_the_valid_names() {
    let e = parse_err("---\ninput:\n  schema:\n    when: date\n---\nx");
    let text = e.to_string();
    assert!(
        text.contains("'when'") && text.contains("unknown type 'date'"),
        "{text}"
    );
    assert!(
        text.contains("boolean (bool)") && text.contains("object (dict)"),
        "{text}"
    );
}

#[test]
fn a_non_string_type_is_a_parse_error() {
    let e = parse_err("---\ninput:\n  schema:\n    n: 5\n---\nx");
    assert!(
        matches!(e, TemplateError::Frontmatter { line: 4, .. }),
        "{e:?}"
    );
}

#[test]
fn an_input_key_with_no_value_means_no_schema() {
    assert!(
        parse("---\ninput:\n---\nUser: {{ x }}")
            .input_schema()
            .is_empty()
    );
}

#[test]
fn render_unchecked_skips_the_schema() {
    let out = parse(PROMPT)
        .render_unchecked(&crate::vars(json!({"age": "old"})))
        .unwrap();
    assert_eq!(out[0].content, "old");
}
