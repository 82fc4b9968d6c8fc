//! LiteLLM's JSON shapes: parsing request bodies into typed values (with FastAPI-style 422
//! errors) and building `PromptSpec` objects with LiteLLM's field order and `null`s.
//!
//! **Architecture invariant:** wire quirks (key order, nulls, datetime format, secret
//! redaction) live here and nowhere else.

use promptd_core::time_fmt::format_ms;
use promptd_core::{Environment, PromptRecord, PromptSource};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, FieldError};

/// What secret values in `litellm_params` are replaced with in every response. Sending it back
/// unchanged in a PUT or PATCH keeps the stored secret.
pub const REDACTED: &str = "**redacted**";

/// The integrations promptd can run. LiteLLM knows more; they are refused with this list.
pub const SUPPORTED_INTEGRATIONS: &[&str] = &["dotprompt"];

/// LiteLLM's text for keyed `prompt_data` combined with `litellm_params.prompt_id`.
pub const AMBIGUOUS_PROMPT_DATA_ERROR: &str = "litellm_params.prompt_id cannot be combined with prompt_data keyed by template name. Send a flat template, prompt_data={\"content\": \"...\", \"metadata\": {...}}, together with litellm_params.prompt_id, or send prompt_data={\"<template_id>\": {\"content\": \"...\", \"metadata\": {...}}} without litellm_params.prompt_id.";

/// `PromptLiteLLMParams`' declared fields, in declaration order, with their defaults.
const PARAM_FIELDS: &[(&str, Kind)] = &[
    ("prompt_id", Kind::Str),
    ("prompt_integration", Kind::Str),
    ("api_base", Kind::Str),
    ("api_key", Kind::Str),
    ("provider_specific_query_params", Kind::Dict),
    ("ignore_prompt_manager_model", Kind::Bool),
    ("ignore_prompt_manager_optional_params", Kind::Bool),
    ("dotprompt_content", Kind::Str),
];

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Dict,
}

fn check_kind(v: &Value, kind: Kind, loc: &[&str], errors: &mut Vec<FieldError>) {
    let (ok, ty, msg) = match kind {
        Kind::Str => (
            v.is_string(),
            "string_type",
            "Input should be a valid string",
        ),
        Kind::Bool => (
            v.is_boolean(),
            "bool_type",
            "Input should be a valid boolean",
        ),
        Kind::Dict => (
            v.is_object(),
            "dict_type",
            "Input should be a valid dictionary",
        ),
    };
    if !v.is_null() && !ok {
        errors.push(FieldError::new(ty, loc, msg).with_input(v));
    }
}

fn object<'a>(
    v: &'a Value,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        other => {
            errors.push(
                FieldError::new(
                    "model_attributes_type",
                    loc,
                    "Input should be a valid dictionary or object to extract fields from",
                )
                .with_input(other),
            );
            None
        }
    }
}

