//! LiteLLM's `mock_response`: answer with fixed text without calling any upstream, in the exact
//! shapes LiteLLM 1.108 produces (transcripts 34, 41, 45).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::relay::{DONE, frame};

/// LiteLLM streams a mock in pieces of this many characters.
const PIECE_CHARS: usize = 3;

fn created() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4())
}

/// A `chat.completion`, with LiteLLM's key order and its fixed mock usage (transcript 41).
pub(crate) fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": id(),
        "created": created(),
        "model": model,
        "object": "chat.completion",
        "choices": [{"finish_reason": "stop", "index": 0, "message": {"content": text, "role": "assistant"}}],
        "usage": {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30},
    })
}

/// The SSE frames of a streamed mock: the text in three-character pieces (the role in the first),
/// a finish chunk, then `[DONE]` (transcript 34). An empty text still gets the role chunk.
pub(crate) fn frames(model: &str, text: &str) -> Vec<Bytes> {
    let id = id();
    let created = created();
    let chunk = |choice: Value| {
        frame(
            &json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [choice]}),
        )
    };
    let chars: Vec<char> = text.chars().collect();
    let mut pieces: Vec<String> = chars
        .chunks(PIECE_CHARS)
        .map(|c| c.iter().collect())
        .collect();
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    let mut out: Vec<Bytes> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": piece})
            } else {
                json!({"content": piece})
            };
            chunk(json!({"index": 0, "delta": delta}))
        })
        .collect();
    out.push(chunk(
        json!({"index": 0, "delta": {}, "finish_reason": "stop"}),
    ));
    out.push(Bytes::from_static(DONE));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_mock_matches_litellms_frames_except_id_and_created() {
        let frames = frames("mock-gpt", "This is a mock response from LiteLLM.");
        let text: String = frames
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect();
        // Transcript 34, with its id and created replaced by ours.
        let transcript = include_str!("../tests/data/34_mock_stream.txt");
        let v: Value = serde_json::from_str(
            frames[0]
                .strip_prefix(b"data: ")
                .map(|d| std::str::from_utf8(d).unwrap().trim())
                .unwrap(),
        )
        .unwrap();
        let expected = transcript
            .replace(
                "chatcmpl-a6f38203-1786-4147-8218-9c35f9f465ba",
                v["id"].as_str().unwrap(),
            )
            .replace("1795714747", &v["created"].to_string());
        assert_eq!(text, expected);
    }

    #[test]
    fn an_empty_mock_still_streams_a_role_chunk_and_a_finish_chunk() {
        assert_eq!(frames("m", "").len(), 3);
    }
}
