/*
 * goldylox_policy.h — write a goldylox policy in C over plain arrays.
 *
 * One header, no libc, no bindings generator. It carries the canonical-ABI
 * glue of the goldylox:policy@0.1.0 worlds (wit/policy.wit): the exports the
 * host calls, the argument allocator (`cabi_realloc`), the return areas.
 * A policy defines which world it is, includes this header once, and writes
 * only its algorithm:
 *
 *     #define GOLDYLOX_EVICTION_POLICY   // or _PREFETCH_ or _FAILOVER_
 *     #include "goldylox_policy.h"
 *
 *     const char *gx_init(uint64_t capacity, const gx_param *params, size_t n) { ... }
 *     void gx_apply(const uint8_t *kinds, const uint64_t *hashes,
 *                   const uint32_t *weights, size_t n) { ... }
 *     void gx_evict(uint32_t max, uint64_t need) { ... gx_propose(hash); ... }
 *     bool gx_admit(uint64_t candidate, uint64_t victim) { ... }
 *
 * and compiles it for wasm32 (what `goldylox policy build` runs):
 *
 *     clang --target=wasm32-unknown-unknown -O2 -nostdlib -ffreestanding \
 *           -mbulk-memory -Wl,--no-entry -Wl,--export-dynamic -o policy.wasm policy.c
 *
 * Rules the glue relies on:
 * - Arrays and parameters handed to a callback are valid only during that
 *   call; copy what you keep.
 * - A message returned by gx_init is an error (the host refuses the policy
 *   and shows it); it must outlive the call (a string literal does).
 * - Memory comes from gx_alloc: a bump arena, zeroed, never freed. Grow
 *   tables by doubling and what is left behind stays bounded by what is in
 *   use. Running out of the host's memory cap traps, which fails the policy.
 * - A trap (__builtin_trap, an out-of-bounds access) fails the policy; the
 *   host falls back to its native policy and rebuilds this one with backoff.
 */
#ifndef GOLDYLOX_POLICY_H
#define GOLDYLOX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(GOLDYLOX_EVICTION_POLICY) && !defined(GOLDYLOX_PREFETCH_POLICY) && \
    !defined(GOLDYLOX_FAILOVER_POLICY)
#error "define GOLDYLOX_EVICTION_POLICY, GOLDYLOX_PREFETCH_POLICY or GOLDYLOX_FAILOVER_POLICY before including goldylox_policy.h"
#endif

#define GX_EXPORT(name) __attribute__((export_name(name)))

/* ------------------------------------------------------------ the contract */

/* Event kinds of the eviction world's `apply` (unknown kinds are skipped). */
enum { GX_HIT = 0, GX_INSERT = 1, GX_UPDATE = 2, GX_REMOVE = 3 };

/* Tiers and health events of the failover world. */
enum { GX_TIER_HOT = 0, GX_TIER_WARM = 1, GX_TIER_COLD = 2 };
enum {
    GX_HEALTH_SUCCESS = 0,
    GX_HEALTH_ERROR = 1,
    GX_HEALTH_TIMEOUT = 2,
    GX_HEALTH_PROBE_OK = 3,
    GX_HEALTH_PROBE_FAILED = 4
};

/* A failover decision: what to do, and when to ask again. */
typedef enum { GX_KEEP = 0, GX_BYPASS = 1, GX_PROBE = 2, GX_RESTORE = 3 } gx_action;
typedef struct {
    gx_action action;
    uint32_t retry_after_ms;
} gx_decision;

/* One `key=value` parameter. Not NUL-terminated: use the lengths. Its
 * layout is the canonical ABI's for tuple<string, string> on wasm32. */
typedef struct {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} gx_param;

