//! The compiled renderer: the parsed Handlebars tree (after the guard's rewriting) turned into a
//! small program of Dotprompt operations, run straight over the caller's variables.
//!
//! handlebars-rust interprets its tree generically: every `{{name}}` asks the registry whether
//! `name` is a helper, every helper call builds a `Helper` with its parameters in a map, every
//! path is copied into a vector of strings and looked up again from the root, and every
//! `{{#each}}` iteration updates a block context. A Dotprompt template only ever calls a fixed
//! set of helpers, so all of that is decided once, here, when the prompt is parsed.
//!
//! **Invariant: the same answer as handlebars-rust.** Each operation mirrors what
//! handlebars-rust 6 does for that shape (path resolution with its `../` and `@root` rules,
//! truthiness, `@index`/`@first`/`@last`/`@key`, how a value prints, the Dotprompt helpers in
//! `helpers.rs`). A template with any other shape (partials, block parameters,
//! sub-expressions, `lookup`, `log`, decorators, …) is not compiled: handlebars-rust renders
//! it. And whenever a run meets a case it does not mirror (an error, an odd value), it gives
//! up ([`Stop::Fallback`]) and the caller renders with handlebars-rust, so errors read exactly
//! as before. `tests/engines.rs` checks both engines agree on the spec suite and generated
//! templates.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::time::Instant;

use handlebars::template::{DecoratorTemplate, HelperTemplate, Parameter, TemplateElement};
use handlebars::{JsonRender, Path, PathSeg, Template};
use serde_json::{Map, Value};

use crate::get_key;
use crate::guard::param_name;
use crate::helpers::{self, Piece, Tripped};

/// A compiled template: a sequence of operations.
#[derive(Debug)]
pub struct Program(Vec<Op>);

/// A template's program, its partials' programs and what a run needs to know up front.
#[derive(Debug)]
pub struct Compiled {
    pub program: Program,
    /// The programs of the partials, by the index an [`Op::Partial`] names.
    pub partials: Vec<Program>,
    /// A starting size for the output: the template's own text and some room for values.
    pub text_hint: usize,
}

/// Finds the index of a partial by name.
pub type PartialIndex<'c> = dyn Fn(&str) -> Option<usize> + 'c;

impl Compiled {
    /// Compiles `t` and its partials (`partials[i]` is the partial `index` maps to `i`), or
    /// `None` when any of them has a shape this renderer does not mirror.
    pub fn new(t: &Template, partials: &[&Template], index: &PartialIndex<'_>) -> Option<Compiled> {
        let program = Program::compile(t, index)?;
        let partials = partials
            .iter()
            .map(|p| Program::compile(p, index))
            .collect::<Option<Vec<_>>>()?;
        let text_hint = program.text_hint();
        Some(Compiled {
            program,
            partials,
            text_hint,
        })
    }
}

impl Program {
    fn text_hint(&self) -> usize {
        fn text(p: &Program) -> usize {
            p.0.iter()
                .map(|op| match op {
                    Op::Text(s) => s.len(),
                    Op::Each { body, .. } => 3 * text(body),
                    Op::If {
                        then, otherwise, ..
                    }
                    | Op::Equals {
                        then, otherwise, ..
                    } => then
                        .as_ref()
                        .map_or(0, text)
                        .max(otherwise.as_ref().map_or(0, text)),
                    Op::With { body, .. } => body.as_ref().map_or(0, text),
                    _ => 16,
                })
                .sum()
        }
        (text(self) + 64).min(64 * 1024)
    }
}

