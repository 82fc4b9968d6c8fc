//! The Dotprompt conformance suite (`tests/spec/`, the YAML cases of google/dotprompt's `spec/`)
//! run case by case, comparing everything a case states the way the reference's own runner
//! does: the render result (metadata without `input`, plus `messages`) and the metadata alone
//! (with `input`), `raw` when stated. Prints `spec: N/117 passed`.

mod common;

use promptd_dotprompt::RenderData;
use serde_json::{Map, Value};

use common::{obj, parse_suite, spec_dir, yaml_files};

/// Cases we do not pass, each with the reason (also listed in docs/prompt-format.md). A case
/// listed here that passes fails the test too, so the list stays true.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

const EXPECTED_CASES: usize = 117;

/// `{...expected, ext: expected.ext || {}, config: ..., metadata: ...}`
fn with_defaults(mut m: Map<String, Value>) -> Value {
    for k in ["ext", "config", "metadata"] {
        if m.get(k).is_none_or(Value::is_null) {
            m.insert(k.into(), Value::Object(Map::new()));
        }
    }
    Value::Object(m)
}

const KNOWN_EXPECT_KEYS: &[&str] = &[
    "messages", "config", "raw", "ext", "input", "output", "model", "metadata", "toolDefs", "tools",
];

fn run_case(suite: &Map<String, Value>, case: &Map<String, Value>) -> Result<(), String> {
    if !suite.get("template").is_some_and(Value::is_string) {
        return Err("suite has no template".into());
    }
    let expect = obj(case.get("expect"));
    if let Some(k) = expect
        .keys()
        .find(|k| !KNOWN_EXPECT_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "the case states '{k}', which this runner does not compare"
        ));
    }
    let prompt = parse_suite(suite).map_err(|e| format!("parse: {e}"))?;
    // data: { ...suite.data, ...case.data }
    let mut data = obj(suite.get("data"));
    data.extend(obj(case.get("data")));
    let data: RenderData =
        serde_json::from_value(Value::Object(data)).map_err(|e| format!("data: {e}"))?;
    let options = obj(case.get("options"));
    let meta = prompt
        .metadata_with(&options)
        .map_err(|e| format!("metadata: {e}"))?;
    let messages = prompt
        .render_with_metadata(&data, &meta, false)
        .map_err(|e| format!("render: {e}"))?;

    // Render result: metadata without `input` and `raw`, plus messages.
    let mut result = meta.clone();
    result.remove("input");
    let raw = result.remove("raw");
    result.insert(
        "messages".into(),
        serde_json::to_value(&messages).map_err(|e| e.to_string())?,
    );
    let mut expected = expect.clone();
    expected.remove("raw");
    expected.remove("input");
    let expected = with_defaults(expected);
    if Value::Object(result.clone()) != expected {
        return Err(format!(
            "render result differs\n  got:      {}\n  expected: {}",
            Value::Object(result),
            expected
        ));
    }
    if let Some(want_raw) = expect.get("raw")
        && raw.as_ref() != Some(want_raw)
    {
        return Err(format!("raw differs: got {raw:?}, expected {want_raw}"));
    }
    // Metadata alone (renderMetadata with the options).
    let mut got_meta = meta;
    got_meta.remove("raw");
    let mut expected_meta = expect;
    expected_meta.remove("messages");
    expected_meta.remove("raw");
    let expected_meta = with_defaults(expected_meta);
    if Value::Object(got_meta.clone()) != expected_meta {
        return Err(format!(
            "metadata differs\n  got:      {}\n  expected: {}",
            Value::Object(got_meta),
            expected_meta
        ));
    }
    Ok(())
}

#[test]
fn every_case_of_the_dotprompt_spec_suite_passes_or_is_a_listed_exception() {
    let mut files = Vec::new();
    yaml_files(&spec_dir(), &mut files);
    assert_eq!(files.len(), 13, "the suite has 13 files");
    let mut total = 0;
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut groups = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read spec file");
        let suites: Vec<Map<String, Value>> =
            serde_saphyr::from_str(&text).expect("spec file parses");
        let rel = file
            .strip_prefix(spec_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        for suite in &suites {
            groups += 1;
            let name = suite["name"].as_str().unwrap_or("?");
            for case in suite["tests"].as_array().into_iter().flatten() {
                total += 1;
                let case = case.as_object().cloned().unwrap_or_default();
                let desc = case.get("desc").and_then(Value::as_str).unwrap_or("?");
                let id = format!("{rel} > {name} > {desc}");
                let outcome = run_case(suite, &case);
                let known = KNOWN_EXCEPTIONS.iter().find(|(k, _)| *k == id);
                match (outcome, known) {
                    (Ok(()), None) => passed += 1,
                    (Ok(()), Some(_)) => failures.push(format!(
                        "{id}: passes but is listed in KNOWN_EXCEPTIONS; remove it from the list (and from docs/prompt-format.md)"
                    )),
                    (Err(e), None) => failures.push(format!("{id}: {e}")),
                    (Err(_), Some((_, reason))) => {
                        println!("known exception: {id}: {reason}");
                    }
                }
            }
        }
    }
    println!(
        "spec: {passed}/{total} passed ({groups} groups, {} known exceptions)",
        KNOWN_EXCEPTIONS.len()
    );
    assert_eq!(groups, 69, "the suite has 69 groups");
    assert_eq!(
        total, EXPECTED_CASES,
        "the suite has {EXPECTED_CASES} cases"
    );
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
