//! Splitting and reading the YAML frontmatter.

use promptd_template::{TemplateError, split_frontmatter};
use serde_json::json;

use crate::{parse, parse_err};

#[test]
fn text_without_a_leading_delimiter_is_all_body() {
    let (meta, body) = split_frontmatter("Hello\n---\nmodel: x\n---\n").unwrap();
    assert!(meta.is_empty());
    assert_eq!(body, "Hello\n---\nmodel: x\n---\n");
}

#[test]
fn the_body_is_returned_unstripped() {
    let (meta, body) = split_frontmatter("---\nmodel: m\n---\n\n  User: hi\n\n").unwrap();
    assert_eq!(meta["model"], "m");
    assert_eq!(body, "\n  User: hi\n\n");
}

#[test]
fn a_bom_and_crlf_line_ends_are_tolerated() {
    let (meta, body) = split_frontmatter("\u{feff}---\r\nmodel: m\r\n---\r\nUser: hi\r\n").unwrap();
    assert_eq!(meta["model"], "m");
    assert_eq!(body, "User: hi\n");
}

#[test]
fn a_closing_delimiter_at_end_of_file_needs_no_newline() {
    let (meta, body) = split_frontmatter("---\nmodel: m\n---").unwrap();
    assert_eq!(meta["model"], "m");
    assert_eq!(body, "");
}

#[test]
fn an_empty_frontmatter_block_is_accepted() {
    let (meta, body) = split_frontmatter("---\n---\nbody").unwrap();
    assert!(meta.is_empty());
    assert_eq!(body, "body");
}

#[test]
fn the_first_closing_delimiter_ends_the_frontmatter() {
    let (meta, body) = split_frontmatter("---\na: 1\n---\nUser: x\n---\nb: 2\n").unwrap();
    assert_eq!(serde_json::Value::Object(meta), json!({"a": 1}));
    assert_eq!(body, "User: x\n---\nb: 2\n");
}

#[test]
fn key_order_is_kept_in_metadata_and_parameters() {
    let p = parse("---\nz: 1\nmodel: m\na: 2\ninput:\n  schema: {x: string}\nb: 3\n---\nUser: hi");
    let keys: Vec<&str> = p.metadata().keys().map(String::as_str).collect();
    assert_eq!(keys, ["z", "model", "a", "input", "b"]);
    let params: Vec<&str> = p.optional_params().keys().map(String::as_str).collect();
    assert_eq!(params, ["z", "a", "b"]);
}

#[test]
fn invalid_yaml_reports_its_line_in_whole_file_coordinates() {
    let e = parse_err("---\nmodel: m\nstop: [a, b\n---\nUser: hi");
    match e {
        TemplateError::Frontmatter { line, column, .. } => {
            assert!(line >= 3, "line {line}");
            assert!(column >= 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_alias_bomb_is_rejected_by_the_yaml_budget() {
    let mut yaml = String::from("---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    yaml.push_str("---\nUser: hi");
    let e = parse_err(&yaml);
    assert_eq!(e.kind(), "frontmatter");
    assert!(e.to_string().contains("aliases"), "{e}");
}

#[test]
fn a_model_that_is_not_a_string_is_refused_at_its_line() {
    let e = parse_err("---\ntemperature: 1\nmodel: [a, b]\n---\nUser: hi");
    assert!(
        matches!(e, TemplateError::Frontmatter { line: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("model must be"), "{e}");
}

#[test]
fn a_missing_model_is_allowed_at_parse_time() {
    assert_eq!(parse("---\ntemperature: 0\n---\nUser: hi").model(), None);
    assert_eq!(parse("---\nmodel:\n---\nUser: hi").model(), None);
}

#[test]
fn model_input_and_output_are_not_parameters() {
    let p = parse(
        "---\nmodel: m\ninput: {schema: {a: string}}\noutput: {format: json}\ntemperature: 0\n---\nx",
    );
    assert_eq!(
        serde_json::Value::Object(p.optional_params().clone()),
        json!({"temperature": 0})
    );
    assert_eq!(p.metadata()["output"], json!({"format": "json"}));
}

#[test]
fn every_line_end_becomes_a_newline_so_a_second_parse_changes_nothing() {
    let (_, body) = split_frontmatter("---\na: 1\r\n---\r\nx\r\r\ny\rz").unwrap();
    assert_eq!(body, "x\n\ny\nz");
    let again = crate::parse(&promptd_template::from_json(&body, &Default::default()));
    assert_eq!(again.content(), body);
}

#[test]
fn a_frontmatter_of_only_comments_is_empty() {
    let p = parse("---\n# just a note\n---\nUser: hi");
    assert!(p.metadata().is_empty());
    assert!(
        parse("---\ninput:\n  schema:\n---\nUser: hi")
            .input_schema()
            .is_empty()
    );
}
