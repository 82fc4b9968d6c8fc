//! Running prompts against models: `/prompts/test` and `/chat/completions`, through a real
//! OpenAI-compatible server on loopback (the fake upstream), asserting the exact body promptd
//! sent upstream and the exact stream the client received.

use std::time::Duration;

use promptd_fake_upstream::{Behavior, FakeUpstream, refused_url};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const ECHO_PROMPT: &str = "---\nmodel: echo-gpt\ntemperature: 0.3\nmax_tokens: 50\ninput:\n  schema:\n    name: string\n---\nSystem: You are helpful to {{name}}.\n\nUser: Greet {{name}} in {{lang}}.";

fn config(api_base: &str, extra_model_params: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: echo-gpt
    litellm_params:
      model: openai/echo-upstream
      api_key: sk-upstream-key
      api_base: "{api_base}"
      timeout: 0.5{extra_model_params}
    model_info: {{id: ignored}}
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-fake
      mock_response: This is a mock response from LiteLLM.
      rpm: 100
"#
    )
}

async fn start(fake: &FakeUpstream) -> TestApp {
    let app = TestApp::start_with(Opts {
        config_yaml: Some(config(&fake.base_url(), "")),
        ..Opts::default()
    })
    .await;
    app.create("echo_prompt", ECHO_PROMPT, None).await;
    app
}

/// Sends a request and returns (status, content-type, raw body).
async fn raw(r: reqwest::RequestBuilder) -> (u16, String, String) {
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The JSON payloads of an SSE body, and whether it ended with exactly one [DONE].
fn sse_events(body: &str) -> (Vec<Value>, bool) {
    let mut events = Vec::new();
    let mut done = 0;
    for frame in body.split("\n\n").filter(|f| !f.is_empty()) {
        let data = frame
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not an SSE data frame: {frame:?}"));
        if data == "[DONE]" {
            done += 1;
        } else {
            assert_eq!(done, 0, "data after [DONE]");
            events.push(serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")));
        }
    }
    (events, done == 1 && body.ends_with("data: [DONE]\n\n"))
}

fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| {
            e.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

fn post(app: &TestApp, path: &str, body: Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .bearer_auth(MASTER)
        .json(&body)
}

#[tokio::test]
async fn chat_with_a_prompt_id_sends_the_rendered_template_then_the_callers_messages() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, out) = send(post(&app, "/chat/completions", json!({"model": "echo-gpt", "prompt_id": "echo_prompt",
        "prompt_variables": {"name": "Alice", "lang": "French"}, "messages": [{"role": "user", "content": "appended user message"}]}))).await;
    assert_eq!(s, 200, "{out}");
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer sk-upstream-key");
    // Transcript 50: what LiteLLM sent upstream.
    assert_eq!(
        sent.body,
        json!({"model": "echo-upstream", "messages": [
            {"role": "system", "content": "You are helpful to Alice."},
            {"role": "user", "content": "Greet Alice in French."},
            {"role": "user", "content": "appended user message"}],
            "temperature": 0.3, "max_tokens": 50})
    );
    assert_eq!(out["model"], "echo-gpt");
    assert_eq!(out["object"], "chat.completion");
}

#[tokio::test]
async fn the_templates_model_and_parameters_win_unless_the_prompt_says_to_ignore_them() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    send(post(&app, "/v1/chat/completions", json!({"model": "mock-gpt", "prompt_id": "echo_prompt", "temperature": 0.9, "top_p": 0.5,
        "prompt_variables": {"name": "C", "lang": "de"}, "messages": [{"role": "system", "content": "caller system"}]}))).await;
    let sent = fake.last_request().unwrap().body;
    assert_eq!(
        sent["model"], "echo-upstream",
        "the template's model wins (transcript 51)"
    );
    assert_eq!(
        sent["temperature"], 0.3,
        "the template's parameters win (transcript 53)"
    );
    assert_eq!(sent["top_p"], 0.5, "other request parameters pass through");

    let mut body = prompt_body("flexible", ECHO_PROMPT, None);
    body["litellm_params"]["ignore_prompt_manager_model"] = json!(true);
    body["litellm_params"]["ignore_prompt_manager_optional_params"] = json!(true);
    let (s, _) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 200);
    let (s, out) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "mock-gpt", "prompt_id": "flexible", "temperature": 0.9,
        "prompt_variables": {"name": "C"}}),
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        out["choices"][0]["message"]["content"], "This is a mock response from LiteLLM.",
        "the request's model was used"
    );
    send(post(&app, "/chat/completions", json!({"model": "echo-gpt", "prompt_id": "flexible", "temperature": 0.9, "prompt_variables": {"name": "C"}}))).await;
    let sent = fake.last_request().unwrap().body;
    assert_eq!(sent["temperature"], 0.9, "the request's parameters win");
    assert_eq!(
        sent["max_tokens"], 50,
        "template parameters still fill the gaps"
    );
}

