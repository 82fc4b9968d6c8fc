//! Streamed answers: frames relayed as LiteLLM shows them, split writes, and cancellation when
//! the stream is dropped.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use promptd_fake_upstream::{Behavior, FakeUpstream, Step};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn an_echoed_stream_is_relayed_frame_by_frame_with_the_public_model_name_and_one_done() {
    let fake = FakeUpstream::start().await;
    let models = on(&fake, json!({}));
    let body = read_all(stream_of(
        call(&models, json!({"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": true}))
            .await
            .unwrap(),
    ))
    .await;
    let sent = fake.last_request().unwrap().body.to_string();
    let chars: Vec<char> = sent.chars().collect();
    let piece = chars.len().div_ceil(3);
    let mut expected = String::new();
    for (i, c) in chars.chunks(piece).enumerate() {
        let content: String = c.iter().collect();
        // The first delta gets the role; `finish_reason: null` is left out (transcript 54).
        let delta = if i == 0 {
            json!({"role": "assistant", "content": content})
        } else {
            json!({"content": content})
        };
        expected += &format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": "m", "choices": [{"index": 0, "delta": delta}]})
        );
    }
    expected += "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    assert_eq!(body, expected);
}

#[tokio::test]
async fn the_stream_litellm_relayed_in_transcript_54_is_reproduced_byte_for_byte() {
    let fake = FakeUpstream::start().await;
    // What echo_upstream.py wrote to LiteLLM for transcript 54, and what LiteLLM answered.
    let upstream = include_str!("../data/54_echo_upstream_sent.txt");
    let litellm = include_str!("../data/54_echo_stream.txt");
    fake.set_behavior(Behavior::Script(vec![Step::text(upstream)]));
    let models = models(
        json!([{"model_name": "echo-gpt", "litellm_params": {"model": "openai/echo-upstream", "api_base": fake.base_url()}}]),
    );
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "echo-gpt", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    assert_eq!(body, litellm);
}

#[tokio::test]
async fn frames_split_anywhere_across_network_writes_are_reassembled() {
    let fake = FakeUpstream::start().await;
    let pause = || Step::Wait(Duration::from_millis(20));
    fake.set_behavior(Behavior::Script(vec![
        Step::text(": keep-alive comment\r\n\r\nevent: message\r\nid: 1\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hel"),
        pause(),
        Step::text("lo\"}}]}\r"),
        pause(),
        Step::text("\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\" wor"),
        pause(),
        Step::text("ld\"},\"finish_reason\":\"stop\"}]}\n"),
        pause(),
        Step::text("\ndata: [DO"),
        pause(),
        Step::text("NE]\n\n"),
    ]));
    let models = on(&fake, json!({}));
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    assert_eq!(
        body,
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n\
         data: {\"choices\":[{\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\n\n\
         data: [DONE]\n\n"
    );
}

#[tokio::test]
async fn an_upstream_that_omits_done_after_finishing_still_ends_with_exactly_one_done() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Script(vec![Step::text(
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n",
    )]));
    let models = on(&fake, json!({}));
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    assert_eq!(text(&events(&body)), "a");
}

#[tokio::test]
async fn data_after_done_is_ignored() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Script(vec![Step::text(
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\ndata: {\"late\":true}\n\ndata: [DONE]\n\n",
    )]));
    let models = on(&fake, json!({}));
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    assert!(!body.contains("late"));
    assert_eq!(events(&body).len(), 1);
}

#[tokio::test]
async fn an_error_event_from_the_upstream_reaches_the_client_as_sent() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Script(vec![Step::text(
        "data: {\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n",
    )]));
    let models = on(&fake, json!({}));
    let body = read_all(stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    ))
    .await;
    assert_eq!(
        events(&body),
        [json!({"error": {"message": "model overloaded", "type": "server_error"}})]
    );
}

#[tokio::test]
async fn dropping_the_stream_mid_way_cancels_the_upstream_request() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::SlowStream(Duration::from_millis(300)));
    let models = on(&fake, json!({}));
    let mut s = stream_of(
        call(
            &models,
            json!({"model": "m", "messages": [], "stream": true}),
        )
        .await
        .unwrap(),
    );
    let first: Bytes = s.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: {"));
    drop(s);
    assert!(
        fake.wait_for_aborted_streams(1, Duration::from_secs(5))
            .await,
        "the upstream saw the connection close"
    );
    assert_eq!(fake.completed_streams(), 0);
    assert_eq!(models.metrics().snapshot()[0].cancelled, 1);
}

#[tokio::test]
async fn dropping_a_call_still_waiting_for_its_answer_cancels_the_upstream_request() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::Delay(Duration::from_secs(30)));
    let models = on(&fake, json!({"timeout": 60}));
    let call = call(&models, json!({"model": "m", "messages": []}));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err()
    );
    assert!(
        fake.wait_for_abandoned_requests(1, Duration::from_secs(5))
            .await,
        "the upstream saw the request abandoned"
    );
}

#[tokio::test]
async fn a_finished_stream_is_not_counted_as_cancelled() {
    let fake = FakeUpstream::start().await;
    let models = on(&fake, json!({}));
    for _ in 0..3 {
        let body = read_all(stream_of(
            call(
                &models,
                json!({"model": "m", "messages": [], "stream": true}),
            )
            .await
            .unwrap(),
        ))
        .await;
        assert_eq!(
            events(&body).last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
    }
    let stats = &models.metrics().snapshot()[0];
    assert_eq!((stats.cancelled, stats.latency.count), (0, 3));
}
