//! The two template dialects behind one [`Prompt`]: LiteLLM's Jinja `.prompt` (the default) and
//! Google Dotprompt, the Handlebars format of Firebase Genkit (crate `promptd-dotprompt`). A
//! prompt's dialect is declared outside its text, in `litellm_params.prompt_dialect`, so a
//! Genkit file loads unchanged. Everything downstream (render endpoint, `/chat/completions`,
//! `/prompts/test`, the converter) sees the same messages, model and request parameters.

use std::sync::Arc;

use promptd_dotprompt::{DotpromptError, Part, RenderData};
use serde_json::{Map, Value, json};

use crate::{EngineOptions, JinjaPrompt, Message, Role, SchemaField, TemplateError};

/// The `litellm_params` field that names a prompt's dialect.
pub const DIALECT_FIELD: &str = "prompt_dialect";

/// Which template language a prompt is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// LiteLLM's dotprompt: Jinja with `System:`/`User:` role lines. The default.
    #[default]
    Litellm,
    /// Google Dotprompt (Firebase Genkit): Handlebars with `{{role}}`, `{{media}}`, Picoschema.
    Genkit,
}

impl Dialect {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static str =
        "\"litellm\" (Jinja, the default) or \"genkit\" (Google Dotprompt, Handlebars)";

    /// The wire name: `litellm` or `genkit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Litellm => "litellm",
            Dialect::Genkit => "genkit",
        }
    }

    /// Reads a dialect name (`null` or absent means the default).
    pub fn parse(v: Option<&Value>) -> Result<Dialect, String> {
        match v {
            None | Some(Value::Null) => Ok(Dialect::Litellm),
            Some(Value::String(s)) if s == "litellm" => Ok(Dialect::Litellm),
            Some(Value::String(s)) if s == "genkit" => Ok(Dialect::Genkit),
            Some(other) => Err(format!(
                "{DIALECT_FIELD} must be {}, not {other}",
                Dialect::NAMES
            )),
        }
    }

    /// The dialect `litellm_params` declare.
    pub fn of_params(params: &Map<String, Value>) -> Result<Dialect, String> {
        Dialect::parse(params.get(DIALECT_FIELD))
    }
}

/// A compiled Genkit prompt with what promptd derives from it once.
#[derive(Debug)]
pub struct GenkitInner {
    pub prompt: promptd_dotprompt::Prompt,
    /// `config` in OpenAI's names, plus `response_format` from `output.schema`.
    optional_params: Map<String, Value>,
    /// The frontmatter as written (`raw`).
    raw: Map<String, Value>,
    /// The template body.
    content: String,
    /// The stored prompts `{{> name}}` names (partials not defined inline), in order.
    includes: Vec<String>,
    /// Whether the includes are compiled in (see [`Prompt::compose`]).
    composed: bool,
    /// The limits it was parsed with (composition parses again with them).
    limits: promptd_dotprompt::Limits,
}

/// A Genkit (Dotprompt) prompt. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GenkitPrompt(Arc<GenkitInner>);

/// A parsed `.prompt` of either dialect. Cheap to clone, safe to share between threads.
#[derive(Debug, Clone)]
pub enum Prompt {
    Jinja(JinjaPrompt),
    Genkit(GenkitPrompt),
}

/// Genkit's config names → OpenAI's request parameters; other keys pass unchanged.
fn openai_param(name: &str) -> &str {
    match name {
        "maxOutputTokens" => "max_tokens",
        "topP" => "top_p",
        "topK" => "top_k",
        "stopSequences" => "stop",
        "frequencyPenalty" => "frequency_penalty",
        "presencePenalty" => "presence_penalty",
        other => other,
    }
}

/// Converts an error of the Dotprompt crate to the shared error type (same kinds, same HTTP
/// statuses as the Jinja dialect).
pub fn template_error(e: DotpromptError) -> TemplateError {
    let message = e.to_string();
    match e {
        DotpromptError::Frontmatter { line, message } => TemplateError::Frontmatter {
            line,
            column: 1,
            message,
        },
        DotpromptError::Schema { .. } => TemplateError::Frontmatter {
            line: 1,
            column: 1,
            message,
        },
        DotpromptError::Syntax { line, message } => TemplateError::Syntax {
            line,
            column: 1,
            message,
        },
        DotpromptError::Partial(m) => TemplateError::Syntax {
            line: 1,
            column: 1,
            message: m,
        },
        DotpromptError::Render(m) => TemplateError::Render {
            line: None,
            message: m,
        },
        DotpromptError::VariableType {
            name,
            expected,
            got,
        } => TemplateError::VariableType {
            name,
            expected,
            got,
        },
        DotpromptError::MissingVariables { names } => TemplateError::MissingVariables { names },
        DotpromptError::LimitExceeded { limit, message } => {
            TemplateError::LimitExceeded { limit, message }
        }
    }
}

