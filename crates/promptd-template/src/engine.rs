//! The minijinja environment a prompt is compiled into: Python-like printing, optional
//! markupsafe escaping, and the fuel / recursion / output bounds.
//!
//! Printing follows Jinja2 as LiteLLM runs it, because prompts are written against that:
//! `None`, `True`, `False`, Python float spelling, and lists and dicts in Python `repr` form.

use std::cell::Cell;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr, ValueKind};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value,
};

use crate::{EngineOptions, Limits, TemplateError};

/// The one template name each prompt's environment holds.
pub(crate) const TEMPLATE: &str = "prompt";

/// Detail of the error the formatter raises when printed text passes the output cap; matched
/// when the error is classified, so it must not look like any minijinja message.
const OUTPUT_LIMIT: &str = "promptd: output size limit reached";

/// Containers nested deeper than this print as `...`, so printing stays cheap and shallow on
/// the stack however deep a variable is.
const MAX_PRINT_DEPTH: usize = 32;

thread_local! {
    /// Bytes printed by `{{ … }}` so far in the render running on this thread. A render runs
    /// start to end on one thread and never starts another, so one counter per thread is
    /// enough; it is cheaper than a state extension on this hot path.
    static PRINTED: Cell<usize> = const { Cell::new(0) };
}

/// Resets the printed-bytes counter and the patched minijinja's walk budget (how many
/// containers comparisons and hashing may visit: one per 4 fuel, as a visit costs about what
/// 4 instructions do); called before each render.
pub(crate) fn start_render(fuel: u64) {
    PRINTED.with(|p| p.set(0));
    minijinja::machinery::set_walk_budget(fuel / 4);
}

/// A fresh environment holding the one compiled template; the parse (syntax) error if any.
pub(crate) fn build(body: String, opts: &EngineOptions) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    // Debug mode makes undefined-value errors name the variable (`x` is undefined); its cost
    // is paid only when an undefined value is created or an error is raised.
    env.set_debug(true);
    env.set_fuel(Some(opts.limits.fuel));
    // The patched minijinja (third_party/minijinja) checks this wherever it checks fuel before
    // allocating; it needs fuel to be set, which it always is here.
    let max_bytes = opts.limits.max_bytes;
    env.set_max_alloc_bytes(Some(u64::try_from(max_bytes).unwrap_or(u64::MAX)));
    env.set_recursion_limit(opts.limits.recursion);
    env.set_unknown_method_callback(move |state, value, method, args| {
        check_method_size(
            value,
            method,
            args,
            text_budget(state, max_bytes),
            max_bytes,
        )?;
        minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
    });
    // `namespace()` is the one mutable value: `{% set ns.me = ns %}` makes a value that holds
    // itself, and printing, comparing or serializing it recurses until the stack overflows,
    // taking the whole process down. Without it every value is immutable, hence acyclic.
    env.remove_global("namespace");
    // `debug()` dumps engine internals; it is not Jinja2 and has no place in a prompt.
    env.remove_global("debug");
    // With escaping on, minijinja's own HTML mode marks captured blocks and macro output as
    // safe (as Jinja2 does), while the formatter below does the escaping itself so the bytes
    // match markupsafe rather than minijinja's `&#x27;` spelling.
    let mode = if opts.escape_html {
        AutoEscape::Html
    } else {
        AutoEscape::None
    };
    env.set_auto_escape_callback(move |_| mode.clone());
    env.add_filter("escape", move |state: &State, v: &Value| {
        escape_filter(v, text_budget(state, max_bytes), max_bytes)
    });
    env.add_filter("e", move |state: &State, v: &Value| {
        escape_filter(v, text_budget(state, max_bytes), max_bytes)
    });
    env.add_filter("forceescape", move |state: &State, v: &Value| {
        forceescape_filter(v, text_budget(state, max_bytes), max_bytes)
    });
    // minijinja's pprint is Rust's `{:#?}`, whose cost grows with the square of the nesting;
    // Jinja2's pprint of a prompt-sized value is its Python repr, which this prints, bounded.
    env.add_filter("pprint", move |state: &State, v: &Value| {
        let mut text = String::new();
        let budget = text_budget(state, max_bytes);
        if !write_repr(&mut text, v, budget, 0) {
            return Err(budget_error("pprint", budget, max_bytes));
        }
        state.consume_fuel(u64::try_from(text.len() / 64).unwrap_or(u64::MAX))?;
        Ok(text)
    });
    let cap = opts.limits.max_output_bytes;
    env.set_formatter(move |out, state, value| format_value(out, state, value, cap));
    env.add_template_owned(TEMPLATE, body)?;
    Ok(env)
}

/// Prefix of the patched minijinja's allocation-limit errors (and of this module's own).
const ALLOC_LIMIT: &str = "allocation limit exceeded: ";

