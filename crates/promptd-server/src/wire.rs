//! LiteLLM's JSON shapes of a prompt: the 422 entries for `litellm_params` and `prompt_info`,
//! `PromptSpec` objects with LiteLLM's field order, `null`s and datetimes, and the redaction of
//! credentials in every answer. (Request bodies are read in `body.rs`; the shapes of keys,
//! health and model answers live next to their handlers.)

use promptd_core::time_fmt::format_ms;
use promptd_core::{Environment, PromptRecord, PromptSource};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, FieldError};

/// What secret values in `litellm_params` are replaced with in every response. Sending it back
/// unchanged in a PUT or PATCH keeps the stored secret.
pub const REDACTED: &str = "**redacted**";

fn object<'a>(
    v: &'a Value,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        other => {
            errors.push(FieldError::not_an_object(loc, other));
            None
        }
    }
}

/// Parses and normalises `litellm_params` (see [`promptd_template::definition::normalize_params`]),
/// turning its problems into 422 entries under `loc`.
pub fn parse_litellm_params(
    v: &Value,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<Map<String, Value>> {
    match promptd_template::definition::normalize_params(v) {
        Ok(m) => Some(m),
        Err(problems) => {
            for p in problems {
                let field_loc: Vec<&str> = loc.iter().copied().chain(p.field).collect();
                let mut e = FieldError::new(p.kind, &field_loc, p.msg);
                if let Some(i) = &p.input {
                    e = e.with_input(i);
                }
                errors.push(e);
            }
            None
        }
    }
}

/// Parses `prompt_info` (`prompt_type` defaults to `"db"`; `environment` to `development`).
pub fn parse_prompt_info(
    v: Option<&Value>,
    loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<Map<String, Value>> {
    let empty = Map::new();
    let m = match v {
        None | Some(Value::Null) => &empty,
        Some(v) => object(v, loc, errors)?,
    };
    let before = errors.len();
    let mut out = Map::new();
    let ptype = m.get("prompt_type").cloned().unwrap_or(Value::Null);
    match &ptype {
        Value::Null => {
            out.insert("prompt_type".into(), "db".into());
        }
        Value::String(s) if s == "db" || s == "config" => {
            out.insert("prompt_type".into(), ptype.clone());
        }
        other => {
            let l: Vec<&str> = loc.iter().copied().chain(["prompt_type"]).collect();
            errors.push(
                FieldError::new("literal_error", &l, "Input should be 'config' or 'db'")
                    .with_input(other),
            );
        }
    }
    let env = m.get("environment").cloned().unwrap_or(Value::Null);
    let l: Vec<&str> = loc.iter().copied().chain(["environment"]).collect();
    if !env.is_null() && !env.is_string() {
        errors.push(
            FieldError::new("string_type", &l, "Input should be a valid string").with_input(&env),
        );
    }
    out.insert("environment".into(), env);
    for (k, val) in m {
        if !out.contains_key(k) {
            out.insert(k.clone(), val.clone());
        }
    }
    (errors.len() == before).then_some(out)
}

/// The environment a write goes to: `prompt_info.environment` if set, else `development`.
pub fn environment_of(prompt_info: &Map<String, Value>) -> Result<Environment, ApiError> {
    match prompt_info.get("environment").and_then(Value::as_str) {
        None | Some("") => Ok(Environment::development()),
        Some(s) => Environment::parse(s)
            .map_err(|e| ApiError::bad_request(format!("prompt_info.environment: {e}"))),
    }
}

/// Words that mark a `litellm_params` key (at any depth) as holding a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "key",
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "credential",
    "credentials",
    "auth",
    "authorization",
    "private",
];

/// `litellm_params` fields that hold the template itself: content, shown as it is.
const TEMPLATE_FIELDS: &[&str] = &["dotprompt_content", "prompt_data", "prompt_file"];

/// Whether a key name looks like a credential: one of its words (split at `_`, `-`, `.`,
/// spaces and camelCase humps, compared without case) is in [`CREDENTIAL_WORDS`]. So
/// `api_key`, `db_password`, `vertex_credentials`, `accessToken` and `private_key_id` are
/// credentials; `max_tokens` and `keywords` are not.
pub fn is_secret_key(k: &str) -> bool {
    let mut word = String::new();
    let mut prev_lower = false;
    let mut found = false;
    let mut flush = |w: &mut String| {
        if !w.is_empty() {
            found |= CREDENTIAL_WORDS.contains(&w.as_str());
            w.clear();
        }
    };
    for c in k.chars() {
        if !c.is_alphanumeric() {
            flush(&mut word);
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            flush(&mut word);
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    flush(&mut word);
    found
}

/// `scheme://user:pass@host…` with the user information replaced by [`REDACTED`]; `None` when
/// the text is not a URL with user information.
fn redact_url_userinfo(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some(format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]))
}

/// The redacted form of one value: everything under a credential key becomes [`REDACTED`],
/// and URLs lose their user information, at any depth.
fn redact_value(v: &Value, under_credential_key: bool) -> Value {
    match v {
        Value::Null => Value::Null,
        _ if under_credential_key => Value::from(REDACTED),
        Value::String(s) => redact_url_userinfo(s).map_or_else(|| v.clone(), Value::from),
        Value::Array(items) => Value::Array(items.iter().map(|i| redact_value(i, false)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), redact_value(v, is_secret_key(k))))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A copy of `litellm_params` as every reader sees it: values under credential-like keys (at
/// any depth) are [`REDACTED`], and user information in URLs (`https://user:PASS@host`) is
/// replaced by it. The template fields are content and are shown as they are.
pub fn redact(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| {
            if TEMPLATE_FIELDS.contains(&k.as_str()) {
                (k.clone(), v.clone())
            } else {
                (k.clone(), redact_value(v, is_secret_key(k)))
            }
        })
        .collect()
}

/// Puts back what a client sent back redacted: wherever the new value equals the redacted form
/// of the stored value at the same place, the stored value is kept. A marker under a
/// credential key with nothing stored to restore becomes `null` (the marker is never stored as
/// a secret).
pub fn restore_secrets(params: &mut Map<String, Value>, previous: Option<&Map<String, Value>>) {
    for (k, v) in params.iter_mut() {
        if TEMPLATE_FIELDS.contains(&k.as_str()) {
            continue;
        }
        restore_value(v, previous.and_then(|p| p.get(k)), is_secret_key(k));
    }
}

fn restore_value(v: &mut Value, previous: Option<&Value>, credential_key: bool) {
    if let Some(p) = previous
        && *v != *p
        && redact_value(p, credential_key) == *v
    {
        *v = p.clone();
        return;
    }
    match v {
        Value::String(s) if credential_key && s == REDACTED => *v = Value::Null,
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let prev = previous.and_then(|p| p.get(k.as_str()));
                restore_value(child, prev, is_secret_key(k));
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                restore_value(child, previous.and_then(|p| p.get(i)), false);
            }
        }
        _ => {}
    }
}

