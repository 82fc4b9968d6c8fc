//! Composition in the server: which stored versions a prompt's includes (`{% include "name" %}`,
//! `{{> name}}`) resolve to, read from the in-memory index (never the database), and the
//! composed template, cached per version and keyed by the versions it was composed with.
//!
//! A name resolves in the including version's environment: `name` is that prompt's latest
//! version there (floating), `name.v3` its version 3 (pinned). Every prompt one render reaches
//! is resolved in that one environment, so a name means one version throughout a render.
//!
//! **Invariant:** a composed template is reused only while every name it was composed with
//! resolves to the same stored row; an include updated, rolled back or deleted changes the key
//! and the next render composes again. Saves refuse cycles, missing prompts and chains deeper
//! than [`MAX_INCLUDE_DEPTH`]; renders check the same rules again (a concurrent save on another
//! instance could otherwise close a cycle) and answer 422 instead of looping.

use std::collections::BTreeMap;
use std::sync::Arc;

use promptd_core::{Environment, Index, PromptId, PromptRef, Version};
use promptd_template::{EngineOptions, MAX_INCLUDE_DEPTH, MAX_INCLUDES, Prompt};
use serde_json::{Value, json};

use crate::state::{LazyTemplate, PromptEntry};

/// One stored version a render used through an include.
#[derive(Debug, Clone)]
pub struct IncludeUse {
    /// The name as written in the including template (`safety`, `safety.v3`).
    pub name: String,
    pub entry: Arc<PromptEntry>,
}

impl IncludeUse {
    /// `{"prompt_id", "environment", "version"}`, as the render answer lists it.
    pub fn to_json(&self) -> Value {
        let r = &self.entry.record;
        json!({
            "prompt_id": r.prompt_id.as_str(),
            "environment": r.environment.as_str(),
            "version": r.version,
        })
    }
}

/// The render answer's `includes`: each version used once, in order of first use.
pub fn uses_json(uses: &[IncludeUse]) -> Value {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for u in uses {
        if !seen.contains(&u.entry.record.id.as_str()) {
            seen.push(&u.entry.record.id);
            out.push(u.to_json());
        }
    }
    Value::Array(out)
}

/// The prompt whose includes are resolved: a stored version, or one being saved (which stands
/// for its prompt's latest version in its environment, so a cycle through it is found before
/// it is written).
pub struct Root<'a> {
    pub prompt_id: &'a PromptId,
    pub environment: &'a Environment,
    /// `None` for a version being saved.
    pub version: Option<Version>,
    pub template: &'a Prompt,
}

/// Where a name led.
enum Target {
    Root,
    Entry(Arc<PromptEntry>),
}

struct Walk<'a> {
    idx: &'a Index<LazyTemplate>,
    engine: &'a EngineOptions,
    root: &'a Root<'a>,
    /// name → the entry it resolved to, in order of first use.
    uses: Vec<IncludeUse>,
    /// (prompt, version) nodes fully visited without a cycle.
    done: Vec<(PromptId, Option<Version>)>,
}

impl Walk<'_> {
    fn target(&self, name: &str, from: &str) -> Result<Target, String> {
        let env = self.root.environment;
        let r = PromptRef::parse(name).map_err(|e| {
            format!(
                "{from} includes '{name}', which is not a prompt id ({}); write a prompt id such as \"safety\" or \"safety.v3\"",
                e.0
            )
        })?;
        if r.version.is_none() && r.base == *self.root.prompt_id && self.root.version.is_none() {
            return Ok(Target::Root);
        }
        match self.idx.resolve(&r.base, Some(env), r.version) {
            Some(e) => Ok(Target::Entry(e)),
            None => Err(match r.version {
                None => format!(
                    "{from} includes '{name}', but there is no prompt {name} in the environment {env}; create it there first, pin a version that exists (\"{name}.v1\"), or remove the include"
                ),
                Some(v) => format!(
                    "{from} includes '{name}', but prompt {} has no version {v} in the environment {env}; pin a version that exists or include \"{}\" (its latest version)",
                    r.base, r.base
                ),
            }),
        }
    }

    fn visit(
        &mut self,
        template: &Prompt,
        chain: &mut Vec<(PromptId, Option<Version>)>,
    ) -> Result<(), String> {
        let from = chain
            .last()
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        for name in template.includes() {
            let target = self.target(name, &format!("prompt {from}"))?;
            let key = match &target {
                Target::Root => (self.root.prompt_id.clone(), None),
                Target::Entry(e) => (e.record.prompt_id.clone(), Some(e.record.version)),
            };
            if let Some(pos) = chain.iter().position(|k| *k == key) {
                let mut names: Vec<String> =
                    chain[pos..].iter().map(|(id, _)| id.to_string()).collect();
                names.push(key.0.to_string());
                return Err(format!(
                    "the includes form a cycle: {}; a prompt cannot include itself, directly or through others. Remove one of these includes, or pin a version that does not include the others",
                    names.join(" → ")
                ));
            }
            if chain.len() > MAX_INCLUDE_DEPTH {
                let names: Vec<String> = chain.iter().map(|(id, _)| id.to_string()).collect();
                return Err(format!(
                    "includes nest deeper than {MAX_INCLUDE_DEPTH} levels ({} → {}); include the inner prompts directly instead",
                    names.join(" → "),
                    key.0
                ));
            }
            let child = match &target {
                Target::Root => self.root.template.clone(),
                Target::Entry(e) => {
                    if !self.uses.iter().any(|u| u.name == *name) {
                        if self.uses.len() >= MAX_INCLUDES {
                            return Err(format!(
                                "the prompt includes more than {MAX_INCLUDES} prompts, directly or through others; include fewer"
                            ));
                        }
                        self.uses.push(IncludeUse {
                            name: name.clone(),
                            entry: e.clone(),
                        });
                    }
                    e.template.get(&e.record, self.engine).clone().map_err(|err| {
                        format!(
                            "{from} includes '{name}', whose version {} has no usable template: {err}",
                            e.record.version
                        )
                    })?
                }
            };
            if self.done.contains(&key) || child.includes().is_empty() {
                continue;
            }
            chain.push(key.clone());
            self.visit(&child, chain)?;
            chain.pop();
            self.done.push(key);
        }
        Ok(())
    }
}

