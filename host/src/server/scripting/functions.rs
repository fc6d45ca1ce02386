//! Redis 7 functions: libraries of Lua functions loaded with `FUNCTION
//! LOAD` (a `#!lua name=<library>` shebang, then code that calls
//! `redis.register_function`), called with `FCALL`/`FCALL_RO`, listed,
//! deleted, flushed, dumped and restored. They run in their own
//! interpreter (`SCRIPT FLUSH` leaves them be), through the same run as
//! scripts: atomic under the gate, `BUSY` past the threshold, `FUNCTION
//! KILL` for one that has not written.
//!
//! `FUNCTION DUMP`'s payload is goldylox's own, documented here: the bytes
//! `GLXF`, a format version (1), then each library's code as a
//! little-endian u32 length and the bytes, then the CRC32C of everything
//! before it (little-endian u32). `FUNCTION RESTORE` checks all of it and
//! refuses a foreign or damaged payload with the reason.

use bytes::BytesMut;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::run::{self, Args, Call};
use super::vm::{Flavour, Registered, Vm};
use super::{Busy, Caller, Invocation, Scripts, interpreter};
use crate::server::resp::reply;

/// A function running now: its name, the command that runs it, and the
/// milliseconds it has run.
pub type RunningFunction = (String, Vec<Vec<u8>>, u64);

/// The flags a function may declare (Redis 7.0's).
const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// The payload's first bytes and version.
const DUMP_MAGIC: &[u8; 4] = b"GLXF";
const DUMP_VERSION: u8 = 1;

/// A loaded library.
#[derive(Debug, Clone)]
pub struct Library {
    /// Its name (from the shebang).
    pub name: String,
    /// Its code, as loaded.
    pub code: Vec<u8>,
    /// Its functions by name: description and flags.
    pub functions: BTreeMap<String, (Option<String>, Vec<String>)>,
}

/// What `FUNCTION RESTORE` does with the libraries already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Refuse if any library of the payload exists (the default).
    Append,
    /// Replace libraries of the same name.
    Replace,
    /// Delete every library first.
    Flush,
}

/// A library name or function name: letters, digits, underscores.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The library's name, and its code with the shebang made a comment.
fn library_header(code: &[u8]) -> Result<(String, Vec<u8>), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".to_owned());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    let mut words = split_args(&line).into_iter();
    let first = words.next().unwrap_or_default();
    let engine = first.strip_prefix("#!").unwrap_or(&first);
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for word in words {
        match word.split_once('=') {
            Some(("name", _)) if name.is_some() => {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".to_owned(),
                );
            }
            Some(("name", value)) => name = Some(value.to_owned()),
            _ => return Err(format!("ERR Invalid metadata value given: {word}")),
        }
    }
    let name = name.ok_or("ERR Library name was not given")?;
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned());
    }
    let mut code = code.to_vec();
    code[..2].copy_from_slice(b"--");
    Ok((name, code))
}

/// A shebang line's words as Redis splits them (`sdssplitargs`): by
/// blanks, a quote anywhere opening a quoted run that may hold blanks.
fn split_args(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote) = (Vec::new(), None::<String>, None);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

