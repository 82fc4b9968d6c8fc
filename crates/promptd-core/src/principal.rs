//! Who is calling, and what they may do. A principal is resolved once per request from its key;
//! handlers ask it for capabilities instead of comparing roles themselves.

use std::fmt;

use crate::ids::{Environment, PromptId, PromptRef};

/// LiteLLM's user roles that promptd understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including writes and key management.
    ProxyAdmin,
    /// Reads everything; writes nothing.
    ProxyAdminViewer,
    /// Reads only the prompts its key's `metadata.prompts` allow-list names.
    InternalUser,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::ProxyAdmin, Role::ProxyAdminViewer, Role::InternalUser];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProxyAdmin => "proxy_admin",
            Role::ProxyAdminViewer => "proxy_admin_viewer",
            Role::InternalUser => "internal_user",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a key may reach: the prompts it may read and write (`metadata.prompts`) and the
/// environments it may write into (`metadata.environments`). `None` means no limit. Parsed once,
/// when a key is created or loaded, never per check.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reach {
    /// Allow-list entries: a base id (every version) or one version (`greeting.v2`).
    pub prompts: Option<Vec<PromptRef>>,
    /// Environments this key may write, promote or roll back into.
    pub environments: Option<Vec<Environment>>,
}

impl Reach {
    /// Reads `metadata.prompts` and `metadata.environments` of a key, naming the field that is
    /// malformed and how to write it.
    pub fn from_metadata(
        metadata: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Reach, String> {
        fn list<T>(
            metadata: &serde_json::Map<String, serde_json::Value>,
            name: &str,
            example: &str,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Option<Vec<T>>, String> {
            let bad = |why: String| format!("metadata.{name} must be a list of {example}: {why}");
            match metadata.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|v| match v.as_str() {
                        Some(s) => parse(s).map_err(|e| bad(format!("'{s}': {e}"))),
                        None => Err(bad(format!("{v} is not a string"))),
                    })
                    .collect::<Result<Vec<T>, String>>()
                    .map(Some),
                Some(other) => Err(bad(format!("got {other}"))),
            }
        }
        Ok(Reach {
            prompts: list(
                metadata,
                "prompts",
                "prompt ids, e.g. [\"greeting\", \"summarizer.v2\"]",
                |s| PromptRef::parse(s).map_err(|e| e.to_string()),
            )?,
            environments: list(
                metadata,
                "environments",
                "environments, e.g. [\"development\", \"staging\"]",
                |s| Environment::parse(s).map_err(|e| e.to_string()),
            )?,
        })
    }

    /// What a key with `role` and this reach may read and write: an internal user without an
    /// allow-list reads nothing.
    pub fn effective_for(&self, role: Role) -> Reach {
        Reach {
            prompts: match (&self.prompts, role) {
                (None, Role::InternalUser) => Some(Vec::new()),
                (p, _) => p.clone(),
            },
            environments: self.environments.clone(),
        }
    }

    /// Whether an allow-list entry covers `r` (a base entry covers every version).
    fn entry_covers(entry: &PromptRef, r: &PromptRef) -> bool {
        entry.base == r.base && (entry.version.is_none() || entry.version == r.version)
    }

    /// Whether everything `other` reaches, `self` reaches too (for prompts and environments).
    pub fn covers(&self, other: &Reach) -> bool {
        let prompts = match (&self.prompts, &other.prompts) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs
                .iter()
                .all(|t| mine.iter().any(|m| Reach::entry_covers(m, t))),
        };
        let envs = match (&self.environments, &other.environments) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.iter().all(|t| mine.contains(t)),
        };
        prompts && envs
    }
}

