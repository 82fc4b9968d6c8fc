//! Handlebars.js syntax handlebars-rust's grammar lacks, accepted as the reference accepts it.

use promptd_dotprompt::{Limits, Part, Prompt, RenderData};
use serde_json::json;

fn text(template: &str) -> String {
    let p = Prompt::parse(template, &Limits::default()).expect("parses");
    let data: RenderData = serde_json::from_value(json!({"input": {
        "s": ".", "l": [1, 2], "d": {"a": 1}
    }}))
    .expect("data");
    p.render(&data)
        .expect("renders")
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|part| match part {
            Part::Text { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lone_dot_is_this_as_in_handlebars_js() {
    assert_eq!(text("{{#each l}}{{.}},{{/each}}"), "1,2,");
    assert_eq!(text("{{#each l}}{{{.}}}{{~.~}}{{/each}}"), "1122");
    assert_eq!(
        text("{{#with d}}{{json . indent=2}}{{/with}}"),
        "{\n  \"a\": 1\n}"
    );
    assert_eq!(text("{{#each .}}{{@key}}{{/each}}"), "sld");
    // Dots in text, comments, strings and relative paths stay what they are.
    assert_eq!(text("a. b. {{! . }}{{s}}."), "a. b. ..");
    assert_eq!(text("{{#ifEquals s \".\"}}dot{{/ifEquals}}"), "dot");
    assert_eq!(text("{{./s}} {{#each l}}{{../s}}{{/each}}"), ". ..");
}
