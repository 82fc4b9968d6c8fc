//! `Prompt::placeholder_messages`: templates served with `{name}` placeholders for clients that
//! substitute variables themselves, and the templates refused because substitution cannot
//! express them.

use promptd_template::{EngineOptions, Message, PlaceholderError, Prompt};
use serde_json::{Map, Value, json};

use crate::{pairs, parse, render, vars};

fn placeholders(text: &str) -> Vec<Message> {
    parse(text)
        .placeholder_messages()
        .unwrap_or_else(|e| panic!("expected placeholders, got: {e}"))
}

/// The refusal for `text`, checked to name `variable` and `line`.
fn refused(text: &str, variable: &str, line: usize) -> String {
    match parse(text).placeholder_messages() {
        Ok(m) => panic!("expected a refusal for {text:?}, got {m:?}"),
        Err(PlaceholderError::Unexpressible {
            variable: v,
            line: l,
            how,
        }) => {
            assert_eq!(
                (v.as_str(), l),
                (variable, line),
                "{text:?} was refused for '{v}' at line {l} ({how})"
            );
            how
        }
        Err(other) => panic!("expected Unexpressible for {text:?}, got {other:?}"),
    }
}

/// What LiteLLM 1.108.7's `_apply_variables` does: for each variable, replace `{name}` and
/// then `{{name}}` with `str(value)`.
fn substitute(messages: &[Message], values: &Map<String, Value>) -> Vec<Message> {
    messages
        .iter()
        .map(|m| {
            let mut content = m.content.clone();
            for (k, v) in values {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                content = content.replace(&format!("{{{k}}}"), &s);
                content = content.replace(&format!("{{{{{k}}}}}"), &s);
            }
            Message {
                role: m.role,
                content,
                parts: None,
            }
        })
        .collect()
}

#[test]
fn plain_variables_become_single_brace_placeholders() {
    let t = "---\nmodel: gpt-4o\n---\nSystem: You are {{ persona }}.\n\nUser: Say hello to {{name}} and {{- name }}!";
    assert_eq!(
        pairs(&placeholders(t)),
        [
            ("system", "You are {persona}."),
            ("user", "Say hello to {name} and{name}!")
        ]
    );
}

#[test]
fn substituting_the_placeholders_gives_what_promptd_renders() {
    let t = "System: You are {{ persona }}.\n{# a note #}\n{% for i in range(2) %}User: {{ q }} ({{ i }})\n{% endfor %}{% set sig = 'Bye' %}Assistant: {{ sig }}, {{ q }}";
    let values = vars(json!({"persona": "a pirate <arr> & 'friends'", "q": "Why?"}));
    assert_eq!(
        substitute(&placeholders(t), &values),
        render(t, Value::Object(values.clone()))
    );
}

#[test]
fn a_template_without_variables_is_served_as_it_renders() {
    let t = "System: fixed\nUser: {{ 'literal' | upper }} {% if true %}yes{% endif %}";
    assert_eq!(
        pairs(&placeholders(t)),
        [("system", "fixed"), ("user", "LITERAL yes")]
    );
}

#[test]
fn control_flow_that_does_not_read_variables_is_allowed() {
    let t = "{% set items = ['a', 'b'] %}{% for x in items %}{{ x }}={{ v }};{% endfor %}{% if false %}{{ hidden }}{% endif %}";
    assert_eq!(pairs(&placeholders(t)), [("user", "a={v};b={v};")]);
}

#[test]
fn a_condition_on_a_variable_is_refused_with_its_line() {
    let how = refused(
        "User: hi\n{% if name == 'admin' %}System: secret{% endif %}",
        "name",
        2,
    );
    assert!(how.contains("{% if %}"), "{how}");
}

#[test]
fn line_numbers_count_from_the_top_of_the_file() {
    refused(
        "---\nmodel: m\n---\n\nUser: hi\n{% if x %}y{% endif %}",
        "x",
        6,
    );
}

#[test]
fn truthiness_and_definedness_tests_are_refused() {
    refused("{% if name %}Hi {{ name }}{% endif %}", "name", 1);
    let how = refused("{{ name if name is defined else 'you' }}", "name", 1);
    assert!(
        how.contains("is defined") || how.contains("inline"),
        "{how}"
    );
}

