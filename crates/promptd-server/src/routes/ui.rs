//! `/ui`: the web UI's HTML routes, a thin mount of the `promptd-ui` crate. Each handler reads
//! the request (session cookie, path, query, form), calls a `promptd_ui::pages` function with
//! the principal and the in-memory index, and sends the HTML with security headers.
//!
//! These routes answer HTML, not JSON: they are listed in [`UI_ROUTES`] (not in
//! [`super::ROUTES`]) and left out of the OpenAPI document on purpose; a test checks that every
//! one is under `/ui` and routed.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use promptd_core::time_fmt::now_ms;
use promptd_core::{Entry, Principal};
use promptd_template::Prompt;
use promptd_ui::pages::{self, PageError, PageResult, Site, Viewer};
use promptd_ui::session::{self, Credential};
use serde::Deserialize;

use crate::auth::{check_origin, session_cookie, session_principal};
use crate::state::{AppState, LazyTemplate};

/// Every `(METHOD, path)` of the UI (HTML, not part of the OpenAPI document).
pub const UI_ROUTES: &[(&str, &str)] = &[
    ("GET", "/ui"),
    ("GET", "/ui/login"),
    ("POST", "/ui/login"),
    ("POST", "/ui/logout"),
    ("GET", "/ui/prompts"),
    ("GET", "/ui/new"),
    ("GET", "/ui/prompts/{prompt_id}"),
    ("GET", "/ui/prompts/{prompt_id}/edit"),
    ("GET", "/ui/prompts/{prompt_id}/history"),
    ("GET", "/ui/prompts/{prompt_id}/release"),
    ("GET", "/ui/prompts/{prompt_id}/playground"),
    ("GET", "/ui/trash"),
    ("GET", "/ui/keys"),
    ("GET", "/ui/assets/{name}"),
];

/// The UI router (the rows of [`UI_ROUTES`]).
pub fn router() -> Router<AppState> {
    use axum::routing::{get, post};
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/prompts") }))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/prompts", get(list))
        .route("/ui/new", get(new_prompt))
        .route("/ui/prompts/{prompt_id}", get(prompt))
        .route("/ui/prompts/{prompt_id}/edit", get(edit))
        .route("/ui/prompts/{prompt_id}/history", get(history))
        .route("/ui/prompts/{prompt_id}/release", get(release))
        .route("/ui/prompts/{prompt_id}/playground", get(playground))
        .route("/ui/trash", get(trash))
        .route("/ui/keys", get(keys))
        .route("/ui/assets/{name}", get(asset))
}

/// The Content-Security-Policy of every page: only this origin's script, style and fetches.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// Who is signed in: the principal, the session's CSRF token, and whether sessions are in use.
struct Signed {
    principal: Principal,
    csrf: String,
    signed_in: bool,
}

impl Signed {
    fn viewer(&self) -> Viewer<'_> {
        Viewer {
            principal: &self.principal,
            csrf: &self.csrf,
            signed_in: self.signed_in,
        }
    }
}

/// The signed-in user of a page request, or the redirect to the sign-in page.
fn signed(state: &AppState, headers: &HeaderMap) -> Result<Signed, Redirect> {
    if state.master_key_hash.is_none() {
        // Authentication is off (loopback only): everyone is the admin, as in the API.
        return Ok(Signed {
            principal: Principal::master(),
            csrf: String::new(),
            signed_in: false,
        });
    }
    let to_login = || Redirect::to("/ui/login?expired=1");
    let cookie = session_cookie(headers).ok_or_else(|| Redirect::to("/ui/login"))?;
    let active = state.ui_sessions.get(cookie).ok_or_else(to_login)?;
    let principal = session_principal(state, &active).map_err(|_| {
        state.ui_sessions.remove(cookie);
        to_login()
    })?;
    Ok(Signed {
        principal,
        csrf: active.csrf,
        signed_in: true,
    })
}

fn page_answer(s: &Signed, result: PageResult) -> Response {
    match result {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(Some(s), &e),
    }
}

fn error_page(s: Option<&Signed>, e: &PageError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let viewer = s.map(Signed::viewer);
    html(status, pages::error(viewer.as_ref(), e))
}

fn compiled(state: &AppState) -> impl Fn(&Entry<LazyTemplate>) -> Option<Prompt> + '_ {
    move |e| {
        e.template
            .get(&e.record, &state.settings.engine)
            .as_ref()
            .ok()
            .cloned()
    }
}

/// Runs `f` with the signed-in user (or redirects to sign-in) and answers its page.
fn with_user(
    state: &AppState,
    headers: &HeaderMap,
    f: impl FnOnce(&Signed) -> PageResult,
) -> Response {
    match signed(state, headers) {
        Ok(s) => {
            let result = f(&s);
            page_answer(&s, result)
        }
        Err(redirect) => redirect.into_response(),
    }
}

type Params = Query<HashMap<String, String>>;

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    if state.master_key_hash.is_none() || signed(&state, &headers).is_ok() {
        return Redirect::to("/ui/prompts").into_response();
    }
    let note = q
        .contains_key("expired")
        .then_some("Your session has ended (signed out, idle for too long, or its key was deleted). Sign in again.");
    match pages::login(note) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(None, &e),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    key: String,
}

