//! Typed request bodies. Every JSON body a handler takes is a struct that implements
//! [`FromBody`]; the [`Body`] extractor reads the JSON, checks it is an object, and lets the
//! struct read its fields through [`Fields`], which records **every** field error with its path
//! before the handler runs. A handler therefore only ever sees a well-formed request, and a
//! client gets all its mistakes at once, in FastAPI's 422 shape (as LiteLLM answers).

use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::extract::{JsonBody, positive_u32};
use crate::state::AppState;

/// A request body read into `T`, or a 422 listing every field error.
pub struct Body<T>(pub T);

/// A request body type: reads its fields, recording errors in `f` (then returning `None`).
pub trait FromBody: Sized {
    /// Whether a JSON `null` body reads as `{}` (LiteLLM accepts a null body on some routes).
    const NULL_IS_EMPTY: bool = false;

    fn from_fields(f: &mut Fields<'_>) -> Option<Self>;
}

impl<T: FromBody> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        parse_body(&value).map(Body)
    }
}

/// The longest commit message a write accepts.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Reads `value` as the body `T` (also used where a body arrives by other means).
pub fn parse_body<T: FromBody>(value: &Value) -> Result<T, ApiError> {
    let empty = Map::new();
    let obj = match value {
        Value::Object(m) => m,
        Value::Null if T::NULL_IS_EMPTY => &empty,
        other => {
            return Err(ApiError::Validation(vec![FieldError::not_an_object(
                &["body"],
                other,
            )]));
        }
    };
    let mut errors = Vec::new();
    let parsed = T::from_fields(&mut Fields {
        obj,
        errors: &mut errors,
    });
    match parsed {
        Some(t) if errors.is_empty() => Ok(t),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The fields of one JSON object body, read one by one; each reader records its own error.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// The raw value of a field (absent or `null` = `None`).
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// Whether the body has this key at all (even `null`).
    pub fn has(&self, name: &str) -> bool {
        self.obj.contains_key(name)
    }

    /// The whole object.
    pub fn all(&self) -> &'a Map<String, Value> {
        self.obj
    }

    /// Records an error for field `name`.
    pub fn error(&mut self, kind: &'static str, name: &str, msg: &str, input: Option<&Value>) {
        let mut e = FieldError::new(kind, &["body", name], msg);
        if let Some(i) = input {
            e = e.with_input(i);
        }
        self.errors.push(e);
    }

    /// Lets a parser of nested objects (e.g. `wire::parse_litellm_params`) record its errors.
    pub fn errors(&mut self) -> &mut Vec<FieldError> {
        self.errors
    }

    /// A string field that must be present.
    pub fn required_str(&mut self, name: &str) -> Option<String> {
        match self.obj.get(name) {
            None => {
                self.errors.push(FieldError::missing(&["body", name]));
                None
            }
            Some(v) => self.string(name, v),
        }
    }

    /// The optional commit `message` of a write (null = absent), at most
    /// [`MAX_MESSAGE_CHARS`] characters.
    pub fn message(&mut self) -> Option<String> {
        match self.raw("message") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let m = self.string("message", v)?;
                if m.chars().count() > MAX_MESSAGE_CHARS {
                    let msg = format!(
                        "The message is longer than {MAX_MESSAGE_CHARS} characters; keep it to a short summary of the change."
                    );
                    self.error("string_too_long", "message", &msg, None);
                    return None;
                }
                Some(m)
            }
        }
    }

    /// An optional string field.
    pub fn str(&mut self, name: &str) -> Option<String> {
        let v = self.raw(name)?;
        self.string(name, v)
    }

    fn string(&mut self, name: &str, v: &Value) -> Option<String> {
        if let Value::String(s) = v {
            return Some(s.clone());
        }
        self.error(
            "string_type",
            name,
            "Input should be a valid string",
            Some(v),
        );
        None
    }

    /// An optional object field (`{}` when absent).
    pub fn object(&mut self, name: &str) -> Map<String, Value> {
        match self.raw(name) {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                self.error(
                    "dict_type",
                    name,
                    "Input should be a valid dictionary",
                    Some(other),
                );
                Map::new()
            }
        }
    }

    /// An optional list field (`[]` when absent).
    pub fn list(&mut self, name: &str) -> Vec<Value> {
        match self.raw(name) {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                self.error(
                    "list_type",
                    name,
                    "Input should be a valid list",
                    Some(other),
                );
                Vec::new()
            }
        }
    }

    /// An optional list of strings (`[]` when absent).
    pub fn str_list(&mut self, name: &str) -> Vec<String> {
        let items = self.list(name);
        let strings: Vec<String> = items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if strings.len() != items.len() {
            self.error(
                "string_type",
                name,
                "Input should be a list of strings",
                self.raw(name),
            );
        }
        strings
    }

    /// An optional positive integer that fits a version number, read as pydantic reads an
    /// `int` (a whole float such as `2.0` counts); with `text_ok`, a string of digits is accepted
    /// too (as LiteLLM's `prompt_version`).
    pub fn version(&mut self, name: &str, text_ok: bool) -> Option<u32> {
        let v = self.raw(name)?;
        let n = positive_u32(v, text_ok);
        if n.is_none() {
            self.error(
                "int_type",
                name,
                "Input should be a positive integer",
                Some(v),
            );
        }
        n
    }

    /// An optional boolean field.
    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.raw(name)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.error(
                    "bool_type",
                    name,
                    "Input should be a valid boolean",
                    Some(other),
                );
                None
            }
        }
    }
}
