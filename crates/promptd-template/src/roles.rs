//! Splitting rendered text into chat messages at role lines (`System:`, `User:`, …).
//!
//! **Injection safety:** a role marker counts only where both the marker and the line break
//! before it were written by the template itself (literal text, also inside `{% if %}` or
//! `{% for %}`). minijinja reports which output bytes came from template text and which from
//! `{{ … }}`; anything printed by an expression, whatever its value, is plain content. So a
//! variable can never start a new message.

use std::ops::Range;

use minijinja::{OutputSpan, OutputSpanKind};

use crate::{Message, Role};

const MARKERS: [(&str, Role); 5] = [
    ("System:", Role::System),
    ("User:", Role::User),
    ("Assistant:", Role::Assistant),
    ("Developer:", Role::Developer),
    ("Tool:", Role::Tool),
];

/// The output ranges written verbatim from the template source, sorted and merged.
pub(crate) struct Provenance {
    raw: Vec<Range<usize>>,
}

impl Provenance {
    pub(crate) fn from_spans(spans: &[OutputSpan]) -> Provenance {
        let mut raw: Vec<Range<usize>> = Vec::with_capacity(spans.len());
        for span in spans.iter().filter(|s| s.kind() == OutputSpanKind::Raw) {
            let r = span.output_range();
            match raw.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => raw.push(r),
            }
        }
        // Spans come in output order; sorting is a cheap guard for the binary search.
        raw.sort_by_key(|r| r.start);
        Provenance { raw }
    }

    /// True when every byte of `r` was written from the template source.
    fn is_raw(&self, r: Range<usize>) -> bool {
        let i = self.raw.partition_point(|x| x.end <= r.start);
        self.raw
            .get(i)
            .is_some_and(|x| x.start <= r.start && r.end <= x.end)
    }
}

/// The role a line starts, if it does: the marker must come from the template and sit at the
/// start of a line whose line break also came from the template (or at the very start).
/// Returns the role and the byte offset just after the marker.
fn marker_at(line_start: usize, line: &str, prov: &Provenance) -> Option<(Role, usize)> {
    let rest = line.trim_start();
    // Cheap rejection first: most lines start with none of the markers' letters.
    if !matches!(
        rest.as_bytes().first(),
        Some(b'S' | b'U' | b'A' | b'D' | b'T')
    ) {
        return None;
    }
    if line_start > 0 && !prov.is_raw(line_start - 1..line_start) {
        return None;
    }
    let at = line_start + (line.len() - rest.len());
    MARKERS.iter().find_map(|(m, role)| {
        (rest.starts_with(m) && prov.is_raw(at..at + m.len())).then_some((*role, at + m.len()))
    })
}

fn is_blank(s: &str) -> bool {
    match s.bytes().position(|b| !b.is_ascii_whitespace()) {
        None => true,
        // Rare: a non-ASCII character, which may still be Unicode whitespace.
        Some(i) => s.as_bytes()[i] >= 0x80 && s[i..].trim().is_empty(),
    }
}

/// A message's text: the rest of the marker's line without its leading whitespace, then the
/// following lines as they are; leading blank lines and all trailing whitespace removed.
fn tidy(s: &str, after_marker: bool) -> String {
    let mut i = 0usize;
    let mut line_start = 0usize;
    // Skip whitespace, remembering where the last skipped line break ended: the first line
    // with text keeps its indentation unless it is the marker's own line.
    while let Some(c) = s[i..].chars().next() {
        if c == '\n' {
            line_start = i + 1;
        } else if !c.is_whitespace() {
            break;
        }
        i += c.len_utf8();
    }
    let start = if after_marker && line_start == 0 {
        i
    } else {
        line_start
    };
    s[start..].trim_end().to_owned()
}

/// Splits rendered text into messages, following LiteLLM's rules for text before the first
/// marker (a user message) and for empty messages (kept in the middle, dropped at the end).
pub(crate) fn split(text: &str, prov: &Provenance) -> Vec<Message> {
    let mut messages = Vec::new();
    // The open message: its role, where its text starts, and whether that is just after a marker.
    let mut current: Option<(Role, usize, bool)> = None;
    let bytes = text.as_bytes();
    let mut line_start = 0usize;
    loop {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..line_end];
        match marker_at(line_start, line, prov) {
            Some((role, content_start)) => {
                if let Some((r, start, m)) = current.take() {
                    messages.push(Message {
                        role: r,
                        content: tidy(&text[start..line_start], m),
                        parts: None,
                    });
                }
                current = Some((role, content_start, true));
            }
            None => {
                if current.is_none() && !is_blank(line) {
                    current = Some((Role::User, line_start, false));
                }
            }
        }
        if line_end == text.len() {
            break;
        }
        line_start = line_end + 1;
    }
    if let Some((r, start, m)) = current {
        let content = tidy(&text[start..], m);
        if !content.is_empty() {
            messages.push(Message {
                role: r,
                content,
                parts: None,
            });
        }
    }
    if messages.is_empty() && !is_blank(text) {
        messages.push(Message {
            role: Role::User,
            content: tidy(text, false),
            parts: None,
        });
    }
    messages
}
