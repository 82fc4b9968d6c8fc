//! Google Dotprompt (the Handlebars `.prompt` format of Firebase Genkit): YAML frontmatter
//! (`model`, `config`, `input`, `output`, `ext` fields, …) and a Handlebars body with the
//! Dotprompt helpers, parsed once and rendered to messages of parts. Pure: no IO, no async.
//!
//! **Architecture invariant:** nothing here panics on input, and every render is bounded: the
//! template's nesting is checked on its text before parsing, partials are resolved when the
//! prompt is parsed (no cycle, bounded depth and number of expansions), and a render stops at
//! an output size and a deadline (checked at every write and helper call).
//!
//! **Architecture invariant:** a variable's value never becomes a role marker or a new
//! message: only the helpers write the internal markers that split messages (see `helpers`).
//!
//! The format, and every difference from the JavaScript reference, is in
//! `docs/prompt-format.md`.

mod frontmatter;
mod guard;
mod helpers;
mod messages;
mod program;
pub mod schema;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use handlebars::{BlockParamHolder, Context, Handlebars, RenderContext, Renderable, Template};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use frontmatter::RESERVED_KEYS;
pub use guard::MAX_NESTING;
pub use messages::{Media, Message, Part};

/// Bounds on one prompt and its renders. Passing one is [`DotpromptError::LimitExceeded`] (or a
/// parse error for the static ones), never a hang or a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest rendered text, in bytes (markers included). Default 1 MiB.
    pub max_output_bytes: usize,
    /// Longest a render may run. Default 250 ms; a typical prompt takes microseconds.
    pub max_render_time: Duration,
    /// Deepest chain of partials including partials. Default 16.
    pub max_partial_depth: usize,
    /// Most partial expansions one pass over the template may cause (a partial included
    /// twice by a partial included twice counts four). Default 10,000.
    pub max_partial_expansions: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: 1024 * 1024,
            max_render_time: Duration::from_millis(250),
            max_partial_depth: 16,
            max_partial_expansions: 10_000,
        }
    }
}

/// Why a Dotprompt could not be parsed or rendered. Each message says what and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DotpromptError {
    /// The YAML frontmatter does not parse or is not a mapping.
    #[error("invalid frontmatter at line {line}: {message}")]
    Frontmatter { line: usize, message: String },
    /// The Handlebars body does not parse, nests too deeply or calls an unknown helper.
    #[error("template syntax error at line {line}: {message}; check the {{{{ }}}} tags there")]
    Syntax { line: usize, message: String },
    /// A partial is missing, or partials include each other in a cycle or too deeply.
    #[error("{0}")]
    Partial(String),
    /// `input.schema` or `output.schema` is not valid Picoschema.
    #[error("invalid {field}: {message}")]
    Schema { field: String, message: String },
    /// A runtime error of Handlebars.
    #[error("template error: {0}")]
    Render(String),
    /// A variable does not match its `input.schema` type.
    #[error(
        "Invalid type for field '{name}': expected {expected}, got {got}; input.schema declares '{name}' as {expected}, so pass a value of that type"
    )]
    VariableType {
        name: String,
        expected: String,
        got: String,
    },
    /// Required `input.schema` fields that were not given (after defaults), all of them.
    #[error("{}", missing_msg(.names))]
    MissingVariables { names: Vec<String> },
    /// A render ran past a limit: `max_output_bytes` or `max_render_time`.
    #[error("the template exceeded its {limit} limit: {message}")]
    LimitExceeded {
        limit: &'static str,
        message: String,
    },
}

impl DotpromptError {
    /// True for errors in the prompt itself (found by [`Prompt::parse`]).
    pub fn is_parse_error(&self) -> bool {
        matches!(
            self,
            DotpromptError::Frontmatter { .. }
                | DotpromptError::Syntax { .. }
                | DotpromptError::Partial(_)
                | DotpromptError::Schema { .. }
        )
    }

