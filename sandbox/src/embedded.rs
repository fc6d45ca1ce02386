//! The policy components built into this crate by its `build.rs`.

/// A component embedded in the binary.
///
/// ```
/// for e in goldylox_sandbox::EMBEDDED {
///     println!("{} ({}): {} bytes", e.name, e.world, e.bytes.len());
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The policy's name (its directory under `policies/`).
    pub name: &'static str,
    /// The WIT world it exports.
    pub world: &'static str,
    /// The component's bytes.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The embedded component called `name` (case-insensitive).
///
/// ```
/// let arc = goldylox_sandbox::embedded("ARC").expect("case-insensitive");
/// assert_eq!(arc.world, "eviction-policy");
/// assert!(goldylox_sandbox::embedded("nope").is_none());
/// ```
pub fn embedded(name: &str) -> Option<&'static Embedded> {
    EMBEDDED.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}
