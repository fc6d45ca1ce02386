//! `goldylox policy build`: each language's ordinary toolchain makes a
//! WebAssembly module (or, for Python and JavaScript, a component), and
//! wit-component, linked into this binary, makes the component. A missing
//! tool is named with the command that installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

use super::templates::{COMPONENTIZE_JS_VERSION, COMPONENTIZE_PY_VERSION, WIT};
use super::{Language, Project, World};
use goldylox_sandbox::{Runtime, is_core_module};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

use goldylox_sandbox::c_policy_flags;

/// What `build` made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component file.
    pub output: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    /// The world it exports (checked by loading it).
    pub world: World,
    /// How long the language's toolchain took.
    pub toolchain_time: Duration,
}

/// Builds the project in `dir` into a component at `output` (default
/// `DIR/NAME.wasm`), then loads it to check that it exports the project's
/// world. Progress goes to stderr.
pub fn build(dir: &Path, output: Option<&Path>) -> Result<Built> {
    let project = Project::open(dir)?;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let output = match output {
        Some(path) => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        None => dir.join(format!("{}.wasm", project.name)),
    };
    let started = Instant::now();
    let component = match project.language {
        Language::Rust => componentize_module(&build_rust(&dir, &project)?, None)?,
        Language::C => componentize_module(&build_c(&dir)?, Some(project.world))?,
        Language::Python => build_python(&dir, project.world)?,
        Language::Js => build_js(&dir, project.world)?,
    };
    let toolchain_time = started.elapsed();
    let loaded = Runtime::offline()?
        .load(&project.name, &component)
        .context("the built component does not load")?;
    if loaded.world != project.world {
        bail!(
            "{MANIFEST} says {}, but the component exports {}",
            project.world,
            loaded.world,
            MANIFEST = super::MANIFEST
        );
    }
    std::fs::write(&output, &component).with_context(|| format!("writing {}", output.display()))?;
    Ok(Built {
        output,
        bytes: component.len(),
        world: loaded.world,
        toolchain_time,
    })
}

/// Makes a component of a core module. A module made by wit-bindgen (Rust)
/// carries its world; one without (C) gets `world`'s from the WIT this
/// binary carries.
pub fn componentize_module(module: &[u8], world: Option<World>) -> Result<Vec<u8>> {
    if !(is_core_module(module) && module.starts_with(b"\0asm")) {
        bail!("not a core WebAssembly module in the binary format");
    }
    let mut module = module.to_vec();
    if let Some(world) = world {
        let mut resolve = Resolve::default();
        let package = resolve
            .push_str("policy.wit", WIT)
            .map_err(|e| anyhow!("parsing the WIT: {e:#}"))?;
        let world = resolve
            .select_world(&[package], Some(world.wit_name()))
            .map_err(|e| anyhow!("{e:#}"))?;
        wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
            .map_err(|e| anyhow!("embedding the world: {e:#}"))?;
    }
    ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| anyhow!("making the component: {e:#}"))
}

/// Runs `cmd` with its output on our stderr; `what` names it in errors.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Whether `program` can be started.
fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn build_rust(dir: &Path, project: &Project) -> Result<Vec<u8>> {
    if !found("cargo") {
        bail!("cargo is not installed: https://rustup.rs (curl https://sh.rustup.rs -sSf | sh)");
    }
    ensure_wasm_target(dir)?;
    let target_dir = dir.join("target");
    run(
        Command::new("cargo")
            .current_dir(dir)
            .args(["build", "--release", "--lib", "--target", WASM_TARGET])
            .arg("--target-dir")
            .arg(&target_dir),
        "cargo build --release --target wasm32-unknown-unknown",
    )?;
    let lib = rust_lib_name(dir).unwrap_or_else(|| project.name.replace('-', "_"));
    let artifact = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{lib}.wasm"));
    std::fs::read(&artifact).with_context(|| format!("reading {}", artifact.display()))
}

/// The library name of the crate in `dir` (its `[lib] name`, or its package
/// name with `-` as `_`).
fn rust_lib_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let manifest: toml::Table = toml::from_str(&text).ok()?;
    let named = |table: &str| {
        manifest
            .get(table)?
            .get("name")?
            .as_str()
            .map(|n| n.replace('-', "_"))
    };
    named("lib").or_else(|| named("package"))
}

/// Adds the wasm32 target with rustup when the toolchain lacks it, saying so.
fn ensure_wasm_target(dir: &Path) -> Result<()> {
    let Ok(listed) = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: the toolchain is managed otherwise; cargo's own error
        // says what is missing.
        return Ok(());
    };
    if String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("goldylox: installing the {WASM_TARGET} target with rustup (once)");
    run(
        Command::new("rustup")
            .current_dir(dir)
            .args(["target", "add", WASM_TARGET]),
        "rustup target add wasm32-unknown-unknown",
    )
}

