//! Which database a URL names, and how to show a URL without its password.

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL promptd cannot use (shown without its password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported database URL '{0}': use sqlite://FILE or postgres://USER@HOST/DB")]
pub struct UnsupportedUrl(pub String);

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, UnsupportedUrl> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(UnsupportedUrl(redact_url(url)))
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = UnsupportedUrl;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::from_url(s)
    }
}

/// Hides a password in a database URL before it reaches a message or a log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_backend_and_an_unknown_one_is_refused_without_its_password() {
        assert_eq!(Backend::from_url("sqlite://a.db"), Ok(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgresql://u@h/d"),
            Ok(Backend::Postgres)
        );
        let e = Backend::from_url("mysql://u:secret@h/d").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains("sqlite://FILE"), "{e}");
    }
}
