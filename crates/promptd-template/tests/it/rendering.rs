//! Jinja semantics as LiteLLM's Jinja2 has them: undefined variables, printing, escaping,
//! errors with positions.

use promptd_template::{EngineOptions, Prompt, TemplateError};
use serde_json::json;

use crate::{pairs, parse_err, render, render_err, vars};

#[test]
fn an_undefined_variable_renders_as_empty_text() {
    assert_eq!(
        pairs(&render("User: [{{ nope }}]", json!({}))),
        [("user", "[]")]
    );
}

#[test]
fn an_attribute_of_an_undefined_variable_is_an_error_naming_it() {
    let e = render_err("---\nmodel: m\n---\nUser: {{ customer.name }}", json!({}));
    match &e {
        TemplateError::Render { line, message } => {
            assert_eq!(*line, Some(4));
            assert!(message.contains("`customer` is undefined"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_syntax_error_is_found_at_parse_time_with_file_line_and_column() {
    let e = parse_err("---\nmodel: m\n---\nSystem: ok\nUser: {% for x in %}");
    match e {
        TemplateError::Syntax { line, column, .. } => {
            assert_eq!(line, 5);
            assert!(column > 7, "column {column}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn one_trailing_newline_is_dropped_like_jinja2() {
    // Visible only through a value that keeps whitespace: a trailing newline in the template
    // never reaches a message anyway.
    assert_eq!(pairs(&render("User: a\n\n", json!({}))), [("user", "a")]);
}

#[test]
fn booleans_none_and_floats_print_like_python() {
    let out = render(
        "User: {{ t }} {{ f }} {{ n }} {{ x }} {{ y }} {{ z }}",
        json!({"t": true, "f": false, "n": null, "x": 1.0, "y": 0.1, "z": 1e16}),
    );
    assert_eq!(out[0].content, "True False None 1.0 0.1 1e+16");
}

#[test]
fn lists_and_mappings_print_as_python_repr() {
    let out = render(
        "User: {{ v }}",
        json!({"v": {"a": [1, "x", null], "b": "it's \"q\"", "c": "line\nbreak"}}),
    );
    assert_eq!(
        out[0].content,
        r#"{'a': [1, 'x', None], 'b': 'it\'s "q"', 'c': 'line\nbreak'}"#
    );
}

#[test]
fn html_is_not_escaped_by_default() {
    assert_eq!(
        render("User: {{ s }}", json!({"s": "<b>&'\""}))[0].content,
        "<b>&'\""
    );
}

#[test]
fn escape_html_reproduces_litellms_bytes() {
    let opts = EngineOptions {
        escape_html: true,
        ..EngineOptions::default()
    };
    let p = Prompt::parse("User: {{ s }} {{ s|safe }} {{ 5 }} {{ none }}", &opts).unwrap();
    let out = p
        .render(&vars(json!({"s": "O'Reilly <b>&\"", "none": null})))
        .unwrap();
    assert_eq!(
        out[0].content,
        "O&#39;Reilly &lt;b&gt;&amp;&#34; O'Reilly <b>&\" 5 None"
    );
}

#[test]
fn python_string_methods_work() {
    let out = render(
        "User: {{ s.upper() }}|{{ s.replace('a', 'o') }}|{{ s.split(',') }}",
        json!({"s": "a,b"}),
    );
    assert_eq!(out[0].content, "A,B|o,b|['a', 'b']");
}

#[test]
fn mapping_order_follows_the_variables() {
    let out = render(
        "User: {% for k in d %}{{ k }}{% endfor %} {{ d|list }}",
        json!({"d": {"z": 1, "m": 2, "a": 3}}),
    );
    assert_eq!(out[0].content, "zma ['z', 'm', 'a']");
}

#[test]
fn loop_controls_are_available() {
    let out = render(
        "User: {% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
        json!({}),
    );
    assert_eq!(out[0].content, "012");
}

#[test]
fn tojson_renders_json_for_structured_variables() {
    let out = render("User: {{ d|tojson }}", json!({"d": {"b": 1, "a": [true]}}));
    assert_eq!(out[0].content, r#"{"b": 1, "a": [true]}"#);
}

#[test]
fn a_prompt_is_shared_across_threads() {
    let p = crate::parse("User: {{ n }}");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || p.render(&vars(json!({"n": i}))).unwrap()[0].content.clone())
        })
        .collect();
    let got: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, ["0", "1", "2", "3"]);
}

#[test]
fn content_is_the_trimmed_body() {
    assert_eq!(
        crate::parse("---\nmodel: m\n---\n\n  User: {{ x }}  \n\n").content(),
        "User: {{ x }}"
    );
}

#[test]
fn namespace_is_refused_with_a_reason() {
    let e = render_err("{% set ns = namespace(a=1) %}User: {{ ns.a }}", json!({}));
    assert!(e.to_string().contains("contain itself"), "{e}");
}

#[test]
fn every_error_message_says_where_and_how() {
    let cases = [
        parse_err("---\nmodel: [\n---\nx").to_string(),
        parse_err("{% if %}").to_string(),
        render_err("{{ a.b }}", json!({})).to_string(),
    ];
    for text in cases {
        assert!(text.contains("line "), "{text}");
        assert!(text.contains(';'), "no hint in {text}");
    }
}

#[test]
fn mapping_variables_behave_like_dicts() {
    let t = "User: {{ d.b }} {{ d['a'] }} {{ d|length }} {{ 'a' in d }} {{ 'zz' in d }} {{ d|tojson }} {{ d|dictsort }} {% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}";
    let out = render(t, json!({"d": {"b": 1, "a": [2]}}));
    assert_eq!(
        out[0].content,
        r#"1 [2] 2 True False {"b": 1, "a": [2]} [('a', [2]), ('b', 1)] b1a[2]"#
    );
}

#[test]
fn large_mappings_keep_their_order_too() {
    let mut d = serde_json::Map::new();
    for i in (0..40).rev() {
        d.insert(format!("k{i:02}"), json!(i));
    }
    let out = render(
        "User: {% for k in d %}{{ k }},{% endfor %}",
        json!({"d": d}),
    );
    assert!(
        out[0].content.starts_with("k39,k38,k37,"),
        "{}",
        out[0].content
    );
}