/* What the policy defines, by world. */
#if defined(GOLDYLOX_EVICTION_POLICY)
const char *gx_init(uint64_t capacity, const gx_param *params, size_t n);
void gx_apply(const uint8_t *kinds, const uint64_t *hashes, const uint32_t *weights, size_t n);
void gx_evict(uint32_t max, uint64_t need); /* calls gx_propose for each victim */
bool gx_admit(uint64_t candidate, uint64_t victim);
#elif defined(GOLDYLOX_PREFETCH_POLICY)
const char *gx_init(uint64_t capacity, const gx_param *params, size_t n);
void gx_observe(const uint64_t *hashes, const uint8_t *hits, size_t n);
void gx_propose_hashes(uint32_t max); /* calls gx_propose for each hash */
#else
const char *gx_init(const gx_param *params, size_t n);
void gx_observe(const uint8_t *tiers, const uint8_t *kinds, const uint64_t *at_ms, size_t n);
gx_decision gx_decide(uint8_t tier, uint64_t now_ms);
#endif

/* ------------------------------------------------------------------ memory */

#if defined(__wasm__)
#define GX_PAGE 65536u

extern unsigned char __heap_base;
static uintptr_t gx_heap_top;

/* `size` zeroed bytes aligned to `align` (a power of two); never freed. */
static inline void *gx_alloc(size_t size, size_t align) {
    if (gx_heap_top == 0) gx_heap_top = (uintptr_t)&__heap_base;
    uintptr_t p = (gx_heap_top + align - 1) & ~(uintptr_t)(align - 1);
    uintptr_t end = p + size;
    uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * GX_PAGE;
    if (end < p) __builtin_trap();
    if (end > have) {
        size_t pages = (end - have + GX_PAGE - 1) / GX_PAGE;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) __builtin_trap();
    }
    gx_heap_top = end;
    return (void *)p;
}
#else
/* Built natively (a unit test): the C library's allocator, never freed. */
#include <stdlib.h>
static inline void *gx_alloc(size_t size, size_t align) {
    (void)align;
    void *p = calloc(1, size ? size : 1);
    if (!p) __builtin_trap();
    return p;
}
#endif

/* A copy of `n` elements of `size` bytes into a new block of `cap`. */
static inline void *gx_grow(const void *old, size_t n, size_t cap, size_t size, size_t align) {
    void *grown = gx_alloc(cap * size, align);
    if (n) __builtin_memcpy(grown, old, n * size);
    return grown;
}

/* -------------------------------------------------------------- parameters */

/* Whether `p`'s key is `name`. */
static inline bool gx_param_is(const gx_param *p, const char *name) {
    size_t i = 0;
    for (; i < p->key_len; i++)
        if (name[i] != p->key[i]) return false;
    return name[i] == 0;
}

/* `p`'s value as a decimal unsigned integer; false if it is not one. */
static inline bool gx_param_u64(const gx_param *p, uint64_t *out) {
    uint64_t v = 0;
    if (p->value_len == 0) return false;
    for (size_t i = 0; i < p->value_len; i++) {
        char c = p->value[i];
        if (c < '0' || c > '9') return false;
        if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10) return false;
        v = v * 10 + (uint64_t)(c - '0');
    }
    *out = v;
    return true;
}

/* ------------------------------------------------------------------- index */

/* A map from 64-bit hashes to 32-bit values: open addressing with linear
 * probing and backward-shift deletion, doubled at half full. */
#define GX_NONE 0xFFFFFFFFu

typedef struct {
    uint64_t *keys;
    uint32_t *values; /* value + 1; 0 marks an empty slot */
    uint32_t mask, len;
} gx_index;

static inline uint32_t gx_index_home(const gx_index *m, uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(key >> 32) & m->mask;
}

/* An empty index with room for `capacity` (a power of two) slots. */
static inline void gx_index_init(gx_index *m, uint32_t capacity) {
    m->keys = gx_alloc((size_t)capacity * 8, 8);
    m->values = gx_alloc((size_t)capacity * 4, 4);
    m->mask = capacity - 1;
    m->len = 0;
}

/* The value of `key`, or GX_NONE. */
static inline uint32_t gx_index_get(const gx_index *m, uint64_t key) {
    for (uint32_t s = gx_index_home(m, key);; s = (s + 1) & m->mask) {
        if (m->values[s] == 0) return GX_NONE;
        if (m->keys[s] == key) return m->values[s] - 1;
    }
}

static inline void gx_index_place(gx_index *m, uint64_t key, uint32_t stored) {
    uint32_t s = gx_index_home(m, key);
    while (m->values[s] != 0) s = (s + 1) & m->mask;
    m->keys[s] = key;
    m->values[s] = stored;
}

