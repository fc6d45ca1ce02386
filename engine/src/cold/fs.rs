//! The small file-system interface every cold-tier I/O goes through, so that
//! tests can inject errors, torn writes and crashes (`FaultFs`, with the
//! `fault-injection` feature) where the real thing ([`StdFs`]) would need a
//! broken disk.
//!

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file system: the handful of calls the cold tier makes.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::cold::{ColdConfig, ColdFs, StdFs};
/// let fs: Arc<dyn ColdFs> = Arc::new(StdFs);
/// let mut config = ColdConfig::new("/var/cache/app", 1 << 30);
/// config.fs = fs; // the default; FaultFs for tests
/// ```
pub trait ColdFs: Send + Sync + 'static {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The paths of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Creates `path`, empty; fails if it exists.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn ColdFile>>;
    /// Opens an existing file, for writing too if `write`.
    fn open(&self, path: &Path, write: bool) -> io::Result<Arc<dyn ColdFile>>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file.
///
/// ```
/// use std::path::Path;
/// use goldylox::cold::{ColdFs, FaultFs};
/// let fs = FaultFs::new();
/// fs.create_dir_all(Path::new("/d")).unwrap();
/// let file = fs.create(Path::new("/d/f")).unwrap();
/// file.write_all_at(b"hello", 0).unwrap();
/// assert_eq!(file.size().unwrap(), 5);
/// ```
pub trait ColdFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`; a short file is an
    /// `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// The file's current length.
    fn size(&self) -> io::Result<u64>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// A read-only view of the first `len` bytes. The caller promises the
    /// file is never written again (a sealed segment) and checks `len`
    /// against [`ColdFile::size`] first.
    fn map(&self, len: u64) -> io::Result<Mapped>;
}

/// A read-only view of a sealed file: a memory map, or owned bytes.
///
/// ```
/// let m = goldylox::cold::Mapped::from_bytes(b"sealed".to_vec());
/// assert_eq!(m.bytes(), b"sealed");
/// ```
pub struct Mapped(pub(crate) MappedInner);

pub(crate) enum MappedInner {
    Map(memmap2::Mmap),
    Bytes(Box<[u8]>),
    Empty,
}

impl Mapped {
    /// A view of bytes held in memory (for file systems that are not files).
    ///
    /// ```
    /// let m = goldylox::cold::Mapped::from_bytes(vec![1, 2, 3]);
    /// assert_eq!(m.bytes().len(), 3);
    /// ```
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Mapped(MappedInner::Bytes(bytes.into_boxed_slice()))
    }

    /// The bytes.
    ///
    /// ```
    /// let m = goldylox::cold::Mapped::from_bytes(vec![7]);
    /// assert_eq!(m.bytes(), [7]);
    /// ```
    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            MappedInner::Map(m) => m,
            MappedInner::Bytes(b) => b,
            MappedInner::Empty => &[],
        }
    }
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapped({} bytes)", self.bytes().len())
    }
}

/// The operating system's file system.
///
/// ```
/// let config = goldylox::cold::ColdConfig::new("/var/cache/app", 1 << 30);
/// # let _ = config;
/// // `config.fs` is `StdFs` unless replaced.
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

struct StdFile(File);

impl ColdFs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn ColdFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(StdFile(f)))
    }

    fn open(&self, path: &Path, write: bool) -> io::Result<Arc<dyn ColdFile>> {
        let f = OpenOptions::new().read(true).write(write).open(path)?;
        Ok(Arc::new(StdFile(f)))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl ColdFile for StdFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn map(&self, len: u64) -> io::Result<Mapped> {
        if len == 0 {
            return Ok(Mapped(MappedInner::Empty));
        }
        super::mmap::map_sealed(&self.0, len).map(|m| Mapped(MappedInner::Map(m)))
    }
}
