//! What promptd sends upstream, and the JSON answers it hands back.

use promptd_fake_upstream::FakeUpstream;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn the_request_sent_upstream_is_the_callers_with_the_upstream_model_name_and_the_api_key() {
    let fake = FakeUpstream::start().await;
    let models = on(&fake, json!({}));
    let sent = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "user": "u1", "tools": []});
    json_of(call(&models, sent).await.unwrap());
    let got = fake.last_request().unwrap();
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(got.headers["authorization"], "Bearer sk-test");
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.headers["accept"], "application/json");
    assert!(
        got.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("promptd/")
    );
    // Byte for byte: `model` replaced in place, every other field in the caller's order.
    assert_eq!(
        std::str::from_utf8(&got.raw_body).unwrap(),
        r#"{"model":"up-model","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"user":"u1","tools":[]}"#
    );
}

#[tokio::test]
async fn the_stream_flag_and_stream_options_are_sent_as_given() {
    let fake = FakeUpstream::start().await;
    let models = on(&fake, json!({}));
    let s = stream_of(
        call(&models, json!({"model": "m", "messages": [], "stream": true, "stream_options": {"include_usage": true}}))
            .await
            .unwrap(),
    );
    read_all(s).await;
    let got = fake.last_request().unwrap();
    assert_eq!(
        got.body,
        json!({"model": "up-model", "messages": [], "stream": true, "stream_options": {"include_usage": true}})
    );
    assert_eq!(got.headers["accept"], "text/event-stream");
}

#[tokio::test]
async fn a_model_without_an_api_key_sends_no_authorization_header() {
    let fake = FakeUpstream::start().await;
    let models = models(
        json!([{"model_name": "local", "litellm_params": {"model": "hosted_vllm/org/llama-3", "api_base": format!("{}/", fake.base_url())}}]),
    );
    json_of(
        call(&models, json!({"model": "local", "messages": []}))
            .await
            .unwrap(),
    );
    let got = fake.last_request().unwrap();
    assert!(got.headers.get("authorization").is_none());
    assert_eq!(
        got.path, "/v1/chat/completions",
        "the trailing slash is not doubled"
    );
    assert_eq!(
        got.body["model"], "org/llama-3",
        "only the provider prefix is stripped"
    );
}

#[tokio::test]
async fn an_ollama_model_is_called_on_ollamas_openai_compatible_v1_path() {
    let fake = FakeUpstream::start().await;
    let models = models(
        json!([{"model_name": "llama", "litellm_params": {"model": "ollama_chat/llama3:8b", "api_base": fake.root_url()}}]),
    );
    json_of(
        call(&models, json!({"model": "llama", "messages": []}))
            .await
            .unwrap(),
    );
    let got = fake.last_request().unwrap();
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(got.body["model"], "llama3:8b");
}

#[tokio::test]
async fn a_json_answer_comes_back_as_sent_with_the_public_model_name() {
    let fake = FakeUpstream::start().await;
    let models = on(&fake, json!({}));
    let out = json_of(
        call(
            &models,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .unwrap(),
    );
    let content: Value =
        serde_json::from_str(out["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000u64, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    );
    assert_eq!(
        content["model"], "up-model",
        "the upstream saw its own name"
    );
}

#[tokio::test]
async fn the_metrics_count_requests_errors_latency_and_time_to_first_byte_per_model() {
    let fake = FakeUpstream::start().await;
    let models = on(&fake, json!({}));
    call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap();
    read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    fake.set_behavior(promptd_fake_upstream::Behavior::Status(
        503,
        json!({"error": {"message": "down"}}),
    ));
    call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    fake.set_behavior(promptd_fake_upstream::Behavior::MalformedSse);
    read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    let stats = &models.metrics().snapshot()[0];
    assert_eq!(stats.model, "m");
    assert_eq!(stats.requests, 4);
    assert_eq!(
        stats.errors,
        [
            ("connect", 0),
            ("timeout", 0),
            ("status", 1),
            ("protocol", 1)
        ]
    );
    assert_eq!(stats.ttfb.count, 3, "the three accepted calls");
    assert_eq!(stats.latency.count, 2, "the two complete answers");
    assert!(stats.latency.sum_seconds > 0.0);
    let text = models.metrics().render_prometheus();
    assert!(
        text.contains("promptd_model_requests_total{model=\"m\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("promptd_model_errors_total{model=\"m\",kind=\"protocol\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("promptd_model_ttfb_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"),
        "{text}"
    );
}
