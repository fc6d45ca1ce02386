//! What every command a connection runs adds to the statistics: its
//! counters (`INFO commandstats`), its error (`INFO errorstats`), its
//! latency (`LATENCY`) and, when slow, its entry in the slow log.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Client, Server, table};

/// What is noted before a handler runs, for [`after`].
pub(super) struct Started {
    index: usize,
    /// A top-level command (a script's calls and `EXEC` are not logged;
    /// the script and `EXEC`'s commands are).
    loggable: bool,
    /// Whether its arguments were captured for the slow log.
    captured: bool,
    script_errors: u64,
    at: Instant,
}

/// Notes the start of the command at `index` of the table; captures its
/// arguments for the slow log while the log is on (the handler may move
/// them away).
pub(super) fn before(
    server: &dyn Server,
    client: &mut Client,
    index: usize,
    args: &[Vec<u8>],
) -> Started {
    let loggable = !client.in_script && table::TABLE[index].name != "exec";
    let captured = loggable && server.slowlog().threshold().is_some();
    if captured {
        client.slow_args.capture(args);
    }
    let at = Instant::now();
    // A script's commands are the script's: the connection ran EVAL.
    if !client.in_script {
        let sub = args
            .get(1)
            .filter(|_| super::subcommands::is_container(table::TABLE[index].name));
        client.connection.touch(index, at, sub.map(Vec::as_slice));
    }
    Started {
        index,
        loggable,
        captured,
        script_errors: client.script_errors,
        at,
    }
}

/// Adds the command that `started` and answered `reply` to the statistics.
pub(super) fn after(
    server: &dyn Server,
    started: Started,
    client: &mut Client,
    args: &[Vec<u8>],
    reply: &[u8],
) {
    let usec = started.at.elapsed().as_micros() as u64;
    let spec = &table::TABLE[started.index];
    let counters = server.command_stats().slot(started.index);
    counters.calls.fetch_add(1, Ordering::Relaxed);
    counters.usec.fetch_add(usec, Ordering::Relaxed);
    let fast = spec.flags & table::FAST != 0;
    server.latency().command(started.index, fast, args, usec);
    if reply.first() == Some(&b'-') {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        // A script's error raised by a command it called was counted when
        // that command failed (a script that caught it with `pcall` and
        // answered an error of its own making is undercounted by one).
        if client.script_errors == started.script_errors {
            server.error_stats().count(reply);
        }
        if client.in_script {
            client.script_errors += 1;
        }
    }
    // As in Redis, the threshold after the command decides (a `CONFIG SET`
    // that turns the log on is logged, one that turns it off is not).
    let slowlog = server.slowlog();
    if started.loggable && slowlog.threshold().is_some() {
        if !started.captured {
            client.slow_args.capture(args);
        }
        slowlog.offer(usec, &client.slow_args, &client.connection);
    }
}
