//! Writing a policy outside this repository: `goldylox policy new` writes a
//! ready project (the binary carries the WIT, the Rust SDK and the C header),
//! `goldylox policy build` builds it with the language's own toolchain and
//! makes the component in-process (wit-component; no wasm-tools).
//!
//! A project is a directory with a `policy.toml` naming its language and
//! world; see docs/writing-a-policy.md.

mod adversary;
mod policy_test;
pub mod scenario;
pub mod templates;
mod toolchain;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

pub use goldylox_sandbox::World;
pub use policy_test::{Outcome, TEST_FILE, Target, run as run_tests, test_command};
pub use toolchain::{Built, build, componentize_module};

/// The file that makes a directory a policy project.
pub const MANIFEST: &str = "policy.toml";

/// A language `goldylox policy new` has a template for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Rust, over the policy SDK, built by cargo for `wasm32-unknown-unknown`.
    Rust,
    /// C over `goldylox_policy.h`, built by clang and lld.
    C,
    /// Python, built by componentize-py.
    Python,
    /// JavaScript, built by componentize-js.
    Js,
}

impl Language {
    /// Every language, in the order the docs list them.
    pub const ALL: [Language; 4] = [Language::Rust, Language::C, Language::Python, Language::Js];

    /// The name `--lang` and `policy.toml` use.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::Python => "python",
            Language::Js => "js",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Language {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Language> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Language::Rust,
            "c" => Language::C,
            "python" | "py" => Language::Python,
            "js" | "javascript" => Language::Js,
            _ => bail!("unknown language {s:?}: rust, c, python or js"),
        })
    }
}

/// Parses a world as `--world` takes it: `eviction`, `prefetch`, `failover`
/// (or the WIT names).
pub fn parse_world(s: &str) -> Result<World> {
    let name = s.trim_end_matches("-policy");
    World::from_wit_name(&format!("{name}-policy"))
        .with_context(|| format!("unknown world {s:?}: eviction, prefetch or failover"))
}

/// A project's `policy.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The policy's name: the component is `NAME.wasm`.
    pub name: String,
    /// Its language: rust, c, python or js.
    pub language: String,
    /// The world it exports, e.g. `eviction-policy`.
    pub world: String,
}

/// A policy project on disk.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its directory.
    pub dir: PathBuf,
    /// Its name.
    pub name: String,
    /// Its language.
    pub language: Language,
    /// The world it exports.
    pub world: World,
}

impl Project {
    /// Reads the project in `dir`.
    pub fn open(dir: &Path) -> Result<Project> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a policy project (no {MANIFEST}); `goldylox policy new NAME --lang LANG` makes one",
                dir.display()
            )
        })?;
        let manifest: Manifest =
            toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        validate_name(&manifest.name).with_context(|| format!("in {}", path.display()))?;
        Ok(Project {
            dir: dir.to_path_buf(),
            language: manifest.language.parse()?,
            world: parse_world(&manifest.world)?,
            name: manifest.name,
        })
    }
}

/// A project name: a letter, then letters, digits, `-` or `_` (it becomes a
/// crate, a file and a directory name).
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64;
    if !ok {
        bail!(
            "{name:?} is not a policy name: a lowercase letter, then lowercase letters, digits, - or _ (at most 64)"
        );
    }
    Ok(())
}

/// Writes a new project for `language` and `world` into `dir` (which must
/// not exist, or be empty) and returns the files written.
pub fn new_project(
    dir: &Path,
    name: &str,
    language: Language,
    world: World,
) -> Result<Vec<PathBuf>> {
    validate_name(name)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty; choose another name or remove it",
            dir.display()
        );
    }
    let mut written = Vec::new();
    for (path, text) in templates::project(name, language, world) {
        let file = dir.join(&path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}
