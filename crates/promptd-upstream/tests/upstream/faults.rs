//! Every way an upstream can fail, before a stream starts (an error with a status) and after
//! (an error event, then `[DONE]`): never a panic, never a hang.

use std::time::{Duration, Instant};

use promptd_fake_upstream::{Behavior, FakeUpstream, Step, refused_url};
use promptd_upstream::{ErrorKind, Limits};
use serde_json::json;

use crate::common::*;

async fn stream_body(fake: &FakeUpstream, extra: serde_json::Value) -> String {
    let models = on(fake, extra);
    read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .expect("the stream starts"),
    ))
    .await
}

#[tokio::test]
async fn a_refused_connection_is_a_502_naming_the_model_the_address_and_the_fix() {
    let url = refused_url();
    let models = models(
        json!([{"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": format!("{url}?secret=1")}}]),
    );
    for stream in [false, true] {
        let e = call(
            &models,
            json!({"model": "m", "messages": [], "stream": stream}),
        )
        .await
        .unwrap_err();
        assert_eq!((e.status(), e.kind()), (502, ErrorKind::Connect));
        let msg = e.message();
        assert!(
            msg.starts_with(&format!(
                "cannot reach upstream model m at {url}/chat/completions: "
            )),
            "{msg}"
        );
        assert!(msg.contains("Check litellm_params.api_base"), "{msg}");
        assert!(!msg.contains("secret"), "the query string stays out: {msg}");
        assert_eq!(
            e.to_body(),
            json!({"error": {"message": msg, "type": "api_connection_error", "param": null, "code": "502"}})
        );
    }
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_after_the_models_timeout() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Delay(Duration::from_secs(5)));
    let models = on(&fake, json!({"timeout": 0.3}));
    let started = Instant::now();
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!((e.status(), e.kind()), (504, ErrorKind::Timeout));
    assert!(
        e.message()
            .contains("did not answer within 0.3s (litellm_params.timeout)"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(
        fake.wait_for_abandoned_requests(1, Duration::from_secs(5))
            .await,
        "giving up cancels the upstream request"
    );
}

#[tokio::test]
async fn a_stream_that_does_not_start_within_stream_timeout_is_a_504() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Delay(Duration::from_secs(5)));
    let models = on(&fake, json!({"timeout": 10, "stream_timeout": 0.3}));
    let started = Instant::now();
    let e = call(
        &models,
        json!({"model": "m", "messages": [], "stream": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 504);
    assert!(
        e.message()
            .contains("sent no data within 0.3s (litellm_params.stream_timeout)"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn headers_without_a_first_chunk_within_the_first_byte_timeout_are_a_504_too() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Script(vec![
        Step::Wait(Duration::from_secs(5)),
        Step::text("data: [DONE]\n\n"),
    ]));
    let models = on(&fake, json!({"timeout": 0.3}));
    let e = call(
        &models,
        json!({"model": "m", "messages": [], "stream": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 504);
    assert!(e.message().contains("(litellm_params.timeout)"), "{e}");
}

#[tokio::test]
async fn stream_timeout_applies_to_streams_only() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Delay(Duration::from_millis(600)));
    let models = on(&fake, json!({"timeout": 0.3, "stream_timeout": 3}));
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    assert!(!text(&events(&body)).is_empty());
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 504);
}

#[tokio::test]
async fn a_stream_that_stalls_between_chunks_ends_with_a_timeout_event_after_the_timeout() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::SlowStream(Duration::from_secs(5)));
    let started = Instant::now();
    let body = stream_body(&fake, json!({"timeout": 0.3})).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let msg = final_error(&body);
    assert_eq!(
        msg,
        "upstream model m sent nothing for 0.3s (litellm_params.timeout); raise the timeout if the model pauses that long"
    );
    assert!(body.contains("\"code\":\"504\""), "{body}");
    assert_eq!(events(&body).len(), 2, "the first chunk, then the error");
}

#[tokio::test]
async fn an_upstream_error_status_is_passed_through_with_its_message_and_type() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Status(
        429,
        json!({"error": {"message": "Rate limit reached for gpt-4o", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}}),
    ));
    let models = on(&fake, json!({}));
    for stream in [false, true] {
        let e = call(
            &models,
            json!({"model": "m", "messages": [], "stream": stream}),
        )
        .await
        .unwrap_err();
        assert_eq!((e.status(), e.kind()), (429, ErrorKind::Status));
        assert_eq!(
            e.to_body(),
            json!({"error": {"message": "upstream model m answered 429 Too Many Requests: Rate limit reached for gpt-4o",
                "type": "rate_limit_error", "param": null, "code": "429"}})
        );
    }
}

#[tokio::test]
async fn an_upstream_error_that_is_not_json_is_passed_through_with_its_text_truncated() {
    let fake = FakeUpstream::start().await;
    let page = format!("<html>{}</html>", "bad gateway ".repeat(500));
    fake.set_behavior(Behavior::Raw {
        status: 503,
        content_type: "text/html".into(),
        body: page,
    });
    let models = on(&fake, json!({}));
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 503);
    let msg = e.message();
    assert!(
        msg.starts_with("upstream model m answered 503 Service Unavailable: <html>bad gateway"),
        "{msg}"
    );
    assert!(msg.ends_with('…') && msg.chars().count() < 1100, "{msg}");
    assert_eq!(e.to_body()["error"]["type"], "upstream_error");
}