    /// A stable name for the kind of error, shared with the Jinja dialect where they agree.
    pub fn kind(&self) -> &'static str {
        match self {
            DotpromptError::Frontmatter { .. } => "frontmatter",
            DotpromptError::Syntax { .. } => "syntax",
            DotpromptError::Partial(_) => "partial",
            DotpromptError::Schema { .. } => "schema",
            DotpromptError::Render(_) => "render",
            DotpromptError::VariableType { .. } => "variable_type",
            DotpromptError::MissingVariables { .. } => "missing_variables",
            DotpromptError::LimitExceeded { .. } => "limit_exceeded",
        }
    }
}

fn missing_msg(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let (noun, pronoun) = if names.len() == 1 {
        ("variable", "it")
    } else {
        ("variables", "them")
    };
    format!(
        "missing required prompt {noun} {}; pass {pronoun} in prompt_variables, give a default in input.default, or mark it optional in input.schema with a trailing ? (e.g. `{}?: string`)",
        quoted.join(", "),
        names.first().map(String::as_str).unwrap_or("name")
    )
}

/// A key in a small object, compared in place (cheaper than hashing it) up to a few entries.
pub(crate) fn get_key<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if m.len() <= 8 {
        m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        m.get(key)
    }
}

/// Which renderer a render uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The compiled renderer when the template compiled (see [`Prompt::is_compiled`]),
    /// handlebars-rust otherwise and for every case the compiled one leaves to it. The same
    /// answers as [`Engine::Handlebars`], faster.
    #[default]
    Auto,
    /// handlebars-rust alone: the reference the compiled renderer is checked against.
    Handlebars,
}

/// Finds a partial's text by name (`{{> name}}`), or `None` if there is no such partial.
pub type PartialResolver<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// What a prompt is parsed with besides its text.
#[derive(Default)]
pub struct ParseOptions<'a> {
    pub limits: Limits,
    /// Partials by name, registered before the resolver is asked.
    pub partials: BTreeMap<String, String>,
    /// Asked for every partial name not in `partials` (e.g. another stored prompt).
    pub partial_resolver: Option<&'a PartialResolver<'a>>,
    /// Named schemas for Picoschema (`schema: Foo`).
    pub schemas: Map<String, Value>,
    /// Asked for every schema name not in `schemas`.
    pub schema_resolver: Option<&'a schema::SchemaLookup<'a>>,
}

/// The data of one render, as the reference's `DataArgument`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RenderData {
    /// The variables (`{{name}}`).
    #[serde(default)]
    pub input: Map<String, Value>,
    /// `@`-variables: `{"state": {...}}` is read as `{{@state.x}}`.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// The conversation so far, placed by `{{history}}` (or before the last user message).
    #[serde(default)]
    pub messages: Vec<Message>,
}

struct Inner {
    registry: Handlebars<'static>,
    template: Template,
    /// The parsed frontmatter, before options are merged (reserved keys, `ext`, `raw`).
    base: Map<String, Value>,
    /// `base` resolved: Picoschema converted, `toolDefs` added.
    metadata: Map<String, Value>,
    data_names: Vec<String>,
    schemas: Map<String, Value>,
    limits: Limits,
    source: String,
    body: String,
    /// Stack a render needs (see [`render_stack`]).
    render_stack: usize,
    /// The template compiled for the fast renderer, when it has a shape that one mirrors.
    program: Option<program::Compiled>,
    /// `input.schema` of `metadata`, read once.
    checker: Option<schema::Checker>,
    /// `input.default` of `metadata`.
    defaults: Option<Map<String, Value>>,
    /// The template or one of its partials calls `{{history}}`.
    uses_history: bool,
}

/// A parsed Dotprompt with its partials resolved. Cheap to clone, safe to share.
#[derive(Clone)]
pub struct Prompt(Arc<Inner>);

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("metadata", &self.0.metadata)
            .finish_non_exhaustive()
    }
}

