//! Splitting `---` YAML `---` frontmatter from the template body.
//!
//! More tolerant than LiteLLM's regex: a BOM, CRLF line ends, a closing `---` at the end of
//! the file and an empty block are all accepted, and bad YAML is an error with a position
//! instead of silently losing the metadata.

use serde_json::{Map, Value};

use crate::TemplateError;

/// Splits a `.prompt` text into its frontmatter (a mapping, key order kept) and its body
/// (unstripped).
pub fn split_frontmatter(text: &str) -> Result<(Map<String, Value>, String), TemplateError> {
    split(text).map(|(m, b, _)| (m, b))
}

fn is_delimiter(line: &str) -> bool {
    line.trim_end() == "---"
}

/// Also returns the 1-based line number where the body starts, for error positions.
pub(crate) fn split(text: &str) -> Result<(Map<String, Value>, String, usize), TemplateError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n");
        normalized.as_str()
    } else {
        text
    };
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(first) if is_delimiter(first) => {}
        _ => return Ok((Map::new(), text.to_owned(), 1)),
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
            message: "the frontmatter opened with --- on line 1 is never closed; add a line with --- after the YAML".into(),
        });
    }
    let body: String = lines.collect();
    let metadata = parse_yaml(&yaml)?;
    Ok((metadata, body, consumed + 1))
}

fn parse_yaml(yaml: &str) -> Result<Map<String, Value>, TemplateError> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = serde_saphyr::from_str(yaml).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize + 1, l.column() as usize))
            .unwrap_or((2, 1));
        let message = e
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_owned();
        TemplateError::Frontmatter {
            line: line.max(2),
            column: column.max(1),
            message,
        }
    })?;
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(TemplateError::Frontmatter {
            line: 2,
            column: 1,
            message: format!(
                "the frontmatter must be a mapping of keys (model: ..., temperature: ...), not {}",
                match other {
                    Value::Array(_) => "a list",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    _ => "a scalar",
                }
            ),
        }),
    }
}
