//! What the spec-suite tests share: finding the YAML files, reading optional objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promptd_dotprompt::{DotpromptError, Limits, ParseOptions, Prompt};
use serde_json::{Map, Value};

/// `tests/spec/`, the vendored Dotprompt spec suite.
pub fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec")
}

/// Every `.yaml` file under `dir`, in a stable order.
pub fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("spec directory")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

/// The object at `v`, or an empty one.
pub fn obj(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// Parses a suite's template with its partials and schemas, given and from resolvers, as the
/// reference's spec runner does.
pub fn parse_suite(suite: &Map<String, Value>) -> Result<Prompt, DotpromptError> {
    let strings = |k: &str| -> BTreeMap<String, String> {
        obj(suite.get(k))
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect()
    };
    let resolver_partials = strings("resolverPartials");
    let resolve_partial = |name: &str| resolver_partials.get(name).cloned();
    let resolver_schemas = obj(suite.get("resolverSchemas"));
    let resolve_schema = |name: &str| resolver_schemas.get(name).cloned();
    let opts = ParseOptions {
        limits: Limits::default(),
        partials: strings("partials"),
        partial_resolver: Some(&resolve_partial),
        schemas: obj(suite.get("schemas")),
        schema_resolver: Some(&resolve_schema),
    };
    let template = suite
        .get("template")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Prompt::parse_with(template, &opts)
}
