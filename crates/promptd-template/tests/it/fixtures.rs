//! Runs every `tests/fixtures/NAME.prompt` against `NAME.expected.json` (with variables from
//! `NAME.vars.json`, if present), and reports every mismatch at once.
//!
//! `NAME.expected.json` keys, all optional except that one of `messages` / `error` is set:
//! - `options`: `{"escape_html": bool, "limits": {"fuel", "max_output_bytes", "recursion"}}`
//! - `render`: `"checked"` (default, `Prompt::render`) or `"unchecked"` (`render_unchecked`)
//! - `model` (string or null), `metadata`, `optional_params`, `json` (`Prompt::to_json`)
//! - `messages`: the rendered messages, exactly
//! - `error`: `{"phase": "parse"|"render", "kind": TemplateError::kind(), "contains": [..],
//!   and any of "line", "column", "limit", "name", "expected", "got", "names"}`
//! - keys starting with `_` are comments (`_source` says where an expectation comes from).

use std::path::{Path, PathBuf};

use promptd_template::{EngineOptions, Limits, Prompt, TemplateError};
use serde_json::{Map, Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn options(expected: &Value) -> EngineOptions {
    let mut opts = EngineOptions::default();
    if let Some(o) = expected.get("options") {
        opts.escape_html = o
            .get("escape_html")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(l) = o.get("limits") {
            let d = Limits::default();
            opts.limits = Limits {
                fuel: l.get("fuel").and_then(Value::as_u64).unwrap_or(d.fuel),
                max_output_bytes: l
                    .get("max_output_bytes")
                    .and_then(Value::as_u64)
                    .map_or(d.max_output_bytes, |n| n as usize),
                recursion: l
                    .get("recursion")
                    .and_then(Value::as_u64)
                    .map_or(d.recursion, |n| n as usize),
                max_bytes: l
                    .get("max_bytes")
                    .and_then(Value::as_u64)
                    .map_or(d.max_bytes, |n| n as usize),
            };
        }
    }
    opts
}

/// The error's fields as JSON, to compare with the fixture's `error` object.
fn error_fields(e: &TemplateError) -> Map<String, Value> {
    let v = match e {
        TemplateError::Frontmatter { line, column, .. }
        | TemplateError::Syntax { line, column, .. } => {
            json!({"line": line, "column": column})
        }
        TemplateError::Render { line, .. } => json!({"line": line}),
        TemplateError::VariableType {
            name,
            expected,
            got,
        } => json!({"name": name, "expected": expected, "got": got}),
        TemplateError::MissingVariables { names } => json!({"names": names}),
        TemplateError::LimitExceeded { limit, .. } => json!({"limit": limit}),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn check_error(phase: &str, e: &TemplateError, expected: &Value, problems: &mut Vec<String>) {
    let Some(want) = expected.get("error") else {
        problems.push(format!("unexpected {phase} error: {e}"));
        return;
    };
    if want.get("phase").and_then(Value::as_str) != Some(phase) {
        problems.push(format!("error came at {phase} time, expected {want}: {e}"));
    }
    if want.get("kind").and_then(Value::as_str) != Some(e.kind()) {
        problems.push(format!(
            "error kind {} (expected {}): {e}",
            e.kind(),
            want["kind"]
        ));
    }
    let text = e.to_string();
    for frag in want
        .get("contains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let frag = frag.as_str().unwrap_or_default();
        if !text.contains(frag) {
            problems.push(format!("error text lacks {frag:?}: {text}"));
        }
    }
    let fields = error_fields(e);
    for (k, v) in want.as_object().into_iter().flatten() {
        if matches!(k.as_str(), "phase" | "kind" | "contains") {
            continue;
        }
        if fields.get(k) != Some(v) {
            problems.push(format!(
                "error field {k} is {:?}, expected {v}: {text}",
                fields.get(k)
            ));
        }
    }
}

fn check_prompt(prompt: &Prompt, expected: &Value, problems: &mut Vec<String>) {
    let mut eq = |what: &str, got: Value| {
        if let Some(want) = expected.get(what)
            && *want != got
        {
            problems.push(format!("{what}: got {got}, expected {want}"));
        }
    };
    eq(
        "model",
        prompt
            .model()
            .map_or(Value::Null, |m| Value::String(m.into())),
    );
    eq("metadata", Value::Object(prompt.metadata().clone()));
    eq(
        "optional_params",
        Value::Object(prompt.optional_params().clone()),
    );
    eq("json", prompt.to_json());
}

fn run_one(prompt_path: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let stem = prompt_path.with_extension("");
    let expected_path = stem.with_extension("expected.json");
    let expected = match read_json(&expected_path) {
        Ok(v) => v,
        Err(e) => return vec![format!("no expectation: {e}")],
    };
    let vars_path = stem.with_extension("vars.json");
    let vars = if vars_path.exists() {
        match read_json(&vars_path) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return vec!["vars file is not a JSON object".into()],
            Err(e) => return vec![e],
        }
    } else {
        Map::new()
    };
    if expected.get("messages").is_none() && expected.get("error").is_none() {
        problems.push("expectation has neither messages nor error".into());
    }
    let text = match std::fs::read_to_string(prompt_path) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };
    let prompt = match Prompt::parse(&text, &options(&expected)) {
        Ok(p) => p,
        Err(e) => {
            check_error("parse", &e, &expected, &mut problems);
            return problems;
        }
    };
    check_prompt(&prompt, &expected, &mut problems);
    let rendered = match expected.get("render").and_then(Value::as_str) {
        Some("unchecked") => prompt.render_unchecked(&vars),
        _ => prompt.render(&vars),
    };
    match rendered {
        Ok(messages) => {
            if expected.get("error").is_some() {
                problems.push(format!("expected an error, got messages {messages:?}"));
            }
            let got = serde_json::to_value(&messages).unwrap_or_default();
            if let Some(want) = expected.get("messages")
                && *want != got
            {
                problems.push(format!("messages:\n  got      {got}\n  expected {want}"));
            }
        }
        Err(e) => check_error("render", &e, &expected, &mut problems),
    }
    problems
}

#[test]
fn every_fixture_renders_as_expected() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "prompt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 50, "only {} fixtures found", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let problems = run_one(path);
        if !problems.is_empty() {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            failures.push(format!("{name}:\n    {}", problems.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expectation_file_has_a_prompt() {
    for entry in std::fs::read_dir(fixtures_dir()).expect("tests/fixtures exists") {
        let path = entry.expect("readable").path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(stem) = name
            .strip_suffix(".expected.json")
            .or_else(|| name.strip_suffix(".vars.json"))
        {
            assert!(
                fixtures_dir().join(format!("{stem}.prompt")).exists(),
                "{name} has no {stem}.prompt"
            );
        }
    }
}
