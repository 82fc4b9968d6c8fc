//! `{content, metadata}` JSON form and back.

use promptd_template::from_json;
use serde_json::{Map, Value, json};

use crate::{pairs, parse, render};

fn map(v: Value) -> Map<String, Value> {
    crate::vars(v)
}

#[test]
fn to_json_is_the_converter_shape() {
    let p = parse("---\nmodel: mock-gpt\ntemperature: 0.3\n---\n\nSystem: a\n\nUser: b\n\n");
    assert_eq!(
        p.to_json(),
        json!({"content": "System: a\n\nUser: b", "metadata": {"model": "mock-gpt", "temperature": 0.3}})
    );
    // The shape and key order the converter answers with (transcript 38).
    let text = serde_json::to_string(&p.to_json()).unwrap();
    assert!(text.starts_with("{\"content\":"), "{text}");
}

#[test]
fn from_json_with_empty_metadata_is_the_content_alone() {
    assert_eq!(from_json("User: hi", &Map::new()), "User: hi");
}

#[test]
fn from_json_writes_a_frontmatter_block() {
    let text = from_json(
        "User: {{ x }}",
        &map(json!({"model": "m", "temperature": 0.5})),
    );
    assert!(text.starts_with("---\n"), "{text}");
    assert!(text.ends_with("---\nUser: {{ x }}"), "{text}");
}

#[test]
fn content_model_and_parameters_survive_a_round_trip() {
    let metadata = map(json!({
        "model": "gpt-4o",
        "temperature": 0.7,
        "max_tokens": 100,
        "stop": ["\n\n", "User:"],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
        "response_format": {"type": "json_object"},
        "description": "yes",
        "seed": "0012",
        "nothing": null,
        "input": {"schema": {"name": "string", "age?": "int"}},
        "output": {"format": "json"}
    }));
    let content = "System: Be brief.\n\n  Indented: keep\nUser: Hello {{ name }}";
    let text = from_json(content, &metadata);
    let p = parse(&text);
    assert_eq!(p.content(), content);
    assert_eq!(p.metadata(), &metadata, "{text}");
    assert_eq!(p.model(), Some("gpt-4o"));
    assert_eq!(
        p.to_json(),
        json!({"content": content, "metadata": metadata})
    );
}

#[test]
fn content_that_starts_with_a_delimiter_survives_a_round_trip() {
    let content = "---\nnot: yaml\n---\nUser: hi";
    let p = parse(&from_json(content, &Map::new()));
    assert!(p.metadata().is_empty());
    assert_eq!(p.content(), content);
}

#[test]
fn a_parsed_prompt_written_back_renders_the_same() {
    let original = "---\nmodel: m\ntemperature: 0.2\n---\nSystem: s {{ a }}\nUser: u";
    let p = parse(original);
    let back = from_json(p.content(), p.metadata());
    assert_eq!(
        pairs(&render(&back, json!({"a": 1}))),
        pairs(&render(original, json!({"a": 1})))
    );
}

#[test]
fn content_that_starts_with_a_bom_survives_a_round_trip() {
    let p = parse(" \u{feff}hello");
    assert_eq!(p.content(), "\u{feff}hello");
    assert_eq!(
        parse(&from_json(p.content(), &Map::new())).content(),
        "\u{feff}hello"
    );
}
