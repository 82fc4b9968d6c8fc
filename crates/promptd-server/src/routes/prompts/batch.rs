//! `POST /prompts/batch`: many creates and updates (and, with `prune`, deletes) for any prompts
//! and environments, all or nothing in one transaction. Every item is validated first and every
//! problem is reported with its item's index; unchanged items (same content hash as the
//! environment's latest) write nothing; `dry_run` answers the plan from memory without writing.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use promptd_core::{
    Act, Append, BatchOp, BatchOutcome, BoxError, Environment, Kind, NewVersion, PromptAdmin,
    PromptId, Provenance,
};
use promptd_template::Prompt;
use serde_json::{Map, Value, json};

use super::write::{refuse_config_type, refuse_protected, validate_template};
use crate::auth::Caller;
use crate::body::{Fields, FromBody, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::state::AppState;
use crate::wire::{environment_of, parse_litellm_params, parse_prompt_info, restore_secrets};

/// The path of the batch route (it has its own body limit, `max_batch_body_bytes`).
pub const BATCH_PATH: &str = "/prompts/batch";

/// The body of `POST /prompts/batch`.
struct BatchRequest {
    items: Vec<Value>,
    message: Option<String>,
    prune: bool,
    prune_environments: Option<Vec<String>>,
    dry_run: bool,
}

impl FromBody for BatchRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        if !f.has("items") {
            f.errors()
                .push(crate::error::FieldError::missing(&["body", "items"]));
        } else if f.raw("items").is_none() {
            f.error(
                "list_type",
                "items",
                "Input should be a valid list",
                Some(&Value::Null),
            );
        }
        let items = f.list("items");
        let message = f.message();
        let prune = f.bool("prune").unwrap_or(false);
        // Absent or null: every environment of the folder's prompts.
        let prune_environments = f
            .raw("prune_environments")
            .is_some()
            .then(|| f.str_list("prune_environments"));
        let dry_run = f.bool("dry_run").unwrap_or(false);
        Some(BatchRequest {
            items,
            message,
            prune,
            prune_environments,
            dry_run,
        })
    }
}

/// One item: a whole version of one prompt in one environment.
struct ItemBody {
    prompt_id: String,
    environment: Option<String>,
    litellm_params: Map<String, Value>,
    prompt_info: Map<String, Value>,
    message: Option<String>,
    if_match: Option<String>,
}

impl FromBody for ItemBody {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let prompt_id = f.required_str("prompt_id");
        let environment = f.str("environment");
        let params = match f.all().get("litellm_params") {
            None => {
                f.errors().push(crate::error::FieldError::missing(&[
                    "body",
                    "litellm_params",
                ]));
                None
            }
            Some(v) => parse_litellm_params(v, &["body", "litellm_params"], f.errors()),
        };
        let info = parse_prompt_info(
            f.all().get("prompt_info"),
            &["body", "prompt_info"],
            f.errors(),
        );
        let message = f.message();
        let if_match = f.str("if_match");
        Some(ItemBody {
            prompt_id: prompt_id?,
            environment,
            litellm_params: params?,
            prompt_info: info?,
            message,
            if_match,
        })
    }
}

/// A validated item, ready to plan and write.
struct Item {
    /// Its index in the request.
    index: usize,
    id: PromptId,
    env: Environment,
    params: Map<String, Value>,
    info: Map<String, Value>,
    message: Option<String>,
    if_match: Option<String>,
    author: Option<String>,
    actor: String,
    /// The version a first write in this environment restores redacted secrets from.
    fallback: Option<Map<String, Value>>,
}

/// What one change does, as planned from memory or as committed.
struct Planned {
    index: Option<usize>,
    prompt_id: PromptId,
    environment: Environment,
    action: &'static str,
    /// The environment's version (current before, or written by, the change) and its ETag.
    current: Option<(u32, String)>,
    content_sha256: Option<String>,
    diff: Option<String>,
}

/// One refusal: the item's index (none for a prune deletion), its prompt and why.
fn refusal(index: Option<usize>, prompt_id: &str, e: &ApiError) -> Value {
    json!({"index": index, "prompt_id": prompt_id, "status": e.status().as_u16(), "detail": refusal_text(e)})
}

