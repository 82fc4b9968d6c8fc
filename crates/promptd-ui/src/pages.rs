//! The UI's pages: each is a function from (who asks, the in-memory index, the query) to an
//! HTML string. No HTTP here: promptd-server's `/ui` routes call these and send the answer.
//!
//! Every page is rendered by minijinja with HTML auto-escaping on (the templates end in
//! `.html`), and every permission is checked with the same `Principal` capabilities the JSON
//! API uses, so a page never shows what the API would refuse.

use std::sync::OnceLock;

use minijinja::{Environment as Jinja, context};
use promptd_core::time_fmt::format_ms;
use promptd_core::{Entry, Environment, Index, Principal, PromptId, PromptRef, Role};
use promptd_template::{Definition, Prompt};
use serde::Serialize;
use serde_json::Value;

use crate::highlight::highlight;

/// Rows per page of the prompts list.
pub const PAGE_SIZE: usize = 50;

/// Who is looking at a page.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub principal: &'a Principal,
    /// The session's CSRF token (empty when authentication is off).
    pub csrf: &'a str,
    /// Whether the viewer signed in (false when authentication is off: no sign-out).
    pub signed_in: bool,
}

/// Server settings the pages show.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// Environments that change only through promote and rollback.
    pub protected: &'a [Environment],
    /// The `model_name`s of `model_list`.
    pub models: &'a [String],
}

/// A page that cannot be shown: the status and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub status: u16,
    pub message: String,
}

impl PageError {
    fn new(status: u16, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }
}

pub type PageResult = Result<String, PageError>;

fn env() -> &'static Jinja<'static> {
    static ENV: OnceLock<Jinja<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Jinja::new();
        // `.html` templates are auto-escaped (minijinja's default callback); listed explicitly so
        // the rule does not depend on a default.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for (name, src) in crate::templates::ALL {
            // The templates are compiled into the binary and checked by the tests below; a
            // broken one is a build defect, reported on the page that uses it.
            if let Err(e) = env.add_template(name, src) {
                report_broken_template(name, &e);
            }
        }
        env
    })
}

fn report_broken_template(name: &str, e: &minijinja::Error) {
    eprintln!("promptd-ui: template {name} does not compile: {e}");
}

/// A serialisable value for a template.
fn sv<S: Serialize>(x: S) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(x))
}

fn render(name: &str, ctx: minijinja::Value) -> PageResult {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| PageError::new(500, format!("The page {name} could not be drawn: {e:#}")))
}

#[derive(Serialize)]
struct Me {
    actor: String,
    role: &'static str,
    /// May change prompts at all (the buttons appear; each is still checked per environment).
    can_write: bool,
    can_keys: bool,
    can_audit: bool,
}

fn me(v: &Viewer<'_>) -> Me {
    let p = v.principal;
    Me {
        actor: p.actor.clone(),
        role: p.role.as_str(),
        can_write: p.role == Role::ProxyAdmin,
        can_keys: p.key_viewer().is_ok(),
        can_audit: p.auditor().is_ok(),
    }
}

fn base_ctx(v: &Viewer<'_>, page: &str) -> minijinja::Value {
    context! {
        me => sv(me(v)),
        csrf => v.csrf,
        signed_in => v.signed_in,
        page => page,
    }
}

/// The sign-in page; `error` says why the last attempt failed.
pub fn login(error: Option<&str>) -> PageResult {
    render("login.html", context! { error => error, page => "login" })
}

