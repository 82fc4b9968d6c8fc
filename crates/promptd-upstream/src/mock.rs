//! LiteLLM's `mock_response`: answer with fixed text without calling any upstream.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::sse::{DONE, event};

fn created() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4())
}

pub(crate) fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": id(),
        "created": created(),
        "model": model,
        "object": "chat.completion",
        "choices": [{"finish_reason": "stop", "index": 0, "message": {"content": text, "role": "assistant"}}],
        "usage": {"completion_tokens": 1, "prompt_tokens": 1, "total_tokens": 2},
    })
}

/// The text in chunks of three characters (as LiteLLM streams mocks), a finish chunk, [DONE].
pub(crate) fn chunks(model: &str, text: &str) -> Vec<Bytes> {
    let id = id();
    let created = created();
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (i, piece) in chars.chunks(3).enumerate() {
        let piece: String = piece.iter().collect();
        let delta = if i == 0 {
            json!({"role": "assistant", "content": piece})
        } else {
            json!({"content": piece})
        };
        out.push(event(
            &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta}]}),
        ));
    }
    out.push(event(
        &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ));
    out.push(Bytes::from_static(DONE));
    out
}