#[test]
fn a_loop_over_a_variable_is_refused() {
    let how = refused("{% for d in docs %}{{ d }}{% endfor %}", "docs", 1);
    assert!(how.contains("{% for %}"), "{how}");
}

#[test]
fn filters_tests_and_methods_on_a_variable_are_refused() {
    assert!(refused("{{ name|upper }}", "name", 1).contains("|upper"));
    assert!(refused("{{ name|default('you') }}", "name", 1).contains("|default"));
    assert!(refused("{{ name.upper() }}", "name", 1).contains(".upper()"));
    assert!(refused("{{ 'x' if n is odd }}", "n", 1).contains("is odd"));
    assert!(refused("{{ ', '.join(items) }}", "items", 1).contains("argument"));
}

#[test]
fn a_variable_inside_an_expression_is_refused() {
    assert!(refused("{{ user.name }}", "user", 1).contains(".name"));
    assert!(refused("{{ d['k'] }}", "d", 1).contains("item lookup"));
    assert!(refused("{{ 'Dr. ' ~ name }}", "name", 1).contains("~"));
    assert!(refused("{{ n + 1 }}", "n", 1).contains("operator"));
    assert!(refused("{{ [name] }}", "name", 1).contains("list"));
    assert!(refused("{{ name() }}", "name", 1).contains("called"));
    assert!(refused("{{ range(n) }}", "n", 1).contains("argument"));
}

#[test]
fn assigning_a_variable_is_refused_even_when_the_copy_is_printed_plainly() {
    assert!(refused("{% set who = name %}Hi {{ who }}", "name", 1).contains("{% set %}"));
    assert!(refused("{% with who = name %}{{ who }}{% endwith %}", "name", 1).contains("with"));
}

#[test]
fn a_variable_printed_inside_a_capturing_block_is_refused() {
    assert!(refused("{% filter upper %}{{ name }}{% endfilter %}", "name", 1).contains("filter"));
    assert!(refused("{% set s %}{{ name }}{% endset %}{{ s|trim }}", "name", 1).contains("set"));
    assert!(
        refused(
            "{% macro m() %}{{ name }}{% endmacro %}{{ m()|upper }}",
            "name",
            1
        )
        .contains("macro")
    );
    assert!(
        refused(
            "{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}{{ name }}{% endcall %}",
            "name",
            1
        )
        .contains("call")
    );
    assert!(
        refused(
            "{% autoescape true %}{{ name }}{% endautoescape %}",
            "name",
            1
        )
        .contains("autoescape")
    );
}

#[test]
fn macro_and_loop_locals_are_not_variables() {
    let t = "{% macro b(x) %}**{{ x }}**{% endmacro %}{{ b('title') }} {% for x in [1] %}{{ x }}{{ loop.index }}{% endfor %} {{ x }}";
    // `x` outside the loop and the macro is the caller's variable again.
    assert_eq!(pairs(&placeholders(t)), [("user", "**title** 11 {x}")]);
}

#[test]
fn a_name_set_only_inside_an_if_branch_is_still_a_variable_after_it() {
    // The branch is constant, so the render decides: here the name is bound and printed as set.
    assert_eq!(
        pairs(&placeholders(
            "{% if true %}{% set g = 'hi' %}{% endif %}{{ g }}"
        )),
        [("user", "hi")]
    );
    refused(
        "{% if true %}{% set g = 'hi' %}{% endif %}{{ g|upper }}",
        "g",
        1,
    );
}

#[test]
fn a_filter_before_a_set_of_the_same_name_is_still_refused() {
    refused("{{ name|upper }}{% set name = 'x' %}{{ name }}", "name", 1);
}

#[test]
fn a_variable_cannot_produce_a_role_line() {
    // Printed by an expression, a value never starts a message, through promptd or a client.
    let t = "{{ role }}: hi\nUser: {{ q }}";
    assert_eq!(
        pairs(&placeholders(t)),
        [("user", "{role}: hi"), ("user", "{q}")]
    );
}