impl Scripts {
    pub(super) fn libraries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Library>> {
        self.libraries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `FUNCTION LOAD [REPLACE] code`: the library's name, or Redis's error.
    pub fn function_load(&self, code: &[u8], replace: bool) -> Result<String, String> {
        let mut vm = self.function_vm.lock().unwrap_or_else(|e| e.into_inner());
        let vm = interpreter(&mut vm, Flavour::Functions)?;
        let loaded = self.load_into(vm, code, replace);
        self.function_vm_bytes
            .store(vm.lua().used_memory(), Ordering::Relaxed);
        loaded
    }

    fn load_into(&self, vm: &Vm, code: &[u8], replace: bool) -> Result<String, String> {
        let (name, lua_code) = library_header(code)?;
        // Library and function names are case-insensitive, as in Redis:
        // kept by their lower-case form, shown as given.
        let key = name.to_ascii_lowercase();
        let mut libraries = self.libraries();
        if libraries.contains_key(&key) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let registered = vm.load_library(&lua_code)?;
        if registered.is_empty() {
            return Err("ERR No functions registered".to_owned());
        }
        // The library is checked whole first (as Redis registers into it),
        // then against the other libraries (as Redis joins it to them).
        let taken = |f: &BTreeMap<String, (Option<String>, Vec<String>)>, name: &str| {
            f.keys().any(|n| n.eq_ignore_ascii_case(name))
        };
        let mut functions = BTreeMap::new();
        for r in &registered {
            check_function(r)?;
            if taken(&functions, &r.name) {
                return Err("ERR Function already exists in the library".to_owned());
            }
            functions.insert(r.name.clone(), (r.description.clone(), r.flags.clone()));
        }
        for name in functions.keys() {
            if libraries
                .iter()
                .any(|(k, lib)| *k != key && taken(&lib.functions, name))
            {
                return Err(format!("ERR Function {name} already exists"));
            }
        }
        if let Some(old) = libraries.remove(&key) {
            for f in old.functions.keys() {
                vm.set_function(&f.to_ascii_lowercase(), None)
                    .map_err(|e| e.to_string())?;
            }
        }
        for r in registered {
            vm.set_function(&r.name.to_ascii_lowercase(), Some(r.callback))
                .map_err(|e| e.to_string())?;
        }
        libraries.insert(
            key,
            Library {
                name: name.clone(),
                code: code.to_vec(),
                functions,
            },
        );
        Ok(name)
    }

    /// `FUNCTION DELETE library`.
    pub fn function_delete(&self, name: &str) -> Result<(), String> {
        let mut vm = self.function_vm.lock().unwrap_or_else(|e| e.into_inner());
        let lib = self
            .libraries()
            .remove(&name.to_ascii_lowercase())
            .ok_or("ERR Library not found")?;
        if let Some(vm) = vm.as_mut() {
            for f in lib.functions.keys() {
                vm.set_function(&f.to_ascii_lowercase(), None)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// `FUNCTION FLUSH`: every library gone, a fresh interpreter.
    pub fn function_flush(&self) {
        let mut vm = self.function_vm.lock().unwrap_or_else(|e| e.into_inner());
        self.libraries().clear();
        *vm = None;
        self.function_vm_bytes.store(0, Ordering::Relaxed);
    }

    /// The libraries whose names match `pattern` (`FUNCTION LIST`).
    pub fn function_list(&self, pattern: Option<&[u8]>) -> Vec<Library> {
        self.libraries()
            .values()
            .filter(|lib| {
                pattern.is_none_or(|p| crate::server::glob::matches(p, lib.name.as_bytes()))
            })
            .cloned()
            .collect()
    }

    /// `FUNCTION STATS`: the running function (name, command, ms), the
    /// number of libraries and of functions.
    pub fn function_stats(&self) -> (Option<RunningFunction>, usize, usize) {
        let running = self
            .running
            .what
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|_| {
                self.running
                    .function
                    .load(std::sync::atomic::Ordering::Acquire)
            })
            .map(|(name, command, started)| (name, command, started.elapsed().as_millis() as u64));
        let libraries = self.libraries();
        let functions = libraries.values().map(|l| l.functions.len()).sum();
        (running, libraries.len(), functions)
    }

    /// `FUNCTION DUMP`'s payload.
    pub fn function_dump(&self) -> Vec<u8> {
        let mut payload = DUMP_MAGIC.to_vec();
        payload.push(DUMP_VERSION);
        for lib in self.libraries().values() {
            payload.extend((lib.code.len() as u32).to_le_bytes());
            payload.extend(&lib.code);
        }
        let crc = crc32c::crc32c(&payload);
        payload.extend(crc.to_le_bytes());
        payload
    }

    /// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`.
    pub fn function_restore(&self, payload: &[u8], policy: RestorePolicy) -> Result<(), String> {
        let codes = parse_dump(payload)?;
        let mut vm = self.function_vm.lock().unwrap_or_else(|e| e.into_inner());
        if policy == RestorePolicy::Flush {
            self.libraries().clear();
            *vm = None;
        }
        let vm = interpreter(&mut vm, Flavour::Functions)?;
        if policy == RestorePolicy::Append {
            for code in &codes {
                let (name, _) = library_header(code)?;
                if self.libraries().contains_key(&name.to_ascii_lowercase()) {
                    return Err(format!("ERR Library {name} already exists"));
                }
            }
        }
        for code in codes {
            self.load_into(vm, &code, policy != RestorePolicy::Append)?;
        }
        Ok(())
    }

    /// Whether function `name` may write (is not flagged `no-writes`), if
    /// it is loaded.
    pub(super) fn function_writes(&self, name: &str) -> Option<bool> {
        self.libraries()
            .values()
            .flat_map(|lib| lib.functions.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, (_, flags))| !flags.iter().any(|f| f == "no-writes"))
    }

    /// `FCALL`/`FCALL_RO function numkeys …`: runs it, writing its reply.
    pub fn fcall(
        &self,
        name: &str,
        invocation: &Invocation<'_>,
        caller: &mut Caller<'_>,
        out: &mut BytesMut,
    ) {
        let Some(writes) = self.function_writes(name) else {
            return reply::error(out, "ERR Function not found");
        };
        let no_writes = !writes;
        if invocation.read_only && !no_writes {
            return reply::error(
                out,
                "ERR Can not execute a script with write flag using *_ro command.",
            );
        }
        let guard = self.function_vm.lock().unwrap_or_else(|e| e.into_inner());
        let lower = name.to_ascii_lowercase();
        let Some(f) = guard.as_ref().and_then(|vm| vm.function(&lower)) else {
            return reply::error(out, "ERR Function not found");
        };
        let vm = guard.as_ref().expect("the function was found in it");
        let call = Call {
            read_only: no_writes,
            busy: Busy::Function,
            name,
            command: invocation.command,
            limits: invocation.limits,
            permits: &invocation.permits,
        };
        let args = Args::Parameters {
            keys: invocation.keys,
            argv: invocation.argv,
        };
        run::invoke(self, vm, &f, args, &call, caller, out);
        self.function_vm_bytes
            .store(vm.lua().used_memory(), Ordering::Relaxed);
    }
}

/// Checks a registered function's name and flags.
fn check_function(r: &Registered) -> Result<(), String> {
    if !valid_name(&r.name) {
        // Redis 7.0 words this error so, though it is about a function.
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned());
    }
    if let Some(flag) = r.flags.iter().find(|f| !FLAGS.contains(&f.as_str())) {
        return Err(format!(
            "ERR Error registering functions: unknown flag given ({flag})"
        ));
    }
    Ok(())
}

/// The libraries' code in a `FUNCTION DUMP` payload.
fn parse_dump(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let bad = |why: &str| format!("ERR payload version or checksum are wrong: {why}");
    if payload.len() < DUMP_MAGIC.len() + 1 + 4 || &payload[..4] != DUMP_MAGIC {
        return Err(bad("not a goldylox function dump"));
    }
    if payload[4] != DUMP_VERSION {
        return Err(bad(&format!(
            "format version {} (this goldylox reads {DUMP_VERSION})",
            payload[4]
        )));
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(bad("the checksum does not match: the payload is damaged"));
    }
    let mut codes = Vec::new();
    let mut at = 5;
    while at < body.len() {
        let len = body
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| bad("truncated"))?;
        let code = body
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| bad("truncated"))?;
        codes.push(code.to_vec());
        at += 4 + len;
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::parse_dump;

    #[test]
    fn a_damaged_or_foreign_payload_is_refused_with_the_reason() {
        let mut payload = b"GLXF\x01".to_vec();
        payload.extend(3u32.to_le_bytes());
        payload.extend(b"abc");
        let crc = crc32c::crc32c(&payload);
        payload.extend(crc.to_le_bytes());
        assert_eq!(parse_dump(&payload).unwrap(), vec![b"abc".to_vec()]);
        let mut damaged = payload.clone();
        damaged[9] ^= 1;
        assert!(parse_dump(&damaged).unwrap_err().contains("damaged"));
        assert!(
            parse_dump(b"\x0f\x00rdb-payload-of-redis")
                .unwrap_err()
                .contains("not a goldylox")
        );
        let mut future = payload;
        future[4] = 9;
        assert!(
            parse_dump(&future)
                .unwrap_err()
                .contains("format version 9")
        );
    }
}