#[tokio::test]
async fn prompt_version_and_prompt_environment_choose_the_version() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    app.put(
        "/prompts/echo_prompt",
        MASTER,
        prompt_body(
            "echo_prompt",
            "---\nmodel: echo-gpt\n---\nUser: version two",
            None,
        ),
    )
    .await;
    app.create(
        "echo_prompt",
        "---\nmodel: echo-gpt\n---\nUser: staging",
        Some("staging"),
    )
    .await;
    let content = |v: Value| v["messages"][0]["content"].as_str().unwrap().to_owned();
    send(post(&app, "/chat/completions", json!({"prompt_id": "echo_prompt", "prompt_version": 1, "prompt_environment": "development", "prompt_variables": {"name": "V"}}))).await;
    assert_eq!(
        content(fake.last_request().unwrap().body),
        "You are helpful to V."
    );
    send(post(
        &app,
        "/chat/completions",
        json!({"prompt_id": "echo_prompt.v2", "prompt_environment": "development"}),
    ))
    .await;
    assert_eq!(content(fake.last_request().unwrap().body), "version two");
    send(post(
        &app,
        "/chat/completions",
        json!({"prompt_id": "echo_prompt"}),
    ))
    .await;
    assert_eq!(
        content(fake.last_request().unwrap().body),
        "staging",
        "staging is served before development"
    );
}

#[tokio::test]
async fn an_unknown_prompt_or_version_is_a_404_and_nothing_is_sent_upstream() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, body) = send(post(&app, "/chat/completions", json!({"model": "echo-gpt", "prompt_id": "does_not_exist", "messages": [{"role": "user", "content": "hi"}]}))).await;
    // OpenAI's error shape on the OpenAI-compatible routes, so SDKs show the message.
    assert_eq!(
        (s, body),
        (
            404,
            json!({"error": {"message": "Prompt does_not_exist not found", "type": "not_found_error", "param": null, "code": "404"}})
        )
    );
    let (s, _) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "prompt_id": "echo_prompt", "prompt_version": 9}),
    ))
    .await;
    assert_eq!(s, 404);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_variable_type_error_is_a_400_naming_the_variable() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, body) = send(post(
        &app,
        "/chat/completions",
        json!({"prompt_id": "echo_prompt", "prompt_variables": {"name": 5}}),
    ))
    .await;
    assert_eq!(s, 400);
    let detail = body["error"]["message"].as_str().unwrap();
    assert!(detail.starts_with("Error compiling prompt 'echo_prompt': Invalid type for field 'name': expected string, got integer"), "{detail}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn the_keys_allow_list_applies_to_model_calls() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    app.create("other", "---\nmodel: echo-gpt\n---\nUser: other", None)
        .await;
    let key = app.key("internal_user", Some(&["echo_prompt"])).await;
    let call = |id: &str| {
        app.client
            .post(app.url("/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"prompt_id": id, "prompt_variables": {"name": "x"}}))
    };
    assert_eq!(send(call("echo_prompt")).await.0, 200);
    assert_eq!(send(call("other")).await.0, 403);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn without_a_prompt_id_the_request_is_forwarded_unchanged() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let req = json!({"model": "echo-gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1, "user": "u1"});
    let (s, _) = send(post(&app, "/chat/completions", req)).await;
    assert_eq!(s, 200);
    assert_eq!(
        fake.last_request().unwrap().body,
        json!({"model": "echo-upstream", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1, "user": "u1"})
    );
    let (s, body) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "nope", "messages": []}),
    ))
    .await;
    assert_eq!(s, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid model name passed in model=nope"),
        "{body}"
    );
}

