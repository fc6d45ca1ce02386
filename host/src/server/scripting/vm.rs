//! The Lua interpreter scripts run in, sandboxed as Redis 7.0 has it: Lua
//! 5.1 with its base, table, string and math libraries, plus `bit` and
//! `cjson`; no `os`, `io`, `loadfile`, `dofile`, `print` or `require`. The
//! global table is read-only once set up: reading an undeclared global or
//! writing any global raises an error, so nothing leaks from one script to
//! the next. Library tables (`redis`, `string`, `bit`, …) are read-only too.
//!
//! `redis.call` and `redis.pcall` are host functions installed for each
//! run ([`Vm::set_callers`]); a command error `redis.call` raises becomes
//! Redis's `{err=…}` table in the error handler and in `pcall`.

use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};

use super::{cjson, libs, structs};

/// The Lua side of the API: the wrappers, the error handler and the
/// read-only protection, run once per interpreter with the internal table
/// as its argument.
const PRELUDE: &str = r#"
local internal, readonly = ...
local error, pcall, type, tostring, setmetatable, rawset, xpcall, select, pairs, ipairs, unpack, table =
      error, pcall, type, tostring, setmetatable, rawset, xpcall, select, pairs, ipairs, unpack, table
local string_match, string_gsub = string.match, string.gsub

-- redis.call and redis.pcall are host functions, set for each run into
-- this table (internal.redis): a C function, unlike a Lua wrapper, keeps
-- its caller's frame on a tail call (`return redis.call(...)`), so the
-- error handler finds the line that called it, as Redis's does. A command
-- error is raised as a marked message, which the handler (and pcall,
-- below) turn into Redis's {err=...} table.
internal.redis = redis
local MARK = '\1redis-error\1'
local KILLED = '\1stopped\1'