#[derive(Debug)]
enum Op {
    Text(Box<str>),
    /// `{{path}}`: the value, printed as handlebars-rust prints it; nothing when missing.
    Print(Arg),
    Role(Arg),
    History,
    Section(Arg),
    Media {
        url: Option<Arg>,
        content_type: Option<Arg>,
    },
    Json {
        value: Arg,
        indent: Option<Arg>,
    },
    /// `{{#if}}` / `{{#unless}}` (`negate`).
    If {
        cond: Arg,
        include_zero: Option<Arg>,
        negate: bool,
        then: Option<Program>,
        otherwise: Option<Program>,
    },
    /// `{{#ifEquals a b}}` / `{{#unlessEquals a b}}` (`negate`).
    Equals {
        a: Arg,
        b: Arg,
        negate: bool,
        then: Option<Program>,
        otherwise: Option<Program>,
    },
    Each {
        list: Arg,
        body: Program,
        otherwise: Option<Program>,
    },
    With {
        value: Arg,
        body: Option<Program>,
        otherwise: Option<Program>,
    },
    /// The guard's deadline tick at the start of every `{{#each}}` body.
    Tick,
    /// `{{> name}}`: the partial's program, by index.
    Partial(usize),
}

#[derive(Debug)]
enum Local {
    Index,
    First,
    Last,
    Key,
    /// Any other `@name` handlebars-rust leaves as a local: never set, so missing.
    Other,
}

/// A parameter: a literal, a local (`@index`, `../@first`) or a path.
#[derive(Debug)]
enum Arg {
    Literal(Value),
    Local { level: usize, name: Local },
    Path(PathArg),
}

/// A relative path as handlebars-rust resolves it (`Context::navigate`): the `../` count, a
/// leading `@root`, the first named segment (which may name a block parameter: the `@name`
/// data the guard rewrote) and every named segment.
#[derive(Debug)]
struct PathArg {
    ups: usize,
    from_root: bool,
    /// The first named segment when no `@root` or other rule came before it.
    first_named: Option<String>,
    /// The named segments after the first named one (for a block-parameter read).
    after_first: Vec<String>,
    /// All named segments (for every other read).
    named: Vec<String>,
}

fn helper_exists(name: &str) -> bool {
    helpers::KNOWN_HELPERS.contains(&name) || name == helpers::TICK
}

impl Program {
    fn compile(t: &Template, partials: &PartialIndex<'_>) -> Option<Program> {
        let mut ops = Vec::with_capacity(t.elements.len());
        for e in &t.elements {
            match e {
                TemplateElement::RawString(s) => {
                    if !s.is_empty() {
                        ops.push(Op::Text(s.as_str().into()));
                    }
                }
                TemplateElement::Comment(_) => {}
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    ops.push(expression(h)?)
                }
                TemplateElement::HelperBlock(h) => ops.push(block(h, partials)?),
                TemplateElement::PartialExpression(d) => ops.push(partial(d, partials)?),
                _ => return None,
            }
        }
        Some(Program(ops))
    }
}

fn arg(p: &Parameter) -> Option<Arg> {
    match p {
        Parameter::Literal(v) => Some(Arg::Literal(v.clone())),
        Parameter::Path(Path::Local((level, name, _))) => Some(Arg::Local {
            level: *level,
            name: match name.as_str() {
                "index" => Local::Index,
                "first" => Local::First,
                "last" => Local::Last,
                "key" => Local::Key,
                _ => Local::Other,
            },
        }),
        Parameter::Path(Path::Relative((segs, _))) => Some(Arg::Path(path_arg(segs)?)),
        // A bare name as a parameter, or a sub-expression: left to handlebars-rust.
        _ => None,
    }
}

fn path_arg(segs: &[PathSeg]) -> Option<PathArg> {
    // A segment kind this handlebars-rust does not have yet: leave the template to it.
    if segs
        .iter()
        .any(|s| !matches!(s, PathSeg::Named(_) | PathSeg::Ruled(_)))
    {
        return None;
    }
    let mut ups = 0;
    let mut from_root = false;
    let mut first_named = None;
    let mut after_first = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            PathSeg::Named(n) => {
                first_named = Some(n.clone());
                after_first = named(&segs[i + 1..]);
                break;
            }
            PathSeg::Ruled(rule) => match format!("{rule:?}").as_str() {
                "path_root" => {
                    from_root = true;
                    break;
                }
                "path_up" => ups += 1,
                _ => break,
            },
            _ => return None,
        }
    }
    // handlebars-rust reads a block parameter's rest after skipping `ups + 1` segments: the
    // first named one comes right after the `../`s (any other rule stops the scan), so that
    // is `after_first`.
    Some(PathArg {
        ups,
        from_root,
        first_named,
        after_first,
        named: named(segs),
    })
}