/// Stack for parsing and rendering: the text's nesting is at most [`MAX_NESTING`] and partials
/// at most `max_partial_depth` deep (64 KiB a level, generous; 8x in unoptimised builds).
const STACK_PER_LEVEL: usize = 32 * 1024 * if cfg!(debug_assertions) { 8 } else { 1 };

/// Stack for parsing: the text nests at most [`MAX_NESTING`] levels (checked first).
const PARSE_STACK: usize = (MAX_NESTING + 16) * STACK_PER_LEVEL;

/// Stack for rendering a template whose nesting, through its deepest chain of partials, is
/// `depth` levels: one level per block or partial, plus a margin for the render's own frames.
fn render_stack(depth: usize) -> usize {
    depth.saturating_add(16).saturating_mul(STACK_PER_LEVEL)
}

fn syntax_error(e: &handlebars::TemplateError, body_line: usize) -> DotpromptError {
    DotpromptError::Syntax {
        line: e.pos().map_or(body_line, |(l, _)| l + body_line - 1),
        message: e.reason().to_string(),
    }
}

fn compile(
    registry: &mut Handlebars<'static>,
    name: &str,
    source: &str,
    partial: bool,
    body_line: usize,
) -> Result<(Template, usize), DotpromptError> {
    let source = &*guard::dot_paths(source);
    let depth = guard::check_nesting(source, body_line)?;
    let compiled = if partial {
        registry.register_partial(name, source)
    } else {
        registry.register_template_string(name, source)
    };
    compiled.map_err(|e| match partial {
        false => syntax_error(&e, body_line),
        true => DotpromptError::Partial(format!("partial '{name}' does not parse: {}", e.reason())),
    })?;
    let t = registry.get_template(name).cloned().ok_or_else(|| {
        DotpromptError::Render(format!("template '{name}' vanished after compiling"))
    })?;
    registry.unregister_template(name);
    Ok((t, depth))
}

const MAIN: &str = "\u{0}main";

impl Prompt {
    /// Parses a Dotprompt with default options (no partials, no named schemas).
    pub fn parse(text: &str, limits: &Limits) -> Result<Prompt, DotpromptError> {
        Prompt::parse_with(
            text,
            &ParseOptions {
                limits: limits.clone(),
                ..ParseOptions::default()
            },
        )
    }

    /// Parses the frontmatter, converts Picoschema, compiles the body and every partial it
    /// reaches (given or resolved), and checks the static bounds.
    pub fn parse_with(text: &str, opts: &ParseOptions<'_>) -> Result<Prompt, DotpromptError> {
        stacker::maybe_grow(PARSE_STACK, PARSE_STACK, || Prompt::parse_inner(text, opts))
    }

