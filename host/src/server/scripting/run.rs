//! One run of a script or function: its arguments set, the kill and busy
//! hook armed, `redis.call` bound to the caller's commands for the length
//! of the run, and its result or error written as the reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mlua::{Function, HookTriggers, MultiValue, Value, VmState};

use super::libs::Resp;
use super::vm::Vm;
use super::{Caller, Limits, Scripts, convert};
use crate::server::gate::{Busy, Gate};
use crate::server::resp::reply;

/// What starts a command's error raised by `redis.call` (`vm.rs` turns it
/// into Redis's `{err=…}` table).
const ERROR_MARK: &str = "\u{1}redis-error\u{1}";

/// Instructions between two checks for a kill or the busy threshold.
const HOOK_EVERY: u32 = 10_000;

/// How long a script runs on its runtime worker, holding up the worker's
/// other connections, before it hands them to another thread.
const HAND_OFF_AFTER: Duration = Duration::from_millis(1);

/// How long a hand-off leaves the replacement worker to take the worker's
/// queue (it wakes in microseconds; if it has not, the next hand-off, ten
/// times later, tries again).
const HAND_OFF_WAIT: Duration = Duration::from_micros(500);

/// Moves a long script off its runtime worker, from the instruction hook.
///
/// A script runs where its command runs, on a runtime worker: most take
/// microseconds, and handing every one to another thread
/// (`block_in_place` around each) cost several times the script itself.
/// But while it runs, that worker's other tasks wait, and tokio wakes no
/// parked worker to take them — nor to poll the sockets, so not even
/// `SCRIPT KILL` would be read. So once a script has run for
/// [`HAND_OFF_AFTER`] (and again at 10x, 100x, …, should a hand-off not
/// have taken), the hook enters `block_in_place`, which gives the worker's
/// queue and sockets to a new worker thread, and waits there for
/// [`HAND_OFF_WAIT`]; the script then goes on on this thread, off the
/// runtime, as `block_in_place` leaves it.
#[derive(Debug)]
pub(super) struct HandOff {
    started: Instant,
    /// Microseconds after `started` of the next hand-off.
    next_us: AtomicU64,
}

impl HandOff {
    /// For a run starting now.
    pub(super) fn new() -> Self {
        HandOff {
            started: Instant::now(),
            next_us: AtomicU64::new(HAND_OFF_AFTER.as_micros() as u64),
        }
    }

    /// Called from the hook: hands off when it is time.
    pub(super) fn check(&self) {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let next = self.next_us.load(Ordering::Relaxed);
        if (self.started.elapsed().as_micros() as u64) < next {
            return;
        }
        self.next_us
            .store(next.saturating_mul(10), Ordering::Relaxed);
        if let Ok(RuntimeFlavor::MultiThread) = Handle::try_current().map(|h| h.runtime_flavor()) {
            tokio::task::block_in_place(|| std::thread::sleep(HAND_OFF_WAIT));
        }
    }
}

/// The state of the running script, which `SCRIPT KILL` reads.
#[derive(Debug, Default)]
pub(super) struct Running {
    pub(super) active: AtomicBool,
    /// Asked to stop (`SCRIPT KILL`, `FUNCTION KILL`, `SHUTDOWN`).
    pub(super) kill: AtomicBool,
    /// It ran a write command (then `SCRIPT KILL` refuses).
    pub(super) wrote: AtomicBool,
    /// It is a function (`FCALL`): `FUNCTION KILL` stops it, not `SCRIPT
    /// KILL`.
    pub(super) function: AtomicBool,
    /// Its name, the command that runs it, and when it started
    /// (`FUNCTION STATS`).
    pub(super) what: std::sync::Mutex<Option<RunningCall>>,
}

/// The running call: its name, its command and when it started.
pub(super) type RunningCall = (String, Vec<Vec<u8>>, Instant);

