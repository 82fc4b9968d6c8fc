//! The in-memory index every read is served from. It holds the latest state of every prompt
//! (config and stored), each version with its compiled template, and answers LiteLLM's
//! resolution rules without touching the database.
//!
//! **Architecture invariant:** the index is only ever changed by replacing the whole set of
//! versions of one prompt (`replace_stored`), with data read back from the store after a commit,
//! or by adding versions the store has just committed (`insert_stored`, under the instance's
//! write lock), so concurrent writers cannot leave it half-updated or out of order.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ids::{Environment, PromptId, Version};
use crate::record::{PromptRecord, PromptSource};

/// One version as the read path needs it: the record plus whatever the server keeps with it
/// (its template, compiled lazily).
#[derive(Debug)]
pub struct Entry<T> {
    pub record: PromptRecord,
    pub template: T,
}

/// A successful resolution.
pub type Resolved<T> = Arc<Entry<T>>;

#[derive(Debug, Clone)]
struct Group<T> {
    config: Option<Arc<Entry<T>>>,
    /// environment → version → entry
    stored: BTreeMap<String, BTreeMap<Version, Arc<Entry<T>>>>,
}

impl<T> Default for Group<T> {
    fn default() -> Self {
        Group {
            config: None,
            stored: BTreeMap::new(),
        }
    }
}

