//! Text trace formats: one request (or, for ARC, a range) per line.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Format, Trace};

fn hash_text(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// LIRS, plain, ARC and AdaptSize lines.
pub(super) fn lines(reader: impl BufRead, format: Format, path: &Path) -> Result<Trace> {
    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('*') || line.starts_with('#') {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        match format {
            Format::Arc => {
                let mut f = line.split_whitespace();
                let parsed = (
                    f.next().map(str::parse::<u64>),
                    f.next().map(str::parse::<u64>),
                );
                let (Some(Ok(start)), Some(Ok(count))) = parsed else {
                    bail!("{}: expected `start nblocks ...`", at());
                };
                keys.extend(start..start.saturating_add(count));
            }
            Format::AdaptSize => {
                let mut f = line.split_whitespace().skip(1);
                let (Some(id), Some(size)) = (f.next(), f.next()) else {
                    bail!("{}: expected `time id size`", at());
                };
                let size: u32 = size
                    .parse()
                    .with_context(|| format!("{}: size {size:?} is not an integer", at()))?;
                // An object is (id, size), as AdaptSize and Caffeine key it.
                keys.push(hash_text(id) ^ u64::from(size).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                sizes.push(size);
            }
            Format::Lirs => match line.parse::<u64>() {
                Ok(k) => keys.push(k),
                Err(_) => bail!("{}: not an integer key: {line:?}", at()),
            },
            _ => keys.push(line.parse::<u64>().unwrap_or_else(|_| hash_text(line))),
        }
    }
    Ok(Trace {
        keys,
        sizes: (format == Format::AdaptSize).then_some(sizes),
        ops: None,
    })
}

/// libCacheSim CSV: a header naming the key column (`lbn`, `obj_id`, `id`
/// or `key`) and, optionally, a `size` column.
pub(super) fn csv(reader: impl BufRead) -> Result<Trace> {
    let mut lines = reader.lines();
    let header = lines.next().context("empty CSV")??;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let key_col = columns
        .iter()
        .position(|c| matches!(*c, "lbn" | "obj_id" | "id" | "key"))
        .context("CSV header names no key column (lbn, obj_id, id or key)")?;
    let size_col = columns
        .iter()
        .position(|c| matches!(*c, "size" | "obj_size"));
    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line?;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = fields.get(key_col).copied().unwrap_or("");
        if field.is_empty() {
            continue;
        }
        keys.push(field.parse::<u64>().unwrap_or_else(|_| hash_text(field)));
        if let Some(c) = size_col {
            let size = fields.get(c).copied().unwrap_or("");
            sizes.push(
                size.parse::<u32>()
                    .with_context(|| format!("line {}: size {size:?} is not an integer", n + 2))?,
            );
        }
    }
    Ok(Trace {
        keys,
        sizes: size_col.map(|_| sizes),
        ops: None,
    })
}
