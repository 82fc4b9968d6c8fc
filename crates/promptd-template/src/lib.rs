//! The `.prompt` engine: YAML frontmatter plus a Jinja template with `System:`/`User:`/…
//! role lines, parsed once and rendered to chat messages. Pure: no IO, no async.
//!
//! **Architecture invariant:** nothing here panics on input, and every render is bounded by
//! an instruction budget (fuel), an output-size cap and a recursion cap.
//!
//! **Architecture invariant:** a variable's value never starts a message; only role lines
//! written in the template do (see `roles`).
//!
//! The accepted format and every difference from LiteLLM are in `docs/prompt-format.md`.

pub mod definition;
mod dialect;
mod engine;
mod frontmatter;
pub mod include;
mod nesting;
pub mod placeholders;
mod roles;
mod schema;

use std::sync::Arc;

use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use definition::{Definition, DefinitionError, SUPPORTED_INTEGRATIONS, TemplateSource};
pub use dialect::{DIALECT_FIELD, Dialect, GenkitPrompt, Prompt};
pub use frontmatter::split_frontmatter;
pub use include::{MAX_INCLUDE_DEPTH, MAX_INCLUDES};
pub use nesting::{MAX_NESTING, MAX_VALUE_DEPTH};
pub use placeholders::PlaceholderError;
pub use promptd_dotprompt;
pub use schema::{FieldType, SchemaField};

/// Bounds on one render. Exceeding one is [`TemplateError::LimitExceeded`], never a hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// minijinja fuel: about one unit per instruction executed and one per 64 bytes of data
    /// created. It bounds both time and memory of a render (memory to about `fuel * 64` bytes).
    /// Default 200,000: at most ~10–25 ms of CPU (measured on the 2-core CI machine) and
    /// ~13 MB, while a typical prompt uses well under 1,000 and a loop over a thousand
    /// documents a few tens of thousands.
    pub fuel: u64,
    /// Largest rendered text, in bytes. Default 1 MiB (about 250k tokens, past any model's
    /// context window).
    pub max_output_bytes: usize,
    /// Deepest nesting of loops, blocks and macro calls at run time (a macro call counts about
    /// 10). Default 100; minijinja caps it at 500.
    pub recursion: usize,
    /// Largest allocation one template operation may ask for, in bytes: checked *before* the
    /// work, from the arguments and the size the result will have (`~`, `+`, `*`, `format`
    /// and `str.format` widths, `indent`, `join`, `replace`, `batch`, `slice`, `tojson`,
    /// `pprint`, `string`, `escape`, ...). Default 16 MiB.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 200_000,
            max_output_bytes: 1024 * 1024,
            recursion: 100,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// How templates are compiled and rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOptions {
    pub limits: Limits,
    /// HTML-escape printed values like LiteLLM's Jinja2 autoescape, byte for byte
    /// (`'` → `&#39;`, `"` → `&#34;`, `<` → `&lt;`, `>` → `&gt;`, `&` → `&amp;`); `|safe`
    /// turns it off for one value. Off by default: prompts are plain text.
    pub escape_html: bool,
}

/// A chat role a template line can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Developer,
    Tool,
}

impl Role {
    /// The wire name: `system`, `user`, `assistant`, `developer` or `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Developer => "developer",
            Role::Tool => "tool",
        }
    }
}

/// One chat message; serializes as `{"role":"user","content":"…"}`, or with OpenAI content
/// parts in place of the text when the message carries more than text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub role: Role,
    /// The message's text (all its text parts, joined).
    pub content: String,
    /// OpenAI content parts (`{"type":"text",…}`, `{"type":"image_url",…}`), when the message
    /// has media (a Dotprompt `{{media}}`); serialized as `content` instead of the text.
    #[serde(default)]
    pub parts: Option<Vec<Value>>,
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("role", &self.role)?;
        match &self.parts {
            Some(parts) => m.serialize_entry("content", parts)?,
            None => m.serialize_entry("content", &self.content)?,
        }
        m.end()
    }
}

