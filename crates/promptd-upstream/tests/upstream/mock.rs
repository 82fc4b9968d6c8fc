//! `mock_response` models answer in LiteLLM's exact shapes and never call anything.

use promptd_fake_upstream::FakeUpstream;
use serde_json::{Value, json};

use crate::common::*;

const TEXT: &str = "This is a mock response from LiteLLM.";

fn mock_models(fake: &FakeUpstream) -> promptd_upstream::Models {
    // An api_base that works, to prove the mock does not use it.
    models(
        json!([{"model_name": "mock-gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-fake", "api_base": fake.base_url(), "mock_response": TEXT}}]),
    )
}

#[tokio::test]
async fn a_mock_answers_in_litellms_json_shape_without_calling_the_upstream() {
    let fake = FakeUpstream::start().await;
    let models = mock_models(&fake);
    let out = json_of(
        call(
            &models,
            json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .unwrap(),
    );
    // Transcript 41, with our id and created.
    let mut expected: Value =
        serde_json::from_str(include_str!("../data/41_mock_json.json")).unwrap();
    expected["id"] = out["id"].clone();
    expected["created"] = out["created"].clone();
    assert_eq!(
        out.to_string(),
        expected.to_string(),
        "same keys, same order"
    );
    assert!(out["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_streamed_mock_comes_in_three_character_pieces_like_litellm() {
    let fake = FakeUpstream::start().await;
    let models = mock_models(&fake);
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "mock-gpt", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    let events = events(&body);
    assert_eq!(
        events.len(),
        14,
        "13 pieces and a finish chunk (transcript 34)"
    );
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "Thi"})
    );
    assert_eq!(events[1]["choices"][0]["delta"], json!({"content": "s i"}));
    assert_eq!(
        events[13]["choices"][0],
        json!({"index": 0, "delta": {}, "finish_reason": "stop"})
    );
    assert_eq!(text(&events), TEXT);
    assert!(events.iter().all(|e| e["model"] == "mock-gpt"
        && e["object"] == "chat.completion.chunk"
        && e["id"] == events[0]["id"]));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_mock_needs_no_api_base_even_for_a_provider_promptd_cannot_call() {
    let models = models(
        json!([{"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-sonnet", "mock_response": "ok"}}]),
    );
    let m = models.get("claude").unwrap();
    assert!(m.is_mock() && m.url().is_none());
    let out = json_of(
        call(&models, json!({"model": "claude", "messages": []}))
            .await
            .unwrap(),
    );
    assert_eq!(out["choices"][0]["message"]["content"], "ok");
    assert_eq!(models.metrics().snapshot()[0].requests, 1);
}
