//! The UI's sessions: a random 256-bit id in an `HttpOnly` cookie, kept server-side only as its
//! SHA-256, with an idle and an absolute expiry and a CSRF token of its own.
//!
//! A session never holds the key that signed in: it holds *which* credential it acts as (the
//! master key, or a key's token), and the HTTP layer recomputes the principal from the live key
//! entry on every request, so a deleted or expired key ends its sessions at once.
//!
//! The store is in memory, per instance: behind a load balancer a browser must reach the
//! instance that signed it in (sticky sessions), and a restart signs everyone out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The name of the session cookie.
pub const COOKIE_NAME: &str = "promptd_session";
/// The header a state-changing request made with the session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries the CSRF token in the UI's own forms (sign-out).
pub const CSRF_FIELD: &str = "csrf_token";

/// What a session acts as. The key itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The master key.
    Master,
    /// A virtual key, by its token (SHA-256 hex of the key, as stored).
    Key { token: String },
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute: Duration,
    /// Sessions kept at most per instance; at the cap the oldest is ended to make room.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(2 * 3600),
            absolute: Duration::from_secs(12 * 3600),
            max_sessions: 100_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    credential: Credential,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// A live session, as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    pub credential: Credential,
    /// The token the session's state-changing requests must send back.
    pub csrf: String,
}

impl Active {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// A new session: the cookie value to hand to the browser (the only copy of the id) and its
/// CSRF token.
#[derive(Debug, Clone)]
pub struct Created {
    pub cookie_value: String,
    pub csrf: String,
}

/// Every session of this instance, by the SHA-256 of its id.
#[derive(Debug)]
pub struct Sessions {
    limits: SessionLimits,
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(SessionLimits::default())
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Sessions {
        Sessions {
            limits,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Starts a session acting as `credential`.
    pub fn create(&self, credential: Credential) -> Created {
        self.create_at(credential, Instant::now())
    }

    fn create_at(&self, credential: Credential, now: Instant) -> Created {
        let cookie_value = random_token();
        let csrf = random_token();
        let mut map = self.map.lock();
        if map.len() >= self.limits.max_sessions {
            let limits = self.limits;
            map.retain(|_, s| live(s, now, &limits));
            if map.len() >= self.limits.max_sessions
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            hash(&cookie_value),
            Session {
                credential,
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        Created { cookie_value, csrf }
    }

    /// The live session whose cookie value is `cookie_value`, marking it used; an expired one
    /// is removed and answers `None`.
    pub fn get(&self, cookie_value: &str) -> Option<Active> {
        self.get_at(cookie_value, Instant::now())
    }

    fn get_at(&self, cookie_value: &str, now: Instant) -> Option<Active> {
        if cookie_value.is_empty() || cookie_value.len() > 128 {
            return None;
        }
        let key = hash(cookie_value);
        let mut map = self.map.lock();
        let session = map.get_mut(&key)?;
        if !live(session, now, &self.limits) {
            map.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(Active {
            credential: session.credential.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// Ends the session (sign-out). Answers whether there was one.
    pub fn remove(&self, cookie_value: &str) -> bool {
        self.map.lock().remove(&hash(cookie_value)).is_some()
    }

    /// Live sessions now (expired ones not yet swept are not counted).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.map
            .lock()
            .values()
            .filter(|s| live(s, now, &self.limits))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(s: &Session, now: Instant, limits: &SessionLimits) -> bool {
    now.duration_since(s.last_seen) < limits.idle && now.duration_since(s.created) < limits.absolute
}

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// The `Set-Cookie` value that hands a session to the browser.
pub fn set_cookie(cookie_value: &str, secure: bool, max_age: Duration) -> String {
    format!(
        "{COOKIE_NAME}={cookie_value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_when_removed() {
        let s = Sessions::default();
        let c = s.create(Credential::Master);
        let a = s.get(&c.cookie_value).expect("live");
        assert_eq!(a.credential, Credential::Master);
        assert!(a.csrf_matches(&c.csrf));
        assert!(!a.csrf_matches("other"));
        assert!(!a.csrf_matches(""));
        assert!(s.remove(&c.cookie_value));
        assert!(s.get(&c.cookie_value).is_none());
    }

    #[test]
    fn a_session_ends_after_its_idle_time_and_after_its_absolute_time() {
        let limits = SessionLimits {
            idle: Duration::from_secs(10),
            absolute: Duration::from_secs(25),
            max_sessions: 10,
        };
        let s = Sessions::new(limits);
        let t0 = Instant::now();
        let c = s.create_at(Credential::Master, t0);
        assert!(
            s.get_at(&c.cookie_value, t0 + Duration::from_secs(9))
                .is_some()
        );
        assert!(
            s.get_at(&c.cookie_value, t0 + Duration::from_secs(18))
                .is_some()
        );
        // Used every 9 s, it still ends 25 s after sign-in.
        assert!(
            s.get_at(&c.cookie_value, t0 + Duration::from_secs(26))
                .is_none()
        );
        let d = s.create_at(Credential::Master, t0);
        assert!(
            s.get_at(&d.cookie_value, t0 + Duration::from_secs(11))
                .is_none()
        );
    }

    #[test]
    fn only_the_hash_of_a_session_id_is_kept() {
        let s = Sessions::default();
        let c = s.create(Credential::Key {
            token: "abc".into(),
        });
        let map = s.map.lock();
        assert!(!map.contains_key(c.cookie_value.as_bytes()));
        assert!(map.contains_key(&hash(&c.cookie_value)));
    }

    #[test]
    fn at_the_cap_the_least_recently_used_session_makes_room() {
        let s = Sessions::new(SessionLimits {
            max_sessions: 2,
            ..SessionLimits::default()
        });
        let t0 = Instant::now();
        let a = s.create_at(Credential::Master, t0);
        let b = s.create_at(Credential::Master, t0 + Duration::from_secs(1));
        s.get_at(&a.cookie_value, t0 + Duration::from_secs(2));
        let c = s.create_at(Credential::Master, t0 + Duration::from_secs(3));
        assert!(s.get(&a.cookie_value).is_some());
        assert!(s.get(&b.cookie_value).is_none());
        assert!(s.get(&c.cookie_value).is_some());
    }

    #[test]
    fn a_cookie_header_is_read_by_name() {
        let h = "a=1; promptd_session=xyz ; b=2";
        assert_eq!(cookie_value(h, COOKIE_NAME), Some("xyz"));
        assert_eq!(cookie_value(h, "c"), None);
        assert!(set_cookie("v", true, Duration::from_secs(5)).ends_with("; Secure"));
        assert!(
            set_cookie("v", false, Duration::from_secs(5)).contains("HttpOnly; SameSite=Strict")
        );
    }
}