fn role_of(name: &str) -> Result<Role, TemplateError> {
    match name {
        "system" => Ok(Role::System),
        "user" => Ok(Role::User),
        "model" | "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        "developer" => Ok(Role::Developer),
        other => Err(TemplateError::Render {
            line: None,
            message: format!(
                "{{{{role \"{other}\"}}}} is not a chat role; use system, user, model (sent as assistant) or tool"
            ),
        }),
    }
}

/// A Dotprompt message → an OpenAI chat message: text parts joined; with media, OpenAI content
/// parts (`image_url` with the URL). Pending section markers carry no content.
fn to_chat(m: promptd_dotprompt::Message) -> Result<Message, TemplateError> {
    let role = role_of(&m.role)?;
    let mut text = String::new();
    let mut parts = Vec::new();
    let mut has_media = false;
    for p in m.content {
        match p {
            Part::Text { text: t } => {
                text.push_str(&t);
                parts.push(json!({"type": "text", "text": t}));
            }
            Part::Media { media } => {
                has_media = true;
                parts.push(json!({"type": "image_url", "image_url": {"url": media.url}}));
            }
            Part::Metadata { .. } | Part::Other(_) => {}
        }
    }
    Ok(Message {
        role,
        content: text,
        parts: has_media.then_some(parts),
    })
}

impl GenkitPrompt {
    /// Parses a Genkit `.prompt` with the engine's limits (output size shared with Jinja). A
    /// partial that is not defined inline (`{{> name}}`) names another stored prompt: it is
    /// recorded in [`Prompt::includes`] and compiled in by [`Prompt::compose`].
    pub fn parse(text: &str, opts: &EngineOptions) -> Result<GenkitPrompt, TemplateError> {
        let limits = promptd_dotprompt::Limits {
            max_output_bytes: opts.limits.max_output_bytes,
            ..promptd_dotprompt::Limits::default()
        };
        let asked = std::cell::RefCell::new(Vec::<String>::new());
        let record = |name: &str| {
            let mut asked = asked.borrow_mut();
            if !asked.iter().any(|n| n == name) {
                asked.push(name.to_owned());
            }
            Some(String::new())
        };
        let prompt = promptd_dotprompt::Prompt::parse_with(
            text,
            &promptd_dotprompt::ParseOptions {
                limits: limits.clone(),
                partial_resolver: Some(&record),
                ..promptd_dotprompt::ParseOptions::default()
            },
        )
        .map_err(template_error)?;
        let mut includes = asked.into_inner();
        includes.sort();
        GenkitPrompt::build(prompt, includes, false, limits)
    }

    fn build(
        prompt: promptd_dotprompt::Prompt,
        includes: Vec<String>,
        composed: bool,
        limits: promptd_dotprompt::Limits,
    ) -> Result<GenkitPrompt, TemplateError> {
        let mut optional_params = Map::new();
        for (k, v) in prompt.config() {
            optional_params.insert(openai_param(&k).to_owned(), v);
        }
        if let Some(schema) = prompt.output_schema()
            && !optional_params.contains_key("response_format")
        {
            optional_params.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}),
            );
        }
        let raw = match prompt.metadata().get("raw") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let content = prompt.template().trim().to_owned();
        Ok(GenkitPrompt(Arc::new(GenkitInner {
            prompt,
            optional_params,
            raw,
            content,
            includes,
            composed,
            limits,
        })))
    }

    /// The stored prompts this template includes (`{{> name}}`).
    pub fn includes(&self) -> &[String] {
        &self.0.includes
    }

    /// This prompt parsed again with `bodies` (name → included body) as its partials: the
    /// partial graph is checked again as a whole (no cycle, bounded depth and expansions).
    pub(crate) fn compose(
        &self,
        bodies: std::collections::BTreeMap<String, String>,
    ) -> Result<GenkitPrompt, TemplateError> {
        let prompt = promptd_dotprompt::Prompt::parse_with(
            self.0.prompt.source(),
            &promptd_dotprompt::ParseOptions {
                limits: self.0.limits.clone(),
                partials: bodies,
                ..promptd_dotprompt::ParseOptions::default()
            },
        )
        .map_err(template_error)?;
        GenkitPrompt::build(prompt, self.0.includes.clone(), true, self.0.limits.clone())
    }

    /// The Dotprompt prompt itself (metadata, JSON Schemas, rendering to parts).
    pub fn dotprompt(&self) -> &promptd_dotprompt::Prompt {
        &self.0.prompt
    }
}