/// The longest text an operation may build: `max` bytes, or what the remaining fuel pays for
/// as serialized text (16 units a byte, 64 units a fuel) if that is less, so that walking a
/// value to print it is bounded by fuel as well.
fn text_budget(state: &State, max: usize) -> usize {
    state.fuel_levels().map_or(max, |(_, remaining)| {
        max.min(usize::try_from(remaining.saturating_mul(4)).unwrap_or(usize::MAX))
    })
}

/// The error for a text past `budget`: out of fuel when fuel set the budget, else the size
/// limit.
fn budget_error(what: &str, budget: usize, max: usize) -> Error {
    if budget < max {
        Error::from(ErrorKind::OutOfFuel)
    } else {
        alloc_error(format!("{what} would produce a longer text"), max)
    }
}

fn alloc_error(what: String, max: usize) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{ALLOC_LIMIT}{what} (the limit is {max} bytes)"),
    )
}

/// The Python methods whose result size an argument sets, checked before pycompat runs them:
/// `str.format` (field widths and precisions, and each field's argument), `str.replace`
/// (`new` once per match) and `str.join` (the items and the separator).
fn check_method_size(
    value: &Value,
    method: &str,
    args: &[Value],
    budget: usize,
    max: usize,
) -> Result<(), Error> {
    let Some(s) = value.as_str() else {
        return Ok(());
    };
    let estimate = match method {
        "format" => {
            // A kwargs argument is a map; its values are the named fields' arguments.
            let mut longest = 0usize;
            for arg in args {
                let items: Vec<Value> = if arg.kind() == ValueKind::Map {
                    arg.try_iter()
                        .map(|keys| keys.filter_map(|k| arg.get_item(&k).ok()).collect())
                        .unwrap_or_default()
                } else {
                    vec![arg.clone()]
                };
                for item in items {
                    longest = longest.max(text_len(&item, budget));
                }
            }
            let (fields, widths) = format_fields(s);
            s.len()
                .saturating_add(widths)
                .saturating_add(fields.saturating_mul(longest))
        }
        "replace" => {
            let (Some(old), Some(new)) = (
                args.first().and_then(Value::as_str),
                args.get(1).and_then(Value::as_str),
            ) else {
                return Ok(());
            };
            if new.len() <= old.len() {
                return Ok(());
            }
            let matches = if old.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(old).count()
            };
            s.len()
                .saturating_add(matches.saturating_mul(new.len() - old.len()))
        }
        "join" => {
            let Some(items) = args.first() else {
                return Ok(());
            };
            let mut total = 0usize;
            if let Ok(iter) = items.try_iter() {
                for item in iter {
                    total = total
                        .saturating_add(s.len())
                        .saturating_add(text_len(&item, budget));
                    if total > budget {
                        break;
                    }
                }
            }
            total
        }
        _ => return Ok(()),
    };
    if estimate > max {
        return Err(alloc_error(
            format!("str.{method} would produce about {estimate} bytes"),
            max,
        ));
    }
    if estimate > budget {
        return Err(Error::from(ErrorKind::OutOfFuel));
    }
    Ok(())
}

/// Length of `str(value)`, counted up to just past `max`.
fn text_len(value: &Value, max: usize) -> usize {
    if let Some(s) = value.as_str() {
        return s.len();
    }
    let mut text = String::new();
    if write_str_form(&mut text, value, max) {
        text.len()
    } else {
        max.saturating_add(1)
    }
}

/// The number of replacement fields of a `str.format` string and the sum of every number
/// written in their format specs (widths, precisions: an upper bound of the padding).
fn format_fields(s: &str) -> (usize, usize) {
    let (mut fields, mut widths) = (0usize, 0usize);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            continue;
        }
        fields += 1;
        let mut in_spec = false;
        let mut number = 0usize;
        for c in chars.by_ref() {
            if c == '}' {
                break;
            }
            if c == ':' {
                in_spec = true;
            }
            match c.to_digit(10) {
                Some(d) if in_spec => {
                    number = number.saturating_mul(10).saturating_add(d as usize);
                }
                _ => {
                    widths = widths.saturating_add(number);
                    number = 0;
                }
            }
        }
        widths = widths.saturating_add(number);
    }
    (fields, widths)
}

fn output_limit_error() -> Error {
    Error::new(ErrorKind::InvalidOperation, OUTPUT_LIMIT)
}

