//! The files `goldylox policy new` writes, carried in the binary: the WIT,
//! the Rust SDK (vendored as a path dependency), the C header, and one
//! small working policy per language and world with its native test.

use super::{Language, World};

/// The contract every policy implements.
pub const WIT: &str = include_str!("../../../wit/policy.wit");

/// The eviction templates' scenario file for `goldylox policy test`.
const SCENARIOS: &str = include_str!("../../templates/policy-test.toml");

/// The C header with the canonical-ABI glue (`policies/sdk-c`).
pub const C_HEADER: &str = include_str!("../../../policies/sdk-c/goldylox_policy.h");

/// The componentize-js release the JavaScript template pins (and CI tests).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The preview2-shim release the JavaScript template pins beside it:
/// componentize-js imports it without declaring it, and npm does not always
/// hoist the copy jco brings (0.26, whose sandboxed file access cannot reach
/// the build's files); 0.25.0 is the one that works.
pub const PREVIEW2_SHIM_VERSION: &str = "0.25.0";

/// The componentize-py release the Python template names (and CI tests).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

const SDK_MANIFEST: &str = include_str!(concat!(env!("OUT_DIR"), "/sdk.Cargo.toml"));
const SDK_LIB: &str = include_str!("../../../policies/sdk/src/lib.rs");
const SDK_LISTS: &str = include_str!("../../../policies/sdk/src/lists.rs");
const SDK_PENDING: &str = include_str!("../../../policies/sdk/src/pending.rs");
const SDK_COMPONENT: &str = include_str!("../../../policies/sdk/src/component.rs");

/// One file of a new project: its path inside the project, and its text.
pub type File = (String, String);

/// The files of a new `language` project for `world`, named `name`.
pub fn project(name: &str, language: Language, world: World) -> Vec<File> {
    let mut files = match language {
        Language::Rust => rust(world),
        Language::C => c(world),
        Language::Python => python(world),
        Language::Js => js(world),
    };
    files.push(("wit/policy.wit".into(), WIT.into()));
    files.push((super::MANIFEST.into(), manifest(name, language, world)));
    files.push(("README.md".into(), readme(language, world)));
    if world == World::Eviction {
        // The same scenarios for every language: each template starts as
        // the same CLOCK.
        files.push((super::TEST_FILE.into(), SCENARIOS.into()));
    }
    files.push((".gitignore".into(), gitignore(language).into()));
    files
        .into_iter()
        .map(|(path, text)| (path, render(&text, name, world)))
        .collect()
}

fn render(text: &str, name: &str, world: World) -> String {
    text.replace("{{name}}", name)
        .replace("{{world}}", world.wit_name())
        .replace("{{feature}}", feature(world))
        .replace("{{componentize_js}}", COMPONENTIZE_JS_VERSION)
        .replace("{{preview2_shim}}", PREVIEW2_SHIM_VERSION)
        .replace("{{componentize_py}}", COMPONENTIZE_PY_VERSION)
}

/// The short name of a world (`eviction`), as the SDK's features and the
/// template files use it.
fn feature(world: World) -> &'static str {
    match world {
        World::Eviction => "eviction",
        World::Prefetch => "prefetch",
        World::Failover => "failover",
    }
}

fn pick(world: World, eviction: &str, prefetch: &str, failover: &str) -> String {
    match world {
        World::Eviction => eviction,
        World::Prefetch => prefetch,
        World::Failover => failover,
    }
    .to_owned()
}

fn rust(world: World) -> Vec<File> {
    // The SDK finds the WIT next to its own manifest once vendored.
    let component = SDK_COMPONENT.replace("path: \"../../wit\"", "path: \"wit\"");
    vec![
        (
            "Cargo.toml".into(),
            include_str!("../../templates/rust/Cargo.toml").into(),
        ),
        (
            "src/lib.rs".into(),
            pick(
                world,
                include_str!("../../templates/rust/eviction.rs"),
                include_str!("../../templates/rust/prefetch.rs"),
                include_str!("../../templates/rust/failover.rs"),
            ),
        ),
        ("goldylox-policy-sdk/Cargo.toml".into(), SDK_MANIFEST.into()),
        ("goldylox-policy-sdk/src/lib.rs".into(), SDK_LIB.into()),
        ("goldylox-policy-sdk/src/lists.rs".into(), SDK_LISTS.into()),
        (
            "goldylox-policy-sdk/src/pending.rs".into(),
            SDK_PENDING.into(),
        ),
        ("goldylox-policy-sdk/src/component.rs".into(), component),
        ("goldylox-policy-sdk/wit/policy.wit".into(), WIT.into()),
    ]
}

fn c(world: World) -> Vec<File> {
    vec![
        (
            "policy.c".into(),
            pick(
                world,
                include_str!("../../templates/c/eviction.c"),
                include_str!("../../templates/c/prefetch.c"),
                include_str!("../../templates/c/failover.c"),
            ),
        ),
        (
            "test_policy.c".into(),
            pick(
                world,
                include_str!("../../templates/c/test_eviction.c"),
                include_str!("../../templates/c/test_prefetch.c"),
                include_str!("../../templates/c/test_failover.c"),
            ),
        ),
        ("goldylox_policy.h".into(), C_HEADER.into()),
    ]
}

fn python(world: World) -> Vec<File> {
    vec![
        (
            "policy.py".into(),
            pick(
                world,
                include_str!("../../templates/python/eviction.py"),
                include_str!("../../templates/python/prefetch.py"),
                include_str!("../../templates/python/failover.py"),
            ),
        ),
        (
            "test_policy.py".into(),
            pick(
                world,
                include_str!("../../templates/python/test_eviction.py"),
                include_str!("../../templates/python/test_prefetch.py"),
                include_str!("../../templates/python/test_failover.py"),
            ),
        ),
    ]
}

