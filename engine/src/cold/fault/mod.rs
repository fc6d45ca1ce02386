//! [`FaultFs`]: an in-memory file system that keeps track of what is durable,
//! crashes on command and injects errors — the RocksDB/redb pattern for
//! testing a store's recovery at every I/O.
//!
//! The model is strict: file data is durable only after the file's `sync`,
//! and a directory entry (a creation, rename or removal) only after
//! `sync_dir` of its directory. [`FaultFs::crash_image`] builds the file
//! system a restarted process would find, with the unsynced data torn in one
//! of the [`Tear`] ways.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

mod file;

use super::fs::{ColdFile, ColdFs};
use file::FaultFile;

/// How unsynced data survives a crash.
///
/// ```
/// use goldylox::cold::Tear;
/// for tear in Tear::ALL {
///     println!("a crash that leaves unsynced data {tear:?}");
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// None of it survives.
    DropUnsynced,
    /// All of it was written, then the file was cut at a random point of
    /// the unsynced range.
    Truncate,
    /// The file kept its new length but the unsynced ranges read as zeros.
    ZeroFill,
    /// The unsynced ranges hold garbage.
    Garbage,
    /// Each unsynced 4 KiB block independently has its new or old contents.
    Reorder,
}

impl Tear {
    /// All modes.
    ///
    /// ```
    /// assert_eq!(goldylox::cold::Tear::ALL.len(), 5);
    /// ```
    pub const ALL: [Tear; 5] = [
        Tear::DropUnsynced,
        Tear::Truncate,
        Tear::ZeroFill,
        Tear::Garbage,
        Tear::Reorder,
    ];
}

/// An operation errors can be injected into.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
/// let fs = FaultFs::new();
/// let mut config = ColdConfig::new("/db", 1 << 30);
/// config.fs = Arc::new(fs.clone());
/// let store = ColdStore::open(config)?;
/// fs.fail(FaultOp::Write, 1);
/// store.put(b"k", b"v", None)?;
/// assert!(store.sync().is_err());
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `write_all_at`.
    Write,
    /// A file's `sync`.
    Sync,
    /// `create`.
    Create,
    /// `open`.
    Open,
    /// `rename`.
    Rename,
    /// `remove`.
    Remove,
    /// `sync_dir`.
    SyncDir,
    /// `map`.
    Map,
    /// `read_exact_at`.
    Read,
}

#[derive(Default)]
struct FileData {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Byte ranges written since the last sync.
    dirty: Vec<(usize, usize)>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    files: HashMap<u64, Arc<Mutex<FileData>>>,
    names: HashMap<PathBuf, u64>,
    durable_names: HashMap<PathBuf, u64>,
    dirs: Vec<PathBuf>,
    mutations: u64,
    crash_after: Option<u64>,
    crashed: bool,
    failures: HashMap<FaultOp, u32>,
    space_left: Option<u64>,
    /// How long a file's sync takes, as a disk's would.
    sync_latency: std::time::Duration,
}

/// An in-memory file system with crashes and injected errors. Clones share
/// one file system.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
/// let fs = FaultFs::new();
/// let mut config = ColdConfig::new("/db", 1 << 30);
/// config.fs = Arc::new(fs.clone());
/// let store = ColdStore::open(config)?;
/// store.put(b"k", b"v", None)?;
/// assert!(!fs.has_crashed());
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("FaultFs")
            .field("files", &s.names.len())
            .field("mutations", &s.mutations)
            .field("crashed", &s.crashed)
            .finish()
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

