//! `input.schema`: declared prompt variables and their types, with LiteLLM's type names.
//! Unlike LiteLLM, missing required variables are reported and `name?` marks an optional one.

use serde_json::{Map, Value};

use crate::TemplateError;
use crate::frontmatter::locate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Integer,
    Float,
    Boolean,
    Array,
    Object,
}

impl FieldType {
    const NAMES: &'static str =
        "string (str), number, integer (int), float, boolean (bool), array (list), object (dict)";

    fn parse(s: &str) -> Option<FieldType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "string" | "str" => FieldType::String,
            "number" => FieldType::Number,
            "integer" | "int" => FieldType::Integer,
            "float" => FieldType::Float,
            "boolean" | "bool" => FieldType::Boolean,
            "array" | "list" => FieldType::Array,
            "object" | "dict" => FieldType::Object,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Array => "array",
            FieldType::Object => "object",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            FieldType::String => v.is_string(),
            FieldType::Number => v.is_number(),
            FieldType::Integer => v.is_i64() || v.is_u64(),
            // An integer is a valid float (JSON clients often send 1 for 1.0).
            FieldType::Float => v.is_number(),
            FieldType::Boolean => v.is_boolean(),
            FieldType::Array => v.is_array(),
            FieldType::Object => v.is_object(),
        }
    }
}

/// One declared variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaField {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "an empty value".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        other => format!("{other}"),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn bad(yaml: &str, path: &[&str], message: String) -> TemplateError {
    let (line, column) = locate(yaml, path);
    TemplateError::Frontmatter {
        line,
        column,
        message,
    }
}

/// Reads `input.schema`; `yaml` is the frontmatter text, used only to place errors.
pub(crate) fn parse(
    metadata: &Map<String, Value>,
    yaml: &str,
) -> Result<Vec<SchemaField>, TemplateError> {
    let schema = match metadata.get("input") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(input)) => match input.get("schema") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(s)) => s,
            Some(_) => {
                return Err(bad(
                    yaml,
                    &["input", "schema"],
                    "input.schema must be a mapping of variable names to type names, e.g. `schema: {name: string, age?: integer}`"
                        .into(),
                ));
            }
        },
        Some(_) => {
            return Err(bad(
                yaml,
                &["input"],
                "input must be a mapping with a schema, e.g. `input: {schema: {name: string}}`"
                    .into(),
            ));
        }
    };
    schema
        .iter()
        .map(|(key, ty)| {
            let (name, required) = match key.strip_suffix('?') {
                Some(n) => (n.to_owned(), false),
                None => (key.clone(), true),
            };
            let at = ["input", "schema", key.as_str()];
            let ty_name = ty.as_str().ok_or_else(|| {
                bad(
                    yaml,
                    &at,
                    format!(
                        "input.schema field '{key}' must be a type name written as a string, not {}; use one of: {}",
                        describe(ty),
                        FieldType::NAMES
                    ),
                )
            })?;
            let ty = FieldType::parse(ty_name).ok_or_else(|| {
                bad(
                    yaml,
                    &at,
                    format!(
                        "input.schema field '{key}' has unknown type '{ty_name}'; use one of: {} (case does not matter)",
                        FieldType::NAMES
                    ),
                )
            })?;
            Ok(SchemaField { name, ty, required })
        })
        .collect()
}

pub(crate) fn check(
    schema: &[SchemaField],
    vars: &Map<String, Value>,
) -> Result<(), TemplateError> {
    let missing: Vec<String> = schema
        .iter()
        .filter(|f| f.required && !vars.contains_key(&f.name))
        .map(|f| f.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(TemplateError::MissingVariables { names: missing });
    }
    for f in schema {
        if let Some(v) = vars.get(&f.name)
            && !f.ty.accepts(v)
        {
            return Err(TemplateError::VariableType {
                name: f.name.clone(),
                expected: f.ty.name().into(),
                got: json_type(v).into(),
            });
        }
    }
    Ok(())
}