/* Sets `key` to `value` (not GX_NONE). */
static inline void gx_index_put(gx_index *m, uint64_t key, uint32_t value) {
    for (uint32_t s = gx_index_home(m, key); m->values[s] != 0; s = (s + 1) & m->mask) {
        if (m->keys[s] == key) {
            m->values[s] = value + 1;
            return;
        }
    }
    if ((m->len + 1) * 2 > m->mask + 1) {
        gx_index old = *m;
        gx_index_init(m, (old.mask + 1) * 2);
        m->len = old.len;
        for (uint32_t s = 0; s <= old.mask; s++)
            if (old.values[s] != 0) gx_index_place(m, old.keys[s], old.values[s]);
    }
    gx_index_place(m, key, value + 1);
    m->len++;
}

/* Removes `key` if present. */
static inline void gx_index_remove(gx_index *m, uint64_t key) {
    uint32_t s = gx_index_home(m, key);
    for (;; s = (s + 1) & m->mask) {
        if (m->values[s] == 0) return;
        if (m->keys[s] == key) break;
    }
    m->values[s] = 0;
    for (uint32_t j = (s + 1) & m->mask; m->values[j] != 0; j = (j + 1) & m->mask) {
        uint32_t home = gx_index_home(m, m->keys[j]);
        /* Move the entry at j into the hole at s if s lies on its probe path. */
        if (((j - home) & m->mask) >= ((j - s) & m->mask)) {
            m->keys[s] = m->keys[j];
            m->values[s] = m->values[j];
            m->values[j] = 0;
            s = j;
        }
    }
    m->len--;
}

/* ============================================================== the glue ==
 * Everything below is the canonical ABI; a policy only calls gx_propose.
 * Built natively (a unit test that includes the policy's .c file), only the
 * proposal list exists: call gx_proposals_begin(max), then gx_evict (or
 * gx_propose_hashes), and read gx_proposals[0 .. gx_proposals_len). */

#if !defined(GOLDYLOX_FAILOVER_POLICY)
/* The list `gx_evict` / `gx_propose_hashes` fills through gx_propose. */
static uint64_t *gx_proposals;
static uint32_t gx_proposals_len, gx_proposals_cap, gx_proposals_max;

/* Proposes `hash` (a victim, or a key to prefetch). Returns false, keeping
 * nothing, once `max` hashes are proposed: stop then. */
static inline bool gx_propose(uint64_t hash) {
    if (gx_proposals_len >= gx_proposals_max) return false;
    if (gx_proposals_len == gx_proposals_cap) {
        uint32_t cap = gx_proposals_cap < 256 ? 256 : gx_proposals_cap * 2;
        gx_proposals = gx_grow(gx_proposals, gx_proposals_len, cap, 8, 8);
        gx_proposals_cap = cap;
    }
    gx_proposals[gx_proposals_len++] = hash;
    return true;
}

static inline void gx_proposals_begin(uint32_t max) {
    gx_proposals_len = 0;
    gx_proposals_max = max;
}
#endif


#if defined(__wasm__)
/* Argument memory: the host copies each call's lists here before the call;
 * the call resets it when done, so it never grows past one call's worth. */
static unsigned char *gx_scratch;
static size_t gx_scratch_cap, gx_scratch_used;

GX_EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    size_t p = (gx_scratch_used + align - 1) & ~(align - 1);
    if (gx_scratch == 0 || p + new_size > gx_scratch_cap) {
        size_t cap = gx_scratch_cap * 2;
        if (cap < 2 * new_size + 64) cap = 2 * new_size + 64;
        if (cap < 64 * 1024) cap = 64 * 1024;
        gx_scratch = gx_alloc(cap, 16);
        gx_scratch_cap = cap;
        p = 0;
    }
    gx_scratch_used = p + new_size;
    unsigned char *out = gx_scratch + p;
    if (old) __builtin_memcpy(out, old, old_size < new_size ? old_size : new_size);
    return out;
}

static inline void gx_scratch_reset(void) { gx_scratch_used = 0; }

