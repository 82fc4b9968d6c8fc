//! A template as messages with `{name}` placeholders, for clients that fill variables in
//! themselves by plain text substitution (LiteLLM's `generic_prompt_management`), and the
//! proof that doing so gives what promptd's own render gives.
//!
//! ## The rule
//!
//! A template can be served this way when its output is a *pure function of plain
//! substitution*: fixed text, with each variable's value (printed as Python's `str()`) dropped
//! in at fixed places. That holds when every read of a variable is a whole `{{ name }}` tag
//! (whitespace control allowed) that writes straight to the output, so that:
//!
//! - no condition, loop, `set`, `with`, call, filter, test, method, attribute or item lookup,
//!   operator or literal ever sees a variable's value, and so which statements run and every
//!   other byte of output do not depend on the values;
//! - no `{{ name }}` sits inside a construct that captures or transforms its output (a macro
//!   or call block, a `{% set %}…{% endset %}` or `{% filter %}` block, an `{% autoescape %}`
//!   block), and values are not HTML-escaped (`escape_html` off).
//!
//! [`analyse`] checks this on minijinja's syntax tree (`unstable_machinery`), with scopes: a
//! name bound by `set`, `for`, `with`, a macro or an import is a local there and not a
//! variable. Where binding is uncertain (a `set` inside an `if` branch, seen after the `if`),
//! the name counts as a variable, which can only refuse more templates, never accept a wrong
//! one.
//!
//! ## Why a syntax check and not only sentinel renders
//!
//! Rendering with unique sentinel values and checking that two renders with different
//! sentinels agree once the sentinels are replaced by placeholders cannot, on its own, see a
//! branch that a sentinel never takes: `{% if name == "admin" %}`, `{% if name %}` (an empty
//! value is false), `{% if name|length > 3 %}` all render the same for any two long unique
//! sentinels. The syntax check rules those out; given it, the render is a fixed sequence of
//! fixed text and `str(value)` pieces, and one render with sentinels locates every piece. The
//! second render with different sentinels stays as a guard against a constant in the template
//! that happens to spell a sentinel.
//!
//! ## The placeholders, and what the substitution cannot mirror
//!
//! The placeholder is `{name}`: LiteLLM 1.108.7's `_apply_variables` replaces `{name}` first
//! and then `{{name}}`, so a `{{name}}` placeholder would come out as `{value}` (braces kept).
//! Because LiteLLM replaces `{name}` anywhere in a message, a template whose own text holds
//! `{name}` (or `{{name}}`) for one of its variables is refused too.
//!
//! Message boundaries do not depend on values either: a role line counts only where the
//! template itself wrote it (see `roles`). What plain substitution cannot mirror is the
//! tidying promptd does at each message's edges: promptd trims whitespace at the start and
//! end of a message and drops an empty last message, so a value that is empty or starts or
//! ends with whitespace at a message's edge gives slightly different text through the
//! substitution. That is the one accepted difference.

use std::collections::HashSet;

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::{self, Span};
use serde_json::{Map, Value};

use crate::{Message, TemplateError};

