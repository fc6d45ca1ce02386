//! A file of the fault-injecting file system: writes, syncs and maps that
//! keep track of what is durable and fail on command.

use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FaultFs, FaultOp, FileData};
use crate::cold::fs::{ColdFile, Mapped};

/// A file of a [`FaultFs`]: its data, shared with the file system.
pub(super) struct FaultFile {
    pub(super) fs: FaultFs,
    pub(super) data: Arc<Mutex<FileData>>,
}

impl ColdFile for FaultFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        Self::check_read(&self.fs)?;
        let f = self.data.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = f
            .data
            .get(start..start.saturating_add(buf.len()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "short read"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        {
            let mut s = self.fs.state.lock();
            if let Some(left) = s.space_left {
                if left < buf.len() as u64 {
                    return Err(io::Error::new(
                        io::ErrorKind::StorageFull,
                        "no space left on device",
                    ));
                }
                s.space_left = Some(left - buf.len() as u64);
            }
            self.fs.mutate(&mut s, FaultOp::Write)?;
        }
        let mut f = self.data.lock();
        let start = offset as usize;
        let end = start + buf.len();
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[start..end].copy_from_slice(buf);
        f.dirty.push((start, end));
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let latency = {
            let mut s = self.fs.state.lock();
            self.fs.mutate(&mut s, FaultOp::Sync)?;
            s.sync_latency
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut f = self.data.lock();
        f.durable = f.data.clone();
        f.dirty.clear();
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.data.lock().data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.mutate(&mut self.fs.state.lock(), FaultOp::Write)?;
        let mut f = self.data.lock();
        let len = len as usize;
        let old = f.data.len();
        f.data.resize(len, 0);
        if len > old {
            f.dirty.push((old, len));
        } else {
            // A truncation is metadata: durable with the next sync.
            f.dirty.retain(|r| r.0 < len);
            for r in &mut f.dirty {
                r.1 = r.1.min(len);
            }
            if f.dirty.is_empty() {
                f.dirty.push((len, len));
            }
        }
        Ok(())
    }

    fn map(&self, len: u64) -> io::Result<Mapped> {
        Self::check_read_op(&self.fs, FaultOp::Map)?;
        let f = self.data.lock();
        let bytes = f
            .data
            .get(..len as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than map"))?;
        Ok(Mapped::from_bytes(bytes.to_vec()))
    }
}

impl FaultFile {
    fn check_read(fs: &FaultFs) -> io::Result<()> {
        Self::check_read_op(fs, FaultOp::Read)
    }

    fn check_read_op(fs: &FaultFs, op: FaultOp) -> io::Result<()> {
        let mut s = fs.state.lock();
        if let Some(n) = s.failures.get_mut(&op)
            && *n > 0
        {
            *n -= 1;
            return Err(io::Error::other(format!("injected {op:?} error")));
        }
        Ok(())
    }
}
