//! Builds the policy components this crate embeds.
//!
//! Every crate under `policies/` (except the SDK) is compiled for
//! `wasm32-unknown-unknown` with the `policy` profile by a nested cargo, in a
//! target directory of its own (so it never waits on the outer build's lock),
//! and turned into a component with `wit-component`. C policies under
//! `policies/*/*.c` are compiled with clang when it is installed (a clear
//! warning says so when it is not) and get the WIT metadata embedded here.
//! The result is `$OUT_DIR/components.rs`: one `Embedded` entry per component.
//!
//! wasmtime's own test programs are built the same way.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

include!("src/c_flags.rs");

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run() {
        // A build script's panic message is what cargo shows; make it whole.
        panic!("building the policy components failed: {e}");
    }
}

fn run() -> Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest
        .parent()
        .ok_or("sandbox/ has no parent")?
        .to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let policies = root.join("policies");
    let wit = root.join("wit");
    println!("cargo:rerun-if-changed={}", policies.display());
    println!("cargo:rerun-if-changed={}", wit.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-env-changed=GOLDYLOX_CC");

    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(&wit)?;

    let mut embedded = Vec::new();
    let target_dir = policy_target_dir(&out);
    ensure_wasm_target();
    for dir in sorted_dirs(&policies)? {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name == "sdk" {
            continue;
        }
        if dir.join("Cargo.toml").exists() {
            let module = build_rust(&root, &target_dir, &name)?;
            let world = world_of(&dir.join("Cargo.toml"))?;
            embedded.push((name, world, componentize(&module, None)?));
        } else if let Some(source) = c_source(&dir)? {
            let world = world_of_c(&source)?;
            let Some(module) = build_c(&source, &policies.join("sdk-c"), &out, &name)? else {
                continue;
            };
            let world_id = resolve.select_world(&[package], Some(world))?;
            embedded.push((
                name,
                world,
                componentize(&module, Some((&resolve, world_id)))?,
            ));
        }
    }

    let mut table = String::from(
        "/// The policy components built into this crate, by name.\n\
         ///\n\
         /// ```\n\
         /// let names: Vec<&str> = goldylox_sandbox::EMBEDDED.iter().map(|e| e.name).collect();\n\
         /// assert!(names.contains(&\"s3fifo\"));\n\
         /// ```\n\
         pub const EMBEDDED: &[Embedded] = &[\n",
    );
    for (name, world, bytes) in &embedded {
        let file = out.join(format!("{name}.component.wasm"));
        fs::write(&file, bytes)?;
        writeln!(
            table,
            "    Embedded {{ name: {name:?}, world: {world:?}, bytes: include_bytes!({:?}) }},",
            file.display().to_string()
        )?;
    }
    table.push_str("];\n");
    fs::write(out.join("components.rs"), table)?;
    Ok(())
}

/// Adds the wasm32 target with rustup when the toolchain lacks it (a
/// toolchain installed before rust-toolchain.toml named the target does), so
/// that the README's two commands work on such a machine too. Without
/// rustup, nothing is done and a failing policy build names the target.
fn ensure_wasm_target() {
    let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    if !listed.status.success()
        || String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.trim() == WASM_TARGET)
    {
        return;
    }
    println!(
        "cargo:warning=installing the {WASM_TARGET} target with rustup (once), to build the policy components"
    );
    let added = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status();
    if !added.is_ok_and(|s| s.success()) {
        println!(
            "cargo:warning=`rustup target add {WASM_TARGET}` failed; the policy build will say why"
        );
    }
}

/// A target directory beside the outer one (found by cargo's `CACHEDIR.TAG`),
/// shared by debug, release and clippy builds, so the policies compile once.
fn policy_target_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map(|dir| dir.join("policy-components"))
        .unwrap_or_else(|| out.join("policy-target"))
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The world a Rust policy crate exports: the SDK feature it enables.
fn world_of(manifest: &Path) -> Result<&'static str> {
    let text = fs::read_to_string(manifest)?;
    for (feature, world) in [
        ("\"eviction\"", "eviction-policy"),
        ("\"prefetch\"", "prefetch-policy"),
        ("\"failover\"", "failover-policy"),
    ] {
        if text.contains(feature) {
            return Ok(world);
        }
    }
    Err(format!("{} enables no SDK world feature", manifest.display()).into())
}

fn build_rust(root: &Path, target_dir: &Path, name: &str) -> Result<Vec<u8>> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let package = format!("goldylox-policy-{name}");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["rustc", "--locked", "--quiet", "-p", &package])
        .args([
            "--target",
            WASM_TARGET,
            "--profile",
            "policy",
            "--crate-type",
            "cdylib",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host, not for wasm32.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err(format!(
            "cargo rustc -p {package} --target {WASM_TARGET} failed ({status}); \
             is the target installed? `rustup target add {WASM_TARGET}`"
        )
        .into());
    }
    let artifact = target_dir
        .join(WASM_TARGET)
        .join("policy")
        .join(format!("{}.wasm", package.replace('-', "_")));
    Ok(fs::read(&artifact).map_err(|e| format!("{}: {e}", artifact.display()))?)
}

fn c_source(dir: &Path) -> Result<Option<PathBuf>> {
    let mut sources: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    Ok(sources.into_iter().next())
}

/// A C policy names its world by the macro it defines before including
/// `goldylox_policy.h` (policies/sdk-c).
fn world_of_c(source: &Path) -> Result<&'static str> {
    let text = fs::read_to_string(source)?;
    for (define, world) in [
        ("GOLDYLOX_EVICTION_POLICY", "eviction-policy"),
        ("GOLDYLOX_PREFETCH_POLICY", "prefetch-policy"),
        ("GOLDYLOX_FAILOVER_POLICY", "failover-policy"),
    ] {
        if text.contains(&format!("#define {define}")) {
            return Ok(world);
        }
    }
    Err(format!("{}: no `#define GOLDYLOX_*_POLICY` line", source.display()).into())
}

/// Compiles a C policy (with `policies/sdk-c` on the include path) to a core
/// module; `None` (with a warning) when no clang that targets wasm32 is
/// installed.
fn build_c(source: &Path, include: &Path, out: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let clang = env::var("GOLDYLOX_CC").unwrap_or_else(|_| "clang".to_owned());
    let module = out.join(format!("{name}.core.wasm"));
    let result = Command::new(&clang)
        .args(C_POLICY_FLAGS)
        // The repository's own C policies compile without a warning.
        .arg("-Werror")
        .arg("-I")
        .arg(include)
        .arg("-o")
        .arg(&module)
        .arg(source)
        .output();
    let output = match result {
        Ok(output) => output,
        Err(e) => {
            println!(
                "cargo:warning=skipping the C policy {name}: cannot run {clang:?} ({e}); \
                 install clang and lld (apt-get install clang lld) to build it"
            );
            return Ok(None);
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("wasm-ld") || stderr.contains("unable to execute command") {
            println!(
                "cargo:warning=skipping the C policy {name}: {clang} cannot link wasm32 \
                 (install lld: apt-get install lld)"
            );
            return Ok(None);
        }
        return Err(format!("compiling {}:\n{stderr}", source.display()).into());
    }
    Ok(Some(fs::read(&module)?))
}

fn componentize(
    module: &[u8],
    metadata: Option<(&Resolve, wit_parser::WorldId)>,
) -> Result<Vec<u8>> {
    let mut module = module.to_vec();
    if let Some((resolve, world)) = metadata {
        wit_component::embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8)?;
    }
    Ok(ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()?)
}