-- An error value as Redis's scripts see it: a command's error as
-- {err=...}; otherwise nil and the error's text (a host error prints as
-- "runtime error: ..." followed by a traceback, which are dropped).
local string_find, string_sub = string.find, string.sub
local function as_table(err)
  if type(err) == 'table' then return err end
  local text = tostring(err)
  local cut = string_find(text, '\nstack traceback:', 1, true)
  if cut then text = string_sub(text, 1, cut - 1) end
  text = string_gsub(text, '^runtime error: ', '')
  text = string_gsub(text, '^callback error: ', '')
  text = string_gsub(text, KILLED, '')
  local at = string_find(text, MARK, 1, true)
  if at then return {err = string_sub(text, at + #MARK)} end
  return nil, text
end
internal.as_table = as_table

-- The first frame at or above `level` (of the caller of this function)
-- that is the user's code: its source and line.
local function user_frame(level)
  for l = level + 2, level + 12 do
    local ok, at = pcall(error, '', l)
    local source, line = string_match(at or '', '^(.-):(%d+):')
    if source and source ~= 'redis' then return source, line end
  end
end

-- pcall gives an error's message as a string, as Redis 7.0's does (a
-- command's error: its reply; {err=...}: its err).
-- A stopped script (SCRIPT KILL, FUNCTION KILL, SHUTDOWN, a library's
-- load timeout) cannot catch its stop: pcall and xpcall raise it again.
local function stopping(err)
  if type(err) == 'table' then return false end
  return string_find(tostring(err), KILLED, 1, true) ~= nil
end
local raw_pcall = pcall
rawset(_G, 'pcall', function(f, ...)
  local results = {raw_pcall(f, ...)}
  if not results[1] then
    if stopping(results[2]) then error(results[2], 0) end
    local t, text = as_table(results[2])
    if t then
      results[2] = t.err
    elseif type(results[2]) ~= 'string' then
      results[2] = text
    end
  end
  return unpack(results, 1, table.maxn(results))
end)

local raw_xpcall = xpcall
rawset(_G, 'xpcall', function(f, handler)
  local results = {raw_xpcall(f, function(err)
    if stopping(err) then return err end
    return handler(err)
  end)}
  if not results[1] and stopping(results[2]) then error(results[2], 0) end
  return unpack(results, 1, table.maxn(results))
end)

-- FUNCTION LOAD's registrations go to internal.registering, which exists
-- only while a library loads.
redis.register_function = function(...)
  local registering = internal.registering
  if not registering then
    error('redis.register_function can only be called on FUNCTION LOAD command', 2)
  end
  local n = select('#', ...)
  local name, callback, flags, description
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      error('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).', 2)
    end
    for k in pairs(t) do
      if type(k) ~= 'string' then
        error('named argument key given to redis.register_function is not a string', 2)
      end
      if k ~= 'function_name' and k ~= 'callback' and k ~= 'flags' and k ~= 'description' then
        error('unknown argument given to redis.register_function', 2)
      end
    end
    name, callback, flags, description = t.function_name, t.callback, t.flags, t.description
    if name == nil then error('redis.register_function must get a function name argument', 2) end
    if callback == nil then error('redis.register_function must get a callback argument', 2) end
    if type(name) ~= 'string' then
      error('function_name argument given to redis.register_function must be a string', 2)
    end
    if type(callback) ~= 'function' then
      error('callback argument given to redis.register_function must be a function', 2)
    end
  elseif n == 2 then
    name, callback = ...
    if type(name) ~= 'string' then
      error('first argument to redis.register_function must be a string', 2)
    end
    if type(callback) ~= 'function' then
      error('second argument to redis.register_function must be a function', 2)
    end
  else
    error('wrong number of arguments to redis.register_function', 2)
  end
  if description ~= nil and type(description) ~= 'string' then
    error('description argument given to redis.register_function must be a string', 2)
  end
  if flags ~= nil and type(flags) ~= 'table' then
    error('flags argument to redis.register_function must be a table representing function flags', 2)
  end
  local list = {}
  for _, flag in ipairs(flags or {}) do
    if type(flag) ~= 'string' then
      error('unknown flag given', 2)
    end
    list[#list + 1] = flag
  end
  registering[#registering + 1] =
    {name = name, callback = callback, flags = list, description = description}
end

internal.run = function(f, ...)
  local args = {...}
  local n = select('#', ...)
  local handler = function(err)
    local t, text = as_table(err)
    if t then
      if t.source == nil then t.source, t.line = user_frame(1) end
      return t
    end
    -- A Lua error carries its position; a host error (the kill hook's)
    -- does not: then the user's frame gives it.
    local source, line = string_match(text, '^(.-):(%d+): ')
    if not source then source, line = user_frame(1) end
    return {err = 'ERR ' .. text, source = source, line = line}
  end
  return xpcall(function() return f(unpack(args, 1, n)) end, handler)
end

-- Read-only tables: the globals and the library views. Neither their
-- fields nor their metatables can be changed (setmetatable and rawset
-- refuse them too), and getmetatable gives a read-only stand-in.
local function refuse() error('Attempt to modify a readonly table', 2) end
local protected = setmetatable({}, {__mode = 'k'})
local locked = setmetatable({}, {__newindex = refuse, __metatable = false})
protected[locked] = true
internal.protected, internal.locked, internal.refuse = protected, locked, refuse
internal.raw_setmetatable = setmetatable
local raw_setmetatable, raw_rawset = setmetatable, rawset
rawset(_G, 'setmetatable', function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return raw_setmetatable(t, mt)
end)
rawset(_G, 'rawset', function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return raw_rawset(t, k, v)
end)

-- A read-only view of a library table.
readonly = function(t, name)
  local view = raw_setmetatable({}, {__index = t, __newindex = refuse, __metatable = locked})
  protected[view] = true
  return view
end
internal.readonly = readonly

-- Binary chunks are refused, as Redis refuses them (bytecode can break
-- out of the sandbox): loadstring of one answers nil and the reason.
local raw_loadstring, string_byte = loadstring, string.byte
rawset(_G, 'loadstring', function(s, name)
  if type(s) == 'string' and string_byte(s, 1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  return raw_loadstring(s, name)
end)
"#;

/// What starts the error that stops a script (a kill, a load timeout):
/// `pcall` and `xpcall` raise it again rather than let the script go on.
pub(super) const STOPPED_MARK: &str = "\u{1}stopped\u{1}";

/// Which interpreter: the scripts' (`EVAL`) or the functions' (`FCALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    /// `redis` is a plain global.
    Scripts,
    /// `redis` is reached through the globals' fallback, which gives a
    /// library's code the loading API (`register_function`, `log`) while it
    /// loads and the full API when its functions run.
    Functions,
}

/// A function a library registered.
pub(super) struct Registered {
    pub(super) name: String,
    pub(super) callback: Function,
    pub(super) flags: Vec<String>,
    pub(super) description: Option<String>,
}

/// How long a library's code may run while it loads (Redis: 500 ms).
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// One interpreter and its internal table.
pub(super) struct Vm {
    lua: Lua,
    /// Hidden from scripts: `run`, the raw `redis` table, compiled scripts
    /// by SHA.
    internal: Table,
    /// Where the globals live (the global table itself stays empty, so
    /// that every assignment to it is refused).
    globals: Table,
    /// The interpreter's memory after its last full collection.
    live_bytes: std::cell::Cell<usize>,
}

/// The garbage a run may leave before a full collection, at least: Lua's
/// own pacing lets the heap reach twice its live size, which is what Redis
/// bounds with a collection step every 50 scripts.
const GARBAGE_SLACK_BYTES: usize = 32 * 1024;

impl Vm {
    /// A fresh, sandboxed interpreter.
    pub(super) fn new(flavour: Flavour) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let globals = lua.globals();
        for name in [
            "loadfile",
            "dofile",
            "print",
            "require",
            "module",
            "load",
            "collectgarbage",
            "newproxy",
            "gcinfo",
        ] {
            globals.raw_set(name, Value::Nil)?;
        }
        let internal = lua.create_table()?;
        internal.raw_set("scripts", lua.create_table()?)?;
        globals.raw_set("redis", libs::redis_table(&lua)?)?;
        globals.raw_set("bit", libs::bit_table(&lua)?)?;
        globals.raw_set("cjson", cjson::table(&lua)?)?;
        globals.raw_set("cmsgpack", super::msgpack::table(&lua)?)?;
        globals.raw_set("struct", structs::table(&lua)?)?;
        lua.load(PRELUDE)
            .set_name("=redis")
            .call::<()>((internal.clone(), Value::Nil))?;
        let readonly: Function = internal.raw_get("readonly")?;
        for name in [
            "redis", "bit", "cjson", "cmsgpack", "struct", "string", "table", "math",
        ] {
            let lib: Table = globals.raw_get(name)?;
            globals.raw_set(name, readonly.call::<Table>((lib, name))?)?;
        }
        if flavour == Flavour::Functions {
            // Functions run with every `redis.*` but register_function;
            // a library loads with the loading API alone (and no other
            // global), as in Redis.
            let raw: Table = internal.raw_get("redis")?;
            let run = lua.create_table()?;
            for pair in raw.pairs::<Value, Value>() {
                let (k, v) = pair?;
                run.raw_set(k, v)?;
            }
            run.raw_set("register_function", Value::Nil)?;
            internal.raw_set("redis", run.clone())?;
            globals.raw_set("redis", readonly.call::<Table>((run, "redis"))?)?;
            internal.raw_set("load_redis", loading_api(&lua, &raw)?)?;
            internal.raw_set("functions", lua.create_table()?)?;
        }
        let globals = protect_globals(&lua, &internal)?;
        let live_bytes = std::cell::Cell::new(lua.used_memory());
        Ok(Vm {
            lua,
            internal,
            globals,
            live_bytes,
        })
    }

    /// The interpreter.
    pub(super) fn lua(&self) -> &Lua {
        &self.lua
    }

    /// After a run: collects the garbage once it exceeds half the live heap
    /// (and [`GARBAGE_SLACK_BYTES`]), so that the interpreter's memory stays
    /// near what it holds, at a cost proportional to the garbage made.
    pub(super) fn collect_garbage(&self) {
        let live = self.live_bytes.get();
        if self.lua.used_memory() > live + GARBAGE_SLACK_BYTES.max(live / 2) {
            self.lua.gc_collect().ok();
            self.live_bytes.set(self.lua.used_memory());
        }
    }

    /// The compiled script of `sha`, if compiled.
    pub(super) fn script(&self, sha: &str) -> Option<Function> {
        let scripts: Table = self.internal.raw_get("scripts").ok()?;
        scripts.raw_get(sha).ok()
    }

    /// Compiles `body` as the script `sha`; the error is Lua's message.
    pub(super) fn compile(&self, sha: &str, body: &[u8]) -> Result<Function, String> {
        let f = self
            .lua
            .load(body)
            .set_name("@user_script")
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })?;
        let scripts: Table = self
            .internal
            .raw_get("scripts")
            .map_err(|e| e.to_string())?;
        scripts.raw_set(sha, f.clone()).map_err(|e| e.to_string())?;
        Ok(f)
    }

    /// Installs `redis.call` and `redis.pcall` for the next run (scoped
    /// host functions).
    pub(super) fn set_callers(&self, call: Function, pcall: Function) -> mlua::Result<()> {
        let redis: Table = self.internal.raw_get("redis")?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)
    }

    /// Runs `f(args…)` under the error handler: `Ok(value)` or the
    /// `{err=…, source=…, line=…}` table (or message) it raised.
    pub(super) fn run(
        &self,
        f: &Function,
        args: impl mlua::IntoLuaMulti,
    ) -> mlua::Result<Result<Value, Value>> {
        let run: Function = self.internal.raw_get("run")?;
        let (ok, value): (bool, Value) = run.call((f.clone(), args))?;
        Ok(if ok { Ok(value) } else { Err(value) })
    }

    /// The function `name` of a loaded library.
    pub(super) fn function(&self, name: &str) -> Option<Function> {
        let functions: Table = self.internal.raw_get("functions").ok()?;
        functions.raw_get(name).ok()
    }

    /// Installs (or, with `None`, removes) the function `name`.
    pub(super) fn set_function(&self, name: &str, f: Option<Function>) -> mlua::Result<()> {
        let functions: Table = self.internal.raw_get("functions")?;
        functions.raw_set(name, f)
    }

    /// Runs a library's code (its shebang line already a comment) with the
    /// loading API, for at most [`LOAD_TIMEOUT`], and returns what it
    /// registered. Nothing is installed: the caller decides.
    pub(super) fn load_library(&self, code: &[u8]) -> Result<Vec<Registered>, String> {
        let chunk = self
            .lua
            .load(code)
            .set_name("@user_function")
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => {
                    format!("ERR Error compiling function: {message}")
                }
                other => format!("ERR Error compiling function: {other}"),
            })?;
        let registering = self.lua.create_table().map_err(|e| e.to_string())?;
        // While the library loads, the globals read through the loading
        // globals (`redis`'s loading API alone) instead of the store.
        let swap = |load: bool, registering: Value| -> mlua::Result<()> {
            let meta: Table = self.internal.raw_get("globals_meta")?;
            let index = if load {
                self.internal.raw_get::<Value>("load_globals")?
            } else {
                Value::Table(self.globals.clone())
            };
            meta.raw_set("__index", index)?;
            self.internal.raw_set("registering", registering)
        };
        swap(true, Value::Table(registering.clone())).map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        let hand_off = super::run::HandOff::new();
        let hooked = self.lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(10_000),
            move |_, _| {
                hand_off.check();
                if started.elapsed() > LOAD_TIMEOUT {
                    return Err(mlua::Error::RuntimeError(format!(
                        "{STOPPED_MARK}FUNCTION LOAD timeout"
                    )));
                }
                Ok(mlua::VmState::Continue)
            },
        );
        let ran = self.run(&chunk, ());
        if hooked.is_ok() {
            self.lua.remove_hook();
        }
        swap(false, Value::Nil).map_err(|e| e.to_string())?;
        match ran.map_err(|e| e.to_string())? {
            Ok(_) => {}
            Err(error) => {
                let text = super::run::error_text(&error, "");
                let text = text.strip_prefix("ERR ").unwrap_or(&text);
                return Err(format!("ERR Error registering functions: {text}"));
            }
        }
        let mut registered = Vec::new();
        for entry in registering.sequence_values::<Table>() {
            let entry = entry.map_err(|e| e.to_string())?;
            let text = |k: &str| entry.raw_get::<Option<String>>(k).ok().flatten();
            registered.push(Registered {
                name: text("name").unwrap_or_default(),
                callback: entry.raw_get("callback").map_err(|e| e.to_string())?,
                flags: entry
                    .raw_get::<Table>("flags")
                    .map(|t| t.sequence_values::<String>().flatten().collect())
                    .unwrap_or_default(),
                description: text("description"),
            });
        }
        Ok(registered)
    }

    /// Sets the global `name` past the protection (`KEYS`, `ARGV`).
    pub(super) fn set_global(&self, name: &str, value: impl mlua::IntoLua) -> mlua::Result<()> {
        self.globals.raw_set(name, value)
    }
}

