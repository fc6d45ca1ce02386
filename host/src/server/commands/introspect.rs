//! `COMMAND`: what the server says about its commands — their count,
//! their names (subcommands too, filtered by ACL category or pattern),
//! Redis 7.0's ten fields of each (arity, flags, key positions, ACL
//! categories, tips, key specifications, subcommands), their
//! documentation (`docs.rs`), and the keys a request names — from the
//! command table and the subcommand table.

use std::sync::LazyLock;

use bytes::BytesMut;

use super::flags::{FLAG_NAMES, MOVABLE};
use super::keyspecs::{self, Search};
use super::table::{Spec, TABLE, lookup};
use super::{Ctx, docs, lower, subcommands, tips};
use crate::server::acl::categories;
use crate::server::glob;
use crate::server::resp::reply;

/// `COMMAND`, `COMMAND COUNT|INFO|DOCS|LIST`, from the table.
pub(super) fn command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let out = &mut *c.out;
    match args.get(1).map(|a| lower(a)).as_deref() {
        None => {
            reply::array(out, TABLE.len());
            TABLE.iter().for_each(|s| describe(out, s));
        }
        Some("docs") => docs::command_docs(out, &args[2..], keyspecs::count),
        Some("count") => reply::int(out, TABLE.len() as i64),
        Some("list") => list(out, &args[2..]),
        Some("info") => {
            reply::array(out, args.len() - 2);
            for name in &args[2..] {
                match lookup(name).or_else(|| lookup_subcommand(name)) {
                    Some(s) => describe(out, s),
                    None => reply::nil(out),
                }
            }
        }
        Some("getkeys") if args.len() >= 3 => getkeys(out, &args[2..], false),
        Some("getkeysandflags") if args.len() >= 3 => getkeys(out, &args[2..], true),
        Some(other) => reply::error(
            out,
            &format!("ERR unknown subcommand '{other}'. Try COMMAND HELP."),
        ),
    }
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN
/// pattern]`: every command and subcommand (`client|list`), or those of a
/// category, or those whose name matches (any case); no module has any.
fn list(out: &mut BytesMut, filter: &[Vec<u8>]) {
    let every = || TABLE.iter().copied().chain(SUBCOMMAND_SPECS.iter());
    let names: Vec<&str> = match filter {
        [] => every().map(|s| s.name).collect(),
        [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => match lower(kind).as_str() {
            "module" => Vec::new(),
            "aclcat" => match categories::bit(&lower(value)) {
                Some(bit) => every()
                    .filter(|s| categories::of(s) & bit != 0)
                    .map(|s| s.name)
                    .collect(),
                None => Vec::new(),
            },
            "pattern" => {
                let pattern = lower(value);
                every()
                    .filter(|s| glob::matches(pattern.as_bytes(), s.name.as_bytes()))
                    .map(|s| s.name)
                    .collect()
            }
            _ => return reply::error(out, "ERR syntax error"),
        },
        _ => return reply::error(out, "ERR syntax error"),
    };
    reply::array(out, names.len());
    for name in names {
        reply::bulk(out, name.as_bytes());
    }
}

/// `COMMAND GETKEYS command [arg …]` (with `flags`, `COMMAND
/// GETKEYSANDFLAGS`: each key with its access flags, `[key, [RW, access,
/// delete]]`): the keys that request names, by the table's positions (a
/// container's by its subcommand's), with Redis's errors: a command that
/// never has keys, a wrong number of arguments, or arguments that name
/// none where some are required (`EVAL` and `FCALL` may have none).
fn getkeys(out: &mut BytesMut, request: &[Vec<u8>], flags: bool) {
    let Some(spec) = lookup(&request[0]) else {
        return reply::error(out, "ERR Invalid command specified");
    };
    let sub = request
        .get(1)
        .and_then(|name| subcommands::find(spec.name, name));
    let (has_keys, arity) = match sub {
        Some(sub) => (sub.keys.0 > 0, sub.arity),
        None => (spec.first_key > 0 || spec.flags & MOVABLE != 0, spec.arity),
    };
    if !has_keys {
        return reply::error(out, "ERR The command has no key arguments");
    }
    let n = request.len() as i32;
    if (arity > 0 && arity != n) || n < -arity {
        return reply::error(out, "ERR Invalid number of arguments specified for command");
    }
    let keys: Vec<&[u8]> = spec.keys(request).collect();
    if keys.is_empty() && !NO_MANDATORY_KEYS.contains(&spec.name) {
        return reply::error(out, "ERR Invalid arguments specified for command");
    }
    let name = match sub {
        Some(sub) => format!("{}|{}", spec.name, sub.name),
        None => spec.name.to_owned(),
    };
    // A command the key specifications do not know has keys without flags.
    let access = flags.then(|| keyspecs::of(&name, request, keys.len()).unwrap_or_default());
    reply::array(out, keys.len());
    for (i, key) in keys.into_iter().enumerate() {
        match &access {
            Some(access) => {
                let words: Vec<&str> = access.get(i).map_or(Vec::new(), |a| a.split(' ').collect());
                reply::array(out, 2);
                reply::bulk(out, key);
                reply::array(out, words.len());
                words.iter().for_each(|w| reply::simple(out, w));
            }
            None => reply::bulk(out, key),
        }
    }
}

/// Commands that may name no key at all (`EVAL body 0`).
const NO_MANDATORY_KEYS: [&str; 6] = [
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// One command as `COMMAND INFO` describes it, with its subcommands.
fn describe(out: &mut BytesMut, s: &Spec) {
    describe_with(out, s, &subcommands_of(s.name, &SUBCOMMAND_SPECS));
}

/// `spec` in Redis 7.0's ten fields: name, arity, flags, first key, last
/// key, step, ACL categories, tips, key specifications, and its
/// subcommands (`subs`, each described the same way).
fn describe_with(out: &mut BytesMut, s: &Spec, subs: &[&Spec]) {
    reply::array(out, 10);
    reply::bulk(out, s.name.as_bytes());
    reply::int(out, i64::from(s.arity));
    let flags: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| s.flags & bit != 0)
        .map(|&(_, name)| name)
        .collect();
    reply::set(out, flags.len());
    flags.iter().for_each(|f| reply::simple(out, f));
    reply::int(out, i64::from(s.first_key));
    reply::int(out, i64::from(s.last_key));
    reply::int(out, i64::from(s.key_step));
    // A container is described as Redis describes it, in `@slow` only
    // (`COMMAND` also `@connection`); the ACL checks a container against
    // its subcommands' categories.
    let bits = match (subs.is_empty(), s.name) {
        (true, _) => categories::of(s),
        (false, "command") => named("slow") | named("connection"),
        (false, _) => named("slow"),
    };
    let names: Vec<&str> = categories::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    reply::set(out, names.len());
    names
        .iter()
        .for_each(|n| reply::simple(out, &format!("@{n}")));
    let tips = tips::tips(s.name);
    reply::set(out, tips.len());
    tips.iter().for_each(|t| reply::bulk(out, t.as_bytes()));
    key_specs(out, s);
    reply::set(out, subs.len());
    for sub in subs {
        describe_with(out, sub, &[]);
    }
}

fn named(category: &str) -> u32 {
    categories::bit(category).expect("a category of NAMES")
}

/// The subcommands of `container` among `all` (sorted by name).
fn subcommands_of<'a>(container: &str, all: &'a [Spec]) -> Vec<&'a Spec> {
    if subcommands::of(container).is_none() {
        return Vec::new();
    }
    let prefix = format!("{container}|");
    all.iter().filter(|s| s.name.starts_with(&prefix)).collect()
}

