//! The Dotprompt helpers (`role`, `history`, `section`, `media`, `json`, `ifEquals`,
//! `unlessEquals`), the built-in Handlebars helpers kept (those of Handlebars.js), the bounded
//! output, and the per-render state: deadline, markers and the parts the helpers produced.
//!
//! **Injection rule.** The helpers write *internal* markers: a noncharacter, a per-process random
//! nonce and an index into this render's table of structural pieces. Only those split the text
//! into messages and parts, so a variable whose value is `<<<dotprompt:role:system>>>` (the
//! reference's public marker syntax) stays text, and a value cannot forge an internal marker
//! without knowing the nonce.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::Instant;

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonRender, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable,
};
use serde_json::Value;

/// A structural piece a helper put in the text.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece<'a> {
    /// A role name (borrowed from the template when it is written there).
    Role(std::borrow::Cow<'a, str>),
    History,
    Media {
        url: String,
        content_type: Option<String>,
    },
    Section(String),
}

pub const MARK_START: char = '\u{fdd0}';
pub const MARK_END: char = '\u{fdd1}';

/// The per-process nonce in internal markers.
pub fn nonce() -> &'static str {
    static NONCE: OnceLock<String> = OnceLock::new();
    NONCE.get_or_init(|| {
        let a = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        format!("{a:016x}{:016x}", h.finish())
    })
}

/// Which limit a render passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripped {
    Time,
    Output,
}

/// This thread's render in progress.
pub struct RenderState {
    pub pieces: Vec<Piece<'static>>,
    pub deadline: Instant,
    pub tripped: Option<Tripped>,
}

thread_local! {
    pub static STATE: RefCell<Option<RenderState>> = const { RefCell::new(None) };
}

fn limit_error(which: Tripped) -> RenderError {
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut() {
            st.tripped = Some(which);
        }
    });
    RenderErrorReason::Other(match which {
        Tripped::Time => "render time limit exceeded".into(),
        Tripped::Output => "output size limit exceeded".into(),
    })
    .into()
}

/// Fails once the render's deadline has passed.
pub fn check_deadline() -> Result<(), RenderError> {
    let late = STATE.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|st| Instant::now() > st.deadline)
    });
    if late {
        Err(limit_error(Tripped::Time))
    } else {
        Ok(())
    }
}

/// Records a piece and writes its internal marker.
fn put(out: &mut dyn Output, piece: Piece<'static>) -> HelperResult {
    let index = STATE.with(|s| {
        s.borrow_mut().as_mut().map(|st| {
            st.pieces.push(piece);
            st.pieces.len() - 1
        })
    });
    match index {
        Some(i) => {
            out.write(marker_prefix())?;
            let mut buf = [0u8; 20];
            out.write(std::str::from_utf8(decimal_digits(i as u64, &mut buf)).unwrap_or("0"))?;
            out.write(MARK_END_STR)?;
            Ok(())
        }
        None => Err(RenderErrorReason::Other("Dotprompt helper outside a render".into()).into()),
    }
}

const MARK_END_STR: &str = "\u{fdd1}";

/// `n` in decimal ASCII digits, written at the end of `buf`.
pub(crate) fn decimal_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// How many bytes the internal marker of piece `index` takes in the text.
pub(crate) fn marker_len(index: usize) -> usize {
    let mut buf = [0u8; 20];
    marker_prefix().len() + decimal_digits(index as u64, &mut buf).len() + MARK_END_STR.len()
}

/// `MARK_START`, the nonce and `:`: the start of every internal marker.
fn marker_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("{MARK_START}{}:", nonce()))
}

/// The output: a string that refuses to grow past the limit or past the deadline.
pub struct BoundedOutput {
    pub buf: String,
    pub max: usize,
    writes: u32,
}

impl BoundedOutput {
    pub fn new(max: usize) -> Self {
        BoundedOutput {
            buf: String::new(),
            max,
            writes: 0,
        }
    }
}

impl Output for BoundedOutput {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        if self.buf.len().saturating_add(seg.len()) > self.max {
            limit_error(Tripped::Output);
            return Err(std::io::Error::other("output size limit exceeded"));
        }
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(16) && check_deadline().is_err() {
            return Err(std::io::Error::other("render time limit exceeded"));
        }
        self.buf.push_str(seg);
        Ok(())
    }
}

/// JavaScript's `String(value)` for the values helpers take as text.
fn js_string(v: Option<&Value>) -> String {
    match v {
        None => "undefined".into(),
        Some(v) => v.render(),
    }
}

pub(crate) fn is_role_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase())
}

macro_rules! helper {
    ($name:ident, |$h:ident, $r:ident, $ctx:ident, $rc:ident, $out:ident| $body:block) => {
        pub struct $name;
        impl HelperDef for $name {
            fn call<'reg: 'rc, 'rc>(
                &self,
                $h: &Helper<'rc>,
                $r: &'reg Handlebars<'reg>,
                $ctx: &'rc Context,
                $rc: &mut RenderContext<'reg, 'rc>,
                $out: &mut dyn Output,
            ) -> HelperResult {
                check_deadline()?;
                $body
            }
        }
    };
}