#[tokio::test]
async fn streaming_passes_the_upstream_chunks_through_and_ends_with_done() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, ct, body) = raw(post(&app, "/chat/completions", json!({"prompt_id": "echo_prompt", "stream": true, "prompt_variables": {"name": "Bob", "lang": "en"}}))).await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let (events, done) = sse_events(&body);
    assert!(done, "{body}");
    assert!(events.len() >= 3);
    assert!(
        events
            .iter()
            .all(|e| e["model"] == "echo-gpt" && e["object"] == "chat.completion.chunk")
    );
    let sent: Value = serde_json::from_str(&streamed_text(&events)).unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent, fake.last_request().unwrap().body);
}

#[tokio::test]
async fn prompts_test_renders_a_draft_and_always_streams() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, _, body) = raw(post(&app, "/prompts/test", json!({"dotprompt_content": "---\nmodel: echo-gpt\ntemperature: 0.7\n---\nSystem: Be brief.\n\nUser: Hello {{name}}", "prompt_variables": {"name": "World"}}))).await;
    assert_eq!(s, 200);
    let (events, done) = sse_events(&body);
    assert!(done);
    assert_eq!(
        fake.last_request().unwrap().body,
        json!({"model": "echo-upstream", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello World"}], "temperature": 0.7, "stream": true})
    );
    assert!(!events.is_empty());
}

#[tokio::test]
async fn prompts_test_with_a_conversation_keeps_only_the_templates_system_messages() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let history = json!([{"role": "user", "content": "from history"}, {"role": "assistant", "content": "prev answer"}, {"role": "user", "content": "follow-up"}]);
    raw(post(&app, "/prompts/test", json!({"dotprompt_content": "---\nmodel: echo-gpt\n---\nSystem: Sys {{name}}\n\nUser: ignored", "prompt_variables": {"name": "N"}, "conversation_history": history}))).await;
    // Transcript 56.
    assert_eq!(
        fake.last_request().unwrap().body["messages"],
        json!([{"role": "system", "content": "Sys N"}, {"role": "user", "content": "from history"}, {"role": "assistant", "content": "prev answer"}, {"role": "user", "content": "follow-up"}])
    );
}