/// Why a template cannot be served as messages with `{name}` placeholders.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaceholderError {
    /// A variable is used in a way plain substitution cannot express.
    #[error("{}", unexpressible_msg(.variable, *.line, .how))]
    Unexpressible {
        variable: String,
        /// Line in the whole `.prompt` file (frontmatter included).
        line: usize,
        /// How the variable is used, e.g. "in an {% if %} condition".
        how: String,
    },
    /// The template's own text holds `{name}` for one of its variables, which a client's
    /// substitution would replace too.
    #[error("{}", literal_msg(.variable, *.line))]
    LiteralPlaceholder {
        variable: String,
        line: Option<usize>,
    },
    /// The engine HTML-escapes printed values (`escape_html`), which plain substitution does not.
    #[error(
        "this promptd escapes printed values as HTML (promptd_settings.escape_html: true), and plain substitution would insert the values unescaped, so the template's output depends on the variable '{variable}' in a way substitution cannot express"
    )]
    EscapedValues { variable: String },
    /// Two renders with different sentinels disagree (a constant spells a sentinel).
    #[error(
        "the template's output changes with the value of '{variable}' in a way plain substitution cannot express (two renders with different placeholder values disagree)"
    )]
    Unstable { variable: String },
    /// The prompt is in a dialect whose output plain substitution cannot reproduce (Google
    /// Dotprompt: helpers, media and sections build the messages).
    #[error(
        "this prompt is written in the '{dialect}' dialect, whose messages are built by helpers (roles, media, sections, partials) that plain substitution cannot express"
    )]
    Dialect { dialect: String },
    /// The template includes another prompt, whose text a client substituting variables
    /// cannot see.
    #[error(
        "the template includes the prompt '{name}' ({{% include %}}), whose text plain substitution cannot reach; render it with POST /prompts/{{id}}/render instead"
    )]
    Includes { name: String },
    /// Rendering failed for a reason of its own (a runtime error or a limit).
    #[error(transparent)]
    Render(#[from] TemplateError),
}

impl PlaceholderError {
    /// The variable at fault, if one is.
    pub fn variable(&self) -> Option<&str> {
        match self {
            PlaceholderError::Unexpressible { variable, .. }
            | PlaceholderError::LiteralPlaceholder { variable, .. }
            | PlaceholderError::EscapedValues { variable }
            | PlaceholderError::Unstable { variable } => Some(variable),
            PlaceholderError::Render(_)
            | PlaceholderError::Dialect { .. }
            | PlaceholderError::Includes { .. } => None,
        }
    }
}

fn unexpressible_msg(variable: &str, line: usize, how: &str) -> String {
    format!(
        "line {line} uses the variable '{variable}' {how}, so the template's output depends on it in a way plain substitution of {{{variable}}} cannot express"
    )
}

fn literal_msg(variable: &str, line: Option<usize>) -> String {
    let at = line.map_or_else(String::new, |l| format!(" at line {l}"));
    format!(
        "the template's own text{at} contains {{{variable}}}, which plain substitution would replace with the variable '{variable}' too; write it differently (e.g. {{{{ '{{' }}}}{variable}}}) only if the literal text matters, or render with promptd"
    )
}

/// The result of [`analyse`]: the template's variables in order of first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    pub(crate) variables: Vec<String>,
}

/// Checks that every variable of `source` (a template body whose first line is line
/// `first_line` of the file) is only ever printed whole by `{{ name }}`; `globals` are the
/// environment's global names (`range`, `dict`), which are not variables.
pub(crate) fn analyse(
    source: &str,
    first_line: usize,
    globals: &HashSet<String>,
) -> Result<Analysis, PlaceholderError> {
    let tree = machinery::parse(source, "prompt", Default::default()).map_err(|e| {
        PlaceholderError::Render(TemplateError::Syntax {
            line: e.line().map_or(first_line, |l| l + first_line - 1),
            column: 1,
            message: e.detail().unwrap_or("syntax error").to_owned(),
        })
    })?;
    let mut w = Walker {
        scopes: vec![HashSet::new()],
        globals,
        variables: Vec::new(),
        seen: HashSet::new(),
        problem: None,
        context: "",
        first_line,
    };
    w.stmt(&tree, None);
    match w.problem {
        Some(p) => Err(p),
        None => Ok(Analysis {
            variables: w.variables,
        }),
    }
}

struct Walker<'s, 'g> {
    /// Names bound for certain at this point, innermost scope last.
    scopes: Vec<HashSet<&'s str>>,
    globals: &'g HashSet<String>,
    variables: Vec<String>,
    seen: HashSet<&'s str>,
    /// The first use substitution cannot express, in source order.
    problem: Option<PlaceholderError>,
    /// The statement whose expression is being visited, e.g. "in an {% if %} condition".
    context: &'static str,
    first_line: usize,
}

