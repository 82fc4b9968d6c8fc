//! A generative template fuzzer against the real `promptd serve` process: grammar-built
//! templates (deep nesting, long operator chains, every built-in filter, test and method with
//! extreme arguments, big numbers, big strings, statements that grow values) sent through the
//! converter, `POST /prompts` + `info` + `render`, and `/prompts/test` with a mock model; and,
//! for the Genkit dialect, Handlebars templates (nested blocks, `../` and `@` paths, every
//! Dotprompt helper with odd arguments, loops over large lists, partials) through the same
//! routes with `prompt_dialect: genkit`.
//!
//! It fails when the process dies, an answer takes longer than 1 s, an answer is a 5xx, or the
//! server's peak memory (VmHWM) rises past the warmed-up peak by more than `template_max_bytes`
//! plus a small slack. Seeded: the seed is printed, `PROMPTD_FUZZ_SEED` replays it;
//! `PROMPTD_FUZZ_SECONDS` (default 60) and `PROMPTD_FUZZ_CASES` (default 100,000) bound a run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const MASTER: &str = "sk-fuzz-master-0123456789";
const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Peak memory may rise by one operation's budget plus this: fuel-bounded live values
/// (200,000 fuel is about 12.8 MB), the rendered output (1 MiB) and allocator slack.
const SLACK: u64 = 32 * 1024 * 1024;
const MAX_ANSWER: Duration = Duration::from_secs(1);

/// splitmix64: small, seedable, good enough to pick grammar branches.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "count",
    "default",
    "dictsort",
    "escape",
    "first",
    "float",
    "forceescape",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "chain",
    "zip",
];

const TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "safe",
    "odd",
    "even",
    "divisibleby(3)",
    "number",
    "integer",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "startingwith('a')",
    "endingwith('x')",
    "containing(1)",
    "in([1, 2])",
    "eq(1)",
    "lt(10)",
    "true",
    "false",
    "boolean",
    "sameas(none)",
    "filter",
    "test",
];

const METHODS: &[&str] = &[
    "upper",
    "lower",
    "title",
    "capitalize",
    "strip",
    "lstrip",
    "rstrip",
    "split",
    "splitlines",
    "replace",
    "count",
    "find",
    "rfind",
    "format",
    "startswith",
    "endswith",
    "join",
    "isdigit",
    "isalpha",
    "keys",
    "values",
    "items",
    "get",
];

/// Extreme numbers and sizes: zero, negatives, powers near type limits, huge widths.
fn number(r: &mut Rng) -> String {
    r.pick(&[
        "0",
        "1",
        "-1",
        "2",
        "3",
        "7",
        "100",
        "1000",
        "100000",
        "1000000",
        "16777217",
        "1000000000",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
        "170141183460469231731687303715884105727",
        "1e308",
        "-1e308",
        "0.5",
        "1.0e-300",
    ])
    .to_owned()
}

fn string(r: &mut Rng) -> String {
    match r.below(8) {
        0 => "''".into(),
        1 => "'a'".into(),
        2 => "'a,b,c'".into(),
        3 => "'{:>1000000000}'".into(),
        4 => "'%1000000000s'".into(),
        5 => "'<&\"\\'>'".into(),
        6 => format!("('x' * {})", number(r)),
        _ => "'line\\nline\\n'".into(),
    }
}

/// An argument list for a filter or method: empty, or extreme values.
fn args(r: &mut Rng, depth: usize) -> String {
    let n = r.below(4);
    let mut parts = Vec::new();
    for _ in 0..n {
        parts.push(match r.below(6) {
            0 => number(r),
            1 => string(r),
            2 => expr(r, depth + 1),
            3 => format!("indent={}", number(r)),
            4 => "true".into(),
            _ => "'x'".into(),
        });
    }
    parts.join(", ")
}

