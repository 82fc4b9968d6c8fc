//! Splitting `---` YAML `---` frontmatter from the template body.
//!
//! More tolerant than LiteLLM's regex: a BOM, CRLF line ends, a closing `---` at the end of
//! the file and an empty block are all accepted, and bad YAML is an error with a position
//! instead of silently losing the metadata.

use serde_json::{Map, Value};

use crate::TemplateError;

/// A `.prompt` text taken apart, in whole-file coordinates.
pub(crate) struct Split {
    pub metadata: Map<String, Value>,
    /// The YAML text between the delimiters (LF line ends), for locating keys in errors.
    pub yaml: String,
    /// The template body, unstripped, with LF line ends.
    pub body: String,
    /// 1-based line of the file on which the body starts.
    pub body_line: usize,
}

/// Splits a `.prompt` text into its frontmatter (a mapping, key order kept) and its body
/// (unstripped, CRLF turned into LF).
pub fn split_frontmatter(text: &str) -> Result<(Map<String, Value>, String), TemplateError> {
    split(text).map(|s| (s.metadata, s.body))
}

fn is_delimiter(line: &str) -> bool {
    line.trim_end() == "---"
}

pub(crate) fn split(text: &str) -> Result<Split, TemplateError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Line ends are normalised once so the YAML, the template and every line number agree.
    // Like Jinja2's lexer, CRLF and a lone CR both become LF; turning only CRLF into LF would
    // leave "\r\r\n" as a new CRLF, and a second parse would then change the text again.
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        text
    };
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(first) if is_delimiter(first) => {}
        _ => {
            return Ok(Split {
                metadata: Map::new(),
                yaml: String::new(),
                body: text.to_owned(),
                body_line: 1,
            });
        }
    }
    let mut yaml = String::new();
    let mut consumed = 1usize;
    let mut closed = false;
    for line in lines.by_ref() {
        consumed += 1;
        if is_delimiter(line) {
            closed = true;
            break;
        }
        yaml.push_str(line);
    }
    if !closed {
        return Err(TemplateError::Frontmatter {
            line: 1,
            column: 1,
            message: "the frontmatter opened with --- on line 1 is never closed; add a line with only --- after the YAML \
                      (or remove the first line if the text has no frontmatter)"
                .into(),
        });
    }
    let body: String = lines.collect();
    let metadata = parse_yaml(&yaml)?;
    Ok(Split {
        metadata,
        yaml,
        body,
        body_line: consumed + 1,
    })
}

/// The frontmatter starts on line 2 of the file.
const YAML_FIRST_LINE: usize = 2;

fn parse_yaml(yaml: &str) -> Result<Map<String, Value>, TemplateError> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    // The default options carry serde-saphyr's budget (events, nodes, aliases, depth), which
    // rejects alias bombs; snippets are left out because the message is one line.
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let value: Value = serde_saphyr::from_str_with_options(yaml, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((1, 1));
        let detail = e.to_string();
        let detail = explain_yaml_error(&strip_positions(
            detail.lines().next().unwrap_or("invalid YAML").trim(),
        ));
        TemplateError::Frontmatter {
            line: line.max(1) + YAML_FIRST_LINE - 1,
            column: column.max(1),
            message: format!("invalid YAML: {detail}; fix the YAML between the --- lines"),
        }
    })?;
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(TemplateError::Frontmatter {
            line: YAML_FIRST_LINE,
            column: 1,
            message: format!(
                "the frontmatter must be a mapping of keys such as `model: gpt-4o` and `temperature: 0.2`, not {}",
                match other {
                    Value::Array(_) => "a list",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    _ => "a single value",
                }
            ),
        }),
    }
}

/// Rewords serde-saphyr messages that talk about its own API rather than the YAML.
fn explain_yaml_error(msg: &str) -> String {
    if msg.contains("budget breached") {
        return format!(
            "the YAML is too large or expands too much through aliases ({msg}); write the values out plainly"
        );
    }
    msg.replace(
        ", set DuplicateKeyPolicy in Options if acceptable",
        "; each key may appear once",
    )
}

/// serde-saphyr's messages end in "at line L, column C" counted inside the YAML block; the
/// error carries whole-file coordinates instead, so those words would only mislead.
fn strip_positions(msg: &str) -> String {
    let mut out = msg.to_owned();
    while let Some(i) = out.find(" at line ") {
        let tail = &out[i + " at line ".len()..];
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        let rest = &tail[digits..];
        let Some(after_col) = rest.strip_prefix(", column ") else {
            break;
        };
        let col_digits = after_col.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || col_digits == 0 {
            break;
        }
        let end = out.len() - after_col.len() + col_digits;
        out.replace_range(i..end, "");
    }
    out
}

/// Where a key sits in the frontmatter, as (file line, column), found by a text search: the
/// JSON value has no positions, and an approximate place beats none in an error.
/// `path` is the chain of keys, e.g. `["input", "schema", "age"]`.
pub(crate) fn locate(yaml: &str, path: &[&str]) -> (usize, usize) {
    let mut from = 0usize;
    let mut found = None;
    for key in path {
        let hit = yaml
            .lines()
            .enumerate()
            .skip(from)
            .find(|(_, l)| key_matches(l, key));
        match hit {
            Some((i, l)) => {
                from = i + 1;
                found = Some((i, l.len() - l.trim_start().len()));
            }
            None => break,
        }
    }
    match found {
        Some((i, indent)) => (i + YAML_FIRST_LINE, indent + 1),
        None => (1, 1),
    }
}

fn key_matches(line: &str, key: &str) -> bool {
    let t = line.trim_start().trim_start_matches("- ");
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|p| t.starts_with(p.as_str()))
}
