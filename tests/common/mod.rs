//! Helpers shared by the end-to-end tests: run the built binary, read its JSON document.

use serde_json::Value;
use std::process::{Command, Output};

pub fn assay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay"))
        .args(args)
        .output()
        .expect("run assay")
}

/// The one JSON document a successful run prints on stdout.
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

/// The result row named `name` of a results document.
#[allow(dead_code)] // not every test binary looks rows up by name
pub fn metric<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}