/// Why a prompt could not be parsed or rendered. Every message says what, where and how to
/// fix it; line numbers count from the first line of the whole `.prompt` file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// Bad YAML, a frontmatter that is not a mapping, or a bad `model`/`input.schema`.
    #[error("invalid frontmatter at line {line}, column {column}: {message}")]
    Frontmatter {
        line: usize,
        column: usize,
        message: String,
    },
    /// The template does not parse.
    #[error(
        "template syntax error at line {line}, column {column}: {message}; check the {{{{ }}}} and {{% %}} tags there"
    )]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A runtime error, e.g. an attribute of an undefined variable.
    #[error("{}", render_msg(*.line, .message))]
    Render {
        line: Option<usize>,
        message: String,
    },
    /// A variable's value does not match its `input.schema` type.
    #[error(
        "Invalid type for field '{name}': expected {expected}, got {got}; input.schema declares '{name}' as {expected}, so pass a value of that type"
    )]
    VariableType {
        name: String,
        expected: String,
        got: String,
    },
    /// Required `input.schema` variables that were not given, all of them.
    #[error("{}", missing_msg(.names))]
    MissingVariables { names: Vec<String> },
    /// A render ran past `limit` (`fuel`, `max_output_bytes` or `recursion`).
    #[error("the template exceeded its {limit} limit: {message}")]
    LimitExceeded {
        limit: &'static str,
        message: String,
    },
}

impl TemplateError {
    /// A stable name for the kind of error: `frontmatter`, `syntax`, `render`,
    /// `variable_type`, `missing_variables` or `limit_exceeded`.
    pub fn kind(&self) -> &'static str {
        match self {
            TemplateError::Frontmatter { .. } => "frontmatter",
            TemplateError::Syntax { .. } => "syntax",
            TemplateError::Render { .. } => "render",
            TemplateError::VariableType { .. } => "variable_type",
            TemplateError::MissingVariables { .. } => "missing_variables",
            TemplateError::LimitExceeded { .. } => "limit_exceeded",
        }
    }

    /// True for errors in the prompt text itself (found by [`Prompt::parse`]), false for
    /// errors of one render (variables, runtime errors, limits).
    pub fn is_parse_error(&self) -> bool {
        matches!(
            self,
            TemplateError::Frontmatter { .. } | TemplateError::Syntax { .. }
        )
    }
}

fn render_msg(line: Option<usize>, message: &str) -> String {
    match line {
        Some(l) => format!("template error at line {l}: {message}"),
        None => format!("template error: {message}"),
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
        "missing required prompt {noun} {}; pass {pronoun} in prompt_variables, or mark a variable optional in input.schema with a trailing ? (e.g. `{}?: string`)",
        quoted.join(", "),
        names.first().map(String::as_str).unwrap_or("name")
    )
}

struct Inner {
    env: Environment<'static>,
    metadata: Map<String, Value>,
    optional_params: Map<String, Value>,
    model: Option<String>,
    schema: Vec<SchemaField>,
    content: String,
    /// Line number (1-based) of the body's first line in the whole file.
    body_line: usize,
    /// Line number (1-based) of `content`'s first line in the whole file.
    content_line: usize,
    /// Whether printed values are HTML-escaped ([`EngineOptions::escape_html`]).
    escape_html: bool,
    limits: Limits,
    /// Stack a render needs (see `nesting`): it runs on a fresh segment when less is left.
    render_stack: usize,
    /// How deep values a render builds can nest (see `nesting`), summed over the includes.
    value_depth: usize,
    /// The body as compiled (composition compiles it again next to the included bodies).
    body: String,
    /// The prompts `{% include "name" %}` names, in order of first appearance.
    includes: Vec<String>,
    /// Whether the includes are compiled into `env` (see [`Prompt::compose`]).
    composed: bool,
}

/// A parsed and compiled `.prompt` of LiteLLM's Jinja dialect. Cheap to clone, safe to share
/// between threads.
#[derive(Clone)]
pub struct JinjaPrompt(Arc<Inner>);

impl std::fmt::Debug for JinjaPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("model", &self.0.model)
            .field("content", &self.0.content)
            .finish_non_exhaustive()
    }
}

/// Unoptimised builds use several times more stack per frame (measured: up to 8x).
const BUILD_FACTOR: usize = if cfg!(debug_assertions) { 8 } else { 1 };

