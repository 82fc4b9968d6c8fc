//! Highlighting of `.prompt` text for display: frontmatter, role lines (`System:`, `User:`, …),
//! `{{ variables }}` and `{% tags %}` become typed segments. The HTML is produced by the page
//! templates, which escape every segment's text, so a template can never inject markup.

use serde::Serialize;

/// One run of text with what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// `text`, `role`, `var`, `tag` or `meta` (a frontmatter line).
    pub kind: &'static str,
    pub text: String,
}

const ROLES: [&str; 5] = ["System:", "User:", "Assistant:", "Developer:", "Tool:"];

/// The lines of `text`, each split into segments.
pub fn highlight(text: &str) -> Vec<Vec<Segment>> {
    let mut out = Vec::new();
    let mut in_frontmatter = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" && (i == 0 || in_frontmatter) {
            in_frontmatter = i == 0;
            out.push(vec![seg("meta", line)]);
            continue;
        }
        if in_frontmatter {
            out.push(vec![seg("meta", line)]);
            continue;
        }
        let mut segs = Vec::new();
        let mut rest = line;
        if let Some(role) = ROLES.iter().find(|r| line.starts_with(**r)) {
            segs.push(seg("role", role));
            rest = &line[role.len()..];
        }
        split_tags(rest, &mut segs);
        out.push(segs);
    }
    out
}

fn seg(kind: &'static str, text: &str) -> Segment {
    Segment {
        kind,
        text: text.to_owned(),
    }
}

/// Splits `s` at `{{ … }}` and `{% … %}` (an unclosed one runs to the end of the line).
fn split_tags(mut s: &str, out: &mut Vec<Segment>) {
    while !s.is_empty() {
        let next = [
            ("{{", "}}", "var"),
            ("{%", "%}", "tag"),
            ("{#", "#}", "tag"),
        ]
        .iter()
        .filter_map(|(open, close, kind)| s.find(open).map(|p| (p, *open, *close, *kind)))
        .min_by_key(|(p, ..)| *p);
        let Some((start, _open, close, kind)) = next else {
            out.push(seg("text", s));
            return;
        };
        if start > 0 {
            out.push(seg("text", &s[..start]));
        }
        let after = &s[start + 2..];
        let end = after.find(close).map_or(s.len(), |e| start + 2 + e + 2);
        out.push(seg(kind, &s[start..end]));
        s = &s[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &[Segment]) -> Vec<(&str, &str)> {
        line.iter().map(|s| (s.kind, s.text.as_str())).collect()
    }

    #[test]
    fn role_lines_variables_and_frontmatter_are_told_apart() {
        let lines =
            highlight("---\nmodel: gpt-4o\n---\nUser: Hi {{ name }}, {% if x %}yes{% endif %}");
        assert_eq!(kinds(&lines[0]), [("meta", "---")]);
        assert_eq!(kinds(&lines[1]), [("meta", "model: gpt-4o")]);
        assert_eq!(kinds(&lines[2]), [("meta", "---")]);
        assert_eq!(
            kinds(&lines[3]),
            [
                ("role", "User:"),
                ("text", " Hi "),
                ("var", "{{ name }}"),
                ("text", ", "),
                ("tag", "{% if x %}"),
                ("text", "yes"),
                ("tag", "{% endif %}"),
            ]
        );
    }

    #[test]
    fn an_unclosed_tag_runs_to_the_end_of_its_line_and_markup_stays_text() {
        let lines = highlight("<b>{{ x");
        assert_eq!(kinds(&lines[0]), [("text", "<b>"), ("var", "{{ x")]);
    }
}
