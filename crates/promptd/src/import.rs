//! `promptd import litellm`: copies LiteLLM's prompt table into promptd, keeping versions,
//! environments, authors and timestamps. Idempotent, and it says what it skipped and why.

use std::fmt;

use promptd_core::{Environment, JsonObject, PromptId, PromptRecord, PromptSource, Store};
use promptd_store::import::{LiteLlmRow, read_litellm_prompts};
use promptd_template::{Definition, DefinitionError, SUPPORTED_INTEGRATIONS};
use serde_json::{Map, Value};

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    pub read: usize,
    pub imported: usize,
    pub already_present: usize,
    /// (row, reason)
    pub skipped: Vec<(String, String)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "read {} rows: imported {}, already present {}, skipped {}",
            self.read,
            self.imported,
            self.already_present,
            self.skipped.len()
        )?;
        for (row, why) in &self.skipped {
            writeln!(f, "  skipped {row}: {why}")?;
        }
        Ok(())
    }
}

/// Accepts a JSON object, or a string holding one (LiteLLM wrote both).
fn json_object(text: Option<&str>) -> Result<Map<String, Value>, String> {
    let Some(text) = text else {
        return Ok(Map::new());
    };
    match serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON: {e}"))? {
        Value::Object(m) => Ok(m),
        Value::String(inner) => json_object(Some(&inner)),
        Value::Null => Ok(Map::new()),
        other => Err(format!("expected a JSON object, found {other}")),
    }
}

fn convert(row: &LiteLlmRow) -> Result<PromptRecord, String> {
    let prompt_id =
        PromptId::parse_new(&row.prompt_id).map_err(|e| format!("prompt_id: {}", e.0))?;
    let environment =
        Environment::parse(&row.environment).map_err(|e| format!("environment: {}", e.0))?;
    let version = u32::try_from(row.version)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("version {} is not a positive number", row.version))?;
    let litellm_params =
        json_object(row.litellm_params.as_deref()).map_err(|e| format!("litellm_params: {e}"))?;
    match Definition::from_params(&litellm_params).and_then(|d| d.text(None)) {
        Ok(text) => {
            promptd_template::Prompt::parse(&text, &Default::default())
                .map_err(|e| format!("template: {e}"))?;
        }
        Err(DefinitionError::UnsupportedIntegration { found }) => {
            return Err(format!(
                "prompt_integration '{found}' is not supported by promptd ({})",
                SUPPORTED_INTEGRATIONS.join(", ")
            ));
        }
        Err(DefinitionError::FileNotAllowed(p)) => {
            return Err(format!(
                "its template is a file on LiteLLM's server ({p}); export it as dotprompt_content"
            ));
        }
        Err(other) => return Err(other.to_string()),
    }
    let mut prompt_info =
        json_object(row.prompt_info.as_deref()).map_err(|e| format!("prompt_info: {e}"))?;
    if prompt_info.get("prompt_type").and_then(Value::as_str) != Some("db") {
        prompt_info.insert("prompt_type".into(), "db".into());
    }
    // The column is the truth; LiteLLM's PATCH could leave the JSON copy behind.
    prompt_info.insert("environment".into(), environment.as_str().into());
    Ok(PromptRecord {
        id: row.id.clone(),
        prompt_id,
        version,
        environment,
        created_by: row.created_by.clone(),
        litellm_params: JsonObject::from_map(&litellm_params),
        prompt_info: JsonObject::from_map(&prompt_info),
        created_at: row.created_at,
        updated_at: row.updated_at.or(row.created_at),
        source: PromptSource::Db,
        provenance: promptd_core::Provenance::new(promptd_core::Kind::Import)
            .with_source("litellm")
            .with_actor(row.created_by.clone()),
        content_sha256: promptd_core::content_sha256_of(&litellm_params),
    })
}

pub async fn import_litellm(from: &str, store: &dyn Store) -> anyhow::Result<Report> {
    let rows = read_litellm_prompts(from).await?;
    let mut report = Report {
        read: rows.len(),
        ..Report::default()
    };
    for row in &rows {
        let name = format!(
            "{} v{} ({}, row {})",
            row.prompt_id, row.version, row.environment, row.id
        );
        match convert(row) {
            Ok(rec) => {
                if store.import_version(&rec).await? {
                    report.imported += 1;
                } else {
                    report.already_present += 1;
                }
            }
            Err(why) => report.skipped.push((name, why)),
        }
    }
    Ok(report)
}