impl FaultFs {
    /// An empty file system.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
    /// let fs = FaultFs::new();
    /// let mut config = ColdConfig::new("/db", 1 << 30);
    /// config.fs = Arc::new(fs.clone());
    /// let store = ColdStore::open(config)?;
    /// store.put(b"k", b"v", None)?;
    /// store.sync()?;
    /// assert!(fs.mutations() > 0);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn new() -> Self {
        FaultFs::default()
    }

    /// Mutating operations (writes, syncs, creations, renames, removals,
    /// truncations) performed so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
    /// let fs = FaultFs::new();
    /// let mut config = ColdConfig::new("/db", 1 << 30);
    /// config.fs = Arc::new(fs.clone());
    /// let store = ColdStore::open(config)?;
    /// let before = fs.mutations();
    /// store.put(b"k", b"v", None)?;
    /// store.sync()?;
    /// assert!(fs.mutations() > before, "a write and a sync");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn mutations(&self) -> u64 {
        self.state.lock().mutations
    }

    /// Crash right after the `n`-th mutating operation from now: it happens,
    /// every later operation fails.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
    /// let fs = FaultFs::new();
    /// let mut config = ColdConfig::new("/db", 1 << 30);
    /// config.fs = Arc::new(fs.clone());
    /// let store = ColdStore::open(config)?;
    /// fs.crash_after(0);
    /// store.put(b"k", b"v", None)?; // queued; the writer's I/O fails
    /// assert!(store.sync().is_err());
    /// assert!(fs.has_crashed());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn crash_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.crash_after = Some(s.mutations + n);
        if n == 0 {
            s.crashed = true;
        }
    }

    /// Whether the simulated crash has happened.
    ///
    /// ```
    /// let fs = goldylox::cold::FaultFs::new();
    /// assert!(!fs.has_crashed());
    /// ```
    pub fn has_crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// The next `times` calls of `op` fail with an I/O error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
    /// let fs = FaultFs::new();
    /// let mut config = ColdConfig::new("/db", 1 << 30);
    /// config.fs = Arc::new(fs.clone());
    /// let store = ColdStore::open(config)?;
    /// fs.fail(FaultOp::Sync, 1);
    /// store.put(b"k", b"v", None)?;
    /// assert!(store.sync().is_err(), "the injected failure");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn fail(&self, op: FaultOp, times: u32) {
        self.state.lock().failures.insert(op, times);
    }

    /// Every file sync takes `latency` from now on (a disk's flush time), so
    /// tests can see what happens while one is under way; what was written
    /// before the sync is durable when it returns.
    ///
    /// ```
    /// let fs = goldylox::cold::FaultFs::new();
    /// fs.set_sync_latency(std::time::Duration::from_millis(5)); // a slow disk
    /// ```
    pub fn set_sync_latency(&self, latency: std::time::Duration) {
        self.state.lock().sync_latency = latency;
    }

    /// Writes fail with "no space left" once `bytes` more have been written
    /// (`None`: unlimited).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
    /// let fs = FaultFs::new();
    /// let mut config = ColdConfig::new("/db", 1 << 30);
    /// config.fs = Arc::new(fs.clone());
    /// let store = ColdStore::open(config)?;
    /// fs.set_space(Some(0)); // the disk is full
    /// store.put(b"k", &[0; 4096], None)?; // queued; the writer's write fails
    /// assert!(store.sync().is_err());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn set_space(&self, bytes: Option<u64>) {
        self.state.lock().space_left = bytes;
    }

    /// The contents of a file as the running process sees them.
    ///
    /// ```
    /// use std::path::Path;
    /// let fs = goldylox::cold::FaultFs::new();
    /// fs.write(Path::new("/f"), b"bytes".to_vec());
    /// assert_eq!(fs.read(Path::new("/f")).as_deref(), Some(&b"bytes"[..]));
    /// ```
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.state.lock();
        let id = s.names.get(path)?;
        Some(s.files[id].lock().data.clone())
    }

    /// Replaces a file's contents (durably), as another program would.
    ///
    /// ```
    /// use std::path::Path;
    /// let fs = goldylox::cold::FaultFs::new();
    /// fs.write(Path::new("/f"), vec![0; 8]); // as another program would
    /// assert_eq!(fs.read(Path::new("/f")).unwrap().len(), 8);
    /// ```
    pub fn write(&self, path: &Path, bytes: Vec<u8>) {
        let mut s = self.state.lock();
        let id = match s.names.get(path) {
            Some(&id) => id,
            None => {
                s.next_id += 1;
                let id = s.next_id;
                s.files.insert(id, Arc::default());
                s.names.insert(path.to_owned(), id);
                s.durable_names.insert(path.to_owned(), id);
                id
            }
        };
        let mut f = s.files[&id].lock();
        f.durable = bytes.clone();
        f.data = bytes;
        f.dirty.clear();
    }

    /// The file system a restarted process would find: durable names, each
    /// file's durable data plus its unsynced data torn by `tear` (`seed`
    /// drives the random choices).
    ///
    /// ```
    /// use goldylox::cold::Tear;
    /// use std::sync::Arc;
    /// use goldylox::cold::{ColdConfig, ColdStore, FaultFs, FaultOp};
    /// let fs = FaultFs::new();
    /// let mut config = ColdConfig::new("/db", 1 << 30);
    /// config.fs = Arc::new(fs.clone());
    /// let store = ColdStore::open(config.clone())?;
    /// store.put(b"durable", b"v", None)?;
    /// store.sync()?;
    /// let image = fs.crash_image(Tear::Garbage, 7);
    /// drop(store);
    /// config.fs = Arc::new(image);
    /// let store = ColdStore::open(config)?; // recovers
    /// assert_eq!(store.get(b"durable")?.unwrap().value, b"v");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn crash_image(&self, tear: Tear, seed: u64) -> FaultFs {
        let s = self.state.lock();
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut image = State {
            dirs: s.dirs.clone(),
            ..State::default()
        };
        for (path, id) in &s.durable_names {
            let f = s.files[id].lock();
            let data = torn(&f, tear, &mut next);
            image.next_id += 1;
            let new_id = image.next_id;
            image.files.insert(
                new_id,
                Arc::new(Mutex::new(FileData {
                    durable: data.clone(),
                    data,
                    dirty: Vec::new(),
                })),
            );
            image.names.insert(path.clone(), new_id);
            image.durable_names.insert(path.clone(), new_id);
        }
        FaultFs {
            state: Arc::new(Mutex::new(image)),
        }
    }

    /// Counts a mutating operation; fails if the process has crashed or an
    /// error is injected for `op`.
    fn mutate(&self, s: &mut State, op: FaultOp) -> io::Result<()> {
        Self::check(s, op)?;
        s.mutations += 1;
        if s.crash_after.is_some_and(|at| s.mutations >= at) {
            s.crashed = true;
        }
        Ok(())
    }

    fn check(s: &mut State, op: FaultOp) -> io::Result<()> {
        if s.crashed {
            return Err(crashed());
        }
        if let Some(n) = s.failures.get_mut(&op)
            && *n > 0
        {
            *n -= 1;
            return Err(io::Error::other(format!("injected {op:?} error")));
        }
        Ok(())
    }
}