fn named(segs: &[PathSeg]) -> Vec<String> {
    segs.iter()
        .filter_map(|s| match s {
            PathSeg::Named(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// `hash` has only keys from `allowed`.
fn hash_within(h: &HelperTemplate, allowed: &[&str]) -> bool {
    h.hash.keys().all(|k| allowed.contains(&k.as_str()))
}

fn hash_arg(h: &HelperTemplate, key: &str) -> Option<Option<Arg>> {
    match h.hash.get(key) {
        None => Some(None),
        Some(p) => arg(p).map(Some),
    }
}

fn sub(t: &Option<Template>, partials: &PartialIndex<'_>) -> Option<Option<Program>> {
    match t {
        None => Some(None),
        Some(t) => Program::compile(t, partials).map(Some),
    }
}

/// `{{> name}}` with no context, hash or block, not indented: handlebars-rust renders the
/// partial in a new block over the same context (copying the locals), and writes as is
/// when the indent is empty. Anything else stays with handlebars-rust.
fn partial(d: &DecoratorTemplate, partials: &PartialIndex<'_>) -> Option<Op> {
    if !d.params.is_empty()
        || !d.hash.is_empty()
        || d.template.is_some()
        || d.indent.as_deref().is_some_and(|i| !i.is_empty())
    {
        return None;
    }
    let name = match &d.name {
        Parameter::Literal(Value::String(s)) => s.as_str(),
        p => param_name(p)?,
    };
    if name == "@partial-block" {
        return None;
    }
    partials(name).map(Op::Partial)
}

fn expression(h: &HelperTemplate) -> Option<Op> {
    if h.block || h.block_param.is_some() {
        return None;
    }
    let name = param_name(&h.name)?;
    let name_only = h.params.is_empty() && h.hash.is_empty();
    if name_only && !helper_exists(name) {
        return match &h.name {
            // A bare name that is not a helper expands to nothing in handlebars-rust; keep it
            // there rather than mirror that oddity.
            Parameter::Name(_) => None,
            p => Some(Op::Print(arg(p)?)),
        };
    }
    match (name, h.params.as_slice()) {
        (helpers::TICK, []) if name_only => Some(Op::Tick),
        ("history", []) if name_only => Some(Op::History),
        ("role", [p]) if h.hash.is_empty() => Some(Op::Role(arg(p)?)),
        ("section", [p]) if h.hash.is_empty() => Some(Op::Section(arg(p)?)),
        ("media", []) if hash_within(h, &["url", "contentType"]) => Some(Op::Media {
            url: hash_arg(h, "url")?,
            content_type: hash_arg(h, "contentType")?,
        }),
        ("json", [p]) if hash_within(h, &["indent"]) => Some(Op::Json {
            value: arg(p)?,
            indent: hash_arg(h, "indent")?,
        }),
        _ => None,
    }
}

fn block(h: &HelperTemplate, partials: &PartialIndex<'_>) -> Option<Op> {
    if h.block_param.is_some() {
        return None;
    }
    let name = param_name(&h.name)?;
    match (name, h.params.as_slice()) {
        ("if" | "unless", [p]) if hash_within(h, &["includeZero"]) => Some(Op::If {
            cond: arg(p)?,
            include_zero: hash_arg(h, "includeZero")?,
            negate: name == "unless",
            then: sub(&h.template, partials)?,
            otherwise: sub(&h.inverse, partials)?,
        }),
        ("ifEquals" | "unlessEquals", [a, b]) if h.hash.is_empty() => Some(Op::Equals {
            a: arg(a)?,
            b: arg(b)?,
            negate: name == "unlessEquals",
            then: sub(&h.template, partials)?,
            otherwise: sub(&h.inverse, partials)?,
        }),
        // `{{#each}}` without a body renders nothing in handlebars-rust, whatever the value.
        ("each", [p]) if h.hash.is_empty() => Some(Op::Each {
            list: arg(p)?,
            body: Program::compile(h.template.as_ref()?, partials)?,
            otherwise: sub(&h.inverse, partials)?,
        }),
        ("with", [p]) if h.hash.is_empty() => Some(Op::With {
            value: arg(p)?,
            body: sub(&h.template, partials)?,
            otherwise: sub(&h.inverse, partials)?,
        }),
        _ => None,
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A case this renderer does not mirror: render with handlebars-rust instead.
    Fallback,
    /// A limit was passed; handlebars-rust would stop at the same one.
    Limit(Tripped),
}

/// The variables of a render: the caller's over `input.default`, looked up without merging.
pub struct Root<'a> {
    pub input: &'a Map<String, Value>,
    pub defaults: Option<&'a Map<String, Value>>,
    /// The merged object, built only if a template reads the root as a whole (`{{json this}}`).
    merged: OnceCell<Value>,
}

impl<'a> Root<'a> {
    pub fn new(input: &'a Map<String, Value>, defaults: Option<&'a Map<String, Value>>) -> Self {
        Root {
            input,
            defaults: defaults.filter(|d| !d.is_empty()),
            merged: OnceCell::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        get_key(self.input, key).or_else(|| self.defaults.and_then(|d| get_key(d, key)))
    }

    /// The merged object, owned (for handlebars-rust).
    pub fn into_merged(self) -> Value {
        let _ = self.merged();
        self.merged.into_inner().unwrap_or(Value::Null)
    }

    /// The variables as one object, defaults first (the order a merge gives).
    pub fn merged(&self) -> &Value {
        self.merged.get_or_init(|| {
            let mut m = self.defaults.cloned().unwrap_or_default();
            for (k, v) in self.input {
                m.insert(k.clone(), v.clone());
            }
            Value::Object(m)
        })
    }
}

#[derive(Clone, Copy)]
enum This<'a> {
    Root,
    Value(&'a Value),
}

#[derive(Clone, Copy, Default)]
struct Locals<'a> {
    index: Option<usize>,
    first: Option<bool>,
    last: Option<bool>,
    key: Option<&'a str>,
}

/// A block context (handlebars-rust's `BlockContext`): the root, or an `{{#each}}` item or
/// a `{{#with}}` value, linked to the one around it. Frames live on the render's stack.
struct Frame<'a, 'p> {
    this: This<'a>,
    locals: Locals<'a>,
    parent: Option<&'p Frame<'a, 'p>>,
}

impl<'a> Frame<'a, '_> {
    /// The frame `level` blocks out, if there is one.
    fn up(&self, level: usize) -> Option<&Frame<'a, '_>> {
        let mut f = self;
        for _ in 0..level {
            f = f.parent?;
        }
        Some(f)
    }
}

/// What a render produced: the text and, at byte offsets in it, the helpers' pieces.
pub struct Rendered<'a> {
    pub text: String,
    pub pieces: Vec<Piece<'a>>,
    pub offsets: Vec<usize>,
}

/// One run of a program.
pub struct Run<'a> {
    root: &'a Root<'a>,
    partials: &'a [Program],
    /// The guard's block parameters: `@name` → value.
    params: &'a [(String, Cow<'a, Value>)],
    out: Rendered<'a>,
    /// Bytes handlebars-rust's output would hold besides the text: its internal markers.
    marker_bytes: usize,
    max: usize,
    deadline: Instant,
    events: u32,
}

