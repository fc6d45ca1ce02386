//! Helpers shared by the tests: the benchmarks' workload generators.

#[path = "../../benches/workload.rs"]
mod workload;
pub(crate) use workload::{Rng, Zipf};
