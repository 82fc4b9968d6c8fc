//! Static bounds on a template before it is rendered: how deeply its tags nest (checked on the
//! text, before the parser recurses), which partials it names (all of them resolved up front,
//! no cycle, a bounded depth and number of expansions), and the rewriting of `@name.path`
//! reads (Handlebars.js's `@data`) into lookups handlebars-rust can resolve.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::template::{Parameter, Subexpression, TemplateElement};
use handlebars::{Path, PathSeg, Template};

use crate::DotpromptError;

/// How deeply blocks, `else if` chains and sub-expressions may nest in one template.
pub const MAX_NESTING: usize = 100;

/// Names handlebars-rust itself sets as `@` variables.
const BUILTIN_LOCALS: &[&str] = &["index", "key", "first", "last", "partial-block"];

/// The prefix of the block parameter that holds a `@name` value (never a valid path name).
pub const DATA_PARAM_PREFIX: &str = "@";

/// When the tag at `start` (its `{{`) is a comment, `{{!-- … --}}` or `{{! … }}`, which holds
/// no tags: where it ends (the end of the text when it is not closed).
fn comment_end(source: &str, start: usize) -> Option<usize> {
    let j = start + 2;
    let rest = source[j..].trim_start_matches('~');
    let close = if rest.starts_with("!--") {
        "--}}"
    } else if rest.starts_with('!') {
        "}}"
    } else {
        return None;
    };
    Some(
        source[j..]
            .find(close)
            .map_or(source.len(), |e| j + e + close.len()),
    )
}

/// Refuses text whose tags nest deeper than [`MAX_NESTING`], measured on the text (so the
/// parser never recurses that deep): open blocks, `{{else x}}` chains and parentheses.
/// Returns the deepest nesting found.
pub fn check_nesting(source: &str, body_line: usize) -> Result<usize, DotpromptError> {
    let bytes = source.as_bytes();
    let mut depth: Vec<usize> = Vec::new(); // per open block: extra `else if` levels
    let mut i = 0;
    let mut deepest = 0usize;
    let err = |at: usize, what: &str| DotpromptError::Syntax {
        line: source[..at].matches('\n').count() + body_line,
        message: format!(
            "{what} nest deeper than {MAX_NESTING} levels; flatten the template (fewer nested blocks, `else if` branches or parentheses)"
        ),
    };
    while let Some(off) = source[i..].find("{{") {
        let start = i + off;
        if let Some(end) = comment_end(source, start) {
            i = end;
            continue;
        }
        let mut j = start + 2;
        while bytes.get(j).is_some_and(|b| *b == b'~' || *b == b'{') {
            j += 1;
        }
        let head = source[j..].trim_start();
        let end = source[j..].find("}}").map_or(source.len(), |e| j + e);
        let mut parens = 0usize;
        for b in &bytes[j..end] {
            match b {
                b'(' => {
                    parens += 1;
                    deepest = deepest.max(depth.len() + parens);
                    if parens > MAX_NESTING {
                        return Err(err(start, "parentheses"));
                    }
                }
                b')' => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        if head.starts_with('#')
            || (head.starts_with('^')
                && head[1..]
                    .trim_start()
                    .starts_with(|c: char| !c.is_whitespace() && c != '}' && c != '~'))
        {
            depth.push(0);
        } else if head.starts_with('/') {
            depth.pop();
        } else if let Some(after) = head.strip_prefix("else")
            && after.starts_with(char::is_whitespace)
            && !after.trim_start().starts_with('}')
            && !after.trim_start().starts_with('~')
            && let Some(top) = depth.last_mut()
        {
            *top += 1;
        }
        let total: usize = depth.len() + depth.iter().sum::<usize>();
        if total > MAX_NESTING {
            return Err(err(start, "blocks"));
        }
        deepest = deepest.max(total);
        i = end.max(start + 2);
    }
    Ok(deepest)
}

/// Rewrites the path `.` (Handlebars.js's other spelling of `this`: `{{.}}`, `{{#each .}}`,
/// `{{json . indent=2}}`), which handlebars-rust's grammar does not accept, to `this`. Only a
/// `.` standing alone inside a tag is touched: not in text, comments or quoted strings, not in
/// `./name` or `../name`.
pub fn dot_paths(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.contains('.') {
        return std::borrow::Cow::Borrowed(source);
    }
    let bytes = source.as_bytes();
    let mut out = String::new();
    let mut copied = 0; // bytes of `source` already in `out`
    let mut i = 0;
    while let Some(off) = source[i..].find("{{") {
        let start = i + off;
        if let Some(end) = comment_end(source, start) {
            i = end;
            continue;
        }
        // Walk the tag to its `}}`, outside quoted strings.
        let mut j = start + 2;
        let mut quote: Option<u8> = None;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' => quote = Some(b),
                None if b == b'}' && bytes.get(j + 1) == Some(&b'}') => break,
                None if b == b'.' => {
                    let before = bytes[j - 1];
                    let after = bytes.get(j + 1).copied().unwrap_or(b'}');
                    let opens =
                        before.is_ascii_whitespace() || matches!(before, b'{' | b'~' | b'(' | b'=');
                    let closes = after.is_ascii_whitespace() || matches!(after, b'}' | b'~' | b')');
                    if opens && closes {
                        out.push_str(&source[copied..j]);
                        out.push_str("this");
                        copied = j + 1;
                    }
                }
                None => {}
            }
            j += 1;
        }
        i = (j + 2).min(source.len());
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(source);
    }
    out.push_str(&source[copied..]);
    std::borrow::Cow::Owned(out)
}