#[tokio::test]
async fn a_fastapi_style_detail_is_used_as_the_message() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Status(400, json!({"detail": "model not loaded"})));
    let models = on(&fake, json!({}));
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.message().ends_with(": model not loaded"), "{e}");
}

#[tokio::test]
async fn a_200_answer_that_is_not_json_is_a_502() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::NotJson);
    let models = on(&fake, json!({}));
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.kind()), (502, ErrorKind::Protocol));
    assert!(
        e.message()
            .starts_with("upstream model m answered with something that is not JSON"),
        "{e}"
    );
    assert!(e.message().contains("<html>not json</html>"), "{e}");
}

#[tokio::test]
async fn a_json_answer_larger_than_the_cap_is_a_502() {
    let fake = FakeUpstream::start().await;
    let limits = Limits {
        max_response_bytes: 100,
        ..Limits::default()
    };
    let models = on_with_limits(&fake, json!({}), limits);
    let e = call(
        &models,
        json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(200)}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 502);
    assert_eq!(
        e.message(),
        "the answer of upstream model m is larger than 100 bytes"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_names_the_address_to_configure() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Redirect(
        "https://elsewhere.example/v1/chat/completions".into(),
    ));
    let models = on(&fake, json!({}));
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 502);
    assert!(
        e.message().contains(
            "answered 307 Temporary Redirect to https://elsewhere.example/v1/chat/completions; promptd does not follow redirects"
        ),
        "{e}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_wrong_path_is_the_upstreams_404_with_its_message() {
    let fake = FakeUpstream::start().await;
    let models = models(
        json!([{"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": format!("{}/nope", fake.root_url())}}]),
    );
    let e = call(&models, json!({"model": "m", "messages": []}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    assert!(
        e.message()
            .contains("the fake upstream has no route POST /nope/chat/completions"),
        "{e}"
    );
}

#[tokio::test]
async fn a_json_answer_to_a_streaming_request_is_a_502_with_the_upstreams_message() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"error":{"message":"streaming is not supported"}}"#.into(),
    });
    let models = on(&fake, json!({}));
    let e = call(
        &models,
        json!({"model": "m", "messages": [], "stream": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 502);
    assert!(
        e.message().ends_with(
            "answered a streaming request with JSON instead of an event stream: streaming is not supported"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn an_empty_stream_is_a_502_not_an_empty_answer() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Script(vec![]));
    let models = on(&fake, json!({}));
    let e = call(
        &models,
        json!({"model": "m", "messages": [], "stream": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 502);
    assert!(
        e.message()
            .contains("closed the stream without sending anything"),
        "{e}"
    );
}

#[tokio::test]
async fn a_data_line_that_is_not_json_ends_the_stream_with_an_error_event_then_done() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::MalformedSse);
    let body = stream_body(&fake, json!({})).await;
    let events = events(&body);
    assert_eq!(events.len(), 2, "{body}");
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "ok"})
    );
    assert_eq!(
        events[1],
        json!({"error": {"message": "upstream model m sent a stream chunk that is not JSON (key must be a string at line 1 column 2): \"{not json\"",
            "type": "upstream_protocol_error", "param": null, "code": "502"}})
    );
}

#[tokio::test]
async fn a_line_that_is_not_sse_ends_the_stream_with_an_error_event_showing_it() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::GarbageLines);
    let msg = final_error(&stream_body(&fake, json!({})).await);
    assert_eq!(
        msg,
        "upstream model m sent a line that is not a server-sent event: \"<html>this is not an event stream</html>\"; check that its api_base is an OpenAI-compatible API"
    );
}

#[tokio::test]
async fn a_huge_line_without_a_newline_is_cut_at_the_line_cap_without_reading_the_rest() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::HugeLine(64 * 1024 * 1024));
    let started = Instant::now();
    let body = stream_body(&fake, json!({})).await;
    assert_eq!(
        final_error(&body),
        "upstream model m sent a line longer than 1048576 bytes"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        fake.wait_for_aborted_streams(1, Duration::from_secs(5))
            .await,
        "promptd hung up instead of reading 64 MiB"
    );
}

#[tokio::test]
async fn a_stream_larger_than_the_total_cap_is_cut_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    let limits = Limits {
        max_stream_bytes: 300,
        ..Limits::default()
    };
    let models = on_with_limits(&fake, json!({}), limits);
    let body = read_all(stream_of(
        call(&models, json!({"model": "m", "messages": [{"role": "user", "content": "y".repeat(1000)}], "stream": true}))
            .await
            .unwrap(),
    ))
    .await;
    assert_eq!(
        final_error(&body),
        "upstream model m streamed more than 300 bytes"
    );
}

#[tokio::test]
async fn a_connection_cut_mid_stream_ends_with_an_error_event_then_done() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::CloseMidStream);
    let body = stream_body(&fake, json!({})).await;
    let events = events(&body);
    assert_eq!(text(&events), "partial");
    let msg = final_error(&body);
    assert!(
        msg.starts_with("the stream from upstream model m broke: "),
        "{msg}"
    );
}

#[tokio::test]
async fn a_clean_close_before_the_answer_finished_ends_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Script(vec![Step::text(
        "data: {\"choices\":[{\"delta\":{\"content\":\"half an ans\"}}]}\n\n",
    )]));
    let body = stream_body(&fake, json!({})).await;
    assert_eq!(text(&events(&body)), "half an ans");
    assert_eq!(
        final_error(&body),
        "upstream model m closed the stream before finishing (no finish_reason, no [DONE]); the answer is incomplete"
    );
}
