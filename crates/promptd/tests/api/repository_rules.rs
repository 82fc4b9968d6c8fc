//! Rules of the code base that ARCHITECTURE.md states, checked as tests so they stay true.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file below `dir` (recursively).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn crates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(workspace().join("crates"))
        .expect("crates")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    out.sort();
    out
}

/// The names in a manifest's `[dependencies]` section.
fn dependencies(krate: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(krate.join("Cargo.toml")).expect("manifest");
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once('=') {
            out.push(name.trim().to_owned());
        }
    }
    out
}

#[test]
fn only_the_server_and_the_test_fake_depend_on_axum() {
    let allowed = ["promptd-server", "promptd-fake-upstream"];
    for krate in crates() {
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        if dependencies(&krate).iter().any(|d| d == "axum") {
            assert!(
                allowed.contains(&name.as_str()),
                "{name} depends on axum: only the HTTP shell may"
            );
        }
    }
}

#[test]
fn every_source_file_starts_with_a_doc_line_saying_what_it_is() {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(&krate, &mut files);
    }
    assert!(files.len() > 50, "{} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        assert!(
            text.starts_with("//!"),
            "{} does not start with a //! line",
            f.display()
        );
    }
}

#[test]
fn no_crate_outside_the_server_reaches_into_its_wire_format() {
    for krate in crates() {
        if krate.ends_with("promptd-server") {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&krate.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            assert!(
                !text.contains("promptd_server::wire"),
                "{} uses promptd_server::wire; prompt-definition rules live in promptd_template::definition",
                f.display()
            );
        }
    }
}

#[test]
fn the_store_modules_have_no_cycle() {
    // sql.rs uses migrate.rs; migrate.rs must not use sql.rs (shared types live in backend.rs).
    let migrate = std::fs::read_to_string(workspace().join("crates/promptd-store/src/migrate.rs"))
        .expect("migrate.rs");
    assert!(
        !migrate.contains("crate::sql"),
        "migrate.rs depends on sql.rs"
    );
}
