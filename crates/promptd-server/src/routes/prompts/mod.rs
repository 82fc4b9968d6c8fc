//! `/prompts`: LiteLLM's prompt-management endpoints. Reads (`read.rs`) are served from the
//! in-memory index; writes (`write.rs`) go through one read-modify-write path; `render.rs`
//! renders a stored prompt without calling a model; `preview.rs` renders an unsaved draft
//! for the UI's editor; `diff.rs` compares two versions;
//! `release.rs` promotes and rolls back; `ledger.rs` serves history, trash and restore;
//! `batch.rs` writes many prompts at once, all or nothing.

mod batch;
mod diff;
mod ledger;
mod preview;
mod read;
mod release;
mod render;
mod write;

pub use batch::{BATCH_PATH, batch};
pub use diff::diff;
pub use ledger::{MAX_HISTORY_LIMIT, all_history, history, restore, trash};
pub use preview::preview;
pub use read::{MAX_PAGE_SIZE, info, list, versions};
pub use release::{promote, rollback};
pub use render::render;
pub use write::{create, delete, patch, update};

pub(crate) use render::{resolve_composed, resolve_template};

use promptd_core::{Environment, PromptRef};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Default, Deserialize)]
pub struct EnvQuery {
    pub environment: Option<String>,
}

/// An environment from a query parameter or body field (`None` when absent); 400 naming `what`.
pub(crate) fn env_param(what: &str, raw: Option<&str>) -> ApiResult<Option<Environment>> {
    Environment::parse_opt(raw).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

/// A path id that cannot name any prompt is simply not found.
pub(crate) fn path_ref(raw: &str) -> ApiResult<PromptRef> {
    PromptRef::parse(raw).map_err(|e| ApiError::not_found(format!("Prompt {raw} not found ({e})")))
}

fn not_found(r: &PromptRef, env: Option<&Environment>) -> ApiError {
    match env {
        Some(e) => ApiError::not_found(format!("Prompt {r} not found in environment {e}")),
        None => ApiError::not_found(format!("Prompt {r} not found")),
    }
}