/* Return areas: the host reads them right after the call returns. */
static uint32_t gx_result_area[3];
static uint32_t gx_list_area[2];
#if !defined(GOLDYLOX_FAILOVER_POLICY)
static inline uint32_t gx_proposals_result(void) {
    gx_list_area[0] = (uint32_t)(uintptr_t)gx_proposals;
    gx_list_area[1] = gx_proposals_len;
    return (uint32_t)(uintptr_t)gx_list_area;
}
#endif
static int gx_ready;

/* result<_, string> from gx_init's answer. */
static inline uint32_t gx_init_result(const char *error) {
    gx_scratch_reset();
    if (error == 0) {
        gx_ready = 1;
        ((unsigned char *)gx_result_area)[0] = 0;
    } else {
        uint32_t n = 0;
        while (error[n]) n++;
        ((unsigned char *)gx_result_area)[0] = 1;
        gx_result_area[1] = (uint32_t)(uintptr_t)error;
        gx_result_area[2] = n;
    }
    return (uint32_t)(uintptr_t)gx_result_area;
}

/* Calls before a successful init trap: the host treats that as a failure. */
static inline void gx_require_init(void) {
    if (!gx_ready) __builtin_trap();
}

static inline size_t gx_min3(size_t a, size_t b, size_t c) {
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

#if defined(GOLDYLOX_EVICTION_POLICY)
GX_EXPORT("init")
uint32_t gx_abi_init(uint64_t capacity, const gx_param *params, size_t n) {
    return gx_init_result(gx_init(capacity, params, n));
}

GX_EXPORT("apply")
void gx_abi_apply(const uint8_t *kinds, size_t n_kinds, const uint64_t *hashes, size_t n_hashes,
                  const uint32_t *weights, size_t n_weights) {
    gx_require_init();
    gx_apply(kinds, hashes, weights, gx_min3(n_kinds, n_hashes, n_weights));
    gx_scratch_reset();
}

GX_EXPORT("evict")
uint32_t gx_abi_evict(uint32_t max, uint64_t need) {
    gx_require_init();
    gx_proposals_begin(max);
    gx_evict(max, need);
    return gx_proposals_result();
}

GX_EXPORT("admit")
uint32_t gx_abi_admit(uint64_t candidate, uint64_t victim) {
    gx_require_init();
    return gx_admit(candidate, victim) ? 1 : 0;
}
#elif defined(GOLDYLOX_PREFETCH_POLICY)
GX_EXPORT("init")
uint32_t gx_abi_init(uint64_t capacity, const gx_param *params, size_t n) {
    return gx_init_result(gx_init(capacity, params, n));
}

GX_EXPORT("observe")
void gx_abi_observe(const uint64_t *hashes, size_t n_hashes, const uint8_t *hits, size_t n_hits) {
    gx_require_init();
    gx_observe(hashes, hits, n_hashes < n_hits ? n_hashes : n_hits);
    gx_scratch_reset();
}

GX_EXPORT("propose")
uint32_t gx_abi_propose(uint32_t max) {
    gx_require_init();
    gx_proposals_begin(max);
    gx_propose_hashes(max);
    return gx_proposals_result();
}
#else
GX_EXPORT("init")
uint32_t gx_abi_init(const gx_param *params, size_t n) {
    return gx_init_result(gx_init(params, n));
}

GX_EXPORT("observe")
void gx_abi_observe(const uint8_t *tiers, size_t n_tiers, const uint8_t *kinds, size_t n_kinds,
                    const uint64_t *at_ms, size_t n_at) {
    gx_require_init();
    gx_observe(tiers, kinds, at_ms, gx_min3(n_tiers, n_kinds, n_at));
    gx_scratch_reset();
}

static uint32_t gx_decision_area[2];

GX_EXPORT("decide")
uint32_t gx_abi_decide(uint32_t tier, uint64_t now_ms) {
    gx_require_init();
    gx_decision d = gx_decide((uint8_t)tier, now_ms);
    ((unsigned char *)gx_decision_area)[0] = (unsigned char)d.action;
    gx_decision_area[1] = d.retry_after_ms;
    return (uint32_t)(uintptr_t)gx_decision_area;
}
#endif

#endif /* __wasm__ */

#endif /* GOLDYLOX_POLICY_H */
