//! What a command's flags say about it: how dispatch treats it, and what
//! `COMMAND` reports (as Redis spells them). The command table and the
//! subcommand table both use them.

/// Changes data.
pub const WRITE: u16 = 1;
/// Reads data only.
pub const READONLY: u16 = 1 << 1;
/// Constant or logarithmic time.
pub const FAST: u16 = 1 << 2;
/// Allowed before `AUTH`.
pub const NO_AUTH: u16 = 1 << 3;
/// Administrative.
pub const ADMIN: u16 = 1 << 4;
/// May refuse to grow memory (Redis's `denyoom`).
pub const DENY_OOM: u16 = 1 << 5;

/// Refused inside `MULTI` (Redis's `no_multi`).
pub const NO_MULTI: u16 = 1 << 6;
/// Refused from a script (Redis's `noscript`).
pub const NO_SCRIPT: u16 = 1 << 7;
/// Runs while a script is busy past its threshold (Redis's `allow_busy`);
/// it takes no part of the gate.
pub const ALLOW_BUSY: u16 = 1 << 8;
/// Runs at once inside `MULTI` instead of being queued (`EXEC`,
/// `DISCARD`, `MULTI`, `WATCH`, `QUIT`).
pub const NO_QUEUE: u16 = 1 << 9;
/// Runs alone: the connection holds the gate for writing (`EXEC`, scripts),
/// so no other command interleaves.
pub const EXCLUSIVE: u16 = 1 << 10;
/// Allowed on a RESP2 connection in subscribed mode.
pub const SUBSCRIBED: u16 = 1 << 11;
/// The handler reports which keys it changed, raising their events
/// (`Ctx::notify`); only those count as modified
/// (for `WATCH`, tracking and blocked clients), as Redis signals them.
pub const REPORTS: u16 = 1 << 12;
/// Writes nothing itself but is passed on as if it wrote (Redis's
/// `may_replicate`): `PUBLISH`, and scripts that do not declare
/// `no-writes`. A read-only script may not call it; `CLIENT PAUSE WRITE`
/// holds it.
pub const MAY_REPLICATE: u16 = 1 << 13;
/// Its keys are found by reading its arguments (a count, a keyword), not
/// at fixed positions alone: the command table knows how.
pub const MOVABLE: u16 = 1 << 14;

/// The flag names `COMMAND` reports, as Redis spells them.
pub(super) const FLAG_NAMES: [(u16, &str); 11] = [
    (WRITE, "write"),
    (READONLY, "readonly"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (ADMIN, "admin"),
    (DENY_OOM, "denyoom"),
    (NO_MULTI, "no_multi"),
    (NO_SCRIPT, "noscript"),
    (ALLOW_BUSY, "allow_busy"),
    (MAY_REPLICATE, "may_replicate"),
    (MOVABLE, "movablekeys"),
];
