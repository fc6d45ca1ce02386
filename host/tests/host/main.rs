//! The host's integration tests: trace readers and replay against published
//! figures and independent references.

mod adaptive;
mod animals;
mod authoring;
mod auto;
mod bench;
mod conformance;
mod engine;
mod policy_test;
mod replay;
mod serve;
mod serve_acl;
mod serve_admin;
mod serve_atomic;
mod serve_capture;
mod serve_clients;
mod serve_cluster;
mod serve_collections;
mod serve_command_docs;
mod serve_commands;
mod serve_default;
mod serve_diagnostics;
mod serve_differential;
mod serve_differential_types;
mod serve_durable;
mod serve_pubsub;
mod serve_tls;
mod serve_types;
mod wasm;
mod zoo;

/// A test is about to skip for lack of `what`. Locally it may, with a
/// message; under CI (`.ci/run` sets `CI` and provides every tool and
/// `../shared`) a skip would pass silently, so it fails instead.
pub(crate) fn skip(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}: CI provides it, so a skip here is a failure"
    );
    eprintln!("skipped: {what}");
}