type Step = Result<(), Stop>;

impl<'a> Run<'a> {
    pub fn new(
        root: &'a Root<'a>,
        params: &'a [(String, Cow<'a, Value>)],
        compiled: &'a Compiled,
        max_output_bytes: usize,
        deadline: Instant,
    ) -> Self {
        let text_hint = compiled.text_hint;
        Run {
            root,
            partials: &compiled.partials,
            params,
            out: Rendered {
                text: String::with_capacity(text_hint),
                pieces: Vec::with_capacity(4),
                offsets: Vec::with_capacity(4),
            },
            marker_bytes: 0,
            max: max_output_bytes,
            deadline,
            events: 0,
        }
    }

    pub fn run(mut self, p: &'a Program) -> Result<Rendered<'a>, Stop> {
        let root = Frame {
            this: This::Root,
            locals: Locals::default(),
            parent: None,
        };
        self.program(p, &root)?;
        Ok(self.out)
    }

    /// Counts a unit of work and checks the deadline every 16 (as the bounded output does).
    fn tick(&mut self) -> Step {
        self.events = self.events.wrapping_add(1);
        if self.events.is_multiple_of(16) && Instant::now() > self.deadline {
            return Err(Stop::Limit(Tripped::Time));
        }
        Ok(())
    }

    /// Room for `len` more bytes of output (handlebars-rust's bounded output counts markers
    /// too), and a tick: every write goes through here first.
    fn room(&mut self, len: usize) -> Step {
        let used = self.out.text.len() + self.marker_bytes;
        if used.saturating_add(len) > self.max {
            return Err(Stop::Limit(Tripped::Output));
        }
        self.tick()
    }

    fn write(&mut self, s: &str) -> Step {
        if s.is_empty() {
            return Ok(());
        }
        self.room(s.len())?;
        self.out.text.push_str(s);
        Ok(())
    }

    /// `n` in decimal, as a JSON number prints (`{{@index}}`), without allocating.
    fn write_decimal(&mut self, n: u64) -> Step {
        let mut buf = [0u8; 20];
        let digits = helpers::decimal_digits(n, &mut buf);
        self.room(digits.len())?;
        self.out.text.extend(digits.iter().map(|&d| char::from(d)));
        Ok(())
    }

    fn put(&mut self, piece: Piece<'a>) -> Step {
        let index = self.out.pieces.len();
        let len = helpers::marker_len(index);
        self.room(len)?;
        self.marker_bytes += len;
        self.out.pieces.push(piece);
        self.out.offsets.push(self.out.text.len());
        Ok(())
    }

    fn program(&mut self, p: &'a Program, f: &Frame<'a, '_>) -> Step {
        for op in &p.0 {
            self.op(op, f)?;
        }
        Ok(())
    }

    fn branch(&mut self, p: &'a Option<Program>, f: &Frame<'a, '_>) -> Step {
        match p {
            Some(p) => self.program(p, f),
            None => Ok(()),
        }
    }

    fn op(&mut self, op: &'a Op, f: &Frame<'a, '_>) -> Step {
        match op {
            Op::Text(s) => self.write(s),
            Op::Print(a) => match self.eval(a, f)? {
                None => Ok(()),
                Some(v) => match &*v {
                    Value::String(s) => self.write(s),
                    Value::Number(n) if let Some(u) = n.as_u64() => self.write_decimal(u),
                    other => self.write(&other.render()),
                },
            },
            Op::Tick => self.tick(),
            Op::Partial(i) => {
                self.tick()?;
                let Some(p) = self.partials.get(*i) else {
                    return Err(Stop::Fallback);
                };
                let frame = Frame {
                    this: f.this,
                    locals: f.locals,
                    parent: Some(f),
                };
                self.program(p, &frame)
            }
            Op::History => self.put(Piece::History),
            Op::Role(a) => {
                let role: Cow<'a, str> = match self.eval(a, f)? {
                    Some(Cow::Borrowed(Value::String(s))) => Cow::Borrowed(s),
                    v => Cow::Owned(render_opt(v.as_deref())),
                };
                if helpers::is_role_name(&role) {
                    self.put(Piece::Role(role))
                } else {
                    // handlebars-rust's answer is an error: let it word it.
                    Err(Stop::Fallback)
                }
            }
            Op::Section(a) => {
                let name = render_opt(self.eval(a, f)?.as_deref());
                let first = name.split(' ').next().unwrap_or_default().to_owned();
                self.put(Piece::Section(first))
            }
            Op::Media { url, content_type } => {
                let url = match url {
                    None => "undefined".to_owned(),
                    Some(a) => render_opt(self.eval(a, f)?.as_deref()),
                };
                let content_type = match content_type {
                    None => None,
                    Some(a) => self
                        .eval(a, f)?
                        .filter(|v| helpers::is_js_truthy(v))
                        .map(|v| v.render()),
                };
                self.put(Piece::Media { url, content_type })
            }
            Op::Json { value, indent } => {
                let v = self.eval(value, f)?;
                let indent = match indent {
                    None => None,
                    Some(a) => self.eval(a, f)?,
                };
                let text =
                    helpers::json_text(v.as_deref().unwrap_or(&Value::Null), indent.as_deref())
                        .map_err(|_| Stop::Fallback)?;
                self.tick()?;
                self.write(&text)
            }
            Op::If {
                cond,
                include_zero,
                negate,
                then,
                otherwise,
            } => {
                let zero = match include_zero {
                    None => false,
                    Some(a) => self.eval(a, f)?.and_then(|v| v.as_bool()).unwrap_or(false),
                };
                let truthy = self
                    .eval(cond, f)?
                    .is_some_and(|v| handlebars::JsonTruthy::is_truthy(&*v, zero));
                self.tick()?;
                if truthy != *negate {
                    self.branch(then, f)
                } else {
                    self.branch(otherwise, f)
                }
            }
            Op::Equals {
                a,
                b,
                negate,
                then,
                otherwise,
            } => {
                let a = self.eval(a, f)?;
                let b = self.eval(b, f)?;
                self.tick()?;
                let equal = helpers::js_strict_equal(a.as_deref(), b.as_deref());
                if equal != *negate {
                    self.branch(then, f)
                } else {
                    self.branch(otherwise, f)
                }
            }
            Op::Each {
                list,
                body,
                otherwise,
            } => {
                self.tick()?;
                let v = match self.eval(list, f)? {
                    None => return self.branch(otherwise, f),
                    Some(Cow::Borrowed(v)) => v,
                    // A computed value (`@index`) is never a list or an object.
                    Some(Cow::Owned(Value::Array(_) | Value::Object(_))) => {
                        return Err(Stop::Fallback);
                    }
                    Some(Cow::Owned(_)) => return self.branch(otherwise, f),
                };
                match v {
                    // Over an empty list or object: nothing, unless there is an `{{else}}`.
                    Value::Array(list) if !list.is_empty() || otherwise.is_none() => {
                        self.each(body, f, list.len(), list.iter().map(|v| (None, v)))
                    }
                    Value::Object(obj) if !obj.is_empty() || otherwise.is_none() => self.each(
                        body,
                        f,
                        obj.len(),
                        obj.iter().map(|(k, v)| (Some(k.as_str()), v)),
                    ),
                    _ => self.branch(otherwise, f),
                }
            }
            Op::With {
                value,
                body,
                otherwise,
            } => {
                self.tick()?;
                let v = self.eval(value, f)?;
                let truthy = v
                    .as_deref()
                    .is_some_and(|v| handlebars::JsonTruthy::is_truthy(v, false));
                if !truthy {
                    return self.branch(otherwise, f);
                }
                let Some(Cow::Borrowed(v)) = v else {
                    return Err(Stop::Fallback);
                };
                let frame = Frame {
                    this: This::Value(v),
                    // handlebars-rust's `with` copies the locals of the block around it.
                    locals: f.locals,
                    parent: Some(f),
                };
                self.branch(body, &frame)
            }
        }
    }

    /// `{{#each}}`'s body once per item, in a block of its own with `@index`, `@first`,
    /// `@last` and, over an object, `@key`.
    fn each(
        &mut self,
        body: &'a Program,
        f: &Frame<'a, '_>,
        len: usize,
        items: impl Iterator<Item = (Option<&'a str>, &'a Value)>,
    ) -> Step {
        for (i, (key, item)) in items.enumerate() {
            let frame = Frame {
                this: This::Value(item),
                locals: Locals {
                    index: Some(i),
                    first: Some(i == 0),
                    last: Some(i + 1 == len),
                    key,
                },
                parent: Some(f),
            };
            self.program(body, &frame)?;
        }
        Ok(())
    }

    /// A parameter's value, `None` when missing (handlebars-rust's `ScopedJson::Missing`).
    fn eval(&self, a: &'a Arg, f: &Frame<'a, '_>) -> Result<Option<Cow<'a, Value>>, Stop> {
        match a {
            Arg::Literal(v) => Ok(Some(Cow::Borrowed(v))),
            Arg::Local { level, name } => {
                let Some(frame) = f.up(*level) else {
                    return Ok(None);
                };
                let l = frame.locals;
                Ok(match name {
                    Local::Index => l.index.map(|i| Cow::Owned(Value::from(i))),
                    Local::First => l.first.map(|b| Cow::Owned(Value::Bool(b))),
                    Local::Last => l.last.map(|b| Cow::Owned(Value::Bool(b))),
                    Local::Key => l.key.map(|k| Cow::Owned(Value::String(k.to_owned()))),
                    Local::Other => None,
                })
            }
            Arg::Path(p) => self.path(p, f),
        }
    }

    fn path(&self, p: &'a PathArg, f: &Frame<'a, '_>) -> Result<Option<Cow<'a, Value>>, Stop> {
        // A block parameter (only the guard's `@name` data are set, on the root block).
        if !self.params.is_empty()
            && let Some(first) = &p.first_named
            && let Some((_, v)) = self.params.iter().find(|(n, _)| n == first)
        {
            let base: &'a Value = v.as_ref();
            return walk(Some(base), &p.after_first).map(|v| v.map(Cow::Borrowed));
        }
        let this = if p.ups > 0 {
            // The block `ups` levels out, or the innermost one when there are not that many.
            f.up(p.ups).map_or(f.this, |b| b.this)
        } else if p.from_root {
            This::Root
        } else {
            f.this
        };
        match this {
            This::Value(v) => walk(Some(v), &p.named).map(|v| v.map(Cow::Borrowed)),
            This::Root => match p.named.split_first() {
                None => Ok(Some(Cow::Borrowed(self.root.merged()))),
                Some((first, rest)) => {
                    walk(self.root.get(first), rest).map(|v| v.map(Cow::Borrowed))
                }
            },
        }
    }
}

/// handlebars-rust's `get_data` along `segs`: an array takes a number (anything else is its
/// error, left to it), an object a key, anything else has no fields.
fn walk<'v>(mut at: Option<&'v Value>, segs: &[String]) -> Result<Option<&'v Value>, Stop> {
    for s in segs {
        at = match at {
            Some(Value::Array(l)) => match s.parse::<usize>() {
                Ok(i) => l.get(i),
                Err(_) => return Err(Stop::Fallback),
            },
            Some(Value::Object(m)) => get_key(m, s),
            _ => None,
        };
    }
    Ok(at)
}

/// `String(value)` as the helpers take it: a missing value renders as null does (empty).
fn render_opt(v: Option<&Value>) -> String {
    v.map_or_else(String::new, JsonRender::render)
}
