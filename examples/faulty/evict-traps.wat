;; A faulty eviction policy, for drills: it loads, takes its parameters and
;; every event, admits everything, and traps (`unreachable`) the first time
;; the cache asks it for victims. The cache then drops the instance, counts
;; the failure and evicts with its built-in fallback: no request fails.
;; scripts/swap_storm.sh swaps it in and out of a loaded server 1000 times.
;;
;;   goldylox policy check examples/faulty/evict-traps.wat
;;   redis-cli GOLDYLOX POLICY SWAP hot examples/faulty/evict-traps.wat
(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    ;; init: Ok(()) (the result's discriminant 0 at address 64).
    (func (export "init") (param i64 i32 i32) (result i32)
      i32.const 64 i32.const 0 i32.store8 i32.const 64)
    (func (export "apply") (param i32 i32 i32 i32 i32 i32)
      (global.set $bump (i32.const 4096)))
    (func (export "evict") (param i32 i64) (result i32) unreachable)
    (func (export "admit") (param i64 i64) (result i32) i32.const 1)
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
)