impl Role {
    /// Roles ordered by what they may do: an admin can do all a viewer can, a viewer all an
    /// internal user can.
    pub fn rank(self) -> u8 {
        match self {
            Role::ProxyAdmin => 2,
            Role::ProxyAdminViewer => 1,
            Role::InternalUser => 0,
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub role: Role,
    /// Written to `created_by`. The master key is `default_user_id`, as in LiteLLM.
    pub user_id: Option<String>,
    /// The key's limits; the master key has none.
    pub reach: Reach,
    /// The SHA-256 token of the key, `None` for the master key.
    pub token: Option<String>,
    /// Who acts, as the ledger shows it to people: the key's alias (else its abbreviation,
    /// `sk-...AbCd`) or `master key`. Never a key or its hash.
    pub actor: String,
}

impl Principal {
    pub const ADMIN_USER_ID: &'static str = "default_user_id";

    pub fn master() -> Principal {
        Principal {
            role: Role::ProxyAdmin,
            user_id: Some(Self::ADMIN_USER_ID.to_owned()),
            reach: Reach::default(),
            token: None,
            actor: crate::ledger::MASTER_KEY_ACTOR.to_owned(),
        }
    }

    /// The principal of a key with `role` and `reach`.
    pub fn of_key(
        role: Role,
        reach: Reach,
        user_id: Option<String>,
        token: String,
        actor: String,
    ) -> Principal {
        Principal {
            role,
            user_id,
            reach,
            token: Some(token),
            actor,
        }
    }

    /// Whether this caller may read every prompt (list everything, see all versions).
    pub fn reads_everything(&self) -> bool {
        self.reach.prompts.is_none() && self.role != Role::InternalUser
    }

    /// The prompts this caller may read, as a reach (an internal user without an allow-list
    /// reads nothing).
    pub fn effective_reach(&self) -> Reach {
        self.reach.effective_for(self.role)
    }

    /// Whether this caller may read the prompt `r` (a base id, or one version of it).
    ///
    /// An allow-list entry names a base id (every version) or one version (`greeting.v2`).
    /// An internal user without an allow-list reads nothing.
    pub fn may_read(&self, r: &PromptRef) -> bool {
        match &self.reach.prompts {
            Some(list) => list.iter().any(|entry| Reach::entry_covers(entry, r)),
            None => self.role != Role::InternalUser,
        }
    }

    /// Whether this caller may see the base prompt in listings (allowed as a whole).
    pub fn may_list(&self, base: &PromptId) -> bool {
        self.may_read(&PromptRef {
            base: base.clone(),
            version: None,
        })
    }

    /// The right to read `r`, or why not (checked before the prompt's existence, so a refusal
    /// reveals nothing about what exists).
    pub fn reader_of(&self, r: &PromptRef) -> Result<Reader, Denied> {
        if self.may_read(r) {
            return Ok(Reader(()));
        }
        Err(Denied::Read {
            prompt: r.to_string(),
            base: r.base.to_string(),
            role: self.role,
            allowed: match &self.reach.prompts {
                Some(list) => show_list(list),
                None => "none".to_owned(),
            },
        })
    }

    /// The right to change prompts (`action`: create, update, patch, delete): admin keys only.
    pub fn prompt_admin(&self, action: &'static str) -> Result<PromptAdmin<'_>, Denied> {
        match self.role {
            Role::ProxyAdmin => Ok(PromptAdmin {
                principal: self,
                action,
            }),
            _ => Err(Denied::NotPromptAdmin { action }),
        }
    }

    /// The right to manage keys: admin keys only, and then only keys within their reach.
    pub fn key_admin(&self) -> Result<KeyAdmin<'_>, Denied> {
        match self.role {
            Role::ProxyAdmin => Ok(KeyAdmin(self)),
            role => Err(Denied::NotKeyAdmin { role }),
        }
    }

    /// The right to read the ledger across prompts and the trash (admins and admin viewers),
    /// limited to the prompts the caller may list.
    pub fn auditor(&self) -> Result<Auditor<'_>, Denied> {
        match self.role {
            Role::ProxyAdmin | Role::ProxyAdminViewer => Ok(Auditor(self)),
            role => Err(Denied::NotAuditor { role }),
        }
    }

    /// The right to see keys (admins and viewers), limited to keys within the caller's reach.
    pub fn key_viewer(&self) -> Result<KeyViewer<'_>, Denied> {
        match self.role {
            Role::ProxyAdmin | Role::ProxyAdminViewer => Ok(KeyViewer(self)),
            Role::InternalUser => Err(Denied::NotKeyViewer),
        }
    }

    /// The right to read server-wide operational data (`/metrics`): admins and viewers without
    /// an allow-list.
    pub fn operator(&self) -> Result<Operator, Denied> {
        if self.reads_everything() {
            Ok(Operator(()))
        } else {
            Err(Denied::NotOperator { role: self.role })
        }
    }

    /// Whether this caller can do everything `role` with `reach` can: the test for creating,
    /// seeing or deleting another key. A key can never hand out more than it has.
    fn covers_key(&self, role: Role, reach: &Reach) -> bool {
        role.rank() <= self.role.rank() && self.effective_reach().covers(&reach.effective_for(role))
    }

    fn wider_key(&self, action: &'static str, role: Role, reach: &Reach) -> Denied {
        Denied::WiderKey {
            action,
            own_role: self.role,
            own: show_reach(&self.effective_reach()),
            role,
            other: show_reach(reach),
        }
    }
}

