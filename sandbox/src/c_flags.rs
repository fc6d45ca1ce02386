// The clang flags a C policy is compiled with, for wasm32 without libc:
// shared by `goldylox policy build` and sandbox/build.rs (which `include!`s
// this file), so the repository's C policies and a user's build alike.

/// clang's flags for a C policy (then `-I DIR -o OUT SOURCE`).
pub(crate) const C_POLICY_FLAGS: &[&str] = &[
    "--target=wasm32-unknown-unknown",
    "-O2",
    "-mbulk-memory",
    "-nostdlib",
    "-ffreestanding",
    "-Wall",
    "-Wextra",
    "-Wl,--no-entry",
    "-Wl,--strip-all",
];
