//! The engine's integration tests, one binary: data-driven fixtures, focused cases per
//! feature, and property tests.

mod bounds;
mod composition;
mod fixtures;
mod frontmatter;
mod json_forms;
mod limits;
mod placeholders;
mod properties;
mod rendering;
mod roles;
mod schema;

use promptd_template::{EngineOptions, Message, Prompt, TemplateError};
use serde_json::{Map, Value};

/// Parses with default options; panics with the error's text so a failing test says why.
pub fn parse(text: &str) -> Prompt {
    Prompt::parse(text, &EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn vars(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("vars must be an object, got {other}"),
    }
}

/// Renders with the schema check, panicking on error.
pub fn render(text: &str, v: Value) -> Vec<Message> {
    parse(text)
        .render(&vars(v))
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn render_err(text: &str, v: Value) -> TemplateError {
    match parse(text).render(&vars(v)) {
        Ok(m) => panic!("expected an error, got {m:?}"),
        Err(e) => e,
    }
}

pub fn parse_err(text: &str) -> TemplateError {
    match Prompt::parse(text, &EngineOptions::default()) {
        Ok(p) => panic!("expected a parse error, got {p:?}"),
        Err(e) => e,
    }
}

/// Messages as (role, content) pairs, for short assertions.
pub fn pairs(messages: &[Message]) -> Vec<(&'static str, &str)> {
    messages
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect()
}