/// What is being run.
pub(super) struct Call<'a> {
    /// Writes are refused (`EVAL_RO`, `FCALL_RO`, `no-writes`).
    pub(super) read_only: bool,
    /// What the gate says while it is busy.
    pub(super) busy: Busy,
    /// Its name in error replies (`f_<sha>`, the function's name).
    pub(super) name: &'a str,
    /// The command that runs it.
    pub(super) command: &'a [Vec<u8>],
    /// What bounds its run.
    pub(super) limits: Limits,
    /// Whether its user may run a request (`redis.acl_check_cmd`).
    pub(super) permits: &'a super::Permits,
}

/// How keys and arguments reach it.
pub(super) enum Args<'a> {
    /// As the globals `KEYS` and `ARGV` (`EVAL`).
    Globals {
        keys: &'a [Vec<u8>],
        argv: &'a [Vec<u8>],
    },
    /// As the callback's two arguments (`FCALL`).
    Parameters {
        keys: &'a [Vec<u8>],
        argv: &'a [Vec<u8>],
    },
}

/// Runs `f` and writes its reply (or error) to `out`.
pub(super) fn invoke(
    scripts: &Scripts,
    vm: &Vm,
    f: &Function,
    args: Args<'_>,
    call: &Call<'_>,
    caller: &mut Caller<'_>,
    out: &mut BytesMut,
) {
    let (limits, running, gate) = (call.limits, &scripts.running, &scripts.gate);
    let lua = vm.lua();
    let strings = |items: &[Vec<u8>]| -> mlua::Result<mlua::Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(t)
    };
    let setup = (|| -> mlua::Result<MultiValue> {
        lua.set_app_data(Resp(2));
        lua.set_app_data(super::libs::CallerPermits(call.permits.clone()));
        lua.set_memory_limit(limits.memory_bytes)?;
        match args {
            Args::Globals { keys, argv } => {
                vm.set_global("KEYS", strings(keys)?)?;
                vm.set_global("ARGV", strings(argv)?)?;
                Ok(MultiValue::new())
            }
            Args::Parameters { keys, argv } => Ok(MultiValue::from_vec(vec![
                Value::Table(strings(keys)?),
                Value::Table(strings(argv)?),
            ])),
        }
    })();
    let parameters = match setup {
        Ok(p) => p,
        Err(e) => return reply::error(out, &format!("ERR cannot set the script up: {e}")),
    };
    let read_only = call.read_only;
    running
        .function
        .store(call.busy == Busy::Function, Ordering::Release);
    *running.what.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((call.name.to_owned(), call.command.to_vec(), Instant::now()));
    let outcome = guarded(vm, limits, call.busy, running, gate, || {
        let caller = std::cell::RefCell::new(caller);
        lua.scope(|scope| {
            let command = |lua: &mlua::Lua, args: MultiValue| {
                let mut caller = caller.borrow_mut();
                call_command(lua, args, read_only, running, &mut **caller)
            };
            let call = scope.create_function(move |lua, args: MultiValue| {
                let (failed, value) = command(lua, args)?;
                match (failed, value) {
                    (true, Value::Table(t)) => {
                        let message: String = t.raw_get("err")?;
                        Err(mlua::Error::RuntimeError(format!("{ERROR_MARK}{message}")))
                    }
                    (_, value) => Ok(value),
                }
            })?;
            let pcall = scope.create_function(move |lua, args: MultiValue| {
                command(lua, args).map(|(_, value)| value)
            })?;
            vm.set_callers(call, pcall)?;
            vm.run(f, parameters)
        })
    });
    *running.what.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let resp3 = lua.app_data_ref::<Resp>().is_some_and(|r| r.0 == 3);
    match outcome {
        Ok(Ok(value)) => convert::lua_to_reply(out, &value, resp3),
        Ok(Err(error)) => reply::error(out, &error_text(&error, call.name)),
        Err(e) => reply::error(
            out,
            &format!("ERR Error running script (call to {}): {e}", call.name),
        ),
    }
    vm.collect_garbage();
}