impl Prompt {
    /// Parses LiteLLM's Jinja dialect (the default).
    pub fn parse(text: &str, opts: &EngineOptions) -> Result<Prompt, TemplateError> {
        Ok(Prompt::Jinja(JinjaPrompt::parse(text, opts)?))
    }

    /// Parses `text` in `dialect`.
    pub fn parse_dialect(
        text: &str,
        dialect: Dialect,
        opts: &EngineOptions,
    ) -> Result<Prompt, TemplateError> {
        match dialect {
            Dialect::Litellm => Prompt::parse(text, opts),
            Dialect::Genkit => Ok(Prompt::Genkit(GenkitPrompt::parse(text, opts)?)),
        }
    }

    /// The messages with each variable left as a `{name}` placeholder (see
    /// [`crate::placeholders`]); only LiteLLM's dialect can be served this way.
    pub fn placeholder_messages(&self) -> Result<Vec<crate::Message>, crate::PlaceholderError> {
        match self {
            Prompt::Jinja(p) => p.placeholder_messages(),
            Prompt::Genkit(_) => Err(crate::PlaceholderError::Dialect {
                dialect: Dialect::Genkit.as_str().to_owned(),
            }),
        }
    }

    /// Which dialect this prompt is written in.
    pub fn dialect(&self) -> Dialect {
        match self {
            Prompt::Jinja(_) => Dialect::Litellm,
            Prompt::Genkit(_) => Dialect::Genkit,
        }
    }

    /// The `model` key, if the frontmatter has one.
    pub fn model(&self) -> Option<&str> {
        match self {
            Prompt::Jinja(p) => p.model(),
            Prompt::Genkit(g) => g.0.prompt.model(),
        }
    }

    /// The whole frontmatter, key order kept.
    pub fn metadata(&self) -> &Map<String, Value> {
        match self {
            Prompt::Jinja(p) => p.metadata(),
            Prompt::Genkit(g) => &g.0.raw,
        }
    }

    /// The model's request parameters: the Jinja frontmatter's other keys, or a Genkit
    /// prompt's `config` in OpenAI's names plus `response_format` from `output.schema`.
    pub fn optional_params(&self) -> &Map<String, Value> {
        match self {
            Prompt::Jinja(p) => p.optional_params(),
            Prompt::Genkit(g) => &g.0.optional_params,
        }
    }

    /// The template body, trimmed.
    pub fn content(&self) -> &str {
        match self {
            Prompt::Jinja(p) => p.content(),
            Prompt::Genkit(g) => &g.0.content,
        }
    }

    /// The Jinja dialect's declared variables (empty for Genkit: see [`Prompt::input_names`]).
    pub fn input_schema(&self) -> &[SchemaField] {
        match self {
            Prompt::Jinja(p) => p.input_schema(),
            Prompt::Genkit(_) => &[],
        }
    }

    /// The names of the declared input variables, in order, in either dialect.
    pub fn input_names(&self) -> Vec<String> {
        match self {
            Prompt::Jinja(p) => p.input_schema().iter().map(|f| f.name.clone()).collect(),
            Prompt::Genkit(g) => {
                g.0.prompt
                    .input_schema()
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            }
        }
    }

    /// `output.schema` as JSON Schema (Genkit prompts only).
    pub fn output_schema(&self) -> Option<&Value> {
        match self {
            Prompt::Jinja(_) => None,
            Prompt::Genkit(g) => g.0.prompt.output_schema(),
        }
    }

