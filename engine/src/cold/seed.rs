//! The cold directory's hash seed: the key hash is seeded (so nobody can
//! choose keys that collide), the seed must survive restarts (the index is
//! rebuilt from it and the memory tiers share its hash space), so it lives
//! in the directory, in a file written once before any segment.
//!
//! Nothing depends on the seed for correctness: the records keep whole
//! keys, and recovery rebuilds the index from them whenever the index
//! snapshot was made with another hash. So a seed file that cannot be read
//! or written costs a rescan at the next start, never data: it is reported
//! and replaced, not fatal.

use std::io;
use std::path::Path;

use super::fs::ColdFs;

/// The seed file's name.
const SEED_FILE: &str = "hash-seed";
/// Where it is written before being renamed into place.
const SEED_TMP: &str = "hash-seed.tmp";
/// The seed of directories written before the seed file existed.
pub(crate) const LEGACY_SEED: u64 = 0x636f_6c64_7469_6572;

/// Whether a directory entry named `name` is the seed file's.
pub(crate) fn is_seed_file(name: &str) -> bool {
    name == SEED_FILE || name == SEED_TMP
}

/// The seed of the cold directory `dir`: the one its seed file holds; for
/// a directory without one (or with an unreadable one), `fresh` if it holds
/// no segment yet (a new store), else [`LEGACY_SEED`] (the seed of every
/// store before seed files); either is written down if it can be.
pub(crate) fn load_or_create(fs: &dyn ColdFs, dir: &Path, fresh: u64) -> u64 {
    let path = dir.join(SEED_FILE);
    // A new store's directory does not exist yet; if it cannot be made,
    // opening the store reports why.
    let _ = fs.create_dir_all(dir);
    let entries = fs.list(dir).unwrap_or_default();
    if entries.iter().any(|p| p == &path) {
        match read(fs, &path) {
            Ok(seed) => return seed,
            Err(e) => log::warn!("{}: {e}; choosing a new seed", path.display()),
        }
    }
    let has_segments = entries
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "seg"));
    let seed = if has_segments { LEGACY_SEED } else { fresh };
    if let Err(e) = write(fs, dir, seed) {
        log::warn!(
            "{}: cannot write the hash seed ({e}); the next start rebuilds the index",
            path.display()
        );
    }
    seed
}

fn read(fs: &dyn ColdFs, path: &Path) -> io::Result<u64> {
    let file = fs.open(path, false)?;
    let mut text = vec![0u8; usize::try_from(file.size()?).unwrap_or(0).min(64)];
    file.read_exact_at(&mut text, 0)?;
    parse(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "does not hold a hash seed (16 hex digits)",
        )
    })
}

/// Writes the seed aside and renames it into place: a crash leaves no
/// half seed.
fn write(fs: &dyn ColdFs, dir: &Path, seed: u64) -> io::Result<()> {
    let temp = dir.join(SEED_TMP);
    let _ = fs.remove(&temp);
    let file = fs.create(&temp)?;
    file.write_all_at(format!("{seed:016x}\n").as_bytes(), 0)?;
    file.sync()?;
    fs.rename(&temp, &dir.join(SEED_FILE))?;
    fs.sync_dir(dir)
}

fn parse(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    (text.len() == 16).then(|| u64::from_str_radix(text, 16).ok())?
}

#[cfg(test)]
mod tests {
    use super::{LEGACY_SEED, load_or_create, parse};
    use crate::cold::StdFs;

    #[test]
    fn a_seed_is_chosen_once_and_kept() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("not-yet");
        let fs = StdFs;
        assert_eq!(load_or_create(&fs, &dir, 42), 42);
        assert_eq!(load_or_create(&fs, &dir, 7), 42, "kept");
        let old = tempfile::tempdir().unwrap();
        std::fs::write(old.path().join("0000000001.seg"), b"").unwrap();
        assert_eq!(load_or_create(&fs, old.path(), 7), LEGACY_SEED);
        assert_eq!(load_or_create(&fs, old.path(), 7), LEGACY_SEED, "written");
        // A damaged seed file is replaced (recovery rehashes what it must).
        std::fs::write(old.path().join("hash-seed"), b"not a seed").unwrap();
        assert_eq!(load_or_create(&fs, old.path(), 7), LEGACY_SEED);
        assert_eq!(
            parse(&std::fs::read(old.path().join("hash-seed")).unwrap()),
            Some(LEGACY_SEED)
        );
        let fresh = tempfile::tempdir().unwrap();
        std::fs::write(fresh.path().join("hash-seed"), b"not a seed").unwrap();
        assert_eq!(load_or_create(&fs, fresh.path(), 9), 9);
        assert_eq!(parse(b"00000000000000ff\n"), Some(255));
        assert_eq!(parse(b"ff"), None);
    }
}
