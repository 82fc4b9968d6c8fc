//! `POST /utils/dotprompt_json_converter`: a `.prompt` upload turned into its JSON form,
//! parsed in memory (nothing is written to disk).

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

pub async fn dotprompt_json_converter(
    State(state): State<AppState>,
    Caller(_): Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    let limit = state.settings.max_body_bytes;
    let mut multipart = Multipart::from_request(req, &state).await.map_err(|e| {
        ApiError::Validation(vec![FieldError::new(
            "missing",
            &["body", "file"],
            format!(
                "Field required: send a multipart/form-data body with a 'file' field ({})",
                e.body_text()
            ),
        )])
    })?;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::Detail(
                e.status(),
                format!(
                    "Could not read the upload: {}. Bodies are limited to {limit} bytes.",
                    e.body_text()
                ),
            )
        })?;
        let Some(field) = field else { break };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(|e| {
            ApiError::Detail(
                e.status(),
                format!(
                    "Could not read the uploaded file: {}. Files are limited to {limit} bytes.",
                    e.body_text()
                ),
            )
        })?;
        file = Some((name, data.to_vec()));
        break;
    }
    let Some((name, data)) = file else {
        return Err(ApiError::Validation(vec![FieldError::missing(&[
            "body", "file",
        ])]));
    };
    // Only the last path component names the prompt; path separators never reach anything.
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let Some(stem) = base
        .strip_suffix(".prompt")
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
    else {
        return Err(ApiError::bad_request("File must have .prompt extension"));
    };
    let text = String::from_utf8(data)
        .map_err(|e| ApiError::bad_request(format!("The file is not UTF-8 text: {e}")))?;
    let prompt = state.compile(&text)?;
    Ok(Json(
        json!({ "prompt_id": stem, "json_data": prompt.to_json() }),
    ))
}
