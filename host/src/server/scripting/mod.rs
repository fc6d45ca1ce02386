//! Lua scripting: `EVAL`, `EVALSHA`, their `_RO` forms and `SCRIPT`, with
//! Redis 7.0's semantics (see `vm.rs` for the sandbox, `convert.rs` for the
//! conversion rules, `libs.rs` for `redis.*`, `bit` and `cjson`).
//!
//! One interpreter serves every script, as in Redis; the connection runs a
//! script holding the server's gate alone (`EVAL` is exclusive in the
//! command table), so a script is atomic like `EXEC`. Commands a script
//! calls are run by the caller given to [`Scripts::eval`], which applies
//! what scripts may not do. A script that runs past the busy threshold
//! marks the gate busy (other clients get `-BUSY`); `SCRIPT KILL` stops it
//! unless it has written, `SHUTDOWN` stops it in any case. The
//! interpreter's memory is capped; a script that reaches the cap fails
//! with Lua's "not enough memory", and the server goes on.

mod cjson;
mod convert;
mod functions;
mod libs;
mod msgpack;
mod run;
mod structs;
mod vm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;

use super::gate::{Busy, Gate};
use super::resp::reply;
pub use functions::{Library, RestorePolicy, RunningFunction};
use run::Running;
use vm::Vm;

/// How a script's commands are run: given the request, whether the script
/// speaks RESP3 and whether it is read-only, writes the reply to the
/// buffer and says whether the command writes, or refuses it with an
/// error message (not allowed from scripts, unknown, wrong arity, a write
/// from a read-only script).
pub type Caller<'c> =
    dyn FnMut(&mut [Vec<u8>], bool, bool, &mut BytesMut) -> Result<bool, String> + 'c;

/// What a script is given as.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Its body (`EVAL`).
    Body(&'a [u8]),
    /// The SHA1 of a body seen before (`EVALSHA`), in either case.
    Sha(&'a [u8]),
}

/// One script or function call: the request that makes it, its keys and
/// arguments, whether it may write, and what bounds its run.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// The whole request (`FUNCTION STATS` shows it).
    pub command: &'a [Vec<u8>],
    /// `KEYS`.
    pub keys: &'a [Vec<u8>],
    /// `ARGV`.
    pub argv: &'a [Vec<u8>],
    /// `EVAL_RO`, `EVALSHA_RO`, `FCALL_RO`: writes are refused.
    pub read_only: bool,
    /// What bounds the run.
    pub limits: Limits,
    /// `redis.acl_check_cmd`'s answer for a request: whether the calling
    /// user may run it (`None`: no such command, or a wrong arity).
    pub permits: Permits,
}

/// Whether the user running a script may run a request (`None`: the
/// request names no command it could run).
#[derive(Clone)]
pub struct Permits(pub Arc<PermitCheck>);

/// The check behind [`Permits`].
pub type PermitCheck = dyn Fn(&[Vec<u8>]) -> Option<bool> + Send + Sync;

impl std::fmt::Debug for Permits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permits")
    }
}

/// What bounds a run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// After this, other clients are answered `BUSY`.
    pub busy_after: Duration,
    /// The interpreter's memory cap.
    pub memory_bytes: usize,
}

/// The scripting engine: the interpreter, the script cache and the
/// running script's state.
pub struct Scripts {
    vm: Mutex<Option<Vm>>,
    /// The functions' interpreter (`FUNCTION LOAD`, `FCALL`), apart from
    /// the scripts', as in Redis: `SCRIPT FLUSH` leaves it be.
    function_vm: Mutex<Option<Vm>>,
    /// The loaded libraries, by name.
    libraries: Mutex<std::collections::BTreeMap<String, Library>>,
    /// Bodies by lower-case SHA1 (`EVALSHA`, `SCRIPT EXISTS`).
    bodies: Mutex<HashMap<String, Arc<[u8]>>>,
    running: Arc<Running>,
    gate: Arc<Gate>,
    /// The scripts' interpreter's memory after its last run (read by
    /// `INFO`, which a script may call while holding the interpreter).
    eval_vm_bytes: AtomicUsize,
    /// The functions' interpreter's, likewise.
    function_vm_bytes: AtomicUsize,
}