/// The module `goldylox policy build` makes a Python project's component
/// from: it connects the project's `policy.Policy` to `world`'s exports.
pub fn python_glue(world: World) -> &'static str {
    match world {
        World::Eviction => include_str!("../../templates/python/glue_eviction.py"),
        World::Prefetch => include_str!("../../templates/python/glue_prefetch.py"),
        World::Failover => include_str!("../../templates/python/glue_failover.py"),
    }
}

fn js(world: World) -> Vec<File> {
    vec![
        (
            "policy.js".into(),
            pick(
                world,
                include_str!("../../templates/js/eviction.js"),
                include_str!("../../templates/js/prefetch.js"),
                include_str!("../../templates/js/failover.js"),
            ),
        ),
        (
            "test_policy.mjs".into(),
            pick(
                world,
                include_str!("../../templates/js/test_eviction.mjs"),
                include_str!("../../templates/js/test_prefetch.mjs"),
                include_str!("../../templates/js/test_failover.mjs"),
            ),
        ),
        (
            "package.json".into(),
            include_str!("../../templates/js/package.json").into(),
        ),
    ]
}

fn manifest(name: &str, language: Language, world: World) -> String {
    format!(
        "# A goldylox policy project: `goldylox policy build` reads this file.\n\
         name = \"{name}\"\n\
         language = \"{}\"\n\
         world = \"{}\"\n",
        language.name(),
        world.wit_name()
    )
}

fn gitignore(language: Language) -> &'static str {
    match language {
        Language::Rust => "/target\n*.wasm\n",
        Language::C => "*.wasm\n/test_policy\n",
        Language::Python => "*.wasm\n__pycache__/\n/wit_world/\n/componentize_py_*\n",
        Language::Js => "*.wasm\n/node_modules\n",
    }
}

fn readme(language: Language, world: World) -> String {
    let (files, test) = match language {
        Language::Rust => (
            "- `src/lib.rs`: the policy, with its unit tests.\n\
             - `goldylox-policy-sdk/`: the policy SDK this goldylox binary carries \
             (the `Handler` trait, `Lists`, `Pending`, parameter parsing, the component glue).\n",
            "cargo test",
        ),
        Language::C => (
            "- `policy.c`: the policy, plain C over arrays.\n\
             - `goldylox_policy.h`: the component glue (canonical ABI, allocator, \
             a hash index, parameter helpers); you never edit it.\n\
             - `test_policy.c`: a native unit test that includes `policy.c`.\n",
            "cc -o test_policy test_policy.c && ./test_policy",
        ),
        Language::Python => (
            "- `policy.py`: the policy, plain Python: a `Policy` class whose methods are \
             the world's functions. `goldylox policy build` adds the module that connects it \
             to the component world (`componentize-py -d wit -w {{world}} bindings .` writes \
             the world's typed bindings here, for your editor and type checker).\n\
             - `test_policy.py`: native unit tests.\n",
            "python3 -m unittest",
        ),
        Language::Js => (
            "- `policy.js`: the policy; its exports are the world's functions.\n\
             - `test_policy.mjs`: native unit tests (node --test).\n\
             - `package.json`: pins componentize-js {{componentize_js}}, which \
             `goldylox policy build` installs with npm when `node_modules` is missing.\n",
            "npm test",
        ),
    };
    let tools = match language {
        Language::Rust => {
            "cargo (the `wasm32-unknown-unknown` target is added with rustup on the first build)"
        }
        Language::C => "clang and lld (`apt-get install clang lld`)",
        Language::Python => {
            "Python 3 and componentize-py (`pip install componentize-py=={{componentize_py}}`)"
        }
        Language::Js => "Node.js 18 or newer and npm",
    };
    let swap = match world {
        World::Eviction => "GOLDYLOX POLICY SWAP hot /path/to/{{name}}.wasm max_freq=2",
        World::Prefetch => "GOLDYLOX POLICY SWAP prefetch /path/to/{{name}}.wasm",
        World::Failover => "GOLDYLOX POLICY SWAP failover /path/to/{{name}}.wasm",
    };
    format!(
        "# {{{{name}}}}\n\n\
         A goldylox `{{{{world}}}}`, written by `goldylox policy new`. The contract is \
         `wit/policy.wit`; the guide is docs/writing-a-policy.md in the goldylox repository.\n\n\
         ## Files\n\n{files}\n\
         ## Build, check, measure, deploy\n\n\
         Tools: {tools}.\n\n\
         ```sh\n\
         {test}                                        # native unit tests\n\
         goldylox policy build                         # -> {{{{name}}}}.wasm, a component\n\
         goldylox policy check {{{{name}}}}.wasm           # type-check, smoke test, cost per event\n\
         goldylox policy test                          # {scenarios}the built-in adversarial suite\n\
         {replay}\
         redis-cli -p 6379 {swap}\n\
         ```\n\n\
         Parameters are `key=value` strings: `--param` for `policy check` and `replay`, \
         `policy_params` in the configuration's `[cache]` table, and after the path in \
         `GOLDYLOX POLICY SWAP`.\n",
        scenarios = if world == World::Eviction {
            "policy-test.toml's scenarios and budget, "
        } else {
            ""
        },
        replay = if world == World::Eviction {
            "goldylox replay --trace TRACE --policies builtin:lru,./{{name}}.wasm,opt --param max_freq=2\n"
        } else {
            ""
        },
    )
}