/// Each key specification: its flags, where its keys begin and how they
/// are found.
fn key_specs(out: &mut BytesMut, s: &Spec) {
    let specs = keyspecs::layout(
        s.name,
        (s.first_key, s.last_key, s.key_step),
        s.numkeys_at(),
    );
    reply::set(out, specs.len());
    for (flags, search) in specs {
        reply::map(out, 3);
        reply::bulk(out, b"flags");
        reply::set(out, flags.len());
        flags.iter().for_each(|f| reply::simple(out, f));
        let (begin, find) = match search {
            Search::Range { begin, last, step } => (
                ("index", vec![("index", begin)]),
                (
                    "range",
                    vec![("lastkey", last), ("keystep", step), ("limit", 0)],
                ),
            ),
            Search::Counted { begin } => (
                ("index", vec![("index", begin)]),
                (
                    "keynum",
                    vec![("keynumidx", 0), ("firstkey", 1), ("keystep", 1)],
                ),
            ),
            Search::Unknown => (("unknown", Vec::new()), ("unknown", Vec::new())),
        };
        for (field, (kind, spec)) in [("begin_search", begin), ("find_keys", find)] {
            reply::bulk(out, field.as_bytes());
            reply::map(out, 2);
            reply::bulk(out, b"type");
            reply::bulk(out, kind.as_bytes());
            reply::bulk(out, b"spec");
            reply::map(out, spec.len());
            for (name, value) in spec {
                reply::bulk(out, name.as_bytes());
                reply::int(out, i64::from(value));
            }
        }
    }
}

/// Every subcommand as a command of its own, named `container|sub`,
/// sorted by that name: its arity, flags and keys, and its container's
/// handler. `COMMAND LIST`, `COMMAND INFO` and the ACL categories read it.
static SUBCOMMAND_SPECS: LazyLock<Vec<Spec>> = LazyLock::new(|| {
    let mut all: Vec<Spec> = subcommands::CONTAINERS
        .iter()
        .flat_map(|(container, subs)| {
            let handler = lookup(container.as_bytes())
                .unwrap_or_else(|| panic!("{container} is in the command table"))
                .handler;
            subs.iter().map(move |sub| Spec {
                // Made once, for the life of the process.
                name: Box::leak(format!("{container}|{}", sub.name).into_boxed_str()),
                arity: sub.arity,
                flags: sub.flags,
                first_key: sub.keys.0,
                last_key: sub.keys.1,
                key_step: sub.keys.2,
                handler,
            })
        })
        .collect();
    all.sort_by_key(|s| s.name);
    all
});

/// The subcommand named `container|sub` (any case).
fn lookup_subcommand(name: &[u8]) -> Option<&'static Spec> {
    let lowered = String::from_utf8_lossy(name).to_ascii_lowercase();
    SUBCOMMAND_SPECS
        .binary_search_by(|s| s.name.cmp(lowered.as_str()))
        .ok()
        .map(|i| &SUBCOMMAND_SPECS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_is_described_under_its_full_name() {
        assert_eq!(lookup_subcommand(b"CLIENT|List").map(|s| s.arity), Some(-2));
        assert_eq!(
            lookup_subcommand(b"memory|usage").map(|s| s.first_key),
            Some(2)
        );
        assert!(lookup_subcommand(b"get|key").is_none());
        assert!(lookup_subcommand(b"config|get|key").is_none());
        let total: usize = subcommands::CONTAINERS.iter().map(|(_, s)| s.len()).sum();
        assert_eq!(SUBCOMMAND_SPECS.len(), total);
    }
}
