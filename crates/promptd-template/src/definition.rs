//! A prompt's definition as LiteLLM's `litellm_params` state it: which integration renders it
//! and where its `.prompt` text is (`dotprompt_content`, `prompt_data`, or a `prompt_file` that
//! only the config loader may read). One type with one constructor, used by the HTTP API, the
//! config loader, the LiteLLM importer and the lazily compiled stored templates, so the rules
//! are written once.

use serde_json::{Map, Value};

use crate::{Dialect, EngineOptions, Prompt, TemplateError};

/// The integrations promptd can run. LiteLLM knows more; they are refused with this list.
pub const SUPPORTED_INTEGRATIONS: &[&str] = &["dotprompt"];

/// LiteLLM's text for keyed `prompt_data` combined with `litellm_params.prompt_id`.
pub const AMBIGUOUS_PROMPT_DATA_ERROR: &str = "litellm_params.prompt_id cannot be combined with prompt_data keyed by template name. Send a flat template, prompt_data={\"content\": \"...\", \"metadata\": {...}}, together with litellm_params.prompt_id, or send prompt_data={\"<template_id>\": {\"content\": \"...\", \"metadata\": {...}}} without litellm_params.prompt_id.";

/// `PromptLiteLLMParams`' declared fields, in declaration order, with their JSON types.
const PARAM_FIELDS: &[(&str, ParamKind)] = &[
    ("prompt_id", ParamKind::Str),
    ("prompt_integration", ParamKind::Str),
    ("api_base", ParamKind::Str),
    ("api_key", ParamKind::Str),
    ("provider_specific_query_params", ParamKind::Dict),
    ("ignore_prompt_manager_model", ParamKind::Bool),
    ("ignore_prompt_manager_optional_params", ParamKind::Bool),
    ("dotprompt_content", ParamKind::Str),
];

#[derive(Clone, Copy)]
enum ParamKind {
    Str,
    Bool,
    Dict,
}

/// One problem with `litellm_params`, in pydantic's terms (the HTTP layer shows them as
/// FastAPI's 422 entries, the config loader as text).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamProblem {
    /// The field, below `litellm_params` (empty for the object itself).
    pub field: Option<&'static str>,
    pub kind: &'static str,
    pub msg: &'static str,
    pub input: Option<Value>,
}

impl std::fmt::Display for ParamProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field {
            Some(name) => write!(f, "litellm_params.{name}: {}", self.msg),
            None => write!(f, "litellm_params: {}", self.msg),
        }
    }
}

