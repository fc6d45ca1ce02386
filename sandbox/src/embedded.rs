//! The policy components built into this crate by its `build.rs`.

/// A component embedded in the binary.
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
pub fn embedded(name: &str) -> Option<&'static Embedded> {
    EMBEDDED.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}
