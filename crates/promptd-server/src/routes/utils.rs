//! `POST /utils/dotprompt_json_converter`: a `.prompt` upload turned into its JSON form,
//! parsed in memory (nothing is written to disk).

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// The first `file` field of a multipart body: (file name, bytes). The body limit applies.
async fn read_upload(state: &AppState, req: Request) -> ApiResult<(String, Vec<u8>)> {
    let limit = state.settings.max_body_bytes;
    let mut multipart = Multipart::from_request(req, state).await.map_err(|e| {
        ApiError::Validation(vec![FieldError::new(
            "missing",
            &["body", "file"],
            format!(
                "Field required: send a multipart/form-data body with a 'file' field ({})",
                e.body_text()
            ),
        )])
    })?;
    let unreadable = |what: &str, e: axum::extract::multipart::MultipartError| {
        let msg = format!(
            "Could not read the {what}: {}. Bodies are limited to {limit} bytes.",
            e.body_text()
        );
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(msg)
        } else {
            ApiError::BadRequest(msg)
        }
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| unreadable("upload", e))?
    {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or_default().to_owned();
            let data = field
                .bytes()
                .await
                .map_err(|e| unreadable("uploaded file", e))?;
            return Ok((name, data.to_vec()));
        }
    }
    Err(ApiError::Validation(vec![FieldError::missing(&[
        "body", "file",
    ])]))
}

/// `POST /utils/dotprompt_json_converter`: the prompt id is the file name without `.prompt`.
pub async fn dotprompt_json_converter(
    State(state): State<AppState>,
    Caller(_): Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    let (name, data) = read_upload(&state, req).await?;
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
