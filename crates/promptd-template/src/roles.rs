//! Splitting rendered text into chat messages at role lines (`System:`, `User:`, …).
//!
//! A role marker counts only where it comes from the template itself: text printed by
//! `{{ … }}` is wrapped in private markers while rendering, and a marker inside such text is
//! plain content. So a variable can never start a new message.

use crate::{CLOSE, Message, OPEN, Role};

const MARKERS: [(&str, Role); 5] = [
    ("System:", Role::System),
    ("User:", Role::User),
    ("Assistant:", Role::Assistant),
    ("Developer:", Role::Developer),
    ("Tool:", Role::Tool),
];

/// The role a line starts, and the rest of the line, if the line (outside printed values)
/// begins with a marker.
fn marker(line: &str, inside_value: bool) -> Option<(Role, &str)> {
    if inside_value {
        return None;
    }
    let trimmed = line.trim_start_matches([' ', '\t']);
    MARKERS
        .iter()
        .find(|(m, _)| trimmed.starts_with(m))
        .map(|(m, role)| (*role, trimmed[m.len()..].trim_start_matches([' ', '\t'])))
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| *c != OPEN && *c != CLOSE).collect()
}

/// Trims blank lines at both ends and trailing whitespace, keeping indentation inside.
fn tidy(lines: &[String]) -> String {
    let joined = lines.join("\n");
    let trimmed_end = joined.trim_end();
    let mut start = 0;
    for (i, c) in trimmed_end.char_indices() {
        if c == '\n' {
            start = i + 1;
        } else if !c.is_whitespace() {
            break;
        }
    }
    trimmed_end[start.min(trimmed_end.len())..].to_owned()
}

/// Splits rendered text (with value markers) into messages, following LiteLLM's rules for
/// text before the first marker (a user message) and empty messages (kept in the middle,
/// dropped at the end).
pub(crate) fn split(rendered: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut current: Option<(Role, Vec<String>)> = None;
    let mut depth = 0usize;
    for line in rendered.split('\n') {
        let inside = depth > 0;
        for c in line.chars() {
            match c {
                OPEN => depth += 1,
                CLOSE => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        match marker(line, inside) {
            Some((role, rest)) => {
                if let Some((r, buf)) = current.take() {
                    messages.push(Message {
                        role: r,
                        content: tidy(&buf),
                    });
                }
                current = Some((role, vec![clean(rest)]));
            }
            None => match &mut current {
                Some((_, buf)) => buf.push(clean(line)),
                None => {
                    if !clean(line).trim().is_empty() {
                        current = Some((Role::User, vec![clean(line)]));
                    }
                }
            },
        }
    }
    if let Some((r, buf)) = current {
        let content = tidy(&buf);
        if !content.is_empty() {
            messages.push(Message { role: r, content });
        }
    }
    messages
}