/// Normalises `litellm_params` as LiteLLM's model does: the declared fields first, in
/// declaration order, with their defaults (`false` for flags, `null` otherwise), then any other
/// field in the order sent. `prompt_integration` is required; declared fields must have their type.
pub fn normalize_params(v: &Value) -> Result<Map<String, Value>, Vec<ParamProblem>> {
    let Value::Object(m) = v else {
        return Err(vec![ParamProblem {
            field: None,
            kind: "model_attributes_type",
            msg: "Input should be a valid dictionary or object to extract fields from",
            input: Some(v.clone()),
        }]);
    };
    let mut problems = Vec::new();
    let mut out = Map::new();
    for (name, kind) in PARAM_FIELDS {
        match m.get(*name) {
            Some(val) => {
                let (ok, ty, msg) = match kind {
                    ParamKind::Str => (
                        val.is_string(),
                        "string_type",
                        "Input should be a valid string",
                    ),
                    ParamKind::Bool => (
                        val.is_boolean(),
                        "bool_type",
                        "Input should be a valid boolean",
                    ),
                    ParamKind::Dict => (
                        val.is_object(),
                        "dict_type",
                        "Input should be a valid dictionary",
                    ),
                };
                if !val.is_null() && !ok {
                    problems.push(ParamProblem {
                        field: Some(name),
                        kind: ty,
                        msg,
                        input: Some(val.clone()),
                    });
                }
                out.insert((*name).to_owned(), val.clone());
            }
            None if *name == "prompt_integration" => problems.push(ParamProblem {
                field: Some(name),
                kind: "missing",
                msg: "Field required",
                input: None,
            }),
            None => {
                let default = match kind {
                    ParamKind::Bool => Value::Bool(false),
                    _ => Value::Null,
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
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Where a prompt's `.prompt` text comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateSource {
    /// The text itself (from `dotprompt_content` or `prompt_data`).
    Text(String),
    /// A file path (config prompts only), resolved by the caller.
    File(String),
}

/// Why `litellm_params` do not define a usable prompt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionError {
    /// `prompt_integration` is missing or not one promptd renders.
    #[error("Unsupported prompt_integration '{found}'. promptd supports: {}.", SUPPORTED_INTEGRATIONS.join(", "))]
    UnsupportedIntegration { found: String },
    /// The template's location breaks LiteLLM's rules; the text says which and how to fix it.
    #[error("{0}")]
    Source(String),
    /// The template is a file, and this caller does not read files.
    #[error(
        "prompt_file ('{0}') is only accepted in the config file: the API does not read files on the server. Send the text as dotprompt_content."
    )]
    FileNotAllowed(String),
    /// `prompt_dialect` names no dialect promptd renders.
    #[error("{0}")]
    Dialect(String),
    /// The `.prompt` text does not compile.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Reads a `prompt_file` (relative to wherever the caller resolves it), or says why not.
pub type ReadFile<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

/// A prompt's definition: its integration and the location of its template.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub integration: String,
    /// The template language (`prompt_dialect`; LiteLLM's Jinja by default).
    pub dialect: Dialect,
    pub source: TemplateSource,
}

impl Definition {
    /// Reads the definition from `litellm_params`, enforcing LiteLLM's rules (and refusing what
    /// LiteLLM would silently mis-store).
    pub fn from_params(params: &Map<String, Value>) -> Result<Definition, DefinitionError> {
        let integration = params
            .get("prompt_integration")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !SUPPORTED_INTEGRATIONS.contains(&integration) {
            return Err(DefinitionError::UnsupportedIntegration {
                found: integration.to_owned(),
            });
        }
        Ok(Definition {
            integration: integration.to_owned(),
            dialect: Dialect::of_params(params).map_err(DefinitionError::Dialect)?,
            source: source_of(params).map_err(DefinitionError::Source)?,
        })
    }

    /// The `.prompt` text; a `prompt_file` is read by `read_file` (the config loader), or
    /// refused when that is `None`.
    pub fn text(self, read_file: Option<&ReadFile<'_>>) -> Result<String, DefinitionError> {
        match (self.source, read_file) {
            (TemplateSource::Text(t), _) => Ok(t),
            (TemplateSource::File(p), Some(read)) => read(&p).map_err(DefinitionError::Source),
            (TemplateSource::File(p), None) => Err(DefinitionError::FileNotAllowed(p)),
        }
    }

    /// The compiled template of `params` whose text is inline (the API, stored versions).
    pub fn compile_inline(
        params: &Map<String, Value>,
        opts: &EngineOptions,
    ) -> Result<Prompt, DefinitionError> {
        let definition = Definition::from_params(params)?;
        let dialect = definition.dialect;
        let text = definition.text(None)?;
        Ok(Prompt::parse_dialect(&text, dialect, opts)?)
    }

    /// Compiles `text` (read already, e.g. from a config prompt's file) in the dialect
    /// `params` declare.
    pub fn compile_text(
        params: &Map<String, Value>,
        text: &str,
        opts: &EngineOptions,
    ) -> Result<Prompt, DefinitionError> {
        let dialect = Dialect::of_params(params).map_err(DefinitionError::Dialect)?;
        Ok(Prompt::parse_dialect(text, dialect, opts)?)
    }
}

/// Finds the template of a prompt in its `litellm_params`.
fn source_of(params: &Map<String, Value>) -> Result<TemplateSource, String> {
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
        return Ok(TemplateSource::Text(crate::from_json(content, &metadata)));
    }
    if let Some(path) = params.get("prompt_file").and_then(Value::as_str) {
        return Ok(TemplateSource::File(path.to_owned()));
    }
    Err("litellm_params has no template: set dotprompt_content (the .prompt text) or prompt_data ({\"content\": \"...\", \"metadata\": {...}})".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn keyed_prompt_data_with_a_prompt_id_is_ambiguous() {
        let p = params(
            json!({"prompt_integration": "dotprompt", "prompt_id": "a", "prompt_data": {"t": {"content": "x"}}}),
        );
        assert_eq!(
            Definition::from_params(&p).unwrap_err(),
            DefinitionError::Source(AMBIGUOUS_PROMPT_DATA_ERROR.to_owned())
        );
    }

    #[test]
    fn an_unknown_integration_is_refused_with_the_supported_list() {
        let p = params(json!({"prompt_integration": "langfuse", "dotprompt_content": "x"}));
        assert_eq!(
            Definition::from_params(&p).unwrap_err().to_string(),
            "Unsupported prompt_integration 'langfuse'. promptd supports: dotprompt."
        );
    }

    #[test]
    fn a_file_is_read_only_by_a_caller_that_reads_files() {
        let p = params(json!({"prompt_integration": "dotprompt", "prompt_file": "g.prompt"}));
        let d = Definition::from_params(&p).unwrap();
        assert!(
            matches!(d.clone().text(None), Err(DefinitionError::FileNotAllowed(f)) if f == "g.prompt")
        );
        let read = |path: &str| Ok(format!("User: from {path}"));
        assert_eq!(d.text(Some(&read)).unwrap(), "User: from g.prompt");
    }

    #[test]
    fn keyed_prompt_data_with_one_template_compiles() {
        let p = params(json!({"prompt_integration": "dotprompt",
            "prompt_data": {"greet": {"content": "User: hi {{name}}", "metadata": {"model": "m"}}}}));
        let prompt = Definition::compile_inline(&p, &EngineOptions::default()).unwrap();
        assert_eq!(prompt.model(), Some("m"));
    }
}
