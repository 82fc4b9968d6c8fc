//! Picoschema → JSON Schema, as the JavaScript reference's `PicoschemaParser` converts it, and
//! the check of input variables against the resulting schema (type errors named by field).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::DotpromptError;

const SCALAR_TYPES: &[&str] = &["any", "boolean", "integer", "null", "number", "string"];
const WILDCARD: &str = "(*)";

/// Looks up a named schema (`schema: Foo`): the caller's registry, then its resolver.
pub type SchemaLookup<'a> = dyn Fn(&str) -> Option<Value> + 'a;

/// `"type, description"` → `(type, Some(description))`; the first comma splits.
fn extract_description(input: &str) -> (&str, Option<&str>) {
    match input.split_once(',') {
        None => (input, None),
        Some((t, d)) => (t, Some(d.trim_start_matches(' '))),
    }
}

fn resolve(name: &str, lookup: &SchemaLookup<'_>, field: &str) -> Result<Value, DotpromptError> {
    lookup(name).ok_or_else(|| DotpromptError::Schema {
        field: field.to_owned(),
        message: format!(
            "'{name}' is neither a Picoschema type ({}) nor a known named schema; use one of those types or register a schema named '{name}'",
            SCALAR_TYPES.join(", ")
        ),
    })
}

fn with_description(mut v: Value, description: Option<&str>) -> Value {
    if let (Some(d), Value::Object(m)) = (description, &mut v) {
        m.insert("description".into(), Value::String(d.to_owned()));
    }
    v
}

/// Converts `input.schema` / `output.schema` (Picoschema or JSON Schema) to JSON Schema.
/// `field` names the schema in errors (`input.schema`).
pub fn to_json_schema(
    schema: &Value,
    lookup: &SchemaLookup<'_>,
    field: &str,
) -> Result<Value, DotpromptError> {
    match schema {
        Value::Null | Value::Bool(false) => Ok(Value::Null),
        Value::String(s) if s.is_empty() => Ok(Value::Null),
        Value::String(s) => {
            let (ty, description) = extract_description(s);
            if SCALAR_TYPES.contains(&ty) {
                let mut m = Map::new();
                m.insert("type".into(), Value::String(ty.to_owned()));
                return Ok(with_description(Value::Object(m), description));
            }
            Ok(with_description(resolve(ty, lookup, field)?, description))
        }
        Value::Object(m) => {
            let declared = m.get("type").and_then(Value::as_str);
            if declared.is_some_and(|t| SCALAR_TYPES.contains(&t) || t == "object" || t == "array")
            {
                return Ok(schema.clone());
            }
            if m.get("properties").is_some_and(Value::is_object) {
                let mut out = m.clone();
                out.insert("type".into(), Value::String("object".into()));
                return Ok(Value::Object(out));
            }
            pico(schema, lookup, field)
        }
        other => pico(other, lookup, field),
    }
}

