//! Cache trace readers: each returns the request sequence as `u64` keys,
//! with object sizes in bytes when the format has them.
//!
//! | format | layout | sizes |
//! |---|---|---|
//! | `lirs` | text, one integer key per line; `*` and blank lines skipped | no |
//! | `plain` (`txt`) | text, one key per line (libCacheSim's txt); non-integer keys are hashed | no |
//! | `arc` | text `start nblocks ignore reqno`: one request per block `start..start+nblocks` | no |
//! | `adaptsize` | text `time id size` (webcachesim/AdaptSize); the key is (id, size) | yes |
//! | `oracle` | libCacheSim oracleGeneral: 24-byte little-endian records `<u32 time, u64 id, u32 size, i64 next>` | yes |
//! | `lcs-csv` | libCacheSim CSV with a header naming an `lbn`/`obj_id` column (and a `size` column) | yes, when there is a size column |
//! | `capture` | libCacheSim oracleSysTwrNS, what `GOLDYLOX TRACE` writes: 34-byte records with an op (get, set, delete) and a TTL ([`goldylox::capture::file`]) | yes |
//! | `vscsi` | libCacheSim vscsi v1: 32-byte little-endian records `<u32 sn, u32 len, u32 nsg, u16 cmd, u16 ver, u64 lbn, u64 ts>`; key `lbn`, size `len` | yes |
//! | `i32be`, `i64be`, `u32be` | binary big-endian integers, one key each (Caffeine's cache2k traces are `i32be`) | no |
//!
//! Files ending in `.gz`, `.zst` or `.xz` are decompressed on the fly.

mod binary;
mod text;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

/// A trace file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One integer per line (LIRS traces).
    Lirs,
    /// One key per line, any text.
    Plain,
    /// ARC traces: block ranges.
    Arc,
    /// AdaptSize / webcachesim: `time id size` per line.
    AdaptSize,
    /// libCacheSim's binary oracleGeneral.
    Oracle,
    /// libCacheSim's binary oracleSysTwrNS: a goldylox capture.
    Capture,
    /// libCacheSim's CSV.
    LcsCsv,
    /// libCacheSim's binary vscsi (version 1 records).
    Vscsi,
    /// Big-endian 32-bit signed keys (cache2k).
    I32Be,
    /// Big-endian 64-bit signed keys.
    I64Be,
    /// Big-endian 32-bit unsigned keys.
    U32Be,
}

/// Every format name `--format` takes.
pub const FORMAT_NAMES: &str =
    "lirs, plain (txt), arc, adaptsize, oracle, capture, lcs-csv, vscsi, i32be, i64be, u32be";

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "lirs" => Format::Lirs,
            "plain" | "txt" | "lcs-txt" => Format::Plain,
            "arc" => Format::Arc,
            "adaptsize" | "adapt_size" | "webcachesim" => Format::AdaptSize,
            "oracle" | "oraclegeneral" => Format::Oracle,
            "capture" | "oraclesystwrns" | "twrns" => Format::Capture,
            "lcs-csv" | "csv" => Format::LcsCsv,
            "vscsi" => Format::Vscsi,
            "i32be" | "cache2k" => Format::I32Be,
            "i64be" => Format::I64Be,
            "u32be" => Format::U32Be,
            other => bail!("unknown trace format {other:?} ({FORMAT_NAMES})"),
        })
    }
}

impl Format {
    /// Guesses the format from the file name (and, for Caffeine's traces,
    /// the directory they come in).
    pub fn guess(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        let base = name
            .trim_end_matches(".gz")
            .trim_end_matches(".zst")
            .trim_end_matches(".xz");
        let dir = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|d| d.to_str())
            .unwrap_or("");
        let ext = base.rsplit_once('.').map_or("", |(_, e)| e);
        Some(match ext {
            "lis" => Format::Arc,
            "vscsi" => Format::Vscsi,
            "csv" => Format::LcsCsv,
            "txt" => Format::Plain,
            "i32be" => Format::I32Be,
            "i64be" => Format::I64Be,
            "u32be" => Format::U32Be,
            _ if base.contains("oracleGeneral") => Format::Oracle,
            _ if base.contains("oracleSysTwrNS") => Format::Capture,
            _ if dir == "cache2k" => Format::I32Be,
            _ if dir == "adapt_size" || dir == "adaptsize" => Format::AdaptSize,
            "trace" => Format::Lirs,
            _ => return None,
        })
    }

    /// Whether records of this format carry object sizes.
    pub fn has_sizes(self) -> bool {
        matches!(
            self,
            Format::AdaptSize | Format::Oracle | Format::Capture | Format::LcsCsv | Format::Vscsi
        )
    }
}