/// The `redis` a library's code sees while it loads: registering, logging
/// and the version; anything else is "nonexistent", as in Redis.
fn loading_api(lua: &Lua, redis: &Table) -> mlua::Result<Table> {
    let api = lua.create_table()?;
    for name in [
        "register_function",
        "log",
        "LOG_DEBUG",
        "LOG_VERBOSE",
        "LOG_NOTICE",
        "LOG_WARNING",
        "REDIS_VERSION",
        "REDIS_VERSION_NUM",
    ] {
        api.raw_set(name, redis.get::<Value>(name)?)?;
    }
    lua.load(
        r#"
        local api = ...
        local error, tostring = error, tostring
        return setmetatable({}, {
          __index = function(_, name)
            local v = api[name]
            if v == nil then
              error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
            end
            return v
          end,
          __newindex = function() error('Attempt to modify a readonly table', 2) end,
          __metatable = false,
        })
        "#,
    )
    .set_name("=redis")
    .call(api)
}

/// Makes the global table read-only: reading an undeclared global and
/// writing any global raise Redis's errors. Every global moves to a store
/// the (empty) global table reads through, which `internal.globals_meta`
/// can point elsewhere (a library's loading globals); the store is
/// returned.
fn protect_globals(lua: &Lua, internal: &Table) -> mlua::Result<Table> {
    lua.load(
        r#"
        local internal = ...
        local error, tostring, pairs, rawset, G = error, tostring, pairs, rawset, _G
        -- Every global moves to a hidden table the globals read through,
        -- so that assigning any name (even one that exists, like _G)
        -- reaches __newindex and is refused.
        local store = {}
        for k, v in pairs(G) do store[k] = v end
        for k in pairs(store) do rawset(G, k, nil) end
        local function nonexistent(_, name)
          error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
        end
        internal.raw_setmetatable(store, {__index = nonexistent})
        if internal.load_redis then
          internal.load_globals =
            internal.raw_setmetatable({redis = internal.load_redis}, {__index = nonexistent})
        end
        local meta = {__index = store, __newindex = internal.refuse, __metatable = internal.locked}
        internal.raw_setmetatable(G, meta)
        internal.protected[G] = true
        internal.globals_meta = meta
        return store
        "#,
    )
    .set_name("=redis")
    .call(internal.clone())
}