impl<'s> Walker<'s, '_> {
    fn is_variable(&self, name: &str) -> bool {
        !self.scopes.iter().any(|s| s.contains(name)) && !self.globals.contains(name)
    }

    fn bind(&mut self, name: &'s str) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name);
        }
    }

    /// Binds every name an assignment target (`x`, `a, b`, `(a, b)`) names; the base of an
    /// attribute target (`ns.x`) is read, not bound.
    fn bind_target(&mut self, target: &Expr<'s>) {
        match target {
            Expr::Var(v) => self.bind(v.id),
            Expr::List(l) => l.items.iter().for_each(|i| self.bind_target(i)),
            Expr::Tuple(t) => t.items.iter().for_each(|i| self.bind_target(i)),
            other => self.expr(other, "as the target of an assignment"),
        }
    }

    fn line(&self, span: Span) -> usize {
        usize::from(span.start_line) + self.first_line - 1
    }

    fn note(&mut self, name: &'s str) {
        if self.seen.insert(name) {
            self.variables.push(name.to_owned());
        }
    }

    fn refuse(&mut self, name: &'s str, span: Span, how: impl Into<String>) {
        if self.problem.is_none() {
            let mut how = how.into();
            if !self.context.is_empty() && !how.contains(self.context) {
                how = format!("{how} {}", self.context);
            }
            self.problem = Some(PlaceholderError::Unexpressible {
                variable: name.to_owned(),
                line: self.line(span),
                how,
            });
        }
    }

    /// Visits an expression of a statement, described as `context` (e.g. "in an {% if %}
    /// condition") in a refusal.
    fn stmt_expr(&mut self, e: &Expr<'s>, context: &'static str) {
        let outer = std::mem::replace(&mut self.context, context);
        self.expr(e, context);
        self.context = outer;
    }

    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        self.scopes.push(HashSet::new());
        f(self);
        self.scopes.pop();
    }

    fn body(&mut self, stmts: &[Stmt<'s>], capture: Option<&'static str>) {
        for s in stmts {
            self.stmt(s, capture);
        }
    }

    /// `capture` names the enclosing construct that captures or transforms output, if any.
    fn stmt(&mut self, stmt: &Stmt<'s>, capture: Option<&'static str>) {
        match stmt {
            Stmt::Template(t) => self.body(&t.children, capture),
            Stmt::EmitRaw(_) => {}
            Stmt::EmitExpr(e) => match &e.expr {
                Expr::Var(v) if self.is_variable(v.id) => {
                    self.note(v.id);
                    if let Some(c) = capture {
                        self.refuse(
                            v.id,
                            v.span(),
                            format!("inside {c}, which transforms or captures what it prints"),
                        );
                    }
                }
                other => self.expr(other, ""),
            },
            Stmt::ForLoop(f) => {
                self.stmt_expr(&f.iter, "as the sequence of a {% for %} loop");
                self.scoped(|w| {
                    w.bind("loop");
                    w.bind_target(&f.target);
                    if let Some(cond) = &f.filter_expr {
                        w.stmt_expr(cond, "in the condition of a {% for … if … %} loop");
                    }
                    w.body(&f.body, capture);
                });
                self.scoped(|w| w.body(&f.else_body, capture));
            }
            Stmt::IfCond(i) => {
                self.stmt_expr(&i.expr, "in an {% if %} condition");
                self.scoped(|w| w.body(&i.true_body, capture));
                self.scoped(|w| w.body(&i.false_body, capture));
            }
            Stmt::WithBlock(b) => self.scoped(|w| {
                for (target, value) in &b.assignments {
                    w.stmt_expr(value, "in a {% with %} assignment");
                    w.bind_target(target);
                }
                w.body(&b.body, capture);
            }),
            Stmt::Set(s) => {
                self.stmt_expr(&s.expr, "in a {% set %} assignment");
                self.bind_target(&s.target);
            }
            Stmt::SetBlock(s) => {
                if let Some(f) = &s.filter {
                    self.stmt_expr(f, "in the filter of a {% set %} block");
                }
                self.scoped(|w| w.body(&s.body, Some("a {% set %}…{% endset %} block")));
                self.bind_target(&s.target);
            }
            Stmt::AutoEscape(a) => {
                self.stmt_expr(&a.enabled, "in an {% autoescape %} tag");
                self.scoped(|w| w.body(&a.body, Some("an {% autoescape %} block")));
            }
            Stmt::FilterBlock(f) => {
                self.stmt_expr(&f.filter, "in the filter of a {% filter %} block");
                self.scoped(|w| w.body(&f.body, Some("a {% filter %} block")));
            }
            Stmt::Block(b) => {
                // A block does not see the names set around it; every name is a variable.
                let outer = std::mem::replace(&mut self.scopes, vec![HashSet::new()]);
                self.body(&b.body, capture);
                self.scopes = outer;
            }
            Stmt::Extends(e) => self.stmt_expr(&e.name, "as the name of an {% extends %}"),
            Stmt::Include(i) => self.stmt_expr(&i.name, "as the name of an {% include %}"),
            Stmt::Import(i) => {
                self.stmt_expr(&i.expr, "as the name of an {% import %}");
                self.bind_target(&i.name);
            }
            Stmt::FromImport(i) => {
                self.stmt_expr(&i.expr, "as the name of a {% from … import %}");
                for (name, alias) in &i.names {
                    self.bind_target(alias.as_ref().unwrap_or(name));
                }
            }
            Stmt::Macro(m) => {
                self.macro_decl(m, "a {% macro %}");
                self.bind(m.name);
            }
            Stmt::CallBlock(c) => {
                self.call(&c.call, "as an argument of a {% call %}");
                self.macro_decl(&c.macro_decl, "a {% call %} block");
            }
            Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::Do(d) => self.call(&d.call, "in a {% do %} call"),
        }
    }

    fn macro_decl(&mut self, m: &ast::Macro<'s>, what: &'static str) {
        for d in &m.defaults {
            self.stmt_expr(d, "as the default of a macro argument");
        }
        self.scoped(|w| {
            for name in [m.name, "caller", "varargs", "kwargs"] {
                w.bind(name);
            }
            for a in &m.args {
                w.bind_target(a);
            }
            w.body(&m.body, Some(what));
        });
    }

    fn call(&mut self, c: &ast::Call<'s>, how: &str) {
        match &c.expr {
            Expr::Var(v) if self.is_variable(v.id) => {
                self.note(v.id);
                self.refuse(v.id, v.span(), "as a function that is called");
            }
            Expr::GetAttr(a) => {
                let method = format!("with the method .{}()", a.name);
                self.expr(&a.expr, &method);
            }
            other => self.expr(other, how),
        }
        self.args(&c.args, "as the argument of a call");
    }

    fn args(&mut self, args: &[CallArg<'s>], how: &str) {
        for a in args {
            match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => {
                    self.expr(e, how);
                }
            }
        }
    }

    /// Visits an expression whose value is *used* (not printed whole): any variable read in
    /// it is refused, described by the innermost construct around it (`how` for a bare name).
    fn expr(&mut self, e: &Expr<'s>, how: &str) {
        match e {
            Expr::Var(v) => {
                if self.is_variable(v.id) {
                    self.note(v.id);
                    let how = if how.is_empty() {
                        "in an expression"
                    } else {
                        how
                    };
                    self.refuse(v.id, v.span(), how);
                }
            }
            Expr::Const(_) => {}
            Expr::Slice(s) => {
                self.expr(&s.expr, "with a slice [a:b]");
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part, "as a slice bound");
                }
            }
            Expr::UnaryOp(u) => {
                let how = match u.op {
                    ast::UnaryOpKind::Not => "with `not`",
                    ast::UnaryOpKind::Neg => "with a minus sign",
                };
                self.expr(&u.expr, how);
            }
            Expr::BinOp(b) => {
                use ast::BinOpKind as K;
                let how = match b.op {
                    K::ScAnd | K::ScOr => "with `and`/`or`",
                    K::Concat => "with the `~` operator",
                    K::In => "with `in`",
                    K::Eq | K::Ne | K::Lt | K::Lte | K::Gt | K::Gte => {
                        "in a comparison (`==`, `<`, …)"
                    }
                    _ => "in an arithmetic operator (`+`, `*`, …)",
                };
                self.expr(&b.left, how);
                self.expr(&b.right, how);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr, "in a comparison");
                for op in &c.ops {
                    self.expr(&op.expr, "in a comparison");
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr, "in the condition of an inline `if`");
                self.expr(&i.true_expr, "in an inline `if … else …`");
                if let Some(f) = &i.false_expr {
                    self.expr(f, "in an inline `if … else …`");
                }
            }
            Expr::Filter(f) => {
                if let Some(inner) = &f.expr {
                    self.expr(inner, &format!("with the filter |{}", f.name));
                }
                self.args(
                    &f.args,
                    &format!("as an argument of the filter |{}", f.name),
                );
            }
            Expr::Test(t) => {
                self.expr(&t.expr, &format!("with the test `is {}`", t.name));
                self.args(
                    &t.args,
                    &format!("as an argument of the test `is {}`", t.name),
                );
            }
            Expr::GetAttr(a) => {
                self.expr(&a.expr, &format!("with the attribute lookup .{}", a.name))
            }
            Expr::GetItem(g) => {
                self.expr(&g.expr, "with an item lookup […]");
                self.expr(&g.subscript_expr, "as the key of an item lookup […]");
            }
            Expr::Call(c) => self.call(c, how),
            Expr::List(l) => l
                .items
                .iter()
                .for_each(|i| self.expr(i, "inside a list literal")),
            Expr::Tuple(t) => t
                .items
                .iter()
                .for_each(|i| self.expr(i, "inside a tuple literal")),
            Expr::Map(m) => {
                for (k, v) in m.keys.iter().zip(&m.values) {
                    self.expr(k, "inside a dict literal");
                    self.expr(v, "inside a dict literal");
                }
            }
        }
    }
}

