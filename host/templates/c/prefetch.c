// {{name}}: a prefetch policy for goldylox, in C.
//
// It starts as a first-order successor predictor: it remembers, for each
// requested hash, the hash requested right after it, and after a miss
// proposes the successor of the hash that missed. Change it into your own.
//
// Build: `goldylox policy build`. Test: `cc -o test_policy test_policy.c && ./test_policy`.
#define GOLDYLOX_PREFETCH_POLICY
#include "goldylox_policy.h"

static gx_index successor_of;  // hash -> slot in `successors`
static uint64_t *successors;
static uint32_t successors_len, successors_cap;
static uint64_t capacity, last;
static bool have_last;
static uint64_t *wanted;
static uint32_t wanted_len, wanted_cap;

static void remember(uint64_t from, uint64_t to) {
    uint32_t slot = gx_index_get(&successor_of, from);
    if (slot != GX_NONE) {
        successors[slot] = to;
        return;
    }
    if (successors_len >= capacity) return;  // full: keep what is known
    if (successors_len == successors_cap) {
        successors_cap *= 2;
        successors = gx_grow(successors, successors_len, successors_cap, 8, 8);
    }
    successors[successors_len] = to;
    gx_index_put(&successor_of, from, successors_len++);
}

const char *gx_init(uint64_t cap, const gx_param *params, size_t n) {
    (void)params;
    if (n != 0) return "this policy takes no parameters";
    capacity = cap;
    successors_cap = 1024;
    successors = gx_alloc((size_t)successors_cap * 8, 8);
    wanted_cap = 256;
    wanted = gx_alloc((size_t)wanted_cap * 8, 8);
    gx_index_init(&successor_of, 2048);
    return 0;
}

void gx_observe(const uint64_t *hashes, const uint8_t *hits, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (have_last) remember(last, hashes[i]);
        last = hashes[i];
        have_last = true;
        if (hits[i] == 0) {
            uint32_t slot = gx_index_get(&successor_of, hashes[i]);
            if (slot != GX_NONE && wanted_len < wanted_cap) wanted[wanted_len++] = successors[slot];
        }
    }
}

void gx_propose_hashes(uint32_t max) {
    (void)max;  // gx_propose returns false once max hashes are proposed
    for (uint32_t i = 0; i < wanted_len && gx_propose(wanted[i]); i++) {
    }
    wanted_len = 0;
}
