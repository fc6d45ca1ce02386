//! Commands of the types Goldylox does not implement — streams, geo and
//! HyperLogLog — and MIGRATE answer an error that says so (rather than "unknown command"), naming
//! docs/redis-compatibility.md, which lists what is not supported.

use super::table::{MOVABLE, NONE, Spec, WRITE, spec};
use super::{Ctx, lower};
use crate::server::resp::reply;

/// Streams', geo's and HyperLogLog's commands, and MIGRATE.
pub(super) static SPECS: &[Spec] = &[
    spec("geoadd", -5, 0, NONE, unsupported),
    spec("geodist", -4, 0, NONE, unsupported),
    spec("geohash", -2, 0, NONE, unsupported),
    spec("geopos", -2, 0, NONE, unsupported),
    spec("georadius", -6, MOVABLE, NONE, unsupported),
    spec("georadius_ro", -6, 0, NONE, unsupported),
    spec("georadiusbymember", -5, MOVABLE, NONE, unsupported),
    spec("georadiusbymember_ro", -5, 0, NONE, unsupported),
    spec("geosearch", -7, 0, NONE, unsupported),
    spec("geosearchstore", -8, 0, NONE, unsupported),
    spec("migrate", -6, WRITE | MOVABLE, NONE, unsupported),
    spec("pfadd", -2, 0, NONE, unsupported),
    spec("pfcount", -2, 0, NONE, unsupported),
    spec("pfdebug", 3, 0, NONE, unsupported),
    spec("pfmerge", -2, 0, NONE, unsupported),
    spec("pfselftest", 1, 0, NONE, unsupported),
    spec("xack", -4, 0, NONE, unsupported),
    spec("xadd", -5, 0, NONE, unsupported),
    spec("xautoclaim", -6, 0, NONE, unsupported),
    spec("xclaim", -6, 0, NONE, unsupported),
    spec("xdel", -3, 0, NONE, unsupported),
    spec("xgroup", -2, 0, NONE, unsupported),
    spec("xinfo", -2, 0, NONE, unsupported),
    spec("xlen", 2, 0, NONE, unsupported),
    spec("xpending", -3, 0, NONE, unsupported),
    spec("xrange", -4, 0, NONE, unsupported),
    spec("xread", -4, MOVABLE, NONE, unsupported),
    spec("xreadgroup", -7, MOVABLE, NONE, unsupported),
    spec("xrevrange", -4, 0, NONE, unsupported),
    spec("xsetid", -3, 0, NONE, unsupported),
    spec("xtrim", -4, 0, NONE, unsupported),
];

/// The error: which type, and where the docs say so.
fn unsupported(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let kind = if name == "migrate" {
        "moving keys between servers (a resharded slot starts empty at its new owner) is"
    } else if name.starts_with('x') {
        "streams are"
    } else if name.starts_with("pf") {
        "HyperLogLog commands are"
    } else {
        "geo commands are"
    };
    reply::error(
        c.out,
        &format!(
            "ERR '{name}': {kind} not supported by goldylox (docs/redis-compatibility.md: not supported)"
        ),
    );
}
