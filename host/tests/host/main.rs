//! The host's integration tests: trace readers and replay against published
//! figures and independent references.

mod adaptive;
mod animals;
mod authoring;
mod auto;
mod conformance;
mod engine;
mod replay;
mod serve;
mod serve_admin;
mod serve_clients;
mod serve_cluster;
mod serve_default;
mod serve_differential;
mod serve_durable;
mod serve_tls;
mod serve_types;
mod wasm;
mod zoo;
