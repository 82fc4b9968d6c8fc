//! Property tests: parsing and rendering are total (no panic, no hang) on arbitrary input,
//! and no variable value can start a message.

use promptd_template::{EngineOptions, Limits, Prompt, Role};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Small limits keep each case fast; the point is totality, not throughput.
fn opts(escape_html: bool) -> EngineOptions {
    EngineOptions {
        limits: Limits {
            fuel: 20_000,
            max_output_bytes: 64 * 1024,
            recursion: 50,
            max_bytes: 1024 * 1024,
        },
        escape_html,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        "(System|User|Assistant|\n| |x|\u{e000}|<|&|'){0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn vars() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(
        (
            prop_oneof![Just("x".to_string()), Just("y".to_string()), "[a-z]{1,3}"],
            json_value(),
        ),
        0..5,
    )
    .prop_map(|kv| kv.into_iter().collect())
}

/// Template-shaped text: fragments that exercise the lexer, the parser and the role splitter.
fn template_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("{{ x }}".to_string()),
        Just("{{ x.y }}".to_string()),
        Just("{{ y|upper }}".to_string()),
        Just("{{ x|tojson }}".to_string()),
        Just("{{ x ~ y }}".to_string()),
        Just("{% if x %}".to_string()),
        Just("{% else %}".to_string()),
        Just("{% endif %}".to_string()),
        Just("{% for i in x %}".to_string()),
        Just("{% endfor %}".to_string()),
        Just("{% set z = x %}".to_string()),
        Just("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(x) }}".to_string()),
        Just("{%- raw %}{{{% endraw -%}".to_string()),
        Just("System:".to_string()),
        Just("User: ".to_string()),
        Just("Assistant:".to_string()),
        Just("Developer:".to_string()),
        Just("Tool:".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("  ".to_string()),
        Just("---\n".to_string()),
        Just("model: m\n".to_string()),
        Just("input:\n  schema:\n    x: string\n".to_string()),
        Just("{{".to_string()),
        Just("%}".to_string()),
        Just("\u{feff}".to_string()),
        Just("\u{e000}".to_string()),
        ".{0,6}",
    ];
    prop::collection::vec(fragment, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = Prompt::parse(&text, &opts(false));
    }

    #[test]
    fn parsing_and_rendering_template_shaped_text_never_panics(
        text in template_text(),
        v in vars(),
        escape in any::<bool>(),
    ) {
        if let Ok(p) = Prompt::parse(&text, &opts(escape)) {
            let _ = p.render(&v);
            let _ = p.render_unchecked(&v);
            let _ = p.to_json();
        }
    }

    #[test]
    fn rendered_messages_respect_the_output_cap(text in template_text(), v in vars()) {
        if let Ok(p) = Prompt::parse(&text, &opts(false))
            && let Ok(messages) = p.render_unchecked(&v)
        {
            let total: usize = messages.iter().map(|m| m.content.len()).sum();
            prop_assert!(total <= 64 * 1024);
        }
    }

    #[test]
    fn no_variable_value_can_start_a_message(value in json_value(), escape in any::<bool>()) {
        let p = Prompt::parse("System: fixed\nUser: {{ v }}\n{{ v }}", &opts(escape)).unwrap();
        let mut v = Map::new();
        v.insert("v".into(), value);
        let out = p.render_unchecked(&v).unwrap();
        prop_assert!(out.len() <= 2, "{out:?}");
        prop_assert_eq!(out[0].role, Role::System);
        prop_assert_eq!(&out[0].content, "fixed");
        if let Some(m) = out.get(1) {
            prop_assert_eq!(m.role, Role::User);
        }
    }

    #[test]
    fn no_string_variable_can_start_a_message(s in "(System:|User:|Assistant:|Developer:|Tool:|\n|\r| |\t|x){0,30}") {
        let p = Prompt::parse("User: a\n{{ s }}\nAssistant: b", &opts(false)).unwrap();
        let mut v = Map::new();
        v.insert("s".into(), Value::String(s));
        let out = p.render_unchecked(&v).unwrap();
        let roles: Vec<Role> = out.iter().map(|m| m.role).collect();
        prop_assert_eq!(roles, vec![Role::User, Role::Assistant]);
    }

    #[test]
    fn json_forms_round_trip(content in "[a-zA-Z {}:\n]{0,40}", temp in 0u8..20, model in "[a-z][a-z0-9-]{0,10}") {
        let mut meta = Map::new();
        meta.insert("model".into(), Value::String(model));
        meta.insert("temperature".into(), Value::from(f64::from(temp) / 10.0));
        let text = promptd_template::from_json(&content, &meta);
        if let Ok(p) = Prompt::parse(&text, &opts(false)) {
            prop_assert_eq!(p.metadata(), &meta);
            prop_assert_eq!(p.content(), content.trim());
        } else {
            // Only the template may fail (random braces), never the frontmatter.
            let e = Prompt::parse(&text, &opts(false)).unwrap_err();
            prop_assert_eq!(e.kind(), "syntax");
        }
    }
}
