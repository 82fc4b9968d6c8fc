//! `POST /prompts/{id}/preview`: renders a *draft* `.prompt` text (not a stored version) for the
//! editor's live preview. A draft with mistakes is the normal case while typing, so every
//! well-formed request is answered 200 with the draft's variables and either its messages or
//! the error at its line and column.

use axum::Json;
use axum::extract::State;
use promptd_template::{Prompt, TemplateError};
use serde_json::{Map, Value, json};

use super::path_ref;
use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::ApiResult;
use crate::extract::PromptIdPath;
use crate::state::AppState;

/// The body of `POST /prompts/{id}/preview`.
pub struct PreviewRequest {
    pub dotprompt_content: String,
    pub prompt_variables: Map<String, Value>,
}

impl FromBody for PreviewRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let text = f.required_str("dotprompt_content");
        let vars = f.object("prompt_variables");
        Some(PreviewRequest {
            dotprompt_content: text?,
            prompt_variables: vars,
        })
    }
}

fn error_json(e: &TemplateError) -> Value {
    let (line, column) = match e {
        TemplateError::Frontmatter { line, column, .. }
        | TemplateError::Syntax { line, column, .. } => (Some(*line), Some(*column)),
        TemplateError::Render { line, .. } => (*line, None),
        _ => (None, None),
    };
    let kind = if e.is_parse_error() {
        "parse"
    } else {
        "render"
    };
    json!({"kind": kind, "message": e.to_string(), "line": line, "column": column})
}

/// `POST /prompts/{id}/preview`: any key that may read `{id}` (the prompt need not exist yet).
pub async fn preview(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    Body(req): Body<PreviewRequest>,
) -> ApiResult<Json<Value>> {
    let r = path_ref(&raw)?;
    caller.reader_of(&r)?;
    let prompt = match Prompt::parse(&req.dotprompt_content, &state.settings.engine) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Json(json!({
                "prompt_id": r.base.as_str(), "model": null, "optional_params": {},
                "variables": [], "messages": null, "error": error_json(&e),
            })));
        }
    };
    let variables: Vec<Value> = prompt
        .input_schema()
        .iter()
        .map(|f| json!({"name": f.name, "type": f.ty.name(), "required": f.required}))
        .collect();
    let (messages, error) = match prompt.render(&req.prompt_variables) {
        Ok(m) => (json!(m), Value::Null),
        Err(e) => (Value::Null, error_json(&e)),
    };
    Ok(Json(json!({
        "prompt_id": r.base.as_str(),
        "model": prompt.model(),
        "optional_params": Value::Object(prompt.optional_params().clone()),
        "variables": variables,
        "messages": messages,
        "error": error,
    })))
}