fn expr(r: &mut Rng, depth: usize) -> String {
    if depth > 4 {
        return match r.below(4) {
            0 => number(r),
            1 => string(r),
            2 => r.pick(&["x", "s", "l", "d", "big", "missing"]).into(),
            _ => "[1, [2, [3]]]".into(),
        };
    }
    match r.below(16) {
        0 => number(r),
        1 => string(r),
        2 => r.pick(&["x", "s", "l", "d", "big", "missing"]).into(),
        3 => format!("[{}, {}]", expr(r, depth + 1), expr(r, depth + 1)),
        4 => format!(
            "{{'k': {}, 'j': {}}}",
            expr(r, depth + 1),
            expr(r, depth + 1)
        ),
        5 => format!(
            "({} {} {})",
            expr(r, depth + 1),
            r.pick(&[
                "+", "-", "*", "/", "//", "%", "**", "~", "==", "<", "in", "and", "or"
            ]),
            expr(r, depth + 1)
        ),
        6 => format!(
            "{}{}",
            r.pick(&["-", "not ", "+", "- -"]),
            expr(r, depth + 1)
        ),
        7 | 8 => {
            let a = args(r, depth);
            let f = r.pick(FILTERS);
            if a.is_empty() {
                format!("{}|{f}", expr(r, depth + 1))
            } else {
                format!("{}|{f}({a})", expr(r, depth + 1))
            }
        }
        9 => format!("({} is {})", expr(r, depth + 1), r.pick(TESTS)),
        10 | 11 => format!(
            "{}.{}({})",
            expr(r, depth + 1),
            r.pick(METHODS),
            args(r, depth)
        ),
        12 => format!("range({})", number(r)),
        13 => format!("dict(a={}, b={})", expr(r, depth + 1), expr(r, depth + 1)),
        14 => format!(
            "({} if {} else {})",
            expr(r, depth + 1),
            expr(r, depth + 1),
            expr(r, depth + 1)
        ),
        _ => format!("{}[{}]", expr(r, depth + 1), expr(r, depth + 1)),
    }
}

/// A long chain of one construct, around the nesting bound (200) or far past it.
fn chain(r: &mut Rng) -> String {
    let n = *[150usize, 199, 200, 201, 260, 1000, 5000, 9000]
        .get(r.below(8))
        .unwrap_or(&200);
    match r.below(9) {
        0 => format!("{{{{ {}1 }}}}", "-".repeat(n)),
        1 => format!("{{{{ {}true }}}}", "not ".repeat(n)),
        2 => format!("{{{{ 1{} }}}}", "|abs".repeat(n)),
        3 => format!("{{{{ x{} }}}}", ".a".repeat(n)),
        4 => format!("{{{{ 1{} }}}}", " ~ 1".repeat(n)),
        5 => format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
        6 => format!("{{{{ {}1{} }}}}", "[".repeat(n), "]".repeat(n)),
        7 => format!(
            "{{% if false %}}{}{{% endif %}}",
            "{% elif false %}".repeat(n)
        ),
        _ => format!(
            "{}x{}",
            "{% for i in [1] %}".repeat(n.min(300)),
            "{% endfor %}".repeat(n.min(300))
        ),
    }
}

/// Statements that grow values: doubling strings and lists, nesting, recursive macros.
fn growth(r: &mut Rng) -> String {
    // 8,000 nested lists already need 3 MB of stack to drop or print (more than a 2 MiB
    // worker has) while the template (140 KB) still parses within the 1 s an unoptimised
    // test build of the server gets.
    let n = [10usize, 30, 40, 64, 1000, 8000][r.below(6)];
    let finish = format!(
        "{{{{ v|{} }}}}",
        r.pick(&[
            "length", "tojson", "string", "pprint", "list", "join", "e", "upper", "sort"
        ])
    );
    match r.below(8) {
        7 => format!(
            "{{% set v = [1] %}}{{% set w = [1] %}}{}{{{{ {} }}}}",
            "{% set v = [v, v] %}{% set w = [w, w] %}".repeat(n.min(64)),
            r.pick(&[
                "v == w",
                "v != w",
                "v < w",
                "v in [w]",
                "[v, w]|unique|length",
                "[v, w]|sort|length",
                "[v, w]|max|length",
                "{v: 1}|length",
                "[v, w]|groupby(0)|length",
            ])
        ),
        0 => format!(
            "{{% set v = 'xy' %}}{}{finish}",
            "{% set v = v ~ v %}".repeat(n.min(64))
        ),
        1 => format!(
            "{{% set v = [1] %}}{}{finish}",
            "{% set v = [v, v] %}".repeat(n.min(64))
        ),
        2 => format!("{{% set v = 1 %}}{}{finish}", "{% set v = [v] %}".repeat(n)),
        3 => format!(
            "{{% set v = [1] %}}{}{finish}",
            "{% set v = v * 2 %}".repeat(n.min(64))
        ),
        4 => format!(
            "{{% set v = [1] %}}{}{finish}",
            "{% set v = v + v %}".repeat(n.min(64))
        ),
        5 => "{% macro f(v, n) %}{% if n > 0 %}{{ f([v, v, v], n - 1) }}{% else %}{{ v|tojson|length }}{% endif %}{% endmacro %}{{ f(1, 50) }}".into(),
        _ => format!(
            "{{% for i in range({}) %}}{{% for j in range({}) %}}{{{{ i ~ j }}}}{{% endfor %}}{{% endfor %}}",
            number(r),
            number(r)
        ),
    }
}