/// Stack that parsing and compiling need at most. Measured on release builds (and backed by
/// `tests/it/bounds.rs`): the deepest tags [`MAX_NESTING`] admits, and minijinja's own
/// bracket guard (150), parse, compile and render within 256 KiB; this is 4x that.
const PARSE_STACK: usize = 1024 * 1024 * BUILD_FACTOR;

/// Stack a render needs besides the recursion limit and the values' depth: expressions of
/// [`MAX_NESTING`] levels (256 KiB measured, as above), with a 4x margin.
const RENDER_BASE_STACK: usize = 1024 * 1024 * BUILD_FACTOR;
/// Per unit of the recursion limit (macro calls, nested loops): 500 units of macro recursion
/// measured under 512 KiB, about 1 KiB each; 4x that.
const STACK_PER_RECURSION: usize = 4 * 1024 * BUILD_FACTOR;
/// Per level of value nesting, for dropping, printing, comparing and serializing, which
/// recurse: measured at most 420 bytes; 1 KiB (tests/it/bounds.rs checks half of it).
const STACK_PER_VALUE_LEVEL: usize = 1024 * BUILD_FACTOR;

fn render_stack(value_depth: usize, recursion: usize) -> usize {
    RENDER_BASE_STACK
        .saturating_add(recursion.saturating_mul(STACK_PER_RECURSION))
        .saturating_add(value_depth.saturating_mul(STACK_PER_VALUE_LEVEL))
}

/// Runs `f` where at least `needed` bytes of stack are left: on the current stack when it
/// has them (one comparison), else on a fresh segment of that size.
fn on_enough_stack<R>(needed: usize, f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(needed, needed, f)
}

/// Keys that describe the prompt itself; every other frontmatter key goes to the model.
const RESERVED_KEYS: [&str; 3] = ["model", "input", "output"];

fn column_of(source: &str, byte: usize) -> usize {
    let mut byte = byte.min(source.len());
    while !source.is_char_boundary(byte) {
        byte -= 1;
    }
    let start = source[..byte].rfind('\n').map_or(0, |i| i + 1);
    source[start..byte].chars().count() + 1
}

