//! Criterion benchmarks of parsing and rendering `.prompt` files; `bench/template/compare.sh`
//! runs the same templates through Python's jinja2 for the ratio.
//!
//! The templates here and in `bench/template/jinja2_bench.py` must stay identical.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use promptd_template::{EngineOptions, Prompt};
use serde_json::{Map, Value, json};

/// Greeting-like, three variables: the "typical prompt" of the goal (≥20x Python).
const TYPICAL: &str = "---
model: gpt-4o-mini
temperature: 0.7
max_tokens: 200
input:
  schema:
    name: string
    company: string
    topic: string
---
System: You are a friendly assistant working for {{ company }}.

User: Say hello to {{ name }} and tell them one fact about {{ topic }}.";

/// A longer prompt with a loop, a condition and filters.
const LOOP: &str = "---
model: gpt-4o
temperature: 0.2
---
System: You answer questions about {{ product | upper }}.
{% if strict %}Only use the documents below.{% endif %}

User: Documents:
{% for d in docs %}
- [{{ loop.index }}] {{ d.title | title }}: {{ d.body | trim }}
{% endfor %}
Question: {{ question }}";

fn typical_vars() -> Map<String, Value> {
    obj(json!({"name": "Alice", "company": "Acme", "topic": "owls"}))
}

fn loop_vars() -> Map<String, Value> {
    let docs: Vec<Value> = (0..20)
        .map(|i| json!({"title": format!("document number {i}"), "body": "  Some body text that goes on for a little while.  "}))
        .collect();
    obj(
        json!({"product": "widget", "strict": true, "docs": docs, "question": "How do I reset it?"}),
    )
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn benches(c: &mut Criterion) {
    let opts = EngineOptions::default();
    let typical = Prompt::parse(TYPICAL, &opts).expect("typical parses");
    let looped = Prompt::parse(LOOP, &opts).expect("loop parses");
    let tv = typical_vars();
    let lv = loop_vars();

    c.bench_function("parse/typical", |b| {
        b.iter(|| Prompt::parse(black_box(TYPICAL), &opts).expect("parses"))
    });
    c.bench_function("render/typical", |b| {
        b.iter(|| typical.render(black_box(&tv)).expect("renders"))
    });
    c.bench_function("parse/loop", |b| {
        b.iter(|| Prompt::parse(black_box(LOOP), &opts).expect("parses"))
    });
    c.bench_function("render/loop", |b| {
        b.iter(|| looped.render(black_box(&lv)).expect("renders"))
    });
}

criterion_group!(render, benches);
criterion_main!(render);
