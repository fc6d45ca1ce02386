//! The one place where host bindings for `wit/policy.wit` are generated: one
//! module per world, each a typed view of a component's exports.

/// The `eviction-policy` world.
pub(crate) mod eviction {
    wasmtime::component::bindgen!({ world: "eviction-policy", path: "../wit" });
}

/// The `prefetch-policy` world.
pub(crate) mod prefetch {
    wasmtime::component::bindgen!({ world: "prefetch-policy", path: "../wit" });
}

/// The `failover-policy` world.
pub(crate) mod failover {
    wasmtime::component::bindgen!({ world: "failover-policy", path: "../wit" });
}
