//! The component glue: the SDK's one module of `wit_bindgen::generate!`
//! calls (one per world), built only for `wasm32`. Policy crates never touch
//! it; they call [`export_eviction_policy!`](crate::export_eviction_policy),
//! [`export_prefetch_policy!`](crate::export_prefetch_policy) or
//! [`export_failover_policy!`](crate::export_failover_policy).
//!
//! The generated code exports functions with `#[unsafe(no_mangle)]` and
//! lifts and lowers lists through raw memory; that is the one place outside
//! the cold store where `unsafe` is allowed, and it is generated, not
//! written.

/// Bindings for the `goldylox:policy/eviction-policy` world.
#[cfg(feature = "eviction")]
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    reason = "code wit-bindgen generates"
)]
pub mod eviction {
    wit_bindgen::generate!({
        world: "eviction-policy",
        path: "../../wit",
        default_bindings_module: "goldylox_policy_sdk::component::eviction",
        pub_export_macro: true,
        export_macro_name: "export_eviction_world",
    });
}

/// Bindings for the `goldylox:policy/prefetch-policy` world.
#[cfg(feature = "prefetch")]
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    reason = "code wit-bindgen generates"
)]
pub mod prefetch {
    wit_bindgen::generate!({
        world: "prefetch-policy",
        path: "../../wit",
        default_bindings_module: "goldylox_policy_sdk::component::prefetch",
        pub_export_macro: true,
        export_macro_name: "export_prefetch_world",
    });
}

/// Bindings for the `goldylox:policy/failover-policy` world.
#[cfg(feature = "failover")]
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    reason = "code wit-bindgen generates"
)]
pub mod failover {
    wit_bindgen::generate!({
        world: "failover-policy",
        path: "../../wit",
        default_bindings_module: "goldylox_policy_sdk::component::failover",
        pub_export_macro: true,
        export_macro_name: "export_failover_world",
    });
}
