//! Fuzz target: any bytes as a `.prompt` (and, after a NUL byte, JSON variables) must parse
//! and render without panicking, the JSON form must round-trip, and the same bytes used as a
//! variable's value must never start a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use promptd_template::{EngineOptions, Limits, Prompt, Role, from_json};
use serde_json::{Map, Value};

fn options(escape_html: bool) -> EngineOptions {
    // Smaller than the defaults so each input runs fast; the bounds are what is exercised.
    EngineOptions {
        limits: Limits {
            fuel: 50_000,
            max_output_bytes: 256 * 1024,
            recursion: 100,
        },
        escape_html,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (source, vars_json) = text.split_once('\0').unwrap_or((&text, ""));
    let vars: Map<String, Value> = serde_json::from_str(vars_json).unwrap_or_default();
    let escape = data.first().is_some_and(|b| b & 1 == 1);

    if let Ok(prompt) = Prompt::parse(source, &options(escape)) {
        let _ = prompt.render(&vars);
        let _ = prompt.render_unchecked(&vars);
        // The JSON form written back must parse to the same metadata and content.
        let back = from_json(prompt.content(), prompt.metadata());
        let again = Prompt::parse(&back, &options(escape))
            .unwrap_or_else(|e| panic!("from_json output does not parse: {e}\n{back:?}"));
        assert_eq!(again.metadata(), prompt.metadata(), "{back:?}");
        assert_eq!(again.content(), prompt.content(), "{back:?}");
    }

    // Injection: the input as a variable's value never creates a message.
    let fixed = Prompt::parse("System: fixed\nUser: {{ v }}\n{{ v }}", &options(escape))
        .expect("the fixed template parses");
    let mut v = Map::new();
    v.insert("v".into(), Value::String(source.to_owned()));
    if let Ok(out) = fixed.render_unchecked(&v) {
        assert_eq!(out[0].role, Role::System);
        assert_eq!(out[0].content, "fixed");
        assert!(out.len() <= 2 && out.iter().skip(1).all(|m| m.role == Role::User), "{out:?}");
    }
});