    fn parse_inner(text: &str, opts: &ParseOptions<'_>) -> Result<Prompt, DotpromptError> {
        let doc = frontmatter::parse(text)?;
        let mut base = Map::new();
        for k in ["ext", "metadata", "config"] {
            base.insert(k.into(), Value::Object(Map::new()));
        }
        for (k, v) in &doc.reserved {
            base.insert(k.clone(), v.clone());
        }
        if let Some(raw) = &doc.raw {
            base.insert("raw".into(), Value::Object(raw.clone()));
            base.insert("ext".into(), Value::Object(doc.ext.clone()));
        }
        let mut registry = helpers::registry();
        let (mut template, main_depth) =
            compile(&mut registry, MAIN, &doc.template, false, doc.body_line)?;
        let mut depths: BTreeMap<String, usize> = BTreeMap::new();
        let known = |n: &str| helpers::KNOWN_HELPERS.contains(&n);
        let mut refs = guard::Refs::default();
        guard::template_refs(&template, &mut refs, &known);
        if let Some(p) = refs.problems.first() {
            return Err(DotpromptError::Syntax {
                line: doc.body_line,
                message: p.clone(),
            });
        }
        let mut uses_history = refs.history;
        let mut data_names = BTreeSet::new();
        guard::rewrite_data_paths(&mut template, &mut data_names);
        // Resolve every partial reachable from the body, breadth first.
        let mut graph: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut inline: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<(String, Template)> = refs.inline.drain(..).collect();
        let root = refs.partials.clone();
        let mut pending: Vec<String> = root.keys().cloned().collect();
        for (n, t) in queue.drain(..) {
            let mut r = guard::Refs::default();
            guard::template_refs(&t, &mut r, &known);
            pending.extend(r.partials.keys().cloned());
            inline.insert(n.clone());
            graph.insert(n, r.partials);
        }
        while let Some(name) = pending.pop() {
            if graph.contains_key(&name) {
                continue;
            }
            if graph.len() > 1000 {
                return Err(DotpromptError::Partial(
                    "the template reaches more than 1000 partials; use fewer".into(),
                ));
            }
            let source = opts
                .partials
                .get(&name)
                .cloned()
                .or_else(|| opts.partial_resolver.and_then(|r| r(&name)))
                .ok_or_else(|| {
                    DotpromptError::Partial(format!(
                        "the template includes the partial '{name}' ({{{{> {name}}}}}), which is not defined; define it or remove the include"
                    ))
                })?;
            let (mut t, own_depth) = compile(&mut registry, &name, &source, true, 1)?;
            depths.insert(name.clone(), own_depth);
            let mut r = guard::Refs::default();
            guard::template_refs(&t, &mut r, &known);
            uses_history |= r.history;
            if let Some(p) = r.problems.first() {
                return Err(DotpromptError::Partial(format!("partial '{name}': {p}")));
            }
            guard::rewrite_data_paths(&mut t, &mut data_names);
            for (n, it) in r.inline.drain(..) {
                let mut rr = guard::Refs::default();
                guard::template_refs(&it, &mut rr, &known);
                pending.extend(rr.partials.keys().cloned());
                inline.insert(n.clone());
                graph.insert(n, rr.partials);
            }
            pending.extend(r.partials.keys().cloned());
            graph.insert(name.clone(), r.partials);
            t.name = Some(name.clone());
            registry.register_template(&name, t);
        }
        guard::check_partials(
            &root,
            &graph,
            opts.limits.max_partial_depth,
            opts.limits.max_partial_expansions,
        )?;
        // Deepest nesting through partials (the graph is acyclic now): each include may sit
        // at the includer's deepest point, so depths add up along a chain.
        fn chain(
            name: &str,
            graph: &BTreeMap<String, BTreeMap<String, usize>>,
            depths: &BTreeMap<String, usize>,
            memo: &mut BTreeMap<String, usize>,
        ) -> usize {
            if let Some(d) = memo.get(name) {
                return *d;
            }
            let below = graph.get(name).map_or(0, |children| {
                children
                    .keys()
                    .map(|c| chain(c, graph, depths, memo))
                    .max()
                    .unwrap_or(0)
            });
            let d = depths.get(name).copied().unwrap_or(0) + 1 + below;
            memo.insert(name.to_owned(), d);
            d
        }
        let mut memo = BTreeMap::new();
        let partial_depth = root
            .keys()
            .map(|n| chain(n, &graph, &depths, &mut memo))
            .max()
            .unwrap_or(0);
        let render_stack = render_stack(main_depth + partial_depth);
        let mut schemas = opts.schemas.clone();
        let metadata = resolve_metadata(&base, None, &mut schemas, opts.schema_resolver)?;
        // Inline partials (`{{#*inline}}`) stay with handlebars-rust.
        let program = if inline.is_empty() {
            let names: Vec<&String> = graph.keys().collect();
            let partials: Option<Vec<&Template>> =
                names.iter().map(|n| registry.get_template(n)).collect();
            let index = |name: &str| names.iter().position(|n| n.as_str() == name);
            partials.and_then(|ps| program::Compiled::new(&template, &ps, &index))
        } else {
            None
        };
        let checker = schema_of(&metadata).map(schema::Checker::new);
        let defaults = defaults_of(&metadata).cloned();
        Ok(Prompt(Arc::new(Inner {
            registry,
            template,
            base,
            metadata,
            data_names: data_names.into_iter().collect(),
            schemas,
            limits: opts.limits.clone(),
            source: text.to_owned(),
            body: doc.template,
            render_stack,
            program,
            checker,
            defaults,
            uses_history,
        })))
    }

