//! Helpers shared by the upstream tests: a model pointed at a fake upstream, and readers for
//! answers and SSE bodies.

use std::time::Duration;

use futures_util::StreamExt;
use promptd_fake_upstream::FakeUpstream;
use promptd_upstream::{ChatResponse, ChatStream, Limits, Models, UpstreamError};
use serde_json::{Map, Value, json};

/// Models from a JSON `model_list`.
pub fn models(list: Value) -> Models {
    models_with_limits(list, Limits::default())
}

pub fn models_with_limits(list: Value, limits: Limits) -> Models {
    promptd_upstream::install_crypto_provider();
    let Value::Array(items) = list else {
        panic!("a model_list is an array")
    };
    Models::from_entries_with_limits(&items, limits).expect("a valid model_list")
}

/// One model `m` (`openai/up-model`, key `sk-test`, timeout 2 s) on `fake`, with `extra`
/// merged into its `litellm_params`.
pub fn on(fake: &FakeUpstream, extra: Value) -> Models {
    on_with_limits(fake, extra, Limits::default())
}

pub fn on_with_limits(fake: &FakeUpstream, extra: Value, limits: Limits) -> Models {
    let mut params = json!({"model": "openai/up-model", "api_base": fake.base_url(), "api_key": "sk-test", "timeout": 2});
    for (k, v) in extra.as_object().expect("extra params are an object") {
        params[k] = v.clone();
    }
    models_with_limits(
        json!([{"model_name": "m", "litellm_params": params}]),
        limits,
    )
}

/// A chat request body for model `m`.
pub fn body(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else {
        panic!("a request body is an object")
    };
    m
}

pub async fn call(models: &Models, v: Value) -> Result<ChatResponse, UpstreamError> {
    let name = v["model"].as_str().unwrap_or("m").to_owned();
    models
        .get(&name)
        .expect("the model is configured")
        .chat(body(v))
        .await
}

pub fn json_of(r: ChatResponse) -> Value {
    match r {
        ChatResponse::Json(v) => v,
        ChatResponse::Stream(_) => panic!("expected JSON, got a stream"),
    }
}

pub fn stream_of(r: ChatResponse) -> ChatStream {
    match r {
        ChatResponse::Stream(s) => s,
        ChatResponse::Json(v) => panic!("expected a stream, got {v}"),
    }
}

/// Reads a whole stream (bounded: a hang fails the test), as text.
pub async fn read_all(s: ChatStream) -> String {
    let frames: Vec<_> = tokio::time::timeout(Duration::from_secs(10), s.collect::<Vec<_>>())
        .await
        .expect("the stream ends");
    let bytes: Vec<u8> = frames
        .into_iter()
        .flat_map(|f| {
            f.expect("faults arrive as error events, never as Err")
                .to_vec()
        })
        .collect();
    String::from_utf8(bytes).expect("frames are UTF-8")
}

/// The JSON payloads of an SSE body; asserts it is well formed and ends with exactly one
/// `[DONE]`.
pub fn events(body: &str) -> Vec<Value> {
    assert!(body.ends_with("data: [DONE]\n\n"), "{body:?}");
    assert_eq!(body.matches("data: [DONE]").count(), 1, "{body:?}");
    body.strip_suffix("data: [DONE]\n\n")
        .unwrap()
        .split_terminator("\n\n")
        .map(|frame| {
            let data = frame
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data frame: {frame:?}"));
            serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"))
        })
        .collect()
}

/// The message of the error event that ends a stream (it must be the last event).
pub fn final_error(body: &str) -> String {
    let events = events(body);
    let last = events.last().expect("an error event");
    assert_eq!(
        last["error"]["param"],
        Value::Null,
        "OpenAI's error shape: {last}"
    );
    assert!(last["error"]["code"].is_string(), "{last}");
    last["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("the last event is not an error: {last}"))
        .to_owned()
}

/// The concatenated `delta.content` of a stream's events.
pub fn text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| {
            e.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}