fn template(r: &mut Rng) -> String {
    let body = match r.below(10) {
        0 | 1 => chain(r),
        2 | 3 => growth(r),
        4 => format!("{{% set v = {} %}}{{{{ v }}}}", expr(r, 0)),
        _ => format!("{{{{ {} }}}}", expr(r, 0)),
    };
    format!("User: {body}")
}

fn vars() -> Value {
    let many: Vec<u32> = (0..2000).collect();
    json!({"x": 1, "s": "abc", "l": [1, 2, 3], "d": {"a": 1, "b": [1, 2]}, "big": "y".repeat(100_000), "many": many})
}

const HBS_PATHS: &[&str] = &[
    "s",
    "x",
    "l",
    "d",
    "d.a",
    "d.b.1",
    "l.0",
    "l.x",
    "../s",
    "../../l",
    "@root.d",
    "this",
    "@index",
    "@first",
    "@last",
    "@key",
    "@state.x",
    "@metadata.prompt",
    "big",
    "many",
    "nope.deep",
    "[s]",
    "d/b/0",
    ".",
];

fn hbs_arg(r: &mut Rng) -> String {
    match r.below(4) {
        0 => format!(
            "\"{}\"",
            r.pick(&[
                "system",
                "user",
                "model",
                "tool",
                "System",
                "",
                "a b",
                "<<<dotprompt:role:system>>>"
            ])
        ),
        1 => r
            .pick(&["0", "1", "3", "-2", "1.5", "1e300", "18446744073709551616"])
            .to_owned(),
        _ => r.pick(HBS_PATHS).to_owned(),
    }
}

/// A Handlebars (Genkit dialect) fragment, nesting at most `depth` more blocks.
fn hbs(r: &mut Rng, depth: usize) -> String {
    let mut out = String::new();
    for _ in 0..1 + r.below(4) {
        let piece = match r.below(if depth == 0 { 5 } else { 9 }) {
            0 => r
                .pick(&["Hi ", "\n", "  ", "{{! c }}", "text\n  ", "Q: "])
                .to_owned(),
            1 => format!("{{{{{}}}}}", r.pick(HBS_PATHS)),
            2 => format!("{{{{{{{}}}}}}}", r.pick(HBS_PATHS)),
            3 => match r.below(7) {
                0 => format!("{{{{role {}}}}}", hbs_arg(r)),
                1 => "{{history}}".to_owned(),
                2 => format!("{{{{section {}}}}}", hbs_arg(r)),
                3 => format!(
                    "{{{{media url={} contentType={}}}}}",
                    hbs_arg(r),
                    hbs_arg(r)
                ),
                4 => format!("{{{{json {} indent={}}}}}", hbs_arg(r), hbs_arg(r)),
                5 => format!("{{{{lookup {} {}}}}}", hbs_arg(r), hbs_arg(r)),
                _ => format!("{{{{> {}}}}}", r.pick(&["p", "q", "missing"])),
            },
            4 => format!("{{{{~{}~}}}}", r.pick(HBS_PATHS)),
            _ => {
                let (open, close) = match r.below(6) {
                    0 => (format!("#if {}", hbs_arg(r)), "if"),
                    1 => (format!("#unless {} includeZero=true", hbs_arg(r)), "unless"),
                    2 => (format!("#each {}", r.pick(HBS_PATHS)), "each"),
                    3 => (format!("#with {}", r.pick(HBS_PATHS)), "with"),
                    4 => (
                        format!("#ifEquals {} {}", hbs_arg(r), hbs_arg(r)),
                        "ifEquals",
                    ),
                    _ => (format!("#each {} as |v i|", r.pick(HBS_PATHS)), "each"),
                };
                let body = hbs(r, depth - 1);
                let inverse = if r.below(2) == 0 {
                    format!("{{{{else}}}}{}", hbs(r, depth - 1))
                } else {
                    String::new()
                };
                format!("{{{{{open}}}}}{body}{inverse}{{{{/{close}}}}}")
            }
        };
        out.push_str(&piece);
    }
    out
}

/// `template` with the mock model named, unless it has frontmatter (which names it).
fn with_model(template: &str) -> String {
    if template.starts_with("---") {
        template.to_owned()
    } else {
        format!("---\nmodel: mock-gpt\n---\n{template}")
    }
}