#[tokio::test]
async fn prompts_test_errors_match_litellm() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, b) = send(post(
        &app,
        "/prompts/test",
        json!({"dotprompt_content": "User: hi"}),
    ))
    .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"detail": "Model is required in dotprompt metadata"})
        )
    );
    let (s, b) = send(post(
        &app,
        "/prompts/test",
        json!({"dotprompt_content": "---\nmodel: not-a-model\n---\nUser: hi"}),
    ))
    .await;
    assert_eq!(s, 400);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid model name passed in model=not-a-model"),
        "{b}"
    );
    let (s, b) = send(post(
        &app,
        "/prompts/test",
        json!({"dotprompt_content": "---\nmodel: [unclosed\n---\nUser: hi"}),
    ))
    .await;
    assert_eq!(s, 400);
    assert!(b["detail"].as_str().unwrap().contains("line"), "{b}");
    let (s, b) = send(post(
        &app,
        "/prompts/test",
        json!({"dotprompt_content": "---\nmodel: echo-gpt\n---\nUser: {% if %}"}),
    ))
    .await;
    assert_eq!(
        s, 400,
        "a template syntax error is the client's, not a 500: {b}"
    );
    let (s, b) = send(post(&app, "/prompts/test", json!({}))).await;
    assert_eq!(
        (s, b),
        (
            422,
            json!({"detail": [{"type": "missing", "loc": ["body", "dotprompt_content"], "msg": "Field required"}]})
        )
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn mock_response_answers_without_calling_an_upstream_streamed_or_not() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, out) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        out["choices"][0]["message"],
        json!({"content": "This is a mock response from LiteLLM.", "role": "assistant"})
    );
    let (_, _, body) = raw(post(
        &app,
        "/prompts/test",
        json!({"dotprompt_content": "---\nmodel: mock-gpt\n---\nUser: hi"}),
    ))
    .await;
    let (events, done) = sse_events(&body);
    assert!(done);
    // Transcript 34: three-character pieces, the role in the first, a finish chunk.
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "Thi"})
    );
    assert_eq!(events[1]["choices"][0]["delta"], json!({"content": "s i"}));
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(
        streamed_text(&events),
        "This is a mock response from LiteLLM."
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn an_upstream_that_refuses_connections_is_a_502() {
    let app = TestApp::start_with(Opts {
        config_yaml: Some(config(&refused_url(), "")),
        ..Opts::default()
    })
    .await;
    let (s, body) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": []}),
    ))
    .await;
    assert_eq!(s, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach upstream model echo-gpt"),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "502");
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_after_the_models_timeout() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Delay(Duration::from_secs(3)));
    let app = start(&fake).await;
    let started = std::time::Instant::now();
    let (s, body) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": []}),
    ))
    .await;
    assert_eq!(s, 504, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up after the 0.5 s timeout, took {:?}",
        started.elapsed()
    );
    let (s, _) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": [], "stream": true}),
    ))
    .await;
    assert_eq!(s, 504);
}

#[tokio::test]
async fn an_upstream_error_status_is_passed_through_with_its_message() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Status(
        429,
        json!({"error": {"message": "Rate limit reached for gpt-4o", "type": "rate_limit_error"}}),
    ));
    let app = start(&fake).await;
    let (s, body) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": []}),
    ))
    .await;
    assert_eq!(s, 429);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Rate limit reached for gpt-4o"),
        "{body}"
    );
    assert_eq!(body["error"]["type"], "rate_limit_error");
    fake.set_behavior(Behavior::Status(500, json!({"detail": "boom"})));
    let (s, body) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": [], "stream": true}),
    ))
    .await;
    assert_eq!(s, 500);
    assert!(body["error"]["message"].as_str().unwrap().contains("boom"));
    fake.set_behavior(Behavior::NotJson);
    let (s, _) = send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": []}),
    ))
    .await;
    assert_eq!(s, 502);
}