fn pico(obj: &Value, lookup: &SchemaLookup<'_>, path: &str) -> Result<Value, DotpromptError> {
    let m = match obj {
        Value::String(s) => {
            let (ty, description) = extract_description(s);
            if !SCALAR_TYPES.contains(&ty) {
                return Ok(with_description(resolve(ty, lookup, path)?, description));
            }
            let mut out = Map::new();
            if ty != "any" {
                out.insert("type".into(), Value::String(ty.to_owned()));
            }
            return Ok(with_description(Value::Object(out), description));
        }
        Value::Object(m) => m,
        other => {
            return Err(DotpromptError::Schema {
                field: path.to_owned(),
                message: format!(
                    "Picoschema is made of mappings and type strings, not {}: write `name: string` or `name(array): string`",
                    json_type_name(other)
                ),
            });
        }
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut additional = Value::Bool(false);
    for (key, value) in m {
        let sub = format!("{path}.{key}");
        if key == WILDCARD {
            additional = pico(value, lookup, &sub)?;
            continue;
        }
        let (name, type_info) = match key.split_once('(') {
            Some((n, t)) => (n, Some(t)),
            None => (key.as_str(), None),
        };
        let optional = name.ends_with('?');
        let prop_name = name.strip_suffix('?').unwrap_or(name).to_owned();
        if !optional {
            required.push(Value::String(prop_name.clone()));
        }
        let Some(type_info) = type_info else {
            let mut prop = pico(value, lookup, &sub)?;
            if let (true, Value::Object(p)) = (optional, &mut prop)
                && let Some(Value::String(t)) = p.get("type").cloned()
            {
                p.insert("type".into(), serde_json::json!([t, "null"]));
            }
            properties.insert(prop_name, prop);
            continue;
        };
        let inner = type_info.strip_suffix(')').unwrap_or(type_info);
        let (ty, description) = extract_description(inner);
        let mut prop = match ty {
            "array" => {
                let mut p = Map::new();
                p.insert(
                    "type".into(),
                    if optional {
                        serde_json::json!(["array", "null"])
                    } else {
                        Value::String("array".into())
                    },
                );
                p.insert("items".into(), pico(value, lookup, &sub)?);
                Value::Object(p)
            }
            "object" => {
                let mut p = pico(value, lookup, &sub)?;
                if optional && let Value::Object(pm) = &mut p {
                    let t = pm.get("type").cloned().unwrap_or(Value::Null);
                    pm.insert("type".into(), Value::Array(vec![t, "null".into()]));
                }
                p
            }
            "enum" => {
                let Value::Array(items) = value else {
                    return Err(DotpromptError::Schema {
                        field: sub,
                        message: "an (enum) field lists its values: `color(enum): [RED, GREEN]`"
                            .into(),
                    });
                };
                let mut items = items.clone();
                if optional && !items.contains(&Value::Null) {
                    items.push(Value::Null);
                }
                let mut p = Map::new();
                p.insert("enum".into(), Value::Array(items));
                Value::Object(p)
            }
            other => {
                return Err(DotpromptError::Schema {
                    field: sub,
                    message: format!(
                        "parenthetical types must be 'object', 'array' or 'enum', got '{other}'"
                    ),
                });
            }
        };
        if let (Some(d), Value::Object(p)) = (description, &mut prop) {
            p.insert("description".into(), Value::String(d.to_owned()));
        }
        properties.insert(prop_name, prop);
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::String("object".into()));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out.insert("additionalProperties".into(), additional);
    Ok(Value::Object(out))
}

/// The JSON Schema name of a value's type.
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn matches_type(ty: &str, v: &Value) -> bool {
    match ty {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

/// Checks `data` against a JSON Schema, for the keywords Picoschema produces (`type`,
/// `properties`, `required`, `items`, `enum`, a schema in `additionalProperties`). Missing
/// required fields are reported all at once, then the first mismatch, named by its path.
pub fn check(schema: &Value, data: &Value) -> Result<(), DotpromptError> {
    Checker::new(schema).check(Data::Value(data))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Where a value sits in the input, spelled only when an error names it.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn spell(&self) -> String {
        match self {
            At::Root => String::new(),
            At::Key(parent, k) => join(&parent.spell(), k),
            At::Index(parent, i) => {
                let p = parent.spell();
                format!("{}[{i}]", if p.is_empty() { "input" } else { &p })
            }
        }
    }
}

/// A JSON Schema read once into the keywords [`check`] uses, so a check looks nothing up by
/// name (a prompt keeps the checker of its `input.schema`).
#[derive(Debug, Clone)]
pub struct Checker {
    /// False when the schema is not an object: nothing is checked.
    object: bool,
    types: Types,
    enumeration: Option<Vec<Value>>,
    required: Vec<String>,
    properties: Option<Properties>,
    /// `additionalProperties` when it is a schema (an object).
    additional: Option<Box<Checker>>,
    items: Option<Box<Checker>>,
    /// Set when the schema is only a type (`name: string`): checked without a call.
    leaf: Option<TyKind>,
}

#[derive(Debug, Clone)]
enum Types {
    /// No `type`, or one that is neither a string nor an array: anything goes.
    Any,
    One(Ty),
    /// A list of names; a list with no string in it accepts anything.
    Many(Vec<Ty>),
}

/// A `type` name, read once ([`matches_type`] on its name).
#[derive(Debug, Clone)]
struct Ty {
    name: String,
    kind: TyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TyKind {
    Null,
    Boolean,
    String,
    Array,
    Object,
    Number,
    Integer,
    /// Any other name: not checked.
    Other,
}

impl Ty {
    fn new(name: &str) -> Ty {
        let kind = match name {
            "null" => TyKind::Null,
            "boolean" => TyKind::Boolean,
            "string" => TyKind::String,
            "array" => TyKind::Array,
            "object" => TyKind::Object,
            "number" => TyKind::Number,
            "integer" => TyKind::Integer,
            _ => TyKind::Other,
        };
        Ty {
            name: name.to_owned(),
            kind,
        }
    }

    fn kind_matches(kind: TyKind, v: &Value) -> bool {
        match kind {
            TyKind::Other => true,
            TyKind::Null => v.is_null(),
            TyKind::Boolean => v.is_boolean(),
            TyKind::String => v.is_string(),
            TyKind::Array => v.is_array(),
            TyKind::Object => v.is_object(),
            TyKind::Number => v.is_number(),
            TyKind::Integer => matches_type("integer", v),
        }
    }

    /// [`matches_type`] for this name; `None` stands for the render's variables (an object).
    fn matches(&self, v: Option<&Value>) -> bool {
        match v {
            Some(v) => Ty::kind_matches(self.kind, v),
            None => matches!(self.kind, TyKind::Object | TyKind::Other),
        }
    }
}

/// `properties` in schema order, with an index by name when there are many.
#[derive(Debug, Clone)]
struct Properties {
    list: Vec<(String, Checker)>,
    index: Option<std::collections::HashMap<String, usize>>,
}

impl Properties {
    fn get(&self, key: &str) -> Option<&Checker> {
        match &self.index {
            Some(ix) => ix.get(key).map(|i| &self.list[*i].1),
            None => self.list.iter().find(|(k, _)| k == key).map(|(_, c)| c),
        }
    }
}

/// The data a check walks: a JSON value, or the render's variables over `input.default`
/// (read without merging them).
#[derive(Clone, Copy)]
pub enum Data<'v> {
    Value(&'v Value),
    Vars {
        input: &'v Map<String, Value>,
        defaults: Option<&'v Map<String, Value>>,
    },
}

impl<'v> Data<'v> {
    fn get(&self, key: &str) -> Option<&'v Value> {
        match self {
            Data::Value(Value::Object(m)) => crate::get_key(m, key),
            Data::Value(_) => None,
            Data::Vars { input, defaults } => {
                crate::get_key(input, key).or_else(|| defaults.and_then(|d| crate::get_key(d, key)))
            }
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, Data::Value(Value::Object(_)) | Data::Vars { .. })
    }

    /// The entries in the order a merge of the variables over the defaults has.
    fn for_each_entry(
        &self,
        mut f: impl FnMut(&'v str, &'v Value) -> Result<(), DotpromptError>,
    ) -> Result<(), DotpromptError> {
        match *self {
            Data::Value(Value::Object(m)) => m.iter().try_for_each(|(k, v)| f(k, v)),
            Data::Value(_) => Ok(()),
            Data::Vars { input, defaults } => {
                if let Some(d) = defaults {
                    for (k, dv) in d {
                        f(k, crate::get_key(input, k).unwrap_or(dv))?;
                    }
                    input
                        .iter()
                        .filter(|(k, _)| crate::get_key(d, k).is_none())
                        .try_for_each(|(k, v)| f(k, v))
                } else {
                    input.iter().try_for_each(|(k, v)| f(k, v))
                }
            }
        }
    }

    /// As one JSON value (the variables merged), for the rare keyword that needs it.
    fn to_value(self) -> Cow<'v, Value> {
        match self {
            Data::Value(v) => Cow::Borrowed(v),
            Data::Vars { input, defaults } => {
                let mut m = defaults.cloned().unwrap_or_default();
                for (k, v) in input {
                    m.insert(k.clone(), v.clone());
                }
                Cow::Owned(Value::Object(m))
            }
        }
    }
}

impl Checker {
    /// Reads `schema` (any JSON value; only an object constrains anything).
    pub fn new(schema: &Value) -> Checker {
        let Some(s) = schema.as_object() else {
            return Checker {
                object: false,
                types: Types::Any,
                enumeration: None,
                required: Vec::new(),
                properties: None,
                additional: None,
                items: None,
                leaf: None,
            };
        };
        let types = match s.get("type") {
            Some(Value::String(t)) => Types::One(Ty::new(t)),
            Some(Value::Array(ts)) => {
                Types::Many(ts.iter().filter_map(Value::as_str).map(Ty::new).collect())
            }
            _ => Types::Any,
        };
        let required = match s.get("required") {
            Some(Value::Array(r)) => r
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let properties = s.get("properties").and_then(Value::as_object).map(|p| {
            let list: Vec<(String, Checker)> = p
                .iter()
                .map(|(k, v)| (k.clone(), Checker::new(v)))
                .collect();
            let index = (list.len() > 8).then(|| {
                list.iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect()
            });
            Properties { list, index }
        });
        let enumeration = match s.get("enum") {
            Some(Value::Array(a)) => Some(a.clone()),
            _ => None,
        };
        let leaf = match &types {
            Types::One(t)
                if enumeration.is_none()
                    && required.is_empty()
                    && properties.is_none()
                    && !s.contains_key("items")
                    && !matches!(s.get("additionalProperties"), Some(Value::Object(_))) =>
            {
                Some(t.kind)
            }
            _ => None,
        };
        Checker {
            leaf,
            object: true,
            types,
            enumeration: match s.get("enum") {
                Some(Value::Array(a)) => Some(a.clone()),
                _ => None,
            },
            required,
            properties,
            additional: match s.get("additionalProperties") {
                Some(extra @ Value::Object(_)) => Some(Box::new(Checker::new(extra))),
                _ => None,
            },
            items: s.get("items").map(|i| Box::new(Checker::new(i))),
        }
    }

    /// [`check`] with this schema.
    pub fn check(&self, data: Data<'_>) -> Result<(), DotpromptError> {
        let mut missing = Vec::new();
        self.required_missing(data, &At::Root, &mut missing);
        if !missing.is_empty() {
            return Err(DotpromptError::MissingVariables { names: missing });
        }
        self.check_at(data, &At::Root, 0)
    }

    fn required_missing(&self, data: Data<'_>, at: &At<'_>, out: &mut Vec<String>) {
        if !self.object || !data.is_object() {
            return;
        }
        for name in &self.required {
            if data.get(name).is_none() {
                out.push(join(&at.spell(), name));
            }
        }
        if let Some(props) = &self.properties {
            for (k, sub) in &props.list {
                if let Some(v) = data.get(k)
                    && sub.object
                    && v.is_object()
                {
                    sub.required_missing(Data::Value(v), &At::Key(at, k), out);
                }
            }
        }
    }

    fn check_at(&self, data: Data<'_>, at: &At<'_>, depth: usize) -> Result<(), DotpromptError> {
        if !self.object || depth > 64 {
            return Ok(());
        }
        let field = || {
            let p = at.spell();
            if p.is_empty() { "input".to_owned() } else { p }
        };
        let value = match data {
            Data::Value(v) => Some(v),
            Data::Vars { .. } => None,
        };
        let ok = match &self.types {
            Types::Any => true,
            Types::One(t) => t.matches(value),
            Types::Many(ts) => ts.is_empty() || ts.iter().any(|t| t.matches(value)),
        };
        if !ok {
            let expected = match &self.types {
                Types::One(t) => t.name.clone(),
                Types::Many(ts) => ts
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                Types::Any => String::new(),
            };
            let got = match data {
                Data::Value(v) => json_type_name(v),
                Data::Vars { .. } => "object",
            };
            return Err(DotpromptError::VariableType {
                name: field(),
                expected,
                got: got.to_owned(),
            });
        }
        if let Some(allowed) = &self.enumeration {
            let value = data.to_value();
            if !allowed.contains(&value) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(DotpromptError::VariableType {
                    name: field(),
                    expected: format!("one of {}", list.join(", ")),
                    got: value.to_string(),
                });
            }
        }
        match data {
            Data::Value(Value::Array(items)) => {
                if let Some(item) = &self.items {
                    for (i, v) in items.iter().enumerate() {
                        item.check_at(Data::Value(v), &At::Index(at, i), depth + 1)?;
                    }
                }
                Ok(())
            }
            d if d.is_object() => {
                d.for_each_entry(
                    |k, v| match self.properties.as_ref().and_then(|p| p.get(k)) {
                        // A plain type is checked here; the call only words an error.
                        Some(sub) if sub.leaf.is_some_and(|t| Ty::kind_matches(t, v)) => Ok(()),
                        Some(sub) => sub.check_at(Data::Value(v), &At::Key(at, k), depth + 1),
                        None => match &self.additional {
                            Some(extra) => {
                                extra.check_at(Data::Value(v), &At::Key(at, k), depth + 1)
                            }
                            None => Ok(()),
                        },
                    },
                )
            }
            _ => Ok(()),
        }
    }
}
