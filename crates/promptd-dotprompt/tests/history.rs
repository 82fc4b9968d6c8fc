//! `Prompt::uses_history`: whether a template places the conversation so far itself.

use std::collections::BTreeMap;

use promptd_dotprompt::{Limits, ParseOptions, Prompt};

#[test]
fn a_template_uses_history_when_it_or_a_partial_calls_the_history_helper() {
    let parse = |t: &str| Prompt::parse(t, &Limits::default()).expect("parses");
    assert!(parse("{{role \"system\"}}S{{history}}{{role \"user\"}}Q").uses_history());
    assert!(parse("{{#if x}}{{history}}{{/if}}").uses_history());
    assert!(!parse("{{role \"user\"}}Q {{name}}").uses_history());
    assert!(!parse("{{history_note}}").uses_history());
    let opts = ParseOptions {
        partials: BTreeMap::from([("frame".to_owned(), "S{{history}}".to_owned())]),
        ..ParseOptions::default()
    };
    assert!(
        Prompt::parse_with("{{> frame}}Q", &opts)
            .expect("parses")
            .uses_history()
    );
}
