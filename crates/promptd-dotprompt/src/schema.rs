//! Picoschema → JSON Schema, as the JavaScript reference's `PicoschemaParser` converts it, and
//! the check of input variables against the resulting schema (type errors named by field).

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
    let mut missing = Vec::new();
    required_missing(schema, data, "", &mut missing);
    if !missing.is_empty() {
        return Err(DotpromptError::MissingVariables { names: missing });
    }
    check_at(schema, data, &At::Root, 0)
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

fn required_missing(schema: &Value, data: &Value, path: &str, out: &mut Vec<String>) {
    let (Some(s), Value::Object(d)) = (schema.as_object(), data) else {
        return;
    };
    if let Some(Value::Array(req)) = s.get("required") {
        for name in req.iter().filter_map(Value::as_str) {
            if !d.contains_key(name) {
                out.push(join(path, name));
            }
        }
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        for (k, sub) in props {
            if let Some(v) = d.get(k) {
                required_missing(sub, v, &join(path, k), out);
            }
        }
    }
}

fn check_at(schema: &Value, data: &Value, at: &At<'_>, depth: usize) -> Result<(), DotpromptError> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if depth > 64 {
        return Ok(());
    }
    let field = || {
        let p = at.spell();
        if p.is_empty() { "input".to_owned() } else { p }
    };
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(x) => matches_type(x, data),
            Value::Array(xs) => {
                xs.iter()
                    .filter_map(Value::as_str)
                    .any(|ty| matches_type(ty, data))
                    || !xs.iter().any(Value::is_string)
            }
            _ => true,
        };
        if !ok {
            let types: Vec<&str> = match t {
                Value::String(x) => vec![x.as_str()],
                Value::Array(xs) => xs.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            return Err(DotpromptError::VariableType {
                name: field(),
                expected: types.join(" or "),
                got: json_type_name(data).to_owned(),
            });
        }
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(data)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(DotpromptError::VariableType {
            name: field(),
            expected: format!("one of {}", list.join(", ")),
            got: data.to_string(),
        });
    }
    match data {
        Value::Object(d) => {
            let props = s.get("properties").and_then(Value::as_object);
            for (k, v) in d {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => check_at(sub, v, &At::Key(at, k), depth + 1)?,
                    None => {
                        if let Some(extra @ Value::Object(_)) = s.get("additionalProperties") {
                            check_at(extra, v, &At::Key(at, k), depth + 1)?;
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check_at(item_schema, v, &At::Index(at, i), depth + 1)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
