//! Who is calling, and what they may do. A principal is resolved once per request from its key;
//! handlers ask it for capabilities instead of comparing roles themselves.

use std::fmt;

use crate::ids::PromptRef;

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

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub role: Role,
    /// Written to `created_by`. The master key is `default_user_id`, as in LiteLLM.
    pub user_id: Option<String>,
    /// `metadata.prompts` of the key: when present, reads are limited to these ids.
    pub allowed_prompts: Option<Vec<String>>,
    /// The SHA-256 token of the key, `None` for the master key.
    pub token: Option<String>,
}

impl Principal {
    pub const ADMIN_USER_ID: &'static str = "default_user_id";

    pub fn master() -> Principal {
        Principal {
            role: Role::ProxyAdmin,
            user_id: Some(Self::ADMIN_USER_ID.to_owned()),
            allowed_prompts: None,
            token: None,
        }
    }

    pub fn can_write(&self) -> bool {
        self.role == Role::ProxyAdmin
    }

    /// Whether this caller may read every prompt (list everything, see all versions).
    pub fn reads_everything(&self) -> bool {
        self.allowed_prompts.is_none() && self.role != Role::InternalUser
    }

    /// Whether this caller may read the prompt `r` (a base id, or one version of it).
    ///
    /// An allow-list entry names a base id (every version) or one version (`greeting.v2`).
    /// An internal user without an allow-list reads nothing.
    pub fn may_read(&self, r: &PromptRef) -> bool {
        match &self.allowed_prompts {
            Some(list) => list.iter().any(|entry| match PromptRef::parse(entry) {
                Ok(allowed) => {
                    allowed.base == r.base
                        && (allowed.version.is_none() || allowed.version == r.version)
                }
                Err(_) => false,
            }),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(list: Option<&[&str]>, role: Role) -> Principal {
        Principal {
            role,
            user_id: None,
            allowed_prompts: list.map(|l| l.iter().map(|s| s.to_string()).collect()),
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
