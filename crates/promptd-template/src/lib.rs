//! The `.prompt` engine: YAML frontmatter plus a Jinja template with `System:`/`User:`/…
//! role lines, parsed once and rendered to chat messages. Pure: no IO, no async.
//!
//! **Architecture invariant:** nothing here panics on input, and every render is bounded by
//! an instruction budget (fuel), an output-size cap and a recursion cap.

mod frontmatter;
mod roles;
mod schema;

use std::cell::Cell;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as JValue};
use serde::Serialize;
use serde_json::{Map, Value};

pub use frontmatter::split_frontmatter;
pub use schema::{FieldType, SchemaField};

/// Bounds on one render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// minijinja fuel: roughly one unit per instruction executed.
    pub fuel: u64,
    /// Largest rendered text, in bytes.
    pub max_output_bytes: usize,
    /// Deepest macro/include recursion.
    pub recursion: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 100_000,
            max_output_bytes: 1024 * 1024,
            recursion: 64,
        }
    }
}

/// How templates are compiled and rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOptions {
    pub limits: Limits,
    /// Escape variables like LiteLLM's Jinja2 autoescape (`'` → `&#39;`, …), byte for byte.
    pub escape_html: bool,
}

/// A chat role a template line can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Developer,
    Tool,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Why a prompt could not be parsed or rendered. Every message says where and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("invalid frontmatter at line {line}, column {column}: {message}")]
    Frontmatter {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("template syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}", render_msg(*.line, .message))]
    Render {
        line: Option<usize>,
        message: String,
    },
    #[error("Invalid type for field '{name}': expected {expected}, got {got}")]
    VariableType {
        name: String,
        expected: String,
        got: String,
    },
    #[error("missing required prompt variable{}: {}; pass {} in prompt_variables", if .names.len() == 1 { "" } else { "s" }, .names.join(", "), if .names.len() == 1 { "it" } else { "them" })]
    MissingVariables { names: Vec<String> },
    #[error("the template exceeded its {limit} limit: {message}")]
    LimitExceeded {
        limit: &'static str,
        message: String,
    },
}

fn render_msg(line: Option<usize>, message: &str) -> String {
    match line {
        Some(l) => format!("template error at line {l}: {message}"),
        None => format!("template error: {message}"),
    }
}

/// Private-use characters that wrap every value printed by `{{ … }}` during rendering, so role
/// markers can be told apart from variable text. They are removed from inputs and output.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

thread_local! {
    /// Bytes printed by `{{ … }}` in the current render, for the output cap.
    static PRINTED: Cell<usize> = const { Cell::new(0) };
    static PRINT_CAP: Cell<usize> = const { Cell::new(usize::MAX) };
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
    limits: Limits,
}

/// A parsed and compiled `.prompt`. Cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Prompt(Arc<Inner>);

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("model", &self.0.model)
            .field("content", &self.0.content)
            .finish()
    }
}

const TEMPLATE: &str = "prompt";

fn python_like(value: &JValue) -> Option<&'static str> {
    if value.is_undefined() {
        Some("")
    } else if value.is_none() {
        Some("None")
    } else if value.kind() == minijinja::value::ValueKind::Bool {
        Some(if value.is_true() { "True" } else { "False" })
    } else {
        None
    }
}

/// Jinja2/markupsafe escaping, as LiteLLM produces it.
fn escape_markupsafe(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn build_env(body: String, opts: &EngineOptions) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_fuel(Some(opts.limits.fuel));
    env.set_recursion_limit(opts.limits.recursion);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let escape = opts.escape_html;
    env.set_formatter(move |out, _state, value| {
        let text: String = match python_like(value) {
            Some(s) => s.to_owned(),
            None => value.to_string(),
        };
        let mut buf = String::with_capacity(text.len() + 2);
        buf.push(OPEN);
        let clean = text.replace([OPEN, CLOSE], "");
        if escape && !value.is_safe() {
            escape_markupsafe(&clean, &mut buf);
        } else {
            buf.push_str(&clean);
        }
        buf.push(CLOSE);
        let total = PRINTED.with(|p| {
            let t = p.get().saturating_add(buf.len());
            p.set(t);
            t
        });
        if total > PRINT_CAP.with(Cell::get) {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "output size limit exceeded",
            ));
        }
        out.write_str(&buf)
            .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
    });
    env.add_template_owned(TEMPLATE, body)?;
    Ok(env)
}

fn column_of(source: &str, byte: usize) -> usize {
    let byte = byte.min(source.len());
    let start = source[..byte].rfind('\n').map(|i| i + 1).unwrap_or(0);
    source[start..byte].chars().count() + 1
}