/// Runs `f` with the kill and busy hook set, marking the run active for
/// `SCRIPT KILL` and clearing every mark after.
pub(super) fn guarded<R>(
    vm: &Vm,
    limits: Limits,
    busy: Busy,
    running: &Arc<Running>,
    gate: &Arc<Gate>,
    f: impl FnOnce() -> R,
) -> R {
    running.kill.store(false, Ordering::Release);
    running.wrote.store(false, Ordering::Release);
    running.active.store(true, Ordering::Release);
    let (hooked, hook_gate) = (Arc::clone(running), Arc::clone(gate));
    let started = Instant::now();
    let marked = AtomicBool::new(false);
    let hand_off = HandOff::new();
    let hook = vm.lua().set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            hand_off.check();
            if hooked.kill.load(Ordering::Acquire) {
                return Err(mlua::Error::RuntimeError(format!(
                    "{}Script killed by user with SCRIPT KILL...",
                    super::vm::STOPPED_MARK
                )));
            }
            if !marked.load(Ordering::Relaxed) && started.elapsed() >= limits.busy_after {
                marked.store(true, Ordering::Relaxed);
                log::warn!(
                    "a script has been running for over {} ms: other clients are answered BUSY",
                    limits.busy_after.as_millis()
                );
                hook_gate.set_busy(Some(busy));
            }
            Ok(VmState::Continue)
        },
    );
    let result = f();
    if hook.is_ok() {
        vm.lua().remove_hook();
    }
    gate.set_busy(None);
    running.active.store(false, Ordering::Release);
    running.kill.store(false, Ordering::Release);
    result
}

/// `redis.call`/`redis.pcall`'s host side: `(failed, reply)`.
pub(super) fn call_command(
    lua: &mlua::Lua,
    args: MultiValue,
    refuse_writes: bool,
    running: &Running,
    caller: &mut Caller<'_>,
) -> mlua::Result<(bool, Value)> {
    let err = |message: &str| -> mlua::Result<(bool, Value)> {
        let t = lua.create_table()?;
        t.raw_set("err", message)?;
        Ok((true, Value::Table(t)))
    };
    if args.is_empty() {
        return err("ERR Please specify at least one argument for this redis lib call");
    }
    let mut request = Vec::with_capacity(args.len());
    for arg in args {
        request.push(match arg {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => n.to_string().into_bytes(),
            Value::Number(n) => lua_number(n).into_bytes(),
            _ => return err("ERR Lua redis lib command arguments must be strings or integers"),
        });
    }
    let resp3 = lua.app_data_ref::<Resp>().is_some_and(|r| r.0 == 3);
    let mut out = BytesMut::new();
    match caller(&mut request, resp3, refuse_writes, &mut out) {
        Err(message) => err(&message),
        Ok(wrote) => {
            if wrote {
                running.wrote.store(true, Ordering::Release);
            }
            let failed = convert::error_of(&out).is_some();
            let value = convert::reply_to_lua(lua, &out, &mut 0)?;
            Ok((failed, value))
        }
    }
}

/// A Lua number as Redis turns it into a command argument (`%.17g`, so
/// no precision is lost): integers without a point.
pub(super) fn lua_number(n: f64) -> String {
    reply::g17(n)
}

/// The error reply of a failed script: its message, and where it stood
/// (` script: NAME, on SOURCE:LINE.`), as Redis 7 reports it.
pub(super) fn error_text(error: &Value, name: &str) -> String {
    let Value::Table(t) = error else {
        let text = match error {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "execution failure".to_owned(),
        };
        return format!("ERR Error running script {name}, {text}");
    };
    let field = |k: &str| match t.raw_get::<Value>(k) {
        Ok(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Ok(Value::Integer(n)) => Some(n.to_string()),
        Ok(Value::Number(n)) => Some(lua_number(n)),
        _ => None,
    };
    let message = field("err").unwrap_or_else(|| "ERR unknown error".to_owned());
    let message = message.strip_prefix('-').unwrap_or(&message).to_owned();
    if name.is_empty() {
        return message;
    }
    match (field("source"), field("line")) {
        (Some(source), Some(line)) => {
            let source = if source.starts_with(['@', '=']) {
                source
            } else {
                format!("@{source}")
            };
            format!("{message} script: {name}, on {source}:{line}.")
        }
        _ => message,
    }
}