    /// The resolved metadata (the reference's `renderMetadata`): `ext`, `metadata`, `config`,
    /// the reserved keys in file order (`model`, `input` and `output` with JSON Schemas,
    /// `tools`, `toolDefs`, …) and `raw`, the whole frontmatter.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.0.metadata
    }

    /// The metadata with `additional` merged over it as the reference merges render options
    /// (top-level keys replace, `config` merges one level).
    pub fn metadata_with(
        &self,
        additional: &Map<String, Value>,
    ) -> Result<Map<String, Value>, DotpromptError> {
        let mut schemas = self.0.schemas.clone();
        // `schemas` holds what the resolver gave when the prompt was parsed.
        resolve_metadata(&self.0.base, Some(additional), &mut schemas, None)
    }

    /// `model`, if the frontmatter names one.
    pub fn model(&self) -> Option<&str> {
        self.0.metadata.get("model").and_then(Value::as_str)
    }

    /// `config`: the model's request parameters (`temperature`, `maxOutputTokens`, …).
    pub fn config(&self) -> Map<String, Value> {
        match self.0.metadata.get("config") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    }

    /// `input.schema` as JSON Schema, if declared.
    pub fn input_schema(&self) -> Option<&Value> {
        self.0.metadata.get("input")?.get("schema")
    }

    /// `output.schema` as JSON Schema, if declared.
    pub fn output_schema(&self) -> Option<&Value> {
        self.0.metadata.get("output")?.get("schema")
    }

    /// The Handlebars body (after the frontmatter, trimmed when there is one).
    pub fn template(&self) -> &str {
        &self.0.body
    }

    /// The whole text the prompt was parsed from.
    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// Merges `input.default` under the variables, checks them against `input.schema`, then
    /// renders.
    pub fn render(&self, data: &RenderData) -> Result<Vec<Message>, DotpromptError> {
        self.render_with_metadata(data, &self.0.metadata, true)
    }

    /// Renders without the schema check (defaults are still merged).
    pub fn render_unchecked(&self, data: &RenderData) -> Result<Vec<Message>, DotpromptError> {
        self.render_with_metadata(data, &self.0.metadata, false)
    }

    /// Renders with metadata from [`Prompt::metadata_with`] (its `input.default` applies).
    pub fn render_with_metadata(
        &self,
        data: &RenderData,
        metadata: &Map<String, Value>,
        check: bool,
    ) -> Result<Vec<Message>, DotpromptError> {
        self.render_with_engine(data, metadata, check, Engine::Auto)
    }

    /// True when the template (or a partial it includes) calls `{{history}}`: the place the
    /// conversation so far ([`RenderData::messages`]) goes.
    pub fn uses_history(&self) -> bool {
        self.0.uses_history
    }

    /// True when renders of this prompt run the compiled renderer (no partials, and only the
    /// helpers and shapes it mirrors); other prompts render with handlebars-rust.
    pub fn is_compiled(&self) -> bool {
        self.0.program.is_some()
    }

    /// [`Prompt::render_with_metadata`] with a choice of renderer.
    pub fn render_with_engine(
        &self,
        data: &RenderData,
        metadata: &Map<String, Value>,
        check: bool,
        engine: Engine,
    ) -> Result<Vec<Message>, DotpromptError> {
        // The prompt's own metadata has its defaults and checker ready.
        let own = std::ptr::eq(metadata, &self.0.metadata);
        let defaults = if own {
            self.0.defaults.as_ref()
        } else {
            defaults_of(metadata)
        };
        let vars = schema::Data::Vars {
            input: &data.input,
            defaults,
        };
        if check {
            match (own, &self.0.checker) {
                (true, Some(c)) => c.check(vars)?,
                (true, None) => {}
                (false, _) => {
                    if let Some(s) = schema_of(metadata) {
                        schema::Checker::new(s).check(vars)?;
                    }
                }
            }
        }
        let root = program::Root::new(&data.input, defaults);
        let params = self.data_params(data, metadata);
        let stack = self.0.render_stack;
        stacker::maybe_grow(stack, stack, || {
            if let (Engine::Auto, Some(p)) = (engine, &self.0.program) {
                match self.render_compiled(p, &root, &params, data) {
                    Ok(messages) => return Ok(messages),
                    Err(program::Stop::Limit(t)) => return Err(self.limit_error(t)),
                    // A case the compiled renderer leaves to handlebars-rust.
                    Err(program::Stop::Fallback) => {}
                }
            }
            self.render_inner(root.into_merged(), &params, data)
        })
    }

    /// The `@name` data the template reads (the guard's block parameters): the render
    /// context's value, `@metadata` built when the context has none, else null.
    fn data_params<'d>(
        &self,
        data: &'d RenderData,
        metadata: &Map<String, Value>,
    ) -> Vec<DataParam<'d>> {
        self.0
            .data_names
            .iter()
            .map(|n| {
                let v = match data.context.get(n) {
                    Some(v) => Cow::Borrowed(v),
                    None if n == "metadata" => Cow::Owned(metadata_data(metadata, data)),
                    None => Cow::Owned(Value::Null),
                };
                (format!("{}{n}", guard::DATA_PARAM_PREFIX), v)
            })
            .collect()
    }

    fn render_compiled(
        &self,
        p: &program::Compiled,
        root: &program::Root<'_>,
        params: &[DataParam<'_>],
        data: &RenderData,
    ) -> Result<Vec<Message>, program::Stop> {
        let inner = &self.0;
        let deadline = Instant::now() + inner.limits.max_render_time;
        let out = program::Run::new(root, params, p, inner.limits.max_output_bytes, deadline)
            .run(&p.program)?;
        Ok(messages::to_messages_at(
            &out.text,
            &out.offsets,
            &out.pieces,
            &data.messages,
        ))
    }

    fn limit_error(&self, which: helpers::Tripped) -> DotpromptError {
        let limits = &self.0.limits;
        match which {
            helpers::Tripped::Output => DotpromptError::LimitExceeded {
                limit: "max_output_bytes",
                message: format!(
                    "the rendered text passed {} bytes; render less (smaller variables, fewer loop iterations)",
                    limits.max_output_bytes
                ),
            },
            helpers::Tripped::Time => DotpromptError::LimitExceeded {
                limit: "max_render_time",
                message: format!(
                    "the render ran longer than {} ms; render less (smaller variables, fewer loop iterations)",
                    limits.max_render_time.as_millis()
                ),
            },
        }
    }

    fn render_inner(
        &self,
        input: Value,
        params: &[DataParam<'_>],
        data: &RenderData,
    ) -> Result<Vec<Message>, DotpromptError> {
        let inner = &self.0;
        let ctx = Context::from(input);
        let mut rc = RenderContext::new(None);
        if let Some(block) = rc.block_mut() {
            for (k, v) in params {
                block.set_block_param(k, BlockParamHolder::Value(v.clone().into_owned()));
            }
        }
        let mut out = helpers::BoundedOutput::new(inner.limits.max_output_bytes);
        helpers::STATE.with(|s| {
            *s.borrow_mut() = Some(helpers::RenderState {
                pieces: Vec::new(),
                deadline: Instant::now() + inner.limits.max_render_time,
                tripped: None,
            })
        });
        let result = inner
            .template
            .render(&inner.registry, &ctx, &mut rc, &mut out);
        let state = helpers::STATE.with(|s| s.borrow_mut().take());
        let (pieces, tripped) = state.map_or((Vec::new(), None), |s| (s.pieces, s.tripped));
        drop(rc);
        match (result, tripped) {
            (_, Some(t)) => return Err(self.limit_error(t)),
            (Err(e), None) => return Err(render_error(&e)),
            (Ok(()), None) => {}
        }
        Ok(messages::to_messages(&out.buf, &pieces, &data.messages))
    }
}

/// A `@name` datum: the block parameter's name (with the guard's prefix) and its value.
type DataParam<'d> = (String, Cow<'d, Value>);