/// What a record of a trace with operations does (a capture's records;
/// every record of the other formats is a [`TraceOp::Get`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceOp {
    /// A read: a hit, or a miss that brings the object in (cache-aside).
    Get,
    /// A write: the object is stored (or replaced) with its size; not a
    /// request that hits or misses.
    Set,
    /// A delete or an expiry: the object leaves the cache.
    Delete,
}

/// A request sequence: keys, and object sizes in bytes when the trace has
/// them (`sizes[i]` is the size of request `i`), and what each record does
/// when the trace has operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The key of each request.
    pub keys: Vec<u64>,
    /// The object size of each request, in bytes, if the trace has sizes.
    pub sizes: Option<Vec<u32>>,
    /// Each record's operation; `None`: every record is a get.
    pub ops: Option<Vec<TraceOp>>,
}

impl Trace {
    /// A trace of keys without sizes.
    pub fn unsized_keys(keys: Vec<u64>) -> Trace {
        Trace {
            keys,
            sizes: None,
            ops: None,
        }
    }

    /// The number of records (requests, and a capture's writes and
    /// deletes).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether record `i` is a get (a request that hits or misses).
    pub fn is_read(&self, i: usize) -> bool {
        self.ops.as_ref().is_none_or(|ops| ops[i] == TraceOp::Get)
    }

    /// The number of gets: the denominator of a hit ratio.
    pub fn reads(&self) -> usize {
        self.ops.as_ref().map_or(self.keys.len(), |ops| {
            ops.iter().filter(|&&op| op == TraceOp::Get).count()
        })
    }

    /// Whether there are no requests.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The size of request `i` (1 when the trace has no sizes).
    pub fn size(&self, i: usize) -> u32 {
        self.sizes.as_ref().map_or(1, |s| s[i])
    }

    /// Keeps only the first `n` requests.
    pub fn truncate(&mut self, n: usize) {
        self.keys.truncate(n);
        if let Some(sizes) = &mut self.sizes {
            sizes.truncate(n);
        }
        if let Some(ops) = &mut self.ops {
            ops.truncate(n);
        }
    }

    /// Bytes the gets requested in all (the number of gets without sizes).
    pub fn total_bytes(&self) -> u64 {
        self.sizes.as_ref().map_or(self.reads() as u64, |s| {
            (s.iter().enumerate())
                .filter(|&(i, _)| self.is_read(i))
                .map(|(_, &b)| u64::from(b))
                .sum()
        })
    }
}

/// Reads the trace at `path` in `format` (guessed from the name when
/// `None`), keeping its first `requests` if given; an empty result is an
/// error.
pub fn load(path: &Path, format: Option<&str>, requests: Option<usize>) -> Result<Trace> {
    let format = match format {
        Some(name) => name.parse::<Format>()?,
        None => Format::guess(path).with_context(|| {
            format!(
                "cannot guess the format of {}; pass --format ({FORMAT_NAMES})",
                path.display()
            )
        })?,
    };
    let mut trace = read_trace(path, format)?;
    if let Some(n) = requests {
        trace.truncate(n);
    }
    if trace.is_empty() {
        bail!("{}: the trace holds no requests", path.display());
    }
    Ok(trace)
}

/// Reads a whole trace's keys (sizes, if any, are dropped; see [`read_trace`]).
pub fn read(path: &Path, format: Format) -> Result<Vec<u64>> {
    Ok(read_trace(path, format)?.keys)
}

/// Reads a whole trace, with object sizes when the format has them.
pub fn read_trace(path: &Path, format: Format) -> Result<Trace> {
    let ctx = || format!("reading {} as {format:?}", path.display());
    let reader = open(path)?;
    let trace = match format {
        Format::Oracle => binary::oracle(reader),
        Format::Capture => binary::capture(reader),
        Format::Vscsi => binary::vscsi(reader),
        Format::I32Be => binary::big_endian::<4>(reader, |b| i32::from_be_bytes(b) as i64 as u64),
        Format::I64Be => binary::big_endian::<8>(reader, |b| i64::from_be_bytes(b) as u64),
        Format::U32Be => binary::big_endian::<4>(reader, |b| u64::from(u32::from_be_bytes(b))),
        Format::LcsCsv => text::csv(BufReader::new(reader)),
        Format::Lirs | Format::Plain | Format::Arc | Format::AdaptSize => {
            text::lines(BufReader::new(reader), format, path)
        }
    };
    trace.with_context(ctx)
}

fn open(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).with_context(|| format!("cannot open trace {}", path.display()))?;
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if name.ends_with(".zst") {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(file)
                .map_err(|e| anyhow::anyhow!("{}: not a zstd stream: {e}", path.display()))?,
        )
    } else if name.ends_with(".xz") {
        // lzma-rs decodes whole streams; traces fit in memory anyway.
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut BufReader::new(file), &mut out)
            .map_err(|e| anyhow::anyhow!("{}: not an xz stream: {e}", path.display()))?;
        Box::new(std::io::Cursor::new(out))
    } else {
        Box::new(file)
    })
}