helper!(RoleHelper, |h, _r, _ctx, _rc, out| {
    let role = js_string(h.param(0).map(|p| p.value()));
    if is_role_name(&role) {
        put(out, Piece::Role(role.into()))
    } else {
        // The reference leaves such a marker in the text (or, at the start of a piece, takes
        // `System>>>rest` as the role and drops the text): neither is a prompt anyone meant.
        Err(RenderErrorReason::Other(format!(
            "{{{{role \"{role}\"}}}}: a role is lowercase letters: system, user, model or tool"
        ))
        .into())
    }
});

helper!(TickHelper, |_h, _r, _ctx, _rc, _out| { Ok(()) });

helper!(HistoryHelper, |_h, _r, _ctx, _rc, out| {
    put(out, Piece::History)
});

helper!(SectionHelper, |h, _r, _ctx, _rc, out| {
    let name = js_string(h.param(0).map(|p| p.value()));
    // The reference keeps the first word (it splits the marker at spaces).
    let name = name.split(' ').next().unwrap_or_default().to_owned();
    put(out, Piece::Section(name))
});

helper!(MediaHelper, |h, _r, _ctx, _rc, out| {
    let url = js_string(h.hash_get("url").map(|p| p.value()));
    let content_type = h
        .hash_get("contentType")
        .map(|p| p.value())
        .filter(|v| is_js_truthy(v))
        .map(JsonRender::render);
    put(out, Piece::Media { url, content_type })
});

helper!(JsonHelper, |h, _r, _ctx, _rc, out| {
    let value = h.param(0).map(|p| p.value().clone()).unwrap_or(Value::Null);
    let text = json_text(&value, h.hash_get("indent").map(|p| p.value()))
        .map_err(|e| RenderErrorReason::Other(format!("json: {e}")))?;
    out.write(&text)?;
    Ok(())
});

/// What `{{json value indent=…}}` writes: JSON.stringify's indent is a number (capped at 10)
/// or a string (its first 10 characters); anything else means no indent.
pub(crate) fn json_text(
    value: &Value,
    indent: Option<&Value>,
) -> Result<String, serde_json::Error> {
    let indent: String = match indent {
        Some(Value::Number(n)) => " ".repeat(n.as_f64().unwrap_or(0.0).clamp(0.0, 10.0) as usize),
        Some(Value::String(s)) => s.chars().take(10).collect(),
        _ => String::new(),
    };
    if indent.is_empty() {
        serde_json::to_string(value)
    } else {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(value, &mut ser)
            .map(|()| String::from_utf8(buf).unwrap_or_default())
    }
}

/// JavaScript truthiness of a JSON value.
pub(crate) fn is_js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `===` on JSON values as JavaScript compares them: primitives by value (numbers as numbers),
/// objects and arrays by identity, which for values read from JSON means never equal.
pub(crate) fn js_strict_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Null), Some(Value::Null)) => true,
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
        (Some(Value::String(x)), Some(Value::String(y))) => x == y,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}

fn branch<'reg: 'rc, 'rc>(
    equal_means_fn: bool,
    h: &Helper<'rc>,
    r: &'reg Handlebars<'reg>,
    ctx: &'rc Context,
    rc: &mut RenderContext<'reg, 'rc>,
    out: &mut dyn Output,
) -> HelperResult {
    let a = h
        .param(0)
        .filter(|p| !p.is_value_missing())
        .map(|p| p.value());
    let b = h
        .param(1)
        .filter(|p| !p.is_value_missing())
        .map(|p| p.value());
    let equal = js_strict_equal(a, b);
    let t = if equal == equal_means_fn {
        h.template()
    } else {
        h.inverse()
    };
    match t {
        Some(t) => t.render(r, ctx, rc, out),
        None => Ok(()),
    }
}

helper!(IfEqualsHelper, |h, r, ctx, rc, out| {
    branch(true, h, r, ctx, rc, out)
});

helper!(UnlessEqualsHelper, |h, r, ctx, rc, out| {
    branch(false, h, r, ctx, rc, out)
});

/// A registry with exactly Handlebars.js's built-in helpers and Dotprompt's, no HTML
/// escaping, and no other helper: a template that works here works in Genkit.
pub fn registry() -> Handlebars<'static> {
    let mut r = Handlebars::new();
    for name in [
        "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len", "raw",
    ] {
        r.unregister_helper(name);
    }
    r.register_helper(TICK, Box::new(TickHelper));
    r.register_helper("role", Box::new(RoleHelper));
    r.register_helper("history", Box::new(HistoryHelper));
    r.register_helper("section", Box::new(SectionHelper));
    r.register_helper("media", Box::new(MediaHelper));
    r.register_helper("json", Box::new(JsonHelper));
    r.register_helper("ifEquals", Box::new(IfEqualsHelper));
    r.register_helper("unlessEquals", Box::new(UnlessEqualsHelper));
    r.register_escape_fn(handlebars::no_escape);
    r
}

/// The helper the guard puts at the start of every `{{#each}}` body: it checks the deadline
/// once per iteration (handlebars-rust's own `each` cannot be wrapped).
pub const TICK: &str = "promptdDeadlineTick";

/// Names a template may call as helpers.
pub const KNOWN_HELPERS: &[&str] = &[
    "if",
    "unless",
    "each",
    "with",
    "lookup",
    "log",
    "role",
    "history",
    "section",
    "media",
    "json",
    "ifEquals",
    "unlessEquals",
];
