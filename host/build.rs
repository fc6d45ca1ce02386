//! Writes the manifest of the policy SDK as `goldylox policy new` vendors
//! it into a Rust project (`$OUT_DIR/sdk.Cargo.toml`): standalone, with the
//! dependency versions pinned once in the workspace's Cargo.toml.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run() {
        panic!("writing the vendored SDK manifest failed: {e}");
    }
}

fn run() -> Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest
        .parent()
        .ok_or("host/ has no parent")?
        .join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", workspace.display());
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("sdk.Cargo.toml"),
        vendored_sdk_manifest(&workspace)?,
    )?;
    Ok(())
}

/// The manifest of the SDK as `goldylox policy new` vendors it into a Rust
/// project: standalone, with the dependency versions pinned once in the
/// workspace's Cargo.toml.
fn vendored_sdk_manifest(workspace: &Path) -> Result<String> {
    let text = fs::read_to_string(workspace)?;
    let pin = |name: &str| -> Result<String> {
        text.lines()
            .find(|line| line.starts_with(&format!("{name} = ")))
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: no `{name} = ...` pin", workspace.display()).into())
    };
    Ok(format!(
        "# The goldylox policy SDK, vendored by `goldylox policy new`.\n\
         [package]\n\
         name = \"goldylox-policy-sdk\"\n\
         version = \"{version}\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         description = \"Write goldylox policies in plain Rust\"\n\n\
         [dependencies]\n{hashbrown}\n\n\
         [features]\neviction = []\nprefetch = []\nfailover = []\n\n\
         # The component glue exists only when building for WebAssembly.\n\
         [target.'cfg(target_arch = \"wasm32\")'.dependencies]\n{wit_bindgen}\n",
        version = env::var("CARGO_PKG_VERSION")?,
        hashbrown = pin("hashbrown")?,
        wit_bindgen = pin("wit-bindgen")?,
    ))
}
