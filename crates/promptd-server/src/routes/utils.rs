//! `POST /utils/dotprompt_json_converter`: a `.prompt` upload turned into its JSON form,
//! parsed in memory (nothing is written to disk), in the dialect of the optional
//! `prompt_dialect` form field (LiteLLM's by default).

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use promptd_template::Dialect;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// An upload: the first `file` field (file name, bytes) and the optional `prompt_dialect` field.
struct Upload {
    name: String,
    data: Vec<u8>,
    dialect: Option<String>,
}

/// Reads the multipart body. The body limit applies.
async fn read_upload(state: &AppState, req: Request) -> ApiResult<Upload> {
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
    let mut file = None;
    let mut dialect = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| unreadable("upload", e))?
    {
        if field.name() == Some("file") && file.is_none() {
            let name = field.file_name().unwrap_or_default().to_owned();
            let data = field
                .bytes()
                .await
                .map_err(|e| unreadable("uploaded file", e))?;
            file = Some((name, data.to_vec()));
        } else if field.name() == Some("prompt_dialect") {
            dialect = Some(
                field
                    .text()
                    .await
                    .map_err(|e| unreadable("prompt_dialect field", e))?,
            );
        }
    }
    let Some((name, data)) = file else {
        return Err(ApiError::Validation(vec![FieldError::missing(&[
            "body", "file",
        ])]));
    };
    Ok(Upload {
        name,
        data,
        dialect,
    })
}

/// `POST /utils/dotprompt_json_converter`: the prompt id is the file name without `.prompt`.
pub async fn dotprompt_json_converter(
    State(state): State<AppState>,
    Caller(_): Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    let Upload {
        name,
        data,
        dialect,
    } = read_upload(&state, req).await?;
    let dialect = Dialect::parse(dialect.map(Value::String).as_ref())
        .map_err(|e| ApiError::bad_request(format!("Invalid form field: {e}")))?;
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
    let prompt = state.compile(&text, dialect)?;
    Ok(Json(
        json!({ "prompt_id": stem, "json_data": prompt.to_json() }),
    ))
}
