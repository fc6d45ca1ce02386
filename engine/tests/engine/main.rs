//! The engine's integration tests: one binary, one module per concern.

mod asynchronous;
mod auto;
mod bad_input;
mod capture;
mod cold;
mod cold_crash;
mod cold_durable;
mod cold_faults;
mod cold_kill;
mod concurrency;
mod conditional;
mod entry;
mod expiry;
mod guards;
mod idle;
mod model;
mod model_collections;
mod policies;
mod prefetch;
mod refresh;
mod scan;
mod soak;
mod support;
mod swap;
mod update;
mod warm;