/// Every stored version `root` includes, directly or through others, resolved from `idx`; an
/// error naming a missing prompt, a cycle (`a → b → a`) or a chain too deep. A name that
/// leads back to a version being saved is a cycle.
pub fn resolve(
    idx: &Index<LazyTemplate>,
    engine: &EngineOptions,
    root: &Root<'_>,
) -> Result<Vec<IncludeUse>, String> {
    let mut walk = Walk {
        idx,
        engine,
        root,
        uses: Vec::new(),
        done: Vec::new(),
    };
    let mut chain = vec![(root.prompt_id.clone(), root.version)];
    walk.visit(root.template, &mut chain)?;
    Ok(walk.uses)
}

/// `root` compiled with what its includes resolve to now; a template without includes comes
/// back as it is.
pub fn compose(
    idx: &Index<LazyTemplate>,
    engine: &EngineOptions,
    root: &Root<'_>,
    cache: Option<&LazyTemplate>,
) -> Result<(Prompt, Vec<IncludeUse>), String> {
    if root.template.includes().is_empty() {
        return Ok((root.template.clone(), Vec::new()));
    }
    let uses = resolve(idx, engine, root)?;
    let key: Vec<(String, String)> = uses
        .iter()
        .map(|u| (u.name.clone(), u.entry.record.id.clone()))
        .collect();
    if let Some(hit) = cache.and_then(|c| c.composed_for(&key)) {
        return Ok((hit, uses));
    }
    let mut parts: BTreeMap<String, Prompt> = BTreeMap::new();
    for u in &uses {
        if let Ok(p) = u.entry.template.get(&u.entry.record, engine) {
            parts.insert(u.name.clone(), p.clone());
        }
    }
    let parts: Vec<(String, Prompt)> = parts.into_iter().collect();
    let composed = root
        .template
        .compose(&parts)
        .map_err(|e| format!("with its includes, the template does not compile: {e}"))?;
    if let Some(c) = cache {
        c.keep_composed(key, composed.clone());
    }
    Ok((composed, uses))
}

/// The prompts whose latest version in `env` (or in any environment) includes `prompt_id` at
/// all (`version` = `None`) or pins that version; a floating include counts against a version
/// only when that version is the environment's last one. Sorted, each named once.
pub fn dependents(
    idx: &Index<LazyTemplate>,
    engine: &EngineOptions,
    prompt_id: &PromptId,
    env: Option<&Environment>,
    version: Option<Version>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in idx.latest(env, |id| id != prompt_id.as_str()) {
        if out.iter().any(|n| n == e.record.prompt_id.as_str()) {
            continue;
        }
        let names = e
            .template
            .includes_naming(&e.record, engine, prompt_id.as_str());
        let hit = names.iter().any(|n| {
            let Ok(r) = PromptRef::parse(n) else {
                return false;
            };
            if r.base != *prompt_id {
                return false;
            }
            match (version, r.version) {
                (None, _) => true,
                (Some(v), Some(pinned)) => v == pinned,
                (Some(_), None) => idx.versions(prompt_id, Some(&e.record.environment)).len() <= 1,
            }
        });
        if hit {
            out.push(e.record.prompt_id.to_string());
        }
    }
    out.sort();
    out
}

/// The info answer's `dependencies`: each prompt this version includes directly, with the
/// version it resolves to now (`null` when it resolves to none).
pub fn dependencies_json(
    idx: &Index<LazyTemplate>,
    entry: &PromptEntry,
    template: &Prompt,
) -> Value {
    let env = &entry.record.environment;
    let list: Vec<Value> = template
        .includes()
        .iter()
        .map(|name| {
            let r = PromptRef::parse(name).ok();
            let found = r
                .as_ref()
                .and_then(|r| idx.resolve(&r.base, Some(env), r.version));
            json!({
                "name": name,
                "prompt_id": r.as_ref().map(|r| r.base.to_string()),
                "environment": env.as_str(),
                "version": found.map(|f| f.record.version),
                "pinned": r.as_ref().is_some_and(|r| r.version.is_some()),
            })
        })
        .collect();
    Value::Array(list)
}
