//! Renders Dotprompt cases read as JSON lines on stdin, one JSON result per line on stdout:
//! the Rust side of `scripts/dotprompt-diff.sh` and `bench/dotprompt/`.
//!
//! A case: `{"template", "data"?, "options"?, "partials"?, "schemas"?}`. A result:
//! `{"ok": {...metadata, "messages": [...]}}` or `{"error": "..."}`. With `--bench N`, each
//! case is rendered about N times (parsed once, batches of 1,000) and the line is
//! `{"ns_per_render": …, "handlebars_ns_per_render": …}` (the median batch, with the compiled
//! renderer and with handlebars-rust alone).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use promptd_dotprompt::{Engine, Limits, ParseOptions, Prompt, RenderData};
use serde_json::{Map, Value, json};

fn object(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn run(case: &Value) -> Result<Value, String> {
    let template = case["template"].as_str().ok_or("case has no template")?;
    let partials: BTreeMap<String, String> = object(case.get("partials"))
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
    let opts = ParseOptions {
        limits: Limits::default(),
        partials,
        schemas: object(case.get("schemas")),
        ..ParseOptions::default()
    };
    let prompt = Prompt::parse_with(template, &opts).map_err(|e| e.to_string())?;
    let data: RenderData = serde_json::from_value(case.get("data").cloned().unwrap_or(json!({})))
        .map_err(|e| format!("bad data: {e}"))?;
    let options = object(case.get("options"));
    let meta = prompt.metadata_with(&options).map_err(|e| e.to_string())?;
    let messages = prompt
        .render_with_metadata(&data, &meta, false)
        .map_err(|e| e.to_string())?;
    let mut out = meta;
    out.remove("input");
    out.insert(
        "messages".into(),
        serde_json::to_value(messages).unwrap_or_default(),
    );
    Ok(Value::Object(out))
}

fn bench(case: &Value, n: u64) -> Result<Value, String> {
    let template = case["template"].as_str().ok_or("case has no template")?;
    let partials: BTreeMap<String, String> = object(case.get("partials"))
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
    let opts = ParseOptions {
        partials,
        ..ParseOptions::default()
    };
    let prompt = Prompt::parse_with(template, &opts).map_err(|e| e.to_string())?;
    let data: RenderData = serde_json::from_value(case.get("data").cloned().unwrap_or(json!({})))
        .map_err(|e| format!("bad data: {e}"))?;
    // Batches of 1,000 renders; the median batch is the figure (a shared machine's blips
    // land in a few batches, not in the median). bench.mjs measures the reference the same way.
    let median = |engine: Engine| -> Result<f64, String> {
        let batch = 1000u64;
        let mut per_render: Vec<f64> = Vec::new();
        for _ in 0..n.div_ceil(batch).max(1) {
            let start = std::time::Instant::now();
            for _ in 0..batch {
                let messages = prompt
                    .render_with_engine(&data, prompt.metadata(), true, engine)
                    .map_err(|e| e.to_string())?;
                std::hint::black_box(messages);
            }
            per_render.push(start.elapsed().as_nanos() as f64 / batch as f64);
        }
        per_render.sort_by(f64::total_cmp);
        Ok(per_render[per_render.len() / 2])
    };
    let ns = median(Engine::Auto)?;
    let handlebars_ns = median(Engine::Handlebars)?;
    Ok(json!({
        "ns_per_render": ns,
        "handlebars_ns_per_render": handlebars_ns,
        "compiled": prompt.is_compiled(),
    }))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench_n: Option<u64> = match args.get(1).map(String::as_str) {
        Some("--bench") => args.get(2).and_then(|s| s.parse().ok()),
        _ => None,
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Value>(&line) {
            Err(e) => json!({"error": format!("bad case line: {e}")}),
            Ok(case) => {
                let r = match bench_n {
                    Some(n) => bench(&case, n),
                    None => run(&case),
                };
                match r {
                    Ok(v) => json!({ "ok": v }),
                    Err(e) => json!({ "error": e }),
                }
            }
        };
        let _ = writeln!(stdout, "{result}");
    }
}
