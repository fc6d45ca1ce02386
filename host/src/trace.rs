//! Cache trace readers. Each returns the request sequence as `u64` keys.
//!
//! | format | layout |
//! |---|---|
//! | `lirs` | text, one integer key per line; `*` and blank lines skipped |
//! | `plain` | text, one key per line; non-integer keys are hashed |
//! | `arc` | text `start nblocks ignore reqno`: one request per block `start..start+nblocks` |
//! | `oracle` | libCacheSim oracleGeneral: 24-byte little-endian records `<u32 time, u64 id, u32 size, i64 next>` |
//! | `lcs-csv` | libCacheSim CSV with a header naming an `lbn` or `obj_id` column |
//!
//! Files ending in `.gz` or `.zst` are decompressed on the fly.

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
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
    /// libCacheSim's binary oracleGeneral.
    Oracle,
    /// libCacheSim's CSV.
    LcsCsv,
}

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "lirs" => Format::Lirs,
            "plain" | "txt" => Format::Plain,
            "arc" => Format::Arc,
            "oracle" | "oracleGeneral" => Format::Oracle,
            "lcs-csv" | "csv" => Format::LcsCsv,
            other => bail!("unknown trace format {other:?} (lirs, plain, arc, oracle, lcs-csv)"),
        })
    }
}

impl Format {
    /// Guesses the format from the file name.
    pub fn guess(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        let base = name.trim_end_matches(".gz").trim_end_matches(".zst");
        Some(if base.ends_with(".lis") {
            Format::Arc
        } else if base.ends_with(".trace") {
            Format::Lirs
        } else if base.contains("oracleGeneral") {
            Format::Oracle
        } else if base.ends_with(".csv") {
            Format::LcsCsv
        } else if base.ends_with(".txt") {
            Format::Plain
        } else {
            return None;
        })
    }
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
        bail!(
            "{}: xz traces are not supported; decompress it first (xz -d)",
            path.display()
        )
    } else {
        Box::new(file)
    })
}

fn hash_text(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Reads a whole trace.
pub fn read(path: &Path, format: Format) -> Result<Vec<u64>> {
    let ctx = || format!("reading {} as {format:?}", path.display());
    let reader = open(path)?;
    match format {
        Format::Oracle => read_oracle(reader).with_context(ctx),
        Format::LcsCsv => read_csv(BufReader::new(reader)).with_context(ctx),
        Format::Lirs | Format::Plain | Format::Arc => {
            let mut keys = Vec::new();
            for (n, line) in BufReader::new(reader).lines().enumerate() {
                let line = line.with_context(ctx)?;
                let line = line.trim();
                if line.is_empty() || line.starts_with('*') || line.starts_with('#') {
                    continue;
                }
                match format {
                    Format::Arc => {
                        let mut f = line.split_whitespace();
                        let parsed = (
                            f.next().map(str::parse::<u64>),
                            f.next().map(str::parse::<u64>),
                        );
                        let (Some(Ok(start)), Some(Ok(count))) = parsed else {
                            bail!("{}:{}: expected `start nblocks ...`", path.display(), n + 1);
                        };
                        keys.extend(start..start.saturating_add(count));
                    }
                    Format::Lirs => match line.parse::<u64>() {
                        Ok(k) => keys.push(k),
                        Err(_) => {
                            bail!("{}:{}: not an integer key: {line:?}", path.display(), n + 1)
                        }
                    },
                    _ => keys.push(line.parse::<u64>().unwrap_or_else(|_| hash_text(line))),
                }
            }
            Ok(keys)
        }
    }
}

fn read_oracle(mut reader: impl Read) -> Result<Vec<u64>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    if bytes.len() % 24 != 0 {
        bail!(
            "{} bytes is not a whole number of 24-byte records",
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(24)
        .map(|r| u64::from_le_bytes(r[4..12].try_into().expect("8 bytes")))
        .collect())
}

fn read_csv(reader: impl BufRead) -> Result<Vec<u64>> {
    let mut lines = reader.lines();
    let header = lines.next().context("empty CSV")??;
    let column = header
        .split(',')
        .position(|c| matches!(c.trim(), "lbn" | "obj_id" | "id" | "key"))
        .context("CSV header names no key column (lbn, obj_id, id or key)")?;
    let mut keys = Vec::new();
    for line in lines {
        let line = line?;
        let field = line.split(',').nth(column).map(str::trim).unwrap_or("");
        if field.is_empty() {
            continue;
        }
        keys.push(field.parse::<u64>().unwrap_or_else(|_| hash_text(field)));
    }
    Ok(keys)
}