#[tokio::test]
async fn broken_streams_end_with_an_error_event_and_done_never_a_hang() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    for (behavior, expect) in [
        (Behavior::MalformedSse, "not JSON"),
        (Behavior::HugeLine(2 * 1024 * 1024), "longer than"),
        (Behavior::CloseMidStream, "broke"),
    ] {
        fake.set_behavior(behavior.clone());
        let (s, _, body) = tokio::time::timeout(
            Duration::from_secs(10),
            raw(post(
                &app,
                "/chat/completions",
                json!({"model": "echo-gpt", "messages": [], "stream": true}),
            )),
        )
        .await
        .unwrap_or_else(|_| panic!("{behavior:?} hung"));
        assert_eq!(s, 200, "{behavior:?}");
        let (events, done) = sse_events(&body);
        assert!(done, "{behavior:?}: {body}");
        let err = events.last().unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(expect),
            "{behavior:?}: {err}"
        );
    }
    // A stall mid-stream is cut after the model's timeout.
    fake.set_behavior(Behavior::SlowStream(Duration::from_secs(3)));
    let (_, _, body) = tokio::time::timeout(
        Duration::from_secs(10),
        raw(post(
            &app,
            "/chat/completions",
            json!({"model": "echo-gpt", "messages": [], "stream": true}),
        )),
    )
    .await
    .expect("stall is cut");
    let (events, done) = sse_events(&body);
    assert!(done);
    assert!(
        events.last().unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sent nothing for")
    );
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_upstream_request() {
    let fake = FakeUpstream::start().await;
    let app = TestApp::start_with(Opts {
        config_yaml: Some(config(&fake.base_url(), "\n      stream_timeout: 5")),
        ..Opts::default()
    })
    .await;
    fake.set_behavior(Behavior::SlowStream(Duration::from_millis(300)));
    let mut resp = post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": [], "stream": true}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap();
    assert!(first.is_some());
    drop(resp);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.aborted_streams() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upstream stream was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.completed_streams(), 0);
}

#[tokio::test]
async fn model_calls_are_counted_for_the_metrics_endpoint() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": []}),
    ))
    .await;
    fake.set_behavior(Behavior::Status(503, json!({"error": {"message": "down"}})));
    send(post(
        &app,
        "/chat/completions",
        json!({"model": "echo-gpt", "messages": []}),
    ))
    .await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("promptd_model_requests_total{model=\"echo-gpt\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("promptd_model_errors_total{model=\"echo-gpt\",kind=\"status\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("promptd_model_ttfb_seconds_count{model=\"echo-gpt\"} 1"),
        "{text}"
    );
    assert!(text.contains("promptd_prompts 1"), "{text}");
}

#[tokio::test]
async fn a_model_list_entry_that_cannot_work_stops_startup_naming_it() {
    let cfg =
        "model_list:\n  - model_name: claude\n    litellm_params: {model: anthropic/claude-3}\n";
    let err = TestApp::try_start(Opts {
        config_yaml: Some(cfg.into()),
        ..Opts::default()
    })
    .await
    .err()
    .expect("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("model_list[0] (claude)") && msg.contains("not OpenAI-compatible"),
        "{msg}"
    );
}

#[tokio::test]
async fn errors_on_the_openai_routes_use_openais_shape_with_every_field_error() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    let (s, body) = send(post(
        &app,
        "/v1/chat/completions",
        json!({"prompt_id": "echo_prompt", "prompt_version": "x", "prompt_variables": [1], "messages": 3}),
    ))
    .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let param = body["error"]["param"].as_str().unwrap();
    assert!(
        ["prompt_version", "prompt_variables", "messages"].contains(&param),
        "{body}"
    );
    let msg = body["error"]["message"].as_str().unwrap();
    for field in ["prompt_version", "prompt_variables", "messages"] {
        assert!(msg.contains(field), "{field} missing from {msg}");
    }
    let (s, body) = send(
        app.req(Method::POST, "/chat/completions", None)
            .json(&json!({"model": "echo-gpt"})),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(body["error"]["type"], "auth_error");
    let user = app.key("internal_user", Some(&["other"])).await;
    let (s, body) = send(
        app.req(Method::POST, "/chat/completions", Some(&user))
            .json(&json!({"prompt_id": "echo_prompt"})),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("echo_prompt"),
        "{body}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn the_models_list_names_the_configured_models_in_openais_shape() {
    let fake = FakeUpstream::start().await;
    let app = start(&fake).await;
    for path in ["/v1/models", "/models"] {
        let (s, body) = app.get(path, MASTER).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["object"], "list");
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["object"], "model");
                m["id"].as_str().unwrap()
            })
            .collect();
        assert!(ids.contains(&"echo-gpt"), "{body}");
    }
    let (s, body) = send(app.req(Method::GET, "/v1/models", None)).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"]["type"], "auth_error");
}
