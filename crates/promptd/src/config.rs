//! The configuration file: a LiteLLM-style `config.yaml` (`general_settings`, `prompts`,
//! `model_list`, …) plus promptd's own `promptd_settings`. Values may be `os.environ/NAME`.
//! Unknown top-level sections (e.g. `litellm_settings`, `router_settings`) are accepted and
//! ignored so an existing LiteLLM config loads unchanged.

use std::path::{Path, PathBuf};

use promptd_core::PromptId;
use promptd_server::ConfigPrompt;
use promptd_template::definition::normalize_params;
use promptd_template::{Definition, DefinitionError, SUPPORTED_INTEGRATIONS};
use serde_json::{Map, Value};

/// The parsed file, with `os.environ/` references resolved.
#[derive(Debug, Default, Clone)]
pub struct FileConfig {
    pub master_key: Option<String>,
    pub database_url: Option<String>,
    pub settings: Map<String, Value>,
    pub prompts: Vec<ConfigPrompt>,
    /// `model_list`, resolved but otherwise untouched (used by the model-running endpoints).
    pub model_list: Vec<Value>,
    /// The folder of the config file; relative paths resolve against it.
    pub base_dir: PathBuf,
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// Replaces every string `os.environ/NAME` with the variable's value.
pub fn resolve_env(v: &mut Value, path: &str) -> Result<(), ConfigError> {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("os.environ/") {
                *s = std::env::var(name).map_err(|_| {
                    err(path, format!("refers to the environment variable {name}, which is not set; set it or put the value in the file"))
                })?;
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                resolve_env(x, &format!("{path}[{i}]"))?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                resolve_env(x, &format!("{path}.{k}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Loads and validates a config file. Every broken `prompts:` entry stops loading with an error
/// naming the entry.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(&shown, format!("cannot read the config file: {e}")))?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &shown, base_dir)
}

pub fn parse(text: &str, shown: &str, base_dir: PathBuf) -> Result<FileConfig, ConfigError> {
    let mut root: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_saphyr::from_str(text).map_err(|e| err(shown, format!("invalid YAML: {e}")))?
    };
    if root.is_null() {
        root = Value::Object(Map::new());
    }
    let Value::Object(mut root) = root else {
        return Err(err(
            shown,
            "the config file must be a mapping of sections (general_settings, prompts, model_list, ...)",
        ));
    };
    let mut cfg = FileConfig {
        base_dir,
        ..FileConfig::default()
    };

    if let Some(mut gs) = root.remove("general_settings").filter(|v| !v.is_null()) {
        resolve_env(&mut gs, "general_settings")?;
        let Value::Object(gs) = gs else {
            return Err(err("general_settings", "must be a mapping"));
        };
        cfg.master_key = opt_string(&gs, "master_key", "general_settings")?;
        cfg.database_url = opt_string(&gs, "database_url", "general_settings")?;
    }
    if let Some(mut ps) = root.remove("promptd_settings").filter(|v| !v.is_null()) {
        resolve_env(&mut ps, "promptd_settings")?;
        let Value::Object(ps) = ps else {
            return Err(err("promptd_settings", "must be a mapping"));
        };
        cfg.settings = ps;
    }
    if let Some(mut ml) = root.remove("model_list").filter(|v| !v.is_null()) {
        resolve_env(&mut ml, "model_list")?;
        let Value::Array(ml) = ml else {
            return Err(err("model_list", "must be a list of models"));
        };
        cfg.model_list = ml;
    }
    if let Some(mut prompts) = root.remove("prompts").filter(|v| !v.is_null()) {
        resolve_env(&mut prompts, "prompts")?;
        let Value::Array(list) = prompts else {
            return Err(err("prompts", "must be a list of prompt entries"));
        };
        let mut seen = std::collections::HashSet::new();
        for (i, entry) in list.iter().enumerate() {
            let p = config_prompt(entry, i, &cfg.base_dir)?;
            if !seen.insert(p.prompt_id.clone()) {
                return Err(err(
                    format!("prompts[{i}]"),
                    format!("prompt_id '{}' is defined twice", p.prompt_id),
                ));
            }
            cfg.prompts.push(p);
        }
    }
    Ok(cfg)
}

fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    section: &str,
) -> Result<Option<String>, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(format!("{section}.{key}"), "must be a string")),
    }
}

