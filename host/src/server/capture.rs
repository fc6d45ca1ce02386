//! `GOLDYLOX TRACE START|STOP|STATUS` and the `[capture]` section: the
//! server's side of the engine's live workload capture
//! ([`goldylox::capture`]). `replay --trace FILE` reads what it writes.

use std::path::PathBuf;

use serde::Deserialize;

use super::units;
use goldylox::{CaptureConfig, CaptureStatus, CaptureSummary, DEFAULT_CAPTURE_BYTES};

/// `[capture]`: a capture that starts with the server (and with each reload
/// that adds the section while none runs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// The file to write (libCacheSim's oracleSysTwrNS layout).
    pub file: PathBuf,
    /// The share of keys sampled, in (0, 1].
    #[serde(default = "full_rate")]
    pub rate: f64,
    /// The bound on the file, with units (`64MiB`).
    #[serde(default = "default_bytes", deserialize_with = "units::size")]
    pub max_bytes: u64,
}

fn full_rate() -> f64 {
    1.0
}

fn default_bytes() -> u64 {
    DEFAULT_CAPTURE_BYTES
}

impl CaptureSection {
    /// The engine's settings.
    pub fn engine(&self) -> CaptureConfig {
        CaptureConfig::new(&self.file)
            .rate(self.rate)
            .max_bytes(self.max_bytes)
    }
}

/// INFO's (and Prometheus's) capture figures, in the stats section: whether
/// one runs, and its records so far.
pub(super) fn figures(
    store: &super::commands::Store,
    add: &mut impl FnMut(&'static str, &str, super::figure::Value),
) {
    use super::figure::Value::Int;
    let status = store.capture_status();
    add("stats", "capture_active", Int(u64::from(status.is_some())));
    let s = status.as_ref();
    add("stats", "capture_records", Int(s.map_or(0, |s| s.records)));
    add("stats", "capture_dropped", Int(s.map_or(0, |s| s.dropped)));
    add(
        "stats",
        "capture_truncated",
        Int(s.map_or(0, |s| s.truncated)),
    );
}

/// Starts the `[capture]` section's capture, if the configuration has one.
pub(super) fn start_configured(
    section: Option<&CaptureSection>,
    store: &super::commands::Store,
) -> anyhow::Result<()> {
    if let Some(section) = section {
        anyhow::Context::context(
            store.start_capture(section.engine()),
            "cannot start the [capture] section's capture",
        )?;
    }
    Ok(())
}

/// Shuts a stopping server's cache down (persisting its memory tiers if
/// `persist`), first finishing a running capture rather than leave a part
/// file.
pub(super) fn stop_store(store: &super::commands::Store, persist: bool) {
    if store.capture_status().is_some() {
        match store.stop_capture() {
            Ok(s) => log::info!("{}", stopped(&s).join("; ")),
            Err(e) => log::warn!("{e}"),
        }
    }
    store.shutdown_with(persist);
}

/// The usage line every refusal ends with.
const USAGE: &str =
    "GOLDYLOX TRACE START [RATE r] [MAXBYTES n] [FILE path] | TRACE STOP | TRACE STATUS";

/// `GOLDYLOX TRACE START`'s options (`words`: what follows `START`), with
/// the file named after the time when `FILE` is not given.
pub fn parse_start(words: &[String]) -> Result<CaptureConfig, String> {
    let mut file = None;
    let mut rate = 1.0;
    let mut max_bytes = DEFAULT_CAPTURE_BYTES;
    let mut it = words.iter();
    while let Some(word) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("ERR {word} needs a value ({USAGE})"))?;
        match word.to_ascii_lowercase().as_str() {
            "rate" => {
                rate = value
                    .parse()
                    .map_err(|_| format!("ERR RATE {value:?} is not a number"))?;
            }
            "maxbytes" => {
                max_bytes =
                    units::parse_size(value).map_err(|e| format!("ERR MAXBYTES {value:?}: {e}"))?;
            }
            "file" => file = Some(PathBuf::from(value)),
            other => {
                return Err(format!(
                    "ERR unknown TRACE START option '{other}' ({USAGE})"
                ));
            }
        }
    }
    let file = file.unwrap_or_else(default_file);
    Ok(CaptureConfig::new(file).rate(rate).max_bytes(max_bytes))
}

/// `goldylox-capture-<unix seconds>.oracleSysTwrNS.bin` in the working
/// directory: a name `replay` recognises.
fn default_file() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!("goldylox-capture-{secs}.oracleSysTwrNS.bin"))
}

/// `TRACE START`'s answer.
pub fn started(config: &CaptureConfig) -> Vec<String> {
    vec![format!(
        "capturing to {} at rate {} (at most {} bytes); GOLDYLOX TRACE STOP finishes the file",
        config.path().display(),
        config.sample_rate(),
        config.max_bytes_bound()
    )]
}

/// `TRACE STATUS`'s answer.
pub fn status_lines(status: Option<CaptureStatus>) -> Vec<String> {
    match status {
        None => vec!["capture: off".to_owned()],
        Some(s) => vec![format!(
            "capture: on file={} rate={} max_bytes={} records={} dropped={} truncated={} seconds={:.1}",
            s.path.display(),
            s.rate,
            s.max_bytes,
            s.records,
            s.dropped,
            s.truncated,
            s.elapsed.as_secs_f64()
        )],
    }
}

/// `TRACE STOP`'s answer: the figures, and how to replay the file.
pub fn stopped(s: &CaptureSummary) -> Vec<String> {
    vec![
        format!(
            "capture: finished file={} rate={} records={} objects={} dropped={} truncated={} sizes_from_neighbours={} sizes_guessed={} seconds={:.1}",
            s.path.display(),
            s.rate,
            s.records,
            s.objects,
            s.dropped,
            s.truncated,
            s.sizes_from_neighbours,
            s.sizes_guessed,
            s.elapsed.as_secs_f64()
        ),
        format!(
            "replay it: goldylox replay --trace {} --sizes <bytes × {}>",
            s.path.display(),
            s.rate
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn start_options_parse_and_bad_ones_are_named() {
        let c = parse_start(&words("RATE 0.01 maxbytes 1MiB FILE /tmp/x.bin")).unwrap();
        assert_eq!(c.sample_rate(), 0.01);
        assert_eq!(c.max_bytes_bound(), 1 << 20);
        assert_eq!(c.path(), std::path::Path::new("/tmp/x.bin"));
        let c = parse_start(&[]).unwrap();
        assert!(c.path().to_string_lossy().ends_with(".oracleSysTwrNS.bin"));
        assert!(
            parse_start(&words("RATE"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse_start(&words("RATE x"))
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_start(&words("MAXBYTES lots"))
                .unwrap_err()
                .contains("MAXBYTES")
        );
        assert!(
            parse_start(&words("SPEED 3"))
                .unwrap_err()
                .contains("unknown")
        );
    }
}
