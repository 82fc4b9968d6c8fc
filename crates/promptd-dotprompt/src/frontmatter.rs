//! Splitting a Dotprompt file into its YAML frontmatter and Handlebars body exactly as the
//! JavaScript reference's `FRONTMATTER_AND_BODY_REGEX` does, in linear time, and sorting the
//! frontmatter into reserved keys, `ext` namespaces and `raw`.

use serde_json::{Map, Value};

use crate::DotpromptError;

/// Keys of the frontmatter that Dotprompt itself interprets (the reference's
/// `RESERVED_METADATA_KEYWORDS`); any other key with a dot is an extension field.
pub const RESERVED_KEYS: &[&str] = &[
    "config",
    "description",
    "ext",
    "input",
    "model",
    "name",
    "output",
    "raw",
    "toolDefs",
    "tools",
    "variant",
    "version",
];

/// JavaScript's `\s` (and `String.prototype.trim`): Unicode white space plus the BOM.
pub fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// JavaScript's `String.prototype.trim`.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// The lengths of the line breaks `(?:\r\n|\r|\n)` can match at `at`, in the regex's order.
fn newlines_at(s: &str, at: usize) -> impl Iterator<Item = usize> {
    let b = s.as_bytes();
    let crlf = b.get(at) == Some(&b'\r') && b.get(at + 1) == Some(&b'\n');
    let cr = b.get(at) == Some(&b'\r');
    let lf = b.get(at) == Some(&b'\n');
    [crlf.then_some(2), cr.then_some(1), lf.then_some(1)]
        .into_iter()
        .flatten()
}

/// End of the run of white space starting at `from`, with the char boundaries in it.
fn space_run(s: &str, from: usize) -> Vec<usize> {
    let mut ends = vec![from];
    for (i, c) in s[from..].char_indices() {
        if !is_js_space(c) {
            break;
        }
        ends.push(from + i + c.len_utf8());
    }
    ends
}

/// Whether a closing `\n---\s*\n` starts at `e`; returns where the body starts.
fn closing_at(s: &str, e: usize) -> Option<usize> {
    for nl in newlines_at(s, e) {
        let p = e + nl;
        if !s[p..].starts_with("---") {
            continue;
        }
        // `\s*` is greedy: the longest run that a line break still follows.
        for &j in space_run(s, p + 3).iter().rev() {
            if let Some(nl2) = newlines_at(s, j).next() {
                return Some(j + nl2);
            }
        }
    }
    None
}

/// `(frontmatter, body)` when the text matches the reference's frontmatter regex.
pub fn split(source: &str) -> Option<(&str, &str)> {
    if !source.starts_with("---") {
        return None;
    }
    // Frontmatter starts are tried in the regex's order: the longest `\s*` first. A start
    // tried later is smaller, and only closings before the previous start are new to it.
    let mut searched_from: Option<usize> = None;
    for &k in space_run(source, 3).iter().rev() {
        for nl in newlines_at(source, k) {
            let s = k + nl;
            let limit = searched_from.unwrap_or(source.len());
            let mut e = s;
            while e <= limit.min(source.len()) {
                if let Some(body) = closing_at(source, e) {
                    return Some((&source[s..e], &source[body..]));
                }
                e += source[e..].chars().next().map_or(1, char::len_utf8);
            }
            searched_from = Some(searched_from.map_or(s, |f| f.min(s)));
        }
    }
    None
}

/// A parsed document: the template text and the frontmatter sorted as the reference does.
pub struct Document {
    pub template: String,
    /// The whole frontmatter (`raw`), or `None` without one.
    pub raw: Option<Map<String, Value>>,
    /// Reserved keys, in file order.
    pub reserved: Map<String, Value>,
    /// Extension fields: `a.b.c: v` becomes `ext["a.b"]["c"] = v`.
    pub ext: Map<String, Value>,
    /// Line (1-based) of the template's first line in the whole file.
    pub body_line: usize,
}

/// Parses the frontmatter (if any) and sorts its keys.
pub fn parse(source: &str) -> Result<Document, DotpromptError> {
    let Some((fm, body)) = split(source).filter(|(fm, _)| !fm.is_empty()) else {
        return Ok(Document {
            template: source.to_owned(),
            raw: None,
            reserved: Map::new(),
            ext: Map::new(),
            body_line: 1,
        });
    };
    let fm_start = fm.as_ptr() as usize - source.as_ptr() as usize;
    let fm_line = source[..fm_start].matches('\n').count() + 1;
    // YAML 1.2 core booleans only, as the reference's `yaml` package reads them: `yes`, `no`,
    // `on` and `off` stay strings.
    let options = serde_saphyr::options! { strict_booleans: true };
    let value: Value = serde_saphyr::from_str_with_options(fm, options).map_err(|e| {
        let text = e.to_string();
        DotpromptError::Frontmatter {
            line: fm_line,
            message: format!("the YAML does not parse: {text}"),
        }
    })?;
    let raw = match value {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(DotpromptError::Frontmatter {
                line: fm_line,
                message: format!(
                    "the frontmatter must be a YAML mapping of keys (model:, config:, input:, ...), not {}",
                    crate::schema::json_type_name(&other)
                ),
            });
        }
    };
    let mut reserved = Map::new();
    let mut ext = Map::new();
    for (key, v) in &raw {
        if RESERVED_KEYS.contains(&key.as_str()) {
            reserved.insert(key.clone(), v.clone());
        } else if let Some(dot) = key.rfind('.') {
            let entry = ext
                .entry(key[..dot].to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = entry {
                m.insert(key[dot + 1..].to_owned(), v.clone());
            }
        }
    }
    let body_start = body.as_ptr() as usize - source.as_ptr() as usize;
    let trimmed = js_trim(body);
    let lead = body.len() - body.trim_start_matches(is_js_space).len();
    let body_line = source[..body_start + lead].matches('\n').count() + 1;
    Ok(Document {
        template: trimmed.to_owned(),
        raw: Some(raw),
        reserved,
        ext,
        body_line,
    })
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_closing_line_with_trailing_spaces_ends_the_frontmatter() {
        assert_eq!(split("---\na: 1\n---  \nbody"), Some(("a: 1", "body")));
    }

    #[test]
    fn crlf_line_ends_are_accepted() {
        assert_eq!(split("---\r\na: 1\r\n---\r\nbody"), Some(("a: 1", "body")));
    }

    #[test]
    fn a_closing_line_without_a_line_break_after_it_is_not_frontmatter() {
        assert_eq!(split("---\na: 1\n---"), None);
    }

    #[test]
    fn a_never_closed_block_is_not_frontmatter_and_is_scanned_in_linear_time() {
        let text = format!("---{}", "\n".repeat(200_000));
        let t = std::time::Instant::now();
        assert_eq!(split(&text), None);
        assert!(t.elapsed().as_secs() < 2);
    }
}
