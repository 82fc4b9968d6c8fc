//! promptd's HTTP API, specified by tests: each test starts a real server on port 0 with a
//! temporary SQLite database and talks to it over HTTP.

mod common;

pub mod architecture;
mod auth;
mod config_prompts;
mod errors;
mod import;
mod keys;
mod multi_instance;
mod openapi;
mod persistence;
mod prompts_crud;
mod prompts_read;
mod render;
mod run;