fn refusal_text(e: &ApiError) -> String {
    match e {
        ApiError::Validation(errors) => errors
            .iter()
            .map(|fe| {
                let loc: Vec<String> = (fe.loc.iter().skip(1))
                    .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
                    .collect();
                format!("{}: {}", loc.join("."), fe.msg)
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn refused(errors: Vec<Value>, total: usize) -> ApiError {
    let statuses: HashSet<u64> = errors.iter().filter_map(|e| e["status"].as_u64()).collect();
    // The batch answers the items' common status (403 for all-denied, 412 for all-stale…);
    // an item's malformed field is a 400 of the batch: 422 is kept for a malformed batch body
    // (FastAPI's field list), and the items' own 422s are in `errors`.
    let status = match statuses.iter().next() {
        Some(s) if statuses.len() == 1 && *s != 422 => {
            StatusCode::from_u16(u16::try_from(*s).unwrap_or(400))
                .unwrap_or(StatusCode::BAD_REQUEST)
        }
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::BatchRefused {
        status,
        detail: format!(
            "{} of {total} item(s) of the batch were refused, so nothing was written. Fix every item listed in `errors` (by index) and send the batch again.",
            errors.len()
        ),
        errors,
    }
}

/// Validates one item (everything a single POST would check but the template, which is compiled
/// only when the item changes something: an unchanged item's template is the stored one).
fn validate(
    state: &AppState,
    admin: &PromptAdmin<'_>,
    raw: &Value,
    batch_message: Option<&String>,
) -> ApiResult<Item> {
    let b: ItemBody = parse_body(raw)?;
    let id = PromptId::parse_new(&b.prompt_id).map_err(|e| ApiError::bad_request(e.0))?;
    let mut info = b.prompt_info;
    let env = match b.environment.as_deref() {
        Some(e) => {
            let env = Environment::parse(e)
                .map_err(|err| ApiError::bad_request(format!("environment: {err}")))?;
            if let Some(other) = info.get("environment").and_then(Value::as_str)
                && !other.is_empty()
                && other != env.as_str()
            {
                return Err(ApiError::bad_request(format!(
                    "environment '{env}' and prompt_info.environment '{other}' differ; send one of them"
                )));
            }
            env
        }
        None => environment_of(&info)?,
    };
    let writer = admin.writer_of(&id, [&env])?;
    refuse_protected(state, &id, &env)?;
    refuse_config_type(&info)?;
    if state.index.read().is_config(&id) {
        return Err(ApiError::bad_request(format!(
            "Prompt {id} is defined in the config file and cannot be changed through the API. Edit the config file, or remove it from the batch."
        )));
    }
    info.insert("environment".into(), env.as_str().into());
    Ok(Item {
        index: 0,
        id,
        env,
        params: b.litellm_params,
        info,
        message: b.message.or_else(|| batch_message.cloned()),
        if_match: b.if_match,
        author: writer.author().map(str::to_owned),
        actor: writer.actor().to_owned(),
        fallback: None,
    })
}

/// The content an item stores on top of `base` (secrets sent back redacted restored).
fn content_on(
    item_params: &Map<String, Value>,
    base: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut params = item_params.clone();
    restore_secrets(&mut params, base);
    params
}

fn template_text(params: &Map<String, Value>) -> String {
    match params.get("dotprompt_content") {
        Some(Value::String(s)) => s.clone(),
        _ => serde_json::to_string_pretty(params).unwrap_or_default(),
    }
}

fn short_diff(label: &str, from: &Map<String, Value>, to: &Map<String, Value>) -> String {
    let (a, b) = (template_text(from), template_text(to));
    let mut out = similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string();
    if a == b {
        // Only fields other than the template changed: name them.
        let changed: Vec<&String> = from
            .keys()
            .chain(to.keys().filter(|k| !from.contains_key(*k)))
            .filter(|k| from.get(*k) != to.get(*k))
            .collect();
        out = format!(
            "litellm_params changed: {}\n",
            changed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// `POST /prompts/batch`.
pub async fn batch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    let limit = state.settings.max_batch_body_bytes;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "The batch is larger than the limit of {limit} bytes. Send fewer items per batch, or raise promptd_settings.max_batch_body_bytes."
            ))
        })?;
    let b: BatchRequest = parse_body(&parse_json(&bytes)?)?;
    let admin = caller.prompt_admin("write")?;

    // 1. Validate every item; collect every problem.
    let mut items = Vec::with_capacity(b.items.len());
    let mut errors = Vec::new();
    let mut seen: HashMap<(PromptId, Environment), usize> = HashMap::new();
    for (i, raw) in b.items.iter().enumerate() {
        let name = raw.get("prompt_id").and_then(Value::as_str).unwrap_or("");
        match validate(&state, &admin, raw, b.message.as_ref()) {
            Ok(mut item) => {
                item.index = i;
                if let Some(first) = seen.insert((item.id.clone(), item.env.clone()), i) {
                    let e = ApiError::bad_request(format!(
                        "item {i} writes {} in {} again (item {first} does already); send one item per prompt and environment",
                        item.id, item.env
                    ));
                    errors.push(refusal(Some(i), name, &e));
                }
                items.push(item);
            }
            Err(e) => errors.push(refusal(Some(i), name, &e)),
        }
    }
    let prune_envs: Vec<Environment> = match &b.prune_environments {
        Some(list) => {
            let mut envs = Vec::new();
            for e in list {
                match Environment::parse(e) {
                    Ok(env) => envs.push(env),
                    Err(err) => errors.push(json!({"index": null, "prompt_id": "", "status": 400,
                        "detail": format!("prune_environments: {err}")})),
                }
            }
            envs
        }
        None => {
            let mut envs: Vec<Environment> = items.iter().map(|it| it.env.clone()).collect();
            envs.sort();
            envs.dedup();
            envs
        }
    };

    // 2. The plan, from memory.
    let mut plan: Vec<Planned> = Vec::with_capacity(items.len());
    {
        let idx = state.index.read();
        for it in &mut items {
            let current = idx.resolve(&it.id, Some(&it.env), None);
            let current = current.as_ref().map(|e| &e.record);
            // A first write in an environment restores redacted secrets from the version a
            // read would serve (as PUT does).
            if current.is_none() {
                it.fallback = idx
                    .resolve(&it.id, None, None)
                    .map(|e| e.record.litellm_params.to_map());
            }
            let base = current
                .map(|c| c.litellm_params.to_map())
                .or_else(|| it.fallback.clone());
            let params = content_on(&it.params, base.as_ref());
            let hash = promptd_core::content_sha256_of(&params);
            let (action, diff) = match current {
                None => ("create", None),
                Some(c) if c.content_sha256 == hash => ("unchanged", None),
                Some(c) => (
                    "update",
                    b.dry_run.then(|| {
                        short_diff(
                            &format!("{}/{}", it.env, it.id),
                            &c.litellm_params.to_map(),
                            &params,
                        )
                    }),
                ),
            };
            plan.push(Planned {
                index: Some(it.index),
                prompt_id: it.id.clone(),
                environment: it.env.clone(),
                action,
                current: current.map(|c| (c.version, c.etag())),
                content_sha256: Some(hash),
                diff,
            });
        }
        if b.prune {
            let named: HashSet<(&PromptId, &Environment)> =
                items.iter().map(|it| (&it.id, &it.env)).collect();
            for env in &prune_envs {
                let latest = idx.latest(Some(env), |id| {
                    !idx.is_config(&PromptId::from_trusted(id))
                        && caller.may_list(&PromptId::from_trusted(id))
                });
                for e in latest {
                    let r = &e.record;
                    if named.contains(&(&r.prompt_id, &r.environment))
                        || admin.writer_of(&r.prompt_id, [env]).is_err()
                    {
                        continue;
                    }
                    plan.push(Planned {
                        index: None,
                        prompt_id: r.prompt_id.clone(),
                        environment: env.clone(),
                        action: "delete",
                        current: Some((r.version, r.etag())),
                        content_sha256: Some(r.content_sha256.clone()),
                        diff: None,
                    });
                }
            }
        }
    }
    // 3. Compile the templates of the items that change something (every one, so every broken
    // template is reported).
    let mut templates: Vec<Option<Prompt>> = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if plan[i].action == "unchanged" {
            templates.push(None);
            continue;
        }
        match validate_template(&state, &it.params) {
            Ok(t) => templates.push(Some(t)),
            Err(e) => {
                errors.push(refusal(Some(it.index), it.id.as_str(), &e));
                templates.push(None);
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e["index"].as_u64().unwrap_or(u64::MAX));
        return Err(refused(errors, b.items.len()));
    }
    if b.dry_run {
        return Ok(Json(answer(true, &plan)));
    }

    // 4. Apply: one transaction, all or nothing.
    let n_items = items.len();
    let mut ops: Vec<BatchOp> = Vec::with_capacity(plan.len());
    for it in items {
        ops.push(append_op(it));
    }
    for p in plan.iter().filter(|p| p.action == "delete") {
        let writer = admin.writer_of(&p.prompt_id, [&p.environment])?;
        ops.push(BatchOp::Trash {
            prompt_id: p.prompt_id.clone(),
            environment: p.environment.clone(),
            if_match: None,
            act: Act {
                actor: Some(writer.actor().to_owned()),
                message: b.message.clone(),
            },
        });
    }
    let outcomes = match state.apply_batch(ops, templates).await? {
        Ok(o) => o,
        Err(refusals) => {
            let errors = refusals
                .into_iter()
                .map(|(i, e)| {
                    let name = plan
                        .get(i)
                        .map(|p| p.prompt_id.to_string())
                        .unwrap_or_default();
                    let index = (i < n_items).then_some(i);
                    refusal(index, &name, &refusal_error(e))
                })
                .collect();
            return Err(refused(errors, n_items));
        }
    };
    for (p, o) in plan.iter_mut().zip(outcomes) {
        match o {
            BatchOutcome::Created(rec) => {
                p.action = if p.current.is_some() {
                    "update"
                } else {
                    "create"
                };
                p.content_sha256 = Some(rec.content_sha256.clone());
                p.diff = None;
                p.current = Some((rec.version, rec.etag()));
            }
            BatchOutcome::Unchanged(rec) => {
                p.action = "unchanged";
                p.current = Some((rec.version, rec.etag()));
            }
            BatchOutcome::Trashed(recs) => {
                p.action = if recs.is_empty() {
                    "unchanged"
                } else {
                    "delete"
                };
            }
        }
    }
    Ok(Json(answer(false, &plan)))
}

/// A store refusal as the error a single write would have answered.
fn refusal_error(e: BoxError) -> ApiError {
    match e.downcast::<ApiError>() {
        Ok(api) => *api,
        Err(other) => match other.downcast::<promptd_core::PreconditionFailed>() {
            Ok(p) => ApiError::PreconditionFailed(*p),
            Err(other) => ApiError::Internal(other),
        },
    }
}

fn append_op(it: Item) -> BatchOp {
    let Item {
        index: _,
        id,
        env,
        params,
        info,
        message,
        if_match,
        author,
        actor,
        fallback,
    } = it;
    let (prompt_id, environment) = (id.clone(), env.clone());
    BatchOp::Append {
        append: Append {
            prompt_id: id,
            environment: env,
            base: Some(None),
            if_match,
            derive: Box::new(move |base| {
                let previous = base.map(|b| b.litellm_params.to_map()).or(fallback);
                let origin = if base.is_some() {
                    Kind::Update
                } else {
                    Kind::Create
                };
                Ok(NewVersion {
                    prompt_id,
                    environment,
                    created_by: author,
                    litellm_params: content_on(&params, previous.as_ref()),
                    prompt_info: info,
                    provenance: Provenance {
                        origin,
                        source: None,
                        message,
                        actor: Some(actor),
                    },
                })
            }),
        },
        skip_unchanged: true,
    }
}

fn answer(dry_run: bool, plan: &[Planned]) -> Value {
    let mut summary: Map<String, Value> = ["create", "update", "unchanged", "delete"]
        .iter()
        .map(|k| ((*k).to_owned(), Value::from(0)))
        .collect();
    let items: Vec<Value> = plan
        .iter()
        .map(|p| {
            if let Some(n) = summary.get_mut(p.action) {
                *n = Value::from(n.as_u64().unwrap_or(0) + 1);
            }
            let mut m = Map::new();
            m.insert("index".into(), json!(p.index));
            m.insert("prompt_id".into(), p.prompt_id.as_str().into());
            m.insert("environment".into(), p.environment.as_str().into());
            m.insert("action".into(), p.action.into());
            m.insert("version".into(), json!(p.current.as_ref().map(|c| c.0)));
            m.insert("etag".into(), json!(p.current.as_ref().map(|c| &c.1)));
            m.insert("content_sha256".into(), json!(p.content_sha256));
            if let Some(d) = &p.diff {
                m.insert("diff".into(), d.as_str().into());
            }
            Value::Object(m)
        })
        .collect();
    let changed = plan.iter().any(|p| p.action != "unchanged");
    json!({"dry_run": dry_run, "changed": changed, "summary": summary, "items": items})
}
