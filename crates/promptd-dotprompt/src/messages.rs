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

struct Source<'a> {
    role: String,
    segs: Vec<&'a Seg<'a>>,
    content: Option<Vec<Part>>,
    metadata: Option<Map<String, Value>>,
}

impl Source<'_> {
    fn is_blank(&self) -> bool {
        self.segs.iter().all(|s| match s {
            Seg::Text(t) => js_trim(t).is_empty(),
            Seg::Mark(_) => false,
        })
    }
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

/// The messages of a rendered text whose helpers produced `pieces`.
pub fn to_messages(text: &str, pieces: &[Piece], history: &[Message]) -> Vec<Message> {
    let segs = segments(text);
    let piece = |i: usize| pieces.get(i);
    // Level 1: role and history markers; the text between them (with part markers) is a
    // piece, dropped when it is only white space.
    let mut sources: Vec<Source<'_>> = vec![Source {
        role: "user".into(),
        segs: Vec::new(),
        content: None,
        metadata: None,
    }];
    let mut current = 0usize;
    let mut chunk: Vec<&Seg<'_>> = Vec::new();
    fn flush<'s>(chunk: &mut Vec<&'s Seg<'s>>, sources: &mut [Source<'s>], current: usize) {
        let blank = chunk.iter().all(|s| match s {
            Seg::Text(t) => js_trim(t).is_empty(),
            Seg::Mark(_) => false,
        });
        if !blank && let Some(s) = sources.get_mut(current) {
            s.segs.extend(chunk.iter().copied());
        }
        chunk.clear();
    }
    // Lifetimes: `chunk` borrows `segs`, which outlives the loop.
    let segs_ref: &Vec<Seg<'_>> = &segs;
    for seg in segs_ref {
        match seg {
            Seg::Mark(i) => match piece(*i) {
                Some(Piece::Role(role)) => {
                    flush(&mut chunk, &mut sources, current);
                    if sources[current].is_blank() {
                        sources[current].role = role.clone();
                    } else {
                        sources.push(Source {
                            role: role.clone(),
                            segs: Vec::new(),
                            content: None,
                            metadata: None,
                        });
                        current = sources.len() - 1;
                    }
                }
                Some(Piece::History) => {
                    flush(&mut chunk, &mut sources, current);
                    for m in history {
                        let h = history_metadata(m);
                        sources.push(Source {
                            role: h.role,
                            segs: Vec::new(),
                            content: Some(h.content),
                            metadata: h.metadata,
                        });
                    }
                    sources.push(Source {
                        role: "model".into(),
                        segs: Vec::new(),
                        content: None,
                        metadata: None,
                    });
                    current = sources.len() - 1;
                }
                _ => chunk.push(seg),
            },
            Seg::Text(_) => chunk.push(seg),
        }
    }
    flush(&mut chunk, &mut sources, current);
    let messages: Vec<Message> = sources
        .into_iter()
        .filter(|s| s.content.is_some() || !s.segs.is_empty())
        .map(|s| Message {
            role: s.role,
            content: s.content.unwrap_or_else(|| to_parts(&s.segs, pieces)),
            metadata: s.metadata,
        })
        .collect();
    insert_history(messages, history)
}

fn to_parts(segs: &[&Seg<'_>], pieces: &[Piece]) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
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