fn torn(f: &FileData, tear: Tear, next: &mut impl FnMut() -> u64) -> Vec<u8> {
    if f.dirty.is_empty() || tear == Tear::DropUnsynced {
        return f.durable.clone();
    }
    let lo = f.dirty.iter().map(|r| r.0).min().unwrap_or(0);
    let mut out = f.data.clone();
    match tear {
        Tear::DropUnsynced => unreachable!("handled above"),
        Tear::Truncate => {
            let hi = out.len().max(lo + 1);
            let cut = lo + (next() as usize) % (hi - lo);
            out.truncate(cut.min(out.len()));
        }
        Tear::ZeroFill | Tear::Garbage => {
            for &(start, end) in &f.dirty {
                for (i, b) in out[start..end.min(f.data.len())].iter_mut().enumerate() {
                    *b = if tear == Tear::ZeroFill {
                        0
                    } else {
                        (next() >> (i % 8)) as u8
                    };
                }
            }
        }
        Tear::Reorder => {
            const BLOCK: usize = 4096;
            for &(start, end) in &f.dirty {
                let mut b = start / BLOCK * BLOCK;
                while b < end.min(out.len()) {
                    if next() & 1 == 0 {
                        let e = (b + BLOCK).min(out.len());
                        for (i, byte) in out[b..e].iter_mut().enumerate() {
                            *byte = f.durable.get(b + i).copied().unwrap_or(0);
                        }
                    }
                    b += BLOCK;
                }
            }
        }
    }
    out
}

impl ColdFs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        Self::check(&mut s, FaultOp::Create)?;
        if !s.dirs.iter().any(|d| d == dir) {
            s.dirs.push(dir.to_owned());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let s = self.state.lock();
        if !s.dirs.iter().any(|d| d == dir) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn ColdFile>> {
        let mut s = self.state.lock();
        if s.names.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        self.mutate(&mut s, FaultOp::Create)?;
        s.next_id += 1;
        let id = s.next_id;
        let data: Arc<Mutex<FileData>> = Arc::default();
        s.files.insert(id, Arc::clone(&data));
        s.names.insert(path.to_owned(), id);
        Ok(Arc::new(FaultFile {
            fs: self.clone(),
            data,
        }))
    }

    fn open(&self, path: &Path, _write: bool) -> io::Result<Arc<dyn ColdFile>> {
        let mut s = self.state.lock();
        Self::check(&mut s, FaultOp::Open)?;
        let id = *s
            .names
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        Ok(Arc::new(FaultFile {
            fs: self.clone(),
            data: Arc::clone(&s.files[&id]),
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        if !s.names.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        }
        self.mutate(&mut s, FaultOp::Remove)?;
        s.names.remove(path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let id = *s
            .names
            .get(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        self.mutate(&mut s, FaultOp::Rename)?;
        s.names.remove(from);
        s.names.insert(to.to_owned(), id);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        self.mutate(&mut s, FaultOp::SyncDir)?;
        let s = &mut *s;
        s.durable_names.retain(|p, _| p.parent() != Some(dir));
        for (p, id) in &s.names {
            if p.parent() == Some(dir) {
                s.durable_names.insert(p.clone(), *id);
            }
        }
        Ok(())
    }
}
