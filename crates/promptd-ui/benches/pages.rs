//! Server time of the UI's heaviest pages at 10,000 prompts × 10 versions: the prompts list
//! (first page, a search, a far page, an environment filter) and the prompt page. Run with
//! `cargo bench -p promptd-ui --bench pages`; prints p50/p99 per page (numbers in BENCHMARKS.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptd_core::{
    Entry, Environment, Index, JsonObject, Kind, Principal, PromptId, PromptRecord, PromptSource,
    Provenance,
};
use promptd_template::{EngineOptions, Prompt};
use promptd_ui::pages::{self, ListParams, Site, Viewer};

const PROMPTS: usize = 10_000;
const TEXT: &str = "---\nmodel: gpt-4o\ntemperature: 0.7\ninput:\n  schema:\n    name: string\n    topic: string\n---\nSystem: You are a helpful assistant for {{topic}}.\n\nUser: Say hello to {{name}} and explain {{topic}} in three sentences.";

fn index() -> Index<Prompt> {
    let compiled = Prompt::parse(TEXT, &EngineOptions::default()).expect("template");
    let mut params = serde_json::Map::new();
    params.insert("prompt_integration".into(), "dotprompt".into());
    params.insert("dotprompt_content".into(), TEXT.into());
    let params = JsonObject::from_map(&params);
    let mut by_prompt = Vec::with_capacity(PROMPTS);
    for i in 0..PROMPTS {
        let id = PromptId::from_trusted(format!("prompt-{i:05}"));
        let mut entries = Vec::new();
        for (env, n) in [("production", 4u32), ("staging", 3), ("development", 3)] {
            for v in 1..=n {
                let mut info = serde_json::Map::new();
                info.insert("prompt_type".into(), "db".into());
                info.insert("environment".into(), env.into());
                entries.push(Arc::new(Entry {
                    record: PromptRecord {
                        id: format!("{i}-{env}-{v}"),
                        prompt_id: id.clone(),
                        version: v,
                        environment: Environment::from_trusted(env),
                        created_by: Some("default_user_id".into()),
                        litellm_params: params.clone(),
                        prompt_info: JsonObject::from_map(&info),
                        created_at: Some(1_700_000_000_000 + (i as i64) * 1000 + v as i64),
                        updated_at: Some(1_700_000_000_000 + (i as i64) * 1000 + v as i64),
                        source: PromptSource::Db,
                        provenance: Provenance {
                            message: Some(format!("change {v}")),
                            actor: Some("release-bot".into()),
                            ..Provenance::new(Kind::Update)
                        },
                        content_sha256:
                            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                                .into(),
                    },
                    template: compiled.clone(),
                }));
            }
        }
        by_prompt.push((id, entries));
    }
    let mut index = Index::new();
    index.replace_all_stored(by_prompt);
    index
}

fn measure(name: &str, runs: usize, mut f: impl FnMut(usize) -> usize) {
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut bytes = 0;
    for i in 0..runs {
        let t = Instant::now();
        bytes = f(i);
        times.push(t.elapsed());
    }
    times.sort();
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "{name:<40} p50 {:>7.3} ms   p99 {:>7.3} ms   ({bytes} bytes)",
        p(0.5),
        p(0.99)
    );
}

fn main() {
    let t = Instant::now();
    let index = index();
    println!(
        "index of {PROMPTS} prompts x 10 versions built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let master = Principal::master();
    let v = Viewer {
        principal: &master,
        csrf: "token",
        signed_in: true,
    };
    let site = Site {
        protected: &[],
        models: &[],
    };
    let compiled = |e: &Entry<Prompt>| Some(e.template.clone());
    let list = |q: ListParams| pages::list(&v, &index, &q, compiled).expect("list").len();
    measure("list: first page", 300, |_| list(ListParams::default()));
    measure("list: search 'prompt-0999'", 300, |_| {
        list(ListParams {
            q: Some("prompt-0999".into()),
            ..ListParams::default()
        })
    });
    measure("list: page 150 of 200", 300, |_| {
        list(ListParams {
            page: Some(150),
            ..ListParams::default()
        })
    });
    measure("list: environment=staging", 300, |_| {
        list(ListParams {
            environment: Some("staging".into()),
            ..ListParams::default()
        })
    });
    measure("prompt page (a different prompt each run)", 300, |i| {
        let id = format!("prompt-{:05}", (i * 7919) % PROMPTS);
        pages::prompt(&v, &index, &site, &id, None, compiled)
            .expect("prompt")
            .len()
    });
    measure("history page", 300, |i| {
        let id = format!("prompt-{:05}", (i * 7919) % PROMPTS);
        pages::history(&v, &index, &id).expect("history").len()
    });
}