fn refuse_login(status: StatusCode, message: &str) -> Response {
    match pages::login(Some(message)) {
        Ok(body) => html(status, body),
        Err(e) => error_page(None, &e),
    }
}

/// Whether the session cookie should be `Secure`: by setting, or because a proxy says the
/// browser spoke HTTPS.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.settings.ui_secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `POST /ui/login`: the key from the form becomes a session; the key itself is not kept.
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(e) = check_origin(&headers) {
        return refuse_login(StatusCode::FORBIDDEN, &e.to_string());
    }
    if state.master_key_hash.is_none() {
        return Redirect::to("/ui/prompts").into_response();
    }
    let key = form.key.trim();
    if key.is_empty() {
        return refuse_login(StatusCode::UNAUTHORIZED, "Enter an API key to sign in.");
    }
    let credential = if state.is_master_key(key) {
        Credential::Master
    } else {
        match state.find_key(key) {
            Some(entry) if entry.record.expires_at.is_some_and(|exp| exp <= now_ms()) => {
                return refuse_login(
                    StatusCode::UNAUTHORIZED,
                    &format!(
                        "The key {} has expired. Ask an admin for a new key.",
                        entry.record.key_name
                    ),
                );
            }
            Some(entry) => Credential::Key {
                token: entry.record.token.clone(),
            },
            None => {
                return refuse_login(
                    StatusCode::UNAUTHORIZED,
                    &format!(
                        "The key {} is neither the master key nor a key made with POST /key/generate (or it was deleted). Check it and try again.",
                        crate::auth::abbreviate(key)
                    ),
                );
            }
        }
    };
    let created = state.ui_sessions.create(credential);
    let cookie = session::set_cookie(
        &created.cookie_value,
        secure(&state, &headers),
        state.ui_sessions.limits().absolute,
    );
    let mut resp = Redirect::to("/ui/prompts").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /ui/logout`: ends the session on the server and clears the cookie.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(cookie) = session_cookie(&headers)
        && let Some(active) = state.ui_sessions.get(cookie)
    {
        if let Err(e) = check_origin(&headers) {
            return error_page(
                None,
                &PageError {
                    status: 403,
                    message: e.to_string(),
                },
            );
        }
        if !active.csrf_matches(&form.csrf_token) {
            return error_page(
                None,
                &PageError {
                    status: 403,
                    message: "Sign-out needs the page's CSRF token; use the Sign out button of a page of this server.".into(),
                },
            );
        }
        state.ui_sessions.remove(cookie);
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(secure(&state, &headers))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn site<'a>(state: &'a AppState, models: &'a [String]) -> Site<'a> {
    Site {
        protected: &state.settings.protected_environments,
        models,
    }
}

async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Params) -> Response {
    with_user(&state, &headers, |s| {
        let params = pages::ListParams {
            q: param(&q, "q").map(str::to_owned),
            environment: param(&q, "environment").map(str::to_owned),
            page: param(&q, "page").and_then(|p| p.parse().ok()),
        };
        let index = state.index.read();
        pages::list(&s.viewer(), &index, &params, compiled(&state))
    })
}

async fn new_prompt(State(state): State<AppState>, headers: HeaderMap) -> Response {
    with_user(&state, &headers, |s| {
        let index = state.index.read();
        pages::edit(
            &s.viewer(),
            &index,
            &site(&state, &[]),
            None,
            None,
            compiled(&state),
        )
    })
}

async fn prompt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    with_user(&state, &headers, |s| {
        let index = state.index.read();
        let site = site(&state, &[]);
        let env = param(&q, "environment");
        pages::prompt(&s.viewer(), &index, &site, &id, env, compiled(&state))
    })
}

async fn edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    with_user(&state, &headers, |s| {
        let index = state.index.read();
        let site = site(&state, &[]);
        let env = param(&q, "environment");
        pages::edit(&s.viewer(), &index, &site, Some(&id), env, compiled(&state))
    })
}

async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    with_user(&state, &headers, |s| {
        let index = state.index.read();
        pages::history(&s.viewer(), &index, &id)
    })
}

async fn release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    with_user(&state, &headers, |s| {
        let index = state.index.read();
        pages::release(&s.viewer(), &index, &site(&state, &[]), &id)
    })
}

async fn playground(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    let models = state.models.names();
    with_user(&state, &headers, |s| {
        let index = state.index.read();
        let env = param(&q, "environment");
        pages::playground(
            &s.viewer(),
            &index,
            &site(&state, &models),
            &id,
            env,
            compiled(&state),
        )
    })
}

async fn trash(State(state): State<AppState>, headers: HeaderMap) -> Response {
    with_user(&state, &headers, |s| pages::trash(&s.viewer()))
}

async fn keys(State(state): State<AppState>, headers: HeaderMap) -> Response {
    with_user(&state, &headers, |s| pages::keys(&s.viewer()))
}

/// `GET /ui/assets/{name}`: the embedded CSS and JavaScript (no session needed; they hold no
/// data). Cached for an hour; a new binary may change them.
async fn asset(Path(name): Path<String>) -> Response {
    match promptd_ui::assets::get(&name) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            a.body,
        )
            .into_response(),
        None => crate::ApiError::not_found(format!(
            "There is no UI asset {name}; the UI serves {}.",
            promptd_ui::assets::ALL
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into_response(),
    }
}
