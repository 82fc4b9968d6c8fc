//! Templates are bounded by construction: the nesting bound admits only what parses and
//! renders well within a thread's stack, and measured stack costs back the constants in
//! `nesting.rs` and `lib.rs`. Size bounds (`template_max_bytes`) are in the fixtures
//! (`bounds_*`).

use promptd_template::{EngineOptions, MAX_NESTING, Prompt};
use serde_json::Map;

/// Unoptimised builds use up to 8x more stack per frame; promptd's constants scale the same.
const BUILD_FACTOR: usize = if cfg!(debug_assertions) { 8 } else { 1 };

/// Runs plain minijinja (no promptd stack switching) on a thread with `stack` bytes: the
/// measurement the constants rest on.
fn minijinja_renders_within(template: String, stack: usize) -> Result<String, String> {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let mut env = minijinja::Environment::new();
            env.set_fuel(Some(u64::MAX / 128));
            env.add_template_owned("t", template)
                .map_err(|e| e.to_string())?;
            env.get_template("t")
                .and_then(|t| t.render(()))
                .map_err(|e| e.to_string())
        })
        .expect("thread starts")
        .join()
        .expect("no panic")
}

/// The costliest constructs per level, each at the deepest nesting the bound admits.
fn deepest_admitted() -> Vec<String> {
    let n = MAX_NESTING - 2;
    vec![
        format!("{{{{ {}1 }}}}", "-".repeat(n)),
        format!("{{{{ {}true }}}}", "not ".repeat(n)),
        format!("{{{{ 1{} }}}}", "|abs".repeat(n)),
        format!("{{{{ 1{} }}}}", " + 1".repeat(n)),
        format!("{{{{ 'a'{} }}}}", " ~ 'a'".repeat(n)),
        format!("{{{{ x{} }}}}", ".a".repeat(n)),
        format!("{{{{ x{} }}}}", "[0]".repeat(n / 2)),
        format!(
            "{{% if false %}}{}{{% endif %}}",
            "{% elif false %}".repeat(n)
        ),
        format!(
            "{}{{{{ 1 }}}}{}",
            "{% for i in [1] %}".repeat(n / 2),
            "{% endfor %}".repeat(n / 2)
        ),
    ]
}

#[test]
fn every_deepest_admitted_template_is_accepted() {
    for t in deepest_admitted() {
        if let Err(e) = Prompt::parse(&t, &EngineOptions::default()) {
            assert!(
                !e.to_string().contains("nests deeper"),
                "{}: {e}",
                &t[..60.min(t.len())]
            );
        }
    }
}

#[test]
fn one_level_more_is_refused_before_parsing() {
    let t = format!("{{{{ {}1 }}}}", "-".repeat(MAX_NESTING));
    let e = Prompt::parse(&t, &EngineOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "syntax");
    assert!(
        e.to_string().contains("nests deeper than 200 levels"),
        "{e}"
    );
}

#[test]
fn deepest_admitted_templates_parse_and_render_in_a_quarter_of_the_parse_stack() {
    // promptd parses with at least 1 MiB of stack (PARSE_STACK); a quarter must do.
    for t in deepest_admitted() {
        let head = t[..40.min(t.len())].to_owned();
        // Errors (minijinja's own bracket guard, undefined values) are fine: no overflow.
        let _ = minijinja_renders_within(t, 256 * 1024 * BUILD_FACTOR);
        eprintln!("ok within {} KiB: {head}", 256 * BUILD_FACTOR);
    }
}

#[test]
fn nested_values_drop_print_serialize_and_compare_within_half_the_reserved_stack() {
    // promptd reserves 1 KiB of stack per level of value nesting (STACK_PER_VALUE_LEVEL).
    let depth = 4000;
    let sets = "{% set x = [x] %}".repeat(depth);
    let t = format!(
        "{{% set x = 1 %}}{sets}{{{{ x|tojson|length }}}} {{{{ x|string|length }}}} {{{{ (x ~ '')|length }}}} {{{{ x == [x][0] }}}}"
    );
    let out = minijinja_renders_within(t, depth * 1024 * BUILD_FACTOR / 2).unwrap();
    assert_eq!(out, "8001 8001 8001 True");
}

#[test]
fn a_value_nested_thirty_thousand_deep_renders_on_a_small_thread() {
    let sets = "{% set x = [x] %}".repeat(30_000);
    let p = Prompt::parse(
        &format!("{{% set x = 1 %}}{sets}User: {{{{ x|tojson|length }}}}"),
        &EngineOptions::default(),
    )
    .unwrap();
    let out = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || p.render(&Map::new()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(out[0].content, "60001");
}

#[test]
fn a_template_that_could_nest_values_past_the_cap_is_refused() {
    // 30,000 statements inside a macro, which may run inside itself up to the recursion
    // limit: the value-depth bound passes MAX_VALUE_DEPTH.
    let sets = "{% set x = [x] %}".repeat(30_000);
    let t = format!("{{% macro f(x) %}}{sets}{{{{ f(x) }}}}{{% endmacro %}}{{{{ f(1) }}}}");
    let e = Prompt::parse(&t, &EngineOptions::default()).unwrap_err();
    assert!(e.to_string().contains("nested about"), "{e}");
}