/// A Genkit-dialect prompt: frontmatter sometimes with a schema and defaults, a body, and
/// sometimes the large nested loop that must stop at the time limit.
fn genkit_template(r: &mut Rng) -> String {
    let front = match r.below(3) {
        0 => {
            "---\nmodel: mock-gpt\ninput:\n  schema:\n    s?: string\n    l?(array): integer\n  default:\n    s: dflt\n---\n"
        }
        1 => "---\nmodel: mock-gpt\n---\n",
        _ => "",
    };
    let body = if r.below(20) == 0 {
        "{{#each many}}{{#each ../many}}{{#each ../../many}}{{this}}{{/each}}{{/each}}{{/each}}"
            .to_owned()
    } else {
        let depth = 1 + r.below(4);
        hbs(r, depth)
    };
    format!("{front}{body}")
}

/// promptd as a child process, killed on drop.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "model_list:\n  - model_name: mock-gpt\n    litellm_params:\n      model: openai/gpt-4o-mini\n      mock_response: ok\n",
    )
    .expect("config");
    let db = format!("sqlite://{}", dir.path().join("fuzz.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptd"))
        .arg("serve")
        .args(["--host", "127.0.0.1", "--port", "0", "--database-url", &db])
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .env("PROMPTD_MASTER_KEY", MASTER)
        .env("PROMPTD_LOG", "promptd=info,warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promptd starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && let Some(rest) = line.split("addr=").nth(1)
        {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return Server {
                child,
                base: format!("http://{addr}"),
                _dir: dir,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("promptd did not become ready");
}

/// Peak resident memory of the process, in bytes.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

struct Fuzz {
    server: Server,
    client: reqwest::Client,
    seed: u64,
    case: usize,
    genkit_cases: usize,
    genkit_rendered: usize,
}

impl Fuzz {
    async fn send(&mut self, what: &str, template: &str, req: reqwest::RequestBuilder) -> u16 {
        let started = Instant::now();
        let res = req.bearer_auth(MASTER).send().await;
        let status = match res {
            Ok(r) => {
                let s = r.status().as_u16();
                let _ = r.bytes().await;
                s
            }
            Err(e) => {
                let died = self.server.child.try_wait().ok().flatten();
                self.fail(
                    what,
                    template,
                    &format!("request failed: {e}; exit {died:?}"),
                );
            }
        };
        let took = started.elapsed();
        if took > MAX_ANSWER {
            self.fail(what, template, &format!("answer took {took:?}"));
        }
        if status >= 500 {
            self.fail(what, template, &format!("answer status {status}"));
        }
        if let Ok(Some(exit)) = self.server.child.try_wait() {
            self.fail(what, template, &format!("promptd exited: {exit}"));
        }
        status
    }

    fn fail(&self, what: &str, template: &str, why: &str) -> ! {
        let shown: String = template.chars().take(400).collect();
        panic!(
            "template fuzz case {} ({what}) failed: {why}\n  seed {} (replay: PROMPTD_FUZZ_SEED={})\n  template ({} bytes): {shown}",
            self.case,
            self.seed,
            self.seed,
            template.len()
        );
    }

    /// `POST /prompts` with `template` in `dialect` (`None`: LiteLLM's), then info, render and
    /// delete. Returns the render's status (0 when the prompt was refused).
    async fn store_and_render(&mut self, dialect: Option<&str>, template: &str) -> u16 {
        let base = self.server.base.clone();
        let tag = dialect.map_or(String::new(), |d| format!(" ({d})"));
        let id = format!("fuzz{}", self.case);
        let mut params = json!({"prompt_integration": "dotprompt", "dotprompt_content": template});
        if let Some(d) = dialect {
            params["prompt_dialect"] = json!(d);
        }
        let body = json!({"prompt_id": id, "litellm_params": params, "prompt_info": {"prompt_type": "db"}});
        let req = self.client.post(format!("{base}/prompts")).json(&body);
        if self
            .send(&format!("POST /prompts{tag}"), template, req)
            .await
            != 200
        {
            return 0;
        }
        let req = self.client.get(format!("{base}/prompts/{id}/info"));
        self.send(&format!("info{tag}"), template, req).await;
        let req = self
            .client
            .post(format!("{base}/prompts/{id}/render"))
            .json(&json!({"prompt_variables": vars()}));
        let rendered = self.send(&format!("render{tag}"), template, req).await;
        let req = self.client.delete(format!("{base}/prompts/{id}"));
        self.send(&format!("delete{tag}"), template, req).await;
        rendered
    }

    /// `/prompts/test` with `template` in `dialect`, its model named when it names none.
    async fn test_draft(&mut self, dialect: Option<&str>, template: &str) -> u16 {
        let base = self.server.base.clone();
        let tag = dialect.map_or(String::new(), |d| format!(" ({d})"));
        let mut body =
            json!({"dotprompt_content": with_model(template), "prompt_variables": vars()});
        if let Some(d) = dialect {
            body["prompt_dialect"] = json!(d);
        }
        let req = self.client.post(format!("{base}/prompts/test")).json(&body);
        self.send(&format!("/prompts/test{tag}"), template, req)
            .await
    }

    /// The Genkit dialect through `POST /prompts` (+ info, render, delete) or `/prompts/test`.
    async fn run_genkit(&mut self, route: usize, template: &str) {
        let status = if route == 0 {
            self.store_and_render(Some("genkit"), template).await
        } else {
            self.test_draft(Some("genkit"), template).await
        };
        if status == 200 {
            self.genkit_rendered += 1;
        }
        self.genkit_cases += 1;
    }

    async fn run(&mut self, route: usize, template: &str) {
        match route {
            0 => {
                let form = Form::new().part(
                    "file",
                    Part::text(template.to_owned()).file_name("fuzz.prompt"),
                );
                let req = self
                    .client
                    .post(format!(
                        "{}/utils/dotprompt_json_converter",
                        self.server.base
                    ))
                    .multipart(form);
                self.send("converter", template, req).await;
            }
            1 => {
                self.store_and_render(None, template).await;
            }
            _ => {
                self.test_draft(None, template).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_templates_never_crash_stall_or_bloat_the_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = std::env::var("PROMPTD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let seconds: u64 = std::env::var("PROMPTD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let cases: usize = std::env::var("PROMPTD_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!(
        "template fuzz: seed {seed} (replay with PROMPTD_FUZZ_SEED={seed}), {seconds} s, at most {cases} cases"
    );
    let server = start_server();
    let pid = server.child.id();
    let mut fuzz = Fuzz {
        server,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        seed,
        case: 0,
        genkit_cases: 0,
        genkit_rendered: 0,
    };
    // Warm up every route with ordinary templates, so the baseline includes the allocator's
    // arenas, the runtime's buffers and a compiled template or two.
    for i in 0..30 {
        let t = "System: Be brief.\nUser: Hello {{ s|upper }} {% for i in l %}{{ i }}{% endfor %} {{ d|tojson }}";
        fuzz.run(i % 3, t).await;
        fuzz.case += 1;
    }
    // The stored Genkit prompts generated templates include as partials (`{{> p}}`, `{{> q}}`).
    for (id, content) in [
        (
            "p",
            "P {{s}} {{#each l}}[{{this}}|{{../s}}|{{@index}}]{{/each}}",
        ),
        ("q", "{{> p}}Q {{#with d}}{{a}}{{/with}}"),
    ] {
        let body = json!({"prompt_id": id, "litellm_params": {"prompt_integration": "dotprompt", "prompt_dialect": "genkit", "dotprompt_content": content}, "prompt_info": {"prompt_type": "db"}});
        let req = fuzz
            .client
            .post(format!("{}/prompts", fuzz.server.base))
            .json(&body);
        assert_eq!(fuzz.send("stored partial", content, req).await, 200);
    }
    let baseline = vm_hwm(pid);
    let mut r = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut sent = 0usize;
    while sent < cases && Instant::now() < deadline {
        // One case in four is a Genkit-dialect (Handlebars) prompt.
        let t = if r.below(4) == 0 {
            let t = genkit_template(&mut r);
            let route = r.below(2);
            fuzz.run_genkit(route, &t).await;
            t
        } else {
            let t = template(&mut r);
            let route = r.below(3);
            fuzz.run(route, &t).await;
            t
        };
        fuzz.case += 1;
        sent += 1;
        let peak = vm_hwm(pid);
        if peak > baseline + MAX_BYTES + SLACK {
            fuzz.fail(
                "memory",
                &t,
                &format!(
                    "peak memory rose from {} MiB to {} MiB (allowed: +{} MiB)",
                    baseline >> 20,
                    peak >> 20,
                    (MAX_BYTES + SLACK) >> 20
                ),
            );
        }
    }
    println!(
        "template fuzz: {sent} cases ({} in the Genkit dialect, {} of them rendered), peak memory {} MiB (baseline {} MiB)",
        fuzz.genkit_cases,
        fuzz.genkit_rendered,
        vm_hwm(pid) >> 20,
        baseline >> 20
    );
}