/// `@metadata`: {prompt: the metadata without input, messages}, built only when read.
fn metadata_data(metadata: &Map<String, Value>, data: &RenderData) -> Value {
    let mut prompt_meta = metadata.clone();
    prompt_meta.remove("input");
    let mut meta = Map::new();
    meta.insert("prompt".into(), Value::Object(prompt_meta));
    meta.insert(
        "messages".into(),
        serde_json::to_value(&data.messages).unwrap_or(Value::Null),
    );
    Value::Object(meta)
}

/// `input.default` of resolved metadata, when it is an object.
fn defaults_of(metadata: &Map<String, Value>) -> Option<&Map<String, Value>> {
    metadata.get("input")?.get("default")?.as_object()
}

/// `input.schema` of resolved metadata.
fn schema_of(metadata: &Map<String, Value>) -> Option<&Value> {
    metadata.get("input").and_then(|i| i.get("schema"))
}

fn render_error(e: &handlebars::RenderError) -> DotpromptError {
    let reason = e.reason().to_string();
    DotpromptError::Render(match e.line_no {
        Some(l) => format!("{reason} (template line {l})"),
        None => reason,
    })
}

/// The reference's `resolveMetadata`: merge, add `toolDefs` where `tools` are named, and
/// convert Picoschema.
fn resolve_metadata(
    base: &Map<String, Value>,
    additional: Option<&Map<String, Value>>,
    schemas: &mut Map<String, Value>,
    resolver: Option<&schema::SchemaLookup<'_>>,
) -> Result<Map<String, Value>, DotpromptError> {
    let mut out = base.clone();
    if let Some(add) = additional {
        let original = match out.get("config") {
            Some(Value::Object(c)) => c.clone(),
            _ => Map::new(),
        };
        for (k, v) in add {
            out.insert(k.clone(), v.clone());
        }
        let mut config = original;
        if let Some(Value::Object(c)) = add.get("config") {
            for (k, v) in c {
                config.insert(k.clone(), v.clone());
            }
        }
        out.insert("config".into(), Value::Object(config));
    }
    if out.get("tools").is_some_and(|t| !t.is_null()) && !out.contains_key("toolDefs") {
        out.insert("toolDefs".into(), Value::Array(Vec::new()));
    }
    // Schemas the resolver returns are kept, so later merges (`metadata_with`) find them
    // without it.
    let cache = std::cell::RefCell::new(std::mem::take(schemas));
    let lookup = |name: &str| -> Option<Value> {
        if let Some(v) = cache.borrow().get(name) {
            return Some(v.clone());
        }
        let v = resolver.and_then(|r| r(name))?;
        cache.borrow_mut().insert(name.to_owned(), v.clone());
        Some(v)
    };
    for key in ["input", "output"] {
        let Some(Value::Object(section)) = out.get(key) else {
            continue;
        };
        let Some(s) = section.get("schema") else {
            continue;
        };
        let truthy = !matches!(s, Value::Null | Value::Bool(false))
            && !matches!(s, Value::String(x) if x.is_empty());
        if !truthy {
            continue;
        }
        let converted = schema::to_json_schema(s, &lookup, &format!("{key}.schema"))?;
        let mut section = section.clone();
        section.insert("schema".into(), converted);
        out.insert(key.into(), Value::Object(section));
    }
    *schemas = cache.into_inner();
    Ok(out)
}