impl<T> Group<T> {
    fn is_empty(&self) -> bool {
        self.config.is_none() && self.stored.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Index<T> {
    prompts: BTreeMap<String, Group<T>>,
}

impl<T> Default for Index<T> {
    fn default() -> Self {
        Index {
            prompts: BTreeMap::new(),
        }
    }
}

impl<T> Index<T> {
    pub fn new() -> Index<T> {
        Index::default()
    }

    /// Registers a read-only prompt from the config file.
    pub fn insert_config(&mut self, entry: Entry<T>) {
        debug_assert_eq!(entry.record.source, PromptSource::Config);
        let key = entry.record.prompt_id.as_str().to_owned();
        self.prompts.entry(key).or_default().config = Some(Arc::new(entry));
    }

    /// Replaces every stored version of `prompt_id` with `entries` (possibly none).
    pub fn replace_stored(&mut self, prompt_id: &PromptId, entries: Vec<Arc<Entry<T>>>) {
        let group = self
            .prompts
            .entry(prompt_id.as_str().to_owned())
            .or_default();
        group.stored.clear();
        for e in entries {
            group
                .stored
                .entry(e.record.environment.as_str().to_owned())
                .or_default()
                .insert(e.record.version, e);
        }
        if group.is_empty() {
            self.prompts.remove(prompt_id.as_str());
        }
    }

    /// Adds versions the store just committed (O(log n) each: a write to a prompt with
    /// thousands of versions does not rebuild them). A version already present is replaced.
    pub fn insert_stored(&mut self, entries: Vec<Arc<Entry<T>>>) {
        for e in entries {
            debug_assert_eq!(e.record.source, PromptSource::Db);
            self.prompts
                .entry(e.record.prompt_id.as_str().to_owned())
                .or_default()
                .stored
                .entry(e.record.environment.as_str().to_owned())
                .or_default()
                .insert(e.record.version, e);
        }
    }

    /// Replaces every stored version of every prompt (after a full resynchronisation);
    /// config prompts are kept.
    pub fn replace_all_stored(&mut self, by_prompt: Vec<(PromptId, Vec<Arc<Entry<T>>>)>) {
        for g in self.prompts.values_mut() {
            g.stored.clear();
        }
        for (id, entries) in by_prompt {
            self.replace_stored(&id, entries);
        }
        self.prompts.retain(|_, g| !g.is_empty());
    }

    /// The stored entry with this row id and `updated_at`, to reuse its compiled template.
    pub fn find_stored(&self, prompt_id: &PromptId, row_id: &str) -> Option<Arc<Entry<T>>> {
        let g = self.prompts.get(prompt_id.as_str())?;
        g.stored
            .values()
            .flat_map(|m| m.values())
            .find(|e| e.record.id == row_id)
            .cloned()
    }

    /// Every stored (not config) version of a prompt, in no particular order.
    pub fn stored_entries(&self, prompt_id: &PromptId) -> Vec<Arc<Entry<T>>> {
        self.prompts
            .get(prompt_id.as_str())
            .map(|g| {
                g.stored
                    .values()
                    .flat_map(|m| m.values().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether this stored version is in the index.
    pub fn has_version(&self, prompt_id: &PromptId, env: &Environment, version: Version) -> bool {
        self.prompts
            .get(prompt_id.as_str())
            .and_then(|g| g.stored.get(env.as_str()))
            .is_some_and(|m| m.contains_key(&version))
    }

    pub fn contains(&self, prompt_id: &PromptId) -> bool {
        self.prompts.contains_key(prompt_id.as_str())
    }

    pub fn is_config(&self, prompt_id: &PromptId) -> bool {
        self.prompts
            .get(prompt_id.as_str())
            .is_some_and(|g| g.config.is_some())
    }

    pub fn has_stored(&self, prompt_id: &PromptId) -> bool {
        self.prompts
            .get(prompt_id.as_str())
            .is_some_and(|g| !g.stored.is_empty())
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// LiteLLM's resolution: the given environment, else production, staging, development, else
    /// the alphabetically first; then the given version, else the latest. A config prompt is
    /// served as version 1 in `development` and shadows stored rows with the same id.
    pub fn resolve(
        &self,
        prompt_id: &PromptId,
        environment: Option<&Environment>,
        version: Option<Version>,
    ) -> Option<Resolved<T>> {
        let g = self.prompts.get(prompt_id.as_str())?;
        if let Some(c) = &g.config {
            let env_ok = environment.is_none_or(|e| e.as_str() == Environment::DEFAULT);
            let ver_ok = version.is_none_or(|v| v == 1);
            return (env_ok && ver_ok).then(|| c.clone());
        }
        let env = match environment {
            Some(e) => e.as_str().to_owned(),
            None => default_environment(g.stored.keys())?,
        };
        let versions = g.stored.get(&env)?;
        match version {
            Some(v) => versions.get(&v).cloned(),
            None => versions.values().next_back().cloned(),
        }
    }

    /// The environments a stored prompt has versions in, sorted (LiteLLM's `environments`).
    pub fn environments(&self, prompt_id: &PromptId) -> Vec<String> {
        self.prompts
            .get(prompt_id.as_str())
            .map(|g| g.stored.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every version of a prompt, newest first, grouped by environment in serve order
    /// (production, staging, development, then the rest alphabetically). A config prompt has
    /// one version.
    pub fn versions(
        &self,
        prompt_id: &PromptId,
        environment: Option<&Environment>,
    ) -> Vec<Resolved<T>> {
        let Some(g) = self.prompts.get(prompt_id.as_str()) else {
            return Vec::new();
        };
        if let Some(c) = &g.config {
            let env_ok = environment.is_none_or(|e| e.as_str() == Environment::DEFAULT);
            return if env_ok { vec![c.clone()] } else { Vec::new() };
        }
        let mut envs: Vec<&String> = g
            .stored
            .keys()
            .filter(|k| environment.is_none_or(|e| e.as_str() == k.as_str()))
            .collect();
        envs.sort_by_key(|k| serve_rank(k));
        envs.into_iter()
            .flat_map(|k| g.stored[k].values().rev().cloned())
            .collect()
    }

    /// The latest version per (prompt, environment), sorted by prompt id then environment
    /// in serve order; `filter` decides which prompt ids are visible.
    pub fn latest(
        &self,
        environment: Option<&Environment>,
        mut filter: impl FnMut(&str) -> bool,
    ) -> Vec<Resolved<T>> {
        let mut out = Vec::new();
        for (id, g) in &self.prompts {
            if !filter(id) {
                continue;
            }
            if let Some(c) = &g.config {
                if environment.is_none_or(|e| e.as_str() == Environment::DEFAULT) {
                    out.push(c.clone());
                }
                continue;
            }
            let mut envs: Vec<&String> = g
                .stored
                .keys()
                .filter(|k| environment.is_none_or(|e| e.as_str() == k.as_str()))
                .collect();
            envs.sort_by_key(|k| serve_rank(k));
            for k in envs {
                if let Some(e) = g.stored[k].values().next_back() {
                    out.push(e.clone());
                }
            }
        }
        out
    }

    /// Visits every prompt id in order that has a version in `environment` (every prompt when
    /// `None`; a config prompt counts as `development`), without copying anything. `visit`
    /// answers whether to go on.
    pub fn ids_in(&self, environment: Option<&Environment>, mut visit: impl FnMut(&str) -> bool) {
        for (id, g) in &self.prompts {
            let present = match environment {
                None => true,
                Some(e) if g.config.is_some() => e.as_str() == Environment::DEFAULT,
                Some(e) => g.stored.contains_key(e.as_str()),
            };
            if present && !visit(id) {
                return;
            }
        }
    }

    /// Every stored version count, for metrics and benchmarks.
    pub fn version_count(&self) -> usize {
        self.prompts
            .values()
            .map(|g| {
                g.stored.values().map(|m| m.len()).sum::<usize>() + g.config.is_some() as usize
            })
            .sum()
    }
}

fn serve_rank(env: &str) -> (usize, String) {
    let rank = Environment::SERVE_PRECEDENCE
        .iter()
        .position(|p| *p == env)
        .unwrap_or(Environment::SERVE_PRECEDENCE.len());
    (rank, env.to_owned())
}

fn default_environment<'a>(present: impl Iterator<Item = &'a String>) -> Option<String> {
    present.min_by_key(|k| serve_rank(k)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, env: &str, v: Version, source: PromptSource) -> Entry<()> {
        Entry {
            record: PromptRecord {
                id: format!("{id}-{env}-{v}"),
                prompt_id: PromptId::from_trusted(id),
                version: v,
                environment: Environment::from_trusted(env),
                created_by: None,
                litellm_params: Default::default(),
                prompt_info: Default::default(),
                created_at: None,
                updated_at: None,
                source,
                provenance: Default::default(),
                content_sha256: String::new(),
            },
            template: (),
        }
    }

    fn index(rows: &[(&str, &str, Version)]) -> Index<()> {
        let mut idx = Index::new();
        let mut by_id: BTreeMap<&str, Vec<Arc<Entry<()>>>> = BTreeMap::new();
        for (id, env, v) in rows {
            by_id
                .entry(id)
                .or_default()
                .push(Arc::new(entry(id, env, *v, PromptSource::Db)));
        }
        for (id, es) in by_id {
            idx.replace_stored(&PromptId::from_trusted(id), es);
        }
        idx
    }

    fn resolved(
        idx: &Index<()>,
        id: &str,
        env: Option<&str>,
        v: Option<Version>,
    ) -> Option<(String, Version)> {
        let env = env.map(Environment::from_trusted);
        idx.resolve(&PromptId::from_trusted(id), env.as_ref(), v)
            .map(|e| (e.record.environment.to_string(), e.record.version))
    }

    #[test]
    fn reads_without_an_environment_prefer_production_then_staging_then_development() {
        let idx = index(&[
            ("g", "development", 1),
            ("g", "staging", 1),
            ("g", "staging", 2),
        ]);
        assert_eq!(resolved(&idx, "g", None, None), Some(("staging".into(), 2)));
        let idx = index(&[("g", "development", 4), ("g", "qa", 1)]);
        assert_eq!(
            resolved(&idx, "g", None, None),
            Some(("development".into(), 4))
        );
        let idx = index(&[("g", "qa", 1), ("g", "beta", 3)]);
        assert_eq!(resolved(&idx, "g", None, None), Some(("beta".into(), 3)));
    }

    #[test]
    fn a_version_is_looked_up_within_the_chosen_environment() {
        let idx = index(&[("g", "production", 1), ("g", "development", 2)]);
        assert_eq!(resolved(&idx, "g", None, Some(2)), None);
        assert_eq!(
            resolved(&idx, "g", Some("development"), Some(2)),
            Some(("development".into(), 2))
        );
    }

    #[test]
    fn a_config_prompt_is_version_one_in_development_only() {
        let mut idx = Index::new();
        idx.insert_config(entry("c", "development", 1, PromptSource::Config));
        assert!(resolved(&idx, "c", None, None).is_some());
        assert!(resolved(&idx, "c", None, Some(1)).is_some());
        assert!(resolved(&idx, "c", None, Some(2)).is_none());
        assert!(resolved(&idx, "c", Some("production"), None).is_none());
    }

    #[test]
    fn versions_are_grouped_by_environment_in_serve_order_newest_first() {
        let idx = index(&[
            ("g", "development", 1),
            ("g", "development", 2),
            ("g", "production", 1),
        ]);
        let got: Vec<_> = idx
            .versions(&PromptId::from_trusted("g"), None)
            .iter()
            .map(|e| (e.record.environment.to_string(), e.record.version))
            .collect();
        assert_eq!(
            got,
            vec![
                ("production".into(), 1),
                ("development".into(), 2),
                ("development".into(), 1)
            ]
        );
    }

    #[test]
    fn replacing_with_nothing_forgets_the_prompt() {
        let mut idx = index(&[("g", "development", 1)]);
        idx.replace_stored(&PromptId::from_trusted("g"), vec![]);
        assert!(!idx.contains(&PromptId::from_trusted("g")));
    }

    #[test]
    fn ids_in_an_environment_are_visited_in_order_until_the_visitor_stops() {
        let idx = index(&[
            ("a", "production", 1),
            ("b", "staging", 1),
            ("c", "production", 2),
            ("d", "production", 1),
        ]);
        let mut seen = Vec::new();
        idx.ids_in(Some(&Environment::from_trusted("production")), |id| {
            seen.push(id.to_owned());
            seen.len() < 2
        });
        assert_eq!(seen, ["a", "c"]);
        let mut all = 0;
        idx.ids_in(None, |_| {
            all += 1;
            true
        });
        assert_eq!(all, 4);
    }

    #[test]
    fn added_versions_join_the_prompt_without_replacing_the_others() {
        let mut idx = index(&[("a", "production", 1)]);
        idx.insert_stored(vec![
            Arc::new(entry("a", "production", 2, PromptSource::Db)),
            Arc::new(entry("b", "staging", 1, PromptSource::Db)),
        ]);
        let prod = Environment::from_trusted("production");
        assert_eq!(
            idx.resolve(&PromptId::from_trusted("a"), Some(&prod), None)
                .unwrap()
                .record
                .version,
            2
        );
        assert!(idx.has_version(&PromptId::from_trusted("a"), &prod, 1));
        assert!(idx.has_stored(&PromptId::from_trusted("b")));
    }
}