fn config_prompt(entry: &Value, i: usize, base_dir: &Path) -> Result<ConfigPrompt, ConfigError> {
    let Value::Object(m) = entry else {
        return Err(err(
            format!("prompts[{i}]"),
            "must be a mapping with prompt_id and litellm_params",
        ));
    };
    let raw_id = m.get("prompt_id").and_then(Value::as_str).ok_or_else(|| {
        err(
            format!("prompts[{i}]"),
            "prompt_id is missing or not a string",
        )
    })?;
    let at = format!("prompts[{i}] (prompt_id '{raw_id}')");
    let prompt_id = PromptId::parse_new(raw_id).map_err(|e| err(&at, e.0))?;
    let params = m
        .get("litellm_params")
        .ok_or_else(|| err(&at, "litellm_params is missing"))?;
    let litellm_params = normalize_params(params).map_err(|problems| {
        let what: Vec<String> = problems.iter().map(ToString::to_string).collect();
        err(&at, what.join("; "))
    })?;
    let read_file = |f: &str| {
        let p = base_dir.join(f);
        std::fs::read_to_string(&p)
            .map_err(|e| format!("cannot read prompt_file {}: {e}", p.display()))
    };
    let template_text = Definition::from_params(&litellm_params)
        .and_then(|d| d.text(Some(&read_file)))
        .map_err(|e| match e {
            DefinitionError::UnsupportedIntegration { found } => err(
                &at,
                format!(
                    "unsupported prompt_integration '{found}'; promptd supports: {}",
                    SUPPORTED_INTEGRATIONS.join(", ")
                ),
            ),
            other => err(&at, other.to_string()),
        })?;
    let mut prompt_info = match m.get("prompt_info") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(pi)) => pi.clone(),
        Some(_) => return Err(err(&at, "prompt_info must be a mapping")),
    };
    prompt_info.insert("prompt_type".into(), "config".into());
    let mut ordered = Map::new();
    ordered.insert("prompt_type".into(), "config".into());
    ordered.insert("environment".into(), "development".into());
    for (k, v) in prompt_info {
        if k != "prompt_type" && k != "environment" {
            ordered.insert(k, v);
        }
    }
    Ok(ConfigPrompt {
        prompt_id,
        litellm_params,
        prompt_info: ordered,
        template_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_entry_is_named_with_its_problem() {
        let e = parse(
            "prompts:\n  - prompt_id: ok\n    litellm_params: {prompt_integration: dotprompt, dotprompt_content: 'hi'}\n  - prompt_id: bad\n    litellm_params: {prompt_integration: langfuse}\n",
            "c.yaml",
            PathBuf::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("prompts[1] (prompt_id 'bad')"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("unsupported prompt_integration 'langfuse'"),
            "{e}"
        );
    }

    #[test]
    fn unknown_sections_are_ignored_and_os_environ_is_resolved() {
        let cfg = parse(
            "litellm_settings: {drop_params: true}\ngeneral_settings:\n  master_key: os.environ/HOME\n",
            "c.yaml",
            PathBuf::new(),
        )
        .unwrap();
        assert_eq!(cfg.master_key, std::env::var("HOME").ok());
    }

    #[test]
    fn a_missing_environment_variable_names_the_setting() {
        let e = parse(
            "general_settings:\n  master_key: os.environ/PROMPTD_SURELY_UNSET_VAR\n",
            "c.yaml",
            PathBuf::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("general_settings.master_key"), "{e}");
    }
}
