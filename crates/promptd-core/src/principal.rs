//! Who is calling, and what they may do. A principal is resolved once per request from its key;
//! handlers ask it for capabilities instead of comparing roles themselves.

use std::fmt;

use crate::ids::{Environment, PromptRef};

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
}

impl Principal {
    pub const ADMIN_USER_ID: &'static str = "default_user_id";

    pub fn master() -> Principal {
        Principal {
            role: Role::ProxyAdmin,
            user_id: Some(Self::ADMIN_USER_ID.to_owned()),
            reach: Reach::default(),
            token: None,
        }
    }

    /// The principal of a key with `role` and `reach`.
    pub fn of_key(role: Role, reach: Reach, user_id: Option<String>, token: String) -> Principal {
        Principal {
            role,
            user_id,
            reach,
            token: Some(token),
        }
    }

    pub fn can_write(&self) -> bool {
        self.role == Role::ProxyAdmin
    }

    /// Whether this caller may read every prompt (list everything, see all versions).
    pub fn reads_everything(&self) -> bool {
        self.reach.prompts.is_none() && self.role != Role::InternalUser
    }

    /// The prompts this caller may read, as a reach (an internal user without an allow-list
    /// reads nothing).
    pub fn effective_reach(&self) -> Reach {
        Reach {
            prompts: match (&self.reach.prompts, self.role) {
                (None, Role::InternalUser) => Some(Vec::new()),
                (p, _) => p.clone(),
            },
            environments: self.reach.environments.clone(),
        }
    }

    /// Whether this caller can do everything `role` with `reach` can: the test for creating,
    /// changing, seeing or deleting another key. A key can never hand out more than it has.
    pub fn covers_key(&self, role: Role, reach: &Reach) -> bool {
        let other = Principal {
            role,
            user_id: None,
            reach: reach.clone(),
            token: None,
        };
        role.rank() <= self.role.rank() && self.effective_reach().covers(&other.effective_reach())
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
    pub fn may_list(&self, base: &crate::ids::PromptId) -> bool {
        self.may_read(&PromptRef {
            base: base.clone(),
            version: None,
        })
    }

    /// Whether this caller may write versions of `base` (an allow-list entry for the whole
    /// prompt is needed: one pinned version does not allow new ones).
    pub fn may_write_prompt(&self, base: &crate::ids::PromptId) -> bool {
        self.can_write() && self.may_list(base)
    }

    /// Whether this caller may write into `env` (its key's `metadata.environments`).
    pub fn may_write_environment(&self, env: &Environment) -> bool {
        self.reach
            .environments
            .as_ref()
            .is_none_or(|list| list.contains(env))
    }
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