/// What one template refers to: partial names (how many times each), inline partials it
/// defines, and whether it names a partial dynamically or calls an unknown helper.
#[derive(Default)]
pub struct Refs {
    pub partials: BTreeMap<String, usize>,
    pub inline: Vec<(String, Template)>,
    pub problems: Vec<String>,
    /// The template calls `{{history}}`.
    pub history: bool,
}

fn param_refs(p: &Parameter, refs: &mut Refs, known: &dyn Fn(&str) -> bool) {
    if let Parameter::Subexpression(s) = p {
        element_refs(&s.element, refs, known);
    }
}

fn element_refs(e: &TemplateElement, refs: &mut Refs, known: &dyn Fn(&str) -> bool) {
    match e {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => {
            let is_call = h.block || !h.params.is_empty() || !h.hash.is_empty();
            if param_name(&h.name) == Some("history") {
                refs.history = true;
            }
            if let Parameter::Name(n) = &h.name
                && is_call
                && !known(n)
            {
                refs.problems.push(format!(
                    "unknown helper '{n}': Dotprompt templates may call only if, unless, each, with, lookup, log, role, history, section, media, json, ifEquals and unlessEquals"
                ));
            }
            param_refs(&h.name, refs, known);
            for p in &h.params {
                param_refs(p, refs, known);
            }
            for p in h.hash.values() {
                param_refs(p, refs, known);
            }
            for t in [&h.template, &h.inverse].into_iter().flatten() {
                template_refs(t, refs, known);
            }
        }
        TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
            match &d.name {
                Parameter::Name(n) => *refs.partials.entry(n.clone()).or_default() += 1,
                Parameter::Path(p) => {
                    let raw = path_raw(p);
                    if raw != "@partial-block" {
                        *refs.partials.entry(raw.to_owned()).or_default() += 1;
                    }
                }
                Parameter::Literal(v) => {
                    let name = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    *refs.partials.entry(name).or_default() += 1;
                }
                _ => refs.problems.push(
                    "partial names must be written in the template ({{> name}}), not computed"
                        .into(),
                ),
            }
            for p in d.params.iter().chain(d.hash.values()) {
                param_refs(p, refs, known);
            }
            if let Some(t) = &d.template {
                template_refs(t, refs, known);
            }
        }
        TemplateElement::DecoratorExpression(d) | TemplateElement::DecoratorBlock(d) => {
            let is_inline = matches!(&d.name, Parameter::Name(n) if n == "inline");
            if !is_inline {
                refs.problems
                    .push("decorators other than {{#*inline \"name\"}} are not supported".into());
            }
            let name = d.params.first().and_then(|p| match p {
                Parameter::Literal(v) => v.as_str().map(str::to_owned),
                _ => None,
            });
            match (is_inline, name, &d.template) {
                (true, Some(n), Some(t)) => {
                    template_refs(t, refs, known);
                    refs.inline.push((n, t.clone()));
                }
                (true, _, _) => refs
                    .problems
                    .push("an inline partial needs a quoted name: {{#*inline \"name\"}}".into()),
                _ => {}
            }
        }
        _ => {}
    }
}

/// A path as written in the template.
pub(crate) fn path_raw(p: &Path) -> &str {
    match p {
        Path::Relative((_, raw)) | Path::Local((_, _, raw)) => raw,
    }
}

/// The name a helper or partial is called by, as handlebars-rust looks it up: a bare name, or
/// a path as written.
pub(crate) fn param_name(p: &Parameter) -> Option<&str> {
    match p {
        Parameter::Name(n) => Some(n),
        Parameter::Path(p) => Some(path_raw(p)),
        _ => None,
    }
}

/// Everything `t` refers to.
pub fn template_refs(t: &Template, refs: &mut Refs, known: &dyn Fn(&str) -> bool) {
    for e in &t.elements {
        element_refs(e, refs, known);
    }
}

