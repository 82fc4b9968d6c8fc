//! promptd's HTTP API, specified by tests: each test starts a real server on port 0 with a
//! temporary SQLite database and talks to it over HTTP.

mod common;

pub mod architecture;
mod auth;
mod cli_remote;
mod composition;
mod config_prompts;
mod connections;
mod diff;
mod dotprompt;
mod errors;
mod gateway;
mod gitops;
mod import;
mod key_reach;
mod keys;
mod ledger;
mod logs;
mod lost_updates;
mod multi_instance;
mod openapi;
mod persistence;
mod pg_timeouts;
mod prompts_crud;
mod prompts_read;
mod redaction;
mod release;
mod render;
mod repository_rules;
mod run;
mod template_limits;
mod ui_sessions;
mod watch;
mod webhooks;