/// What the scripting engine holds, for `INFO memory`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptMemory {
    /// The scripts' interpreter's memory.
    pub eval_vm_bytes: usize,
    /// The cached scripts' bodies.
    pub eval_scripts_bytes: usize,
    /// How many scripts are cached.
    pub cached_scripts: usize,
    /// The functions' interpreter's memory.
    pub function_vm_bytes: usize,
    /// The loaded libraries' code.
    pub functions_bytes: usize,
    /// How many libraries are loaded.
    pub libraries: usize,
    /// How many functions they register.
    pub functions: usize,
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts").finish_non_exhaustive()
    }
}

/// The SHA1 of `body`, in lower-case hex.
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl Scripts {
    /// No scripts yet; a busy script marks `gate`.
    pub fn new(gate: Arc<Gate>) -> Self {
        Scripts {
            vm: Mutex::new(None),
            function_vm: Mutex::new(None),
            libraries: Mutex::default(),
            bodies: Mutex::default(),
            running: Arc::default(),
            gate,
            eval_vm_bytes: AtomicUsize::new(0),
            function_vm_bytes: AtomicUsize::new(0),
        }
    }

    fn bodies(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[u8]>>> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the engine holds now.
    pub fn memory(&self) -> ScriptMemory {
        let (eval_scripts_bytes, cached_scripts) = {
            let bodies = self.bodies();
            (bodies.values().map(|b| b.len()).sum(), bodies.len())
        };
        let (functions_bytes, libraries, functions) = {
            let libraries = self.libraries();
            (
                libraries.values().map(|l| l.code.len()).sum(),
                libraries.len(),
                libraries.values().map(|l| l.functions.len()).sum(),
            )
        };
        ScriptMemory {
            eval_vm_bytes: self.eval_vm_bytes.load(Ordering::Relaxed),
            eval_scripts_bytes,
            cached_scripts,
            function_vm_bytes: self.function_vm_bytes.load(Ordering::Relaxed),
            functions_bytes,
            libraries,
            functions,
        }
    }

    /// `SCRIPT LOAD`: compiles `body` and keeps it; its SHA1, or Redis's
    /// compile error.
    pub fn load(&self, body: &[u8]) -> Result<String, String> {
        let sha = sha1hex(body);
        let mut vm = self.vm.lock().unwrap_or_else(|e| e.into_inner());
        let vm = interpreter(&mut vm, vm::Flavour::Scripts)?;
        if vm.script(&sha).is_none() {
            let (_, code) = shebang(body)?;
            vm.compile(&sha, &code).map_err(compile_error)?;
            self.eval_vm_bytes
                .store(vm.lua().used_memory(), Ordering::Relaxed);
        }
        self.bodies().insert(sha.clone(), Arc::from(body));
        Ok(sha)
    }

    /// `SCRIPT EXISTS`: whether a script of this SHA1 is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.bodies().contains_key(&sha)
    }

    /// `SCRIPT FLUSH`: forgets every script and starts a fresh interpreter.
    pub fn flush(&self) {
        self.bodies().clear();
        *self.vm.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.eval_vm_bytes.store(0, Ordering::Relaxed);
    }

    /// `SCRIPT KILL` (or, with `function`, `FUNCTION KILL`): stops the
    /// running script (function), unless it has written.
    pub fn kill(&self, function: bool) -> Result<(), &'static str> {
        let r = &self.running;
        if !r.active.load(Ordering::Acquire) {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        if r.function.load(Ordering::Acquire) != function {
            return Err(if function {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            } else {
                "BUSY Redis is busy running a function. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            });
        }
        if r.wrote.load(Ordering::Acquire) {
            return Err(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. \
                 You can either wait the script termination or kill the server in a hard way using \
                 the SHUTDOWN NOSAVE command.",
            );
        }
        r.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops the running script whatever it did (the server is stopping).
    pub fn abort(&self) {
        if self.running.active.load(Ordering::Acquire) {
            self.running.kill.store(true, Ordering::Release);
        }
    }

    /// Runs a script with `keys` and `argv`, writing its reply (or error)
    /// to `out`. `read_only`: `EVAL_RO`/`EVALSHA_RO` (the caller refuses
    /// writes; a script whose shebang says `no-writes` is read-only too).
    pub fn eval(
        &self,
        source: Source<'_>,
        call: &Invocation<'_>,
        caller: &mut Caller<'_>,
        out: &mut BytesMut,
    ) {
        if let Err(message) = self.try_eval(source, call, caller, out) {
            reply::error(out, &message);
        }
    }

    fn try_eval(
        &self,
        source: Source<'_>,
        invocation: &Invocation<'_>,
        caller: &mut Caller<'_>,
        out: &mut BytesMut,
    ) -> Result<(), String> {
        let (sha, body) = match source {
            Source::Body(body) => (sha1hex(body), Arc::from(body)),
            Source::Sha(sha) => {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                let body = self.bodies().get(&sha).cloned();
                let body = body.ok_or("NOSCRIPT No matching script. Please use EVAL.")?;
                (sha, body)
            }
        };
        let (flags, code) = shebang(&body)?;
        let mut guard = self.vm.lock().unwrap_or_else(|e| e.into_inner());
        let vm = interpreter(&mut guard, vm::Flavour::Scripts)?;
        let f = match vm.script(&sha) {
            Some(f) => f,
            None => vm.compile(&sha, &code).map_err(compile_error)?,
        };
        if matches!(source, Source::Body(_)) {
            self.bodies().entry(sha.clone()).or_insert(body);
        }
        let call = run::Call {
            read_only: invocation.read_only || flags.no_writes,
            busy: Busy::Script,
            name: &sha,
            command: invocation.command,
            limits: invocation.limits,
            permits: &invocation.permits,
        };
        let args = run::Args::Globals {
            keys: invocation.keys,
            argv: invocation.argv,
        };
        run::invoke(self, vm, &f, args, &call, caller, out);
        self.eval_vm_bytes
            .store(vm.lua().used_memory(), Ordering::Relaxed);
        Ok(())
    }
}

impl Scripts {
    /// Whether a script command writes by its script's own declaration:
    /// `Some(false)` for a script or function flagged `no-writes`,
    /// `Some(true)` for one with flags but not that one, `None` when the
    /// command's flags decide (no shebang, an unknown SHA or function, or
    /// not a script command), as Redis decides what `CLIENT PAUSE WRITE`
    /// holds.
    pub fn declares_writes(&self, request: &[Vec<u8>]) -> Option<bool> {
        let name = request.first()?.to_ascii_lowercase();
        let target = request.get(1)?;
        let body = match name.as_slice() {
            b"eval" | b"eval_ro" => Arc::from(target.as_slice()),
            b"evalsha" | b"evalsha_ro" => {
                let sha = String::from_utf8_lossy(target).to_ascii_lowercase();
                self.bodies().get(&sha).cloned()?
            }
            b"fcall" | b"fcall_ro" => {
                return self.function_writes(&String::from_utf8_lossy(target));
            }
            _ => return None,
        };
        if !body.starts_with(b"#!") {
            return None;
        }
        shebang(&body).ok().map(|(flags, _)| !flags.no_writes)
    }
}

/// The interpreter, started if it is not.
fn interpreter(vm: &mut Option<Vm>, flavour: vm::Flavour) -> Result<&Vm, String> {
    if vm.is_none() {
        *vm = Some(
            Vm::new(flavour)
                .map_err(|e| format!("ERR cannot start the script interpreter: {e}"))?,
        );
    }
    Ok(vm.as_ref().expect("just started"))
}

fn compile_error(message: String) -> String {
    format!("ERR Error compiling script (new function): {message}")
}

/// What a script's shebang line (`#!lua flags=…`) says.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    no_writes: bool,
}

/// The flags of `body`'s shebang, and the code to compile (the shebang
/// turned into a comment, so line numbers stay).
fn shebang(body: &[u8]) -> Result<(Flags, std::borrow::Cow<'_, [u8]>), String> {
    let Some(rest) = body.strip_prefix(b"#!") else {
        return Ok((Flags::default(), body.into()));
    };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end]).into_owned();
    let mut words = line.split_whitespace();
    let engine = words.next().unwrap_or("");
    if engine != "lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: #!{engine}"
        ));
    }
    let mut flags = Flags::default();
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {word}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    let mut code = body.to_vec();
    code[..2].copy_from_slice(b"--");
    Ok((flags, code.into()))
}
