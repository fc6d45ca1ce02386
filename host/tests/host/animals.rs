//! Eviction-policy components written in WAT from a template: the adversarial
//! zoo's animals (and the sandbox benchmark's looping one). One template, so
//! the canonical-ABI plumbing is written once.

/// The bodies that make a zoo animal: core-wasm instructions for each export
/// of the eviction world, plus extra module fields.
#[derive(Clone)]
pub(crate) struct Animal {
    /// `init`: (capacity i64, params ptr i32, params len i32) -> result ptr.
    pub(crate) init: &'static str,
    /// `apply`: six i32 (three lists).
    pub(crate) apply: &'static str,
    /// `evict`: (max i32, need i64) -> ptr to (list ptr, list len).
    pub(crate) evict: &'static str,
    /// `admit`: (candidate i64, victim i64) -> i32.
    pub(crate) admit: &'static str,
    /// More module fields (functions, data, a start function).
    pub(crate) extra: &'static str,
}

/// A well-behaved animal: accepts init, ignores events, proposes nothing,
/// admits everything.
pub(crate) const TAME: Animal = Animal {
    init: "i32.const 64 i32.const 0 i32.store8 i32.const 64",
    apply: "",
    evict: "i32.const 16 i32.const 0 i32.store i32.const 20 i32.const 0 i32.store i32.const 16",
    admit: "i32.const 1",
    extra: "",
};

/// Component text for `animal`, exporting the eviction-policy world.
pub(crate) fn wat(a: &Animal) -> String {
    format!(
        r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "init") (param i64 i32 i32) (result i32) {init})
    (func (export "apply") (param i32 i32 i32 i32 i32 i32)
      {apply}
      (global.set $bump (i32.const 4096)))
    (func (export "evict") (param i32 i64) (result i32) {evict})
    (func (export "admit") (param i64 i64) (result i32) {admit})
    {extra}
  )
  (core instance $i (instantiate $m))
  (func (export "init")
    (param "capacity" u64) (param "params" (list (tuple string string)))
    (result (result (error string)))
    (canon lift (core func $i "init") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))
  (func (export "apply")
    (param "kinds" (list u8)) (param "hashes" (list u64)) (param "weights" (list u32))
    (canon lift (core func $i "apply") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))
  (func (export "evict") (param "max" u32) (param "need" u64) (result (list u64))
    (canon lift (core func $i "evict") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))
  (func (export "admit") (param "candidate" u64) (param "victim" u64) (result bool)
    (canon lift (core func $i "admit")))
)"#,
        init = a.init,
        apply = a.apply,
        evict = a.evict,
        admit = a.admit,
        extra = a.extra,
    )
}
