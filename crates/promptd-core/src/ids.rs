//! Parsed identifiers: prompt ids, version suffixes and environments ("parse, don't validate").
//!
//! LiteLLM splits ids on the first `.v` or `_v` anywhere in the string, which turns
//! `my_var_prompt` into `my`. Here only a *trailing* `.v<digits>` or `_v<digits>` is a version.

use std::fmt;

/// Longest accepted prompt id or environment name, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why an identifier was rejected; the message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

/// A version number: 1, 2, 3, … allocated per (prompt, environment).
pub type Version = u32;

/// A base prompt id without a version suffix, made of `[A-Za-z0-9_.-]`, starting with a letter or
/// digit, at most [`MAX_ID_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptId(String);

impl PromptId {
    /// Parses an id as a client wants to *create* it: a version suffix is refused because the
    /// server allocates versions.
    pub fn parse_new(raw: &str) -> Result<PromptId, IdError> {
        check_charset(raw, "prompt_id")?;
        if let Some((base, v)) = split_version_suffix(raw) {
            return Err(IdError(format!(
                "prompt_id '{raw}' ends in a version suffix (version {v}); versions are allocated by \
                 the server. Send prompt_id '{base}' and the server will create the next version."
            )));
        }
        Ok(PromptId(raw.to_owned()))
    }

    /// Wraps an id that is already known to be a valid base id (e.g. read back from the store).
    pub fn from_trusted(raw: impl Into<String>) -> PromptId {
        PromptId(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to a prompt as it appears in a URL: a base id plus an optional version
/// (`greeting`, `greeting.v3`, `greeting_v3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    pub base: PromptId,
    pub version: Option<Version>,
}

impl PromptRef {
    pub fn parse(raw: &str) -> Result<PromptRef, IdError> {
        check_charset(raw, "prompt id")?;
        Ok(match split_version_suffix(raw) {
            Some((base, v)) => PromptRef {
                base: PromptId(base.to_owned()),
                version: Some(v),
            },
            None => PromptRef {
                base: PromptId(raw.to_owned()),
                version: None,
            },
        })
    }
}

impl fmt::Display for PromptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}.v{v}", self.base),
            None => write!(f, "{}", self.base),
        }
    }
}

/// Splits a trailing `.v<digits>` or `_v<digits>` off an id. The base must stay non-empty and
/// the number must be a positive `u32` without a sign or spaces.
pub fn split_version_suffix(raw: &str) -> Option<(&str, Version)> {
    let digits_start = raw.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits_start == raw.len() {
        return None;
    }
    let head = &raw[..digits_start];
    let base = head
        .strip_suffix(".v")
        .or_else(|| head.strip_suffix("_v"))?;
    if base.is_empty() {
        return None;
    }
    let v: Version = raw[digits_start..].parse().ok()?;
    (v >= 1).then_some((base, v))
}

fn check_charset(raw: &str, what: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError(format!("{what} must not be empty")));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError(format!(
            "{what} is {} bytes long; the limit is {MAX_ID_LEN}",
            raw.len()
        )));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(IdError(format!(
            "{what} '{raw}' contains {bad:?}; use only letters, digits, '_', '-' and '.'"
        )));
    }
    if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(IdError(format!(
            "{what} '{raw}' must start with a letter or a digit"
        )));
    }
    Ok(())
}

/// A deployment environment such as `development`, `staging` or `production`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Environment(String);

impl Environment {
    pub const DEFAULT: &'static str = "development";
    /// Which environment a read without `environment` serves, first match wins (as LiteLLM).
    pub const SERVE_PRECEDENCE: [&'static str; 3] = ["production", "staging", "development"];

    pub fn parse(raw: &str) -> Result<Environment, IdError> {
        check_charset(raw, "environment")?;
        Ok(Environment(raw.to_owned()))
    }

    /// Empty or absent means "not given", as in LiteLLM's query parameters.
    pub fn parse_opt(raw: Option<&str>) -> Result<Option<Environment>, IdError> {
        match raw {
            None | Some("") => Ok(None),
            Some(s) => Environment::parse(s).map(Some),
        }
    }

    pub fn development() -> Environment {
        Environment(Self::DEFAULT.to_owned())
    }

    pub fn from_trusted(raw: impl Into<String>) -> Environment {
        Environment(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_a_trailing_suffix_is_a_version() {
        assert_eq!(split_version_suffix("greeting.v3"), Some(("greeting", 3)));
        assert_eq!(split_version_suffix("greeting_v12"), Some(("greeting", 12)));
        assert_eq!(split_version_suffix("my_var_prompt"), None);
        assert_eq!(split_version_suffix("api.vendor"), None);
        assert_eq!(split_version_suffix("code_validator"), None);
        assert_eq!(split_version_suffix("a.v2.b"), None);
        assert_eq!(split_version_suffix(".v2"), None);
        assert_eq!(split_version_suffix("x.v0"), None);
        assert_eq!(split_version_suffix("x.v99999999999"), None);
        assert_eq!(split_version_suffix("chat.v2.v3"), Some(("chat.v2", 3)));
    }

    #[test]
    fn creating_an_id_with_a_version_suffix_is_refused_with_the_fix() {
        let err = PromptId::parse_new("greeting.v2").unwrap_err();
        assert!(err.0.contains("Send prompt_id 'greeting'"), "{err}");
        assert!(PromptId::parse_new("my_var_prompt").is_ok());
    }

    #[test]
    fn ids_outside_the_safe_set_are_refused() {
        for bad in ["", "a/b", "a b", "-a", ".a", "é", "a?x"] {
            assert!(PromptId::parse_new(bad).is_err(), "{bad}");
        }
        assert!(PromptId::parse_new(&"a".repeat(MAX_ID_LEN + 1)).is_err());
    }

    proptest! {
        #[test]
        fn parsing_a_reference_never_panics_and_round_trips(s in ".{0,40}") {
            if let Ok(r) = PromptRef::parse(&s) {
                let again = PromptRef::parse(&r.to_string()).unwrap();
                prop_assert_eq!(again.base, r.base);
                prop_assert_eq!(again.version, r.version);
            }
        }

        #[test]
        fn a_base_plus_a_suffix_splits_back(base in "[a-z][a-z0-9_]{0,10}[a-z]", v in 1u32..100000) {
            let id = format!("{base}.v{v}");
            prop_assert_eq!(split_version_suffix(&id), Some((base.as_str(), v)));
        }
    }
}
