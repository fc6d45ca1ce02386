//! A connection blocked on keys (`BLPOP` …) awaits its answer here: served
//! by a writer ([`commands::execute`](super::commands::execute) serves the
//! waiters of the keys a command made ready), or its timeout, `CLIENT
//! UNBLOCK`, the server stopping or the client going away. Meanwhile the
//! socket is still read: what the client pipelines is kept for after the
//! answer, and a closed connection gives the wait up at once, so nothing is
//! served to a client that left.

use anyhow::{Result, bail};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use super::ServerState;
use super::clients::Connection;
use super::commands::Blocking;
use super::keyspace::blocked::GaveUp;

/// Bytes read at a time while blocked.
const READ_CHUNK: usize = 4096;

/// The error a client unblocked with `CLIENT UNBLOCK … ERROR` gets.
const UNBLOCKED: &[u8] = b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n";

/// Awaits the answer to `blocked`: `Some((reply, mark))` — the pushes
/// queued before the mark go out before the reply — or `None` when the
/// connection is to close (gone, killed, the server stopping).
pub(super) async fn wait<S: AsyncRead + Unpin>(
    shared: &ServerState,
    blocked: Blocking,
    stream: &mut S,
    input: &mut BytesMut,
    stopped: &mut watch::Receiver<bool>,
    connection: &Connection,
) -> Result<Option<(BytesMut, u64)>> {
    let Blocking {
        waiter,
        mut answer,
        timeout,
        timed_out,
    } = blocked;
    let registry = &shared.keyspace.blocked;
    // Gives the wait up unless it was served meanwhile: whether it was.
    let give_up = || {
        let waiting = waiter.lock().take().is_some();
        registry.unblock(&waiter);
        waiting
    };
    let sleep = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let max_input = shared.config().server.max_query_buffer_bytes;
    loop {
        input.reserve(READ_CHUNK);
        tokio::select! {
            got = &mut answer => {
                registry.unblock(&waiter);
                let mark = connection.mailbox.queued();
                return Ok(Some(match got {
                    Ok(Ok(served)) => (served.reply, served.pushes_before),
                    Ok(Err(GaveUp::Error)) => (BytesMut::from(UNBLOCKED), mark),
                    Ok(Err(GaveUp::Timeout)) | Err(_) => (timed_out, mark),
                }));
            }
            () = &mut sleep => {
                let mark = connection.mailbox.queued();
                if give_up() {
                    return Ok(Some((timed_out, mark)));
                }
                // Served as the time ran out: the answer is on its way.
                let got = answer.await;
                return Ok(Some(match got {
                    Ok(Ok(served)) => (served.reply, served.pushes_before),
                    _ => (timed_out, mark),
                }));
            }
            read = stream.read_buf(input) => {
                let gone = !matches!(read, Ok(n) if n > 0);
                if gone {
                    give_up();
                    return Ok(None);
                }
                if input.len() > max_input {
                    give_up();
                    bail!("query buffer limit exceeded while blocked; closing");
                }
            }
            _ = stopped.changed() => {
                give_up();
                return Ok(None);
            }
            () = connection.killed() => {
                give_up();
                return Ok(None);
            }
        }
    }
}