fn classify(e: &minijinja::Error, body_line: usize, limits: &Limits) -> TemplateError {
    let msg = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let line = e.line().map(|l| l + body_line - 1);
    match e.kind() {
        minijinja::ErrorKind::OutOfFuel => TemplateError::LimitExceeded {
            limit: "instruction",
            message: format!(
                "rendering needed more than {} steps; simplify loops or raise template_fuel",
                limits.fuel
            ),
        },
        _ if msg.contains("recursion limit exceeded") => TemplateError::LimitExceeded {
            limit: "recursion",
            message: format!("nesting went deeper than {} levels", limits.recursion),
        },
        _ if msg.contains("output size limit exceeded") => TemplateError::LimitExceeded {
            limit: "output size",
            message: format!(
                "the rendered text would be larger than {} bytes",
                limits.max_output_bytes
            ),
        },
        _ => TemplateError::Render { line, message: msg },
    }
}

impl Prompt {
    /// Parses the frontmatter, checks the input schema and compiles the template.
    pub fn parse(text: &str, opts: &EngineOptions) -> Result<Prompt, TemplateError> {
        let (metadata, body, body_line) = frontmatter::split(text)?;
        let body = body.replace([OPEN, CLOSE], "");
        let model = match metadata.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(TemplateError::Frontmatter {
                    line: 1,
                    column: 1,
                    message: format!("model must be a string such as \"gpt-4o\", not {other}"),
                });
            }
        };
        let schema = schema::parse(&metadata)?;
        let optional_params: Map<String, Value> = metadata
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "model" | "input" | "output"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let env = build_env(body.clone(), opts).map_err(|e| {
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
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.kind().to_string()),
            }
        })?;
        Ok(Prompt(Arc::new(Inner {
            env,
            content: body.trim().to_owned(),
            metadata,
            optional_params,
            model,
            schema,
            body_line,
            limits: opts.limits.clone(),
        })))
    }

    pub fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }

    /// The whole frontmatter, key order kept.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.0.metadata
    }

    /// Every frontmatter key except `model`, `input` and `output`: sent to the model.
    pub fn optional_params(&self) -> &Map<String, Value> {
        &self.0.optional_params
    }

    /// The template body, trimmed (LiteLLM's `raw_prompt_template.content`).
    pub fn content(&self) -> &str {
        &self.0.content
    }

    pub fn input_schema(&self) -> &[SchemaField] {
        &self.0.schema
    }

    /// Checks the variables against `input.schema`, then renders.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<Vec<Message>, TemplateError> {
        schema::check(&self.0.schema, vars)?;
        self.render_unchecked(vars)
    }

    /// Renders without the schema check (LiteLLM's `/prompts/test` path).
    pub fn render_unchecked(
        &self,
        vars: &Map<String, Value>,
    ) -> Result<Vec<Message>, TemplateError> {
        let text = self.render_text(vars)?;
        Ok(roles::split(&text))
    }

    /// The rendered text with value markers still in place.
    fn render_text(&self, vars: &Map<String, Value>) -> Result<String, TemplateError> {
        let inner = &self.0;
        let tmpl = inner
            .env
            .get_template(TEMPLATE)
            .map_err(|e| classify(&e, inner.body_line, &inner.limits))?;
        let ctx = JValue::from(minijinja::value::Serde(vars));
        PRINTED.with(|p| p.set(0));
        PRINT_CAP.with(|p| p.set(inner.limits.max_output_bytes.saturating_add(2 * 1024)));
        let out = tmpl
            .render(ctx)
            .map_err(|e| classify(&e, inner.body_line, &inner.limits));
        PRINT_CAP.with(|p| p.set(usize::MAX));
        let out = out?;
        let visible = out
            .chars()
            .filter(|c| *c != OPEN && *c != CLOSE)
            .map(char::len_utf8)
            .sum::<usize>();
        if visible > inner.limits.max_output_bytes {
            return Err(TemplateError::LimitExceeded {
                limit: "output size",
                message: format!(
                    "the rendered text is {visible} bytes; the limit is {}",
                    inner.limits.max_output_bytes
                ),
            });
        }
        Ok(out)
    }

    /// `{"content": body, "metadata": frontmatter}`, as LiteLLM's converter answers.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "content": self.content(), "metadata": Value::Object(self.0.metadata.clone()) })
    }
}

/// Builds `.prompt` text from its JSON form; the inverse of [`Prompt::to_json`].
pub fn from_json(content: &str, metadata: &Map<String, Value>) -> String {
    if metadata.is_empty() {
        return content.to_owned();
    }
    let yaml = serde_saphyr::to_string(metadata).unwrap_or_default();
    let yaml = if yaml.ends_with('\n') {
        yaml
    } else {
        format!("{yaml}\n")
    };
    format!("---\n{yaml}---\n{content}")
}

#[cfg(test)]
mod tests;