fn ts(ms: Option<i64>) -> Value {
    ms.map(|m| Value::from(format_ms(m))).unwrap_or(Value::Null)
}

/// A `PromptSpec` with LiteLLM's field order. `id` is the base id or `base.vN` depending on
/// the endpoint, as in LiteLLM.
pub fn spec_json(rec: &PromptRecord, id: &str, version: Option<u32>) -> Value {
    let created_by = rec
        .created_by
        .clone()
        .map(Value::from)
        .unwrap_or(Value::Null);
    json!({
        "prompt_id": id,
        "litellm_params": Value::Object(redact(&rec.litellm_params.to_map())),
        "prompt_info": Value::Object(rec.prompt_info.to_map()),
        "created_at": ts(rec.created_at),
        "updated_at": ts(rec.updated_at),
        "version": version,
        "environment": rec.environment.as_str(),
        "created_by": created_by,
    })
}

/// The id and version LiteLLM shows for a record in reads (base id; config prompts are v1).
pub fn read_version(rec: &PromptRecord) -> u32 {
    match rec.source {
        PromptSource::Config => 1,
        PromptSource::Db => rec.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_params_come_out_in_declaration_order_with_defaults() {
        let mut errors = vec![];
        let p = parse_litellm_params(
            &json!({"dotprompt_content": "x", "extra": 1, "prompt_integration": "dotprompt"}),
            &["body", "litellm_params"],
            &mut errors,
        )
        .unwrap();
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "prompt_id",
                "prompt_integration",
                "api_base",
                "api_key",
                "provider_specific_query_params",
                "ignore_prompt_manager_model",
                "ignore_prompt_manager_optional_params",
                "dotprompt_content",
                "extra"
            ]
        );
    }

    #[test]
    fn secrets_are_redacted_and_restored_from_the_marker() {
        let stored: Map<String, Value> = serde_json::from_value(
            json!({"api_key": "sk-1", "gitlab_access_token": "t", "x": "y"}),
        )
        .unwrap();
        let shown = redact(&stored);
        assert_eq!(shown["api_key"], REDACTED);
        assert_eq!(shown["gitlab_access_token"], REDACTED);
        assert_eq!(shown["x"], "y");
        let mut back = shown.clone();
        restore_secrets(&mut back, Some(&stored));
        assert_eq!(back, stored);
    }

    #[test]
    fn credential_words_are_found_in_any_spelling_but_not_inside_other_words() {
        for k in [
            "api_key",
            "db_password",
            "vertex_credentials",
            "accessToken",
            "private_key_id",
            "aws_secret_access_key",
            "Authorization",
            "basic-auth",
            "passwd",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "max_tokens",
            "keywords",
            "monkey",
            "author",
            "model",
            "api_base",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn nested_credentials_and_url_passwords_are_redacted_and_restored() {
        let stored: Map<String, Value> = serde_json::from_value(json!({
            "api_base": "https://user:PASS@host.example/v1?x=1",
            "db_password": "pw",
            "vertex_credentials": {"type": "service_account", "private_key": "-----BEGIN"},
            "extra": {"nested": {"clientSecret": "s", "region": "eu"}, "list": ["postgres://a:b@db/x", 3]},
            "max_tokens": 10,
            "dotprompt_content": "User: the api_key is {{api_key}}"
        }))
        .unwrap();
        let shown = redact(&stored);
        let text = serde_json::to_string(&shown).unwrap();
        for secret in ["PASS", "\"pw\"", "BEGIN", "\"s\"", "a:b"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert_eq!(
            shown["api_base"],
            format!("https://{REDACTED}@host.example/v1?x=1")
        );
        assert_eq!(shown["vertex_credentials"], REDACTED);
        assert_eq!(shown["extra"]["nested"]["region"], "eu");
        assert_eq!(shown["max_tokens"], 10);
        assert_eq!(shown["dotprompt_content"], stored["dotprompt_content"]);
        let mut back = shown.clone();
        restore_secrets(&mut back, Some(&stored));
        assert_eq!(back, stored);
    }

    #[test]
    fn a_changed_url_or_secret_is_kept_as_sent() {
        let stored: Map<String, Value> =
            serde_json::from_value(json!({"api_base": "https://u:p@a/v1", "api_key": "old"}))
                .unwrap();
        let mut sent: Map<String, Value> =
            serde_json::from_value(json!({"api_base": "https://u:new@b/v1", "api_key": "new"}))
                .unwrap();
        let expected = sent.clone();
        restore_secrets(&mut sent, Some(&stored));
        assert_eq!(sent, expected);
    }
}