fn show_list<T: fmt::Display>(items: &[T]) -> String {
    format!(
        "{:?}",
        items.iter().map(ToString::to_string).collect::<Vec<_>>()
    )
}

fn show_reach(r: &Reach) -> String {
    let prompts = r.prompts.as_deref().map_or("all".to_owned(), show_list);
    let envs = r
        .environments
        .as_deref()
        .map_or("all".to_owned(), show_list);
    format!("prompts {prompts}, environments {envs}")
}

/// Proof that the caller may read one prompt (from [`Principal::reader_of`]).
#[derive(Debug)]
pub struct Reader(());

/// Proof that the caller may operate the server (from [`Principal::operator`]).
#[derive(Debug)]
pub struct Operator(());

/// An admin caller about to change prompts (from [`Principal::prompt_admin`]); it hands out
/// [`Writer`]s for the prompts and environments within the key's reach.
#[derive(Debug)]
pub struct PromptAdmin<'p> {
    principal: &'p Principal,
    action: &'static str,
}

impl PromptAdmin<'_> {
    /// The right to write versions of `base` in each of `environments`: the key's allow-list
    /// must name the whole prompt (a pinned `name.vN` entry does not allow new versions) and
    /// its `metadata.environments` every environment written.
    pub fn writer_of<'e>(
        &self,
        base: &PromptId,
        environments: impl IntoIterator<Item = &'e Environment>,
    ) -> Result<Writer, Denied> {
        let p = self.principal;
        if !p.may_list(base) {
            return Err(Denied::WritePrompt {
                action: self.action,
                prompt: base.to_string(),
                allowed: show_list(p.reach.prompts.as_deref().unwrap_or_default()),
            });
        }
        let environments: Vec<Environment> = environments.into_iter().cloned().collect();
        if let Some(allowed) = &p.reach.environments
            && let Some(env) = environments.iter().find(|e| !allowed.contains(e))
        {
            return Err(Denied::WriteEnvironment {
                action: self.action,
                environment: env.to_string(),
                allowed: show_list(allowed),
            });
        }
        Ok(Writer {
            prompt: base.clone(),
            environments,
            author: p.user_id.clone(),
            actor: p.actor.clone(),
        })
    }
}

/// Proof that the caller may write versions of one prompt in some environments (from
/// [`PromptAdmin::writer_of`]); the store's write paths take it.
#[derive(Debug, Clone)]
pub struct Writer {
    prompt: PromptId,
    environments: Vec<Environment>,
    author: Option<String>,
    actor: String,
}

impl Writer {
    /// Who writes, as the ledger shows it (see [`Principal::actor`]).
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn prompt(&self) -> &PromptId {
        &self.prompt
    }

    /// Who the new versions are written by (`created_by`).
    pub fn author(&self) -> Option<&str> {
        self.author.as_deref()
    }

    /// Whether this writer was granted `env` (or every environment, when `env` is `None`).
    pub fn may_write(&self, prompt: &PromptId, env: Option<&Environment>) -> bool {
        *prompt == self.prompt
            && match env {
                Some(e) => self.environments.contains(e),
                None => true,
            }
    }
}

/// An admin caller managing keys (from [`Principal::key_admin`]).
#[derive(Debug)]
pub struct KeyAdmin<'p>(&'p Principal);

impl KeyAdmin<'_> {
    /// Whether a key with `role` and `reach` may be created or deleted by this caller.
    pub fn may_manage(
        &self,
        action: &'static str,
        role: Role,
        reach: &Reach,
    ) -> Result<(), Denied> {
        if self.0.covers_key(role, reach) {
            Ok(())
        } else {
            Err(self.0.wider_key(action, role, reach))
        }
    }

    /// Who creates keys (`created_by`).
    pub fn author(&self) -> Option<&str> {
        self.0.user_id.as_deref()
    }
}

/// A caller allowed to read the whole ledger and the trash (from [`Principal::auditor`]).
#[derive(Debug)]
pub struct Auditor<'p>(&'p Principal);

impl Auditor<'_> {
    /// Whether this caller may see events and trashed versions of `prompt`.
    pub fn may_see(&self, prompt: &PromptId) -> bool {
        self.0.may_list(prompt)
    }
}

/// A caller allowed to see keys (from [`Principal::key_viewer`]).
#[derive(Debug)]
pub struct KeyViewer<'p>(&'p Principal);