fn format_value(
    out: &mut Output,
    state: &mut State,
    value: &Value,
    cap: usize,
) -> Result<(), Error> {
    let escape = !matches!(state.auto_escape(), AutoEscape::None) && !value.is_safe();
    let budget = cap.saturating_sub(PRINTED.with(Cell::get));
    // Fast path for the common case: a plain string printed as it is.
    let written = match (value.as_str(), escape) {
        (Some(s), false) => {
            if s.len() > budget {
                return Err(output_limit_error());
            }
            out.write_str(s)?;
            s.len()
        }
        // Integers (`loop.index`, counts) print the same in Python; no heap string needed.
        (None, _) if value.is_integer() => {
            let mut buf = StackText::default();
            std::fmt::Write::write_fmt(&mut buf, format_args!("{value}"))?;
            let s = buf.as_str();
            if s.len() > budget {
                return Err(output_limit_error());
            }
            out.write_str(s)?;
            s.len()
        }
        _ => {
            let mut text = String::new();
            if !write_str_form(&mut text, value, budget) {
                return Err(output_limit_error());
            }
            let text = if escape { markupsafe(&text) } else { text };
            if text.len() > budget {
                return Err(output_limit_error());
            }
            out.write_str(&text)?;
            text.len()
        }
    };
    PRINTED.with(|p| p.set(p.get().saturating_add(written)));
    Ok(())
}

/// Room for any integer minijinja has (i128 needs 40 bytes).
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The variables as a template context. Converted directly rather than through serde, and
/// into [`JsonMap`] rather than minijinja's hashed map: for a prompt's handful of variables
/// that conversion otherwise costs as much as the render itself.
pub(crate) fn context(vars: &serde_json::Map<String, serde_json::Value>) -> Value {
    map_value(vars)
}

/// Past this many keys a hashed map's lookups beat a linear scan.
const SMALL_MAP: usize = 16;

fn map_value(m: &serde_json::Map<String, serde_json::Value>) -> Value {
    let pairs = m
        .iter()
        .map(|(k, v)| (Value::from(k.as_str()), to_value(v)));
    if m.len() <= SMALL_MAP {
        Value::from_object(JsonMap(pairs.collect()))
    } else {
        Value::from_pairs(pairs)
    }
}

fn to_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => items.iter().map(to_value).collect(),
        J::Object(m) => map_value(m),
    }
}

/// A small JSON object as a template map: keys in their JSON order (as a Python dict keeps
/// them), found by a linear scan.
#[derive(Debug)]
struct JsonMap(Vec<(Value, Value)>);

impl Object for JsonMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.0.iter().map(|(k, _)| k.clone())))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Jinja2's `|e`: markupsafe escaping, result marked safe.
fn escape_filter(value: &Value, budget: usize, max: usize) -> Result<Value, Error> {
    if value.is_safe() {
        return Ok(value.clone());
    }
    forceescape_filter(value, budget, max)
}

fn forceescape_filter(value: &Value, budget: usize, max: usize) -> Result<Value, Error> {
    let mut text = String::new();
    if !write_str_form(&mut text, value, budget) {
        return Err(budget_error("escape", budget, max));
    }
    // Each escaped character grows by at most 4 bytes (`'` → `&#39;`).
    let specials = text.bytes().filter(|b| b"&<>'\"".contains(b)).count();
    let size = text.len().saturating_add(specials.saturating_mul(4));
    if size > max {
        return Err(alloc_error(
            format!("escape would produce {size} bytes"),
            max,
        ));
    }
    Ok(Value::from_safe_string(markupsafe(&text)))
}

/// markupsafe's escaping, which LiteLLM's autoescape applies: `&<>'"` only.
pub(crate) fn markupsafe(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
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
    out
}

/// Writes Python's `str(value)`; false when the text would pass `budget` bytes.
fn write_str_form(out: &mut String, value: &Value, budget: usize) -> bool {
    match value.as_str() {
        Some(s) => {
            out.push_str(s);
            out.len() <= budget
        }
        None => write_repr(out, value, budget, 0),
    }
}

