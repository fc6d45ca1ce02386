//! The component glue: the SDK's one `wit_bindgen::generate!` site, built only
//! for `wasm32`. Policy crates never touch it; they call
//! [`export_eviction_policy!`](crate::export_eviction_policy).
//!
//! The generated code exports functions with `#[unsafe(no_mangle)]` and
//! lifts and lowers lists through raw memory; that is the one place outside
//! the cold store where `unsafe` is allowed, and it is generated, not
//! written.

/// Bindings for the `goldylox:policy/eviction-policy` world.
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod eviction {
    wit_bindgen::generate!({
        world: "eviction-policy",
        path: "../../wit",
        default_bindings_module: "goldylox_policy_sdk::component::eviction",
        pub_export_macro: true,
        export_macro_name: "export_eviction_world",
    });
}