    /// Checks the variables against `input.schema` (defaults merged first for Genkit), then
    /// renders.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<Vec<Message>, TemplateError> {
        match self {
            Prompt::Jinja(p) => p.render(vars),
            Prompt::Genkit(g) => genkit_render(g, vars, true),
        }
    }

    /// [`Prompt::render`] for a conversation: also says where the caller's earlier messages go.
    /// `Some(i)`: before rendered message `i`, because a Genkit template places them with
    /// `{{history}}`; `None`: after the rendered messages (LiteLLM's rule, and a Genkit
    /// template without `{{history}}`).
    pub fn render_for_chat(
        &self,
        vars: &Map<String, Value>,
    ) -> Result<(Vec<Message>, Option<usize>), TemplateError> {
        match self {
            Prompt::Genkit(g) if g.0.prompt.uses_history() => genkit_render_with_slot(g, vars),
            _ => Ok((self.render(vars)?, None)),
        }
    }

    /// Renders without the schema check (LiteLLM's `/prompts/test` path).
    pub fn render_unchecked(
        &self,
        vars: &Map<String, Value>,
    ) -> Result<Vec<Message>, TemplateError> {
        match self {
            Prompt::Jinja(p) => p.render_unchecked(vars),
            Prompt::Genkit(g) => genkit_render(g, vars, false),
        }
    }

    /// `{"content": body, "metadata": frontmatter}`, as LiteLLM's converter answers.
    pub fn to_json(&self) -> Value {
        match self {
            Prompt::Jinja(p) => p.to_json(),
            Prompt::Genkit(g) => {
                json!({"content": g.0.content, "metadata": Value::Object(g.0.raw.clone())})
            }
        }
    }
}

fn genkit_render(
    g: &GenkitPrompt,
    vars: &Map<String, Value>,
    check: bool,
) -> Result<Vec<Message>, TemplateError> {
    genkit_messages(g, vars, check, Vec::new())?
        .into_iter()
        .map(to_chat)
        .collect()
}

/// The Dotprompt messages of a render with `history` as the conversation so far; `check`
/// checks the variables against `input.schema` first.
fn genkit_messages(
    g: &GenkitPrompt,
    vars: &Map<String, Value>,
    check: bool,
    history: Vec<promptd_dotprompt::Message>,
) -> Result<Vec<promptd_dotprompt::Message>, TemplateError> {
    if !g.0.composed && !g.0.includes.is_empty() {
        return Err(crate::include::not_composed(&g.0.includes));
    }
    let data = RenderData {
        input: vars.clone(),
        messages: history,
        ..RenderData::default()
    };
    if check {
        g.0.prompt.render(&data)
    } else {
        g.0.prompt.render_unchecked(&data)
    }
    .map_err(template_error)
}

/// Marks the one history message a slot render passes: where it lands is where the caller's
/// messages go.
const HISTORY_SLOT: &str = "promptdHistorySlot";

/// Renders with a single stand-in history message, then takes it out: its position is the
/// history's (Dotprompt places history at `{{history}}`, or before the last user message when
/// the branch holding `{{history}}` did not render).
fn genkit_render_with_slot(
    g: &GenkitPrompt,
    vars: &Map<String, Value>,
) -> Result<(Vec<Message>, Option<usize>), TemplateError> {
    let mut marker = Map::new();
    marker.insert(HISTORY_SLOT.into(), Value::Bool(true));
    let stand_in = promptd_dotprompt::Message {
        role: "user".into(),
        content: Vec::new(),
        metadata: Some(marker),
    };
    let rendered = genkit_messages(g, vars, true, vec![stand_in])?;
    let is_slot = |m: &promptd_dotprompt::Message| {
        m.metadata
            .as_ref()
            .is_some_and(|md| md.contains_key(HISTORY_SLOT))
    };
    let slot = rendered.iter().position(is_slot);
    let messages = rendered
        .into_iter()
        .filter(|m| !is_slot(m))
        .map(to_chat)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((messages, slot))
}

impl From<JinjaPrompt> for Prompt {
    fn from(p: JinjaPrompt) -> Prompt {
        Prompt::Jinja(p)
    }
}

/// A compiled prompt is shared between request threads.
const _: fn() = || {
    fn is<T: Send + Sync>() {}
    is::<Prompt>();
};