/// Writes Python's `repr(value)` (strings quoted), stopping once past `budget` bytes.
fn write_repr(out: &mut String, value: &Value, budget: usize, depth: usize) -> bool {
    if out.len() > budget {
        return false;
    }
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                match f64::try_from(value.clone()) {
                    Ok(f) => push_py_float(out, f),
                    Err(_) => out.push_str(&value.to_string()),
                }
            }
        }
        ValueKind::String => push_py_str_repr(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable if depth < MAX_PRINT_DEPTH => {
            // `d|items` and `dictsort` give tuples, which Python prints in parentheses.
            let tuple = value.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let mut count = 0usize;
            if let Ok(iter) = value.try_iter() {
                for item in iter {
                    if count > 0 {
                        out.push_str(", ");
                    }
                    count += 1;
                    if !write_repr(out, &item, budget, depth + 1) {
                        return false;
                    }
                }
            }
            if tuple && count == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        ValueKind::Map if depth < MAX_PRINT_DEPTH => {
            out.push('{');
            if let Ok(keys) = value.try_iter() {
                for (i, key) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if !write_repr(out, &key, budget, depth + 1) {
                        return false;
                    }
                    out.push_str(": ");
                    let item = value.get_item(&key).unwrap_or(Value::UNDEFINED);
                    if !write_repr(out, &item, budget, depth + 1) {
                        return false;
                    }
                }
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => out.push_str("..."),
        _ => out.push_str(&value.to_string()),
    }
    out.len() <= budget
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
pub(crate) fn push_py_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("nan");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5" or "0e0".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.unsigned_abs()));
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let decpt = decpt as usize;
        if decpt >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', decpt - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt]);
            out.push('.');
            out.push_str(&digits[decpt..]);
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`, with Python's escapes.
pub(crate) fn push_py_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// An approximation of Python's `str.isprintable` for one character: control, format,
/// separator (other than the space), private-use and surrogate-adjacent characters are not.
fn py_printable(c: char) -> bool {
    let n = c as u32;
    !(c.is_control()
        || c == '\u{a0}'
        || c == '\u{ad}'
        || c == '\u{1680}'
        || (0x2000..=0x200f).contains(&n)
        || (0x2028..=0x202f).contains(&n)
        || (0x205f..=0x2064).contains(&n)
        || c == '\u{3000}'
        || c == '\u{feff}'
        || (0xe000..=0xf8ff).contains(&n)
        || (0xfff9..=0xfffb).contains(&n)
        || (0xf0000..=0x10ffff).contains(&n))
}

/// A `{{ … }}` or runtime error from minijinja, mapped to the kind callers act on.
pub(crate) fn classify(e: &Error, body_line: usize, limits: &Limits) -> TemplateError {
    // Errors raised inside macros and filters arrive wrapped; the innermost minijinja error
    // says what happened.
    let mut chain: Vec<&Error> = vec![e];
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        if let Some(inner) = next.downcast_ref::<Error>() {
            chain.push(inner);
        }
        cur = next;
    }
    for err in &chain {
        if err.kind() == ErrorKind::OutOfFuel {
            return TemplateError::LimitExceeded {
                limit: "fuel",
                message: format!(
                    "rendering used its whole budget of {} fuel (about one unit per instruction or per 64 bytes of data); \
                     shorten loops and the data they walk, or raise the fuel limit (promptd setting template_fuel)",
                    limits.fuel
                ),
            };
        }
        if err.detail() == Some(OUTPUT_LIMIT) {
            return output_limit(limits.max_output_bytes);
        }
        if let Some(what) = err.detail().and_then(|d| d.strip_prefix(ALLOC_LIMIT)) {
            return TemplateError::LimitExceeded {
                limit: "template_max_bytes",
                message: format!(
                    "template_max_bytes ({}) exceeded: {what}; make the widths, counts and values \
                     smaller, or raise the limit (promptd setting template_max_bytes)",
                    limits.max_bytes
                ),
            };
        }
        if err.detail() == Some("recursion limit exceeded") {
            return TemplateError::LimitExceeded {
                limit: "recursion",
                message: format!(
                    "macro calls, loops or blocks nest deeper than {} levels; a macro probably calls itself without end",
                    limits.recursion
                ),
            };
        }
    }
    let line = e.line().map(|l| l + body_line - 1);
    TemplateError::Render {
        line,
        message: describe_runtime(e),
    }
}

pub(crate) fn output_limit(max: usize) -> TemplateError {
    TemplateError::LimitExceeded {
        limit: "max_output_bytes",
        message: format!(
            "the rendered text would be larger than {max} bytes; print less, or raise the output limit \
             (promptd setting template_max_output_bytes)"
        ),
    }
}

/// A runtime error in words: what happened, and a hint for the common cases.
fn describe_runtime(e: &Error) -> String {
    let what = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let hint = match e.kind() {
        ErrorKind::UndefinedError => {
            "; pass the variable in prompt_variables, or guard it with {% if name is defined %}"
        }
        ErrorKind::UnknownFilter => "; see the filters minijinja supports",
        ErrorKind::UnknownMethod => "; only Python's common str/dict/list methods are available",
        ErrorKind::UnknownFunction if e.detail().is_some_and(|d| d.contains("namespace")) => {
            "; promptd leaves out namespace() because a namespace can be made to contain itself, \
             which no renderer can print: compute the value with filters (e.g. |selectattr, |sum) instead"
        }
        ErrorKind::UnknownFunction => "; the functions available are range() and dict()",
        ErrorKind::TemplateNotFound => {
            "; a prompt cannot include, import or extend other templates: put the text inline"
        }
        _ => "",
    };
    format!("{what}{hint}")
}