fn build_c(dir: &Path) -> Result<Vec<u8>> {
    let clang = std::env::var("GOLDYLOX_CC").unwrap_or_else(|_| "clang".to_owned());
    if !found(&clang) {
        bail!("{clang} is not installed: apt-get install clang lld (or set GOLDYLOX_CC)");
    }
    let out = scratch_dir("c")?;
    let module = out.join("policy.core.wasm");
    let output = Command::new(&clang)
        .current_dir(dir)
        .args(c_policy_flags())
        .args(["-I", ".", "-o"])
        .arg(&module)
        .arg("policy.c")
        .output()
        .with_context(|| format!("running {clang}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if !output.status.success() {
        if stderr.contains("wasm-ld") {
            bail!("{clang} cannot link wasm32: apt-get install lld");
        }
        bail!("compiling policy.c failed ({})", output.status);
    }
    let bytes = std::fs::read(&module).with_context(|| format!("reading {}", module.display()));
    let _ = std::fs::remove_dir_all(&out);
    bytes
}

fn build_python(dir: &Path, world: World) -> Result<Vec<u8>> {
    if !found("componentize-py") {
        bail!(
            "componentize-py is not installed: pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
        );
    }
    if !dir.join("policy.py").is_file() {
        bail!(
            "{} has no policy.py (a module with a `Policy` class)",
            dir.display()
        );
    }
    let out = scratch_dir("py")?;
    let wit = write_wit(&out)?;
    // The glue module connecting policy.Policy to the world's exports.
    let glue = out.join("glue");
    std::fs::create_dir_all(&glue)?;
    std::fs::write(
        glue.join("goldylox_app.py"),
        super::templates::python_glue(world),
    )?;
    let component = out.join("policy.wasm");
    run(
        Command::new("componentize-py")
            .current_dir(dir)
            .arg("-d")
            .arg(&wit)
            .args(["-w", world.wit_name(), "componentize", "goldylox_app", "-p"])
            .arg(&glue)
            .arg("-p")
            .arg(dir)
            .arg("-o")
            .arg(&component),
        "componentize-py",
    )?;
    let bytes =
        std::fs::read(&component).with_context(|| format!("reading {}", component.display()));
    let _ = std::fs::remove_dir_all(&out);
    bytes
}

/// The driver componentize-js runs under; it lives in the project's
/// node_modules so that Node resolves the project's componentize-js.
const JS_DRIVER: &str = r#"import { writeFile } from 'node:fs/promises';
import { componentize } from '@bytecodealliance/componentize-js';
const [source, witPath, worldName, out] = process.argv.slice(2);
const { component } = await componentize({
  sourcePath: source, witPath, worldName,
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
"#;

fn build_js(dir: &Path, world: World) -> Result<Vec<u8>> {
    if !found("node") {
        bail!("node is not installed: install Node.js 18 or newer (apt-get install nodejs npm)");
    }
    let modules = dir.join("node_modules");
    if !modules.join("@bytecodealliance/componentize-js").exists() {
        if !found("npm") {
            bail!("npm is not installed: apt-get install npm");
        }
        eprintln!(
            "goldylox: installing componentize-js {COMPONENTIZE_JS_VERSION} into {} (npm install, once)",
            modules.display()
        );
        run(
            Command::new("npm")
                .current_dir(dir)
                .args(["install", "--no-audit", "--no-fund"]),
            "npm install",
        )?;
    }
    let out = scratch_dir("js")?;
    // componentize-js reads the WIT through a sandboxed file system that
    // may reach only the working directory: the WIT goes inside the project.
    let wit = write_wit(&modules.join(".goldylox"))?;
    let wit = wit.strip_prefix(dir).unwrap_or(&wit).to_path_buf();
    let driver = modules.join(".goldylox-componentize.mjs");
    std::fs::write(&driver, JS_DRIVER).with_context(|| format!("writing {}", driver.display()))?;
    let component = out.join("policy.wasm");
    run(
        Command::new("node")
            .current_dir(dir)
            .arg(&driver)
            .arg("policy.js")
            .arg(&wit)
            .arg(world.wit_name())
            .arg(&component),
        "componentize-js",
    )?;
    let bytes =
        std::fs::read(&component).with_context(|| format!("reading {}", component.display()));
    let _ = std::fs::remove_dir_all(&out);
    bytes
}

/// A fresh private directory for one build's intermediate files.
fn scratch_dir(what: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "goldylox-build-{what}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Writes the WIT this binary carries (the contract it checks against) to
/// `DIR/wit/policy.wit` and returns the directory.
fn write_wit(dir: &Path) -> Result<PathBuf> {
    let wit = dir.join("wit");
    std::fs::create_dir_all(&wit)?;
    std::fs::write(wit.join("policy.wit"), WIT)?;
    Ok(wit)
}