/// Parses and normalises `litellm_params`: declared fields first with their defaults, then
/// extras in the order sent.
pub fn parse_litellm_params(
    v: &Value,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<Map<String, Value>> {
    let m = object(v, loc, errors)?;
    let before = errors.len();
    let mut out = Map::new();
    for (name, kind) in PARAM_FIELDS {
        let field_loc: Vec<&str> = loc.iter().copied().chain([*name]).collect();
        match m.get(*name) {
            Some(val) => {
                check_kind(val, *kind, &field_loc, errors);
                out.insert((*name).to_owned(), val.clone());
            }
            None if *name == "prompt_integration" => errors.push(FieldError::missing(&field_loc)),
            None => {
                let default = if matches!(kind, Kind::Bool) {
                    Value::Bool(false)
                } else {
                    Value::Null
                };
                out.insert((*name).to_owned(), default);
            }
        }
    }
    for (k, val) in m {
        if !out.contains_key(k) {
            out.insert(k.clone(), val.clone());
        }
    }
    (errors.len() == before).then_some(out)
}

/// Parses `prompt_info` (`prompt_type` defaults to `"db"`; `environment` to `development`).
pub fn parse_prompt_info(
    v: Option<&Value>,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<Map<String, Value>> {
    let empty = Map::new();
    let m = match v {
        None | Some(Value::Null) => &empty,
        Some(v) => object(v, loc, errors)?,
    };
    let before = errors.len();
    let mut out = Map::new();
    let ptype = m.get("prompt_type").cloned().unwrap_or(Value::Null);
    match &ptype {
        Value::Null => {
            out.insert("prompt_type".into(), "db".into());
        }
        Value::String(s) if s == "db" || s == "config" => {
            out.insert("prompt_type".into(), ptype.clone());
        }
        other => {
            let l: Vec<&str> = loc.iter().copied().chain(["prompt_type"]).collect();
            errors.push(
                FieldError::new("literal_error", &l, "Input should be 'config' or 'db'")
                    .with_input(other),
            );
        }
    }
    let env = m.get("environment").cloned().unwrap_or(Value::Null);
    let l: Vec<&str> = loc.iter().copied().chain(["environment"]).collect();
    check_kind(&env, Kind::Str, &l, errors);
    out.insert("environment".into(), env);
    for (k, val) in m {
        if !out.contains_key(k) {
            out.insert(k.clone(), val.clone());
        }
    }
    (errors.len() == before).then_some(out)
}

/// The environment a write goes to: `prompt_info.environment` if set, else `development`.
pub fn environment_of(prompt_info: &Map<String, Value>) -> Result<Environment, ApiError> {
    match prompt_info.get("environment").and_then(Value::as_str) {
        None | Some("") => Ok(Environment::development()),
        Some(s) => Environment::parse(s)
            .map_err(|e| ApiError::bad_request(format!("prompt_info.environment: {e}"))),
    }
}

/// Whether a `litellm_params` key holds a secret that is stored but never returned.
pub fn is_secret_key(k: &str) -> bool {
    k == "api_key" || k.ends_with("_key") || k.ends_with("_token") || k.ends_with("_secret")
}

/// A copy of `litellm_params` with every non-null secret replaced by [`REDACTED`].
pub fn redact(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| {
            if is_secret_key(k) && !v.is_null() {
                (k.clone(), Value::from(REDACTED))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

/// Puts back stored secrets where a client sent the redaction marker.
pub fn restore_secrets(params: &mut Map<String, Value>, previous: Option<&Map<String, Value>>) {
    for (k, v) in params.iter_mut() {
        if is_secret_key(k) && v.as_str() == Some(REDACTED) {
            *v = previous
                .and_then(|p| p.get(k))
                .cloned()
                .unwrap_or(Value::Null);
        }
    }
}

fn ts(ms: Option<i64>) -> Value {
    ms.map(|m| Value::from(format_ms(m))).unwrap_or(Value::Null)
}

/// A `PromptSpec` with LiteLLM's field order. `id` is the base id or `base.vN` depending on
/// the endpoint, as in LiteLLM.
pub fn spec_json(rec: &PromptRecord, id: &str, version: Option<u32>) -> Value {
    let created_by = rec
        .created_by
        .clone()
        .map(Value::from)
        .unwrap_or(Value::Null);
    json!({
        "prompt_id": id,
        "litellm_params": Value::Object(redact(&rec.litellm_params.to_map())),
        "prompt_info": Value::Object(rec.prompt_info.to_map()),
        "created_at": ts(rec.created_at),
        "updated_at": ts(rec.updated_at),
        "version": version,
        "environment": rec.environment.as_str(),
        "created_by": created_by,
    })
}

/// The id and version LiteLLM shows for a record in reads (base id; config prompts are v1).
pub fn read_version(rec: &PromptRecord) -> u32 {
    match rec.source {
        PromptSource::Config => 1,
        PromptSource::Db => rec.version,
    }
}

/// Where a prompt's `.prompt` text comes from, per `litellm_params`.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateSource {
    /// The text itself (from `dotprompt_content` or `prompt_data`).
    Text(String),
    /// A file path (config prompts only), resolved by the caller.
    File(String),
}

/// Finds the template of a prompt in its `litellm_params`, enforcing LiteLLM's rules (and
/// refusing what LiteLLM would silently mis-store).
pub fn template_source(params: &Map<String, Value>) -> Result<TemplateSource, String> {
    if let Some(dir) = params.get("prompt_directory").filter(|v| !v.is_null()) {
        return Err(format!(
            "prompt_directory ({dir}) is not supported: a prompt holds one template. Use dotprompt_content, prompt_data or prompt_file"
        ));
    }
    if let Some(text) = params.get("dotprompt_content").and_then(Value::as_str) {
        return Ok(TemplateSource::Text(text.to_owned()));
    }
    if let Some(data) = params.get("prompt_data").filter(|v| !v.is_null()) {
        let data = match data {
            Value::String(s) => serde_json::from_str::<Value>(s)
                .map_err(|e| format!("prompt_data is a string but not valid JSON: {e}"))?,
            other => other.clone(),
        };
        let Value::Object(map) = data else {
            return Err(
                "prompt_data must be an object: {\"content\": \"...\", \"metadata\": {...}}".into(),
            );
        };
        let flat = if map.contains_key("content") {
            map
        } else {
            let has_id = params
                .get("prompt_id")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if has_id && !map.is_empty() {
                return Err(AMBIGUOUS_PROMPT_DATA_ERROR.to_owned());
            }
            match map.len() {
                1 => match map.into_iter().next() {
                    Some((_, Value::Object(inner))) => inner,
                    _ => {
                        return Err(
                            "prompt_data's template must be an object with \"content\"".into()
                        );
                    }
                },
                0 => {
                    return Err(
                        "prompt_data is empty; send {\"content\": \"...\", \"metadata\": {...}}"
                            .into(),
                    );
                }
                n => {
                    return Err(format!(
                        "prompt_data holds {n} templates; a prompt holds exactly one. Create one prompt per template"
                    ));
                }
            }
        };
        let content = flat
            .get("content")
            .and_then(Value::as_str)
            .ok_or("prompt_data.content must be a string")?;
        let metadata = match flat.get("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("prompt_data.metadata must be an object".into()),
        };
        return Ok(TemplateSource::Text(promptd_template::from_json(
            content, &metadata,
        )));
    }
    if let Some(path) = params.get("prompt_file").and_then(Value::as_str) {
        return Ok(TemplateSource::File(path.to_owned()));
    }
    Err("litellm_params has no template: set dotprompt_content (the .prompt text) or prompt_data ({\"content\": \"...\", \"metadata\": {...}})".into())
}

/// Reads a required string field of a JSON object body.
pub fn required_str<'a>(
    m: &'a Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match m.get(name) {
        None => {
            errors.push(FieldError::missing(&["body", name]));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            errors.push(
                FieldError::new(
                    "string_type",
                    &["body", name],
                    "Input should be a valid string",
                )
                .with_input(other),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_params_come_out_in_declaration_order_with_defaults() {
        let mut errors = vec![];
        let p = parse_litellm_params(
            &json!({"dotprompt_content": "x", "extra": 1, "prompt_integration": "dotprompt"}),
            &["body", "litellm_params"],
            &mut errors,
        )
        .unwrap();
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "prompt_id",
                "prompt_integration",
                "api_base",
                "api_key",
                "provider_specific_query_params",
                "ignore_prompt_manager_model",
                "ignore_prompt_manager_optional_params",
                "dotprompt_content",
                "extra"
            ]
        );
    }

    #[test]
    fn secrets_are_redacted_and_restored_from_the_marker() {
        let stored: Map<String, Value> = serde_json::from_value(
            json!({"api_key": "sk-1", "gitlab_access_token": "t", "x": "y"}),
        )
        .unwrap();
        let shown = redact(&stored);
        assert_eq!(shown["api_key"], REDACTED);
        assert_eq!(shown["gitlab_access_token"], REDACTED);
        assert_eq!(shown["x"], "y");
        let mut back = shown.clone();
        restore_secrets(&mut back, Some(&stored));
        assert_eq!(back, stored);
    }

    #[test]
    fn keyed_prompt_data_with_a_prompt_id_is_ambiguous() {
        let p: Map<String, Value> = serde_json::from_value(
            json!({"prompt_id": "a", "prompt_data": {"t": {"content": "x"}}}),
        )
        .unwrap();
        assert_eq!(
            template_source(&p).unwrap_err(),
            AMBIGUOUS_PROMPT_DATA_ERROR
        );
    }
}
