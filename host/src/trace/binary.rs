//! Binary trace formats: fixed-size records.

use std::io::Read;

use anyhow::{Result, bail};

use super::{Trace, TraceOp};

fn records<const N: usize>(mut reader: impl Read) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    if bytes.len() % N != 0 {
        bail!(
            "{} bytes is not a whole number of {N}-byte records",
            bytes.len()
        );
    }
    Ok(bytes)
}

fn le_u32(r: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(r[at..at + 4].try_into().expect("4 bytes"))
}

fn le_u64(r: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(r[at..at + 8].try_into().expect("8 bytes"))
}

/// libCacheSim oracleGeneral: `<u32 time, u64 id, u32 size, i64 next>`.
pub(super) fn oracle(reader: impl Read) -> Result<Trace> {
    let bytes = records::<24>(reader)?;
    let (keys, sizes) = bytes
        .chunks_exact(24)
        .map(|r| (le_u64(r, 4), le_u32(r, 12)))
        .unzip();
    Ok(Trace {
        keys,
        sizes: Some(sizes),
        ops: None,
    })
}

/// libCacheSim oracleSysTwrNS (a goldylox capture): each record's key,
/// size and operation (an expiry is a delete).
pub(super) fn capture(mut reader: impl Read) -> Result<Trace> {
    use goldylox::CaptureOp;
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    let records = goldylox::capture::file::read(&bytes).map_err(anyhow::Error::msg)?;
    let mut trace = Trace {
        keys: Vec::with_capacity(records.len()),
        sizes: Some(Vec::with_capacity(records.len())),
        ops: Some(Vec::with_capacity(records.len())),
    };
    for r in records {
        trace.keys.push(r.id);
        trace.sizes.as_mut().expect("sized").push(r.size);
        trace.ops.as_mut().expect("ops").push(match r.op {
            CaptureOp::Get => TraceOp::Get,
            CaptureOp::Set => TraceOp::Set,
            _ => TraceOp::Delete,
        });
    }
    Ok(trace)
}

/// libCacheSim vscsi version 1: `<u32 sn, u32 len, u32 nsg, u16 cmd, u16
/// ver, u64 lbn, u64 ts>`; the key is the block address, the size `len`.
pub(super) fn vscsi(reader: impl Read) -> Result<Trace> {
    let bytes = records::<32>(reader)?;
    let (keys, sizes) = bytes
        .chunks_exact(32)
        .map(|r| (le_u64(r, 16), le_u32(r, 4)))
        .unzip();
    Ok(Trace {
        keys,
        sizes: Some(sizes),
        ops: None,
    })
}

/// One big-endian integer key per `N` bytes.
pub(super) fn big_endian<const N: usize>(
    reader: impl Read,
    key: impl Fn([u8; N]) -> u64,
) -> Result<Trace> {
    let bytes = records::<N>(reader)?;
    Ok(Trace::unsized_keys(
        bytes
            .chunks_exact(N)
            .map(|r| key(r.try_into().expect("N bytes")))
            .collect(),
    ))
}