/// The text that stands for a variable in the messages: `{name}`.
pub fn placeholder(name: &str) -> String {
    format!("{{{name}}}")
}

/// A private-use character that does not occur in `source`, starting the search at `from`:
/// sentinels built from it cannot collide with the template's own text.
pub(crate) fn marker_absent_from(source: &str, from: u32) -> char {
    (from..0xF8FF)
        .filter_map(char::from_u32)
        .find(|c| !source.contains(*c))
        // The template is far shorter than the 6,400 private-use characters; should every one
        // occur, the collision checks after the render still refuse a wrong answer.
        .unwrap_or('\u{F8FF}')
}

/// The sentinel value of the `i`-th variable: `marker`, the number, `marker`.
pub(crate) fn sentinel(marker: char, i: usize) -> String {
    format!("{marker}{i}{marker}")
}

/// Sentinel values for `variables`, as render input.
pub(crate) fn sentinel_vars(variables: &[String], marker: char) -> Map<String, Value> {
    variables
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), Value::String(sentinel(marker, i))))
        .collect()
}

/// Replaces the sentinels of a render by `{name}` placeholders. Refuses text of the template
/// that already holds `{name}` for one of the variables (the client would replace it too), and
/// a marker left over (a constant that spells a sentinel).
pub(crate) fn to_placeholders(
    messages: Vec<Message>,
    variables: &[String],
    marker: char,
    source: &str,
    first_line: usize,
) -> Result<Vec<Message>, PlaceholderError> {
    let mut out = Vec::with_capacity(messages.len());
    for mut m in messages {
        for name in variables {
            if m.content.contains(&placeholder(name)) {
                let line = source
                    .find(&placeholder(name))
                    .map(|at| source[..at].matches('\n').count() + first_line);
                return Err(PlaceholderError::LiteralPlaceholder {
                    variable: name.clone(),
                    line,
                });
            }
        }
        if m.content.contains(marker) {
            for (i, name) in variables.iter().enumerate() {
                m.content = m.content.replace(&sentinel(marker, i), &placeholder(name));
            }
        }
        if m.content.contains(marker) {
            return Err(PlaceholderError::Unstable {
                variable: variables.first().cloned().unwrap_or_default(),
            });
        }
        out.push(m);
    }
    Ok(out)
}