/// Partial graph checks: no cycle, depth at most `max_depth`, and at most `max_expansions`
/// partial expansions for one pass over the template (loops aside).
pub fn check_partials(
    root: &BTreeMap<String, usize>,
    graph: &BTreeMap<String, BTreeMap<String, usize>>,
    max_depth: usize,
    max_expansions: u64,
) -> Result<(), DotpromptError> {
    fn visit(
        name: &str,
        graph: &BTreeMap<String, BTreeMap<String, usize>>,
        stack: &mut Vec<String>,
        memo: &mut BTreeMap<String, (u64, usize)>,
        max_depth: usize,
    ) -> Result<(u64, usize), DotpromptError> {
        if let Some(v) = memo.get(name) {
            return Ok(*v);
        }
        if let Some(pos) = stack.iter().position(|s| s == name) {
            let mut cycle: Vec<String> = stack[pos..].to_vec();
            cycle.push(name.to_owned());
            return Err(DotpromptError::Partial(format!(
                "partials include each other in a cycle: {}; a partial cannot include itself, directly or through others",
                cycle.join(" -> ")
            )));
        }
        if stack.len() >= max_depth {
            return Err(DotpromptError::Partial(format!(
                "partials nest deeper than {max_depth} levels ({} -> {name}); flatten them",
                stack.join(" -> ")
            )));
        }
        stack.push(name.to_owned());
        let mut count: u64 = 1;
        let mut depth = 1;
        if let Some(children) = graph.get(name) {
            for (child, n) in children {
                let (c, d) = visit(child, graph, stack, memo, max_depth)?;
                count = count.saturating_add(c.saturating_mul(*n as u64));
                depth = depth.max(d + 1);
            }
        }
        stack.pop();
        memo.insert(name.to_owned(), (count, depth));
        Ok((count, depth))
    }
    let mut memo = BTreeMap::new();
    let mut total: u64 = 0;
    for (name, n) in root {
        let (c, _) = visit(name, graph, &mut Vec::new(), &mut memo, max_depth)?;
        total = total.saturating_add(c.saturating_mul(*n as u64));
    }
    if total > max_expansions {
        return Err(DotpromptError::Partial(format!(
            "the template expands partials {total} times (the limit is {max_expansions}); include fewer partials or nest them less"
        )));
    }
    Ok(())
}

/// A `{{promptdDeadlineTick}}` element, compiled once per use.
fn tick_element() -> Option<TemplateElement> {
    let t = Template::compile(&format!("{{{{{}}}}}", crate::helpers::TICK)).ok()?;
    t.elements.into_iter().next()
}

/// Rewrites every `@name.rest` read whose `name` is not a handlebars-rust local (`@index`, …)
/// into a read of the block parameter `@name`, which the render sets from the context.
/// Returns the `@` names used.
pub fn rewrite_data_paths(t: &mut Template, used: &mut BTreeSet<String>) {
    for e in &mut t.elements {
        rewrite_element(e, used);
    }
}

fn rewrite_param(p: &mut Parameter, used: &mut BTreeSet<String>) {
    match p {
        Parameter::Path(path) => {
            if let Path::Local((0, name, raw)) = path
                && !BUILTIN_LOCALS.contains(&name.as_str())
            {
                let mut segs = vec![PathSeg::Named(format!("{DATA_PARAM_PREFIX}{name}"))];
                // The rest after `@name`: `.a.b`, `/a/b` or `.[a b]`.
                let rest = &raw[1 + name.len()..];
                let rest = rest.trim_start_matches(['.', '/']);
                if !rest.is_empty()
                    && let Ok(Path::Relative((more, _))) = Path::parse(rest)
                {
                    segs.extend(more);
                }
                used.insert(name.clone());
                *path = Path::Relative((segs, raw.clone()));
            }
        }
        Parameter::Subexpression(Subexpression { element, .. }) => rewrite_element(element, used),
        _ => {}
    }
}

fn rewrite_element(e: &mut TemplateElement, used: &mut BTreeSet<String>) {
    match e {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => {
            rewrite_param(&mut h.name, used);
            for p in &mut h.params {
                rewrite_param(p, used);
            }
            for p in h.hash.values_mut() {
                rewrite_param(p, used);
            }
            for t in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                rewrite_data_paths(t, used);
            }
            if matches!(&h.name, Parameter::Name(n) if n == "each")
                && let (Some(t), Some(tick)) = (&mut h.template, tick_element())
            {
                t.elements.insert(0, tick);
            }
        }
        TemplateElement::PartialExpression(d)
        | TemplateElement::PartialBlock(d)
        | TemplateElement::DecoratorExpression(d)
        | TemplateElement::DecoratorBlock(d) => {
            for p in &mut d.params {
                rewrite_param(p, used);
            }
            for p in d.hash.values_mut() {
                rewrite_param(p, used);
            }
            if let Some(t) = &mut d.template {
                rewrite_data_paths(t, used);
            }
        }
        _ => {}
    }
}