/// A page that says what went wrong (`viewer` is `None` before sign-in).
pub fn error(viewer: Option<&Viewer<'_>>, e: &PageError) -> String {
    let ctx = match viewer {
        Some(v) => {
            context! { ..base_ctx(v, "error"), ..context! { status => e.status, message => &e.message } }
        }
        None => {
            context! { status => e.status, message => &e.message, page => "error", signed_in => false, csrf => "", me => () }
        }
    };
    render("error.html", ctx).unwrap_or_else(|e2| {
        format!(
            "<!doctype html><title>promptd</title><p>{}</p>",
            escape(&e2.message)
        )
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What the prompts list shows.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ListParams {
    /// Part of a prompt id (case-insensitive).
    pub q: Option<String>,
    pub environment: Option<String>,
    pub page: Option<usize>,
}

#[derive(Serialize)]
struct EnvVersion {
    name: String,
    version: u32,
}

#[derive(Serialize)]
struct Row {
    id: String,
    envs: Vec<EnvVersion>,
    model: Option<String>,
    changed: String,
    author: String,
}

fn when(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => {
            let s = format_ms(ms);
            format!("{} UTC", s.get(..16).unwrap_or(&s).replace('T', " "))
        }
        None => "config file".to_owned(),
    }
}

fn row<T>(
    id: &PromptId,
    g: &[std::sync::Arc<Entry<T>>],
    compiled: &impl Fn(&Entry<T>) -> Option<Prompt>,
) -> Row {
    let newest = g
        .iter()
        .max_by_key(|e| e.record.updated_at.or(e.record.created_at));
    Row {
        id: id.to_string(),
        envs: g
            .iter()
            .map(|e| EnvVersion {
                name: e.record.environment.to_string(),
                version: e.record.version,
            })
            .collect(),
        model: g
            .first()
            .and_then(|e| compiled(e))
            .and_then(|t| t.model().map(str::to_owned)),
        changed: newest
            .map(|e| when(e.record.created_at))
            .unwrap_or_default(),
        author: newest
            .and_then(|e| {
                e.record
                    .provenance
                    .actor
                    .clone()
                    .or_else(|| e.record.created_by.clone())
            })
            .unwrap_or_default(),
    }
}

/// The prompts list: the latest version per (prompt, environment) the viewer may read, grouped by
/// prompt, filtered by id and environment, one page of [`PAGE_SIZE`] rows. Only the rows on the
/// page have their templates compiled (for the model).
pub fn list<T>(
    v: &Viewer<'_>,
    index: &Index<T>,
    q: &ListParams,
    compiled: impl Fn(&Entry<T>) -> Option<Prompt>,
) -> PageResult {
    let env_filter = match q.environment.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(Environment::parse(e).map_err(|err| {
            PageError::new(
                400,
                format!("The environment filter '{e}' is not valid: {err}"),
            )
        })?),
        None => None,
    };
    let needle = q.q.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    let p = v.principal;
    let everything = p.reads_everything();
    let page = q.page.unwrap_or(1).max(1);
    // One pass over the index's ids in order (only those with a version in the filtered
    // environment), counting matches and keeping only the ids of the requested page: no version
    // is copied for prompts that are not shown.
    let window = |page: usize| (page - 1).saturating_mul(PAGE_SIZE)..page.saturating_mul(PAGE_SIZE);
    let mut total = 0usize;
    let mut ids: Vec<PromptId> = Vec::new();
    let mut last_page_ids: Vec<PromptId> = Vec::new();
    let wanted = window(page);
    index.ids_in(env_filter.as_ref(), |id| {
        if !needle.is_empty() && !id.to_ascii_lowercase().contains(&needle) {
            return true;
        }
        let pid = || PromptId::from_trusted(id);
        if !everything && !p.may_list(&pid()) {
            return true;
        }
        if wanted.contains(&total) {
            ids.push(pid());
        }
        // A page past the end shows the last page.
        if total.is_multiple_of(PAGE_SIZE) {
            last_page_ids.clear();
        }
        last_page_ids.push(pid());
        total += 1;
        true
    });
    let total_pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = if ids.is_empty() && total > 0 {
        ids = last_page_ids;
        total_pages
    } else {
        page.min(total_pages)
    };
    let rows: Vec<Row> = ids
        .iter()
        .map(|id| {
            let envs: Vec<std::sync::Arc<Entry<T>>> = match &env_filter {
                Some(env) => index.resolve(id, Some(env), None).into_iter().collect(),
                None if index.is_config(id) => index.resolve(id, None, None).into_iter().collect(),
                None => tabs(index, id)
                    .into_iter()
                    .filter_map(|e| index.resolve(id, Some(&Environment::from_trusted(e)), None))
                    .collect(),
            };
            row(id, &envs, &compiled)
        })
        .collect();
    render(
        "list.html",
        context! {
            ..base_ctx(v, "list"),
            ..context! {
                rows => sv(rows),
                q => q.q.as_deref().unwrap_or(""),
                environment => env_filter.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                environments => Environment::SERVE_PRECEDENCE,
                page_no => page,
                total_pages => total_pages,
                total => total,
            }
        },
    )
}

/// The prompt a page is about, checked like a read of the API: 403 outside the viewer's
/// allow-list (before existence), 404 when it has no version.
fn readable<T>(v: &Viewer<'_>, index: &Index<T>, raw: &str) -> Result<PromptId, PageError> {
    let r = PromptRef::parse(raw)
        .map_err(|e| PageError::new(404, format!("There is no prompt '{raw}': {e}")))?;
    if r.version.is_some() {
        return Err(PageError::new(
            404,
            format!(
                "'{raw}' names one version; open the prompt /ui/prompts/{} and pick the version there.",
                r.base
            ),
        ));
    }
    v.principal
        .reader_of(&r)
        .map_err(|d| PageError::new(403, d.to_string()))?;
    if !index.contains(&r.base) {
        return Err(PageError::new(
            404,
            format!(
                "Prompt {} not found. Check the id in the prompts list.",
                r.base
            ),
        ));
    }
    Ok(r.base)
}

fn environment_of<T>(
    index: &Index<T>,
    id: &PromptId,
    raw: Option<&str>,
) -> Result<Option<std::sync::Arc<Entry<T>>>, PageError> {
    let env = match raw.filter(|e| !e.is_empty()) {
        Some(e) => Some(Environment::parse(e).map_err(|err| {
            PageError::new(400, format!("The environment '{e}' is not valid: {err}"))
        })?),
        None => None,
    };
    Ok(index.resolve(id, env.as_ref(), None))
}

/// Whether the viewer may write a new version of `id` into `env` directly (not protected).
fn may_edit<T>(
    v: &Viewer<'_>,
    index: &Index<T>,
    site: &Site<'_>,
    id: &PromptId,
    env: &Environment,
) -> bool {
    !index.is_config(id) && !site.protected.contains(env) && may_release(v, id, env)
}

/// Whether the viewer may write `env` of `id` through promote and rollback.
fn may_release(v: &Viewer<'_>, id: &PromptId, env: &Environment) -> bool {
    v.principal
        .prompt_admin("update")
        .and_then(|a| a.writer_of(id, [env]))
        .is_ok()
}

#[derive(Serialize)]
struct VersionRow {
    environment: String,
    version: u32,
    origin: &'static str,
    source: Option<String>,
    message: Option<String>,
    author: String,
    created: String,
    etag: String,
}

fn version_row<T>(e: &Entry<T>) -> VersionRow {
    let r = &e.record;
    VersionRow {
        environment: r.environment.to_string(),
        version: r.version,
        origin: r.provenance.origin.as_str(),
        source: r.provenance.source.clone(),
        message: r.provenance.message.clone(),
        author: r
            .provenance
            .actor
            .clone()
            .or_else(|| r.created_by.clone())
            .unwrap_or_default(),
        created: when(r.created_at),
        etag: r.etag(),
    }
}

#[derive(Serialize)]
struct Field {
    name: String,
    ty: &'static str,
    required: bool,
}

fn fields(t: &Prompt) -> Vec<Field> {
    t.input_schema()
        .iter()
        .map(|f| Field {
            name: f.name.clone(),
            ty: f.ty.name(),
            required: f.required,
        })
        .collect()
}

/// The `.prompt` text of a version.
fn text_of<T>(e: &Entry<T>, compiled: &Option<Prompt>) -> String {
    Definition::from_params(&e.record.litellm_params.to_map())
        .and_then(|d| d.text(None))
        .unwrap_or_else(|_| {
            compiled
                .as_ref()
                .map(|t| promptd_template::from_json(t.content(), t.metadata()))
                .unwrap_or_default()
        })
}

/// The prompt page: environment tabs, the highlighted template, input schema, model and
/// parameters, and every version of the environment with its message, author and origin.
pub fn prompt<T>(
    v: &Viewer<'_>,
    index: &Index<T>,
    site: &Site<'_>,
    raw_id: &str,
    environment: Option<&str>,
    compiled: impl Fn(&Entry<T>) -> Option<Prompt>,
) -> PageResult {
    let id = readable(v, index, raw_id)?;
    let entry = environment_of(index, &id, environment)?.ok_or_else(|| {
        PageError::new(
            404,
            format!(
                "Prompt {id} has no version in environment {}. Pick one of its environments.",
                environment.unwrap_or("")
            ),
        )
    })?;
    let env = entry.record.environment.clone();
    let template = compiled(&entry);
    let text = text_of(&entry, &template);
    let versions: Vec<VersionRow> = index
        .versions(&id, Some(&env))
        .iter()
        .map(|e| version_row(e))
        .collect();
    let params = template
        .as_ref()
        .map(|t| serde_json::to_string_pretty(t.optional_params()).unwrap_or_default())
        .unwrap_or_default();
    render(
        "prompt.html",
        context! {
            ..base_ctx(v, "prompt"),
            ..context! {
                id => id.as_str(),
                environment => env.as_str(),
                environments => tabs(index, &id),
                version => entry.record.version,
                lines => sv(highlight(&text)),
                fields => sv(template.as_ref().map(fields).unwrap_or_default()),
                model => template.as_ref().and_then(|t| t.model().map(str::to_owned)),
                params => params,
                versions => sv(versions),
                is_config => index.is_config(&id),
                protected => site.protected.contains(&env),
                can_edit => may_edit(v, index, site, &id, &env),
                can_release => v.principal.role == Role::ProxyAdmin && !index.is_config(&id),
            }
        },
    )
}

fn tabs<T>(index: &Index<T>, id: &PromptId) -> Vec<String> {
    let mut envs = index.environments(id);
    envs.sort_by_key(|e| {
        (
            Environment::SERVE_PRECEDENCE
                .iter()
                .position(|p| p == e)
                .unwrap_or(3),
            e.clone(),
        )
    });
    if envs.is_empty() && index.is_config(id) {
        envs.push(Environment::DEFAULT.to_owned());
    }
    envs
}

/// The editor: the `.prompt` text of the environment's latest version (or an empty draft for a
/// new prompt when `raw_id` is `None`), with what the page needs to preview and to save with
/// `If-Match`.
pub fn edit<T>(
    v: &Viewer<'_>,
    index: &Index<T>,
    site: &Site<'_>,
    raw_id: Option<&str>,
    environment: Option<&str>,
    compiled: impl Fn(&Entry<T>) -> Option<Prompt>,
) -> PageResult {
    if v.principal.role != Role::ProxyAdmin {
        return Err(PageError::new(
            403,
            "Only proxy admins can edit prompts. Ask an admin for a proxy_admin key.",
        ));
    }
    let Some(raw_id) = raw_id else {
        let data = serde_json::json!({"new": true, "id": "", "environment": "development",
            "etag": null, "version": null, "protected": site.protected.iter().map(|e| e.as_str()).collect::<Vec<_>>()});
        return render(
            "edit.html",
            context! { ..base_ctx(v, "edit"), ..context! {
                id => "", environment => "development", text => NEW_PROMPT, data => sv(data), new => true,
                environments => Environment::SERVE_PRECEDENCE,
            }},
        );
    };
    let id = readable(v, index, raw_id)?;
    let entry = environment_of(index, &id, environment)?.ok_or_else(|| {
        PageError::new(
            404,
            format!("Prompt {id} has no version in that environment."),
        )
    })?;
    let env = entry.record.environment.clone();
    if !may_edit(v, index, site, &id, &env) {
        let why = if index.is_config(&id) {
            format!("Prompt {id} comes from the config file; change it there.")
        } else if site.protected.contains(&env) {
            format!(
                "Environment {env} is protected: it changes only through promote and rollback (the Release page)."
            )
        } else {
            format!("Your key may not write prompt {id} in environment {env}.")
        };
        return Err(PageError::new(403, why));
    }
    let template = compiled(&entry);
    let text = text_of(&entry, &template);
    let data = serde_json::json!({"new": false, "id": id.as_str(), "environment": env.as_str(),
        "etag": entry.record.etag(), "version": entry.record.version});
    render(
        "edit.html",
        context! { ..base_ctx(v, "edit"), ..context! {
            id => id.as_str(), environment => env.as_str(), text => text, data => sv(data), new => false,
            environments => tabs(index, &id),
        }},
    )
}

const NEW_PROMPT: &str = "---\nmodel: gpt-4o\ninput:\n  schema:\n    name: string\n---\nSystem: You are helpful.\n\nUser: Hello {{name}}.\n";

/// History and diff: the event timeline (loaded from `/prompts/{id}/history` by the page) and a
/// side-by-side diff of any two versions or environments (from `/prompts/{id}/diff`).
pub fn history<T>(v: &Viewer<'_>, index: &Index<T>, raw_id: &str) -> PageResult {
    let id = readable(v, index, raw_id)?;
    let mut refs: Vec<String> = Vec::new();
    for env in tabs(index, &id) {
        refs.push(env.clone());
        let e = Environment::from_trusted(env.clone());
        for entry in index.versions(&id, Some(&e)) {
            refs.push(format!("{env}.v{}", entry.record.version));
        }
    }
    let (from, to) = default_pair(&refs);
    render(
        "history.html",
        context! { ..base_ctx(v, "history"), ..context! {
            id => id.as_str(), refs => refs, from => from, to => to,
            data => sv(serde_json::json!({"id": id.as_str()})),
        }},
    )
}

/// The pair the diff shows first: the two newest versions of the first environment, or its
/// only version against itself.
fn default_pair(refs: &[String]) -> (String, String) {
    let versions: Vec<&String> = refs.iter().filter(|r| r.contains(".v")).collect();
    match versions.as_slice() {
        [newest, previous, ..] if newest.split('.').next() == previous.split('.').next() => {
            ((*previous).clone(), (*newest).clone())
        }
        [only, ..] => ((*only).clone(), (*only).clone()),
        [] => (String::new(), String::new()),
    }
}

#[derive(Serialize)]
struct ReleaseEnv {
    name: String,
    version: Option<u32>,
    etag: Option<String>,
    hash: Option<String>,
    versions: Vec<u32>,
    protected: bool,
    may_write: bool,
}

/// Release: promote a version of one environment into another, or roll an environment back to
/// one of its earlier versions; each button says exactly what changes and asks to confirm.
pub fn release<T>(v: &Viewer<'_>, index: &Index<T>, site: &Site<'_>, raw_id: &str) -> PageResult {
    let id = readable(v, index, raw_id)?;
    if v.principal.role != Role::ProxyAdmin {
        return Err(PageError::new(
            403,
            "Only proxy admins can promote and roll back prompts. Ask an admin for a proxy_admin key.",
        ));
    }
    if index.is_config(&id) {
        return Err(PageError::new(
            400,
            format!("Prompt {id} comes from the config file; it has no releases."),
        ));
    }
    let mut names = tabs(index, &id);
    for e in Environment::SERVE_PRECEDENCE {
        if !names.iter().any(|n| n == e) {
            names.push(e.to_owned());
        }
    }
    let envs: Vec<ReleaseEnv> = names
        .into_iter()
        .map(|name| {
            let env = Environment::from_trusted(name.clone());
            let latest = index.resolve(&id, Some(&env), None);
            ReleaseEnv {
                version: latest.as_ref().map(|e| e.record.version),
                etag: latest.as_ref().map(|e| e.record.etag()),
                hash: latest
                    .as_ref()
                    .map(|e| e.record.content_sha256.chars().take(12).collect()),
                versions: index
                    .versions(&id, Some(&env))
                    .iter()
                    .map(|e| e.record.version)
                    .collect(),
                protected: site.protected.contains(&env),
                may_write: may_release(v, &id, &env),
                name,
            }
        })
        .collect();
    let data = serde_json::json!({"id": id.as_str(), "environments": envs});
    render(
        "release.html",
        context! { ..base_ctx(v, "release"), ..context! { id => id.as_str(), envs => sv(&envs), data => sv(data) }},
    )
}

/// The playground: variables from the prompt's input schema, a model from `model_list`, and a
/// streamed answer from `/chat/completions`.
pub fn playground<T>(
    v: &Viewer<'_>,
    index: &Index<T>,
    site: &Site<'_>,
    raw_id: &str,
    environment: Option<&str>,
    compiled: impl Fn(&Entry<T>) -> Option<Prompt>,
) -> PageResult {
    let id = readable(v, index, raw_id)?;
    let entry = environment_of(index, &id, environment)?.ok_or_else(|| {
        PageError::new(
            404,
            format!("Prompt {id} has no version in that environment."),
        )
    })?;
    let template = compiled(&entry);
    let model = template.as_ref().and_then(|t| t.model().map(str::to_owned));
    render(
        "playground.html",
        context! { ..base_ctx(v, "playground"), ..context! {
            id => id.as_str(),
            environment => entry.record.environment.as_str(),
            version => entry.record.version,
            fields => sv(template.as_ref().map(fields).unwrap_or_default()),
            models => sv(site.models),
            model => model,
            data => sv(serde_json::json!({"id": id.as_str(), "environment": entry.record.environment.as_str()})),
        }},
    )
}

/// The trash (admins and viewers): loaded from `/prompts/trash`, restored with
/// `/prompts/{id}/restore`.
pub fn trash(v: &Viewer<'_>) -> PageResult {
    v.principal
        .auditor()
        .map_err(|d| PageError::new(403, d.to_string()))?;
    render(
        "trash.html",
        context! { ..base_ctx(v, "trash"), ..context! { data => sv(Value::Null) }},
    )
}

/// Keys (admins, viewers read-only): list, create (the new key is shown once), delete.
pub fn keys(v: &Viewer<'_>) -> PageResult {
    v.principal
        .key_viewer()
        .map_err(|d| PageError::new(403, d.to_string()))?;
    let roles: Vec<&str> = [Role::InternalUser, Role::ProxyAdminViewer, Role::ProxyAdmin]
        .iter()
        .filter(|r| r.rank() <= v.principal.role.rank())
        .map(|r| r.as_str())
        .collect();
    render(
        "keys.html",
        context! { ..base_ctx(v, "keys"), ..context! {
            roles => roles,
            can_manage => v.principal.key_admin().is_ok(),
            data => sv(Value::Null),
        }},
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in crate::templates::ALL {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_sign_in_page_escapes_what_it_echoes() {
        let html = login(Some("<script>x</script>")).expect("page");
        assert!(html.contains("&lt;script&gt;x&lt;"), "{html}");
        assert!(!html.contains("<script>x"));
    }

    #[test]
    fn an_error_page_escapes_its_message() {
        let p = Principal::master();
        let v = Viewer {
            principal: &p,
            csrf: "t",
            signed_in: true,
        };
        let e = PageError::new(404, "<b>nope</b>");
        let html = error(Some(&v), &e);
        assert!(html.contains("&lt;b&gt;nope&lt;"), "{html}");
        assert!(!html.contains("<b>nope"));
    }

    #[test]
    fn the_first_diff_pair_is_the_two_newest_versions_of_an_environment() {
        let refs: Vec<String> = ["production", "production.v3", "production.v2", "staging"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            default_pair(&refs),
            ("production.v2".into(), "production.v3".into())
        );
    }
}
