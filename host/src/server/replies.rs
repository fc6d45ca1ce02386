//! A connection's replies on their way out: written in one go per batch,
//! a client that reads nothing of them is dropped, and with durable
//! acknowledgements they wait until the writes they answer are on disk.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::commands::Client;
use super::config::Config;
use super::resp::reply;
use super::{READ_CHUNK, ServerState};

/// Whether replies to writes wait until the writes are durable: the cold
/// tier is write-through and syncs every commit (`sync = "always"`), as
/// Redis's `appendfsync always`.
pub(super) fn durable_acks(config: &Config) -> bool {
    config
        .cache
        .cold
        .as_ref()
        .is_some_and(|c| c.sync.trim() == "always" && c.write_policy == "write-through")
}

/// A connection's replies on their way out.
pub(super) struct Replies {
    /// Replies not yet written.
    pub(super) output: BytesMut,
    /// A client that reads nothing of them for this long is dropped.
    pub(super) stall: Duration,
    /// With durable acknowledgements: the mark taken before the writes
    /// whose replies are in `output`.
    durable: Option<goldylox::DurabilityMark>,
}

impl Replies {
    /// Before a batch's replies are written, while other connections are
    /// open: lets the connections this poll made ready run their requests
    /// first, so that the replies leave together, as from Redis's event
    /// loop. A write wakes a client that sleeps, and on a virtual machine
    /// that wake-up (an interrupt to another core) cost more than the
    /// command: writing as each connection finished woke the client once
    /// per reply.
    pub(super) async fn let_others_run(&self, shared: &ServerState) {
        if !self.output.is_empty() && shared.clients.load(Ordering::Relaxed) > 1 {
            tokio::task::yield_now().await;
        }
    }

    /// An empty buffer under `config`'s stall limit, with a durability mark
    /// if replies wait for durable writes.
    pub(super) fn new(shared: &ServerState, config: &Config) -> Replies {
        Replies {
            output: BytesMut::with_capacity(READ_CHUNK),
            stall: Duration::from_millis(config.server.output_stall_ms),
            durable: durable_acks(config).then(|| shared.store.durability_mark()),
        }
    }

    /// Writes the replies out, after waiting, with durable acknowledgements,
    /// until the writes among them are durable. When they are not, the
    /// replies are withheld: the client is told why and disconnected.
    pub(super) async fn deliver<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        shared: &ServerState,
        client: &mut Client,
    ) -> Result<()> {
        if let Some(since) = self.durable
            && client.wrote
        {
            client.wrote = false;
            self.durable = Some(shared.store.durability_mark());
            if let Err(why) = durable_since(shared, since).await {
                log::warn!("withholding replies to writes that are not durable: {why}");
                self.output.clear();
                reply::error(
                    &mut self.output,
                    &format!("ERR writes not durable, replies withheld: {why}"),
                );
                flush(stream, &mut self.output, self.stall).await?;
                bail!("writes not durable: {why}");
            }
        }
        // A connection closed by the server (`CLIENT KILL`, a subscriber
        // over its output limit) stops waiting on a client that reads
        // nothing.
        tokio::select! {
            flushed = flush(stream, &mut self.output, self.stall) => flushed,
            () = client.connection.killed() => bail!("connection closed by the server"),
        }
    }
}

/// Waits, without holding a thread, until every write made since `since`
/// is durable.
async fn durable_since(
    shared: &ServerState,
    since: goldylox::DurabilityMark,
) -> Result<(), String> {
    let (done, synced) = tokio::sync::oneshot::channel();
    shared.store.when_durable(since, move |r| {
        let _ = done.send(r);
    });
    match synced.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the cache stopped".to_owned()),
    }
}

/// Writes `output` out; a client that accepts nothing for `stall` is
/// disconnected.
async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    output: &mut BytesMut,
    stall: Duration,
) -> Result<()> {
    while !output.is_empty() {
        let written = tokio::time::timeout(stall, stream.write_buf(output))
            .await
            .context("client stopped reading its replies")??;
        if written == 0 {
            bail!("connection closed");
        }
    }
    // A TLS stream may hold the last record until flushed.
    tokio::time::timeout(stall, stream.flush())
        .await
        .context("client stopped reading its replies")??;
    output.clear();
    Ok(())
}
