//! Loopback OpenAI-compatible echo server: POST anything, get back a chat completion whose content
//! is the JSON body received (keys sorted, `stream_options` dropped), streamed as SSE in
//! 400-character pieces when the body says `"stream": true` -- the same answers as the LiteLLM
//! anchor's `echo_upstream.py`, but HTTP/1.1 keep-alive, a 1024 backlog and no GIL.
//! Usage: echo-fast PORT [THREADS]
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(4010);
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let l = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
            loop {
                if let Ok((s, _)) = l.accept().await {
                    let _ = s.set_nodelay(true);
                    tokio::spawn(conn(s));
                }
            }
        });
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

async fn conn(mut s: TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut tmp = [0u8; 8192];
    let mut counter: u64 = 0;
    loop {
        // headers
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let mut len = 0usize;
        let mut close = false;
        for line in head.split("\r\n") {
            if let Some(v) = line.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            } else if line.starts_with("connection:") && line.contains("close") {
                close = true;
            }
        }
        if head.contains(" http/1.0\r\n") && !head.contains("connection: keep-alive") {
            close = true;
        }
        while buf.len() < end + len {
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let body: Value = serde_json::from_slice(&buf[end..end + len]).unwrap_or(json!({}));
        buf.drain(..end + len);
        counter += 1;
        let out = answer(&body, counter, close);
        if s.write_all(&out).await.is_err() || close {
            return;
        }
    }
}

fn answer(body: &Value, n: u64, close: bool) -> Vec<u8> {
    let mut echo: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    echo.remove("stream_options");
    // Python's json.dumps(sort_keys=True): ", " and ": " separators, sorted keys
    let text = py_dumps(&Value::Object(echo));
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let cid = format!("chatcmpl-echo-{:08x}", (n.wrapping_mul(2654435761) ^ created) as u32);
    let model = body.get("model").cloned().unwrap_or(Value::Null);
    let conn = if close { "close" } else { "keep-alive" };
    if body.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let mut events = String::new();
        let chars: Vec<char> = text.chars().collect();
        for part in chars.chunks(400) {
            let part: String = part.iter().collect();
            let ch = json!({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": null}]});
            events.push_str(&format!("data: {ch}\n\n"));
        }
        let ch = json!({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        events.push_str(&format!("data: {ch}\n\ndata: [DONE]\n\n"));
        // one chunk per event, as a streaming server would send them
        let mut out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: {conn}\r\n\r\n"
        )
        .into_bytes();
        for ev in events.split_inclusive("\n\n") {
            out.extend_from_slice(format!("{:x}\r\n{ev}\r\n", ev.len()).as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        return out;
    }
    let resp = json!({"id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    let b = resp.to_string();
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {conn}\r\n\r\n",
        b.len()
    )
    .into_bytes();
    out.extend_from_slice(b.as_bytes());
    out
}

fn py_dumps(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", Value::String((*k).clone()), py_dumps(&m[*k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_dumps).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