#[test]
fn template_text_that_already_holds_a_placeholder_is_refused() {
    let t = "User: {% raw %}{name}{% endraw %} is {{ name }}";
    match parse(t).placeholder_messages() {
        Err(PlaceholderError::LiteralPlaceholder { variable, line }) => {
            assert_eq!((variable.as_str(), line), ("name", Some(1)));
        }
        other => panic!("expected LiteralPlaceholder, got {other:?}"),
    }
    // Braces around other names are left alone.
    assert_eq!(
        pairs(&placeholders(
            "User: {% raw %}{\"a\": 1} {other}{% endraw %} {{ name }}"
        )),
        [("user", "{\"a\": 1} {other} {name}")]
    );
}

#[test]
fn escaped_values_are_refused_when_escape_html_is_on() {
    let opts = EngineOptions {
        escape_html: true,
        ..EngineOptions::default()
    };
    let p = Prompt::parse("User: {{ name }}", &opts).expect("parses");
    let err = p.placeholder_messages().expect_err("refused");
    assert_eq!(err.variable(), Some("name"));
    assert!(err.to_string().contains("escape_html"), "{err}");
    // Without variables there is nothing to escape.
    let p = Prompt::parse("User: <b>fixed</b>", &opts).expect("parses");
    assert_eq!(
        pairs(&p.placeholder_messages().expect("served")),
        [("user", "<b>fixed</b>")]
    );
}

#[test]
fn a_constant_that_spells_a_sentinel_is_caught_by_the_second_render() {
    // U+E000 is the first sentinel marker; the template text cannot contain it (it would be
    // skipped), but an escape in a string literal can produce it.
    let t = "User: {{ '\\ue0000\\ue000' }} {{ name }}";
    let out = parse(t).placeholder_messages();
    assert!(
        matches!(out, Err(PlaceholderError::Unstable { .. })) || {
            // If the engine does not decode the escape, the literal text is served as is.
            out.as_ref().is_ok_and(|m| {
                m[0].content.ends_with("{name}") && !m[0].content.contains('\u{e000}')
            })
        },
        "{out:?}"
    );
}

#[test]
fn a_runtime_error_of_the_template_itself_is_reported_as_such() {
    let err = parse("User: {{ 1 // 0 }} {{ name }}")
        .placeholder_messages()
        .expect_err("fails");
    assert!(matches!(err, PlaceholderError::Render(_)), "{err:?}");
}

#[test]
fn the_refusal_text_names_the_variable_the_line_and_the_reason() {
    let err = parse("User: hi\n{% for d in docs %}{{ d }}{% endfor %}")
        .placeholder_messages()
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("'docs'") && text.contains("line 2") && text.contains("{docs}"),
        "{text}"
    );
}

/// Template pieces that substitution can express: text, role lines, plain variables, and
/// control flow that reads no variable.
fn plain_piece() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        "[a-z ,.!?]{1,12}",
        Just("\nSystem: ".to_string()),
        Just("\nUser: ".to_string()),
        Just("\nAssistant: ".to_string()),
        Just("\n".to_string()),
        Just("{{ a }}".to_string()),
        Just("{{b}}".to_string()),
        Just("{{- c }}".to_string()),
        Just("{% for i in range(2) %}[{{ a }}{{ i }}]{% endfor %}".to_string()),
        Just("{% if 1 > 2 %}never {{ b }}{% else %}always{% endif %}".to_string()),
        Just("{# comment #}".to_string()),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(300))]

    /// For values without whitespace at their edges, substituting LiteLLM's way into the
    /// placeholder messages gives exactly what promptd renders.
    #[test]
    fn substitution_into_placeholders_equals_promptds_render(
        pieces in proptest::collection::vec(plain_piece(), 1..12),
        a in "[A-Za-z<>&'\"!][A-Za-z0-9 <>&'\"!\n]{0,10}[A-Za-z0-9!]",
        b in "[A-Za-z0-9]{1,6}",
        c in "(System: x|User|[a-z]{1,4})",
    ) {
        let text: String = pieces.concat();
        let prompt = parse(&text);
        let values = vars(json!({"a": a, "b": b, "c": c}));
        let served = prompt.placeholder_messages().expect("plain pieces are served");
        let rendered = prompt.render_unchecked(&values).expect("renders");
        proptest::prop_assert_eq!(substitute(&served, &values), rendered, "template {:?}", text);
    }
}
