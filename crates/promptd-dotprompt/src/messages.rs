//! Rendered text → messages of parts, as the reference's `toMessages`: role and history markers
//! split messages, media and section markers split parts, white-space-only pieces are dropped,
//! and history goes where `{{history}}` is (or before the last user message).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::frontmatter::js_trim;
use crate::helpers::{MARK_END, MARK_START, Piece, nonce};

/// A media part's target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    #[serde(
        rename = "contentType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub content_type: Option<String>,
}

/// One part of a message: `{"text"}`, `{"media"}`, `{"metadata"}` (a pending section), or
/// anything else a history message carried (kept as is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Part {
    Text { text: String },
    Media { media: Media },
    Metadata { metadata: Map<String, Value> },
    Other(Map<String, Value>),
}

/// A Dotprompt message: `role` is `user`, `model`, `system` or `tool` (whatever `{{role}}` named).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: Vec<Part>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Map<String, Value>>,
}

enum Seg<'a> {
    Text(&'a str),
    Mark(usize),
}

/// Cuts the text at internal markers; anything that only looks like one is text.
fn segments(text: &str) -> Vec<Seg<'_>> {
    let nonce = nonce();
    let mut out = Vec::new();
    let mut rest = text;
    let mut text_start = 0usize;
    let mut pos = 0usize;
    while let Some(i) = rest.find(MARK_START) {
        let at = pos + i;
        let after = &text[at + MARK_START.len_utf8()..];
        let parsed = after
            .strip_prefix(nonce)
            .and_then(|a| a.strip_prefix(':'))
            .and_then(|a| {
                let end = a.find(MARK_END)?;
                let idx: usize = a[..end].parse().ok()?;
                Some((idx, a.len() - (end + MARK_END.len_utf8())))
            });
        match parsed {
            Some((idx, remaining)) => {
                if at > text_start {
                    out.push(Seg::Text(&text[text_start..at]));
                }
                out.push(Seg::Mark(idx));
                pos = text.len() - remaining;
                text_start = pos;
            }
            None => pos = at + MARK_START.len_utf8(),
        }
        rest = &text[pos..];
    }
    if text_start < text.len() {
        out.push(Seg::Text(&text[text_start..]));
    }
    out
}

fn history_metadata(m: &Message) -> Message {
    let mut meta = m.metadata.clone().unwrap_or_default();
    meta.insert("purpose".into(), Value::String("history".into()));
    Message {
        role: m.role.clone(),
        content: m.content.clone(),
        metadata: Some(meta),
    }
}

/// The messages of a rendered text whose helpers produced `pieces` (their internal markers
/// are in the text).
pub fn to_messages(text: &str, pieces: &[Piece<'_>], history: &[Message]) -> Vec<Message> {
    build(&segments(text), pieces, history)
}

/// The messages of a text with no markers in it, whose piece `i` sits at byte `offsets[i]`
/// (what the compiled renderer produces): the same segments [`segments`] finds in the marked
/// text.
pub fn to_messages_at(
    text: &str,
    offsets: &[usize],
    pieces: &[Piece<'_>],
    history: &[Message],
) -> Vec<Message> {
    let mut segs = Vec::with_capacity(offsets.len() * 2 + 1);
    let mut last = 0;
    for (i, &at) in offsets.iter().enumerate() {
        if at > last {
            segs.push(Seg::Text(&text[last..at]));
        }
        segs.push(Seg::Mark(i));
        last = at;
    }
    if last < text.len() {
        segs.push(Seg::Text(&text[last..]));
    }
    build(&segs, pieces, history)
}

/// Messages from segments. A role or history marker ends the text before it (dropped when it
/// is only white space, or there is none); that text is a message of the role named last
/// (`user` at first, `model` after history), split into parts at media and section markers.
fn build(segs: &[Seg<'_>], pieces: &[Piece<'_>], history: &[Message]) -> Vec<Message> {
    let mut messages = Vec::with_capacity(pieces.len() + 1);
    let mut role: &str = "user";
    let mut start = 0;
    let emit = |messages: &mut Vec<Message>, role: &str, chunk: &[Seg<'_>]| {
        let blank = chunk.iter().all(|s| match s {
            Seg::Text(t) => js_trim(t).is_empty(),
            Seg::Mark(_) => false,
        });
        if !blank {
            messages.push(Message {
                role: role.to_owned(),
                content: to_parts(chunk, pieces),
                metadata: None,
            });
        }
    };
    for (i, seg) in segs.iter().enumerate() {
        let Seg::Mark(m) = seg else { continue };
        match pieces.get(*m) {
            Some(Piece::Role(r)) => {
                emit(&mut messages, role, &segs[start..i]);
                role = r.as_ref();
                start = i + 1;
            }
            Some(Piece::History) => {
                emit(&mut messages, role, &segs[start..i]);
                messages.extend(history.iter().map(history_metadata));
                role = "model";
                start = i + 1;
            }
            _ => {}
        }
    }
    emit(&mut messages, role, &segs[start..]);
    insert_history(messages, history)
}

fn to_parts(segs: &[Seg<'_>], pieces: &[Piece<'_>]) -> Vec<Part> {
    let mut parts = Vec::with_capacity(1);
    let mut text = String::with_capacity(
        segs.iter()
            .map(|s| match s {
                Seg::Text(t) => t.len(),
                Seg::Mark(_) => 0,
            })
            .sum(),
    );
    let flush = |text: &mut String, parts: &mut Vec<Part>| {
        if !js_trim(text).is_empty() {
            parts.push(Part::Text {
                text: std::mem::take(text),
            });
        }
        text.clear();
    };
    for seg in segs {
        match seg {
            Seg::Text(t) => text.push_str(t),
            Seg::Mark(i) => match pieces.get(*i) {
                Some(Piece::Media { url, content_type }) => {
                    flush(&mut text, &mut parts);
                    parts.push(Part::Media {
                        media: Media {
                            url: url.clone(),
                            content_type: content_type.clone(),
                        },
                    });
                }
                Some(Piece::Section(name)) => {
                    flush(&mut text, &mut parts);
                    let mut m = Map::new();
                    m.insert("purpose".into(), Value::String(name.clone()));
                    m.insert("pending".into(), Value::Bool(true));
                    parts.push(Part::Metadata { metadata: m });
                }
                // Role and history markers were consumed by the first level.
                _ => {}
            },
        }
    }
    flush(&mut text, &mut parts);
    parts
}

fn insert_history(messages: Vec<Message>, history: &[Message]) -> Vec<Message> {
    let has = messages.iter().any(|m| {
        m.metadata
            .as_ref()
            .and_then(|md| md.get("purpose"))
            .and_then(Value::as_str)
            == Some("history")
    });
    if has || history.is_empty() {
        return messages;
    }
    if messages.is_empty() {
        return history.to_vec();
    }
    let mut messages = messages;
    if messages.last().is_some_and(|m| m.role == "user") {
        let last = messages.pop();
        messages.extend(history.iter().cloned());
        messages.extend(last);
        messages
    } else {
        messages.extend(history.iter().cloned());
        messages
    }
}