impl KeyViewer<'_> {
    /// Whether a key with `role` and `reach` is within this caller's reach (and so visible).
    pub fn may_see(&self, role: Role, reach: &Reach) -> bool {
        self.0.covers_key(role, reach)
    }

    /// Like [`KeyViewer::may_see`], as a refusal that says why.
    pub fn see(&self, role: Role, reach: &Reach) -> Result<(), Denied> {
        if self.may_see(role, reach) {
            Ok(())
        } else {
            Err(self.0.wider_key("look up", role, reach))
        }
    }
}

/// Why a caller may not do something. Each message says what was refused and how to get the
/// right; they are the 403 answers of the API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Denied {
    #[error("Only proxy admins can {action} prompts")]
    NotPromptAdmin { action: &'static str },
    #[error("Only proxy admins can manage keys. Your role - {role}")]
    NotKeyAdmin { role: Role },
    #[error("Only proxy admins and admin viewers can list keys.")]
    NotKeyViewer,
    #[error("You may only look up your own key.")]
    OtherKey,
    #[error(
        "Your key may not read prompt {prompt}. Your role - {role}, your key's prompts - {allowed}. Ask an admin for a key whose metadata.prompts lists '{base}'."
    )]
    Read {
        prompt: String,
        base: String,
        role: Role,
        allowed: String,
    },
    #[error(
        "Your key may not {action} prompt {prompt}: its metadata.prompts allow-list ({allowed}) does not name '{prompt}'. Ask an admin for a key whose metadata.prompts lists '{prompt}'."
    )]
    WritePrompt {
        action: &'static str,
        prompt: String,
        allowed: String,
    },
    #[error(
        "Your key may not {action} prompts in environment {environment}: its metadata.environments ({allowed}) does not name '{environment}'. Use a key allowed to write {environment}."
    )]
    WriteEnvironment {
        action: &'static str,
        environment: String,
        allowed: String,
    },
    #[error(
        "Your key may not {action} a key that reaches further than its own. Your key: role {own_role}, {own}; the other key: role {role}, {other}. Give the key a role no higher than yours and metadata.prompts / metadata.environments within your own."
    )]
    WiderKey {
        action: &'static str,
        own_role: Role,
        own: String,
        role: Role,
        other: String,
    },
    #[error(
        "Environment {environment} is protected (promptd_settings.protected_environments): it changes only through POST /prompts/{prompt}/promote or POST /prompts/{prompt}/rollback, never by a direct write."
    )]
    Protected { environment: String, prompt: String },
    #[error(
        "Only proxy admins and admin viewers can read the history of every prompt and the trash. Your role - {role}. Read one prompt's history with GET /prompts/{{id}}/history, or use an admin key."
    )]
    NotAuditor { role: Role },
    #[error(
        "Only proxy admins and admin viewers without a prompt allow-list can read /metrics. Your role - {role}. Use such a key, or set promptd_settings.metrics_public: true to let scrapers read it without a key."
    )]
    NotOperator { role: Role },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(list: Option<&[&str]>, role: Role) -> Principal {
        Principal {
            role,
            user_id: None,
            reach: Reach {
                prompts: list.map(|l| l.iter().map(|s| PromptRef::parse(s).unwrap()).collect()),
                environments: None,
            },
            token: None,
            actor: "test".into(),
        }
    }

    #[test]
    fn an_allow_list_entry_for_a_base_id_allows_every_version() {
        let p = user(Some(&["greeting"]), Role::InternalUser);
        assert!(p.may_read(&PromptRef::parse("greeting").unwrap()));
        assert!(p.may_read(&PromptRef::parse("greeting.v3").unwrap()));
        assert!(!p.may_read(&PromptRef::parse("other").unwrap()));
    }

    #[test]
    fn an_allow_list_entry_for_one_version_allows_only_that_version() {
        let p = user(Some(&["greeting.v2"]), Role::InternalUser);
        assert!(p.may_read(&PromptRef::parse("greeting.v2").unwrap()));
        assert!(!p.may_read(&PromptRef::parse("greeting").unwrap()));
        assert!(!p.may_read(&PromptRef::parse("greeting.v3").unwrap()));
    }

    #[test]
    fn an_internal_user_without_an_allow_list_reads_nothing() {
        let p = user(None, Role::InternalUser);
        assert!(!p.may_read(&PromptRef::parse("greeting").unwrap()));
        assert!(user(None, Role::ProxyAdminViewer).may_read(&PromptRef::parse("x").unwrap()));
    }

    #[test]
    fn an_allow_list_narrows_even_an_admin() {
        let p = user(Some(&[]), Role::ProxyAdmin);
        assert!(!p.may_read(&PromptRef::parse("greeting").unwrap()));
        assert!(!p.reads_everything());
    }
}