impl JinjaPrompt {
    /// Parses the frontmatter, checks `model` and `input.schema`, and compiles the template.
    pub fn parse(text: &str, opts: &EngineOptions) -> Result<JinjaPrompt, TemplateError> {
        let split = frontmatter::split(text)?;
        let metadata = split.metadata;
        let model = match metadata.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                let (line, column) = frontmatter::locate(&split.yaml, &["model"]);
                return Err(TemplateError::Frontmatter {
                    line,
                    column,
                    message: format!(
                        "model must be a model name written as a string, such as `model: gpt-4o`, not {other}; quote it if it looks like a number"
                    ),
                });
            }
        };
        let schema = schema::parse(&metadata, &split.yaml)?;
        let optional_params: Map<String, Value> = metadata
            .iter()
            .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let body = split.body;
        let body_line = split.body_line;
        let content = body.trim().to_owned();
        let content_line = body_line
            + body[..body.len() - body.trim_start().len()]
                .matches('\n')
                .count();
        let shape = nesting::check(&body, opts.limits.recursion).map_err(|e| {
            let offset = e.offset.min(body.len());
            TemplateError::Syntax {
                line: body[..offset].matches('\n').count() + body_line,
                column: column_of(&body, offset),
                message: e.message,
            }
        })?;
        let includes = include::jinja_includes(&body).map_err(|(offset, message)| {
            let offset = offset.min(body.len());
            TemplateError::Syntax {
                line: body[..offset].matches('\n').count() + body_line,
                column: column_of(&body, offset),
                message,
            }
        })?;
        let env =
            on_enough_stack(PARSE_STACK, || engine::build(body.clone(), opts)).map_err(|e| {
                let (line, column) = match (e.line(), e.range()) {
                    (Some(l), Some(r)) => (l + body_line - 1, column_of(&body, r.start)),
                    (Some(l), None) => (l + body_line - 1, 1),
                    _ => (body_line, 1),
                };
                TemplateError::Syntax {
                    line,
                    column,
                    message: e
                        .detail()
                        .map_or_else(|| e.kind().to_string(), str::to_owned),
                }
            })?;
        Ok(JinjaPrompt(Arc::new(Inner {
            env,
            content,
            metadata,
            optional_params,
            model,
            schema,
            body_line,
            content_line,
            escape_html: opts.escape_html,
            limits: opts.limits.clone(),
            render_stack: render_stack(shape.value_depth, opts.limits.recursion),
            value_depth: shape.value_depth,
            body,
            includes,
            composed: false,
        })))
    }

    /// The prompts this template includes (`{% include "name" %}`), as written, in order.
    pub fn includes(&self) -> &[String] {
        &self.0.includes
    }

    /// This prompt compiled together with the bodies of the prompts it includes, directly or
    /// through others (`parts`: the name as written → that prompt), in one sandbox: the
    /// included text runs under the same fuel, output, allocation and recursion limits.
    pub(crate) fn compose(
        &self,
        parts: &[(String, &JinjaPrompt)],
    ) -> Result<JinjaPrompt, TemplateError> {
        let inner = &self.0;
        let opts = EngineOptions {
            limits: inner.limits.clone(),
            escape_html: inner.escape_html,
        };
        let mut value_depth = inner.value_depth;
        for (_, p) in parts {
            value_depth = value_depth.saturating_add(p.0.value_depth);
        }
        if value_depth > MAX_VALUE_DEPTH {
            return Err(TemplateError::Syntax {
                line: inner.body_line,
                column: 1,
                message: format!(
                    "with its includes the template could build values nested about {value_depth} levels deep (more than {MAX_VALUE_DEPTH}); include fewer or smaller prompts"
                ),
            });
        }
        let env = on_enough_stack(PARSE_STACK, || {
            let mut env = engine::build(inner.body.clone(), &opts)?;
            for (name, p) in parts {
                env.add_template_owned(name.clone(), p.0.content.clone())?;
            }
            Ok::<_, minijinja::Error>(env)
        })
        .map_err(|e| TemplateError::Syntax {
            line: e.line().unwrap_or(1),
            column: 1,
            message: format!(
                "an included prompt does not compile: {}",
                e.detail()
                    .map_or_else(|| e.kind().to_string(), str::to_owned)
            ),
        })?;
        Ok(JinjaPrompt(Arc::new(Inner {
            env,
            metadata: inner.metadata.clone(),
            optional_params: inner.optional_params.clone(),
            model: inner.model.clone(),
            schema: inner.schema.clone(),
            content: inner.content.clone(),
            body_line: inner.body_line,
            content_line: inner.content_line,
            escape_html: inner.escape_html,
            limits: inner.limits.clone(),
            render_stack: render_stack(value_depth, inner.limits.recursion),
            value_depth,
            body: inner.body.clone(),
            includes: inner.includes.clone(),
            composed: true,
        })))
    }

    /// The `model` key, if the frontmatter has one.
    pub fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }

    /// The whole frontmatter, key order kept.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.0.metadata
    }

    /// Every frontmatter key except `model`, `input` and `output`, in file order: sent to the
    /// model as request parameters.
    pub fn optional_params(&self) -> &Map<String, Value> {
        &self.0.optional_params
    }

    /// The template body, trimmed (LiteLLM's `raw_prompt_template.content`).
    pub fn content(&self) -> &str {
        &self.0.content
    }

    /// The declared `input.schema` variables, in file order.
    pub fn input_schema(&self) -> &[SchemaField] {
        &self.0.schema
    }

    /// Checks the variables against `input.schema` (missing required ones first, then
    /// types), then renders.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<Vec<Message>, TemplateError> {
        schema::check(&self.0.schema, vars)?;
        self.render_unchecked(vars)
    }

    /// Renders without the schema check (LiteLLM's `/prompts/test` path).
    pub fn render_unchecked(
        &self,
        vars: &Map<String, Value>,
    ) -> Result<Vec<Message>, TemplateError> {
        let inner = &self.0;
        if !inner.composed && !inner.includes.is_empty() {
            return Err(include::not_composed(&inner.includes));
        }
        // Values and errors (which may hold values) are dropped inside, on the sized stack.
        let (text, spans) = on_enough_stack(inner.render_stack, || {
            let tmpl = inner
                .env
                .get_template(engine::TEMPLATE)
                .map_err(|e| engine::classify(&e, inner.body_line, &inner.limits))?;
            let ctx = engine::context(vars);
            engine::start_render(inner.limits.fuel);
            tmpl.render_with_spans(ctx)
                .map_err(|e| engine::classify(&e, inner.body_line, &inner.limits))
        })?;
        // The formatter stops oversized `{{ … }}` output early; template text repeated by
        // loops is bounded by fuel and checked here.
        if text.len() > inner.limits.max_output_bytes {
            return Err(engine::output_limit(inner.limits.max_output_bytes));
        }
        Ok(roles::split(&text, &roles::Provenance::from_spans(&spans)))
    }

    /// The messages with each variable left as a `{name}` placeholder, for clients that fill
    /// variables in by plain text substitution (LiteLLM's `generic_prompt_management`); an
    /// error when the output depends on a variable in a way substitution cannot express. The
    /// rule and why it is sound are in [`placeholders`].
    pub fn placeholder_messages(&self) -> Result<Vec<Message>, PlaceholderError> {
        let inner = &self.0;
        if let Some(first) = inner.includes.first() {
            return Err(PlaceholderError::Includes {
                name: first.clone(),
            });
        }
        let globals: std::collections::HashSet<String> = inner
            .env
            .globals()
            .map(|(name, _)| name.to_owned())
            .collect();
        let analysis = on_enough_stack(PARSE_STACK, || {
            placeholders::analyse(&inner.content, inner.content_line, &globals)
        })?;
        let variables = analysis.variables;
        if inner.escape_html
            && let Some(first) = variables.first()
        {
            return Err(PlaceholderError::EscapedValues {
                variable: first.clone(),
            });
        }
        // Two renders with sentinels built from two characters absent from the template; the
        // syntax check makes one enough, the second guards against a constant spelling one.
        let first = placeholders::marker_absent_from(&inner.content, 0xE000);
        let second = placeholders::marker_absent_from(&inner.content, u32::from(first) + 1);
        let mut answers = Vec::with_capacity(2);
        for marker in [first, second] {
            let rendered =
                self.render_unchecked(&placeholders::sentinel_vars(&variables, marker))?;
            answers.push(placeholders::to_placeholders(
                rendered,
                &variables,
                marker,
                &inner.content,
                inner.content_line,
            )?);
        }
        let second_answer = answers.pop().unwrap_or_default();
        let first_answer = answers.pop().unwrap_or_default();
        if first_answer != second_answer {
            return Err(PlaceholderError::Unstable {
                variable: variables.first().cloned().unwrap_or_default(),
            });
        }
        Ok(first_answer)
    }

    /// `{"content": body, "metadata": frontmatter}`, as LiteLLM's converter answers.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("content".into(), Value::String(self.0.content.clone()));
        m.insert("metadata".into(), Value::Object(self.0.metadata.clone()));
        Value::Object(m)
    }
}

/// Builds `.prompt` text from its JSON form; the inverse of [`Prompt::to_json`].
///
/// Empty metadata gives the content alone, unless the content itself starts with a `---`
/// line (which would read back as frontmatter) or a BOM (which parsing drops): then an empty
/// `---`/`---` block goes first.
pub fn from_json(content: &str, metadata: &Map<String, Value>) -> String {
    if metadata.is_empty() {
        // Parsing drops a leading BOM and takes a leading `---` line as frontmatter; behind
        // an empty block, such content reads back unchanged.
        let first = content.lines().next();
        if content.starts_with('\u{feff}') || first.is_some_and(|l| l.trim_end() == "---") {
            return format!("---\n---\n{content}");
        }
        return content.to_owned();
    }
    let yaml = serde_saphyr::to_string(metadata).unwrap_or_default();
    let nl = if yaml.ends_with('\n') { "" } else { "\n" };
    format!("---\n{yaml}{nl}---\n{content}")
}
